//! The short-term memory pipeline: train, fit (method a), calibrate, convert, simulate,
//! validate.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use convert::metrics::bin_mean;
use convert::seeds::stream_seed;
use convert::{
    fit_logistic, tabulate_activation, ActivationTable, ConversionParams, FitConfig, FitResult,
    TableConfig,
};
use ndarray::{s, Array1, Array2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Activation, Perturbation, Rnn, RnnConfig, TabulatedActivation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tasks_memory::MemoryTaskParams;
use tracing::info;

mod homotopy;
mod selection;

pub use homotopy::CalibrationHomotopy;
pub use selection::CalibrationSelection;

use crate::nest::record::{ConversionRecord, OutputWindow};
use crate::spiking::{simulate_conditions, write_psth_csv, SpikingRuns};
use crate::training::{train_with_checkpoints, Minibatch, TrainingOutcome, TrainingSettings};
use crate::{artifact, status};

/// Largest number of hidden units a memory configuration may ask for.
const MAX_HIDDEN_UNITS: usize = 1000;

/// Everything the memory reproduction needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Task timeline and sizes.
    pub task: MemoryTaskParams,
    /// Training of the logistic net, with the delay curriculum.
    pub training: TrainingSettings,
    /// Random perturbations of the logistic net's training trials (none when absent from a
    /// file).
    #[serde(default)]
    pub training_perturbation: PerturbationSettings,
    /// Fine-tuning with the fitted spiking curve as activation.
    pub calibration: TrainingSettings,
    /// Random perturbations of the calibration trials (none when absent from a file).
    #[serde(default)]
    pub calibration_perturbation: PerturbationSettings,
    /// Choice among several calibration runs by a spiking validation (one run when absent
    /// from a file).
    #[serde(default)]
    pub calibration_selection: CalibrationSelection,
    /// Calibration in stages from the logistic to the fitted curve (one stage, straight to
    /// the fitted curve, when absent from a file).
    #[serde(default)]
    pub calibration_homotopy: CalibrationHomotopy,
    /// Method (a) fit.
    pub fit: FitConfig,
    /// Tabulation of the fitted spiking curve.
    pub table: TableConfig,
    /// Conversion; `g`, `mu_0` and `f_max_hz` are replaced by the fitted values.
    pub conversion: ConversionParams,
    /// Whether the continuous net carries the spiking net's synaptic delay (rounded to whole
    /// continuous steps) on every connection, so that both nets share one loop timing. A
    /// memory net trained without it loads the cue differently once converted.
    pub match_synaptic_delays: bool,
    /// Training seeds tried, in order, until one meets the continuous criteria.
    pub n_training_seeds: usize,
    /// Spiking trials per test cue value.
    pub n_trials: usize,
    /// Acceptance thresholds.
    pub thresholds: MemoryThresholds,
}

/// Random perturbations of each training trial's forward pass (see
/// [`rnn_core::Perturbation`]), drawn from the trial's own random stream.
///
/// A calibrated net whose memory is a line attractor moves its held value when a unit's
/// activity is off its activation function by a few thousandths, as spiking populations are.
/// Training with perturbations makes it learn a memory that tolerates such errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerturbationSettings {
    /// Standard deviation of each unit's drive offset, constant over a trial, in units of
    /// the pre-activation `x`; 0 turns it off.
    pub drive_offset_sd: f64,
    /// Standard deviation of the noise added to each unit's activity at every step; 0 turns
    /// it off.
    pub state_noise_sd: f64,
}

impl PerturbationSettings {
    /// Returns whether any perturbation is drawn.
    pub fn is_active(&self) -> bool {
        self.drive_offset_sd > 0.0 || self.state_noise_sd > 0.0
    }

    /// Checks that both standard deviations are finite and in range, naming the section
    /// `stage` in errors. Drive offsets above 10 (the logistic is saturated beyond about 6)
    /// and state noise above 1 (the whole range of a unit's activity) leave nothing to learn.
    pub fn validate(&self, stage: &str) -> Result<()> {
        use crate::training::check_threshold as check;
        check(
            &format!("{stage}.drive_offset_sd"),
            self.drive_offset_sd,
            0.0,
            10.0,
        )?;
        check(
            &format!("{stage}.state_noise_sd"),
            self.state_noise_sd,
            0.0,
            1.0,
        )
    }

    /// Draws the perturbation of a trial of `n_steps` steps on `n_units` units.
    fn draw<R: rand::Rng>(&self, n_steps: usize, n_units: usize, rng: &mut R) -> Perturbation {
        let mut normal = || -> f64 { rng.sample(rand_distr::StandardNormal) };
        let drive_offset = Array1::from_shape_fn(n_units, |_| self.drive_offset_sd * normal());
        let state_noise = (self.state_noise_sd > 0.0)
            .then(|| Array2::from_shape_fn((n_steps, n_units), |_| self.state_noise_sd * normal()));
        Perturbation {
            drive_offset,
            state_noise,
        }
    }
}

/// Acceptance thresholds of the memory reproduction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryThresholds {
    /// Continuous net: delay-period RMS error.
    pub delay_rms_error: f64,
    /// Continuous net: max delay-period error.
    pub max_error: f64,
    /// f-I fit: RMS against the logistic.
    pub fit_rms: f64,
    /// f-I fit: max error against the logistic.
    pub fit_max_error: f64,
    /// Spiking: lowest median per-unit r.
    pub median_r: f64,
    /// Spiking: highest median per-unit NRMSE.
    pub median_nrmse: f64,
    /// Calibrated spiking output: max error over the first second of the delay.
    pub max_output_error_first_second: f64,
    /// Whether the trained net must show a sustained value-coding and a phasic cue hidden unit.
    pub require_unit_types: bool,
    /// Whether the plain method (a) conversion must meet `median_r` and `median_nrmse` too
    /// (it is always reported).
    pub gate_plain_conversion: bool,
}

