//! Spiking trials for a list of input conditions, shared by the task pipelines.

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use convert::metrics::{compare_runs, median_defined, UnitAgreement};
use convert::seeds::stream_seed;
use convert::trials::{mean_psth_hz, mean_readout, PSTH_BIN_MS};
use convert::{run_trials, Converted};
use iaf_sim::SpikeRecord;
use ndarray::Array2;
use serde::Serialize;
use tracing::info;

use crate::artifact;
use crate::training::progress_bar;

/// Trial-averaged results of one conversion over every input condition.
pub struct SpikingRuns {
    /// Mean read-out per condition, `(n_steps + 1, n_units)`.
    pub mean_readouts: Vec<Array2<f64>>,
    /// Mean PSTH per condition (Hz), `(n_bins, n_units)`.
    pub mean_psths: Vec<Array2<f64>>,
    /// Per-unit agreement with the continuous traces over all conditions.
    pub agreement: Vec<UnitAgreement>,
    /// Median per-unit Pearson r over units where it is defined.
    pub median_r: Option<f64>,
    /// Median per-unit NRMSE over units where it is defined.
    pub median_nrmse: Option<f64>,
    /// Highest population rate in any 10 ms bin of the mean PSTHs (Hz).
    pub max_rate_hz: f64,
    /// Mean ISI coefficient of variation over neurons and stationary windows with at least 3
    /// spikes, in the first trial of each condition.
    pub mean_isi_cv: Option<f64>,
}

/// Serialisable view of the agreement numbers.
#[derive(Serialize)]
pub struct AgreementSummary<'a> {
    /// Median r.
    pub median_r: Option<f64>,
    /// Median NRMSE.
    pub median_nrmse: Option<f64>,
    /// Highest 10 ms population rate (Hz).
    pub max_population_rate_hz: f64,
    /// Mean ISI CV.
    pub mean_isi_cv: Option<f64>,
    /// Per-unit agreement.
    pub units: &'a [UnitAgreement],
}

impl SpikingRuns {
    /// Returns the agreement numbers for a summary.
    pub fn summary(&self) -> AgreementSummary<'_> {
        AgreementSummary {
            median_r: self.median_r,
            median_nrmse: self.median_nrmse,
            max_population_rate_hz: self.max_rate_hz,
            mean_isi_cv: self.mean_isi_cv,
            units: &self.agreement,
        }
    }
}

/// Writes the mean PSTHs as CSV: one row per condition and 10 ms bin, one column per unit.
/// Labels each row in a first column named `column` with its condition's label (`labels[c]`
/// for condition `c`), such as its cue value.
pub fn write_psth_csv(
    path: &Path,
    runs: &SpikingRuns,
    column: &str,
    labels: &[String],
) -> Result<()> {
    if labels.len() != runs.mean_psths.len() {
        bail!(
            "failed to write {}: {} condition labels for {} conditions",
            path.display(),
            labels.len(),
            runs.mean_psths.len()
        );
    }
    let n_units = runs.mean_psths.first().map_or(0, |p| p.ncols());
    let mut text = format!("{column},bin_start_ms");
    for unit in 0..n_units {
        text.push_str(&format!(",rate_hz_{unit}"));
    }
    text.push('\n');
    for (label, psth) in labels.iter().zip(&runs.mean_psths) {
        for (bin_idx, row) in psth.outer_iter().enumerate() {
            text.push_str(&format!("{label},{}", bin_idx as f64 * PSTH_BIN_MS));
            for rate in row {
                text.push_str(&format!(",{rate}"));
            }
            text.push('\n');
        }
    }
    artifact::write_atomic(path, text.as_bytes())
}

/// ISI coefficients of variation, one per neuron and window with at least 3 spikes in the
/// window. `windows` are half-open ranges of simulation steps in which the rates are roughly
/// stationary, because over a whole trial the switches between silence and firing alone
/// would inflate the CV.
pub fn isi_cvs(record: &SpikeRecord, n_neurons: usize, windows: &[Range<u64>]) -> Vec<f64> {
    let mut cvs = Vec::new();
    for window in windows {
        let mut last_spike: Vec<Option<u64>> = vec![None; n_neurons];
        let mut sums: Vec<(f64, f64, usize)> = vec![(0.0, 0.0, 0); n_neurons];
        let spikes = record.steps.iter().zip(&record.neurons);
        for (&step, &neuron) in spikes.filter(|(step, _)| window.contains(step)) {
            let neuron = neuron as usize;
            if let Some(previous) = last_spike[neuron] {
                let isi = (step - previous) as f64;
                let entry = &mut sums[neuron];
                entry.0 += isi;
                entry.1 += isi * isi;
                entry.2 += 1;
            }
            last_spike[neuron] = Some(step);
        }
        cvs.extend(
            sums.iter()
                .filter(|(_, _, n)| *n >= 2)
                .map(|&(sum, sum_sq, n)| {
                    let mean = sum / n as f64;
                    let variance = (sum_sq / n as f64 - mean * mean).max(0.0);
                    variance.sqrt() / mean
                }),
        );
    }
    cvs
}

