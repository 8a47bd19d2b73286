//! `cargo xtask crosscheck-nest`: runs an exported network in NEST and in this project's
//! simulator on the same inputs and tests whether they agree within their statistical error.
//!
//! # The test
//! Both simulators run `n` trials per condition (the same inputs, cue values and initial state
//! distribution). Each trial's read-out (the filtered, normalised population rate) is averaged
//! in 10 ms bins. Per population `u`, condition `c` and bin `b`,
//!
//! ```text
//! z = (mean_nest - mean_ours) / sqrt(se_nest^2 + se_ours^2 + 2 w^2 / n)
//! ```
//!
//! with `se` the trial-to-trial standard error of each mean and `w = 1 / (N f_max tau_s)` the
//! read-out step of one spike, a floor that keeps bins where one side never fired from dividing
//! by zero. Under the hypothesis that both simulate the same process, `z` follows Welch's t
//! with about `2 (n - 1)` degrees of freedom, so `E[z^2] = nu / (nu - 2)`: 1.25 for `n = 6`,
//! 1.06 for `n = 20` (the floor only lowers it). Two figures per population are tested:
//! - `mean z^2` over all bins and conditions must stay <= `nu / (nu - 2) + 1`. Neighbouring
//!   bins are correlated through the 20 ms read-out filter, about 4 bins per independent
//!   sample (an estimate). Over a few hundred bins, `mean z^2` then has a standard deviation
//!   of about 0.1-0.2 for `n >= 6` and 0.3 for `n = 4` under the hypothesis, so the margin of 1
//!   is 3 to 10 of them. A systematic offset of one standard error in every bin adds 1.
//! - `z_total`, the same statistic for the mean over the whole trial and all conditions, must
//!   stay within 4.5 in magnitude: a two-sided tail of 0.4 % for 6 degrees of freedom
//!   (`n = 4`), 0.1 % for 10 (`n = 6`) and below 1e-4 for `n = 20`. It finds small offsets
//!   that last the whole trial.
//!
//! At least 4 trials per condition are required, because below that `z^2` has no finite
//! variance.
//!
//! The validation metrics (median per-unit r and NRMSE against the continuous net, and for the
//! memory task the largest output error over the first second of the delay) are computed for
//! both simulators from their trial means; their standard errors come from 200 bootstrap
//! resamples of the trials, and each difference must stay within 3 combined standard errors
//! (0.3 % two-sided under normality).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use convert::metrics::{bin_mean, compare_runs, median_defined};
use convert::nest::trial_from_spikes;
use convert::trials::SpikingTrial;
use convert::{run_trials, Converted};
use iaf_sim::SpikeRecord;
use ndarray::{s, Array2};
use ndarray_npy::ReadNpyExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tracing::info;

use super::export::export;
use super::record::{ConversionRecord, OutputWindow};
use crate::artifact;
use crate::pyenv::ensure_venv;

/// NEST release this check installs and was tested with.
pub const NEST_REQUIREMENT: &str = "nest-simulator==3.10.0";

/// Margin of `mean z^2` above its expectation `nu / (nu - 2)` that still passes.
pub const MEAN_Z_SQUARED_MARGIN: f64 = 1.0;
/// Minimum number of trials per condition.
pub const MIN_TRIALS: usize = 4;

/// Returns the largest `mean z^2` that passes with `n_trials` trials per simulator.
pub fn max_mean_z_squared(n_trials: usize) -> f64 {
    let nu = 2.0 * (n_trials as f64 - 1.0);
    nu / (nu - 2.0) + MEAN_Z_SQUARED_MARGIN
}
/// Largest `|z_total|` of a population that passes.
pub const MAX_ABS_Z_TOTAL: f64 = 4.5;
/// Largest metric difference, in combined bootstrap standard errors, that passes.
pub const MAX_METRIC_SE: f64 = 3.0;
/// Bootstrap resamples of the trials.
const N_BOOTSTRAP: usize = 200;

/// Options of the cross-check.
pub struct Settings {
    /// Trials per condition on each simulator (default: those of the reproduction).
    pub trials: Option<usize>,
    /// Threads NEST uses.
    pub threads: usize,
    /// Seed of NEST's random numbers and of the bootstrap.
    pub seed: u64,
    /// Conditions to run (default: all).
    pub conditions: Option<Vec<usize>>,
}

