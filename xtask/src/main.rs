//! Project automation: `cargo xtask reproduce` runs the whole pipeline for each task.

mod memory;
mod reference;
mod report;
mod spiking;
mod wrist;

use xtask::{artifact, config, inspect, interrupt, status, training};

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
        /// Configuration file (`.toml` or `.json`) replacing the built-in defaults of the
        /// task; it is checked completely before any stage runs.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Continue each training stage from its checkpoint in the output folder, as left by
        /// an interrupted run with the same seed and configuration; the result is identical
        /// to an uninterrupted run.
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
    /// Writes the built-in default configurations into a folder.
    WriteConfigs {
        /// Target folder.
        #[arg(long, default_value = "data/config")]
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
            // Load and check every configuration before any stage runs.
            let memory_config = match &config {
                Some(path) if task == Task::Memory => Some(load_memory_config(path)?),
                _ if task == Task::Wrist => None,
                _ if quick => Some(memory::MemoryConfig::quick()),
                _ => Some(memory::MemoryConfig::full()),
            };
            let wrist_config = match &config {
                Some(path) if task == Task::Wrist => Some(load_wrist_config(path)?),
                _ if task == Task::Memory => None,
                _ if quick => Some(wrist::WristConfig::quick()),
                _ => Some(wrist::WristConfig::full()),
            };
            interrupt::install_handler()?;
            let started = Instant::now();
            let mut all_passed = true;
            if let Some(memory_config) = memory_config {
                info!(quick, seed, out = %out.display(), "memory reproduction started");
                let run = memory::reproduce(&memory_config, seed, &out);
                let (summary, passed) = record_failure(run, &out, "memory", seed)?;
                report::write_report(&out.join("memory"), "memory")?;
                report_task("memory", &summary, passed);
                all_passed &= passed;
                finish_reference(
                    "memory",
                    &summary,
                    passed,
                    write_reference.as_deref(),
                    check_reference.as_deref(),
                )?;
            }
            if let Some(wrist_config) = wrist_config {
                info!(quick, seed, out = %out.display(), "wrist reproduction started");
                let run = wrist::reproduce(&wrist_config, seed, &out);
                let (summary, passed) = record_failure(run, &out, "wrist", seed)?;
                report::write_report(&out.join("wrist"), "wrist")?;
                report_task("wrist", &summary, passed);
                all_passed &= passed;
                finish_reference(
                    "wrist",
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
    let config: memory::MemoryConfig = config::load(path)?;
    config
        .validate()
        .with_context(|| format!("invalid configuration {}", path.display()))?;
    Ok(config)
}

/// Loads a wrist configuration and checks every value.
fn load_wrist_config(path: &Path) -> Result<wrist::WristConfig> {
    let config: wrist::WristConfig = config::load(path)?;
    config
        .validate()
        .with_context(|| format!("invalid configuration {}", path.display()))?;
    Ok(config)
}

fn write_config<T: serde::Serialize>(path: &Path, value: &T, format: config::Format) -> Result<()> {
    artifact::write_atomic(path, config::to_text(value, format)?.as_bytes())
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
