//! Trains a [`ReadoutNet`] on a latch task and prints one JSON line with the time per
//! iteration, for comparison with other frameworks on the same workload.
//!
//! Workload: Euler CTRNN `x[t + 1] = x[t] + 0.1 (-x[t] + W logistic(x[t]) + U u[t] + b)`,
//! `x[0] = 0`, read-out `y[t] = w_out . logistic(x[t + 1]) + b_out` scored against
//! `target[t]` by the mean squared error over steps and trials, Adam (betas 0.9, 0.999,
//! eps 1e-8) with the gradient clipped to global norm 1. Inputs are `(cue, gate)`: a gate
//! opens every 30 to 70 steps (uniform integers; the first opens after the same kind of
//! wait) and stays 1 for 10 steps while the cue channel shows a value drawn from U(-1, 1);
//! the target is the value of the most recent gate, counted from its first step, and 0
//! before the first gate. Eight batches are drawn once; iteration `i` uses batch `i mod 8`.
//!
//! Random streams: the initial parameters come from `ChaCha8Rng::seed_from_u64(seed)` on
//! stream 0 (`W`, `U`, `w_out` in that order, row-major), and trial `k` of all
//! `8 * batch` trials (batch-major) from the same seed on stream `k + 1`, so a trial depends
//! only on the seed and its index.
//!
//! ```text
//! cargo run -p rnn-core --release --example latch_bptt -- \
//!     --n 100 --batch 32 --steps 200 --threads 1 --iters 50 --seed 1 --precision f32
//! ```
//!
//! With `--target-loss`, training runs until a batch loss is at or below it or for
//! `--max-iters` iterations, and `--iters` is ignored. With `--dump-dir`, the initial
//! parameters and the batches are written as `.npy` (little-endian f64, C order) with a
//! `meta.json` describing the workload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ndarray::{Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnn_core::{AdamConfig, ReadoutAdam, ReadoutNet, Real};

/// Number of distinct batches.
const N_BATCHES: usize = 8;
/// Euler factor `dt / tau`.
const ALPHA: f64 = 0.1;
/// Standard deviation of the recurrent weights times `sqrt(n)`.
const WEIGHT_SCALE: f64 = 1.5;
/// Steps for which a gate stays open.
const CUE_STEPS: usize = 10;
/// Smallest and largest number of steps between gate openings.
const GATE_INTERVAL: (usize, usize) = (30, 70);

#[derive(Parser, Debug)]
#[command(
    about = "Time BPTT training of a CTRNN on a latch task",
    allow_negative_numbers = true
)]
struct Args {
    /// Number of units.
    #[arg(long)]
    n: usize,
    /// Trials per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Time steps per trial.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Worker threads of the rayon pool.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Timed iterations (ignored with --target-loss).
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Seed of the parameters and the batches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Floating-point precision of the network: f32 or f64.
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Directory for the initial parameters, batches and meta.json.
    #[arg(long)]
    dump_dir: Option<PathBuf>,
    /// Stop once a batch loss is at or below this value.
    #[arg(long)]
    target_loss: Option<f64>,
    /// Iteration limit with --target-loss.
    #[arg(long, default_value_t = 10_000)]
    max_iters: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
}

/// The fixed batches: inputs `(8, steps, batch, 2)` and targets `(8, steps, batch, 1)`.
struct Batches {
    inputs: Array4<f64>,
    targets: Array4<f64>,
}

/// Draws trial `index` into column `trial` of one batch.
fn draw_trial(seed: u64, index: u64, inputs: &mut Array3<f64>, targets: &mut Array3<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index + 1);
    let n_steps = inputs.dim().0;
    let mut held = 0.0;
    let mut next_gate = rng.random_range(GATE_INTERVAL.0..=GATE_INTERVAL.1);
    let mut open_until = 0;
    for t in 0..n_steps {
        if t == next_gate {
            held = rng.random_range(-1.0..1.0);
            open_until = t + CUE_STEPS;
            next_gate = t + rng.random_range(GATE_INTERVAL.0..=GATE_INTERVAL.1);
        }
        if t < open_until {
            inputs[[t, 0, 0]] = held;
            inputs[[t, 0, 1]] = 1.0;
        }
        targets[[t, 0, 0]] = held;
    }
}

