//! Python virtual environments for the cross-checks against other simulators.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use tracing::info;

/// Creates the virtual environment `root/name` with `python3 -m venv` unless it exists,
/// pip-installs `requirements` into it (pip skips those already satisfied) and returns the
/// path of its Python interpreter.
///
/// # Errors
/// When `python3` or its `venv` module is missing, or when pip fails because the package index
/// is unreachable or has no wheel for this platform. The message names the failed command and
/// the fix.
pub fn ensure_venv(root: &Path, name: &str, requirements: &[&str]) -> Result<PathBuf> {
    let venv = root.join(name);
    let python = venv.join("bin").join("python");

    // Create the environment.
    if !python.exists() {
        std::fs::create_dir_all(root)
            .with_context(|| format!("failed to create {}", root.display()))?;
        info!(venv = %venv.display(), "creating a Python virtual environment");
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("failed to run python3: install Python 3 (for example `apt-get install python3 python3-venv`)")?;
        if !status.success() {
            bail!(
                "`python3 -m venv {}` failed ({status}): install the venv module (for example `apt-get install python3-venv`) and retry",
                venv.display()
            );
        }
    }

    // Install the requirements.
    if !requirements.is_empty() {
        info!(venv = %venv.display(), ?requirements, "installing Python packages");
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements)
            .status()
            .with_context(|| format!("failed to run {}", python.display()))?;
        if !status.success() {
            bail!(
                "`{} -m pip install {}` failed ({status}): the package index may be unreachable or have no wheel for this platform; install the packages into {} by hand and retry",
                python.display(),
                requirements.join(" "),
                venv.display()
            );
        }
    }
    Ok(python)
}
