//! The wrist step-tracking pipeline: tabulate the spiking activation (method b), train with
//! it, convert, simulate and validate, beside a control net trained with the logistic.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use convert::seeds::stream_seed;
use convert::{tabulate_activation, ActivationTable, ConversionParams, TableConfig};
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Activation, Rnn, RnnConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tasks_wrist::{architecture, UnitGroup, WristMetrics, WristTaskParams};
use tracing::info;

use crate::nest::record::ConversionRecord;
use crate::spiking::{simulate_conditions, write_psth_csv, SpikingRuns};
use crate::training::{train_with_checkpoints, TrainingOutcome, TrainingSettings};
use crate::{artifact, status};

/// Everything the wrist reproduction needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WristConfig {
    /// Task timeline, inputs and templates.
    pub task: WristTaskParams,
    /// Tabulation of `Phi` (method b).
    pub table: TableConfig,
    /// Conversion with the fixed `(g, mu_0, f_max)` that `Phi` was measured with.
    pub conversion: ConversionParams,
    /// Delay of synapses onto motoneuron pools (ms); other synapses use `conversion.delay_ms`.
    pub motoneuron_delay_ms: f64,
    /// Whether both continuous nets carry the spiking net's synaptic delays (rounded to whole
    /// continuous steps), so that training accounts for the latency the conversion adds.
    pub match_synaptic_delays: bool,
    /// Training of each net.
    pub training: TrainingSettings,
    /// Training seeds tried for each net, in order until one meets every continuous
    /// criterion; the net with the fewest failed criteria, then the lowest test loss, is kept.
    pub n_training_seeds: usize,
    /// Spiking trials of the test trial.
    pub n_trials: usize,
    /// Acceptance thresholds of the spiking net.
    pub thresholds: WristThresholds,
}

/// Acceptance thresholds of the wrist spiking net; the continuous criteria are those of
/// `tasks_wrist::WristCriteria`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WristThresholds {
    /// Lowest median per-unit r.
    pub median_r: f64,
    /// Highest median per-unit NRMSE.
    pub median_nrmse: f64,
    /// Highest population rate in a 10 ms bin (Hz).
    pub max_rate_hz: f64,
    /// Range of the mean ISI coefficient of variation.
    pub isi_cv_range: (f64, f64),
    /// Whether the continuous criteria of the method (b) net are gated.
    pub gate_continuous: bool,
}

impl WristConfig {
    /// Returns the configuration of the full reproduction.
    pub fn full() -> WristConfig {
        let conversion = ConversionParams::default();
        WristConfig {
            task: WristTaskParams::default(),
            table: TableConfig::default(),
            conversion,
            motoneuron_delay_ms: 10.0,
            match_synaptic_delays: true,
            training: TrainingSettings {
                iterations: 8000,
                batch_size: 8,
                learning_rate: 2e-3,
                clip_norm: 1.0,
                decay_start_fraction: 0.5,
                final_learning_rate: 2e-4,
                target_loss: None,
                checkpoint_every: 500,
            },
            n_training_seeds: 2,
            n_trials: 20,
            thresholds: WristThresholds {
                median_r: 0.9,
                median_nrmse: 0.15,
                max_rate_hz: 150.0,
                isi_cv_range: (0.3, 1.2),
                gate_continuous: true,
            },
        }
    }

    /// Returns a smaller configuration for regression checks.
    pub fn quick() -> WristConfig {
        let mut config = WristConfig::full();
        config.training.iterations = 800;
        config.n_training_seeds = 1;
        config.table.n_seeds = 1;
        config.table.x_step = 0.1;
        config.n_trials = 6;
        config.thresholds.median_r = 0.8;
        config.thresholds.median_nrmse = 0.2;
        config.thresholds.gate_continuous = false;
        config
    }
}

/// Delay of the synapses onto each unit (ms): `motoneuron_delay_ms` onto motoneuron pools,
/// `conversion.delay_ms` elsewhere.
fn synaptic_delays_ms(config: &WristConfig) -> Vec<f64> {
    (0..config.task.n_units())
        .map(|unit| {
            let onto_motoneuron = UnitGroup::MnFlexor.units().contains(&unit)
                || UnitGroup::MnExtensor.units().contains(&unit);
            if onto_motoneuron {
                config.motoneuron_delay_ms
            } else {
                config.conversion.delay_ms
            }
        })
        .collect()
}

