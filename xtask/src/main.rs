//! Project automation: `cargo xtask reproduce` runs the whole pipeline for each task.

mod bench;
mod manifest;
mod memory;
mod nest;
mod npy;
mod pyenv;
mod reference;
mod replay;
mod report;
mod spiking;
mod sweep;
mod wrist;

use xtask::{artifact, config, inspect, interrupt, status, training};

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(about = "Automation for the rate-to-spiking conversion toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Resolves a default path against the workspace root, so that a command run from a
/// subfolder writes to the same place as one run from the root.
fn in_workspace(relative: &str) -> PathBuf {
    manifest::workspace_root().join(relative)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Task {
    Memory,
    Wrist,
    All,
}

/// Network of an earlier `reproduce` run to export to NEST.
#[derive(clap::Args)]
struct NestSource {
    /// Task whose network is exported.
    #[arg(long, value_enum)]
    task: NestTask,
    /// Conversion to export (default: `calibrated` for memory, `phi` for wrist).
    #[arg(long)]
    conversion: Option<String>,
    /// Output folder of the `reproduce` run.
    #[arg(long, default_value_os_t = in_workspace("target/reproduce"))]
    from: PathBuf,
}

impl NestSource {
    fn label(&self) -> String {
        self.conversion
            .clone()
            .unwrap_or_else(|| self.task.default_conversion().to_string())
    }
}

/// Task of a NEST export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum NestTask {
    Memory,
    Wrist,
}

impl NestTask {
    fn name(self) -> &'static str {
        match self {
            NestTask::Memory => "memory",
            NestTask::Wrist => "wrist",
        }
    }

    fn default_conversion(self) -> &'static str {
        match self {
            NestTask::Memory => "calibrated",
            NestTask::Wrist => "phi",
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train, fit, convert, simulate and validate each task; exits non-zero when an
    /// acceptance threshold fails.
    Reproduce {
        /// Task to run; `all` runs every task.
        #[arg(long, value_enum, default_value = "all")]
        task: Task,
        /// Smaller sizes for a regression check, with thresholds of their own.
        #[arg(long)]
        quick: bool,
        /// Seed of every random draw; the same seed gives identical artifacts.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder for the artifacts.
        #[arg(long, default_value_os_t = in_workspace("target/reproduce"))]
        out: PathBuf,
        /// Folder of reference summaries (`<task>-quick.json`) to check the run against.
        #[arg(long)]
        check_reference: Option<PathBuf>,
        /// Write the run's reference summaries into this folder.
        #[arg(long)]
        write_reference: Option<PathBuf>,
        /// Configuration file (`.toml` or `.json`) replacing the built-in defaults of the
        /// task; it is checked completely before any stage runs.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Continue each training stage from its checkpoint in the output folder, as left by
        /// an interrupted run with the same seed and configuration. The result is identical
        /// to that of an uninterrupted run.
        #[arg(long)]
        resume: bool,
        /// Load networks trained by an earlier run into the same folder instead of training
        /// again (the run is then only as reproducible as that earlier run).
        #[arg(long)]
        reuse_trained: bool,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Prints what an artifact file holds; exits non-zero with the reason for a damaged one.
    Inspect {
        /// Artifact file written by `reproduce`.
        file: PathBuf,
    },
    /// Times iaf-sim and rnn-core against Brian2, NEST, PyTorch and numpy in one run (needs
    /// the network to install the Python peers under target/bench-venv).
    Bench(bench::BenchArgs),
    /// Simulates a small converted-style network in iaf-sim and in Brian2 and exits non-zero
    /// when the population rates disagree beyond their statistical error.
    CrosscheckBrian2(bench::crosscheck::CrosscheckArgs),
    /// Writes a converted network of an earlier `reproduce` run as a PyNEST script with its
    /// data files.
    ExportNest {
        #[command(flatten)]
        source: NestSource,
        /// Folder for the script and its data files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Exports a network, runs it in NEST (installed into target/bench-venv/nest) and compares
    /// its rates and validation metrics with this project's simulator; exits non-zero when they
    /// disagree beyond their statistical error.
    CrosscheckNest {
        #[command(flatten)]
        source: NestSource,
        /// Folder for the export, NEST's spikes and the comparison.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Trials per condition on each simulator (default: those of the reproduction).
        #[arg(long)]
        trials: Option<usize>,
        /// Threads NEST uses.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Seed of NEST's random numbers and of the bootstrap.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Comma-separated condition indices to run (default: all; for memory one per test
        /// cue value).
        #[arg(long, value_delimiter = ',')]
        conditions: Option<Vec<usize>>,
    },
    /// Reruns the run recorded in a manifest into a fresh folder and checks that every file
    /// is identical; exits non-zero and names the files that differ.
    Replay {
        /// `manifest.json` of a task folder written by `reproduce`.
        manifest: PathBuf,
        /// Folder for the replay (default `target/replay/<task>-<UTC time>`); its task
        /// folder must be missing or empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Converts and simulates one trained network at several population sizes and seeds and
    /// plots the agreement against the population size.
    Sweep(sweep::SweepArgs),
    /// Writes the built-in default configurations into a folder, replacing files of the same
    /// names (by default the committed `data/config/` files, which equal the defaults).
    WriteConfigs {
        /// Target folder.
        #[arg(long, default_value_os_t = in_workspace("data/config"))]
        out: PathBuf,
        /// File format of the written configurations.
        #[arg(long, value_enum, default_value = "json")]
        format: ConfigFormat,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ConfigFormat {
    Json,
    Toml,
    /// Both JSON and TOML.
    Both,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(err) = run(Cli::parse()) {
        eprintln!("error: {err:#}");
        let interrupted = err.downcast_ref::<interrupt::Interrupted>().is_some();
        std::process::exit(if interrupted { interrupt::EXIT_CODE } else { 1 });
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Reproduce {
            task,
            quick,
            seed,
            out,
            check_reference,
            write_reference,
            config,
            resume,
            reuse_trained,
            threads,
        } => {
            if resume && reuse_trained {
                bail!("--resume and --reuse-trained exclude each other: give one of them");
            }
            training::REUSE_TRAINED.store(reuse_trained, std::sync::atomic::Ordering::Relaxed);
            training::RESUME.store(resume, std::sync::atomic::Ordering::Relaxed);
            artifact::set_run_seed(seed);
            set_threads(threads)?;
            if config.is_some() && task == Task::All {
                bail!("--config applies to one task: add --task memory or --task wrist");
            }
            // Load and check every configuration before any stage runs.
            let mut configs = Vec::new();
            if matches!(task, Task::Memory | Task::All) {
                configs.push(task_config(Task::Memory, quick, config.as_deref())?);
            }
            if matches!(task, Task::Wrist | Task::All) {
                configs.push(task_config(Task::Wrist, quick, config.as_deref())?);
            }
            interrupt::install_handler()?;
            let started = Instant::now();
            let mut all_passed = true;
            for (task_config, config_source) in configs {
                let settings = manifest::RunSettings {
                    seed,
                    quick,
                    config_source,
                    reuse_trained,
                    threads,
                };
                let name = task_config.task();
                let run = manifest::run_task(&task_config, &settings, &out);
                let (summary, passed) = record_failure(run, &out, name, seed)?;
                report_task(name, &summary, passed);
                all_passed &= passed;
                finish_reference(
                    name,
                    &summary,
                    passed,
                    write_reference.as_deref(),
                    check_reference.as_deref(),
                )?;
            }
            info!(
                seconds = started.elapsed().as_secs_f64(),
                "reproduction finished"
            );
            if !all_passed {
                bail!("an acceptance threshold failed; see failures in the summary.json files");
            }
            Ok(())
        }
        Command::Inspect { file } => inspect::inspect(&file),
        Command::Bench(args) => bench::run(args),
        Command::CrosscheckBrian2(args) => bench::crosscheck::run(args),
        Command::ExportNest { source, out } => {
            let NestSource { task, from, .. } = &source;
            nest::export::export(task.name(), &source.label(), from, &out)?;
            Ok(())
        }
        Command::CrosscheckNest {
            source,
            out,
            trials,
            threads,
            seed,
            conditions,
        } => {
            let (task, label) = (source.task, source.label());
            let out = out.unwrap_or_else(|| in_workspace(&format!("target/nest/{}", task.name())));
            let settings = nest::crosscheck::Settings {
                trials,
                threads,
                seed,
                conditions,
            };
            if !nest::crosscheck::crosscheck(task.name(), &label, &source.from, &out, &settings)? {
                bail!("NEST and this simulator disagree beyond their statistical error; see the table above");
            }
            Ok(())
        }
        Command::Replay {
            manifest,
            out,
            threads,
        } => {
            set_threads(threads)?;
            replay::replay(&manifest, out, threads)
        }
        Command::Sweep(args) => {
            set_threads(args.threads)?;
            sweep::sweep(&args)
        }
        Command::WriteConfigs { out, format } => {
            let formats = match format {
                ConfigFormat::Json => vec![config::Format::Json],
                ConfigFormat::Toml => vec![config::Format::Toml],
                ConfigFormat::Both => vec![config::Format::Json, config::Format::Toml],
            };
            for format in formats {
                let ext = match format {
                    config::Format::Json => "json",
                    config::Format::Toml => "toml",
                };
                let file = |name: &str| out.join(format!("{name}.{ext}"));
                write_config(&file("memory"), &memory::MemoryConfig::full(), format)?;
                write_config(
                    &file("memory-quick"),
                    &memory::MemoryConfig::quick(),
                    format,
                )?;
                write_config(&file("wrist"), &wrist::WristConfig::full(), format)?;
                write_config(&file("wrist-quick"), &wrist::WristConfig::quick(), format)?;
            }
            Ok(())
        }
    }
}

/// Records a failed or interrupted run of `task` in its `summary.json` before passing the
/// error on.
fn record_failure<T>(run: Result<T>, out: &Path, task: &str, seed: u64) -> Result<T> {
    run.inspect_err(|err| {
        let interrupted = err.downcast_ref::<interrupt::Interrupted>().is_some();
        if let Err(write_err) = status::mark_failed(&out.join(task), task, seed, err, interrupted)
        {
            error!(task, error = %format!("{write_err:#}"), "failed to record the failure in summary.json");
        }
    })
}

/// Sizes the global thread pool; `None` keeps one thread per core.
fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(n) = threads {
        if n == 0 || n > 1024 {
            bail!("invalid --threads {n}: give a count from 1 to 1024");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("failed to start the thread pool")?;
    }
    Ok(())
}

/// Returns the configuration of `task` (`Memory` or `Wrist`) and where it came from: the file
/// `config`, else the built-in quick or full defaults.
fn task_config(
    task: Task,
    quick: bool,
    config: Option<&Path>,
) -> Result<(manifest::TaskConfig, String)> {
    if let (Some(path), true) = (config, quick) {
        warn!(
            config = %path.display(),
            "--quick is ignored with --config: the file's values are used as they are"
        );
    }
    let source = match (config, quick) {
        (Some(path), _) => path.display().to_string(),
        (None, true) => "built-in quick".to_string(),
        (None, false) => "built-in full".to_string(),
    };
    let task_config = match (task, config) {
        (Task::Memory, Some(path)) => manifest::TaskConfig::Memory(load_memory_config(path)?),
        (Task::Memory, None) if quick => {
            manifest::TaskConfig::Memory(memory::MemoryConfig::quick())
        }
        (Task::Memory, None) => manifest::TaskConfig::Memory(memory::MemoryConfig::full()),
        (Task::Wrist, Some(path)) => manifest::TaskConfig::Wrist(load_wrist_config(path)?),
        (Task::Wrist, None) if quick => manifest::TaskConfig::Wrist(wrist::WristConfig::quick()),
        (Task::Wrist, None) => manifest::TaskConfig::Wrist(wrist::WristConfig::full()),
        (Task::All, _) => bail!("choose one task: memory or wrist"),
    };
    Ok((task_config, source))
}

/// Writes or checks the reference summary of a quick run of `task`; a run that failed an
/// acceptance threshold is never written as a reference.
fn finish_reference(
    task: &str,
    summary: &serde_json::Value,
    passed: bool,
    write_to: Option<&Path>,
    check_against: Option<&Path>,
) -> Result<()> {
    let file_name = format!("{task}-quick.json");
    if let Some(folder) = write_to {
        if !passed {
            bail!(
                "not writing the {task} reference: the run failed its acceptance thresholds \
                 (see failures in {task}/summary.json); fix the run or write the reference \
                 from a passing one"
            );
        }
        let doc = reference::reference_of(task, summary)?;
        artifact::write_atomic(
            &folder.join(&file_name),
            serde_json::to_string_pretty(&doc)?.as_bytes(),
        )?;
    }
    if let Some(folder) = check_against {
        reference::check(task, summary, &folder.join(&file_name))?;
    }
    Ok(())
}

/// Loads a memory configuration and checks every value.
fn load_memory_config(path: &Path) -> Result<memory::MemoryConfig> {
    let config: memory::MemoryConfig = config::load(path)
        .map_err(|err| other_task_hint::<wrist::WristConfig>(path, err, "wrist"))?;
    config
        .validate()
        .with_context(|| format!("invalid configuration {}", path.display()))?;
    Ok(config)
}

/// Loads a wrist configuration and checks every value.
fn load_wrist_config(path: &Path) -> Result<wrist::WristConfig> {
    let config: wrist::WristConfig = config::load(path)
        .map_err(|err| other_task_hint::<memory::MemoryConfig>(path, err, "memory"))?;
    config
        .validate()
        .with_context(|| format!("invalid configuration {}", path.display()))?;
    Ok(config)
}

/// Adds to `err` that the file at `path` is a configuration of task `other`, when it parses
/// as one.
fn other_task_hint<T: serde::de::DeserializeOwned>(
    path: &Path,
    err: anyhow::Error,
    other: &str,
) -> anyhow::Error {
    if config::load::<T>(path).is_ok() {
        err.context(format!(
            "{} is a {other} configuration: run it with --task {other}",
            path.display()
        ))
    } else {
        err
    }
}

fn write_config<T: serde::Serialize>(path: &Path, value: &T, format: config::Format) -> Result<()> {
    artifact::write_atomic(path, config::to_text(value, format)?.as_bytes())?;
    println!("wrote {}", path.display());
    Ok(())
}

fn report_task(task: &str, summary: &serde_json::Value, passed: bool) {
    let failures = summary["failures"].as_array().cloned().unwrap_or_default();
    if passed {
        info!(task, "every acceptance threshold passed");
    } else {
        for failure in failures {
            error!(task, %failure, "acceptance threshold failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_config<T: serde::de::DeserializeOwned>(file_name: &str) -> T {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/config")
            .join(file_name);
        config::load(&path).unwrap()
    }

    #[test]
    fn committed_configs_match_defaults() {
        // data/config must show the defaults the code runs with; regenerate it with
        // `cargo xtask write-configs --format both` after changing them.
        let memory: memory::MemoryConfig = committed_config("memory.json");
        assert_eq!(memory, memory::MemoryConfig::full());
        let memory_quick: memory::MemoryConfig = committed_config("memory-quick.json");
        assert_eq!(memory_quick, memory::MemoryConfig::quick());
        let wrist: wrist::WristConfig = committed_config("wrist.json");
        assert_eq!(wrist, wrist::WristConfig::full());
        let wrist_quick: wrist::WristConfig = committed_config("wrist-quick.json");
        assert_eq!(wrist_quick, wrist::WristConfig::quick());
    }

    #[test]
    fn memory_config_without_perturbation_loads() {
        // Files written before `training_perturbation` and `calibration_perturbation`
        // existed train and calibrate without perturbations.
        let mut value = serde_json::to_value(memory::MemoryConfig::full()).unwrap();
        let object = value.as_object_mut().unwrap();
        assert!(object.remove("training_perturbation").is_some());
        assert!(object.remove("calibration_perturbation").is_some());
        let parsed: memory::MemoryConfig =
            config::parse(&value.to_string(), config::Format::Json).unwrap();
        assert_eq!(
            parsed.training_perturbation,
            memory::PerturbationSettings::default()
        );
        assert_eq!(
            parsed.calibration_perturbation,
            memory::PerturbationSettings::default()
        );
        assert!(!parsed.training_perturbation.is_active());
        assert!(!parsed.calibration_perturbation.is_active());
    }

    #[test]
    fn memory_config_without_homotopy_loads() {
        // Files written before `calibration_homotopy` existed calibrate in one stage.
        let mut value = serde_json::to_value(memory::MemoryConfig::full()).unwrap();
        let object = value.as_object_mut().unwrap();
        assert!(object.remove("calibration_homotopy").is_some());
        let parsed: memory::MemoryConfig =
            config::parse(&value.to_string(), config::Format::Json).unwrap();
        assert_eq!(parsed.calibration_homotopy.stages, 1);
    }

    #[test]
    fn failed_run_not_written_as_reference() {
        let dir = std::env::temp_dir().join(format!("reference-{}", std::process::id()));
        let summary = serde_json::json!({ "passed": false, "failures": ["fit.rms: 1 > 0.04"] });
        let err = finish_reference("memory", &summary, false, Some(&dir), None).unwrap_err();
        assert!(
            err.to_string().contains("failed its acceptance thresholds"),
            "{err}"
        );
        assert!(!dir.join("memory-quick.json").exists());
    }

    #[test]
    fn committed_toml_configs_match_defaults() {
        // The TOML copies come from `cargo xtask write-configs --format both`.
        let memory: memory::MemoryConfig = committed_config("memory.toml");
        assert_eq!(memory, memory::MemoryConfig::full());
        let memory_quick: memory::MemoryConfig = committed_config("memory-quick.toml");
        assert_eq!(memory_quick, memory::MemoryConfig::quick());
        let wrist: wrist::WristConfig = committed_config("wrist.toml");
        assert_eq!(wrist, wrist::WristConfig::full());
        let wrist_quick: wrist::WristConfig = committed_config("wrist-quick.toml");
        assert_eq!(wrist_quick, wrist::WristConfig::quick());
    }
}

/// Every parameter of both task configurations, set to each of its invalid values, is
/// rejected by `validate` with an error that names it.
#[cfg(test)]
mod validation_tests {
    use super::*;
    use convert::{ConnectivityRule, InputMode};
    use memory::MemoryConfig;
    use wrist::WristConfig;

    type Edit<C> = Box<dyn Fn(&mut C)>;

    /// Builds `(key, value label, edit)` rows, one per value; the key must appear in the
    /// error message.
    macro_rules! cases {
        ($config:ty; $($key:literal: $setter:expr => [$($value:expr),+ $(,)?];)+) => {{
            let mut rows: Vec<(&str, String, Edit<$config>)> = Vec::new();
            $($(
                let edit: Edit<$config> = Box::new(|c: &mut $config| ($setter)(c, $value));
                rows.push(($key, stringify!($value).to_string(), edit));
            )+)+
            rows
        }};
    }

    fn check_rows<C: Clone>(
        base: &C,
        rows: Vec<(&str, String, Edit<C>)>,
        validate: impl Fn(&C) -> Result<()>,
    ) {
        validate(base).expect("the base configuration is valid");
        let mut unrejected = Vec::new();
        let mut unnamed = Vec::new();
        for (key, value, edit) in rows {
            let mut config = base.clone();
            edit(&mut config);
            match validate(&config) {
                Ok(()) => unrejected.push(format!("{key} = {value}")),
                Err(err) => {
                    let message = format!("{err:#}");
                    if !message.contains(key) {
                        unnamed.push(format!("{key} = {value}: {message}"));
                    }
                }
            }
        }
        assert!(unrejected.is_empty(), "accepted: {unrejected:#?}");
        assert!(
            unnamed.is_empty(),
            "error does not name the key: {unnamed:#?}"
        );
    }

    const NAN: f64 = f64::NAN;
    const INF: f64 = f64::INFINITY;

    #[test]
    fn memory_invalid_values_rejected() {
        let rows = cases! { MemoryConfig;
            "dt_ms": |c: &mut MemoryConfig, v| c.task.dt_ms = v => [0.0, -1.0, NAN];
            "baseline_ms": |c: &mut MemoryConfig, v| c.task.baseline_ms = v => [0.0, NAN, 0.5];
            "cue_ms": |c: &mut MemoryConfig, v| c.task.cue_ms = v => [0.0, INF];
            "delay_ms": |c: &mut MemoryConfig, v| c.task.delay_ms = v => [0.0, -5.0];
            "test_delay_ms": |c: &mut MemoryConfig, v| c.task.test_delay_ms = v => [0.0, NAN];
            "error_mask_after_cue_onset_ms": |c: &mut MemoryConfig, v| c.task.error_mask_after_cue_onset_ms = v => [-1.0, 1e9];
            "cue_min": |c: &mut MemoryConfig, v| c.task.cue_min = v => [NAN, 0.3];
            "cue_max": |c: &mut MemoryConfig, v| c.task.cue_max = v => [0.1, 0.9, INF];
            "curriculum_start_delay_ms": |c: &mut MemoryConfig, v| c.task.curriculum_start_delay_ms = v => [0.0];
            "curriculum_ramp_fraction": |c: &mut MemoryConfig, v| c.task.curriculum_ramp_fraction = v => [0.0, 1.5];
            "early_delay_start_ms": |c: &mut MemoryConfig, v| c.task.early_delay_start_ms = v => [-1.0, NAN];
            "early_delay_end_ms": |c: &mut MemoryConfig, v| c.task.early_delay_end_ms = v => [50.0, 1e6];
            "late_delay_ms": |c: &mut MemoryConfig, v| c.task.late_delay_ms = v => [0.0, 1e6];
            "transition_weight": |c: &mut MemoryConfig, v| c.task.transition_weight = v => [-1.0, NAN];
            "transition_end_after_cue_offset_ms": |c: &mut MemoryConfig, v| c.task.transition_end_after_cue_offset_ms = v => [-1.0, NAN];
            "hidden_activity_weight": |c: &mut MemoryConfig, v| c.task.hidden_activity_weight = v => [-1.0, INF];
            "distractor_probability": |c: &mut MemoryConfig, v| c.task.distractor_probability = v => [-0.1, 1.5, NAN];
            "distractor_hold_min_ms": |c: &mut MemoryConfig, v| c.task.distractor_hold_min_ms = v => [0.0, 0.5];
            "distractor_hold_max_ms": |c: &mut MemoryConfig, v| c.task.distractor_hold_max_ms = v => [100.0, INF];
            "conversion.dt_ms": |c: &mut MemoryConfig, v| c.conversion.dt_ms = v => [5.0, 0.3, 0.001];
            "synaptic delay": |c: &mut MemoryConfig, v| c.conversion.delay_ms = v => [1e6];
            "conversion.n_neurons": |c: &mut MemoryConfig, v| c.conversion.n_neurons = v => [1_000_000_000];
            "n_trials": |c: &mut MemoryConfig, v| c.n_trials = v => [1_000_000_000];
            "v_threshold": |c: &mut MemoryConfig, v| c.conversion.neuron.v_threshold = v => [-1.0, NAN];
            "training.iterations": |c: &mut MemoryConfig, v| c.training.iterations = v => [0];
            "training.batch_size": |c: &mut MemoryConfig, v| c.training.batch_size = v => [0];
            "training.checkpoint_every": |c: &mut MemoryConfig, v| c.training.checkpoint_every = v => [0];
            "training.learning_rate": |c: &mut MemoryConfig, v| c.training.learning_rate = v => [0.0, -1.0, NAN];
            "training.final_learning_rate": |c: &mut MemoryConfig, v| c.training.final_learning_rate = v => [0.0, INF];
            "training.clip_norm": |c: &mut MemoryConfig, v| c.training.clip_norm = v => [0.0, NAN];
            "training.decay_start_fraction": |c: &mut MemoryConfig, v| c.training.decay_start_fraction = v => [-0.1, 1.1];
            "training.target_loss": |c: &mut MemoryConfig, v| c.training.target_loss = v => [Some(NAN), Some(-1.0)];
            "calibration.iterations": |c: &mut MemoryConfig, v| c.calibration.iterations = v => [0];
            "calibration.learning_rate": |c: &mut MemoryConfig, v| c.calibration.learning_rate = v => [0.0];
            "training_perturbation.drive_offset_sd": |c: &mut MemoryConfig, v| c.training_perturbation.drive_offset_sd = v => [-0.01, NAN, INF, 1e300];
            "training_perturbation.state_noise_sd": |c: &mut MemoryConfig, v| c.training_perturbation.state_noise_sd = v => [-1e-3, NAN, INF, 1e300];
            "calibration_perturbation.drive_offset_sd": |c: &mut MemoryConfig, v| c.calibration_perturbation.drive_offset_sd = v => [-0.01, NAN, INF, 1e300];
            "calibration_perturbation.state_noise_sd": |c: &mut MemoryConfig, v| c.calibration_perturbation.state_noise_sd = v => [-1e-3, NAN, INF, 1e300];
            "calibration_selection.n_candidates": |c: &mut MemoryConfig, v| c.calibration_selection.n_candidates = v => [0, 1000];
            "calibration_selection.n_trials": |c: &mut MemoryConfig, v| c.calibration_selection.n_trials = v => [0, 1_000_000];
            "calibration_homotopy.stages": |c: &mut MemoryConfig, v| c.calibration_homotopy.stages = v => [0, 21];
            "calibration_homotopy.stage_iterations": |c: &mut MemoryConfig, v| {
                c.calibration_homotopy.stages = 4;
                c.calibration_homotopy.stage_iterations = v;
            } => [0];
            "calibration_selection.cues": |c: &mut MemoryConfig, v: Vec<f64>| c.calibration_selection.cues = v => [vec![], vec![0.3, 0.4], vec![NAN], vec![5.0], vec![0.0], vec![0.3, 0.3], vec![0.3; 100_000]];
            "x_step": |c: &mut MemoryConfig, v| c.fit.x_step = v => [0.0, -0.1, 1e-12];
            "warmup_ms": |c: &mut MemoryConfig, v| c.fit.fi.warmup_ms = v => [1e300];
            "duration_ms": |c: &mut MemoryConfig, v| c.table.fi.duration_ms = v => [1e-9, 1e12];
            "x_min": |c: &mut MemoryConfig, v| c.fit.x_min = v => [NAN];
            "x_max": |c: &mut MemoryConfig, v| c.fit.x_max = v => [-7.0, INF];
            "mu_step": |c: &mut MemoryConfig, v| c.fit.mu_step = v => [0.0];
            "mu_min": |c: &mut MemoryConfig, v| c.fit.mu_min = v => [NAN];
            "mu_max": |c: &mut MemoryConfig, v| c.fit.mu_max = v => [-7.0];
            "f_max_limit_hz": |c: &mut MemoryConfig, v| c.fit.f_max_limit_hz = v => [0.0, NAN];
            "start.g": |c: &mut MemoryConfig, v| c.fit.start.0 = v => [0.0, NAN];
            "start.mu_0": |c: &mut MemoryConfig, v| c.fit.start.1 = v => [NAN];
            "start.f_max_hz": |c: &mut MemoryConfig, v| c.fit.start.2 = v => [-1.0];
            "n_neurons": |c: &mut MemoryConfig, v| c.fit.fi.n_neurons = v => [0];
            "chunk_size": |c: &mut MemoryConfig, v| c.fit.fi.chunk_size = v => [0];
            "dt_ms": |c: &mut MemoryConfig, v| c.fit.fi.dt_ms = v => [0.0, 20.0];
            "warmup_ms": |c: &mut MemoryConfig, v| c.fit.fi.warmup_ms = v => [-1.0, NAN];
            "duration_ms": |c: &mut MemoryConfig, v| c.fit.fi.duration_ms = v => [0.0];
            "x_step": |c: &mut MemoryConfig, v| c.table.x_step = v => [0.0];
            "x_max": |c: &mut MemoryConfig, v| c.table.x_max = v => [-9.0];
            "x_min": |c: &mut MemoryConfig, v| c.table.x_min = v => [NAN];
            "siegert_extension_to": |c: &mut MemoryConfig, v| c.table.siegert_extension_to = v => [INF, NAN];
            "n_seeds": |c: &mut MemoryConfig, v| c.table.n_seeds = v => [0];
            "n_neurons": |c: &mut MemoryConfig, v| c.table.fi.n_neurons = v => [0];
            "n_neurons": |c: &mut MemoryConfig, v| c.conversion.n_neurons = v => [0];
            "p": |c: &mut MemoryConfig, v| c.conversion.connectivity = v => [
                ConnectivityRule::FixedIndegree { p: 0.0 },
                ConnectivityRule::Bernoulli { p: 1.5 },
            ];
            "g": |c: &mut MemoryConfig, v| c.conversion.g = v => [0.0, NAN];
            "mu_0": |c: &mut MemoryConfig, v| c.conversion.mu_0 = v => [NAN];
            "f_max_hz": |c: &mut MemoryConfig, v| c.conversion.f_max_hz = v => [0.0];
            "dt_ms": |c: &mut MemoryConfig, v| c.conversion.dt_ms = v => [0.0, -0.1, 1e-5];
            "tau_m_ms": |c: &mut MemoryConfig, v| c.conversion.neuron.tau_m_ms = v => [0.0, NAN];
            "t_ref_ms": |c: &mut MemoryConfig, v| c.conversion.neuron.t_ref_ms = v => [-1.0];
            "sigma_v": |c: &mut MemoryConfig, v| c.conversion.neuron.sigma_v = v => [-1.0];
            "delay_ms": |c: &mut MemoryConfig, v| c.conversion.delay_ms = v => [-1.0, NAN];
            "target_delay_ms": |c: &mut MemoryConfig, v| c.conversion.target_delay_ms = v => [Some(vec![-1.0])];
            "input_mode.n_neurons": |c: &mut MemoryConfig, v| c.conversion.input_mode = v => [InputMode::Poisson { n_neurons: 0 }];
            "n_trials": |c: &mut MemoryConfig, v| c.n_trials = v => [0];
            "n_training_seeds": |c: &mut MemoryConfig, v| c.n_training_seeds = v => [0];
            "thresholds.delay_rms_error": |c: &mut MemoryConfig, v| c.thresholds.delay_rms_error = v => [NAN, -0.1];
            "thresholds.max_error": |c: &mut MemoryConfig, v| c.thresholds.max_error = v => [INF];
            "thresholds.fit_rms": |c: &mut MemoryConfig, v| c.thresholds.fit_rms = v => [-1.0];
            "thresholds.fit_max_error": |c: &mut MemoryConfig, v| c.thresholds.fit_max_error = v => [NAN];
            "thresholds.median_r": |c: &mut MemoryConfig, v| c.thresholds.median_r = v => [1.5, NAN];
            "thresholds.median_nrmse": |c: &mut MemoryConfig, v| c.thresholds.median_nrmse = v => [-0.1];
            "thresholds.max_output_error_first_second":
                |c: &mut MemoryConfig, v| c.thresholds.max_output_error_first_second = v => [NAN];
        };
        check_rows(&MemoryConfig::quick(), rows, MemoryConfig::validate);
    }

    #[test]
    fn wrist_invalid_values_rejected() {
        let rows = cases! { WristConfig;
            "dt_ms": |c: &mut WristConfig, v| c.task.dt_ms = v => [0.0, NAN];
            "baseline_ms": |c: &mut WristConfig, v| c.task.baseline_ms = v => [-1.0, 0.5];
            "test_hold_ms": |c: &mut WristConfig, v| c.task.test_hold_ms = v => [0.0];
            "train_hold_min_ms": |c: &mut WristConfig, v| c.task.train_hold_min_ms = v => [0.0];
            "train_hold_max_ms": |c: &mut WristConfig, v| c.task.train_hold_max_ms = v => [1.0, INF];
            "n_target_steps": |c: &mut WristConfig, v| c.task.n_target_steps = v => [0];
            "tau_p_ms": |c: &mut WristConfig, v| c.task.tau_p_ms = v => [0.0];
            "ia_position_gain": |c: &mut WristConfig, v| c.task.ia_position_gain = v => [NAN];
            "ia_velocity_gain_s": |c: &mut WristConfig, v| c.task.ia_velocity_gain_s = v => [INF];
            "ia_bias": |c: &mut WristConfig, v| c.task.ia_bias = v => [NAN];
            "mn_latency_ms": |c: &mut WristConfig, v| c.task.mn_latency_ms = v => [-1.0];
            "cm_rm_latency_ms": |c: &mut WristConfig, v| c.task.cm_rm_latency_ms = v => [-1.0];
            "y0": |c: &mut WristConfig, v| c.task.y0 = v => [NAN];
            "rise_tau_ms": |c: &mut WristConfig, v| c.task.rise_tau_ms = v => [0.0];
            "nonpreferred_decay_tau_ms": |c: &mut WristConfig, v| c.task.nonpreferred_decay_tau_ms = v => [0.0];
            "template_loss_weight": |c: &mut WristConfig, v| c.task.template_loss_weight = v => [-1.0];
            "shapes.phasic_tau_ms": |c: &mut WristConfig, v| c.task.shapes.phasic_tau_ms = v => [0.0];
            "shapes.tonic_level": |c: &mut WristConfig, v| c.task.shapes.tonic_level = v => [NAN];
            "x_step": |c: &mut WristConfig, v| c.table.x_step = v => [0.0];
            "n_seeds": |c: &mut WristConfig, v| c.table.n_seeds = v => [0];
            "duration_ms": |c: &mut WristConfig, v| c.table.fi.duration_ms = v => [0.0];
            "g": |c: &mut WristConfig, v| c.conversion.g = v => [-1.0];
            "conversion.dt_ms": |c: &mut WristConfig, v| c.conversion.dt_ms = v => [0.3, 0.001];
            "tau_m_ms": |c: &mut WristConfig, v| c.conversion.neuron.tau_m_ms = v => [0.0];
            "motoneuron_delay_ms": |c: &mut WristConfig, v| c.motoneuron_delay_ms = v => [-1.0, NAN];
            "training.iterations": |c: &mut WristConfig, v| c.training.iterations = v => [0];
            "training.learning_rate": |c: &mut WristConfig, v| c.training.learning_rate = v => [NAN];
            "n_trials": |c: &mut WristConfig, v| c.n_trials = v => [0];
            "n_training_seeds": |c: &mut WristConfig, v| c.n_training_seeds = v => [0];
            "thresholds.median_r": |c: &mut WristConfig, v| c.thresholds.median_r = v => [-2.0];
            "thresholds.median_nrmse": |c: &mut WristConfig, v| c.thresholds.median_nrmse = v => [NAN];
            "thresholds.max_rate_hz": |c: &mut WristConfig, v| c.thresholds.max_rate_hz = v => [-1.0];
            "thresholds.isi_cv_range.0": |c: &mut WristConfig, v| c.thresholds.isi_cv_range = v => [(-0.1, 1.0)];
            "thresholds.isi_cv_range.1": |c: &mut WristConfig, v| c.thresholds.isi_cv_range = v => [(1.0, 0.5)];
        };
        check_rows(&WristConfig::quick(), rows, WristConfig::validate);
    }

    #[test]
    fn config_file_errors_name_key() {
        let dir = std::env::temp_dir().join(format!("config-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml_text = config::to_text(&MemoryConfig::quick(), config::Format::Toml).unwrap();
        let cases = [
            (
                "iterations = 4000",
                "iteratons = 4000",
                "nearest valid name is `iterations`",
            ),
            (
                "iterations = 4000",
                "iterations = \"many\"",
                "training.iterations",
            ),
            (
                "iterations = 4000",
                "iterations = 0",
                "training.iterations = 0",
            ),
            ("n_trials = 6", "n_trials = -6", "n_trials"),
        ];
        for (from, to, expected) in cases {
            assert!(toml_text.contains(from), "{from} not in the written TOML");
            let path = dir.join("memory.toml");
            std::fs::write(&path, toml_text.replacen(from, to, 1)).unwrap();
            let err = load_memory_config(&path).unwrap_err();
            let message = format!("{err:#}");
            assert!(message.contains(expected), "{to}: {message}");
        }
        let path = dir.join("memory.toml");
        std::fs::write(&path, &toml_text).unwrap();
        assert_eq!(load_memory_config(&path).unwrap(), MemoryConfig::quick());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