/// Runs `n_trials` spiking trials for each input condition and compares the trial averages
/// with the continuous traces in 10 ms bins. The first trial of each condition keeps its
/// spikes, written to `out_dir/spikes_<label>_<condition>.bin`; their ISI CV is measured in
/// `cv_windows` (simulation steps).
#[allow(clippy::too_many_arguments)]
pub fn simulate_conditions(
    converted: &Converted,
    inputs: &[Array2<f64>],
    continuous: &[Array2<f64>],
    n_trials: usize,
    seed: u64,
    cv_windows: &[Range<u64>],
    label: &str,
    out_dir: &Path,
) -> Result<SpikingRuns> {
    let started = Instant::now();
    info!(
        conversion = label,
        neurons = converted.network.n_neurons(),
        synapses = converted.network.n_synapses(),
        conditions = inputs.len(),
        n_trials,
        "spiking simulation started"
    );
    let bar = progress_bar(inputs.len() as u64, label);
    let mut mean_readouts = Vec::new();
    let mut mean_psths = Vec::new();
    let mut cvs = Vec::new();
    for (condition_idx, condition_inputs) in inputs.iter().enumerate() {
        crate::interrupt::check(&format!(
            "spiking trials {label}, condition {condition_idx}"
        ))?;
        let trials = run_trials(
            converted,
            condition_inputs.view(),
            stream_seed(seed, condition_idx as u64),
            n_trials,
            1,
        )?;
        mean_readouts.push(mean_readout(&trials)?);
        mean_psths.push(mean_psth_hz(&trials)?);
        if let Some(spikes) = &trials[0].spikes {
            cvs.extend(isi_cvs(spikes, converted.network.n_neurons(), cv_windows));
            artifact::save(
                &out_dir.join(format!("spikes_{label}_{condition_idx}.bin")),
                "spike record",
                spikes,
            )?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Agreement per unit over all conditions, in 10 ms bins of the continuous grid.
    let bin_steps = (10.0 / converted.rnn.config.dt_ms).round().max(1.0) as usize;
    let continuous_views: Vec<_> = continuous.iter().map(|t| t.view()).collect();
    let spiking_views: Vec<_> = mean_readouts.iter().map(|t| t.view()).collect();
    let agreement = compare_runs(&continuous_views, &spiking_views, bin_steps)?;
    let median_r = median_defined(agreement.iter().map(|a| a.pearson_r));
    let median_nrmse = median_defined(agreement.iter().map(|a| a.nrmse));
    let max_rate_hz = mean_psths
        .iter()
        .flat_map(|p| p.iter().copied())
        .fold(0.0, f64::max);
    let mean_isi_cv = (!cvs.is_empty()).then(|| cvs.iter().sum::<f64>() / cvs.len() as f64);
    info!(
        conversion = label,
        median_r,
        median_nrmse,
        max_rate_hz,
        mean_isi_cv,
        seconds = started.elapsed().as_secs_f64(),
        "spiking simulation finished"
    );
    artifact::save(
        &out_dir.join(format!("spiking_{label}.bin")),
        "spiking readouts",
        &(&mean_readouts, &mean_psths),
    )?;
    Ok(SpikingRuns {
        mean_readouts,
        mean_psths,
        agreement,
        median_r,
        median_nrmse,
        max_rate_hz,
        mean_isi_cv,
    })
}

/// Maximum synaptic delay of a configuration, in ms.
const MAX_DELAY_MS: f64 = 1000.0;
/// Maximum number of neurons per population.
const MAX_NEURONS_PER_POPULATION: usize = 100_000;
/// Maximum number of synapses of a converted network. A run needs about 40 bytes per synapse
/// (3.1 GB measured for 7.9e7 synapses), so this is about 2 GB.
const MAX_SYNAPSES: f64 = 5e7;
/// Maximum number of spiking trials per condition.
const MAX_TRIALS: usize = 10_000;

/// Checks the spiking settings ([`check_spiking_settings`]) and the number of training seeds
/// of a task configuration.
pub fn check_run_sizes(
    conversion: &convert::ConversionParams,
    continuous_dt_ms: f64,
    n_trials: usize,
    n_units: usize,
    n_training_seeds: usize,
) -> Result<()> {
    check_spiking_settings(conversion, continuous_dt_ms, n_trials, n_units)?;
    crate::training::check_count("n_training_seeds", n_training_seeds, "training seeds")
}

/// Rounds `value` to `digits` significant digits, so that a suggested value prints as
/// `0.000001` instead of `0.0000010000000000000002`.
fn round_significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// Largest number of simulation steps per continuous step: 100 takes the simulation step down
/// to 0.01 ms for a 1 ms continuous step, ten times finer than the default.
const MAX_SUBSTEPS: f64 = 100.0;

/// Largest number of continuous time steps of one trial.
const MAX_TRIAL_STEPS: f64 = 100_000.0;

/// Checks that a trial of `trial_ms` (the sum of the configuration periods named in
/// `periods`) has at most [`MAX_TRIAL_STEPS`] steps of `dt_ms`, so that its states and the
/// spiking runs over it fit in memory.
pub fn check_trial_length(periods: &str, trial_ms: f64, dt_ms: f64) -> Result<()> {
    let steps = trial_ms / dt_ms;
    if steps.is_nan() || steps > MAX_TRIAL_STEPS {
        anyhow::bail!(
            "invalid trial length: {periods} make {trial_ms} ms, {steps:.3e} steps of {dt_ms} ms, \
             more than the limit of {MAX_TRIAL_STEPS:.0} steps; give shorter periods"
        );
    }
    Ok(())
}

/// Checks the conversion settings that only the spiking stage would otherwise reject, so that
/// a bad value stops the run before training. The simulation step must divide the continuous
/// step, and delays, population sizes and trial counts must not exceed the limits above.
pub fn check_spiking_settings(
    conversion: &convert::ConversionParams,
    continuous_dt_ms: f64,
    n_trials: usize,
    n_units: usize,
) -> Result<()> {
    let ratio = continuous_dt_ms / conversion.dt_ms;
    if !(ratio >= 1.0 && (ratio - ratio.round()).abs() < 1e-9) {
        anyhow::bail!(
            "invalid conversion.dt_ms = {}: the continuous step of {continuous_dt_ms} ms must be a whole multiple of it (for example {})",
            conversion.dt_ms,
            round_significant(continuous_dt_ms / 10.0, 9)
        );
    }
    if ratio.round() > MAX_SUBSTEPS {
        anyhow::bail!(
            "invalid conversion.dt_ms = {}: it splits each continuous step of {continuous_dt_ms} ms into {:.0} simulation steps, more than the limit of {MAX_SUBSTEPS:.0}; give at least {}",
            conversion.dt_ms,
            ratio.round(),
            round_significant(continuous_dt_ms / MAX_SUBSTEPS, 9)
        );
    }
    let target_delays = conversion.target_delay_ms.iter().flatten();
    for delay in std::iter::once(&conversion.delay_ms).chain(target_delays) {
        if *delay > MAX_DELAY_MS {
            anyhow::bail!(
                "invalid synaptic delay {delay} ms in conversion: give at most {MAX_DELAY_MS} ms"
            );
        }
    }
    if conversion.n_neurons > MAX_NEURONS_PER_POPULATION {
        anyhow::bail!(
            "invalid conversion.n_neurons = {}: give at most {MAX_NEURONS_PER_POPULATION} neurons per population",
            conversion.n_neurons
        );
    }
    // Every pair of populations may be connected.
    let n_pre = conversion.n_neurons;
    let synapses = (n_units * n_units) as f64 * n_pre as f64 * conversion.indegree(n_pre);
    if synapses > MAX_SYNAPSES {
        anyhow::bail!(
            "invalid network size: {n_units} populations (one per unit) of \
             conversion.n_neurons = {n_pre} need up to {synapses:.2e} synapses, more than the \
             limit of {MAX_SYNAPSES:.0e}; give fewer neurons, fewer units or a smaller \
             connection probability"
        );
    }
    check_trial_count("n_trials", n_trials)
}

/// Checks that the trial count `name` is at most the limit of trials per condition.
pub fn check_trial_count(name: &str, n_trials: usize) -> Result<()> {
    if n_trials > MAX_TRIALS {
        anyhow::bail!(
            "invalid {name} = {n_trials}: give at most {MAX_TRIALS} trials per condition"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::round_significant;

    #[test]
    fn suggestion_rounding() {
        // 1e-5 / 10 in f64 is 1.0000000000000002e-6; nine significant digits drop the tail.
        assert_eq!(round_significant(1e-5 / 10.0, 9).to_string(), "0.000001");
        assert_eq!(round_significant(0.1, 9), 0.1);
        assert_eq!(round_significant(123.456_789_123, 4), 123.5);
        assert_eq!(round_significant(-0.012_345, 2), -0.012);
        assert_eq!(round_significant(0.0, 3), 0.0);
    }
}
