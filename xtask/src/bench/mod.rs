//! `cargo xtask bench`: this project's simulator and gradient engine timed side by side, in
//! one run, with reference tools (Brian2, NEST, PyTorch, numpy) run as child processes.
//!
//! Each child prints one JSON line with its own loop time. The harness adds the wall time and
//! peak memory of the whole process and checks that every tool did the same work. It prints
//! tables and, last, one JSON line with the figures, which it also writes under
//! `target/bench/`.

mod child;
pub mod crosscheck;
mod sim;
mod table;
mod threads;
mod train;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tracing::{info, warn};

pub use sim::SimOptions;
pub use train::TrainOptions;

use crate::pyenv::ensure_venv;

/// Python packages of the venv shared by the numpy and Brian2 peers. Brian2 2.9 on Python
/// 3.11 needs numpy below 2.4.
const SIM_REQUIREMENTS: &[&str] = &["brian2==2.9.0", "numpy<2.4"];
/// Python packages of the NEST peer.
const NEST_REQUIREMENTS: &[&str] = &["nest-simulator==3.10.0", "numpy<2.4"];
/// Python packages of the training peers. PyPI's Linux x86-64 torch wheels are CUDA builds
/// whose libraries link against the CUDA runtime wheels, so this pulls about 4 GB even though
/// the benchmark runs on the CPU.
const TRAIN_REQUIREMENTS: &[&str] = &["torch==2.15.0", "numpy<2.4"];

/// Benchmark selection of `cargo xtask bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Benchmark {
    Sim,
    Train,
    /// The read-out engine on one thread and on all cores, idle and beside a busy thread.
    Threads,
    All,
}

/// Paths and limits shared by the benchmarks.
pub struct BenchContext {
    /// Workspace root.
    pub root: PathBuf,
    /// Cargo target folder (`CARGO_TARGET_DIR` or `target`).
    pub target_dir: PathBuf,
    /// Folder of the results, the network files and the dumped training data.
    pub out_dir: PathBuf,
    /// Limit of one child's wall time.
    pub timeout: Duration,
    /// Whether to create or update the Python venvs (off: use what exists, skip the rest).
    pub install: bool,
}

impl BenchContext {
    pub fn new(timeout_s: u64, install: bool) -> Result<BenchContext> {
        if timeout_s == 0 {
            bail!("invalid --timeout-s 0: give the limit of one child's wall time in seconds");
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent folder")?
            .to_path_buf();
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|dir| {
                if dir.is_absolute() {
                    dir
                } else {
                    root.join(dir)
                }
            })
            .unwrap_or_else(|| root.join("target"));
        let out_dir = target_dir.join("bench");
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("failed to create {}", out_dir.display()))?;
        Ok(BenchContext {
            root,
            target_dir,
            out_dir,
            timeout: Duration::from_secs(timeout_s),
            install,
        })
    }

    /// Folder of the Python peer scripts.
    pub fn scripts_dir(&self) -> PathBuf {
        self.root.join("xtask").join("bench")
    }

    /// Returns the python of venv `name`, creating it when installs are allowed. The error
    /// states why the venv is unusable.
    pub fn python(&self, name: &str, requirements: &[&str]) -> Result<PathBuf> {
        let root = self.target_dir.join("bench-venv");
        if self.install {
            return ensure_venv(&root, name, requirements);
        }
        let python = root.join(name).join("bin").join("python");
        if python.exists() {
            Ok(python)
        } else {
            bail!(
                "no venv at {} and --no-install was given",
                root.join(name).display()
            )
        }
    }

    /// Builds a release example of `package` and returns the path of its binary.
    pub fn build_example(&self, package: &str, example: &str) -> Result<PathBuf> {
        info!(package, example, "building the example in release mode");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", package, "--example", example])
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .status()
            .context("failed to run cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p {package} --example {example} failed");
        }
        Ok(self
            .target_dir
            .join("release")
            .join("examples")
            .join(example))
    }

    /// Writes `results` as pretty JSON to `target/bench/<name>.json` (through a temporary
    /// file) and prints it as the last line of standard output.
    pub fn finish(&self, name: &str, results: &Value) -> Result<()> {
        let path = self.out_dir.join(format!("{name}.json"));
        crate::artifact::write_atomic(&path, serde_json::to_string_pretty(results)?.as_bytes())?;
        info!(path = %path.display(), "results written");
        println!("{}", serde_json::to_string(results)?);
        Ok(())
    }
}

/// Logs a peer left out of the run and returns its JSON entry with the reason.
pub fn skipped(tool: &str, reason: impl std::fmt::Display) -> Value {
    let reason = format!("{reason:#}");
    warn!(tool, %reason, "peer skipped");
    json!({"tool": tool, "reason": reason})
}