fn make_batches(seed: u64, n_steps: usize, batch: usize) -> Batches {
    let mut inputs = Array4::zeros((N_BATCHES, n_steps, batch, 2));
    let mut targets = Array4::zeros((N_BATCHES, n_steps, batch, 1));
    for k in 0..N_BATCHES {
        for trial in 0..batch {
            let index = (k * batch + trial) as u64;
            let mut trial_inputs = Array3::zeros((n_steps, 1, 2));
            let mut trial_targets = Array3::zeros((n_steps, 1, 1));
            draw_trial(seed, index, &mut trial_inputs, &mut trial_targets);
            inputs
                .index_axis_mut(Axis(0), k)
                .index_axis_mut(Axis(1), trial)
                .assign(&trial_inputs.index_axis(Axis(1), 0));
            targets
                .index_axis_mut(Axis(0), k)
                .index_axis_mut(Axis(1), trial)
                .assign(&trial_targets.index_axis(Axis(1), 0));
        }
    }
    Batches { inputs, targets }
}

/// Writes a `.npy` version 1.0 file: little-endian f64, C order.
fn npy_bytes(shape: &[usize], data: impl Iterator<Item = f64>) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header_len = u16::try_from(header.len()).expect("a short header");
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for value in data {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// Writes `bytes` to a temporary name in `dir`, then renames it to `name`. On failure the
/// temporary file is removed and the error names the file.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, &target));
    written.map_err(|err| {
        let _ = std::fs::remove_file(&temporary);
        std::io::Error::new(
            err.kind(),
            format!("failed to write {}: {err}", target.display()),
        )
    })
}

fn dump(dir: &Path, args: &Args, net: &ReadoutNet<f64>, batches: &Batches) -> std::io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("failed to create the dump folder {}: {err}", dir.display()),
        )
    })?;
    let arrays: [(&str, Vec<usize>, Vec<f64>); 7] = [
        (
            "W.npy",
            net.w.shape().to_vec(),
            net.w.iter().copied().collect(),
        ),
        (
            "U.npy",
            net.u.shape().to_vec(),
            net.u.iter().copied().collect(),
        ),
        ("b.npy", net.b.shape().to_vec(), net.b.to_vec()),
        (
            "w_out.npy",
            net.w_out.shape().to_vec(),
            net.w_out.iter().copied().collect(),
        ),
        ("b_out.npy", net.b_out.shape().to_vec(), net.b_out.to_vec()),
        (
            "inputs.npy",
            batches.inputs.shape().to_vec(),
            batches.inputs.iter().copied().collect(),
        ),
        (
            "targets.npy",
            batches.targets.shape().to_vec(),
            batches.targets.iter().copied().collect(),
        ),
    ];
    for (name, shape, data) in arrays {
        write_atomic(dir, name, &npy_bytes(&shape, data.into_iter()))?;
    }
    let meta = serde_json::json!({
        "n": args.n,
        "batch": args.batch,
        "steps": args.steps,
        "seed": args.seed,
        "n_batches": N_BATCHES,
        "batch_schedule": "iteration i uses batch i mod n_batches",
        "alpha": ALPHA,
        "update": "x[t+1] = x[t] + alpha * (-x[t] + W @ sigmoid(x[t]) + U @ u[t] + b), x[0] = 0",
        "readout": "y[t] = w_out @ sigmoid(x[t+1]) + b_out, compared with targets[t]",
        "loss": "mean over steps, batch and outputs of (y - target)^2",
        "optimizer": {
            "name": "adam",
            "lr": args.lr,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "clip_global_norm": 1.0,
            "clip_rule": "g *= clip / norm if norm > clip",
        },
        "init": {
            "W": format!("N(0, {WEIGHT_SCALE}^2 / n)"),
            "U": "N(0, 1)",
            "b": "0",
            "w_out": "N(0, 1 / n)",
            "b_out": "0",
        },
        "task": {
            "inputs": "(cue, gate)",
            "cue_steps": CUE_STEPS,
            "gate_interval_steps": [GATE_INTERVAL.0, GATE_INTERVAL.1],
            "cue_distribution": "U(-1, 1)",
            "target": "cue value of the most recent gate from its first step; 0 before the first gate",
        },
        "final_loss": "batch loss of the last iteration, before its update",
        "files": {
            "W.npy": "(n, n) = (post, pre)",
            "U.npy": "(n, 2)",
            "b.npy": "(n,)",
            "w_out.npy": "(1, n)",
            "b_out.npy": "(1,)",
            "inputs.npy": "(n_batches, steps, batch, 2)",
            "targets.npy": "(n_batches, steps, batch, 1)",
        },
    });
    let text = serde_json::to_string_pretty(&meta).expect("a JSON value");
    write_atomic(dir, "meta.json", text.as_bytes())
}

