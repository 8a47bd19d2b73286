//! `cargo xtask bench train`: one BPTT iteration of `rnn-core` against PyTorch eager (one
//! thread and the default threads) and hand-written numpy BPTT, at f32.
//!
//! Our example (`crates/rnn-core/examples/latch_bptt.rs`) first writes its initial weights and
//! its 8 batches with `--dump-dir`. Every peer loads them, so all tools start from the same
//! point and follow the same loss curve up to rounding.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tracing::info;

use super::child::run_child;
use super::table::{cell, number, relative_difference, render, speedup, Summary};
use super::{skipped, BenchContext, SIM_REQUIREMENTS, TRAIN_REQUIREMENTS};

/// Largest relative difference of a peer's final loss from ours that passes the check. The
/// numpy peer's f32 and f64 losses differ by about 2e-9 relative after 20 iterations, so only
/// a different workload exceeds it.
pub const LOSS_TOLERANCE: f64 = 0.01;

/// Options of `cargo xtask bench train`.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Hidden units, one run per value.
    pub n: Vec<usize>,
    /// Trials per batch.
    pub batch: usize,
    /// Time steps per trial.
    pub steps: usize,
    /// Timed iterations per tool.
    pub iters: usize,
    /// Seed of the initial weights and the batches.
    pub seed: u64,
    /// Loss that ends the time-to-target runs (`None` skips them).
    pub target_loss: Option<f64>,
    /// Iteration limit of the time-to-target runs.
    pub max_iters: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Peers to run, by tool name.
    pub peers: Vec<String>,
}

/// Peer tools: name, venv, script, threads (0: the tool's default).
const TRAIN_PEERS: &[(&str, &str, &str, usize)] = &[
    ("torch-1thread", "train", "train_torch.py", 1),
    ("torch-default-threads", "train", "train_torch.py", 0),
    ("numpy-bptt", "sim", "train_numpy.py", 1),
];

/// Tool names accepted by `--peers` for the training benchmark.
pub fn peer_names() -> Vec<&'static str> {
    TRAIN_PEERS.iter().map(|peer| peer.0).collect()
}

/// Runs the training benchmark and returns its results.
pub fn run(options: &TrainOptions, context: &BenchContext, machine: &Value) -> Result<Value> {
    let binary = context.build_example("rnn-core", "latch_bptt")?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut skips = Vec::new();
    let floor = match measure_fma_peak(context) {
        Ok(peak) => Some(Floor {
            peak,
            batch: options.batch,
            steps: options.steps,
        }),
        Err(err) => {
            skips.push(skipped("fma-peak", format!("{err:#}")));
            None
        }
    };
    let selected: Vec<_> = TRAIN_PEERS
        .iter()
        .filter(|peer| options.peers.iter().any(|p| p == peer.0))
        .collect();
    let mut pythons = std::collections::BTreeMap::new();
    for venv in ["train", "sim"] {
        if !selected.iter().any(|peer| peer.1 == venv) {
            continue;
        }
        let requirements = if venv == "train" {
            TRAIN_REQUIREMENTS
        } else {
            SIM_REQUIREMENTS
        };
        match context.python(venv, requirements) {
            Ok(python) => {
                pythons.insert(venv, python);
            }
            Err(err) => {
                for peer in selected.iter().filter(|peer| peer.1 == venv) {
                    skips.push(skipped(peer.0, format!("venv {venv}: {err:#}")));
                }
            }
        }
    }

    let mut runs = Vec::new();
    for &n in &options.n {
        let dump_dir = context
            .out_dir
            .join(format!("train-n{n}-seed{}", options.seed));
        let mut modes = vec![("timing", None)];
        if let Some(target) = options.target_loss {
            modes.push(("target", Some(target)));
        }
        for (mode, target) in modes {
            let mut our_threads = vec![1];
            if mode == "timing" && cores > 1 {
                our_threads.push(cores);
            }
            for threads in our_threads {
                info!(n, mode, threads, "running rnn-core");
                let mut command = Command::new(&binary);
                command.args(our_args(options, n, threads, target));
                if mode == "timing" && threads == 1 {
                    command.arg("--dump-dir").arg(&dump_dir);
                }
                let tool = format!("rnn-core-{threads}thread");
                match run_child(command, context.timeout) {
                    Ok(run) => runs.push(entry(n, mode, &tool, run)),
                    Err(err) => skips.push(skipped(&tool, format!("n {n} {mode}: {err:#}"))),
                }
            }
            for &&(tool, venv, script, threads) in &selected {
                let Some(python) = pythons.get(venv) else {
                    continue;
                };
                info!(n, mode, tool, "running peer");
                let command =
                    peer_command(context, python, script, &dump_dir, threads, options, target);
                match run_child(command, context.timeout) {
                    Ok(run) => runs.push(entry(n, mode, tool, run)),
                    Err(err) => skips.push(skipped(tool, format!("n {n} {mode}: {err:#}"))),
                }
            }
        }
    }

    let summary = summarise(&runs, &options.n, floor.as_ref());
    println!("{}", summary.text);
    let results = json!({
        "bench": "train",
        "machine": machine,
        "workload": {
            "batch": options.batch,
            "steps": options.steps,
            "iters": options.iters,
            "precision": "f32",
            "seed": options.seed,
            "target_loss": options.target_loss,
            "max_iters": options.max_iters,
            "lr": options.lr,
        },
        "runs": runs,
        "skipped": skips,
        "agreement": summary.agreement,
        "speedups": summary.speedups,
        "speedup_vs_torch_1thread_n20": summary.speedups.get("torch-1thread_n20"),
        "speedup_vs_torch_1thread_n100": summary.speedups.get("torch-1thread_n100"),
        "speedup_vs_torch_1thread_n20_2threads": summary.speedups.get("torch-1thread_n20_2threads"),
        "speedup_vs_torch_1thread_n100_2threads": summary.speedups.get("torch-1thread_n100_2threads"),
        "second_thread_gain_n20": summary.speedups.get("second_thread_gain_n20"),
        "second_thread_gain_n100": summary.speedups.get("second_thread_gain_n100"),
        "arithmetic_floor": floor.as_ref().map(|floor| floor.describe(&options.n)),
        "ours_over_floor_n20": summary.speedups.get("ours_over_floor_n20"),
        "ours_over_floor_n100": summary.speedups.get("ours_over_floor_n100"),
    });
    context.finish("train", &results)?;
    Ok(results)
}