impl MemoryConfig {
    /// Returns the configuration of the full reproduction.
    pub fn full() -> MemoryConfig {
        MemoryConfig {
            // Errors around the cue count 5 times in training, so that the output tracks the
            // cue and the start of the delay instead of overshooting there. A quarter of the
            // training trials carry distractors on the cue channel, which gave the seed-1 net
            // 2 phasic cue units. Without distractors none of training seeds 1-6 had one.
            // Training runs 80 000 iterations because with 20 000, distractors at 0.1 gave no
            // phasic cue unit and a delay RMS error of 0.092.
            task: MemoryTaskParams {
                transition_weight: 5.0,
                distractor_probability: 0.25,
                ..MemoryTaskParams::default()
            },
            training: TrainingSettings {
                iterations: 80_000,
                batch_size: 16,
                learning_rate: 2e-3,
                clip_norm: 1.0,
                decay_start_fraction: 0.6,
                final_learning_rate: 2e-4,
                target_loss: None,
                checkpoint_every: 4000,
            },
            training_perturbation: PerturbationSettings::default(),
            calibration: TrainingSettings {
                iterations: 5000,
                batch_size: 16,
                learning_rate: 1e-3,
                clip_norm: 1.0,
                decay_start_fraction: 0.6,
                final_learning_rate: 2e-4,
                target_loss: None,
                checkpoint_every: 500,
            },
            // The best of three calibration runs on the validation cues. With the seed-1
            // logistic net and seeds 1-5 for the fit, the calibration and the trials, the
            // first-second output error was 0.081-0.132 (3 of 5 within 0.10), against
            // 0.087-0.163 (1 of 5) for one run. State noise of SD 0.0005 also gave 3 of 5,
            // alone or with the selection, but its calibrated net missed the delay RMS
            // threshold of 0.05 on seed 3 (0.051) and came within 0.001 of it on seed 1.
            calibration_perturbation: PerturbationSettings::default(),
            calibration_selection: CalibrationSelection {
                n_candidates: 3,
                ..CalibrationSelection::default()
            },
            // Four calibration stages (blend weights 0.25, 0.5, 0.75 and 1). With the seed-1
            // distractor-trained net and one calibration run, the fitted curve in one step
            // left cue 0.2 at 0 (delay RMS error 0.111). Four stages with 2000 iterations
            // before the last gave 0.052, and with 5000 iterations 0.040.
            calibration_homotopy: CalibrationHomotopy {
                stages: 4,
                stage_iterations: 5000,
            },
            fit: FitConfig::default(),
            table: TableConfig::default(),
            conversion: ConversionParams::default(),
            match_synaptic_delays: true,
            n_training_seeds: 1,
            n_trials: 20,
            thresholds: MemoryThresholds {
                delay_rms_error: 0.05,
                max_error: 0.10,
                fit_rms: 0.04,
                fit_max_error: 0.07,
                median_r: 0.9,
                median_nrmse: 0.15,
                max_output_error_first_second: 0.10,
                require_unit_types: true,
                gate_plain_conversion: true,
            },
        }
    }

    /// Returns a smaller configuration for regression checks: fewer iterations, neurons and trials, with
    /// thresholds loosened to what that size reaches.
    pub fn quick() -> MemoryConfig {
        let mut config = MemoryConfig::full();
        // The quick net trains without distractors, which need many iterations (after 20 000
        // with distractors at 0.1 the delay RMS error was 0.092). With four calibration
        // stages of 200 iterations its output error over the first second rose from 0.122 to
        // 0.181, so it calibrates in one stage. NOTE: the quick run therefore does not
        // exercise the staged calibration.
        config.task.distractor_probability = 0.0;
        config.calibration_homotopy = CalibrationHomotopy::default();
        config.training.iterations = 4000;
        config.training.checkpoint_every = 1000;
        config.calibration.iterations = 600;
        // One calibration run keeps the quick run short. NOTE: the quick run therefore does
        // not exercise the choice among calibration runs.
        config.calibration_selection = CalibrationSelection::default();
        config.fit.fi.n_neurons = 100;
        config.fit.fi.duration_ms = 1000.0;
        config.fit.mu_step = 0.1;
        config.table.n_seeds = 1;
        config.table.x_step = 0.1;
        config.n_trials = 6;
        config.n_training_seeds = 1;
        config.thresholds.delay_rms_error = 0.15;
        config.thresholds.max_error = 0.3;
        config.thresholds.median_r = 0.8;
        config.thresholds.median_nrmse = 0.2;
        config.thresholds.max_output_error_first_second = 0.2;
        config.thresholds.require_unit_types = false;
        config.thresholds.gate_plain_conversion = false;
        config
    }
}

impl MemoryConfig {
    /// Checks the configuration before any stage runs, naming the first invalid value.
    pub fn validate(&self) -> Result<()> {
        self.task.validate().context("invalid task settings")?;
        self.training.validate("training")?;
        self.training_perturbation
            .validate("training_perturbation")?;
        self.calibration.validate("calibration")?;
        self.calibration_perturbation
            .validate("calibration_perturbation")?;
        self.calibration_selection.validate()?;
        self.calibration_homotopy.validate()?;
        let test_cues = tasks_memory::test_cue_values();
        if test_cues
            .iter()
            .any(|cue| !(self.task.cue_min..=self.task.cue_max).contains(cue))
        {
            anyhow::bail!(
                "invalid cue range [task.cue_min, task.cue_max] = [{}, {}]: it must contain the \
                 test cue values {test_cues:?}, which the evaluation runs",
                self.task.cue_min,
                self.task.cue_max
            );
        }
        for &cue in &self.calibration_selection.cues {
            if !(self.task.cue_min..=self.task.cue_max).contains(&cue) {
                anyhow::bail!(
                    "invalid calibration_selection.cues value {cue}: give values within the trained cue range [task.cue_min, task.cue_max] = [{}, {}]",
                    self.task.cue_min,
                    self.task.cue_max
                );
            }
        }
        self.conversion
            .validate()
            .context("invalid conversion settings")?;
        self.fit.validate().context("invalid fit settings")?;
        self.table.validate().context("invalid table settings")?;
        let neuron = &self.conversion.neuron;
        let measurement_steps = [
            ("fit.fi.dt_ms", self.fit.fi.dt_ms),
            ("table.fi.dt_ms", self.table.fi.dt_ms),
        ];
        for (name, dt_ms) in measurement_steps {
            neuron
                .validate(dt_ms, 0)
                .with_context(|| format!("invalid conversion.neuron for {name} = {dt_ms}"))?;
        }
        crate::training::check_count("n_trials", self.n_trials, "spiking trials per cue value")?;
        let task = &self.task;
        crate::spiking::check_trial_length(
            "task.baseline_ms + task.cue_ms + max(task.delay_ms, task.test_delay_ms)",
            task.baseline_ms + task.cue_ms + task.delay_ms.max(task.test_delay_ms),
            task.dt_ms,
        )?;
        if self.task.n_hidden > MAX_HIDDEN_UNITS {
            anyhow::bail!(
                "invalid task.n_hidden = {}: give at most {MAX_HIDDEN_UNITS} hidden units (the memory task needs about 8, and training stores every state of every step)",
                self.task.n_hidden
            );
        }
        crate::spiking::check_run_sizes(
            &self.conversion,
            self.task.dt_ms,
            self.n_trials,
            self.task.n_units(),
            self.n_training_seeds,
        )?;
        self.thresholds.validate()
    }
}

