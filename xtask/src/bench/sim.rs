//! `cargo xtask bench sim`: the reference workload in `iaf-sim`, Brian2, NEST and numpy.
//!
//! The workload is P = 20 populations of M leaky integrate-and-fire neurons, all-to-all with
//! weights `Wpop[a, b] / M * (1 + 0.2 xi_ij)`, exponential synaptic currents (5 ms), delays of
//! 2 ms and a constant drive per neuron, for 2 s at dt = 0.1 ms (see
//! `crates/iaf-sim/examples/reference_workload.rs` and `xtask/bench/workload.py`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::{json, Value};
use tracing::info;

use super::child::{run_child, ChildRun};
use super::table::{cell, cell_sci, number, relative_difference, render, speedup, Summary};
use super::{skipped, BenchContext, NEST_REQUIREMENTS, SIM_REQUIREMENTS};

/// Populations in the workload.
const N_POPULATIONS: usize = 20;
/// Largest relative difference of a spike total from ours that passes the agreement check.
pub const SPIKE_TOTAL_TOLERANCE: f64 = 0.01;

/// Options of `cargo xtask bench sim`.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Neurons per population, one run per value.
    pub m: Vec<usize>,
    /// Thread counts of our simulator, one run each. The first run is `iaf-sim`, the reference
    /// of every peer ratio, and the others are `iaf-sim-<T>threads` (the peers run
    /// single-threaded).
    pub threads: Vec<usize>,
    /// Seed of the network draw.
    pub seed: u64,
    /// Simulated time in ms.
    pub duration_ms: f64,
    /// Pass `--uniform-fast-path` to our example.
    pub uniform_fast_path: bool,
    /// Peers to run, by tool name.
    pub peers: Vec<String>,
}

/// Peer tools in the order they run.
pub const SIM_PEERS: &[&str] = &["numpy", "brian2-runtime", "brian2-standalone", "nest"];

/// Runs the simulator benchmark and returns its results.
pub fn run(options: &SimOptions, context: &BenchContext, machine: &Value) -> Result<Value> {
    let binary = context.build_example("iaf-sim", "reference_workload")?;
    let takes_network = example_takes_network(&binary);
    let mut skips = Vec::new();
    let sim_python = python_or_skip(context, "sim", SIM_REQUIREMENTS, &mut skips, options);
    let nest_python = python_or_skip(context, "nest", NEST_REQUIREMENTS, &mut skips, options);

    let mut runs = Vec::new();
    for &m in &options.m {
        let network = write_network(context, m, options.seed)?;
        for (index, &threads) in options.threads.iter().enumerate() {
            let tool = if index == 0 {
                "iaf-sim".to_string()
            } else {
                format!("iaf-sim-{threads}threads")
            };
            info!(m, threads, "running iaf-sim");
            let mut ours = Command::new(&binary);
            ours.args(common_args(options, m, threads));
            if takes_network {
                ours.arg("--network").arg(&network);
            }
            if options.uniform_fast_path {
                ours.arg("--uniform-fast-path");
            }
            match run_child(ours, context.timeout) {
                Ok(run) => {
                    let mut run_entry = entry(m, run);
                    run_entry["tool"] = json!(tool);
                    runs.push(run_entry);
                }
                Err(err) => skips.push(skipped(&tool, format!("m {m}: {err:#}"))),
            }
        }
        for &tool in SIM_PEERS {
            if !options.peers.iter().any(|peer| peer == tool) {
                continue;
            }
            let (python, script, mode) = match tool {
                "numpy" => (&sim_python, "sim_numpy.py", None),
                "brian2-runtime" => (&sim_python, "sim_brian2.py", Some("runtime")),
                "brian2-standalone" => (&sim_python, "sim_brian2.py", Some("standalone")),
                _ => (&nest_python, "sim_nest.py", None),
            };
            let Some(python) = python else { continue };
            info!(m, tool, "running peer");
            let mut command = Command::new(python);
            command
                .current_dir(context.scripts_dir())
                .arg(script)
                .args(common_args(options, m, 1))
                .arg("--network")
                .arg(&network)
                .env("OMP_NUM_THREADS", "1")
                .env("OPENBLAS_NUM_THREADS", "1");
            if let Some(mode) = mode {
                command.env("BENCH_BRIAN2_MODE", mode);
            }
            match run_child(command, context.timeout) {
                Ok(run) => runs.push(entry(m, run)),
                Err(err) => skips.push(skipped(tool, format!("m {m}: {err:#}"))),
            }
        }
    }

    let summary = summarise(&runs, &options.m, options.duration_ms);
    println!("{}", summary.text);
    let mut results = json!({
        "bench": "sim",
        "machine": machine,
        "workload": {
            "populations": N_POPULATIONS,
            "duration_ms": options.duration_ms,
            "dt_ms": 0.1,
            "seed": options.seed,
            "iaf_sim_threads": options.threads,
            "uniform_fast_path": options.uniform_fast_path,
            "network_file_passed": takes_network,
        },
        "runs": runs,
        "skipped": skips,
        "agreement": summary.agreement,
        "speedups": summary.speedups,
        "speedup_vs_brian2_standalone_m50": summary.speedups.get("brian2-standalone_m50"),
        "speedup_vs_brian2_standalone_m500": summary.speedups.get("brian2-standalone_m500"),
        "speedup_vs_nest_m500": summary.speedups.get("nest_m500"),
    });
    // The headline ratios again for each further thread count, e.g. `..._m500_2threads`.
    for &threads in options.threads.iter().skip(1) {
        for (key, peer) in [
            ("speedup_vs_brian2_standalone_m50", "brian2-standalone_m50"),
            (
                "speedup_vs_brian2_standalone_m500",
                "brian2-standalone_m500",
            ),
            ("speedup_vs_nest_m500", "nest_m500"),
        ] {
            results[format!("{key}_{threads}threads")] =
                json!(summary.speedups.get(&format!("{peer}_{threads}threads")));
        }
    }
    context.finish("sim", &results)?;
    Ok(results)
}

