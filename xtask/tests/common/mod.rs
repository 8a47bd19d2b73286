//! A tiny training setup shared by the tests that run in their own binaries.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig, Trial};
use xtask::training::TrainingSettings;

/// Training settings with `iterations` iterations of one trial and a checkpoint every 2.
pub fn settings(iterations: usize) -> TrainingSettings {
    TrainingSettings {
        iterations,
        batch_size: 1,
        learning_rate: 1e-2,
        clip_norm: 1.0,
        decay_start_fraction: 1.0,
        final_learning_rate: 1e-2,
        target_loss: None,
        checkpoint_every: 2,
    }
}

/// A 2-unit, 1-input network drawn with a fixed seed.
pub fn net() -> Rnn {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    Rnn::new_using(RnnConfig::new(2, 1), &mut rng).unwrap()
}

/// A 10-step trial asking both units to hold 0.3 under a constant input.
pub fn hold_trial() -> Trial {
    Trial {
        inputs: Array2::from_elem((10, 1), 0.5),
        targets: Array2::from_elem((10, 2), 0.3),
        weights: Array2::from_elem((10, 2), 0.05),
    }
}