impl MemoryThresholds {
    /// Checks that every threshold is a finite number in its range.
    pub fn validate(&self) -> Result<()> {
        use crate::training::check_threshold as check;
        check(
            "thresholds.delay_rms_error",
            self.delay_rms_error,
            0.0,
            f64::MAX,
        )?;
        check("thresholds.max_error", self.max_error, 0.0, f64::MAX)?;
        check("thresholds.fit_rms", self.fit_rms, 0.0, f64::MAX)?;
        check(
            "thresholds.fit_max_error",
            self.fit_max_error,
            0.0,
            f64::MAX,
        )?;
        check("thresholds.median_r", self.median_r, -1.0, 1.0)?;
        check("thresholds.median_nrmse", self.median_nrmse, 0.0, f64::MAX)?;
        check(
            "thresholds.max_output_error_first_second",
            self.max_output_error_first_second,
            0.0,
            f64::MAX,
        )
    }
}

/// Continuous runs of a network on the test cue values.
struct ContinuousEval {
    inputs: Vec<Array2<f64>>,
    traces: Vec<Array2<f64>>,
    metrics: tasks_memory::MemoryMetrics,
    classes: Vec<tasks_memory::UnitClass>,
}

/// Inputs and continuous states of a list of cue trials, one entry per cue value.
type CueRuns = (Vec<Array2<f64>>, Vec<Array2<f64>>);

/// Runs the cue trials of `cues` with the test delay and returns their inputs and states.
fn simulate_cues(rnn: &Rnn, task: &MemoryTaskParams, cues: &[f64]) -> Result<CueRuns> {
    let mut inputs = Vec::new();
    let mut traces = Vec::new();
    for &cue in cues {
        let trial = tasks_memory::cue_trial(task, cue, task.test_delay_ms)?;
        traces.push(rnn.simulate(trial.inputs.view())?);
        inputs.push(trial.inputs);
    }
    Ok((inputs, traces))
}

fn evaluate(rnn: &Rnn, task: &MemoryTaskParams) -> Result<ContinuousEval> {
    let cues = tasks_memory::test_cue_values();
    let (inputs, traces) = simulate_cues(rnn, task, &cues)?;
    let output = task.output_unit();
    let outputs: Vec<_> = traces.iter().map(|t| t.column(output)).collect();
    let metrics = tasks_memory::memory_metrics(&outputs, &cues, task, task.test_delay_ms)?;
    let views: Vec<_> = traces.iter().map(|t| t.view()).collect();
    let classes = tasks_memory::classify_units(&views, &cues, task, task.test_delay_ms)?;
    Ok(ContinuousEval {
        inputs,
        traces,
        metrics,
        classes,
    })
}

/// Draws the cue trials with stream indices `indices` of `seed` and, with an active
/// `perturbation`, a perturbation for each. A trial's perturbation comes from the trial's
/// generator after the trial itself, so the trials are those of an unperturbed batch.
fn sample_minibatch(
    task: &MemoryTaskParams,
    delay_ms: f64,
    indices: std::ops::Range<u64>,
    seed: u64,
    perturbation: &PerturbationSettings,
) -> Result<Minibatch> {
    let mut trials = Vec::new();
    let mut perturbations = Vec::new();
    for index in indices {
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, index));
        let trial = tasks_memory::sample_cue_trial(task, delay_ms, &mut rng)?;
        if perturbation.is_active() {
            perturbations.push(perturbation.draw(trial.n_steps(), task.n_units(), &mut rng));
        }
        trials.push(trial);
    }
    Ok(Minibatch {
        trials,
        perturbations: perturbation.is_active().then_some(perturbations),
    })
}

/// Trains a memory net on cue trials, with the perturbations of `perturbation` if active.
/// `homotopy` is the staged calibration that this run is a stage of, if any. It only enters
/// the training record, so that `--reuse-trained` can distinguish staged from direct runs.
#[allow(clippy::too_many_arguments)]
fn train_memory_net(
    rnn: &mut Rnn,
    task: &MemoryTaskParams,
    settings: &TrainingSettings,
    perturbation: &PerturbationSettings,
    homotopy: Option<&CalibrationHomotopy>,
    curriculum: bool,
    seed: u64,
    label: &str,
    checkpoint: &Path,
) -> Result<crate::training::TrainingOutcome> {
    let n_iterations = settings.iterations;
    let batch_size = settings.batch_size;
    let mut sample_batch = |iteration: usize| {
        let delay_ms = if curriculum {
            tasks_memory::curriculum_delay_ms(task, iteration, n_iterations)
        } else {
            task.delay_ms
        };
        let first = (iteration * batch_size) as u64;
        sample_minibatch(
            task,
            delay_ms,
            first..first + batch_size as u64,
            seed,
            perturbation,
        )
    };
    // Without perturbations the description is that of earlier versions, so that their
    // trained networks stay reusable.
    let mut description = json!({ "task": task, "curriculum": curriculum });
    if perturbation.is_active() {
        description["perturbation"] = json!(perturbation);
    }
    if let Some(homotopy) = homotopy {
        description["homotopy"] = json!(homotopy);
    }
    train_with_checkpoints(
        rnn,
        settings,
        label,
        checkpoint,
        &description,
        &mut sample_batch,
    )
}

/// Calibrates a copy of the logistic net `rnn` with the fitted curve `phi_a` as activation,
/// through the intermediate stages of `config.calibration_homotopy` if it has any. The last
/// stage writes `network` and logs as `label`. Stage `k` before it writes
/// `<network stem>_stage_<k>.bin`. Returns the calibrated net and the last stage's outcome.
fn calibrate_in_stages(
    rnn: &Rnn,
    config: &MemoryConfig,
    calibration_task: &MemoryTaskParams,
    phi_a: &TabulatedActivation,
    seed: u64,
    label: &str,
    network: &Path,
) -> Result<(Rnn, TrainingOutcome)> {
    let homotopy = &config.calibration_homotopy;
    let staged = (homotopy.stages > 1).then_some(homotopy);
    remove_stale_stage_files(network, homotopy.stages)?;
    let mut candidate = rnn.clone();
    for (stage, weight) in homotopy.intermediate_weights().into_iter().enumerate() {
        let number = stage + 1;
        candidate = candidate.with_activation(homotopy::blended_activation(phi_a, weight)?);
        let stem = network
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("rnn");
        train_memory_net(
            &mut candidate,
            calibration_task,
            &homotopy.stage_settings(&config.calibration),
            &config.calibration_perturbation,
            staged,
            false,
            stream_seed(seed, number as u64),
            &format!("{label}-stage-{number}"),
            &network.with_file_name(format!("{stem}_stage_{number}.bin")),
        )?;
    }
    candidate = candidate.with_activation(Activation::Tabulated(phi_a.clone()));
    let outcome = train_memory_net(
        &mut candidate,
        calibration_task,
        &config.calibration,
        &config.calibration_perturbation,
        staged,
        false,
        seed,
        label,
        network,
    )?;
    Ok((candidate, outcome))
}

