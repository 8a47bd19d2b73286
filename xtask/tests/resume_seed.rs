//! Resuming a training checkpoint under another run seed is rejected, because the minibatches
//! of the remaining iterations would come from another random stream. This runs in its own
//! test binary since the run seed is process-wide.

mod common;

use common::{hold_trial, net, settings};
use xtask::training::train_controlled;
use xtask::{artifact, interrupt};

#[test]
fn resume_under_other_seed_rejected() {
    let dir = std::env::temp_dir().join(format!("resume-seed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("net.bin");
    let settings = settings(6);
    let mut sample = |_: usize| Ok(vec![hold_trial()]);

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
