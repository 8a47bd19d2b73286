//! Python virtual environments for the reference tools that the benchmarks and cross-checks run
//! as child processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use tracing::info;

/// File inside a venv listing the requirements it was last installed with.
const REQUIREMENTS_STAMP: &str = "bench-requirements.txt";

/// Creates the venv `root/name` with `python3 -m venv` if it is missing, pip-installs
/// `requirements` (pip requirement specifiers) unless the venv was already installed with
/// exactly these, and returns the path of the venv's python.
///
/// Errors name the failed step: python3 missing, venv creation (the `python3-venv` package),
/// or pip (the tail of pip's output, which shows a network or version failure).
pub fn ensure_venv(root: &Path, name: &str, requirements: &[&str]) -> Result<PathBuf> {
    let venv = root.join(name);
    let python = venv.join("bin").join("python");
    if !python.exists() {
        std::fs::create_dir_all(root)
            .with_context(|| format!("failed to create the venv folder {}", root.display()))?;
        info!(venv = %venv.display(), "creating a Python venv");
        let output = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Ok(output) => output,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                bail!(
                    "python3 not found on PATH: install Python 3.10 or newer with its venv module"
                )
            }
            Err(err) => return Err(err).context("failed to run python3 -m venv"),
        };
        if !output.status.success() {
            bail!(
                "python3 -m venv {} failed (install the python3-venv package): {}",
                venv.display(),
                tail(&output.stderr)
            );
        }
    }

    let expected = requirements.join("\n");
    let stamp = venv.join(REQUIREMENTS_STAMP);
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(expected.as_str()) {
        return Ok(python);
    }
    if !requirements.is_empty() {
        info!(venv = %venv.display(), ?requirements, "installing Python packages with pip");
        let output = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .args(requirements)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("failed to run {} -m pip", python.display()))?;
        if !output.status.success() {
            bail!(
                "pip install {} into {} failed (is the package index reachable?): {}",
                requirements.join(" "),
                venv.display(),
                tail(&output.stderr)
            );
        }
    }
    std::fs::write(&stamp, expected)
        .with_context(|| format!("failed to write {}", stamp.display()))?;
    Ok(python)
}

/// Returns the last lines of a process's output for an error message.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(8);
    lines[start..].join("\n")
}
