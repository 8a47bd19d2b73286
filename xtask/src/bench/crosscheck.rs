//! `cargo xtask crosscheck-brian2`: the population rates of a small network of the converted
//! kind, simulated by `iaf-sim` and by Brian2, must agree within their statistical error.
//!
//! The network has three populations of 200 neurons with the default neuron (tau_m 10 ms,
//! refractory 8 ms, threshold 1, membrane noise sigma_v 1) and difference-of-exponentials
//! synapses (rise 0.8 ms, decay 3.2 ms). Recurrent and cross projections have fixed in-degree
//! and delays of 1.5 to 3 ms, and a group of Poisson generators drives the first population.
//! Each tool runs `trials` trials, each with its own connectivity, initial potentials and noise;
//! the rate of population p in a trial is its spike count after a warm-up over
//! `n_neurons * duration`.
//!
//! Test: for each population, z = (mean_iaf - mean_brian2) / sqrt(se_iaf^2 + se_brian2^2) with
//! se the standard error of the mean over trials; the check fails when any |z| exceeds
//! [`Z_BOUND`].

use std::process::Command;

use anyhow::{bail, Context, Result};
use iaf_sim::{
    duration_to_steps, Connectivity, Network, NetworkParams, PoissonSourceParams, PopulationParams,
    ProjectionParams, Simulation, Source, SynapseModel,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tracing::info;

use super::child::run_child;
use super::table::{cell, render};
use super::{BenchContext, SIM_REQUIREMENTS};

/// Largest |z| that passes. Under agreement z is close to standard normal, so one population
/// exceeds 4 with probability 6e-5.
pub const Z_BOUND: f64 = 4.0;
/// Rate of the Poisson generators in Hz.
const POISSON_RATE_HZ: f64 = 20.0;

/// Arguments of `cargo xtask crosscheck-brian2`.
#[derive(clap::Args, Debug)]
pub struct CrosscheckArgs {
    /// Trials per simulator.
    #[arg(long, default_value_t = 12)]
    trials: usize,
    /// Measured time per trial in ms, after the warm-up.
    #[arg(long, default_value_t = 1000.0)]
    duration_ms: f64,
    /// Warm-up per trial in ms, not counted.
    #[arg(long, default_value_t = 200.0)]
    warmup_ms: f64,
    /// Seed of the first trial; trial r uses seed + r.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Limit of the Brian2 process's wall time in seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_s: u64,
    /// Use only an existing venv under target/bench-venv; install nothing.
    #[arg(long)]
    no_install: bool,
}

/// Builds the network of the cross-check.
pub fn network_params() -> NetworkParams {
    let population = |bias: f64| PopulationParams {
        n_neurons: 200,
        bias,
        synapse: SynapseModel::FETZ_LAB_PSP,
        ..PopulationParams::default()
    };
    let projection =
        |source: Source, target: usize, weight: f64, delay_ms: f64, k: usize| ProjectionParams {
            source,
            target,
            weight,
            delay_ms,
            connectivity: Connectivity::FixedIndegree { k },
        };
    NetworkParams {
        dt_ms: 0.1,
        populations: vec![population(0.6), population(0.8), population(0.5)],
        poisson_sources: vec![PoissonSourceParams { n_neurons: 100 }],
        projections: vec![
            projection(Source::Poisson(0), 0, 0.004, 1.5, 20),
            projection(Source::Population(0), 0, 0.001, 2.0, 40),
            projection(Source::Population(0), 1, 0.002, 3.0, 40),
            projection(Source::Population(1), 0, -0.002, 1.5, 40),
            projection(Source::Population(1), 2, 0.003, 2.5, 40),
            projection(Source::Population(2), 1, -0.001, 2.0, 40),
        ],
    }
}

/// Runs the cross-check; fails when Brian2 is unavailable or any population disagrees.
pub fn run(args: CrosscheckArgs) -> Result<()> {
    if args.trials < 2 {
        bail!(
            "invalid --trials {}: the standard error needs at least 2",
            args.trials
        );
    }
    if !(args.duration_ms > 0.0 && args.warmup_ms >= 0.0) {
        bail!("invalid --duration-ms or --warmup-ms: give a positive duration and a warm-up >= 0");
    }
    let context = BenchContext::new(args.timeout_s, !args.no_install)?;
    let params = network_params();
    let python = context.python("sim", SIM_REQUIREMENTS).context(
        "Brian2 is not installed, so the cross-check did not run (it needs the network to \
         install brian2 into target/bench-venv/sim)",
    )?;

    info!(trials = args.trials, "simulating with iaf-sim");
    let ours = simulate_trials(&params, &args)?;
    let spec = json!({
        "network": params,
        "poisson_rates_hz": [POISSON_RATE_HZ],
        "trials": args.trials,
        "seed": args.seed,
        "warmup_ms": args.warmup_ms,
        "duration_ms": args.duration_ms,
    });
    let spec_path = context.out_dir.join("crosscheck-brian2-spec.json");
    crate::artifact::write_atomic(&spec_path, serde_json::to_string_pretty(&spec)?.as_bytes())?;
    info!(trials = args.trials, "simulating with Brian2");
    let mut command = Command::new(python);
    command
        .current_dir(context.scripts_dir())
        .arg("crosscheck_brian2.py")
        .arg("--spec")
        .arg(&spec_path);
    let brian2 = run_child(command, context.timeout)?;
    let theirs = parse_rates(&brian2.record, params.populations.len())?;

    let comparison = compare(&ours, &theirs);
    println!("{}", comparison.text);
    let results = json!({
        "check": "crosscheck-brian2",
        "z_bound": Z_BOUND,
        "trials": args.trials,
        "iaf_sim_rates_hz": ours,
        "brian2_rates_hz": theirs,
        "brian2_version": brian2.record.get("version"),
        "populations": comparison.populations,
        "passed": comparison.passed,
    });
    context.finish("crosscheck-brian2", &results)?;
    if !comparison.passed {
        bail!("iaf-sim and Brian2 population rates disagree (|z| > {Z_BOUND})");
    }
    Ok(())
}

/// Simulates every trial with iaf-sim; returns rates[trial][population] in Hz.
fn simulate_trials(params: &NetworkParams, args: &CrosscheckArgs) -> Result<Vec<Vec<f64>>> {
    let warmup_steps = duration_to_steps(args.warmup_ms, params.dt_ms);
    let measured_steps = duration_to_steps(args.duration_ms, params.dt_ms);
    let duration_s = measured_steps as f64 * params.dt_ms / 1000.0;
    let mut rates = Vec::with_capacity(args.trials);
    for trial in 0..args.trials as u64 {
        let seed = args.seed + trial;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let network = Network::build(params.clone(), &mut rng)?;
        let mut sim = Simulation::new(&network, seed);
        sim.set_potentials_uniform(&mut rng);
        sim.try_set_poisson_rate(0, POISSON_RATE_HZ)?;
        sim.run(warmup_steps as usize);
        let mut counts = vec![0u64; network.n_populations()];
        for _ in 0..measured_steps {
            sim.step();
            for (count, step_count) in counts.iter_mut().zip(sim.population_spike_counts()) {
                *count += u64::from(*step_count);
            }
        }
        let trial_rates = counts
            .iter()
            .zip(&params.populations)
            .map(|(count, pop)| *count as f64 / (pop.n_neurons as f64 * duration_s))
            .collect();
        rates.push(trial_rates);
    }
    Ok(rates)
}

fn parse_rates(record: &Value, n_populations: usize) -> Result<Vec<Vec<f64>>> {
    let rates: Vec<Vec<f64>> = serde_json::from_value(record["rates_hz"].clone())
        .context("the Brian2 result has no rates_hz array of arrays")?;
    if rates.iter().any(|trial| trial.len() != n_populations) {
        bail!("the Brian2 result has a trial without {n_populations} population rates");
    }
    Ok(rates)
}

/// Mean and standard error of the mean of `values` (sample standard deviation over sqrt(n)).
pub fn mean_and_standard_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (variance / n).sqrt())
}

