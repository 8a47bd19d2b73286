//! The short-term memory (instructed delay) task of Zipser (1991) and Zipser et al. (1993):
//! trial generator, delay curriculum, gated-latch variant, unit classifier and output metrics.
//!
//! A brief cue `v` arrives on two input lines (`u1 = v`, `u2 = 1` for 100 ms) after a
//! 200 ms baseline, and the single output unit must hold `v` through the following delay
//! (1500 ms in training, 3000 ms in tests). The net has 8 hidden units and the output unit
//! last. Trials are [`rnn_core::Trial`]s: row `n` of the inputs drives `y[n] -> y[n + 1]` and
//! row `n` of targets and weights scores `y[n + 1]`, with weights that make the loss a mean
//! squared error. Time is `step_idx * dt_ms`.
//!
//! This crate does not simulate or train networks (that is `rnn-core`) and does no I/O.
//! Every random draw comes from the `rng` passed in.
//!
//! ```
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use tasks_memory::{cue_trial, curriculum_delay_ms, sample_cue_trial, MemoryTaskParams};
//!
//! let params = MemoryTaskParams::default().validated()?;
//! let trial = cue_trial(&params, 0.6, params.test_delay_ms)?;
//! assert_eq!(trial.n_steps(), 3300);
//! assert_eq!(trial.targets[[3299, params.output_unit()]], 0.6);
//!
//! // Training with a delay curriculum: 300 ms at the start, 1500 ms from 40% of training.
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let delay_ms = curriculum_delay_ms(&params, 0, 10_000);
//! let trial = sample_cue_trial(&params, delay_ms, &mut rng)?;
//! assert_eq!(trial.n_steps(), 600);
//! # Ok::<(), tasks_memory::Error>(())
//! ```

mod classify;
mod error;
mod latch;
mod metrics;
mod params;
mod task;
mod timeline;

pub use classify::{
    classify_units, classify_units_with, ClassifierThresholds, EpochMeans, UnitClass,
};
pub use error::Error;
pub use latch::{sample_latch_trial, LatchTaskParams};
pub use metrics::{
    held_values, memory_acceptance, memory_metrics, MemoryAcceptance, MemoryCriteria, MemoryMetrics,
};
pub use params::MemoryTaskParams;
pub use task::{cue_trial, curriculum_delay_ms, sample_cue_trial, test_cue_values};
pub use timeline::MemoryTimeline;