impl WristConfig {
    /// Checks the configuration before any stage runs, naming the first invalid value.
    pub fn validate(&self) -> Result<()> {
        self.task.validate().context("invalid task settings")?;
        self.training.validate("training")?;
        self.conversion
            .validate()
            .context("invalid conversion settings")?;
        if !(self.motoneuron_delay_ms.is_finite() && self.motoneuron_delay_ms >= 0.0) {
            anyhow::bail!(
                "invalid motoneuron_delay_ms = {}: give a finite delay >= 0 ms",
                self.motoneuron_delay_ms
            );
        }
        self.table.validate().context("invalid table settings")?;
        let dt_ms = self.table.fi.dt_ms;
        self.conversion
            .neuron
            .validate(dt_ms, 0)
            .with_context(|| format!("invalid conversion.neuron for table.fi.dt_ms = {dt_ms}"))?;
        crate::training::check_count("n_trials", self.n_trials, "spiking trials")?;
        let task = &self.task;
        let longest_hold_ms = task.test_hold_ms.max(task.train_hold_max_ms);
        crate::spiking::check_trial_length(
            "task.baseline_ms + (task.n_target_steps + 1) x the longest hold",
            task.baseline_ms + (task.n_target_steps as f64 + 1.0) * longest_hold_ms,
            task.dt_ms,
        )?;
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

impl WristThresholds {
    /// Checks that every threshold is a finite number in its range.
    pub fn validate(&self) -> Result<()> {
        use crate::training::check_threshold as check;
        check("thresholds.median_r", self.median_r, -1.0, 1.0)?;
        check("thresholds.median_nrmse", self.median_nrmse, 0.0, f64::MAX)?;
        check("thresholds.max_rate_hz", self.max_rate_hz, 0.0, f64::MAX)?;
        let (low, high) = self.isi_cv_range;
        check("thresholds.isi_cv_range.0", low, 0.0, f64::MAX)?;
        check("thresholds.isi_cv_range.1", high, low, f64::MAX)
    }
}

struct TrainedNet {
    rnn: Rnn,
    outcome: TrainingOutcome,
    trace: Array2<f64>,
    metrics: WristMetrics,
    test_loss: f64,
}

fn train_wrist_net(
    config: &WristConfig,
    activation: Activation,
    seed: u64,
    label: &str,
    out_dir: &Path,
) -> Result<TrainedNet> {
    let task = &config.task;
    let arch = architecture();
    let test_trial = tasks_wrist::test_trial(task)?;
    let holds = tasks_wrist::test_holds_ms(task);
    let mut best: Option<TrainedNet> = None;
    for seed_idx in 0..config.n_training_seeds.max(1) {
        let run_seed = stream_seed(seed, seed_idx as u64);
        let mut rnn_config = RnnConfig::new(task.n_units(), task.n_inputs());
        rnn_config.dt_ms = task.dt_ms;
        rnn_config.activation = activation.clone();
        rnn_config.mask = Some(arch.mask.clone());
        rnn_config.signs = Some(arch.signs.clone());
        rnn_config.input_mask = Some(arch.input_mask.clone());
        rnn_config.train_y0 = false;
        rnn_config.y0_init = 0.05;
        if config.match_synaptic_delays {
            let delays = synaptic_delays_ms(config);
            let shape = (task.n_units(), task.n_units());
            rnn_config.delay_steps = Some(ndarray::Array2::from_shape_fn(shape, |(post, _)| {
                (delays[post] / task.dt_ms).round() as usize
            }));
        }
        let mut init_rng = ChaCha8Rng::seed_from_u64(stream_seed(run_seed, 0));
        let mut rnn = Rnn::new_using(rnn_config, &mut init_rng)?;

        let batch_size = config.training.batch_size;
        let trial_seed = stream_seed(run_seed, 1);
        let mut sample_batch = |iteration: usize| -> Result<Vec<rnn_core::Trial>> {
            (0..batch_size)
                .map(|trial_idx| {
                    let index = (iteration * batch_size + trial_idx) as u64;
                    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(trial_seed, index));
                    Ok(tasks_wrist::sample_wrist_trial(task, &mut rng)?)
                })
                .collect()
        };
        let stage = format!("{label}-{seed_idx}");
        let outcome = train_with_checkpoints(
            &mut rnn,
            &config.training,
            &stage,
            &out_dir.join(format!("rnn_{label}_{seed_idx}.bin")),
            &json!({ "task": task }),
            &mut sample_batch,
        )?;
        let trace = rnn.simulate(test_trial.inputs.view())?;
        let metrics = tasks_wrist::wrist_metrics(trace.view(), rnn.w.view(), task, &holds)?;
        let test_loss = rnn.loss(std::slice::from_ref(&test_trial))?;
        info!(
            net = %stage,
            test_loss,
            median_pool_nrmse = metrics.median_pool_nrmse,
            max_pool_nrmse = metrics.max_pool_nrmse,
            accepted = metrics.accepted(),
            failed = ?metrics.failed_criteria(),
            "wrist net evaluated"
        );
        let accepted = metrics.accepted();
        let candidate = TrainedNet {
            rnn,
            outcome,
            trace,
            metrics,
            test_loss,
        };
        // Keep the net with the fewest failed criteria, then the lowest test loss.
        let rank = |net: &TrainedNet| (net.metrics.failed_criteria().len(), net.test_loss);
        best = match best {
            Some(previous) if rank(&previous) <= rank(&candidate) => Some(previous),
            _ => Some(candidate),
        };
        if accepted {
            break;
        }
    }
    let best = best.expect("at least one training seed");
    artifact::save(&out_dir.join(format!("rnn_{label}.bin")), "rnn", &best.rnn)?;
    Ok(best)
}

/// Median over motoneuron pools of `RMS(yhat - template) / (max template - min template)`,
/// with row `n + 1` of `trace` compared with row `n` of the test trial's targets.
fn motoneuron_template_nrmse(trace: &Array2<f64>, targets: &Array2<f64>) -> Result<f64> {
    let pools: Vec<usize> = UnitGroup::MnFlexor
        .units()
        .chain(UnitGroup::MnExtensor.units())
        .collect();
    let mut values = Vec::new();
    for unit in pools {
        let y: Array1<f64> = trace
            .index_axis(Axis(1), unit)
            .slice(ndarray::s![1..])
            .to_owned();
        let template = targets.index_axis(Axis(1), unit);
        values.push(tasks_wrist::template_nrmse(y.view(), template)?);
    }
    convert::metrics::median_defined(values.into_iter().map(Some)).context("no motoneuron pools")
}

fn convert_and_simulate(
    config: &WristConfig,
    rnn: &Rnn,
    trace: &Array2<f64>,
    table: &ActivationTable,
    seed: u64,
    label: &str,
    out_dir: &Path,
) -> Result<(SpikingRuns, f64, f64)> {
    let task = &config.task;
    let test_trial = tasks_wrist::test_trial(task)?;
    let delays = synaptic_delays_ms(config);
    let conversion = ConversionParams {
        g: table.g,
        mu_0: table.mu_0,
        f_max_hz: table.f_max_hz,
        target_delay_ms: Some(delays),
        ..config.conversion.clone()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 0));
    let converted = convert::convert(rnn, &conversion, &mut rng)?;
    // ISI CV over each hold from step + 300 ms on, where the rates are steady.
    let timeline = tasks_wrist::WristTimeline::new(task, &tasks_wrist::test_holds_ms(task))?;
    let substeps = converted.substeps as u64;
    let settle_steps = (300.0 / task.dt_ms).round() as usize;
    let cv_windows: Vec<_> = (0..timeline.n_target_steps())
        .map(|k| {
            let rows = timeline.hold_rows(k, settle_steps);
            rows.start as u64 * substeps..rows.end as u64 * substeps
        })
        .collect();
    let runs = simulate_conditions(
        &converted,
        std::slice::from_ref(&test_trial.inputs),
        std::slice::from_ref(trace),
        config.n_trials,
        stream_seed(seed, 1),
        &cv_windows,
        label,
        out_dir,
    )?;
    ConversionRecord {
        label: label.to_string(),
        rnn: rnn.clone(),
        conversion: conversion.clone(),
        conversion_seed: stream_seed(seed, 0),
        inputs: vec![test_trial.inputs.clone()],
        continuous: vec![trace.clone()],
        n_trials: config.n_trials,
        trial_seed: stream_seed(seed, 1),
        output_window: None,
    }
    .save(out_dir)?;
    let mn_nrmse = motoneuron_template_nrmse(&runs.mean_readouts[0], &test_trial.targets)?;
    let mn_nrmse_continuous = motoneuron_template_nrmse(trace, &test_trial.targets)?;
    info!(
        conversion = label,
        mn_nrmse, mn_nrmse_continuous, "motoneuron pools compared with templates"
    );
    Ok((runs, mn_nrmse, mn_nrmse_continuous))
}

