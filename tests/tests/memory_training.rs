//! A short training run of the memory net with `rnn-core` on `tasks-memory` trials.

use std::ops::ControlFlow;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{train, AdamConfig, Rnn, RnnConfig, StopReason, TrainConfig, Trial};
use tasks_memory::{cue_trial, sample_cue_trial, test_cue_values, MemoryTaskParams};

const DELAY_MS: f64 = 300.0;
const N_ITERATIONS: usize = 300;
const BATCH_SIZE: usize = 8;

#[test]
fn short_memory_training_reduces_loss() {
    let started = Instant::now();
    let params = MemoryTaskParams {
        delay_ms: DELAY_MS,
        ..MemoryTaskParams::default()
    }
    .validated()
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut rnn = Rnn::new_using(
        RnnConfig::new(params.n_units(), params.n_inputs()),
        &mut rng,
    )
    .unwrap();

    // Fixed evaluation set: the five test cue values with the short delay.
    let evaluation: Vec<Trial> = test_cue_values()
        .iter()
        .map(|&cue| cue_trial(&params, cue, DELAY_MS).unwrap())
        .collect();
    let loss_before = rnn.loss(&evaluation).unwrap();

    let config = TrainConfig {
        max_iterations: N_ITERATIONS,
        adam: AdamConfig {
            learning_rate: 0.01,
            ..AdamConfig::default()
        },
        log_every: 0,
        ..TrainConfig::default()
    };
    let mut sample_batch = |_iteration: usize| {
        (0..BATCH_SIZE)
            .map(|_| sample_cue_trial(&params, DELAY_MS, &mut rng).unwrap())
            .collect()
    };
    let mut observer = |_iteration: usize, _loss: f64| ControlFlow::Continue(());
    let report = train(&mut rnn, &config, &mut sample_batch, &mut observer).unwrap();
    let loss_after = rnn.loss(&evaluation).unwrap();
    eprintln!(
        "memory training: {} iterations in {:.2?}, evaluation loss {loss_before:.4} -> \
         {loss_after:.4}",
        report.iterations,
        started.elapsed()
    );

    assert_eq!(report.iterations, N_ITERATIONS);
    assert_eq!(report.stop_reason, StopReason::MaxIterations);
    assert_eq!(report.loss_history.len(), N_ITERATIONS);
    assert!(report.loss_history.iter().all(|l| l.is_finite()));
    // Over seeds 2 to 6 the loss falls by a factor of 6.8 to 13.6, and the test requires 4.
    assert!(
        loss_after < loss_before / 4.0,
        "evaluation loss {loss_before} -> {loss_after}, expected a factor of 4"
    );

    // A net that ignores the cue value does at best 0 in the baseline and the mean cue 0.6
    // during the scored delay. Each trial scores 200 baseline rows and 351 rows from 50 ms
    // after cue onset to the end (rows 249..600), so its loss is (v - 0.6)^2 * 351 / 551, and
    // over v = 0.2, ..., 1.0 the mean is 0.08 * 351 / 551 = 0.0510. The trained net must
    // beat that, which it can only do by remembering the cue value.
    let mean_predictor_loss = 0.08 * 351.0 / 551.0;
    assert!(
        loss_after < mean_predictor_loss,
        "evaluation loss {loss_after} does not beat the cue-blind {mean_predictor_loss}"
    );
}
