//! Training runs with progress, periodic logs and resumable checkpoints.
//!
//! A checkpoint (`<network>.checkpoint.bin`, kind [`CHECKPOINT_KIND`]) stores the network, the
//! Adam moments and step count, the loss history and the index of the next iteration. The
//! minibatch of iteration `k` is drawn from generators seeded by `(seed, k)` alone (see the
//! callers' `sample_batch`), so the next iteration index is the whole random state. A run
//! resumed from a checkpoint therefore continues bit-identically to one never interrupted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rnn_core::{Adam, AdamConfig, Perturbation, Rnn, Trial};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tracing::{info, warn};

use crate::artifact;
use crate::interrupt;

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

impl TrainingSettings {
    /// Returns whether a run with `other` draws the same batches and takes the same steps;
    /// only the checkpoint interval may differ.
    fn same_run_as(&self, other: &TrainingSettings) -> bool {
        let normalised = TrainingSettings {
            checkpoint_every: self.checkpoint_every,
            ..other.clone()
        };
        *self == normalised
    }
}

/// When set, a stage whose network and training record exist in the output folder loads them
/// instead of training again (`reproduce --reuse-trained`).
pub static REUSE_TRAINED: AtomicBool = AtomicBool::new(false);

/// When set, a stage whose training checkpoint exists in the output folder continues from it
/// (`reproduce --resume`).
pub static RESUME: AtomicBool = AtomicBool::new(false);

/// Kind name of a training checkpoint artifact.
pub const CHECKPOINT_KIND: &str = "training checkpoint";

/// Everything needed to continue a training run exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingCheckpoint {
    /// Settings of the run; a resumed run must use the same ones.
    pub settings: TrainingSettings,
    /// Index of the first iteration not yet run.
    pub next_iteration: usize,
    /// Whether the run is complete (all iterations run or the target loss reached).
    pub finished: bool,
    /// Network after `next_iteration` iterations.
    pub rnn: Rnn,
    /// Optimiser state after `next_iteration` iterations.
    pub adam: Adam,
    /// Loss of every minibatch so far.
    pub loss_history: Vec<f64>,
    /// Lowest minibatch loss so far.
    pub best_loss: f64,
}

/// Returns the path of the training checkpoint that belongs to the network file `network`.
pub fn checkpoint_path(network: &Path) -> PathBuf {
    network.with_extension("checkpoint.bin")
}

impl TrainingSettings {
    /// Checks the settings, naming the first invalid one.
    pub fn validate(&self, stage: &str) -> Result<()> {
        let counts = [
            ("iterations", self.iterations, "iterations"),
            ("batch_size", self.batch_size, "trials per minibatch"),
            (
                "checkpoint_every",
                self.checkpoint_every,
                "iterations between checkpoints",
            ),
        ];
        for (name, value, unit) in counts {
            check_count(&format!("{stage}.{name}"), value, unit)?;
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
        if let Some(target) = self.target_loss {
            if !(target.is_finite() && target >= 0.0) {
                bail!(
                    "invalid {stage}.target_loss = {target}: give a finite loss >= 0 or leave \
                     it out"
                );
            }
        }
        Ok(())
    }
}

/// Checks that the count `name` is at least 1.
pub fn check_count(name: &str, value: usize, what: &str) -> Result<()> {
    if value == 0 {
        bail!("invalid {name} = 0: give at least 1 ({what})");
    }
    Ok(())
}

/// Checks that the threshold `name` is a finite number in `[min, max]`.
pub fn check_threshold(name: &str, value: f64, min: f64, max: f64) -> Result<()> {
    if !(value.is_finite() && value >= min && value <= max) {
        if max == f64::MAX {
            bail!("invalid {name} = {value}: give a finite value >= {min}");
        }
        bail!("invalid {name} = {value}: give a value in [{min}, {max}]");
    }
    Ok(())
}

/// The trials of one iteration and, for a stage that trains with perturbations, the
/// perturbation of each trial's forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Minibatch {
    /// Trials of the iteration.
    pub trials: Vec<Trial>,
    /// One perturbation per trial, or `None` for the unperturbed loss.
    pub perturbations: Option<Vec<Perturbation>>,
}