/// Timing and outcome of a training run.
struct RunResult {
    iteration_ms: Vec<f64>,
    iters_to_target: Option<usize>,
    time_to_target_s: Option<f64>,
    final_loss: f64,
}

fn run<T: Real>(
    args: &Args,
    net: &ReadoutNet<f64>,
    batches: &Batches,
) -> Result<RunResult, rnn_core::Error> {
    let mut net: ReadoutNet<T> = net.to_precision();
    let convert = |a: ndarray::ArrayView3<f64>| a.mapv(T::from_f64);
    let inputs: Vec<Array3<T>> = batches.inputs.outer_iter().map(convert).collect();
    let targets: Vec<Array3<T>> = batches.targets.outer_iter().map(convert).collect();
    let config = AdamConfig {
        learning_rate: args.lr,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        clip_norm: 1.0,
    };
    let mut adam = ReadoutAdam::new(config, &net)?;
    let max_iters = if args.target_loss.is_some() {
        args.max_iters
    } else {
        args.iters
    };

    let mut result = RunResult {
        iteration_ms: Vec::with_capacity(max_iters),
        iters_to_target: None,
        time_to_target_s: None,
        final_loss: f64::NAN,
    };
    let start = Instant::now();
    for iteration in 0..max_iters {
        let batch = iteration % N_BATCHES;
        let begin = Instant::now();
        let (loss, gradient) =
            net.loss_and_gradient(inputs[batch].view(), targets[batch].view())?;
        adam.step(&mut net, &gradient)?;
        result
            .iteration_ms
            .push(begin.elapsed().as_secs_f64() * 1e3);
        result.final_loss = loss;
        if args.target_loss.is_some_and(|target| loss <= target) {
            result.iters_to_target = Some(iteration + 1);
            result.time_to_target_s = Some(start.elapsed().as_secs_f64());
            break;
        }
    }
    Ok(result)
}

/// Largest number of entries of one array of the workload (the batches, `W`, the rates of
/// a batch over all steps), so that a mistyped size gives an error instead of an aborted
/// allocation. Sizes below it can still exhaust the memory of a small machine.
const MAX_ENTRIES: usize = 1 << 27;
/// Largest `--threads`.
const MAX_THREADS: usize = 1024;

