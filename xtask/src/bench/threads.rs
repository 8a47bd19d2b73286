//! `cargo xtask bench threads`: the read-out engine on one thread and on all cores, on an idle
//! machine and beside a busy thread of another process.
//!
//! Each run is a fresh `latch_bptt` process (batch 32, 200 steps, f32), so the figure is the
//! whole process's wall time, start-up and thread placement included. The one-thread and
//! all-core runs alternate, so that slow phases of the machine fall on both. The busy load
//! is one thread of this process spinning for the whole condition, which the scheduler may
//! put on either CPU.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tracing::info;

use super::child::run_child;
use super::table::{cell, number};
use super::BenchContext;

/// Settings of the thread benchmark.
pub struct ThreadsOptions {
    /// Hidden units, one table row group each.
    pub n: Vec<usize>,
    /// Processes per thread count and condition.
    pub repeats: usize,
    /// Seed of the weights and batches.
    pub seed: u64,
}

/// Returns the iterations of one process at `n` units: 400 at 20 units, fewer for larger
/// nets (the cost grows as n^2), at least 40.
fn iterations(n: usize) -> usize {
    (400 * 20 * 20 / n.saturating_mul(n).max(1)).clamp(40, 400)
}

/// A thread that spins until the value is dropped.
struct BusyLoop {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BusyLoop {
    fn start() -> BusyLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut x = 0u64;
            while !flag.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
        BusyLoop {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Returns the mean of `values`, or `None` when empty.
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Returns the median of `values`, or `None` when empty.
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let len = sorted.len();
    match len {
        0 => None,
        _ if len % 2 == 1 => Some(sorted[len / 2]),
        _ => Some(0.5 * (sorted[len / 2 - 1] + sorted[len / 2])),
    }
}

/// Runs the benchmark, prints its table and writes `target/bench/threads.json`.
pub fn run(options: &ThreadsOptions, context: &BenchContext, machine: &Value) -> Result<Value> {
    if options.repeats == 0 {
        bail!("invalid --repeats 0: give at least 1 process per thread count");
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        bail!(
            "bench threads needs at least 2 CPUs, but this process may use {cores}: run it \
             without a CPU restriction such as taskset, on a machine with 2 or more CPUs"
        );
    }
    let binary = context.build_example("rnn-core", "latch_bptt")?;
    let mut rows = Vec::new();
    let mut text = String::from(
        "| n | load | threads | iterations | mean process s | median process s | \
         median ms/iter | vs 1 thread |\n\
         | - | ---- | ------- | ---------- | -------------- | ---------------- | \
         -------------- | ----------- |\n",
    );
    for &n in &options.n {
        let iters = iterations(n);
        for load in ["idle", "busy"] {
            let busy = (load == "busy").then(BusyLoop::start);
            let mut wall = [Vec::new(), Vec::new()];
            let mut per_iter = [Vec::new(), Vec::new()];
            for repeat in 0..options.repeats {
                for (slot, threads) in [1, cores].into_iter().enumerate() {
                    info!(n, load, threads, repeat, "running latch_bptt");
                    let mut command = Command::new(&binary);
                    command.args([
                        "--n",
                        &n.to_string(),
                        "--threads",
                        &threads.to_string(),
                        "--iters",
                        &iters.to_string(),
                        "--seed",
                        &options.seed.to_string(),
                    ]);
                    let child = run_child(command, context.timeout)?;
                    wall[slot].push(child.wall_s);
                    if let Some(ms) = number(&child.record, "iter_ms_median") {
                        per_iter[slot].push(ms);
                    }
                }
            }
            drop(busy);
            let one_thread = mean(&wall[0]);
            for (slot, threads) in [1, cores].into_iter().enumerate() {
                let mean_s = mean(&wall[slot]);
                let ratio = match (mean_s, one_thread) {
                    (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                    _ => None,
                };
                text.push_str(&format!(
                    "| {n} | {load} | {threads} | {iters} | {} | {} | {} | {} |\n",
                    cell(mean_s, 4),
                    cell(median(&wall[slot]), 4),
                    cell(median(&per_iter[slot]), 3),
                    cell(ratio, 2),
                ));
                rows.push(json!({
                    "n": n,
                    "load": load,
                    "threads": threads,
                    "iters": iters,
                    "process_s": wall[slot],
                    "mean_process_s": mean_s,
                    "median_process_s": median(&wall[slot]),
                    "median_iter_ms": median(&per_iter[slot]),
                    "mean_over_one_thread": ratio,
                }));
            }
        }
    }
    println!("{text}");
    let results = json!({
        "bench": "threads",
        "machine": machine,
        "repeats": options.repeats,
        "seed": options.seed,
        "rows": rows,
    });
    context.finish("threads", &results)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterations_follow_the_cost() {
        assert_eq!(iterations(20), 400);
        assert_eq!(iterations(40), 100);
        assert_eq!(iterations(100), 40);
        assert_eq!(iterations(1), 400);
        // n * n would wrap around at 2^32 units.
        assert_eq!(iterations(1 << 32), 40);
    }

    #[test]
    fn mean_and_median_of_small_sets() {
        assert_eq!(mean(&[]), None);
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(median(&[6.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