fn common_args(options: &SimOptions, m: usize, threads: usize) -> Vec<String> {
    vec![
        "--m".into(),
        m.to_string(),
        "--threads".into(),
        threads.to_string(),
        "--seed".into(),
        options.seed.to_string(),
        "--duration-ms".into(),
        options.duration_ms.to_string(),
    ]
}

/// Returns whether our example accepts `--network FILE`, the network file the peers read.
/// Without it the example draws the network from the seed, in the order of [`write_network`].
fn example_takes_network(binary: &Path) -> bool {
    Command::new(binary)
        .arg("--help")
        .output()
        .map(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            text.contains("--network <")
        })
        .unwrap_or(false)
}

fn python_or_skip(
    context: &BenchContext,
    venv: &str,
    requirements: &[&str],
    skips: &mut Vec<Value>,
    options: &SimOptions,
) -> Option<PathBuf> {
    let tools: Vec<&str> = SIM_PEERS
        .iter()
        .copied()
        .filter(|tool| (venv == "nest") == (*tool == "nest"))
        .filter(|tool| options.peers.iter().any(|peer| peer == tool))
        .collect();
    if tools.is_empty() {
        return None;
    }
    match context.python(venv, requirements) {
        Ok(python) => Some(python),
        Err(err) => {
            for tool in tools {
                skips.push(skipped(tool, format!("venv {venv}: {err:#}")));
            }
            None
        }
    }
}

/// Draws the network parameters shared by every tool and writes them as JSON:
/// `wpop` (P x P, N(0, 4^2)), `drive` (N, U[20.5, 28]) and `v0` (N, U[0, 20]).
fn write_network(context: &BenchContext, m: usize, seed: u64) -> Result<PathBuf> {
    let n = N_POPULATIONS * m;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 4.0).context("invalid Wpop distribution")?;
    let wpop: Vec<Vec<f64>> = (0..N_POPULATIONS)
        .map(|_| {
            (0..N_POPULATIONS)
                .map(|_| normal.sample(&mut rng))
                .collect()
        })
        .collect();
    let drive: Vec<f64> = (0..n).map(|_| rng.random_range(20.5..28.0)).collect();
    let v0: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..20.0)).collect();
    let path = context
        .out_dir
        .join(format!("network-m{m}-seed{seed}.json"));
    let text = serde_json::to_string(
        &json!({"m": m, "seed": seed, "wpop": wpop, "drive": drive, "v0": v0}),
    )?;
    crate::artifact::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Returns the results entry of one tool's run at size `m`.
fn entry(m: usize, run: ChildRun) -> Value {
    json!({
        "m": m,
        "tool": run.record.get("tool").cloned().unwrap_or(Value::Null),
        "process_wall_s": run.wall_s,
        "peak_rss_mib": run.peak_rss_mib,
        "record": run.record,
    })
}

/// Returns whether `run` is one of ours at a thread count other than the first.
fn is_other_thread_count(run: &Value) -> bool {
    run["tool"]
        .as_str()
        .is_some_and(|tool| tool.starts_with("iaf-sim-"))
}