fn write_traces_csv(
    path: &Path,
    continuous: &Array2<f64>,
    spiking: &Array2<f64>,
    dt_ms: f64,
) -> Result<()> {
    let n_units = continuous.ncols();
    let mut text = String::from("t_ms");
    for unit in 0..n_units {
        text.push_str(&format!(",continuous_{unit},spiking_{unit}"));
    }
    text.push('\n');
    for (row_idx, (c, s)) in continuous
        .outer_iter()
        .zip(spiking.outer_iter())
        .enumerate()
    {
        text.push_str(&format!("{}", row_idx as f64 * dt_ms));
        for (a, b) in c.iter().zip(s.iter()) {
            text.push_str(&format!(",{a},{b}"));
        }
        text.push('\n');
    }
    artifact::write_atomic(path, text.as_bytes())
}

/// Writes the motoneuron templates of the test trial: row `n` of the targets is the state
/// after step `n`, at `t = (n + 1) * dt_ms`.
fn write_templates_csv(path: &Path, config: &WristConfig) -> Result<()> {
    let targets = tasks_wrist::test_trial(&config.task)?.targets;
    let pools: Vec<usize> = UnitGroup::MnFlexor
        .units()
        .chain(UnitGroup::MnExtensor.units())
        .collect();
    let mut text = String::from("t_ms");
    for unit in &pools {
        text.push_str(&format!(",template_{unit}"));
    }
    text.push('\n');
    for (row_idx, row) in targets.outer_iter().enumerate() {
        text.push_str(&format!("{}", (row_idx + 1) as f64 * config.task.dt_ms));
        for &unit in &pools {
            text.push_str(&format!(",{}", row[unit]));
        }
        text.push('\n');
    }
    artifact::write_atomic(path, text.as_bytes())
}

