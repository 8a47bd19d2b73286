//! Regression check of a run's summary against a committed reference summary.
//!
//! A reference file holds `{"task": ..., "tolerances": {"dotted.key": absolute tolerance},
//! "values": {"dotted.key": number}}`. The check fails when a listed value is missing, is not
//! a number, or differs from the reference by more than its tolerance.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tracing::{info, warn};

/// Keys compared for each task and their absolute tolerances.
pub fn tracked_keys(task: &str) -> Vec<(&'static str, f64)> {
    match task {
        "memory" => vec![
            ("continuous.delay_rms_error", 0.02),
            ("continuous.max_error", 0.05),
            ("fit.rms", 0.005),
            ("fit.max_error", 0.01),
            ("fit.g", 0.05),
            ("fit.mu_0", 0.05),
            ("fit.f_max_hz", 3.0),
            ("spiking.median_r", 0.05),
            ("spiking.median_nrmse", 0.04),
            ("spiking.max_output_error_first_second", 0.05),
        ],
        "wrist" => vec![
            ("activation.rms_measured_vs_siegert", 0.01),
            ("continuous.mn_template_nrmse", 0.03),
            ("continuous.nonpreferred_max", 0.1),
            ("spiking.median_r", 0.05),
            ("spiking.median_nrmse", 0.04),
            ("spiking.mn_nrmse", 0.04),
            ("control.mn_nrmse", 0.04),
        ],
        _ => Vec::new(),
    }
}

fn lookup<'a>(summary: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(summary, |v, key| v.get(key))
}

/// Builds the reference document of `summary`.
pub fn reference_of(task: &str, summary: &Value) -> Result<Value> {
    let mut values = serde_json::Map::new();
    let mut tolerances = serde_json::Map::new();
    for (key, tolerance) in tracked_keys(task) {
        let value = lookup(summary, key)
            .and_then(Value::as_f64)
            .with_context(|| format!("summary has no number at {key}"))?;
        values.insert(key.into(), json!(value));
        tolerances.insert(key.into(), json!(tolerance));
    }
    Ok(json!({ "task": task, "tolerances": tolerances, "values": values }))
}

/// Compares `summary` with the reference file at `path`.
pub fn check(task: &str, summary: &Value, path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the reference summary {}", path.display()))?;
    let reference: Value = serde_json::from_str(&text)
        .with_context(|| format!("invalid JSON in {}", path.display()))?;
    let values = reference["values"]
        .as_object()
        .with_context(|| format!("{} has no \"values\" object", path.display()))?;
    let mut drifted = Vec::new();
    for (key, expected) in values {
        let expected = expected
            .as_f64()
            .with_context(|| format!("reference {key} is not a number"))?;
        let tolerance = reference["tolerances"][key]
            .as_f64()
            .with_context(|| format!("reference has no tolerance for {key}"))?;
        match lookup(summary, key).and_then(Value::as_f64) {
            Some(found) if (found - expected).abs() <= tolerance => {
                info!(task, key, found, expected, tolerance, "matches reference");
            }
            Some(found) => {
                warn!(
                    task,
                    key, found, expected, tolerance, "drifted from reference"
                );
                drifted.push(format!(
                    "{key} = {found}, reference {expected} +- {tolerance}"
                ));
            }
            None => drifted.push(format!("{key} is missing from the summary")),
        }
    }
    if !drifted.is_empty() {
        bail!(
            "the {task} run drifted from {}:\n  {}",
            path.display(),
            drifted.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_reference(dir: &Path, value: f64, tolerance: f64) -> std::path::PathBuf {
        let path = dir.join("memory-quick.json");
        let doc = json!({
            "task": "memory",
            "tolerances": { "fit.rms": tolerance },
            "values": { "fit.rms": value },
        });
        std::fs::write(&path, doc.to_string()).unwrap();
        path
    }

    #[test]
    fn reference_check_tolerance() {
        let dir = std::env::temp_dir().join(format!("reference-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_reference(&dir, 0.030, 0.005);

        // |0.033 - 0.030| = 0.003 is inside the tolerance, |0.036 - 0.030| = 0.006 is not.
        assert!(check("memory", &json!({ "fit": { "rms": 0.033 } }), &path).is_ok());
        let drifted = check("memory", &json!({ "fit": { "rms": 0.036 } }), &path).unwrap_err();
        assert!(drifted.to_string().contains("fit.rms = 0.036"), "{drifted}");
        let missing = check("memory", &json!({ "fit": {} }), &path).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reference_lists_tracked_keys() {
        let summary = json!({
            "continuous": { "delay_rms_error": 0.1, "max_error": 0.2 },
            "fit": { "rms": 0.03, "max_error": 0.05, "g": 0.8, "mu_0": 1.0, "f_max_hz": 95.0 },
            "spiking": { "median_r": 0.9, "median_nrmse": 0.1, "max_output_error_first_second": 0.1 },
        });
        let doc = reference_of("memory", &summary).unwrap();
        assert_eq!(doc["values"]["fit.g"], json!(0.8));
        assert_eq!(doc["tolerances"]["fit.rms"], json!(0.005));
        assert!(reference_of("memory", &json!({})).is_err());
    }
}