/// Builds one table per size, checks every tool's spike total against ours (within
/// [`SPIKE_TOTAL_TOLERANCE`]) and computes the loop-time ratios peer / ours.
pub fn summarise(runs: &[Value], sizes: &[usize], duration_ms: f64) -> Summary {
    let mut text = String::new();
    let mut agreement = Vec::new();
    let mut speedups = serde_json::Map::new();
    let simulated_s = duration_ms / 1000.0;
    for &m in sizes {
        let at_m: Vec<&Value> = runs.iter().filter(|r| r["m"] == json!(m)).collect();
        let ours = at_m.iter().find(|r| r["tool"] == "iaf-sim");
        let ours_loop = ours.and_then(|r| number(&r["record"], "loop_s"));
        let ours_spikes = ours.and_then(|r| number(&r["record"], "spikes"));
        let mut rows = Vec::new();
        for run in &at_m {
            let record = &run["record"];
            let tool = run["tool"].as_str().unwrap_or("?").to_string();
            let loop_s = number(record, "loop_s");
            let spikes = number(record, "spikes");
            let events = number(record, "synaptic_events");
            let ratio = speedup(loop_s, ours_loop);
            if !tool.starts_with("iaf-sim") {
                if let Some(ratio) = ratio {
                    speedups.insert(format!("{tool}_m{m}"), json!(ratio));
                }
                // The same peer against each further thread count of ours.
                for other in at_m.iter().filter(|r| is_other_thread_count(r)) {
                    let suffix = other["tool"]
                        .as_str()
                        .unwrap_or("?")
                        .trim_start_matches("iaf-sim-");
                    let other_loop = number(&other["record"], "loop_s");
                    if let Some(ratio) = speedup(loop_s, other_loop) {
                        speedups.insert(format!("{tool}_m{m}_{suffix}"), json!(ratio));
                    }
                }
            }
            let difference = match (spikes, ours_spikes) {
                (Some(s), Some(o)) => relative_difference(s, o, o),
                _ => None,
            };
            let agrees = difference.is_some_and(|d| d <= SPIKE_TOTAL_TOLERANCE);
            agreement.push(json!({
                "m": m,
                "tool": tool,
                "spikes": spikes,
                "mean_rate_hz": number(record, "mean_rate_hz"),
                "relative_difference_from_ours": difference,
                "within_tolerance": agrees,
            }));
            rows.push(vec![
                tool,
                cell(loop_s, 3),
                cell(number(run, "process_wall_s"), 2),
                cell(spikes, 0),
                cell(number(record, "mean_rate_hz"), 2),
                cell(difference.map(|d| 100.0 * d), 2) + if agrees { "" } else { " !" },
                cell_sci(events.zip(loop_s).map(|(e, t)| e / t)),
                cell(loop_s.map(|t| t / simulated_s), 3),
                cell(number(run, "peak_rss_mib"), 0),
                cell(ratio, 2),
            ]);
        }
        text.push_str(&format!(
            "\nM = {m} ({} neurons, {} s simulated)\n",
            N_POPULATIONS * m,
            simulated_s
        ));
        text.push_str(&render(
            &[
                "tool",
                "loop s",
                "process s",
                "spikes",
                "rate Hz",
                "diff %",
                "syn events/s",
                "RTF",
                "peak MiB",
                "peer/ours",
            ],
            &rows,
        ));
    }
    let failed: Vec<&Value> = agreement
        .iter()
        .filter(|a| a["within_tolerance"] == false)
        .collect();
    if !failed.is_empty() {
        text.push_str(&format!(
            "\nFLAG: {} run(s) differ from iaf-sim's spike total by more than {} % (marked !)\n",
            failed.len(),
            100.0 * SPIKE_TOTAL_TOLERANCE
        ));
    }
    Summary {
        text,
        agreement: Value::Array(agreement),
        speedups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_json(m: usize, tool: &str, loop_s: f64, spikes: u64) -> Value {
        json!({
            "m": m,
            "tool": tool,
            "process_wall_s": loop_s + 1.0,
            "peak_rss_mib": 100.0,
            "record": {
                "tool": tool,
                "loop_s": loop_s,
                "spikes": spikes,
                "mean_rate_hz": spikes as f64 / (20 * m) as f64 / 2.0,
                "synaptic_events": spikes * (20 * m) as u64,
            },
        })
    }

    #[test]
    fn summary_ratios_and_flags() {
        let runs = vec![
            run_json(50, "iaf-sim", 0.5, 52_000),
            // Our second thread count: compared with ours, never counted as a peer.
            run_json(50, "iaf-sim-2threads", 0.4, 52_000),
            // 0.5 % off: passes.
            run_json(50, "nest", 2.0, 52_260),
            // 2 % off: flagged.
            run_json(50, "numpy", 1.0, 53_040),
        ];
        let summary = summarise(&runs, &[50], 2000.0);
        assert_eq!(summary.speedups["nest_m50"], json!(4.0));
        assert_eq!(summary.speedups["numpy_m50"], json!(2.0));
        // Each peer also against the second thread count: nest 2.0 / 0.4 = 5.
        assert_eq!(summary.speedups["nest_m50_2threads"], json!(5.0));
        assert_eq!(summary.speedups.len(), 4);
        let flags: Vec<bool> = summary
            .agreement
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["within_tolerance"].as_bool().unwrap())
            .collect();
        assert_eq!(flags, vec![true, true, true, false]);
        assert!(summary.text.contains("FLAG: 1 run(s)"), "{}", summary.text);
    }

    #[test]
    fn summary_without_ours_has_no_ratios() {
        let runs = vec![run_json(500, "nest", 2.0, 52_000)];
        let summary = summarise(&runs, &[500], 2000.0);
        assert!(summary.speedups.is_empty());
        assert_eq!(summary.agreement[0]["within_tolerance"], json!(false));
    }
}