/// Describes the machine: CPU model, logical cores, memory and load average at the start.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0 / 1024.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    json!({
        "cpu": cpu,
        "logical_cores": cores,
        "memory_gib": memory_gib,
        "load_average_at_start": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Benchmark to run; `all` runs `sim` and `train` and prints a combined JSON line last.
    #[arg(value_enum)]
    benchmark: Benchmark,
    /// Neurons per population of the simulator workload, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [50, 500])]
    m: Vec<usize>,
    /// Thread counts of iaf-sim, comma-separated, one run each. Peer ratios use the first
    /// count, and the simulator peers run single-threaded.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    threads: Vec<usize>,
    /// Seed of the network and of the training weights and batches.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulated time of the simulator workload in ms.
    #[arg(long, default_value_t = 2000.0)]
    duration_ms: f64,
    /// Run iaf-sim with `--uniform-fast-path`.
    #[arg(long)]
    uniform_fast_path: bool,
    /// Hidden units of the training workload, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [20, 100])]
    n: Vec<usize>,
    /// Timed training iterations per tool.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Loss that ends the time-to-target training runs.
    #[arg(long, default_value_t = 0.01)]
    target_loss: f64,
    /// Skip the time-to-target training runs.
    #[arg(long)]
    no_target: bool,
    /// Iteration limit of a time-to-target run.
    #[arg(long, default_value_t = 2000)]
    max_iters: usize,
    /// Peers to run, comma-separated (default: all of numpy, brian2-runtime,
    /// brian2-standalone, nest, torch-1thread, torch-default-threads, numpy-bptt).
    #[arg(long, value_delimiter = ',')]
    peers: Option<Vec<String>>,
    /// Limit of one child process's wall time in seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_s: u64,
    /// Use only the venvs under target/bench-venv that exist; install nothing.
    #[arg(long)]
    no_install: bool,
    /// Processes per thread count and load of `bench threads`.
    #[arg(long, default_value_t = 10)]
    repeats: usize,
}

/// Runs the benchmarks that `args` selects.
pub fn run(args: BenchArgs) -> Result<()> {
    let known: Vec<&str> = sim::SIM_PEERS
        .iter()
        .copied()
        .chain(train::peer_names())
        .collect();
    let peers = args
        .peers
        .unwrap_or_else(|| known.iter().map(|p| p.to_string()).collect());
    if let Some(unknown) = peers.iter().find(|p| !known.contains(&p.as_str())) {
        bail!(
            "invalid --peers entry {unknown:?}: choose from {}",
            known.join(", ")
        );
    }
    if args.m.contains(&0) || args.n.contains(&0) {
        bail!("invalid --m or --n: every size must be at least 1");
    }
    if args.threads.is_empty()
        || args.threads.contains(&0)
        || args.iters == 0
        || args.max_iters == 0
    {
        bail!("invalid --threads, --iters or --max-iters: each must be at least 1");
    }
    if !(args.duration_ms > 0.0 && args.duration_ms.is_finite()) {
        bail!(
            "invalid --duration-ms {}: give a positive time",
            args.duration_ms
        );
    }
    if !(args.target_loss > 0.0 && args.target_loss.is_finite()) {
        bail!(
            "invalid --target-loss {}: give a positive loss",
            args.target_loss
        );
    }

    let context = BenchContext::new(args.timeout_s, !args.no_install)?;
    let sim_options = SimOptions {
        m: args.m,
        threads: args.threads,
        seed: args.seed,
        duration_ms: args.duration_ms,
        uniform_fast_path: args.uniform_fast_path,
        peers: peers.clone(),
    };
    let train_options = TrainOptions {
        n: args.n,
        batch: 32,
        steps: 200,
        iters: args.iters,
        seed: args.seed,
        target_loss: (!args.no_target).then_some(args.target_loss),
        max_iters: args.max_iters,
        lr: 0.01,
        peers,
    };

    let machine = machine();
    info!(%machine, "machine");
    let mut combined = serde_json::Map::new();
    if matches!(args.benchmark, Benchmark::Sim | Benchmark::All) {
        combined.insert("sim".into(), sim::run(&sim_options, &context, &machine)?);
    }
    if matches!(args.benchmark, Benchmark::Train | Benchmark::All) {
        combined.insert(
            "train".into(),
            train::run(&train_options, &context, &machine)?,
        );
    }
    if args.benchmark == Benchmark::Threads {
        let options = threads::ThreadsOptions {
            n: train_options.n.clone(),
            repeats: args.repeats,
            seed: args.seed,
        };
        threads::run(&options, &context, &machine)?;
    }
    if args.benchmark == Benchmark::All {
        context.finish("all", &Value::Object(combined))?;
    }
    Ok(())
}