/// Comparison of one population.
#[derive(Debug, Serialize)]
pub struct PopulationComparison {
    /// Population (unit) index.
    pub population: usize,
    /// Mean filtered rate over all bins and conditions, this simulator (Hz).
    pub rate_ours_hz: f64,
    /// The same in NEST (Hz).
    pub rate_nest_hz: f64,
    /// `z` of the whole-trial means.
    pub z_total: f64,
    /// Mean of `z^2` over bins and conditions.
    pub mean_z_squared: f64,
    /// Whether both tests pass.
    pub passed: bool,
}

/// Comparison of one validation metric.
#[derive(Debug, Serialize)]
pub struct MetricComparison {
    /// Metric name.
    pub name: String,
    /// Value in this simulator.
    pub ours: f64,
    /// Value in NEST.
    pub nest: f64,
    /// Bootstrap standard error in this simulator.
    pub se_ours: f64,
    /// Bootstrap standard error in NEST.
    pub se_nest: f64,
    /// Whether `|nest - ours| <= 3 sqrt(se_ours^2 + se_nest^2)`.
    pub passed: bool,
}

/// Exports conversion `label` of `task` from the reproduction in `from` into `out`, runs it in
/// NEST and in this simulator, prints the comparison and writes it to `out/crosscheck.json`.
/// Returns whether every test passed.
pub fn crosscheck(
    task: &str,
    label: &str,
    from: &Path,
    out: &Path,
    settings: &Settings,
) -> Result<bool> {
    let exported = export(task, label, from, out)?;
    let converted = &exported.converted;
    let n_trials = settings.trials.unwrap_or(exported.record.n_trials);
    if n_trials < MIN_TRIALS {
        bail!("invalid --trials {n_trials}: give at least {MIN_TRIALS} trials per condition");
    }
    let record = &select_conditions(exported.record, settings.conditions.as_deref())?;
    let conditions: Vec<String> = match &settings.conditions {
        Some(list) => list.iter().map(|c| c.to_string()).collect(),
        None => (0..record.inputs.len()).map(|c| c.to_string()).collect(),
    };

    // NEST side.
    let python = ensure_venv(
        &crate::manifest::workspace_root().join("target/bench-venv"),
        "nest",
        &[NEST_REQUIREMENT, "numpy"],
    )
    .context("cannot install NEST; the cross-check needs nest-simulator from PyPI")?;
    let spikes_dir = out.join("nest_spikes");
    if spikes_dir.exists() {
        std::fs::remove_dir_all(&spikes_dir)
            .with_context(|| format!("failed to clear {}", spikes_dir.display()))?;
    }
    let started = Instant::now();
    info!(
        task,
        conversion = label,
        n_trials,
        "running the network in NEST"
    );
    let status = Command::new(&python)
        .arg(out.join("run_nest.py"))
        .args(["--trials", &n_trials.to_string()])
        .args(["--threads", &settings.threads.to_string()])
        .args(["--seed", &settings.seed.to_string()])
        .args(["--conditions", &conditions.join(",")])
        .arg("--out")
        .arg(&spikes_dir)
        .status()
        .with_context(|| format!("failed to run {}", python.display()))?;
    if !status.success() {
        bail!("the NEST run failed ({status}); its messages are above");
    }
    let nest_seconds = started.elapsed().as_secs_f64();
    let nest_trials = load_nest_trials(converted, record, &conditions, &spikes_dir, n_trials)?;

    // This simulator, with the reproduction's seeds.
    let started = Instant::now();
    let mut our_trials = Vec::new();
    for (condition, inputs) in condition_indices(settings, record).zip(&record.inputs) {
        let seed = record.condition_seed(condition);
        our_trials.push(run_trials(converted, inputs.view(), seed, n_trials, 0)?);
    }
    let our_seconds = started.elapsed().as_secs_f64();
    info!(nest_seconds, our_seconds, "both simulators finished");

    // Comparison.
    let populations = compare_populations(converted, &our_trials, &nest_trials);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let metrics = compare_metrics(converted, record, &our_trials, &nest_trials, &mut rng)?;
    print_table(task, label, n_trials, &conditions, &populations, &metrics);
    let passed = populations.iter().all(|p| p.passed) && metrics.iter().all(|m| m.passed);
    let summary = serde_json::json!({
        "task": task,
        "conversion": label,
        "n_trials": n_trials,
        "conditions": conditions,
        "nest": NEST_REQUIREMENT,
        "nest_threads": settings.threads,
        "seconds": { "nest": nest_seconds, "ours": our_seconds },
        "bounds": {
            "max_mean_z_squared": max_mean_z_squared(n_trials),
            "max_abs_z_total": MAX_ABS_Z_TOTAL,
            "max_metric_se": MAX_METRIC_SE,
        },
        "populations": populations,
        "metrics": metrics,
        "passed": passed,
    });
    artifact::write_atomic(
        &out.join("crosscheck.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok(passed)
}

/// Returns the record with only the listed conditions, in the listed order.
fn select_conditions(
    mut record: ConversionRecord,
    conditions: Option<&[usize]>,
) -> Result<ConversionRecord> {
    let Some(list) = conditions else {
        return Ok(record);
    };
    let n = record.inputs.len();
    if list.is_empty() || list.iter().any(|&c| c >= n) {
        bail!(
            "invalid --conditions {list:?}: give indices from 0 to {}",
            n - 1
        );
    }
    record.inputs = list.iter().map(|&c| record.inputs[c].clone()).collect();
    record.continuous = list.iter().map(|&c| record.continuous[c].clone()).collect();
    Ok(record)
}

/// Returns the original index of each condition of the selected record.
fn condition_indices<'a>(
    settings: &'a Settings,
    record: &ConversionRecord,
) -> Box<dyn Iterator<Item = usize> + 'a> {
    match &settings.conditions {
        Some(list) => Box::new(list.iter().copied()),
        None => Box::new(0..record.inputs.len()),
    }
}

