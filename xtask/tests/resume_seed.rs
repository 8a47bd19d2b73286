//! Resuming a training checkpoint under another run seed is rejected, because the minibatches
//! of the remaining iterations would come from another random stream. This runs in its own
//! test binary since the run seed is process-wide.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig, Trial};
use xtask::training::{train_controlled, TrainingSettings};
use xtask::{artifact, interrupt};

#[test]
fn resume_under_other_seed_rejected() {
    let dir = std::env::temp_dir().join(format!("resume-seed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("net.bin");
    let settings = TrainingSettings {
        iterations: 6,
        batch_size: 1,
        learning_rate: 1e-2,
        clip_norm: 1.0,
        decay_start_fraction: 1.0,
        final_learning_rate: 1e-2,
        target_loss: None,
        checkpoint_every: 2,
    };
    let net = || {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        Rnn::new_using(RnnConfig::new(2, 1), &mut rng).unwrap()
    };
    let mut sample = |_: usize| {
        Ok(vec![Trial {
            inputs: Array2::from_elem((10, 1), 0.5),
            targets: Array2::from_elem((10, 2), 0.3),
            weights: Array2::from_elem((10, 2), 0.05),
        }])
    };

    artifact::set_run_seed(1);
    let err = train_controlled(
        &mut net(),
        &settings,
        "seeded",
        &path,
        &mut sample,
        false,
        &|k| k == 3,
    )
    .unwrap_err();
    assert!(err.downcast_ref::<interrupt::Interrupted>().is_some());

    let mut resume = || {
        train_controlled(
            &mut net(),
            &settings,
            "seeded",
            &path,
            &mut sample,
            true,
            &|_| false,
        )
    };
    artifact::set_run_seed(2);
    let message = format!("{:#}", resume().unwrap_err());
    assert!(message.contains("--seed 1"), "{message}");

    artifact::set_run_seed(1);
    assert_eq!(resume().unwrap().iterations, 6);
    std::fs::remove_dir_all(&dir).unwrap();
}
