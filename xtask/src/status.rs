//! Run status in `summary.json` while a task runs or after it failed, so that a folder that
//! mixes artifacts of an earlier run with those of an unfinished one is marked as such.
//!
//! A task pipeline marks each stage as it starts, which overwrites `summary.json` with
//! `"passed": false`, `"status": "incomplete"` and the stage. Even a killed run therefore
//! leaves a summary that marks it as unfinished. When a stage returns an error,
//! [`mark_failed`] records the error and the stage. A finished run replaces the file with its
//! full summary.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};

use crate::artifact;

const NOTE: &str = "the run did not finish: files in this folder may come from this run or \
                    from an earlier one; rerun the task (add --resume to continue training)";

/// Starts `stage` of `task`: returns [`crate::interrupt::Interrupted`] if a stop was
/// requested, else records the stage with [`mark_stage`].
///
/// # Errors
/// On a requested stop, or when the file cannot be written.
pub fn begin_stage(task_dir: &Path, task: &str, seed: u64, stage: &str) -> Result<()> {
    crate::interrupt::check(&format!("{task} before stage {stage}"))?;
    mark_stage(task_dir, task, seed, stage)
}

/// Records that `stage` of `task` started, in `task_dir/summary.json`.
///
/// # Errors
/// When the file cannot be written.
pub fn mark_stage(task_dir: &Path, task: &str, seed: u64, stage: &str) -> Result<()> {
    let summary = json!({
        "task": task,
        "seed": seed,
        "format_version": artifact::FORMAT_VERSION,
        "status": "incomplete",
        "stage": stage,
        "passed": false,
        "note": NOTE,
    });
    write(task_dir, &summary)
}

/// Records that the run of `task` failed with `error`, keeping the stage recorded by
/// [`mark_stage`]. `interrupted` distinguishes a stop on request from a failure.
///
/// # Errors
/// When the file cannot be written.
pub fn mark_failed(
    task_dir: &Path,
    task: &str,
    seed: u64,
    error: &anyhow::Error,
    interrupted: bool,
) -> Result<()> {
    let path = task_dir.join("summary.json");
    let previous: Option<Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let stage = previous
        .as_ref()
        .filter(|summary| summary["status"] == "incomplete")
        .map(|summary| summary["stage"].clone())
        .unwrap_or(Value::Null);
    let summary = json!({
        "task": task,
        "seed": seed,
        "format_version": artifact::FORMAT_VERSION,
        "status": if interrupted { "interrupted" } else { "failed" },
        "stage": stage,
        "error": format!("{error:#}"),
        "passed": false,
        "note": NOTE,
    });
    write(task_dir, &summary)
}

fn write(task_dir: &Path, summary: &Value) -> Result<()> {
    artifact::write_atomic(
        &task_dir.join("summary.json"),
        serde_json::to_string_pretty(summary)?.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keeps_stage() {
        let dir = std::env::temp_dir().join(format!("status-{}", std::process::id()));
        mark_stage(&dir, "memory", 4, "fit").unwrap();
        let error = anyhow::anyhow!("fit failed");
        mark_failed(&dir, "memory", 4, &error, false).unwrap();
        let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        let summary: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(summary["passed"], false);
        assert_eq!(summary["status"], "failed");
        assert_eq!(summary["stage"], "fit");
        assert_eq!(summary["error"], "fit failed");
        assert_eq!(summary["seed"], 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