/// Removes the files of stages `stages` and above (`<network stem>_stage_<k>.*`), which an
/// earlier run with more stages left in the output folder. This run would not rewrite them,
/// so the manifest would list them and a replay would fail on them.
fn remove_stale_stage_files(network: &Path, stages: usize) -> Result<()> {
    let Some(stem) = network.file_stem().and_then(|stem| stem.to_str()) else {
        return Ok(());
    };
    let folder = match network.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        // No folder yet, so nothing is left from an earlier run.
        return Ok(());
    };
    let prefix = format!("{stem}_stage_");
    for entry in entries {
        let path = entry
            .with_context(|| format!("failed to list {}", folder.display()))?
            .path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let stale = digits.parse::<usize>().is_ok_and(|stage| stage >= stages)
            && rest[digits.len()..].starts_with('.');
        if stale {
            std::fs::remove_file(&path)
                .with_context(|| format!("failed to remove {}", path.display()))?;
            info!(path = %path.display(), stages, "removed a stage file of an earlier run");
        }
    }
    Ok(())
}

/// A trained logistic net and what the choice among training seeds reads from it.
struct TrainingCandidate {
    rnn: Rnn,
    outcome: TrainingOutcome,
    /// Continuous test runs with the logistic.
    eval: ContinuousEval,
    /// Continuous test runs with the fitted curve `Phi_a` in place of the logistic (the
    /// attractor check).
    swapped: ContinuousEval,
    /// Continuous acceptance failures.
    failures: Vec<String>,
}

/// Spiking validation of one conversion: the shared agreement numbers plus the output error
/// over the first second of the delay.
struct SpikingEval {
    runs: SpikingRuns,
    max_output_error_first_second: f64,
    diagnostics: OutputDiagnostics,
}

/// Diagnostics of the spiking output against the continuous one, per test cue value, and the
/// distance of each population's rate from the activation function at its own input.
#[derive(Serialize)]
struct OutputDiagnostics {
    /// Test cue values, in the order of the per-cue lists.
    cues: Vec<f64>,
    /// Largest |spiking - continuous| output over the 10 ms bins of the first second of the
    /// delay, per cue: the gated error before its maximum over cues.
    first_second_error: Vec<f64>,
    /// Mean spiking - continuous output over that second, per cue.
    first_second_mean_difference: Vec<f64>,
    /// Least-squares slope of spiking - continuous output over the whole test delay from cue
    /// offset + 100 ms, per cue, in activity per second.
    drift_per_s: Vec<f64>,
    /// Per population, the mean of `Phi(x) - r / f_max` over the delay bins of every test
    /// cue, with `x = W yhat + b` from the mean read-outs (the delay has no input) and `r` the
    /// mean population rate.
    /// A line attractor drifts at about this value divided by `tau`, amplified by the loop,
    /// so a few thousandths are enough to move a held value.
    self_consistency_residual: Vec<f64>,
}

/// Computes [`OutputDiagnostics`] from the mean spiking runs of the test cues.
fn output_diagnostics(
    rnn: &Rnn,
    task: &MemoryTaskParams,
    continuous: &[Array2<f64>],
    runs: &SpikingRuns,
    f_max_hz: f64,
    first_second_error: Vec<f64>,
) -> OutputDiagnostics {
    let output = task.output_unit();
    // Rows after cue offset + 100 ms, as in the gated first-second error.
    let delay_start = ((task.baseline_ms + task.cue_ms + 100.0) / task.dt_ms).round() as usize + 1;
    let second_end = ((task.baseline_ms + task.cue_ms + 1100.0) / task.dt_ms).round() as usize + 1;
    let mut diagnostics = OutputDiagnostics {
        cues: tasks_memory::test_cue_values().to_vec(),
        first_second_error,
        first_second_mean_difference: Vec::new(),
        drift_per_s: Vec::new(),
        self_consistency_residual: vec![0.0; rnn.n_units()],
    };
    for (c, m) in continuous.iter().zip(&runs.mean_readouts) {
        let n_rows = c.nrows().min(m.nrows());
        let difference: Vec<f64> = (delay_start..n_rows)
            .map(|row| m[[row, output]] - c[[row, output]])
            .collect();
        let second = &difference[..(second_end - delay_start).min(difference.len())];
        diagnostics
            .first_second_mean_difference
            .push(second.iter().sum::<f64>() / second.len().max(1) as f64);
        // Slope of the difference against time in seconds.
        let n = difference.len() as f64;
        let t_mean = (n - 1.0) / 2.0;
        let d_mean = difference.iter().sum::<f64>() / n;
        let (mut covariance, mut variance) = (0.0, 0.0);
        for (k, d) in difference.iter().enumerate() {
            covariance += (k as f64 - t_mean) * (d - d_mean);
            variance += (k as f64 - t_mean).powi(2);
        }
        let per_step = if variance > 0.0 {
            covariance / variance
        } else {
            0.0
        };
        diagnostics.drift_per_s.push(per_step * 1000.0 / task.dt_ms);
    }

    // Self-consistency over 10 ms bins of the delay.
    let bin_steps = (10.0 / task.dt_ms).round() as usize;
    let first_bin = delay_start.div_ceil(bin_steps);
    let mut n_bins_used = 0usize;
    for (readout, psth) in runs.mean_readouts.iter().zip(&runs.mean_psths) {
        let n_bins = psth
            .nrows()
            .min(readout.nrows().saturating_sub(1) / bin_steps);
        for bin in first_bin..n_bins {
            let rows = bin * bin_steps..(bin + 1) * bin_steps;
            let yhat: Vec<f64> = (0..rnn.n_units())
                .map(|j| rows.clone().map(|r| readout[[r, j]]).sum::<f64>() / bin_steps as f64)
                .collect();
            for (i, residual) in diagnostics.self_consistency_residual.iter_mut().enumerate() {
                let x: f64 = (0..rnn.n_units())
                    .map(|j| rnn.w[[i, j]] * yhat[j])
                    .sum::<f64>()
                    + rnn.b[i];
                *residual += rnn.config.activation.value(x) - psth[[bin, i]] / f_max_hz;
            }
            n_bins_used += 1;
        }
    }
    for residual in &mut diagnostics.self_consistency_residual {
        *residual /= n_bins_used.max(1) as f64;
    }
    diagnostics
}

