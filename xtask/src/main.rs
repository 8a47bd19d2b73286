//! Project automation: `cargo xtask reproduce` runs the whole pipeline for each task.

mod artifact;
mod inspect;
mod memory;
mod nest;
mod pyenv;
mod reference;
mod report;
mod spiking;
mod training;
mod wrist;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(about = "Automation for the rate-to-spiking conversion toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    #[arg(long, default_value = "target/reproduce")]
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
        #[arg(long, default_value = "target/reproduce")]
        out: PathBuf,
        /// Folder of reference summaries (`<task>-quick.json`) to check the run against.
        #[arg(long)]
        check_reference: Option<PathBuf>,
        /// Write the run's reference summaries into this folder.
        #[arg(long)]
        write_reference: Option<PathBuf>,
        /// Configuration file (JSON) replacing the built-in defaults of the task.
        #[arg(long)]
        config: Option<PathBuf>,
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
    /// Writes the built-in default configurations into a folder as JSON.
    WriteConfigs {
        /// Target folder.
        #[arg(long, default_value = "data/config")]
        out: PathBuf,
    },
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
        std::process::exit(1);
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
            reuse_trained,
            threads,
        } => {
            training::REUSE_TRAINED.store(reuse_trained, std::sync::atomic::Ordering::Relaxed);
            if let Some(n) = threads {
                if n == 0 || n > 1024 {
                    bail!("invalid --threads {n}: give a count from 1 to 1024");
                }
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .context("failed to start the thread pool")?;
            }
            if config.is_some() && task == Task::All {
                bail!("--config applies to one task: add --task memory or --task wrist");
            }
            let started = Instant::now();
            let mut all_passed = true;
            if matches!(task, Task::Memory | Task::All) {
                let memory_config = match &config {
                    Some(path) if task == Task::Memory => load_config(path)?,
                    _ if quick => memory::MemoryConfig::quick(),
                    _ => memory::MemoryConfig::full(),
                };
                info!(quick, seed, out = %out.display(), "memory reproduction started");
                let (summary, passed) = memory::reproduce(&memory_config, seed, &out)?;
                report::write_report(&out.join("memory"), "memory")?;
                report_task("memory", &summary, passed);
                all_passed &= passed;
                finish_reference(
                    "memory",
                    &summary,
                    write_reference.as_deref(),
                    check_reference.as_deref(),
                )?;
            }
            if matches!(task, Task::Wrist | Task::All) {
                let wrist_config = match &config {
                    Some(path) if task == Task::Wrist => load_config(path)?,
                    _ if quick => wrist::WristConfig::quick(),
                    _ => wrist::WristConfig::full(),
                };
                info!(quick, seed, out = %out.display(), "wrist reproduction started");
                let (summary, passed) = wrist::reproduce(&wrist_config, seed, &out)?;
                report::write_report(&out.join("wrist"), "wrist")?;
                report_task("wrist", &summary, passed);
                all_passed &= passed;
                finish_reference(
                    "wrist",
                    &summary,
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
            let out = out.unwrap_or_else(|| PathBuf::from(format!("target/nest/{}", task.name())));
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
        Command::WriteConfigs { out } => {
            write_config(&out.join("memory.json"), &memory::MemoryConfig::full())?;
            write_config(
                &out.join("memory-quick.json"),
                &memory::MemoryConfig::quick(),
            )?;
            write_config(&out.join("wrist.json"), &wrist::WristConfig::full())?;
            write_config(&out.join("wrist-quick.json"), &wrist::WristConfig::quick())?;
            Ok(())
        }
    }
}

/// Writes or checks the reference summary of a quick run of `task`.
fn finish_reference(
    task: &str,
    summary: &serde_json::Value,
    write_to: Option<&Path>,
    check_against: Option<&Path>,
) -> Result<()> {
    let file_name = format!("{task}-quick.json");
    if let Some(folder) = write_to {
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

fn load_config<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the configuration {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid configuration {}", path.display()))
}

fn write_config<T: serde::Serialize>(path: &Path, config: &T) -> Result<()> {
    artifact::write_atomic(path, serde_json::to_string_pretty(config)?.as_bytes())
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
        load_config(&path).unwrap()
    }

    #[test]
    fn committed_configs_match_defaults() {
        // data/config must show the defaults the code runs with; regenerate it with
        // `cargo xtask write-configs` after changing them.
        let memory: memory::MemoryConfig = committed_config("memory.json");
        assert_eq!(memory, memory::MemoryConfig::full());
        let memory_quick: memory::MemoryConfig = committed_config("memory-quick.json");
        assert_eq!(memory_quick, memory::MemoryConfig::quick());
        let wrist: wrist::WristConfig = committed_config("wrist.json");
        assert_eq!(wrist, wrist::WristConfig::full());
        let wrist_quick: wrist::WristConfig = committed_config("wrist-quick.json");
        assert_eq!(wrist_quick, wrist::WristConfig::quick());
    }
}
