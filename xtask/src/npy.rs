//! NumPy `.npy` export of a task folder's traces and spikes, with a JSON index, so that a
//! Python user loads a run with `numpy.load` alone.
//!
//! Files are NPY format 1.0 (little-endian, C order) written by `ndarray-npy` into
//! `<task>/npy/`. `npy/index.json` lists each file with its shape, dtype, meaning and units.
//! The export reads what the pipeline wrote (CSV traces and binary artifacts), so it contains
//! the same numbers as those files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use convert::trials::PSTH_BIN_MS;
use convert::ConversionParams;
use ndarray::{Array, Array1, Array2, Array3, Axis, Dimension};
use ndarray_npy::{WritableElement, WriteNpyExt};
use serde::Serialize;
use serde_json::json;
use tracing::info;

use crate::artifact;
use crate::report::data::{self, Table};
use crate::report::{read_cue_traces, time_axis, CueTraces};

/// Element types the export writes, with their NumPy type descriptor.
pub trait NpyElement: WritableElement + Clone {
    /// NumPy `descr` of the type: byte order, kind and size.
    const DESCR: &'static str;
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
}

impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
}

/// Encodes `array` as the bytes of an `.npy` file.
pub fn npy_bytes<A: NpyElement, D: Dimension>(array: &Array<A, D>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    // A standard-layout copy makes the file C order whatever the array's strides are.
    array
        .as_standard_layout()
        .write_npy(&mut bytes)
        .context("failed to encode an .npy array")?;
    Ok(bytes)
}

/// One file of the index.
#[derive(Serialize)]
pub struct IndexEntry {
    /// File name inside `npy/`.
    pub file: String,
    /// Array shape.
    pub shape: Vec<usize>,
    /// NumPy dtype descriptor, for example `<f8`.
    pub dtype: &'static str,
    /// Contents of the array and the order of its axes.
    pub meaning: String,
    /// Units of the values.
    pub units: String,
}

/// Writer of the `.npy` files of one task folder and of their index.
pub struct NpyExport {
    dir: PathBuf,
    entries: Vec<IndexEntry>,
}

impl NpyExport {
    /// Starts an export into `dir` (created when missing).
    pub fn new(dir: &Path) -> Result<NpyExport> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        Ok(NpyExport {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
        })
    }

    /// Writes `array` to `file` atomically and lists it in the index.
    pub fn add<A: NpyElement, D: Dimension>(
        &mut self,
        file: &str,
        array: &Array<A, D>,
        meaning: &str,
        units: &str,
    ) -> Result<()> {
        artifact::write_atomic(&self.dir.join(file), &npy_bytes(array)?)?;
        self.entries.push(IndexEntry {
            file: file.to_string(),
            shape: array.shape().to_vec(),
            dtype: A::DESCR,
            meaning: meaning.to_string(),
            units: units.to_string(),
        });
        Ok(())
    }

    /// Writes `index.json` with `context` (time steps, population size) and the entries.
    pub fn finish(self, task: &str, context: serde_json::Value) -> Result<usize> {
        let n_files = self.entries.len();
        let index = json!({
            "task": task,
            "format": "NPY 1.0, little-endian, C order; load with numpy.load(path)",
            "context": context,
            "files": self.entries,
        });
        artifact::write_atomic(
            &self.dir.join("index.json"),
            serde_json::to_string_pretty(&index)?.as_bytes(),
        )?;
        Ok(n_files)
    }
}

/// Stacks equally shaped matrices into `(n_matrices, n_rows, n_cols)`.
fn stack(matrices: &[Array2<f64>]) -> Result<Array3<f64>> {
    let views: Vec<_> = matrices.iter().map(|m| m.view()).collect();
    ndarray::stack(Axis(0), &views).context("conditions have traces of different shapes")
}