impl From<Vec<Trial>> for Minibatch {
    fn from(trials: Vec<Trial>) -> Minibatch {
        Minibatch {
            trials,
            perturbations: None,
        }
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
    /// Digest of everything that shaped the training (task, settings, initial network), which
    /// `--reuse-trained` compares with the run that wants to reuse the network.
    #[serde(default)]
    pub fingerprint: Option<String>,
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
/// writing the network to `network_path` and a resumable checkpoint beside it (see
/// [`checkpoint_path`]) every `checkpoint_every` iterations and at the end.
///
/// With [`RESUME`] set and a checkpoint present, training continues from it. A Ctrl-C
/// (see [`interrupt`]) stops the run between iterations after saving a checkpoint, with an
/// [`interrupt::Interrupted`] error. A non-finite loss or gradient stops the run with an
/// error before the failing step is applied. The network of the last good step is then saved
/// to `network_path`, and the last checkpoint is kept.
///
/// `task` describes what `sample_batch` draws from (the task parameters); it goes into the
/// record's fingerprint together with `settings` and the initial network's configuration.
pub fn train_with_checkpoints<B: Into<Minibatch>>(
    rnn: &mut Rnn,
    settings: &TrainingSettings,
    label: &str,
    network_path: &Path,
    task: &serde_json::Value,
    sample_batch: &mut dyn FnMut(usize) -> Result<B>,
) -> Result<TrainingOutcome> {
    let record = network_path.with_extension("training.json");
    let inputs = fingerprint_inputs(rnn, settings, task);
    let fingerprint = fingerprint_of(&inputs)?;
    if REUSE_TRAINED.load(Ordering::Relaxed) && network_path.exists() {
        if !record.exists() {
            warn!(
                stage = label,
                path = %record.display(),
                "no training record beside the network: training again and replacing it"
            );
        } else {
            *rnn = load_reused(network_path, rnn)?;
            let text = std::fs::read_to_string(&record)
                .with_context(|| format!("failed to read {}", record.display()))?;
            let (outcome, stored_inputs) = parse_record(&text)
                .with_context(|| format!("invalid training record {}", record.display()))?;
            if outcome.fingerprint.as_deref() != Some(fingerprint.as_str()) {
                let differing = differing_settings(&outcome, stored_inputs.as_ref(), &inputs)?;
                bail!(
                    "cannot reuse {}: it was trained with other task or training settings \
                     (differing: {differing}), or its record {} comes from another network; \
                     rerun without --reuse-trained or with the configuration that trained it",
                    network_path.display(),
                    record.display()
                );
            }
            info!(stage = label, path = %network_path.display(), "reusing the trained network");
            return Ok(outcome);
        }
    }
    let resume = RESUME.load(Ordering::Relaxed);
    let stop_requested = |_: usize| interrupt::requested();
    let mut outcome = train_controlled(
        rnn,
        settings,
        label,
        network_path,
        sample_batch,
        resume,
        &stop_requested,
    )?;
    outcome.fingerprint = Some(fingerprint);
    let mut stored = serde_json::to_value(&outcome)?;
    stored[FINGERPRINT_INPUTS] = inputs;
    artifact::write_atomic(&record, serde_json::to_string(&stored)?.as_bytes())?;
    Ok(outcome)
}

/// Key of a training record that stores what the fingerprint was computed from, so that a
/// rejected reuse can name the settings that differ. Records written before it lack the key.
const FINGERPRINT_INPUTS: &str = "fingerprint_inputs";

/// Returns the outcome stored in a training record and the fingerprint inputs, if stored.
fn parse_record(text: &str) -> Result<(TrainingOutcome, Option<serde_json::Value>)> {
    let mut stored: serde_json::Value = serde_json::from_str(text)?;
    let inputs = stored
        .as_object_mut()
        .and_then(|record| record.remove(FINGERPRINT_INPUTS));
    Ok((serde_json::from_value(stored)?, inputs))
}

/// Returns the task, the settings (without the checkpoint interval, which does not change the
/// result), the configuration of the network before training and the run seed.
fn fingerprint_inputs(
    rnn: &Rnn,
    settings: &TrainingSettings,
    task: &serde_json::Value,
) -> serde_json::Value {
    let settings = TrainingSettings {
        checkpoint_every: 0,
        ..settings.clone()
    };
    serde_json::json!({
        "task": task,
        "settings": settings,
        "network": rnn.config,
        "seed": artifact::run_seed(),
    })
}

/// Returns the SHA-256 (hex) of the fingerprint inputs.
fn fingerprint_of(inputs: &serde_json::Value) -> Result<String> {
    let text = serde_json::to_string(inputs)?;
    let digest = sha2::Sha256::digest(text.as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Names the settings whose values differ between a record and this run, for the message of
/// a rejected reuse.
///
/// A record without stored inputs is from an earlier version. For it only a staged
/// calibration against a record of a one-stage run is recognised, by the fingerprint of this
/// run's inputs without `homotopy`.
fn differing_settings(
    outcome: &TrainingOutcome,
    stored: Option<&serde_json::Value>,
    current: &serde_json::Value,
) -> Result<String> {
    let Some(stored) = stored else {
        let mut one_stage = current.clone();
        let removed = one_stage["task"]
            .as_object_mut()
            .and_then(|task| task.remove("homotopy"));
        if removed.is_some()
            && outcome.fingerprint.as_deref() == Some(fingerprint_of(&one_stage)?.as_str())
        {
            return Ok(
                "calibration_homotopy, because the record is of a one-stage \
                       calibration"
                    .to_string(),
            );
        }
        return Ok("unknown, because the record is from an earlier version".to_string());
    };
    let mut names = Vec::new();
    for key in ["task", "settings", "network", "seed"] {
        let (old, new) = (&stored[key], &current[key]);
        if old == new {
            continue;
        }
        match (key, old.as_object(), new.as_object()) {
            ("task", Some(old), Some(new)) => {
                let mut parts: Vec<&String> = old.keys().chain(new.keys()).collect();
                parts.sort();
                parts.dedup();
                for part in parts {
                    if old.get(part) != new.get(part) {
                        names.push(match part.as_str() {
                            "homotopy" => "calibration_homotopy".to_string(),
                            other => format!("task description `{other}`"),
                        });
                    }
                }
            }
            ("task", _, _) => names.push("task description".to_string()),
            ("settings", _, _) => names.push("training or calibration settings".to_string()),
            ("network", _, _) => names.push("initial network configuration".to_string()),
            _ => names.push("--seed".to_string()),
        }
    }
    if names.is_empty() {
        // Equal inputs give equal fingerprints, so the record was edited.
        return Ok("none of the stored settings".to_string());
    }
    Ok(names.join(", "))
}

/// Loads a trained network for `--reuse-trained` and checks that this run could have
/// trained it: the same `--seed` and the configuration of `expected` (sizes, time constants,
/// delays, constraints and activation function, which for a calibrated net includes the
/// fitted curve).
fn load_reused(path: &Path, expected: &Rnn) -> Result<Rnn> {
    let (header, loaded): (_, Rnn) = artifact::load_with_header(path, "rnn")?;
    let invalid = || format!("cannot reuse {}", path.display());
    if let (Some(written), Some(current)) = (header.run_seed, artifact::run_seed()) {
        if written != current {
            return Err(anyhow::anyhow!(
                "the network was trained by a run with --seed {written}, this run has \
                 --seed {current}; rerun with --seed {written} or without --reuse-trained"
            ))
            .with_context(invalid);
        }
    }
    // Trained time constants may differ from their initial values.
    let mut comparable = loaded.config.clone();
    if expected.config.train_tau {
        comparable.tau_ms.clone_from(&expected.config.tau_ms);
    }
    if comparable != expected.config {
        let saved = serde_json::to_value(&comparable)?;
        let expected_value = serde_json::to_value(&expected.config)?;
        let differing: Vec<&str> = expected_value
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, value)| saved.get(key.as_str()) != Some(*value))
            .map(|(key, _)| key.as_str())
            .collect();
        return Err(anyhow::anyhow!(
            "the network was trained with another network configuration than this run's \
             (differing: {}); rerun without --reuse-trained or with the configuration that \
             trained it",
            differing.join(", ")
        ))
        .with_context(invalid);
    }
    Ok(loaded)
}

/// Loads the checkpoint at `path` and checks that it continues a run of `settings` on a
/// network configured like `rnn`.
fn load_checkpoint(
    path: &Path,
    settings: &TrainingSettings,
    rnn: &Rnn,
) -> Result<TrainingCheckpoint> {
    let (header, checkpoint): (_, TrainingCheckpoint) =
        artifact::load_with_header(path, CHECKPOINT_KIND)?;
    let invalid = || format!("cannot resume from {}", path.display());
    checkpoint.rnn.validate().with_context(invalid)?;
    if let (Some(written), Some(current)) = (header.run_seed, artifact::run_seed()) {
        if written != current {
            return Err(anyhow::anyhow!(
                "the checkpoint was written by a run with --seed {written}, this run has \
                 --seed {current}; rerun with --seed {written} or without --resume"
            ))
            .with_context(invalid);
        }
    }
    if !checkpoint.settings.same_run_as(settings) {
        return Err(anyhow::anyhow!(
            "the checkpoint was written with other training settings ({:?}, now {:?}); \
             rerun without --resume or restore the settings",
            checkpoint.settings,
            settings
        ))
        .with_context(invalid);
    }
    if checkpoint.rnn.config != rnn.config {
        return Err(anyhow::anyhow!(
            "the checkpoint contains a network of another configuration; rerun without --resume"
        ))
        .with_context(invalid);
    }
    let limit = settings.iterations;
    if checkpoint.next_iteration > limit
        || checkpoint.loss_history.len() != checkpoint.next_iteration
    {
        return Err(anyhow::anyhow!(
            "the checkpoint records {} iterations of {limit} with {} losses",
            checkpoint.next_iteration,
            checkpoint.loss_history.len()
        ))
        .with_context(invalid);
    }
    Ok(checkpoint)
}

/// [`train_with_checkpoints`] with the resume choice and the stop test passed in;
/// `stop_requested` is called with the iteration index before each iteration.
pub fn train_controlled<B: Into<Minibatch>>(
    rnn: &mut Rnn,
    settings: &TrainingSettings,
    label: &str,
    network_path: &Path,
    sample_batch: &mut dyn FnMut(usize) -> Result<B>,
    resume: bool,
    stop_requested: &dyn Fn(usize) -> bool,
) -> Result<TrainingOutcome> {
    settings.validate(label)?;
    let record = network_path.with_extension("training.json");
    let state_path = checkpoint_path(network_path);
    let mut state = if resume && state_path.exists() {
        let checkpoint = load_checkpoint(&state_path, settings, rnn)?;
        info!(
            stage = label,
            iteration = checkpoint.next_iteration,
            path = %state_path.display(),
            "training resumed from the checkpoint"
        );
        checkpoint
    } else {
        if resume {
            warn!(stage = label, path = %state_path.display(), "no checkpoint to resume from; training from the start");
        }
        let adam_config = AdamConfig {
            learning_rate: settings.learning_rate,
            clip_norm: settings.clip_norm,
            ..AdamConfig::default()
        };
        TrainingCheckpoint {
            settings: settings.clone(),
            next_iteration: 0,
            finished: false,
            adam: Adam::new(adam_config, rnn)?,
            rnn: rnn.clone(),
            loss_history: Vec::with_capacity(settings.iterations),
            best_loss: f64::INFINITY,
        }
    };
    info!(
        stage = label,
        iterations = settings.iterations,
        start = state.next_iteration,
        "training started"
    );
    let bar = progress_bar(settings.iterations as u64, label);
    bar.set_position(state.next_iteration as u64);
    let save_state = |state: &TrainingCheckpoint| -> Result<()> {
        artifact::save(network_path, "rnn", &state.rnn)?;
        artifact::save(&state_path, CHECKPOINT_KIND, state)
    };

    let decay_start = (settings.decay_start_fraction * settings.iterations as f64) as usize;
    while !state.finished && state.next_iteration < settings.iterations {
        let iteration = state.next_iteration;
        if stop_requested(iteration) {
            bar.finish_and_clear();
            save_state(&state)?;
            return Err(interrupt::Interrupted {
                stage: format!("training {label} at iteration {iteration}"),
                saved: Some(state_path.clone()),
            }
            .into());
        }

        // Learning-rate schedule: constant, then geometric decay to the final rate.
        if iteration >= decay_start && settings.iterations > decay_start + 1 {
            let progress =
                (iteration - decay_start) as f64 / (settings.iterations - decay_start - 1) as f64;
            let ratio = settings.final_learning_rate / settings.learning_rate;
            state
                .adam
                .set_learning_rate(settings.learning_rate * ratio.powf(progress))?;
        }

        // Gradient of this iteration's minibatch.
        let batch: Minibatch = sample_batch(iteration)?.into();
        let step = match &batch.perturbations {
            None => state.rnn.loss_and_gradient(&batch.trials),
            Some(perturbations) => state
                .rnn
                .loss_and_gradient_perturbed(&batch.trials, perturbations),
        };
        let step = step
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
                *rnn = state.rnn.clone();
                artifact::save(network_path, "rnn", &state.rnn)
                    .context("failed to save the last good network after divergence")?;
                return Err(err.context(format!(
                    "training {label} diverged; the network of the last good step is in {}, \
                     the last checkpoint (if any) in {}",
                    network_path.display(),
                    state_path.display()
                )));
            }
        };

        // Adam step with clipping and constraints.
        state.adam.step(&mut state.rnn, &gradient)?;
        state.loss_history.push(loss);
        state.best_loss = state.best_loss.min(loss);
        state.next_iteration = iteration + 1;
        bar.inc(1);
        if settings.target_loss.is_some_and(|target| loss <= target) {
            info!(stage = label, iteration, loss, "target loss reached");
            state.finished = true;
        } else if state.next_iteration % settings.checkpoint_every == 0
            && state.next_iteration < settings.iterations
        {
            bar.suspend(|| info!(stage = label, iteration = iteration + 1, loss, "training"));
            save_state(&state)?;
        }
    }
    bar.finish_and_clear();
    state.finished = true;
    save_state(&state)?;
    *rnn = state.rnn.clone();
    let final_loss = state.loss_history.last().copied().unwrap_or(f64::NAN);
    info!(
        stage = label,
        iterations = state.loss_history.len(),
        final_loss,
        best_loss = state.best_loss,
        "training finished"
    );
    let outcome = TrainingOutcome {
        iterations: state.loss_history.len(),
        final_loss,
        loss_history: state.loss_history,
        best_loss: state.best_loss,
        fingerprint: None,
    };
    artifact::write_atomic(&record, serde_json::to_string(&outcome)?.as_bytes())?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rnn_core::RnnConfig;