fn simulate_and_validate(
    rnn: &Rnn,
    reference: &ContinuousEval,
    conversion: &ConversionParams,
    config: &MemoryConfig,
    seed: u64,
    label: &str,
    out_dir: &Path,
) -> Result<SpikingEval> {
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 0));
    let converted = convert::convert(rnn, conversion, &mut rng)?;
    // ISI CV over the delay from cue offset + 500 ms, where the memory states are steady.
    let task = &config.task;
    let substeps = converted.substeps as u64;
    let steady_from = ((task.baseline_ms + task.cue_ms + 500.0) / task.dt_ms).round() as u64;
    let trial_end = reference.inputs[0].nrows() as u64;
    let cv_window = steady_from * substeps..trial_end * substeps;
    let runs = simulate_conditions(
        &converted,
        &reference.inputs,
        &reference.traces,
        config.n_trials,
        stream_seed(seed, 1),
        std::slice::from_ref(&cv_window),
        label,
        out_dir,
    )?;

    let output = task.output_unit();
    let (first, last, bin_steps) = first_second_window(task);
    let per_cue_errors = first_second_errors(task, &reference.traces, &runs.mean_readouts);
    let max_output_error_first_second = per_cue_errors.iter().fold(0.0, |a: f64, &b| a.max(b));
    let diagnostics = output_diagnostics(
        rnn,
        task,
        &reference.traces,
        &runs,
        conversion.f_max_hz,
        per_cue_errors,
    );
    info!(
        conversion = label,
        max_output_error_first_second,
        drift_per_s = ?diagnostics.drift_per_s,
        "memory output compared"
    );
    ConversionRecord {
        label: label.to_string(),
        rnn: rnn.clone(),
        conversion: conversion.clone(),
        conversion_seed: stream_seed(seed, 0),
        inputs: reference.inputs.clone(),
        continuous: reference.traces.clone(),
        n_trials: config.n_trials,
        trial_seed: stream_seed(seed, 1),
        output_window: Some(OutputWindow {
            unit: output,
            rows: first + 1..last + 1,
            bin_steps,
        }),
    }
    .save(out_dir)?;
    Ok(SpikingEval {
        runs,
        max_output_error_first_second,
        diagnostics,
    })
}

/// Returns the rows `first + 1..=last` of the output error window, cue offset + 100 ms to
/// cue offset + 1100 ms, as `(first, last, bin_steps)` with 10 ms bins.
fn first_second_window(task: &MemoryTaskParams) -> (usize, usize, usize) {
    let bin_steps = (10.0 / task.dt_ms).round() as usize;
    let first = ((task.baseline_ms + task.cue_ms + 100.0) / task.dt_ms).round() as usize;
    let last = ((task.baseline_ms + task.cue_ms + 1100.0) / task.dt_ms).round() as usize;
    (first, last, bin_steps)
}

/// Returns, per condition, the largest |spiking - continuous| output over the 10 ms bins of
/// the first second of the delay.
fn first_second_errors(
    task: &MemoryTaskParams,
    continuous: &[Array2<f64>],
    spiking: &[Array2<f64>],
) -> Vec<f64> {
    let output = task.output_unit();
    let (first, last, bin_steps) = first_second_window(task);
    let window = s![first + 1..=last, output..=output];
    continuous
        .iter()
        .zip(spiking)
        .map(|(c, m)| {
            let c_binned = bin_mean(c.slice(window), bin_steps);
            let m_binned = bin_mean(m.slice(window), bin_steps);
            c_binned
                .iter()
                .zip(m_binned.iter())
                .fold(0.0, |worst: f64, (a, b)| worst.max((a - b).abs()))
        })
        .collect()
}

fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = Vec<f64>>) -> Result<()> {
    let mut text = String::from(header);
    text.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    artifact::write_atomic(path, text.as_bytes())
}

/// Writes every unit's continuous activity for each test cue value.
fn write_continuous_csv(path: &Path, eval: &ContinuousEval, dt_ms: f64) -> Result<()> {
    let n_units = eval.traces.first().map_or(0, |t| t.ncols());
    let header = std::iter::once("cue,t_ms".to_string())
        .chain((0..n_units).map(|unit| format!("y_{unit}")))
        .collect::<Vec<_>>()
        .join(",");
    let cues = tasks_memory::test_cue_values();
    let rows = eval.traces.iter().zip(cues).flat_map(|(trace, cue)| {
        trace
            .outer_iter()
            .enumerate()
            .map(move |(row_idx, y)| {
                let mut cells = vec![cue, row_idx as f64 * dt_ms];
                cells.extend(y.iter().copied());
                cells
            })
            .collect::<Vec<_>>()
    });
    write_csv(path, &header, rows)
}

fn held_values(eval: &ContinuousEval) -> Vec<f64> {
    eval.metrics.held_values.clone()
}

/// Lists the continuous acceptance failures of a net: delay-period errors and, with `unit_types`, at
/// least one sustained value-coding and one phasic cue hidden unit.
fn continuous_failures(
    label: &str,
    eval: &ContinuousEval,
    thresholds: &MemoryThresholds,
    unit_types: bool,
) -> Vec<String> {
    let m = &eval.metrics;
    let mut failures = Vec::new();
    if m.delay_rms_error > thresholds.delay_rms_error {
        failures.push(format!(
            "{label}.delay_rms_error: {} > {}",
            m.delay_rms_error, thresholds.delay_rms_error
        ));
    }
    if m.max_error > thresholds.max_error {
        failures.push(format!(
            "{label}.max_error: {} > {}",
            m.max_error, thresholds.max_error
        ));
    }
    if unit_types {
        let hidden = &eval.classes[..eval.classes.len() - 1];
        if !hidden.iter().any(|c| c.sustained) {
            failures.push(format!(
                "{label}.sustained_units: no sustained value-coding hidden unit"
            ));
        }
        if !hidden.iter().any(|c| c.phasic_cue) {
            failures.push(format!(
                "{label}.phasic_cue_units: no phasic cue hidden unit"
            ));
        }
    }
    failures
}