/// Peak rate of `f32` multiply-adds on one core, as measured by the `fma_peak` example.
#[derive(Clone, Debug, PartialEq)]
pub struct FmaPeak {
    /// Instruction set of the fastest run: `avx512f`, `avx2+fma` or `portable`.
    pub kernel: String,
    /// Multiply-adds per second (vector lanes counted one by one).
    pub fma_per_s: f64,
}

/// The one-core arithmetic floor of an iteration: the three `n x n` products of BPTT
/// (`W r` forward, `W^T delta` backward and the `W` gradient `delta r^T`) at the peak
/// multiply-add rate. The other work of an iteration (inputs, read-out, activation, Adam)
/// is left out, so no implementation can reach the floor.
#[derive(Clone, Debug, PartialEq)]
pub struct Floor {
    /// Measured multiply-add rate of one core.
    pub peak: FmaPeak,
    /// Trials per batch and time steps per trial of the workload.
    pub batch: usize,
    pub steps: usize,
}

impl Floor {
    /// Returns the floor of one iteration with `n` units, in milliseconds.
    pub fn ms(&self, n: usize) -> f64 {
        let multiply_adds = 3.0 * (n * n) as f64 * (self.batch * self.steps) as f64;
        1e3 * multiply_adds / self.peak.fma_per_s
    }

    /// Returns the peak and the floor of each size, for the result JSON.
    fn describe(&self, sizes: &[usize]) -> Value {
        let mut floors = serde_json::Map::new();
        for &n in sizes {
            floors.insert(format!("floor_ms_n{n}"), json!(self.ms(n)));
        }
        json!({
            "kernel": self.peak.kernel,
            "f32_fma_per_s": self.peak.fma_per_s,
            "multiply_adds_per_iteration": "3 n^2 batch steps",
            "floors": floors,
        })
    }
}