    fn settings(iterations: usize) -> TrainingSettings {
        TrainingSettings {
            iterations,
            batch_size: 2,
            learning_rate: 1e-2,
            clip_norm: 1.0,
            decay_start_fraction: 0.5,
            final_learning_rate: 1e-3,
            target_loss: None,
            checkpoint_every: 3,
        }
    }

    fn small_net() -> Rnn {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        Rnn::new_using(RnnConfig::new(3, 1), &mut rng).unwrap()
    }

    /// Minibatch of iteration `k`, drawn from a generator seeded by `k` alone; a target of
    /// `poison` from iteration `poison_from` on.
    fn batch(iteration: usize, poison_from: usize) -> Result<Vec<Trial>> {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + iteration as u64);
        let n_steps = 20;
        let trials = (0..2)
            .map(|_| {
                let amplitude: f64 = rng.random_range(0.0..1.0);
                let target = if iteration >= poison_from {
                    1e300
                } else {
                    amplitude
                };
                Trial {
                    inputs: Array2::from_elem((n_steps, 1), amplitude),
                    targets: Array2::from_elem((n_steps, 3), target),
                    weights: Array2::from_elem((n_steps, 3), 1.0 / (3 * n_steps) as f64),
                }
            })
            .collect();
        Ok(trials)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("training-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn resume_matches_uninterrupted_run() {
        let iterations = 20;
        let never = |_: usize| false;
        let whole_dir = scratch("whole");
        let whole_path = whole_dir.join("net.bin");
        let mut whole = small_net();
        let mut sample = |k| batch(k, usize::MAX);
        let outcome = train_controlled(
            &mut whole,
            &settings(iterations),
            "whole",
            &whole_path,
            &mut sample,
            false,
            &never,
        )
        .unwrap();
        assert_eq!(outcome.iterations, iterations);

        // Stop before iteration 10 (not a checkpoint multiple), then resume.
        let split_dir = scratch("split");
        let split_path = split_dir.join("net.bin");
        let mut first = small_net();
        let stop_at_half = |k: usize| k == iterations / 2;
        let err = train_controlled(
            &mut first,
            &settings(iterations),
            "split",
            &split_path,
            &mut sample,
            false,
            &stop_at_half,
        )
        .unwrap_err();
        assert!(
            err.downcast_ref::<interrupt::Interrupted>().is_some(),
            "{err:#}"
        );
        let saved: TrainingCheckpoint =
            artifact::load(&checkpoint_path(&split_path), CHECKPOINT_KIND).unwrap();
        assert_eq!(saved.next_iteration, iterations / 2);

        let mut resumed = small_net();
        let resumed_outcome = train_controlled(
            &mut resumed,
            &settings(iterations),
            "split",
            &split_path,
            &mut sample,
            true,
            &never,
        )
        .unwrap();
        assert_eq!(resumed_outcome, outcome);
        assert_eq!(resumed, whole);
        for file in ["net.bin", "net.checkpoint.bin", "net.training.json"] {
            let whole_bytes = std::fs::read(whole_dir.join(file)).unwrap();
            let split_bytes = std::fs::read(split_dir.join(file)).unwrap();
            assert!(whole_bytes == split_bytes, "{file} differs after resuming");
        }
        std::fs::remove_dir_all(&whole_dir).unwrap();
        std::fs::remove_dir_all(&split_dir).unwrap();
    }

