//! Training runs with progress, periodic logs and checkpoints of the last good network.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rnn_core::{Adam, AdamConfig, Rnn, Trial};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::artifact;

/// Optimiser settings of one training stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSettings {
    /// Iteration limit.
    pub iterations: usize,
    /// Trials per minibatch.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Fraction of the iterations after which the learning rate decays.
    pub decay_start_fraction: f64,
    /// Learning rate reached at the last iteration, by geometric decay from
    /// `learning_rate` after `decay_start_fraction`.
    pub final_learning_rate: f64,
    /// Stop early below this loss.
    pub target_loss: Option<f64>,
    /// Iterations between checkpoints and log lines.
    pub checkpoint_every: usize,
}

/// When set, a stage whose network and training record exist in the output folder loads them
/// instead of training again (`reproduce --reuse-trained`).
pub static REUSE_TRAINED: AtomicBool = AtomicBool::new(false);

impl TrainingSettings {
    /// Checks the settings, naming the first invalid one.
    pub fn validate(&self, stage: &str) -> Result<()> {
        if self.iterations == 0 || self.batch_size == 0 || self.checkpoint_every == 0 {
            bail!(
                "invalid {stage} settings: iterations ({}), batch_size ({}) and checkpoint_every ({}) must all be at least 1",
                self.iterations, self.batch_size, self.checkpoint_every
            );
        }
        let rates = [
            ("learning_rate", self.learning_rate),
            ("final_learning_rate", self.final_learning_rate),
        ];
        for (name, value) in rates {
            if !(value.is_finite() && value > 0.0) {
                bail!("invalid {stage}.{name} = {value}: give a finite value > 0");
            }
        }
        if self.clip_norm.is_nan() || self.clip_norm <= 0.0 {
            bail!(
                "invalid {stage}.clip_norm = {}: give a value > 0 (infinity turns clipping off)",
                self.clip_norm
            );
        }
        if !(0.0..=1.0).contains(&self.decay_start_fraction) {
            bail!(
                "invalid {stage}.decay_start_fraction = {}: give a fraction in [0, 1]",
                self.decay_start_fraction
            );
        }
        Ok(())
    }
}

/// Outcome of a training stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingOutcome {
    /// Iterations run.
    pub iterations: usize,
    /// Loss of the last minibatch.
    pub final_loss: f64,
    /// Lowest minibatch loss.
    pub best_loss: f64,
    /// Loss of every minibatch.
    pub loss_history: Vec<f64>,
}

/// Creates a progress bar, which indicatif draws only on a terminal.
pub fn progress_bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

/// Trains `rnn` in place with batches from `sample_batch` (called with the iteration index),
/// writing the network to `checkpoint` every `checkpoint_every` iterations and at the end. A
/// non-finite loss or gradient stops the run with an error after the last good network has
/// been saved; the failing step is not applied.
pub fn train_with_checkpoints(
    rnn: &mut Rnn,
    settings: &TrainingSettings,
    label: &str,
    checkpoint: &Path,
    sample_batch: &mut dyn FnMut(usize) -> Result<Vec<Trial>>,
) -> Result<TrainingOutcome> {
    let adam_config = AdamConfig {
        learning_rate: settings.learning_rate,
        clip_norm: settings.clip_norm,
        ..AdamConfig::default()
    };
    let record = checkpoint.with_extension("training.json");
    if REUSE_TRAINED.load(Ordering::Relaxed) && record.exists() && checkpoint.exists() {
        *rnn = artifact::load(checkpoint, "rnn")?;
        let text = std::fs::read_to_string(&record)
            .with_context(|| format!("failed to read {}", record.display()))?;
        let outcome: TrainingOutcome = serde_json::from_str(&text)
            .with_context(|| format!("invalid training record {}", record.display()))?;
        info!(stage = label, path = %checkpoint.display(), "reusing the trained network");
        return Ok(outcome);
    }
    let mut adam = Adam::new(adam_config, rnn)?;
    info!(
        stage = label,
        iterations = settings.iterations,
        "training started"
    );
    let bar = progress_bar(settings.iterations as u64, label);
    let every = settings.checkpoint_every.max(1);
    let mut loss_history = Vec::with_capacity(settings.iterations);
    let mut best_loss = f64::INFINITY;

    let decay_start = (settings.decay_start_fraction * settings.iterations as f64) as usize;
    for iteration in 0..settings.iterations {
        // Learning-rate schedule: constant, then geometric decay to the final rate.
        if iteration >= decay_start && settings.iterations > decay_start + 1 {
            let progress =
                (iteration - decay_start) as f64 / (settings.iterations - decay_start - 1) as f64;
            let ratio = settings.final_learning_rate / settings.learning_rate;
            adam.set_learning_rate(settings.learning_rate * ratio.powf(progress))?;
        }

        // Gradient of this iteration's minibatch.
        let batch = sample_batch(iteration)?;
        let step = rnn
            .loss_and_gradient(&batch)
            .map_err(anyhow::Error::from)
            .and_then(|(loss, gradient)| {
                if !loss.is_finite() || !gradient.norm().is_finite() {
                    bail!("non-finite loss {loss} or gradient at iteration {iteration}");
                }
                Ok((loss, gradient))
            });
        let (loss, gradient) = match step {
            Ok(step) => step,
            Err(err) => {
                bar.finish_and_clear();
                artifact::save(checkpoint, "rnn", &*rnn)
                    .context("failed to save the last good network after divergence")?;
                return Err(err.context(format!(
                    "training {label} diverged; the last good network is in {}",
                    checkpoint.display()
                )));
            }
        };

        // Adam step with clipping and constraints.
        adam.step(rnn, &gradient)?;
        loss_history.push(loss);
        best_loss = best_loss.min(loss);
        bar.inc(1);
        if (iteration + 1) % every == 0 {
            bar.suspend(|| info!(stage = label, iteration = iteration + 1, loss, "training"));
            artifact::save(checkpoint, "rnn", &*rnn)?;
        }
        if settings.target_loss.is_some_and(|target| loss <= target) {
            info!(stage = label, iteration, loss, "target loss reached");
            break;
        }
    }
    bar.finish_and_clear();
    artifact::save(checkpoint, "rnn", &*rnn)?;
    let final_loss = loss_history.last().copied().unwrap_or(f64::NAN);
    info!(
        stage = label,
        iterations = loss_history.len(),
        final_loss,
        best_loss,
        "training finished"
    );
    let outcome = TrainingOutcome {
        iterations: loss_history.len(),
        final_loss,
        loss_history,
        best_loss,
    };
    artifact::write_atomic(&record, serde_json::to_string(&outcome)?.as_bytes())?;
    Ok(outcome)
}