/// Reads NEST's spike files (one per MPI rank) and scores each trial like this simulator's.
fn load_nest_trials(
    converted: &Converted,
    record: &ConversionRecord,
    conditions: &[String],
    dir: &Path,
    n_trials: usize,
) -> Result<Vec<Vec<SpikingTrial>>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("failed to list {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut per_condition = Vec::new();
    for (condition, inputs) in conditions.iter().zip(&record.inputs) {
        let mut trials = Vec::new();
        for trial in 0..n_trials {
            let prefix = format!("spikes_c{condition}_t{trial}_rank");
            let parts: Vec<&PathBuf> = files
                .iter()
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                })
                .collect();
            if parts.is_empty() {
                bail!(
                    "NEST wrote no spike file {prefix}*.npy into {}",
                    dir.display()
                );
            }
            let mut spikes: Vec<(u64, u32)> = Vec::new();
            for path in parts {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("failed to open {}", path.display()))?;
                let rows = Array2::<i64>::read_npy(file)
                    .with_context(|| format!("invalid spike file {}", path.display()))?;
                for row in rows.outer_iter() {
                    spikes.push((row[1] as u64, row[0] as u32));
                }
            }
            spikes.sort_unstable();
            let spike_record = SpikeRecord {
                steps: spikes.iter().map(|s| s.0).collect(),
                neurons: spikes.iter().map(|s| s.1).collect(),
            };
            trials.push(trial_from_spikes(converted, &spike_record, inputs.nrows())?);
        }
        per_condition.push(trials);
    }
    Ok(per_condition)
}

/// Returns the 10 ms bin means of every trial's read-out, `[trial](n_bins, n_units)`.
fn binned(converted: &Converted, trials: &[SpikingTrial]) -> Vec<Array2<f64>> {
    let bin_steps = bin_steps(converted);
    trials
        .iter()
        .map(|t| bin_mean(t.readout.slice(s![1.., ..]), bin_steps))
        .collect()
}

fn bin_steps(converted: &Converted) -> usize {
    (10.0 / converted.rnn.config.dt_ms).round().max(1.0) as usize
}