/// Per-population comparison of two sets of trial rates.
pub struct Comparison {
    pub text: String,
    pub populations: Vec<Value>,
    pub passed: bool,
}

/// Compares rates[trial][population] of the two simulators with the z test of the module.
pub fn compare(ours: &[Vec<f64>], theirs: &[Vec<f64>]) -> Comparison {
    let n_populations = ours.first().map_or(0, Vec::len);
    let mut populations = Vec::new();
    let mut rows = Vec::new();
    let mut passed = true;
    for pop in 0..n_populations {
        let column = |rates: &[Vec<f64>]| rates.iter().map(|trial| trial[pop]).collect::<Vec<_>>();
        let (mean_ours, se_ours) = mean_and_standard_error(&column(ours));
        let (mean_theirs, se_theirs) = mean_and_standard_error(&column(theirs));
        let se = (se_ours.powi(2) + se_theirs.powi(2)).sqrt();
        let z = if se > 0.0 {
            (mean_ours - mean_theirs) / se
        } else if mean_ours == mean_theirs {
            0.0
        } else {
            f64::INFINITY
        };
        let agrees = z.abs() <= Z_BOUND;
        passed &= agrees;
        populations.push(json!({
            "population": pop,
            "iaf_sim_mean_hz": mean_ours,
            "iaf_sim_se_hz": se_ours,
            "brian2_mean_hz": mean_theirs,
            "brian2_se_hz": se_theirs,
            "z": z,
            "agrees": agrees,
        }));
        rows.push(vec![
            pop.to_string(),
            format!("{} ± {}", cell(Some(mean_ours), 2), cell(Some(se_ours), 2)),
            format!(
                "{} ± {}",
                cell(Some(mean_theirs), 2),
                cell(Some(se_theirs), 2)
            ),
            cell(Some(z), 2),
            if agrees { "yes" } else { "NO" }.to_string(),
        ]);
    }
    let text = render(
        &["population", "iaf-sim Hz", "Brian2 Hz", "z", "|z| <= 4"],
        &rows,
    );
    Comparison {
        text,
        populations,
        passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_error_of_known_sample() {
        // Sample 1, 2, 3: mean 2, sample variance 1, standard error sqrt(1 / 3).
        let (mean, se) = mean_and_standard_error(&[1.0, 2.0, 3.0]);
        assert!((mean - 2.0).abs() < 1e-15, "mean {mean}");
        assert!((se - (1.0f64 / 3.0).sqrt()).abs() < 1e-15, "se {se}");
    }

    #[test]
    fn compare_flags_distant_means() {
        // Population 0: means 2 and 2.5, each se sqrt(1/3): z = -0.5 / sqrt(2/3) = -0.61.
        // Population 1: means 20 and 2 with the same spread: z = 18 / sqrt(2/3) = 22.
        let ours = vec![vec![1.0, 19.0], vec![2.0, 20.0], vec![3.0, 21.0]];
        let theirs = vec![vec![1.5, 1.0], vec![2.5, 2.0], vec![3.5, 3.0]];
        let comparison = compare(&ours, &theirs);
        let z0 = comparison.populations[0]["z"].as_f64().unwrap();
        assert!((z0 + 0.5 / (2.0f64 / 3.0).sqrt()).abs() < 1e-12, "z0 {z0}");
        assert_eq!(comparison.populations[0]["agrees"], json!(true));
        assert_eq!(comparison.populations[1]["agrees"], json!(false));
        assert!(!comparison.passed);
    }

    #[test]
    fn network_params_are_valid() {
        assert!(network_params().validate().is_ok());
    }
}