    #[test]
    fn resume_with_other_settings_rejected() {
        let dir = scratch("other-settings");
        let path = dir.join("net.bin");
        let mut rnn = small_net();
        let mut sample = |k| batch(k, usize::MAX);
        let stop_at_four = |k: usize| k == 4;
        let first = train_controlled(
            &mut rnn,
            &settings(8),
            "a",
            &path,
            &mut sample,
            false,
            &stop_at_four,
        );
        assert!(first.is_err());
        let mut changed = settings(8);
        changed.learning_rate = 5e-3;
        let err = train_controlled(
            &mut small_net(),
            &changed,
            "a",
            &path,
            &mut sample,
            true,
            &|_| false,
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("other training settings"),
            "{err:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn divergence_keeps_last_checkpoint() {
        let dir = scratch("diverge");
        let path = dir.join("net.bin");
        let mut rnn = small_net();
        // Iteration 5 has a target of 1e300, so its loss overflows to infinity.
        let mut sample = |k| batch(k, 5);
        let err = train_controlled(
            &mut rnn,
            &settings(20),
            "diverge",
            &path,
            &mut sample,
            false,
            &|_| false,
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("diverged"), "{err:#}");
        let checkpoint: TrainingCheckpoint =
            artifact::load(&checkpoint_path(&path), CHECKPOINT_KIND).unwrap();
        assert_eq!(checkpoint.next_iteration, 3);
        assert!(!checkpoint.finished);
        let last_good: Rnn = artifact::load(&path, "rnn").unwrap();
        assert_eq!(last_good, rnn);
        last_good.validate().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_reject_invalid_values() {
        let mut bad = settings(10);
        bad.target_loss = Some(f64::NAN);
        let err = bad.validate("training").unwrap_err().to_string();
        assert!(err.contains("training.target_loss"), "{err}");
        let mut bad = settings(10);
        bad.batch_size = 0;
        let err = bad.validate("training").unwrap_err().to_string();
        assert!(err.contains("training.batch_size = 0"), "{err}");
    }
}