/// Runs the wrist reproduction into `out_dir/wrist`; returns the summary and whether every
/// threshold passed.
pub fn reproduce(
    config: &WristConfig,
    seed: u64,
    out_root: &Path,
) -> Result<(serde_json::Value, bool)> {
    config.validate()?;
    let out_dir = out_root.join("wrist");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("failed to create {}", out_dir.display()))?;
    let mut timings = serde_json::Map::new();

    status::begin_stage(&out_dir, "wrist", seed, "tabulate")?;
    // Stage 1: method (b), tabulate Phi from the spiking neurons.
    let started = Instant::now();
    let c = &config.conversion;
    info!(
        g = c.g,
        mu_0 = c.mu_0,
        f_max_hz = c.f_max_hz,
        "tabulating the spiking activation"
    );
    let table = tabulate_activation(
        &c.neuron,
        c.g,
        c.mu_0,
        c.f_max_hz,
        &config.table,
        stream_seed(seed, 1),
    )?;
    artifact::save(&out_dir.join("activation.bin"), "activation table", &table)?;
    let siegert_rms = (table
        .phi_measured
        .iter()
        .zip(&table.phi_siegert)
        .map(|(m, s)| (m - s).powi(2))
        .sum::<f64>()
        / table.x.len() as f64)
        .sqrt();
    let phi_at_zero = table.activation.value(0.0);
    let phi_crossing_one = table
        .x
        .iter()
        .zip(&table.phi_measured)
        .find(|(_, p)| **p >= 1.0)
        .map(|(x, _)| *x);
    info!(
        siegert_rms,
        phi_at_zero,
        ?phi_crossing_one,
        "spiking activation tabulated"
    );
    let mut text = String::from("x,phi_measured,phi_siegert,phi_table\n");
    for ((x, m), s) in table
        .x
        .iter()
        .zip(&table.phi_measured)
        .zip(&table.phi_siegert)
    {
        text.push_str(&format!("{x},{m},{s},{}\n", table.activation.value(*x)));
    }
    artifact::write_atomic(&out_dir.join("phi.csv"), text.as_bytes())?;
    timings.insert("tabulate_s".into(), json!(started.elapsed().as_secs_f64()));

    status::begin_stage(&out_dir, "wrist", seed, "train")?;
    // Stage 2: train with Phi, and the control with the logistic.
    let started = Instant::now();
    let phi = Activation::Tabulated(table.activation.clone());
    let method_b = train_wrist_net(config, phi, stream_seed(seed, 2), "phi", &out_dir)?;
    timings.insert("train_phi_s".into(), json!(started.elapsed().as_secs_f64()));
    let started = Instant::now();
    let control = train_wrist_net(
        config,
        Activation::Logistic,
        stream_seed(seed, 3),
        "logistic",
        &out_dir,
    )?;
    timings.insert(
        "train_control_s".into(),
        json!(started.elapsed().as_secs_f64()),
    );

    status::begin_stage(&out_dir, "wrist", seed, "spiking")?;
    // Stage 3: convert both with the same (g, mu_0, f_max) and simulate.
    let started = Instant::now();
    let (spiking, mn_nrmse, mn_nrmse_continuous) = convert_and_simulate(
        config,
        &method_b.rnn,
        &method_b.trace,
        &table,
        stream_seed(seed, 4),
        "phi",
        &out_dir,
    )?;
    let (control_spiking, control_mn_nrmse, control_mn_nrmse_continuous) = convert_and_simulate(
        config,
        &control.rnn,
        &control.trace,
        &table,
        stream_seed(seed, 5),
        "control",
        &out_dir,
    )?;
    timings.insert("spiking_s".into(), json!(started.elapsed().as_secs_f64()));
    // The wrist task has a single test trial.
    let trial_label = ["test".to_string()];
    write_psth_csv(
        &out_dir.join("psth_phi.csv"),
        &spiking,
        "trial",
        &trial_label,
    )?;
    write_psth_csv(
        &out_dir.join("psth_control.csv"),
        &control_spiking,
        "trial",
        &trial_label,
    )?;
    write_templates_csv(&out_dir.join("templates.csv"), config)?;
    write_traces_csv(
        &out_dir.join("traces_phi.csv"),
        &method_b.trace,
        &spiking.mean_readouts[0],
        config.task.dt_ms,
    )?;
    write_traces_csv(
        &out_dir.join("traces_control.csv"),
        &control.trace,
        &control_spiking.mean_readouts[0],
        config.task.dt_ms,
    )?;

    // Acceptance.
    let t = &config.thresholds;
    let mut failures: Vec<String> = Vec::new();
    if t.gate_continuous {
        failures.extend(
            method_b
                .metrics
                .failed_criteria()
                .into_iter()
                .map(|f| format!("continuous: {f}")),
        );
    }
    let r = spiking.median_r.unwrap_or(f64::NAN);
    let nrmse = spiking.median_nrmse.unwrap_or(f64::NAN);
    let r_passed = r >= t.median_r;
    if !r_passed {
        failures.push(format!("spiking.median_r: {r} < {}", t.median_r));
    }
    let nrmse_passed = nrmse <= t.median_nrmse;
    if !nrmse_passed {
        failures.push(format!(
            "spiking.median_nrmse: {nrmse} > {}",
            t.median_nrmse
        ));
    }
    let control_beaten = mn_nrmse < control_mn_nrmse;
    if !control_beaten {
        failures.push(format!(
            "spiking.mn_nrmse: method (b) {mn_nrmse} is not below the control's {control_mn_nrmse}"
        ));
    }
    let rates_plausible = spiking.max_rate_hz <= t.max_rate_hz;
    if !rates_plausible {
        failures.push(format!(
            "spiking.max_population_rate_hz: {} > {}",
            spiking.max_rate_hz, t.max_rate_hz
        ));
    }
    match spiking.mean_isi_cv {
        Some(cv) if cv >= t.isi_cv_range.0 && cv <= t.isi_cv_range.1 => {}
        other => failures.push(format!(
            "spiking.mean_isi_cv: {other:?} outside {:?}",
            t.isi_cv_range
        )),
    }
    let passed = failures.is_empty();

    let net_json = |net: &TrainedNet| {
        json!({
            "mn_template_nrmse": net.metrics.median_pool_nrmse,
            "max_pool_nrmse": net.metrics.max_pool_nrmse,
            "nonpreferred_max": net.metrics.pools.iter().map(|p| p.nonpreferred_max).fold(0.0, f64::max),
            "median_cm_rm_onset_ms": net.metrics.median_cm_rm_onset_ms,
            "median_pool_onset_ms": net.metrics.median_pool_onset_ms,
            "n_reciprocal_pathways": net.metrics.n_reciprocal_pathways,
            "accepted": net.metrics.accepted(),
            "failed_criteria": net.metrics.failed_criteria(),
            "test_loss": net.test_loss,
            "training": { "iterations": net.outcome.iterations, "final_loss": net.outcome.final_loss, "best_loss": net.outcome.best_loss },
            "metrics": net.metrics,
        })
    };
    let mut spiking_json = json!(spiking.summary());
    spiking_json["mn_nrmse"] = json!(mn_nrmse);
    spiking_json["mn_nrmse_continuous"] = json!(mn_nrmse_continuous);
    let mut control_json = json!(control_spiking.summary());
    control_json["mn_nrmse"] = json!(control_mn_nrmse);
    control_json["mn_nrmse_continuous"] = json!(control_mn_nrmse_continuous);
    control_json["continuous"] = net_json(&control);
    let summary = json!({
        "task": "wrist",
        "seed": seed,
        "format_version": artifact::FORMAT_VERSION,
        "activation": {
            "g": table.g, "mu_0": table.mu_0, "f_max_hz": table.f_max_hz,
            "rms_measured_vs_siegert": siegert_rms,
            "phi_at_zero": phi_at_zero,
            "first_x_with_phi_above_one": phi_crossing_one,
            "upper_limit": table.activation.upper_limit(),
        },
        "continuous": net_json(&method_b),
        "continuous_criteria_gated": config.thresholds.gate_continuous,
        "spiking": spiking_json,
        "control": control_json,
        "thresholds": config.thresholds,
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

/// The method (b) network and activation table of a finished wrist run, with its continuous
/// test trace: what a population-size sweep converts again at each size.
pub struct SweepBase {
    rnn: Rnn,
    table: ActivationTable,
    trace: Array2<f64>,
}

/// Loads `rnn_phi.bin` and `activation.bin` from `task_dir` and runs the continuous net on
/// the test trial.
pub fn sweep_base(config: &WristConfig, task_dir: &Path) -> Result<SweepBase> {
    let rnn: Rnn = artifact::load(&task_dir.join("rnn_phi.bin"), "rnn")?;
    let table: ActivationTable =
        artifact::load(&task_dir.join("activation.bin"), "activation table")?;
    let test_trial = tasks_wrist::test_trial(&config.task)?;
    let trace = rnn.simulate(test_trial.inputs.view())?;
    Ok(SweepBase { rnn, table, trace })
}

/// Converts the method (b) network with `n_neurons` per population, runs `n_trials` test
/// trials with `seed` and returns the agreement and the motoneuron template NRMSE. Spike
/// files go to `scratch_dir`.
pub fn sweep_point(
    config: &WristConfig,
    base: &SweepBase,
    n_neurons: usize,
    n_trials: usize,
    seed: u64,
    scratch_dir: &Path,
) -> Result<crate::sweep::PointMeasure> {
    let mut config = config.clone();
    config.conversion.n_neurons = n_neurons;
    config.n_trials = n_trials;
    let (runs, mn_nrmse, _) = convert_and_simulate(
        &config,
        &base.rnn,
        &base.trace,
        &base.table,
        seed,
        "sweep",
        scratch_dir,
    )?;
    Ok(crate::sweep::PointMeasure::of(&runs, mn_nrmse))
}
