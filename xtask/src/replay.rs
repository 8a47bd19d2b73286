//! `cargo xtask replay MANIFEST`: reruns a recorded task run into a fresh folder and checks,
//! file by file, that it writes the same files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tracing::{info, warn};

use crate::artifact;
use crate::manifest::{self, FileStatus, Manifest, RunSettings};

/// Default output folder of a replay: `target/replay/<task>-<UTC time>`.
fn default_out(task: &str) -> PathBuf {
    let stamp = manifest::now_utc().replace([':', '-'], "");
    manifest::workspace_root()
        .join("target/replay")
        .join(format!("{task}-{stamp}"))
}

/// Fails unless `dir` is missing or empty, so that a replay never mixes with older files.
fn require_fresh(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?;
    if entries.next().is_some() {
        bail!(
            "{} already holds files; give --out a new or empty folder so the replay starts \
             fresh",
            dir.display()
        );
    }
    Ok(())
}

/// Reruns the run recorded in `manifest_path` into `out` (default under `target/replay/`),
/// prints the comparison and writes it to `<out>/replay-<task>.json`. Fails when a file
/// differs, is missing or is new.
pub fn replay(manifest_path: &Path, out: Option<PathBuf>, threads: Option<usize>) -> Result<()> {
    let original = Manifest::read(manifest_path)?;
    let task = original.config.task();
    let out_root = out.unwrap_or_else(|| default_out(task));
    let task_dir = out_root.join(task);
    require_fresh(&task_dir)?;
    if original.run.reuse_trained {
        warn!(
            "the original run loaded networks trained by an earlier run; the replay trains \
             them, so it matches only if that earlier run had the same configuration and seed"
        );
    }
    info!(
        manifest = %manifest_path.display(),
        task,
        seed = original.run.seed,
        out = %out_root.display(),
        "replay started"
    );
    let settings = RunSettings {
        reuse_trained: false,
        threads,
        ..original.run.clone()
    };
    manifest::run_task(&original.config, &settings, &out_root)?;
    let replayed = Manifest::read(&task_dir.join(manifest::FILE_NAME))?;
    let comparison = manifest::compare(&original, &replayed);

    for file in &comparison.files {
        let status = match file.status {
            FileStatus::Identical => "identical",
            FileStatus::Differs => "DIFFERS",
            FileStatus::MissingInReplay => "MISSING in the replay",
            FileStatus::OnlyInReplay => "NEW in the replay",
        };
        println!("{status:>22}  {}", file.path);
    }
    let source = |differs: bool| if differs { "differs" } else { "same" };
    println!(
        "git commit: {} (original {}, replay {})",
        source(comparison.commit_differs),
        original.source.git_commit.as_deref().unwrap_or("unknown"),
        replayed.source.git_commit.as_deref().unwrap_or("unknown"),
    );
    let dirty = |flag: Option<bool>| match flag {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    println!(
        "uncommitted changes: original {}, replay {}",
        dirty(original.source.git_dirty),
        dirty(replayed.source.git_dirty)
    );
    println!("Cargo.lock: {}", source(comparison.cargo_lock_differs));
    for difference in &comparison.tool_differences {
        println!("tool {difference}");
    }

    let record = json!({
        "original_manifest": manifest_path,
        "replay_manifest": task_dir.join(manifest::FILE_NAME),
        "identical": comparison.identical(),
        "comparison": comparison,
    });
    let record_path = out_root.join(format!("replay-{task}.json"));
    artifact::write_atomic(
        &record_path,
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;

    let mismatches = comparison.mismatches();
    if !mismatches.is_empty() {
        let names: Vec<&str> = mismatches.iter().map(|f| f.path.as_str()).collect();
        let mut hint = String::new();
        if comparison.commit_differs || comparison.dirty_differs {
            hint.push_str("; the source tree differs from the original run's");
        }
        if comparison.cargo_lock_differs {
            hint.push_str("; Cargo.lock differs from the original run's");
        }
        bail!(
            "{} of {} files are not identical: {}{hint} (details in {})",
            mismatches.len(),
            comparison.files.len(),
            names.join(", "),
            record_path.display()
        );
    }
    info!(
        files = comparison.files.len(),
        record = %record_path.display(),
        "replay identical"
    );
    Ok(())
}
