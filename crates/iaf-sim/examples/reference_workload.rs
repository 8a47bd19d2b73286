//! Builds and runs the reference workload and prints one JSON line of timings and counts.
//!
//! ```text
//! cargo run -p iaf-sim --release --example reference_workload -- \
//!     --m 500 --threads 2 --seed 1 [--duration-ms 2000] [--dt-ms 0.1] [--uniform-fast-path]
//! ```
//!
//! The network has 20 populations of `M` current-based LIF neurons, connected all-to-all
//! within and between populations, self-connections included. Each neuron obeys
//! `tau_m dv/dt = -v + I_bg + s` and `tau_s ds/dt = -s` with tau_m 20 ms, threshold 20, reset 0,
//! refractory 2 ms (20 steps at 0.1 ms) and tau_s 5 ms. Every synapse is delayed 2 ms: a spike
//! of step k adds `w` to `s` at the start of step k + 20. The
//! weight from neuron j of population b onto neuron i of population a is
//! `Wpop[a, b] / M * (1 + 0.2 xi_ij)` with `Wpop ~ N(0, 4^2)` and `xi_ij ~ N(0, 1)`, stored as
//! `f32`. `I_bg ~ U[20.5, 28)` and `v(0) ~ U[0, 20)` per neuron. With `--uniform-fast-path`
//! the weight is `Wpop[a, b] / M` (no `xi`) and each population shares one synaptic current;
//! that is a different model, marked `"coupling":"uniform"` in the output.
//!
//! Random draws: `ChaCha8Rng::seed_from_u64(seed)` gives `Wpop` (row-major), then `I_bg`, then
//! `v(0)`; the `xi` of presynaptic neuron `j` come from the same seed on stream `j + 1`, so the
//! weights do not depend on the thread count.
//!
//! Output keys: tool, m, threads, build_s (parameters and weights), loop_s (the time steps),
//! spikes, mean_rate_hz, synaptic_events (spikes times targets per spike), neurons, synapses,
//! coupling.

use std::process::ExitCode;
use std::time::Instant;

use iaf_sim::{
    DenseNetwork, DenseNetworkParams, DenseSimulation, NeuronParams, PopulationParams, SynapseModel,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};

const N_POPULATIONS: usize = 20;

struct Args {
    m: usize,
    threads: usize,
    seed: u64,
    duration_ms: f64,
    dt_ms: f64,
    uniform_fast_path: bool,
}

const USAGE: &str = "usage: reference_workload --m <M> --threads <T> --seed <S> \
                     [--duration-ms 2000] [--dt-ms 0.1] [--uniform-fast-path]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        m: 0,
        threads: 0,
        seed: 0,
        duration_ms: 2000.0,
        dt_ms: 0.1,
        uniform_fast_path: false,
    };
    let (mut has_m, mut has_threads, mut has_seed) = (false, false, false);
    let mut tokens = std::env::args().skip(1);
    while let Some(flag) = tokens.next() {
        if flag == "--uniform-fast-path" {
            args.uniform_fast_path = true;
            continue;
        }
        let value = tokens
            .next()
            .ok_or_else(|| format!("missing value after {flag}\n{USAGE}"))?;
        let invalid = |what: &str| format!("invalid {flag} {value:?}: expected {what}\n{USAGE}");
        match flag.as_str() {
            "--m" => {
                args.m = value.parse().map_err(|_| invalid("a positive integer"))?;
                has_m = true;
            }
            "--threads" => {
                args.threads = value.parse().map_err(|_| invalid("a positive integer"))?;
                has_threads = true;
            }
            "--seed" => {
                args.seed = value.parse().map_err(|_| invalid("an unsigned integer"))?;
                has_seed = true;
            }
            "--duration-ms" => {
                args.duration_ms = value.parse().map_err(|_| invalid("milliseconds"))?;
            }
            "--dt-ms" => args.dt_ms = value.parse().map_err(|_| invalid("milliseconds"))?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if !(has_m && has_threads && has_seed) {
        return Err(format!("--m, --threads and --seed are required\n{USAGE}"));
    }
    if args.m == 0 || args.threads == 0 {
        return Err(format!("--m and --threads must be at least 1\n{USAGE}"));
    }
    if !(args.duration_ms.is_finite() && args.duration_ms >= 0.0) {
        return Err(format!("--duration-ms must be finite and >= 0\n{USAGE}"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(args) => match run(&args) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<String, iaf_sim::Error> {
    let m = args.m;
    let build_start = Instant::now();
    let population = PopulationParams {
        n_neurons: m,
        neuron: NeuronParams {
            tau_m_ms: 20.0,
            t_ref_ms: 2.0,
            v_threshold: 20.0,
            v_reset: 0.0,
            sigma_v: 0.0,
        },
        synapse: SynapseModel::Exponential { tau_ms: 5.0 },
        bias: 0.0,
    };
    let params =
        DenseNetworkParams::with_uniform_delay(args.dt_ms, vec![population; N_POPULATIONS], 2.0);

    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let population_weight = Normal::new(0.0, 4.0).expect("standard deviation 4 is valid");
    let wpop = Array2::from_shape_fn((N_POPULATIONS, N_POPULATIONS), |_| {
        population_weight.sample(&mut rng)
    });
    let n = N_POPULATIONS * m;
    let background: Vec<f64> = (0..n).map(|_| rng.random_range(20.5..28.0)).collect();
    let initial_potentials: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..20.0)).collect();

    let network = if args.uniform_fast_path {
        DenseNetwork::uniform(params, (&wpop / m as f64).view())?
    } else {
        let seed = args.seed;
        DenseNetwork::from_rows(params, args.threads, |pre, row| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(pre as u64 + 1);
            let source_pop = pre / m;
            for (target_pop, targets) in row.chunks_mut(m).enumerate() {
                let scale = wpop[[target_pop, source_pop]] / m as f64;
                for w in targets {
                    let xi: f64 = rng.sample(StandardNormal);
                    *w = (scale * (1.0 + 0.2 * xi)) as f32;
                }
            }
        })?
    };
    let mut sim = DenseSimulation::new(&network, args.seed, args.threads)?;
    sim.set_biases(&background)?;
    sim.set_potentials(&initial_potentials)?;
    let build_s = build_start.elapsed().as_secs_f64();

    let n_steps = iaf_sim::duration_to_steps(args.duration_ms, args.dt_ms) as usize;
    let loop_start = Instant::now();
    sim.run(n_steps);
    let loop_s = loop_start.elapsed().as_secs_f64();

    let spikes = sim.n_spikes();
    let duration_s = n_steps as f64 * args.dt_ms / 1000.0;
    let mean_rate_hz = if n_steps == 0 {
        0.0
    } else {
        spikes as f64 / n as f64 / duration_s
    };
    let synaptic_events = spikes * n as u64;
    let coupling = if args.uniform_fast_path {
        "uniform"
    } else {
        "dense"
    };
    Ok(format!(
        "{{\"tool\":\"iaf-sim\",\"m\":{m},\"threads\":{},\"build_s\":{build_s:.6},\
         \"loop_s\":{loop_s:.6},\"spikes\":{spikes},\"mean_rate_hz\":{mean_rate_hz:.6},\
         \"synaptic_events\":{synaptic_events},\"neurons\":{n},\"synapses\":{},\
         \"coupling\":\"{coupling}\"}}",
        args.threads,
        network.n_synapses(),
    ))
}