fn mean_and_variance(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let variance = values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

/// Computes `z` per bin and for the whole-trial means, population by population.
fn compare_populations(
    converted: &Converted,
    ours: &[Vec<SpikingTrial>],
    nest: &[Vec<SpikingTrial>],
) -> Vec<PopulationComparison> {
    let params = &converted.params;
    let n_units = converted.rnn.n_units();
    let ours: Vec<Vec<Array2<f64>>> = ours.iter().map(|t| binned(converted, t)).collect();
    let nest: Vec<Vec<Array2<f64>>> = nest.iter().map(|t| binned(converted, t)).collect();
    let n_trials = ours[0].len() as f64;

    (0..n_units)
        .map(|unit| {
            let tau_s = converted.rnn.config.tau_ms[unit] * 1e-3;
            let spike_step = 1.0 / (params.n_neurons as f64 * params.f_max_hz * tau_s);
            let floor = 2.0 * spike_step.powi(2) / n_trials;

            // Per bin.
            let mut z_squared = Vec::new();
            for (ours_c, nest_c) in ours.iter().zip(&nest) {
                for bin in 0..ours_c[0].nrows() {
                    let (m_o, v_o) = mean_and_variance(ours_c.iter().map(|t| t[[bin, unit]]));
                    let (m_n, v_n) = mean_and_variance(nest_c.iter().map(|t| t[[bin, unit]]));
                    let se = ((v_o + v_n) / n_trials + floor).sqrt();
                    z_squared.push(((m_n - m_o) / se).powi(2));
                }
            }

            // Whole-trial means: trial k's mean over all conditions and bins.
            let trial_mean = |side: &[Vec<Array2<f64>>], k: usize| {
                let sum: f64 = side.iter().map(|c| c[k].column(unit).sum()).sum();
                let count: usize = side.iter().map(|c| c[k].nrows()).sum();
                sum / count as f64
            };
            let k_range = 0..ours[0].len();
            let (m_o, v_o) = mean_and_variance(k_range.clone().map(|k| trial_mean(&ours, k)));
            let (m_n, v_n) = mean_and_variance(k_range.map(|k| trial_mean(&nest, k)));
            let z_total = (m_n - m_o) / ((v_o + v_n) / n_trials + floor).sqrt();
            let mean_z_squared = z_squared.iter().sum::<f64>() / z_squared.len().max(1) as f64;
            PopulationComparison {
                population: unit,
                rate_ours_hz: m_o * params.f_max_hz,
                rate_nest_hz: m_n * params.f_max_hz,
                z_total,
                mean_z_squared,
                passed: mean_z_squared <= max_mean_z_squared(ours[0].len())
                    && z_total.abs() <= MAX_ABS_Z_TOTAL,
            }
        })
        .collect()
}

/// Validation metrics of one set of trials: median r, median NRMSE and, with a window, the
/// memory output error.
fn metrics_of(
    converted: &Converted,
    record: &ConversionRecord,
    trials: &[Vec<&SpikingTrial>],
) -> Result<Vec<f64>> {
    let means: Vec<Array2<f64>> = trials
        .iter()
        .map(|c| {
            let mut sum = c[0].readout.clone();
            for t in &c[1..] {
                sum += &t.readout;
            }
            sum / c.len() as f64
        })
        .collect();
    let continuous: Vec<_> = record.continuous.iter().map(|t| t.view()).collect();
    let spiking: Vec<_> = means.iter().map(|t| t.view()).collect();
    let agreement = compare_runs(&continuous, &spiking, bin_steps(converted))?;
    let mut values = vec![
        median_defined(agreement.iter().map(|a| a.pearson_r)).unwrap_or(f64::NAN),
        median_defined(agreement.iter().map(|a| a.nrmse)).unwrap_or(f64::NAN),
    ];
    if let Some(window) = &record.output_window {
        values.push(max_output_error(window, &record.continuous, &means));
    }
    Ok(values)
}

/// Largest difference of the 10 ms bin means of the output over the window and conditions.
fn max_output_error(
    window: &OutputWindow,
    continuous: &[Array2<f64>],
    means: &[Array2<f64>],
) -> f64 {
    let rows = s![window.rows.clone(), window.unit..=window.unit];
    let mut max_error: f64 = 0.0;
    for (c, m) in continuous.iter().zip(means) {
        let c_binned = bin_mean(c.slice(rows), window.bin_steps);
        let m_binned = bin_mean(m.slice(rows), window.bin_steps);
        for (a, b) in c_binned.iter().zip(m_binned.iter()) {
            max_error = max_error.max((a - b).abs());
        }
    }
    max_error
}

fn all_trials(side: &[Vec<SpikingTrial>]) -> Vec<Vec<&SpikingTrial>> {
    side.iter().map(|c| c.iter().collect()).collect()
}

/// Computes each metric for both simulators with its bootstrap standard error.
fn compare_metrics(
    converted: &Converted,
    record: &ConversionRecord,
    ours: &[Vec<SpikingTrial>],
    nest: &[Vec<SpikingTrial>],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<MetricComparison>> {
    let value_ours = metrics_of(converted, record, &all_trials(ours))?;
    let value_nest = metrics_of(converted, record, &all_trials(nest))?;

    // Bootstrap: resample the trials of every condition with replacement.
    let resampled = |side: &[Vec<SpikingTrial>], rng: &mut ChaCha8Rng| -> Result<Vec<Vec<f64>>> {
        (0..N_BOOTSTRAP)
            .map(|_| {
                let sample: Vec<Vec<&SpikingTrial>> = side
                    .iter()
                    .map(|c| {
                        (0..c.len())
                            .map(|_| &c[rng.random_range(0..c.len())])
                            .collect()
                    })
                    .collect();
                metrics_of(converted, record, &sample)
            })
            .collect()
    };
    let boot_ours = resampled(ours, rng)?;
    let boot_nest = resampled(nest, rng)?;
    let sd = |boot: &[Vec<f64>], i: usize| mean_and_variance(boot.iter().map(|b| b[i])).1.sqrt();

    let names = ["median_r", "median_nrmse", "max_output_error_first_second"];
    let comparisons = (0..value_ours.len())
        .map(|i| {
            let (se_ours, se_nest) = (sd(&boot_ours, i), sd(&boot_nest, i));
            let bound = MAX_METRIC_SE * (se_ours.powi(2) + se_nest.powi(2)).sqrt();
            MetricComparison {
                name: names[i].to_string(),
                ours: value_ours[i],
                nest: value_nest[i],
                se_ours,
                se_nest,
                passed: (value_nest[i] - value_ours[i]).abs() <= bound,
            }
        })
        .collect();
    Ok(comparisons)
}

fn print_table(
    task: &str,
    label: &str,
    n_trials: usize,
    conditions: &[String],
    populations: &[PopulationComparison],
    metrics: &[MetricComparison],
) {
    println!(
        "NEST cross-check: {task}, conversion {label}, conditions [{}], {n_trials} trials per condition",
        conditions.join(", ")
    );
    println!(
        "pass: mean z^2 <= {:.2}, |z_total| <= {MAX_ABS_Z_TOTAL}, metrics within {MAX_METRIC_SE} bootstrap SE",
        max_mean_z_squared(n_trials)
    );
    println!(
        "{:>10} {:>12} {:>12} {:>9} {:>10}  result",
        "population", "ours (Hz)", "NEST (Hz)", "z_total", "mean z^2"
    );
    for p in populations {
        println!(
            "{:>10} {:>12.3} {:>12.3} {:>9.2} {:>10.2}  {}",
            p.population,
            p.rate_ours_hz,
            p.rate_nest_hz,
            p.z_total,
            p.mean_z_squared,
            if p.passed { "ok" } else { "DIFFERENT" }
        );
    }
    println!(
        "{:>30} {:>14} {:>14}  result",
        "metric", "ours (SE)", "NEST (SE)"
    );
    for m in metrics {
        println!(
            "{:>30} {:>6.4} ({:.4}) {:>6.4} ({:.4})  {}",
            m.name,
            m.ours,
            m.se_ours,
            m.nest,
            m.se_nest,
            if m.passed { "ok" } else { "DIFFERENT" }
        );
    }
}