/// Checks the sizes and limits of `args`, naming the first invalid option.
fn check_args(args: &Args) -> Result<(), String> {
    let counts = [
        ("--n", args.n),
        ("--batch", args.batch),
        ("--steps", args.steps),
        ("--threads", args.threads),
        ("--iters", args.iters),
        ("--max-iters", args.max_iters),
    ];
    if let Some((name, _)) = counts.iter().find(|(_, value)| *value == 0) {
        return Err(format!("invalid {name} 0: use a value >= 1"));
    }
    if args.threads > MAX_THREADS {
        return Err(format!(
            "invalid --threads {}: use at most {MAX_THREADS}",
            args.threads
        ));
    }
    if let Some(target) = args.target_loss {
        if !(target.is_finite() && target >= 0.0) {
            return Err(format!(
                "invalid --target-loss {target}: use a finite loss >= 0"
            ));
        }
    }
    let batch_entries = N_BATCHES
        .checked_mul(args.steps)
        .and_then(|e| e.checked_mul(args.batch))
        .and_then(|e| e.checked_mul(2));
    let weight_entries = args.n.checked_mul(args.n);
    if batch_entries.is_none_or(|e| e > MAX_ENTRIES) {
        return Err(format!(
            "--steps {} x --batch {} is too large: the batches would exceed {MAX_ENTRIES} \
             entries",
            args.steps, args.batch
        ));
    }
    if weight_entries.is_none_or(|e| e > MAX_ENTRIES) {
        return Err(format!(
            "--n {} is too large: W would exceed {MAX_ENTRIES} entries",
            args.n
        ));
    }
    let rate_entries = args
        .n
        .checked_mul(args.steps + 1)
        .and_then(|e| e.checked_mul(args.batch));
    if rate_entries.is_none_or(|e| e > MAX_ENTRIES) {
        return Err(format!(
            "--n {} x --steps {} x --batch {} is too large: the rates of a batch would \
             exceed {MAX_ENTRIES} entries",
            args.n, args.steps, args.batch
        ));
    }
    Ok(())
}

fn main() {
    if let Err(err) = run_main() {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

fn run_main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    check_args(&args)?;
    let mut init_rng = ChaCha8Rng::seed_from_u64(args.seed);
    init_rng.set_stream(0);
    let net = ReadoutNet::<f64>::new_using(args.n, 2, 1, ALPHA, WEIGHT_SCALE, &mut init_rng)?;
    let batches = make_batches(args.seed, args.steps, args.batch);
    if let Some(dir) = &args.dump_dir {
        dump(dir, &args, &net, &batches)?;
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    let result = match args.precision.as_str() {
        "f32" => pool.install(|| run::<f32>(&args, &net, &batches))?,
        "f64" => pool.install(|| run::<f64>(&args, &net, &batches))?,
        other => return Err(format!("invalid --precision {other}: use f32 or f64").into()),
    };

    let mut sorted = result.iteration_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => sorted[len / 2],
        len => 0.5 * (sorted[len / 2 - 1] + sorted[len / 2]),
    };
    let line = serde_json::json!({
        "tool": "rnn-core",
        "n": args.n,
        "batch": args.batch,
        "steps": args.steps,
        "threads": args.threads,
        "precision": args.precision,
        "iter_ms_median": median,
        "iter_ms_min": sorted.first().copied().unwrap_or(f64::NAN),
        "iters": result.iteration_ms.len(),
        "iters_to_target": result.iters_to_target,
        "time_to_target_s": result.time_to_target_s,
        "final_loss": result.final_loss,
    });
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the header and data of a `.npy` file written by `npy_bytes`.
    fn read_npy(bytes: &[u8]) -> (String, Vec<f64>) {
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert_eq!((10 + header_len) % 64, 0, "data must start 64-byte aligned");
        let data = bytes[10 + header_len..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (header.trim_end().to_string(), data)
    }

    #[test]
    fn npy_round_trip() {
        let values = [1.5, -2.0, 0.1, 1e-300, 7.0, 8.0];
        let (header, data) = read_npy(&npy_bytes(&[2, 3], values.iter().copied()));
        assert_eq!(
            header,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
        );
        assert_eq!(data, values);
        let (header, _) = read_npy(&npy_bytes(&[4], values[..4].iter().copied()));
        assert!(header.contains("'shape': (4,)"), "{header}");
    }

    #[test]
    fn latch_targets_follow_gates() {
        let batches = make_batches(3, 200, 4);
        for k in 0..N_BATCHES {
            for trial in 0..4 {
                let mut held = 0.0;
                for t in 0..200 {
                    let gate = batches.inputs[[k, t, trial, 1]];
                    let opens =
                        gate == 1.0 && (t == 0 || batches.inputs[[k, t - 1, trial, 1]] == 0.0);
                    if opens {
                        held = batches.inputs[[k, t, trial, 0]];
                    }
                    assert_eq!(
                        batches.targets[[k, t, trial, 0]],
                        held,
                        "({k}, {t}, {trial})"
                    );
                }
            }
        }
    }
}
