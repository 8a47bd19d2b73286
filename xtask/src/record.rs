//! The record of one conversion that `reproduce` leaves for `export-nest` and
//! `crosscheck-nest`: enough to rebuild the identical spiking network and rerun its trials.

use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use convert::seeds::stream_seed;
use convert::{ConversionParams, Converted};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::Rnn;
use serde::{Deserialize, Serialize};

use crate::artifact;

/// Artifact kind of a [`ConversionRecord`] file.
pub const KIND: &str = "conversion record";

/// Read-out rows and unit over which the memory output is scored against the continuous net.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputWindow {
    /// Output unit.
    pub unit: usize,
    /// Read-out rows (row `n` at the end of continuous step `n`).
    pub rows: Range<usize>,
    /// Continuous steps per 10 ms bin.
    pub bin_steps: usize,
}

/// Everything needed to rebuild one converted network and rerun its validation trials.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConversionRecord {
    /// Conversion label (`calibrated`, `plain`, `phi`, `control`).
    pub label: String,
    /// The continuous net.
    pub rnn: Rnn,
    /// Conversion parameters, with the fitted `g`, `mu_0` and `f_max_hz`.
    pub conversion: ConversionParams,
    /// Seed of the `ChaCha8Rng` handed to `convert::convert`.
    pub conversion_seed: u64,
    /// Inputs of each condition, `(n_steps, n_inputs)`.
    pub inputs: Vec<Array2<f64>>,
    /// Continuous trace of each condition, `(n_steps + 1, n_units)`.
    pub continuous: Vec<Array2<f64>>,
    /// Spiking trials per condition in the reproduction.
    pub n_trials: usize,
    /// Seed of condition `c`'s trials is `stream_seed(trial_seed, c)`.
    pub trial_seed: u64,
    /// Memory output window, for the memory task.
    pub output_window: Option<OutputWindow>,
}

/// Returns the path of the record of conversion `label` in a task folder.
pub fn record_path(task_dir: &Path, label: &str) -> PathBuf {
    task_dir.join(format!("conversion_{label}.bin"))
}

impl ConversionRecord {
    /// Writes the record into `task_dir`.
    pub fn save(&self, task_dir: &Path) -> Result<()> {
        artifact::save(&record_path(task_dir, &self.label), KIND, self)
    }

    /// Reads the record of `label` from `task_dir`; a missing file gets an error naming the
    /// command that writes it.
    pub fn load(task_dir: &Path, task: &str, label: &str) -> Result<ConversionRecord> {
        let labels: &[&str] = match task {
            "memory" => &["plain", "calibrated"],
            "wrist" => &["phi", "control"],
            _ => &[],
        };
        if !labels.is_empty() && !labels.contains(&label) {
            bail!(
                "invalid conversion {label} for the {task} task: it writes the conversions {}",
                labels.join(" and ")
            );
        }
        let path = record_path(task_dir, label);
        if !path.exists() {
            let root = task_dir.parent().unwrap_or(Path::new("."));
            bail!(
                "missing {}: run `cargo xtask reproduce --task {task} --out {}` (add --quick for the smaller configuration) to write it",
                path.display(),
                root.display()
            );
        }
        artifact::load(&path, KIND)
    }

    /// Rebuilds the converted network, drawing the same synapses as the reproduction.
    pub fn convert(&self) -> Result<Converted> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.conversion_seed);
        Ok(convert::convert(&self.rnn, &self.conversion, &mut rng)?)
    }

    /// Returns the seed of the trials of `condition`, as the reproduction used it.
    pub fn condition_seed(&self, condition: usize) -> u64 {
        stream_seed(self.trial_seed, condition as u64)
    }
}
