//! Project automation: `cargo xtask reproduce` runs the whole pipeline for each task.

mod artifact;
mod inspect;
mod manifest;
mod memory;
mod npy;
mod reference;
mod replay;
mod report;
mod spiking;
mod sweep;
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
            set_threads(threads)?;
            if config.is_some() && task == Task::All {
                bail!("--config applies to one task: add --task memory or --task wrist");
            }
            let started = Instant::now();
            let mut all_passed = true;
            let mut configs = Vec::new();
            if matches!(task, Task::Memory | Task::All) {
                configs.push(task_config(Task::Memory, quick, config.as_deref())?);
            }
            if matches!(task, Task::Wrist | Task::All) {
                configs.push(task_config(Task::Wrist, quick, config.as_deref())?);
            }
            for (task_config, config_source) in configs {
                let settings = manifest::RunSettings {
                    seed,
                    quick,
                    config_source,
                    reuse_trained,
                    threads,
                };
                let (summary, passed) = manifest::run_task(&task_config, &settings, &out)?;
                let name = task_config.task();
                report_task(name, &summary, passed);
                all_passed &= passed;
                finish_reference(
                    name,
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
    let source = match (config, quick) {
        (Some(path), _) => path.display().to_string(),
        (None, true) => "built-in quick".to_string(),
        (None, false) => "built-in full".to_string(),
    };
    let task_config = match (task, config) {
        (Task::Memory, Some(path)) => manifest::TaskConfig::Memory(load_config(path)?),
        (Task::Memory, None) if quick => {
            manifest::TaskConfig::Memory(memory::MemoryConfig::quick())
        }
        (Task::Memory, None) => manifest::TaskConfig::Memory(memory::MemoryConfig::full()),
        (Task::Wrist, Some(path)) => manifest::TaskConfig::Wrist(load_config(path)?),
        (Task::Wrist, None) if quick => manifest::TaskConfig::Wrist(wrist::WristConfig::quick()),
        (Task::Wrist, None) => manifest::TaskConfig::Wrist(wrist::WristConfig::full()),
        (Task::All, _) => bail!("choose one task: memory or wrist"),
    };
    Ok((task_config, source))
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