/// Runs the single-threaded `fma_peak` example and returns the rate it prints.
fn measure_fma_peak(context: &BenchContext) -> Result<FmaPeak> {
    let binary = context.build_example("rnn-core", "fma_peak")?;
    info!("measuring the peak multiply-add rate");
    let run = run_child(Command::new(&binary), context.timeout)?;
    let fma_per_s = number(&run.record, "f32_fma_per_s")
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .context(
            "fma_peak output has no positive f32_fma_per_s; run the example alone to see why",
        )?;
    let kernel = run.record["kernel"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    info!(kernel, fma_per_s, "peak multiply-add rate");
    Ok(FmaPeak { kernel, fma_per_s })
}

fn our_args(options: &TrainOptions, n: usize, threads: usize, target: Option<f64>) -> Vec<String> {
    let mut args = vec![
        "--n".to_string(),
        n.to_string(),
        "--batch".into(),
        options.batch.to_string(),
        "--steps".into(),
        options.steps.to_string(),
        "--threads".into(),
        threads.to_string(),
        "--iters".into(),
        options.iters.to_string(),
        "--seed".into(),
        options.seed.to_string(),
        "--precision".into(),
        "f32".into(),
        "--lr".into(),
        options.lr.to_string(),
    ];
    if let Some(target) = target {
        args.extend([
            "--target-loss".to_string(),
            target.to_string(),
            "--max-iters".into(),
            options.max_iters.to_string(),
        ]);
    }
    args
}

fn peer_command(
    context: &BenchContext,
    python: &PathBuf,
    script: &str,
    dump_dir: &Path,
    threads: usize,
    options: &TrainOptions,
    target: Option<f64>,
) -> Command {
    let mut command = Command::new(python);
    command
        .current_dir(context.scripts_dir())
        .arg(script)
        .arg("--dump-dir")
        .arg(dump_dir)
        .args(["--threads", &threads.to_string()])
        .args(["--iters", &options.iters.to_string()])
        .args(["--precision", "f32"])
        .args(["--lr", &options.lr.to_string()]);
    if let Some(target) = target {
        command
            .args(["--target-loss", &target.to_string()])
            .args(["--max-iters", &options.max_iters.to_string()]);
    }
    if threads == 1 {
        // numpy's BLAS and torch's intra-op pool both honour these.
        command
            .env("OMP_NUM_THREADS", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .env("MKL_NUM_THREADS", "1");
    }
    command
}

fn entry(n: usize, mode: &str, tool: &str, run: super::child::ChildRun) -> Value {
    json!({
        "n": n,
        "mode": mode,
        "tool": tool,
        "process_wall_s": run.wall_s,
        "peak_rss_mib": run.peak_rss_mib,
        "record": run.record,
    })
}

/// Builds one table per size: median and minimum iteration time, the ratio to our
/// single-threaded median, the final loss of the timed run against ours (within
/// [`LOSS_TOLERANCE`]) and the time-to-target figures.
pub fn summarise(runs: &[Value], sizes: &[usize], floor: Option<&Floor>) -> Summary {
    let mut text = String::new();
    let mut agreement = Vec::new();
    let mut speedups = serde_json::Map::new();
    let find = |n: usize, mode: &str, tool: &str| {
        runs.iter()
            .find(|r| r["n"] == json!(n) && r["mode"] == mode && r["tool"] == tool)
    };
    for &n in sizes {
        let ours = find(n, "timing", "rnn-core-1thread");
        let ours_ms = ours.and_then(|r| number(&r["record"], "iter_ms_median"));
        let ours_2threads = find(n, "timing", "rnn-core-2thread");
        let ours_2threads_ms = ours_2threads.and_then(|r| number(&r["record"], "iter_ms_median"));
        if let Some(gain) = speedup(ours_ms, ours_2threads_ms) {
            speedups.insert(format!("second_thread_gain_n{n}"), json!(gain));
        }
        let ours_loss = ours.and_then(|r| number(&r["record"], "final_loss"));
        let mut rows = Vec::new();
        for run in runs
            .iter()
            .filter(|r| r["n"] == json!(n) && r["mode"] == "timing")
        {
            let tool = run["tool"].as_str().unwrap_or("?");
            let record = &run["record"];
            let median = number(record, "iter_ms_median");
            let ratio = speedup(median, ours_ms);
            if !tool.starts_with("rnn-core") {
                if let Some(ratio) = ratio {
                    speedups.insert(format!("{tool}_n{n}"), json!(ratio));
                }
                // The same peer against ours on two threads.
                if let Some(ratio) = speedup(median, ours_2threads_ms) {
                    speedups.insert(format!("{tool}_n{n}_2threads"), json!(ratio));
                }
            }
            let loss = number(record, "final_loss");
            let difference = loss
                .zip(ours_loss)
                .and_then(|(l, o)| relative_difference(l, o, o));
            let agrees = difference.is_some_and(|d| d <= LOSS_TOLERANCE);
            agreement.push(json!({
                "n": n,
                "tool": tool,
                "final_loss": loss,
                "relative_difference_from_ours": difference,
                "within_tolerance": agrees,
            }));
            let target = find(n, "target", tool).map(|r| &r["record"]);
            rows.push(vec![
                tool.to_string(),
                cell(number(record, "threads"), 0),
                cell(median, 3),
                cell(number(record, "iter_ms_min"), 3),
                cell(ratio, 2),
                cell(loss, 6) + if agrees { "" } else { " !" },
                cell(number(run, "peak_rss_mib"), 0),
                cell(target.and_then(|r| number(r, "iters_to_target")), 0),
                cell(target.and_then(|r| number(r, "time_to_target_s")), 2),
            ]);
        }
        text.push_str(&format!("\nn = {n} (f32)\n"));
        text.push_str(&render(
            &[
                "tool",
                "threads",
                "median ms/iter",
                "min ms/iter",
                "peer/ours",
                "final loss",
                "peak MiB",
                "iters to target",
                "s to target",
            ],
            &rows,
        ));
        if let Some(floor) = floor {
            let floor_ms = floor.ms(n);
            text.push_str(&format!(
                "arithmetic floor on one core: {floor_ms:.3} ms (3 n^2 x batch x steps \
                 multiply-adds at {:.1e}/s, {})",
                floor.peak.fma_per_s, floor.peak.kernel
            ));
            if let Some(ratio) = speedup(ours_ms, Some(floor_ms)) {
                speedups.insert(format!("ours_over_floor_n{n}"), json!(ratio));
                text.push_str(&format!("; rnn-core on 1 thread: {ratio:.2}x the floor"));
            }
            text.push('\n');
        }
    }
    let failed = agreement
        .iter()
        .filter(|a| a["within_tolerance"] == false)
        .count();
    if failed > 0 {
        text.push_str(&format!(
            "\nFLAG: {failed} run(s) end the timed iterations with a loss more than {} % from \
             rnn-core's (marked !)\n",
            100.0 * LOSS_TOLERANCE
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

    fn run_json(n: usize, mode: &str, tool: &str, median_ms: f64, loss: f64) -> Value {
        json!({
            "n": n,
            "mode": mode,
            "tool": tool,
            "process_wall_s": 3.0,
            "peak_rss_mib": 50.0,
            "record": {
                "threads": 1,
                "iter_ms_median": median_ms,
                "iter_ms_min": median_ms,
                "final_loss": loss,
                "iters_to_target": 120,
                "time_to_target_s": 1.5,
            },
        })
    }

    #[test]
    fn summary_ratio_uses_single_thread_median() {
        let runs = vec![
            run_json(20, "timing", "rnn-core-1thread", 2.0, 0.1),
            run_json(20, "timing", "rnn-core-2thread", 1.0, 0.1),
            run_json(20, "timing", "torch-1thread", 30.0, 0.1001),
            run_json(20, "timing", "numpy-bptt", 10.0, 0.2),
            run_json(20, "target", "torch-1thread", 30.0, 0.009),
        ];
        let floor = Floor {
            peak: FmaPeak {
                kernel: "avx2+fma".into(),
                fma_per_s: 4.8e9,
            },
            batch: 32,
            steps: 200,
        };
        // 3 * 20^2 * 32 * 200 = 7.68e6 multiply-adds at 4.8e9 per second: 1.6 ms.
        assert!((floor.ms(20) - 1.6).abs() < 1e-12, "{}", floor.ms(20));
        let summary = summarise(&runs, &[20], Some(&floor));
        assert_eq!(summary.speedups["torch-1thread_n20"], json!(15.0));
        assert_eq!(summary.speedups["numpy-bptt_n20"], json!(5.0));
        assert!(!summary.speedups.contains_key("rnn-core-2thread_n20"));
        // Against our 2-thread median of 1 ms, and the second thread's gain 2 / 1.
        assert_eq!(summary.speedups["torch-1thread_n20_2threads"], json!(30.0));
        assert_eq!(summary.speedups["second_thread_gain_n20"], json!(2.0));
        // Our 1-thread median of 2 ms over the 1.6 ms floor.
        let over_floor = summary.speedups["ours_over_floor_n20"].as_f64().unwrap();
        assert!((over_floor - 1.25).abs() < 1e-12, "{over_floor}");
        assert!(summary.text.contains("1.25x the floor"), "{}", summary.text);
        // 0.1001 is 0.1 % from 0.1 and passes; 0.2 is 100 % off and is flagged.
        let flags: Vec<bool> = summary
            .agreement
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["within_tolerance"].as_bool().unwrap())
            .collect();
        assert_eq!(flags, vec![true, true, true, false]);
        assert!(summary.text.contains("FLAG: 1 run(s)"), "{}", summary.text);
        assert!(summary.text.contains("| 120 "), "{}", summary.text);
    }
}