/// Runs the memory reproduction into `out_dir/memory`; returns the summary and whether every
/// threshold passed.
pub fn reproduce(
    config: &MemoryConfig,
    seed: u64,
    out_root: &Path,
) -> Result<(serde_json::Value, bool)> {
    config.validate()?;
    let out_dir = out_root.join("memory");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("failed to create {}", out_dir.display()))?;
    let task = &config.task;
    let mut timings = serde_json::Map::new();
    let thresholds = &config.thresholds;

    status::begin_stage(&out_dir, "memory", seed, "fit")?;
    // Stage 1: method (a), fit the spiking curve to the logistic. It does not depend on the
    // trained net, so it runs first and every training seed gets its attractor check.
    let started = Instant::now();
    let fit: FitResult = fit_logistic(
        &config.conversion.neuron,
        &config.fit,
        stream_seed(seed, 200),
    )?;
    artifact::save(&out_dir.join("fit.bin"), "f-I fit", &fit)?;
    write_csv(
        &out_dir.join("fit.csv"),
        "x,phi_spiking,logistic",
        fit.x
            .iter()
            .zip(&fit.phi)
            .zip(&fit.logistic)
            .map(|((x, p), l)| vec![*x, *p, *l]),
    )?;
    let table: ActivationTable = tabulate_activation(
        &config.conversion.neuron,
        fit.g,
        fit.mu_0,
        fit.f_max_hz,
        &config.table,
        stream_seed(seed, 201),
    )?;
    artifact::save(&out_dir.join("activation.bin"), "activation table", &table)?;
    timings.insert("fit_s".into(), json!(started.elapsed().as_secs_f64()));

    let phi_a = Activation::Tabulated(table.activation.clone());

    status::begin_stage(&out_dir, "memory", seed, "train")?;
    // Stage 2: train the logistic net with a delay curriculum, trying seeds until one meets
    // the continuous acceptance criteria (or keeping the one with the fewest failures).
    let started = Instant::now();
    let mut candidates = Vec::new();
    for seed_idx in 0..config.n_training_seeds.max(1) {
        let run_seed = stream_seed(seed, 100 + seed_idx as u64);
        let mut rnn_config = RnnConfig::new(task.n_units(), task.n_inputs());
        rnn_config.dt_ms = task.dt_ms;
        rnn_config.tau_ms = vec![20.0; task.n_units()];
        if config.match_synaptic_delays {
            let delay_steps = (config.conversion.delay_ms / task.dt_ms).round() as usize;
            let shape = (task.n_units(), task.n_units());
            rnn_config.delay_steps = Some(ndarray::Array2::from_elem(shape, delay_steps));
        }
        let mut init_rng = ChaCha8Rng::seed_from_u64(stream_seed(run_seed, 0));
        let mut rnn = Rnn::new_using(rnn_config, &mut init_rng)?;
        let outcome = train_memory_net(
            &mut rnn,
            task,
            &config.training,
            &config.training_perturbation,
            None,
            true,
            stream_seed(run_seed, 1),
            &format!("train-{seed_idx}"),
            &out_dir.join(format!("rnn_logistic_{seed_idx}.bin")),
        )?;
        let eval = evaluate(&rnn, task)?;
        let swapped = evaluate(&rnn.with_activation(phi_a.clone()), task)?;
        let failures = continuous_failures(
            "continuous",
            &eval,
            thresholds,
            thresholds.require_unit_types,
        );
        info!(
            seed_idx,
            delay_rms_error = eval.metrics.delay_rms_error,
            max_error = eval.metrics.max_error,
            delay_rms_error_fitted_curve = swapped.metrics.delay_rms_error,
            ?failures,
            "continuous logistic net evaluated"
        );
        let accepted = failures.is_empty();
        candidates.push(TrainingCandidate {
            rnn,
            outcome,
            eval,
            swapped,
            failures,
        });
        if accepted {
            break;
        }
    }
    let score = |c: &TrainingCandidate| {
        (
            c.failures.len(),
            c.eval.metrics.delay_rms_error + c.eval.metrics.max_error,
        )
    };
    let chosen = (0..candidates.len())
        .min_by(|&a, &b| {
            let (fa, ea) = score(&candidates[a]);
            let (fb, eb) = score(&candidates[b]);
            fa.cmp(&fb).then(ea.total_cmp(&eb))
        })
        .expect("at least one training seed");
    let seeds_tried: Vec<serde_json::Value> = candidates
        .iter()
        .map(|c| {
            let hidden = &c.eval.classes[..task.output_unit()];
            json!({
                "delay_rms_error": c.eval.metrics.delay_rms_error,
                "max_error": c.eval.metrics.max_error,
                "sustained_units": hidden.iter().filter(|u| u.sustained).count(),
                "phasic_cue_units": hidden.iter().filter(|u| u.phasic_cue).count(),
                "delay_rms_error_fitted_curve": c.swapped.metrics.delay_rms_error,
                "held_values_fitted_curve": held_values(&c.swapped),
                "final_loss": c.outcome.final_loss,
                "failures": c.failures,
            })
        })
        .collect();
    let TrainingCandidate {
        rnn,
        outcome: training,
        eval: logistic_eval,
        swapped: swapped_eval,
        ..
    } = candidates.swap_remove(chosen);
    artifact::save(&out_dir.join("rnn_logistic.bin"), "rnn", &rnn)?;
    timings.insert("train_s".into(), json!(started.elapsed().as_secs_f64()));

    status::begin_stage(&out_dir, "memory", seed, "calibrate")?;
    // Stage 3: calibration, fine-tuning with the fitted curve as activation.
    let started = Instant::now();
    // Calibration fine-tunes on the test task: cue trials without distractors, whatever the
    // first training used to shape its hidden units.
    let calibration_task = MemoryTaskParams {
        distractor_probability: 0.0,
        ..task.clone()
    };
    let conversion = ConversionParams {
        g: fit.g,
        mu_0: fit.mu_0,
        f_max_hz: fit.f_max_hz,
        ..config.conversion.clone()
    };
    let selection = &config.calibration_selection;
    let n_candidates = selection.n_candidates;
    let mut candidates = Vec::with_capacity(n_candidates);
    let mut reports = Vec::with_capacity(n_candidates);
    for index in 0..n_candidates {
        let (label, network) = if n_candidates == 1 {
            ("calibrate".to_string(), "rnn_calibrated.bin".to_string())
        } else {
            (
                format!("calibrate-{index}"),
                format!("rnn_calibrated_{index}.bin"),
            )
        };
        let (candidate, outcome) = calibrate_in_stages(
            &rnn,
            config,
            &calibration_task,
            &table.activation,
            selection::candidate_seed(seed, index),
            &label,
            &out_dir.join(network),
        )?;
        if n_candidates > 1 {
            reports.push(selection::validate_candidate(
                &candidate,
                task,
                &conversion,
                selection,
                seed,
                index,
                &out_dir.join("selection"),
            )?);
        }
        candidates.push((candidate, outcome));
    }
    let chosen = selection::choose(&reports, thresholds);
    let (calibrated, calibration) = candidates.swap_remove(chosen);
    if n_candidates > 1 {
        info!(chosen, "calibration candidate chosen");
        if reports[chosen].continuous_failures(thresholds) > 0 {
            tracing::warn!(
                chosen,
                "every calibration candidate misses the continuous thresholds on the validation cues, so the choice rests on the spiking error alone"
            );
        }
        artifact::save(&out_dir.join("rnn_calibrated.bin"), "rnn", &calibrated)?;
    }
    let calibrated_eval = evaluate(&calibrated, task)?;
    timings.insert("calibrate_s".into(), json!(started.elapsed().as_secs_f64()));

    status::begin_stage(&out_dir, "memory", seed, "spiking")?;
    // Stage 4: convert both nets with the fitted (g, mu_0, f_max) and validate.
    let started = Instant::now();
    let plain = simulate_and_validate(
        &rnn,
        &logistic_eval,
        &conversion,
        config,
        stream_seed(seed, 500),
        "plain",
        &out_dir,
    )?;
    let calibrated_spiking = simulate_and_validate(
        &calibrated,
        &calibrated_eval,
        &conversion,
        config,
        stream_seed(seed, 600),
        "calibrated",
        &out_dir,
    )?;
    timings.insert("spiking_s".into(), json!(started.elapsed().as_secs_f64()));

    write_continuous_csv(
        &out_dir.join("continuous_logistic.csv"),
        &logistic_eval,
        task.dt_ms,
    )?;
    write_continuous_csv(
        &out_dir.join("continuous_calibrated.csv"),
        &calibrated_eval,
        task.dt_ms,
    )?;
    let cue_labels: Vec<String> = tasks_memory::test_cue_values()
        .iter()
        .map(|cue| cue.to_string())
        .collect();
    write_psth_csv(
        &out_dir.join("psth_plain.csv"),
        &plain.runs,
        "cue",
        &cue_labels,
    )?;
    write_psth_csv(
        &out_dir.join("psth_calibrated.csv"),
        &calibrated_spiking.runs,
        "cue",
        &cue_labels,
    )?;

    // Human-readable output traces: continuous and spiking output per cue value.
    let output = task.output_unit();
    let n_rows = calibrated_eval.traces[0].nrows();
    write_csv(
        &out_dir.join("output_traces.csv"),
        &{
            let mut h = vec!["t_ms".to_string()];
            for cue in tasks_memory::test_cue_values() {
                h.push(format!("continuous_{cue}"));
                h.push(format!("spiking_{cue}"));
                h.push(format!("target_{cue}"));
            }
            h.join(",")
        },
        (0..n_rows).map(|row| {
            // The target is the cue value from cue offset on, NaN before it.
            let t_ms = row as f64 * task.dt_ms;
            let in_delay = t_ms >= task.baseline_ms + task.cue_ms;
            let mut cells = vec![t_ms];
            for ((c, m), cue) in calibrated_eval
                .traces
                .iter()
                .zip(&calibrated_spiking.runs.mean_readouts)
                .zip(tasks_memory::test_cue_values())
            {
                cells.push(c[[row, output]]);
                cells.push(m[[row, output]]);
                cells.push(if in_delay { cue } else { f64::NAN });
            }
            cells
        }),
    )?;

    // Acceptance.
    let hidden = &calibrated_eval.classes[..output];
    let logistic_hidden = &logistic_eval.classes[..output];
    let n_sustained = logistic_hidden.iter().filter(|c| c.sustained).count();
    let n_phasic = logistic_hidden.iter().filter(|c| c.phasic_cue).count();
    let mut failures = continuous_failures(
        "continuous",
        &logistic_eval,
        thresholds,
        thresholds.require_unit_types,
    );
    failures.extend(continuous_failures(
        "calibrated",
        &calibrated_eval,
        thresholds,
        false,
    ));
    let mut check = |name: &str, ok: bool, detail: String| {
        if !ok {
            failures.push(format!("{name}: {detail}"));
        }
    };
    let m = &logistic_eval.metrics;
    let cm = &calibrated_eval.metrics;
    check(
        "fit.rms",
        fit.rms <= thresholds.fit_rms,
        format!("{} > {}", fit.rms, thresholds.fit_rms),
    );
    check(
        "fit.max_error",
        fit.max_error <= thresholds.fit_max_error,
        format!("{} > {}", fit.max_error, thresholds.fit_max_error),
    );
    let mut gated = vec![("spiking", &calibrated_spiking)];
    if thresholds.gate_plain_conversion {
        gated.push(("plain", &plain));
    }
    for (label, eval) in gated {
        let r = eval.runs.median_r.unwrap_or(f64::NAN);
        let nrmse = eval.runs.median_nrmse.unwrap_or(f64::NAN);
        check(
            &format!("{label}.median_r"),
            r >= thresholds.median_r,
            format!("{r} < {}", thresholds.median_r),
        );
        check(
            &format!("{label}.median_nrmse"),
            nrmse <= thresholds.median_nrmse,
            format!("{nrmse} > {}", thresholds.median_nrmse),
        );
    }
    check(
        "spiking.max_output_error_first_second",
        calibrated_spiking.max_output_error_first_second
            <= thresholds.max_output_error_first_second,
        format!(
            "{} > {}",
            calibrated_spiking.max_output_error_first_second,
            thresholds.max_output_error_first_second
        ),
    );
    let passed = failures.is_empty();

    let agreement_json = |eval: &SpikingEval| {
        let mut value = json!(eval.runs.summary());
        value["max_output_error_first_second"] = json!(eval.max_output_error_first_second);
        value["output_diagnostics"] = json!(eval.diagnostics);
        value
    };
    let mut spiking = agreement_json(&calibrated_spiking);
    spiking["conversion"] = json!("calibrated");
    let summary = json!({
        "task": "memory",
        "seed": seed,
        "format_version": artifact::FORMAT_VERSION,
        "continuous": {
            "delay_rms_error": m.delay_rms_error,
            "max_error": m.max_error,
            "per_value_rms": m.per_value_rms,
            "held_values": held_values(&logistic_eval),
            "sustained_units": n_sustained,
            "phasic_cue_units": n_phasic,
            "unit_classes": logistic_eval.classes,
            "training": { "iterations": training.iterations, "final_loss": training.final_loss, "best_loss": training.best_loss },
            "seeds_tried": seeds_tried,
        },
        "fit": {
            "g": fit.g, "mu_0": fit.mu_0, "f_max_hz": fit.f_max_hz,
            "rms": fit.rms, "max_error": fit.max_error, "start_rms": fit.start_rms,
        },
        "attractor_check": {
            "held_values_logistic": held_values(&logistic_eval),
            "held_values_fitted_curve": held_values(&swapped_eval),
            "delay_rms_error_fitted_curve": swapped_eval.metrics.delay_rms_error,
        },
        "calibrated": {
            "delay_rms_error": cm.delay_rms_error,
            "max_error": cm.max_error,
            "held_values": held_values(&calibrated_eval),
            "unit_classes": hidden,
            "training": { "iterations": calibration.iterations, "final_loss": calibration.final_loss },
            "homotopy": config.calibration_homotopy,
            "selection": (n_candidates > 1).then(|| json!({ "chosen": chosen, "candidates": reports })),
        },
        "plain": agreement_json(&plain),
        "spiking": spiking,
        "thresholds": thresholds,
        "timings_s": timings,
        "failures": failures,
        "passed": passed,
    });
    artifact::write_atomic(
        &out_dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok((summary, passed))
}