/// Writes the spiking read-outs, PSTHs and first-trial spikes of conversion `label`, when its
/// files exist.
fn export_spiking(
    export: &mut NpyExport,
    task_dir: &Path,
    label: &str,
    conditions: &str,
    sim_dt_ms: f64,
) -> Result<()> {
    let readout_path = task_dir.join(format!("spiking_{label}.bin"));
    if readout_path.exists() {
        let (readouts, psths): (Vec<Array2<f64>>, Vec<Array2<f64>>) =
            artifact::load(&readout_path, "spiking readouts")?;
        export.add(
            &format!("readout_{label}.npy"),
            &stack(&readouts)?,
            &format!(
                "trial-averaged spiking read-out (population rate filtered with the unit's time \
                 constant, divided by f_max), axes ({conditions}, continuous step, unit); row n \
                 is t = n * dt_ms"
            ),
            "activity (1 = f_max)",
        )?;
        export.add(
            &format!("psth_{label}.npy"),
            &stack(&psths)?,
            &format!(
                "trial-averaged population rate, axes ({conditions}, {PSTH_BIN_MS} ms bin, \
                 unit); bin k covers [k, k + 1) * {PSTH_BIN_MS} ms"
            ),
            "Hz",
        )?;
    }

    for condition in 0.. {
        let path = task_dir.join(format!("spikes_{label}_{condition}.bin"));
        if !path.exists() {
            break;
        }
        let record = data::read_spike_record(&path)?;
        let times_ms: Array1<f64> = record
            .steps
            .iter()
            .map(|&step| step as f64 * sim_dt_ms)
            .collect();
        let neurons = Array1::from(record.neurons.clone());
        let stem = format!("spikes_{label}_{condition}");
        export.add(
            &format!("{stem}_times_ms.npy"),
            &times_ms,
            &format!(
                "spike times of the first spiking trial of condition {condition}, in time \
                 order; pairs with {stem}_neurons.npy"
            ),
            "ms",
        )?;
        export.add(
            &format!("{stem}_neurons.npy"),
            &neurons,
            "global neuron index of each spike; population (unit) = index // n_neurons",
            "index",
        )?;
    }
    Ok(())
}

/// Writes the `.npy` export of a memory task folder into `task_dir/npy/`.
pub fn export_memory(task_dir: &Path, conversion: &ConversionParams) -> Result<()> {
    let mut export = NpyExport::new(&task_dir.join("npy"))?;
    let mut dt_ms = None;
    for (label, csv) in [
        ("calibrated", "continuous_calibrated.csv"),
        ("plain", "continuous_logistic.csv"),
    ] {
        let path = task_dir.join(csv);
        if !path.exists() {
            bail!(
                "{} is missing; run the memory pipeline before exporting",
                path.display()
            );
        }
        let table = Table::read(&path)?;
        let CueTraces {
            cues,
            dt_ms: step_ms,
            traces,
        } = read_cue_traces(&table)?;
        dt_ms = Some(step_ms);
        if label == "calibrated" {
            export.add(
                "cue_values.npy",
                &Array1::from(cues),
                "test cue values, in the order of the condition axis of every 3-D array",
                "activity",
            )?;
        }
        export.add(
            &format!("continuous_{label}.npy"),
            &stack(&traces)?,
            &format!(
                "continuous activity of the {label} net, axes (cue value, continuous step, \
                 unit); row n is t = n * dt_ms, the last unit is the output"
            ),
            "activity",
        )?;
        export_spiking(&mut export, task_dir, label, "cue value", conversion.dt_ms)?;
    }
    finish(export, "memory", dt_ms, conversion, task_dir)
}

/// Writes the `.npy` export of a wrist task folder into `task_dir/npy/`; `templates` are the
/// test trial's targets with NaN where a unit is not scored.
pub fn export_wrist(
    task_dir: &Path,
    conversion: &ConversionParams,
    templates: &Array2<f64>,
) -> Result<()> {
    let mut export = NpyExport::new(&task_dir.join("npy"))?;
    let mut dt_ms = None;
    for label in ["phi", "control"] {
        let path = task_dir.join(format!("traces_{label}.csv"));
        if !path.exists() {
            bail!(
                "{} is missing; run the wrist pipeline before exporting",
                path.display()
            );
        }
        let table = Table::read(&path)?;
        let (_, step_ms) = time_axis(&table)?;
        dt_ms = Some(step_ms);
        let continuous = table.unit_matrix("continuous_")?;
        let n = continuous.dim();
        export.add(
            &format!("continuous_{label}.npy"),
            &continuous.into_shape_with_order((1, n.0, n.1))?,
            &format!(
                "continuous activity of the {} net on the test trial, axes (condition, \
                 continuous step, unit); row n is t = n * dt_ms",
                if label == "phi" {
                    "method (b)"
                } else {
                    "control"
                }
            ),
            "activity",
        )?;
        export_spiking(&mut export, task_dir, label, "condition", conversion.dt_ms)?;
    }
    export.add(
        "templates.npy",
        templates,
        "test trial targets (motoneuron templates), axes (continuous step, unit); row n is \
         t = (n + 1) * dt_ms and pairs with row n + 1 of continuous_*.npy; NaN where a unit \
         is not scored",
        "activity",
    )?;
    finish(export, "wrist", dt_ms, conversion, task_dir)
}

fn finish(
    export: NpyExport,
    task: &str,
    dt_ms: Option<f64>,
    conversion: &ConversionParams,
    task_dir: &Path,
) -> Result<()> {
    let context = json!({
        "dt_ms": dt_ms,
        "sim_dt_ms": conversion.dt_ms,
        "n_neurons": conversion.n_neurons,
        "note": "dt_ms is the continuous time step of traces and read-outs; sim_dt_ms is the \
                 spiking simulation step; n_neurons is the population size per unit",
    });
    let n_files = export.finish(task, context)?;
    info!(task, folder = %task_dir.join("npy").display(), n_files, "npy export written");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits an `.npy` file into its header text and data bytes after checking the NPY 1.0
    /// preamble: the magic string `\x93NUMPY`, version bytes 1 and 0, a little-endian u16
    /// header length, and a header padded with spaces and ended by `\n` so that the data
    /// start at a multiple of 64 bytes.
    fn parse_v1(bytes: &[u8]) -> (String, &[u8]) {
        assert_eq!(&bytes[..6], b"\x93NUMPY", "magic string");
        assert_eq!(bytes[6], 1, "major version");
        assert_eq!(bytes[7], 0, "minor version");
        let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        let data_start = 10 + header_len;
        assert_eq!(data_start % 64, 0, "data offset {data_start}");
        assert_eq!(bytes[data_start - 1], b'\n', "header terminator");
        let header = std::str::from_utf8(&bytes[10..data_start]).unwrap();
        assert!(header.is_ascii());
        (header.trim_end().to_string(), &bytes[data_start..])
    }

    #[test]
    fn npy_header_f64_matrix() {
        let array = ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, -0.5]]);
        let bytes = npy_bytes(&array).unwrap();
        let (header, payload) = parse_v1(&bytes);
        assert_eq!(
            header,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}"
        );
        // Data in C order: row 0, then row 1, each value 8 bytes little-endian.
        let expected: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, -0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(payload, expected.as_slice());
    }

    #[test]
    fn npy_header_vector_and_transposed() {
        // A 1-D shape is the Python tuple (3,), with the trailing comma.
        let neurons = Array1::from(vec![7u32, 0, 65_536]);
        let bytes = npy_bytes(&neurons).unwrap();
        let (header, payload) = parse_v1(&bytes);
        assert_eq!(
            header,
            "{'descr': '<u4', 'fortran_order': False, 'shape': (3,)}"
        );
        assert_eq!(payload, &[7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);

        // A transposed view is written in C order of its own shape, not in memory order.
        let array = ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).reversed_axes();
        let bytes = npy_bytes(&array).unwrap();
        let (header, payload) = parse_v1(&bytes);
        assert!(header.contains("'fortran_order': False"), "{header}");
        let expected: Vec<u8> = [1.0f64, 3.0, 2.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(payload, expected.as_slice());
    }

    #[test]
    fn index_lists_files() {
        let dir = std::env::temp_dir().join(format!("npy-index-{}", std::process::id()));
        let mut export = NpyExport::new(&dir).unwrap();
        export
            .add("a.npy", &Array2::<f64>::zeros((4, 2)), "zeros", "Hz")
            .unwrap();
        assert_eq!(export.finish("memory", json!({})).unwrap(), 1);
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap())
                .unwrap();
        assert_eq!(index["files"][0]["file"], "a.npy");
        assert_eq!(index["files"][0]["shape"], json!([4, 2]));
        assert_eq!(index["files"][0]["dtype"], "<f8");
        assert_eq!(index["files"][0]["units"], "Hz");
        assert!(dir.join("a.npy").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