/// The calibrated network and f-I fit of a finished memory run, with its continuous test
/// runs: what a population-size sweep converts again at each size.
pub struct SweepBase {
    rnn: Rnn,
    fit: FitResult,
    reference: ContinuousEval,
}

/// Loads `rnn_calibrated.bin` and `fit.bin` from `task_dir` and runs the continuous net on
/// the test cue values.
pub fn sweep_base(config: &MemoryConfig, task_dir: &Path) -> Result<SweepBase> {
    let rnn: Rnn = artifact::load(&task_dir.join("rnn_calibrated.bin"), "rnn")?;
    let fit: FitResult = artifact::load(&task_dir.join("fit.bin"), "f-I fit")?;
    let reference = evaluate(&rnn, &config.task)?;
    Ok(SweepBase {
        rnn,
        fit,
        reference,
    })
}

/// Converts the calibrated network with `n_neurons` per population, runs `n_trials` trials
/// per cue value with `seed` and returns the agreement and the output error over the first
/// second of the delay. Spike files go to `scratch_dir`.
pub fn sweep_point(
    config: &MemoryConfig,
    base: &SweepBase,
    n_neurons: usize,
    n_trials: usize,
    seed: u64,
    scratch_dir: &Path,
) -> Result<crate::sweep::PointMeasure> {
    let conversion = ConversionParams {
        n_neurons,
        g: base.fit.g,
        mu_0: base.fit.mu_0,
        f_max_hz: base.fit.f_max_hz,
        ..config.conversion.clone()
    };
    let config = MemoryConfig {
        n_trials,
        ..config.clone()
    };
    let eval = simulate_and_validate(
        &base.rnn,
        &base.reference,
        &conversion,
        &config,
        seed,
        "sweep",
        scratch_dir,
    )?;
    Ok(crate::sweep::PointMeasure::of(
        &eval.runs,
        eval.max_output_error_first_second,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_stage_files_removed() {
        let dir = std::env::temp_dir().join(format!("stage-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names = [
            "rnn_calibrated_stage_1.bin",
            "rnn_calibrated_stage_2.bin",
            "rnn_calibrated_stage_2.training.json",
            "rnn_calibrated_stage_3.checkpoint.bin",
            "rnn_calibrated_stage_10.bin",
            "rnn_calibrated_1_stage_3.bin",
            "rnn_calibrated_stage_2x.bin",
            "rnn_calibrated.bin",
        ];
        for name in names {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
        // Two stages: stage 1 belongs to this run, stages 2, 3 and 10 do not. Another
        // network's stages and names that only start alike stay.
        remove_stale_stage_files(&dir.join("rnn_calibrated.bin"), 2).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "rnn_calibrated.bin",
                "rnn_calibrated_1_stage_3.bin",
                "rnn_calibrated_stage_1.bin",
                "rnn_calibrated_stage_2x.bin",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn perturbation_draws_have_configured_spread() {
        let settings = PerturbationSettings {
            drive_offset_sd: 0.03,
            state_noise_sd: 0.002,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (n_steps, n_units) = (2000, 9);
        let draws: Vec<Perturbation> = (0..200)
            .map(|_| settings.draw(n_steps, n_units, &mut rng))
            .collect();
        let offsets: Vec<f64> = draws
            .iter()
            .flat_map(|p| p.drive_offset.iter().copied())
            .collect();
        // The sample SD of 1800 normal draws has a relative standard error of
        // 1 / sqrt(2 * 1800) = 1.7%, so 5% is about 3 standard errors. The 18 000 draws of
        // state noise have 0.53%, so 2% is about 4.
        let sd = |values: &[f64]| {
            (values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64).sqrt()
        };
        assert!((sd(&offsets) / 0.03 - 1.0).abs() < 0.05, "{}", sd(&offsets));
        let noise = draws[0].state_noise.as_ref().expect("state noise drawn");
        assert_eq!(noise.shape(), &[n_steps, n_units]);
        let values: Vec<f64> = noise.iter().copied().collect();
        assert!((sd(&values) / 0.002 - 1.0).abs() < 0.02, "{}", sd(&values));
    }

    #[test]
    fn zero_noise_spread_draws_no_state_noise() {
        let settings = PerturbationSettings {
            drive_offset_sd: 0.05,
            state_noise_sd: 0.0,
        };
        assert!(settings.is_active());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draw = settings.draw(100, 3, &mut rng);
        assert!(draw.state_noise.is_none());
        assert!(!PerturbationSettings::default().is_active());
    }

    #[test]
    fn perturbed_minibatch_keeps_its_trials() {
        let task = MemoryTaskParams::default();
        let active = PerturbationSettings {
            drive_offset_sd: 0.03,
            state_noise_sd: 0.001,
        };
        let plain =
            sample_minibatch(&task, 400.0, 32..48, 9, &PerturbationSettings::default()).unwrap();
        let perturbed = sample_minibatch(&task, 400.0, 32..48, 9, &active).unwrap();
        assert!(plain.perturbations.is_none());
        assert_eq!(plain.trials, perturbed.trials);
        let perturbations = perturbed.perturbations.expect("perturbations drawn");
        assert_eq!(perturbations.len(), 16);
        for (trial, perturbation) in perturbed.trials.iter().zip(&perturbations) {
            assert_eq!(perturbation.drive_offset.len(), task.n_units());
            let noise = perturbation
                .state_noise
                .as_ref()
                .expect("state noise drawn");
            assert_eq!(noise.shape(), &[trial.n_steps(), task.n_units()]);
        }
        // Another range of stream indices gives other draws.
        let other = sample_minibatch(&task, 400.0, 48..64, 9, &active).unwrap();
        assert_ne!(other.perturbations.unwrap()[0], perturbations[0]);
    }
}
