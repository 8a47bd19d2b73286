//! Loading of the files a reproduction writes: CSV tables, the summary and binary artifacts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use iaf_sim::SpikeRecord;
use ndarray::Array2;
use serde_json::Value;

use crate::artifact;

/// A numeric CSV table stored column by column.
pub struct Table {
    /// File the table was read from, for error messages.
    pub source: PathBuf,
    /// Column names from the header line.
    pub names: Vec<String>,
    /// One vector per column, every one `n_rows` long.
    pub columns: Vec<Vec<f64>>,
}

impl Table {
    /// Reads a CSV file with a header line and numeric cells.
    pub fn read(path: &Path) -> Result<Table> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?;
        Table::parse(&text, path)
    }

    /// Parses CSV text; `source` names the file in error messages.
    pub fn parse(text: &str, source: &Path) -> Result<Table> {
        let mut lines = text.lines().filter(|line| !line.trim().is_empty());
        let header = lines
            .next()
            .with_context(|| format!("{} is empty: expected a header line", source.display()))?;
        let names: Vec<String> = header.split(',').map(|n| n.trim().to_string()).collect();
        let mut columns = vec![Vec::new(); names.len()];
        for (line_idx, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != names.len() {
                bail!(
                    "{} line {}: {} cells, but the header has {} columns",
                    source.display(),
                    line_idx + 2,
                    cells.len(),
                    names.len()
                );
            }
            for (column, cell) in columns.iter_mut().zip(cells) {
                let value: f64 = cell.trim().parse().with_context(|| {
                    format!(
                        "{} line {}: invalid number {cell:?}",
                        source.display(),
                        line_idx + 2
                    )
                })?;
                column.push(value);
            }
        }
        Ok(Table {
            source: source.to_path_buf(),
            names,
            columns,
        })
    }

    /// Number of data rows.
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Returns the column called `name`.
    pub fn column(&self, name: &str) -> Result<&[f64]> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|idx| self.columns[idx].as_slice())
            .with_context(|| {
                format!(
                    "{} has no column {name:?} (columns: {})",
                    self.source.display(),
                    self.names.join(", ")
                )
            })
    }

    /// Returns the columns whose name starts with `prefix`, with the rest of the name, in
    /// file order.
    pub fn columns_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [f64])> + 'a {
        self.names
            .iter()
            .zip(&self.columns)
            .filter_map(move |(name, column)| {
                name.strip_prefix(prefix)
                    .map(|rest| (rest, column.as_slice()))
            })
    }

    /// Collects columns `<prefix>0`, `<prefix>1`, ... into a time-major matrix
    /// `(n_rows, n_units)`.
    pub fn unit_matrix(&self, prefix: &str) -> Result<Array2<f64>> {
        let n_units = self.columns_with_prefix(prefix).count();
        if n_units == 0 {
            bail!(
                "{} has no columns named {prefix}<unit>",
                self.source.display()
            );
        }
        let mut matrix = Array2::zeros((self.n_rows(), n_units));
        for unit in 0..n_units {
            let column = self.column(&format!("{prefix}{unit}"))?;
            matrix
                .column_mut(unit)
                .assign(&ndarray::ArrayView1::from(column));
        }
        Ok(matrix)
    }
}

/// Reads `path` with `read` when it exists; `None` when it does not.
pub fn read_optional<T>(path: &Path, read: impl FnOnce(&Path) -> Result<T>) -> Result<Option<T>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Reads and parses `summary.json`.
pub fn read_summary(task_dir: &Path) -> Result<Value> {
    let path = task_dir.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid JSON in {}", path.display()))
}

/// Returns the value at a dotted path such as `spiking.median_r`; JSON null counts as absent.
pub fn value_at<'a>(summary: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(summary, |value, key| value.get(key))
        .filter(|value| !value.is_null())
}

/// Returns the number at a dotted path, if it is present and a number.
pub fn number_at(summary: &Value, path: &str) -> Option<f64> {
    value_at(summary, path).and_then(Value::as_f64)
}

/// Per-unit agreement numbers from a summary's `units` list.
pub struct UnitNumbers {
    /// Pearson r; `None` where it is undefined.
    pub pearson_r: Option<f64>,
    /// NRMSE; `None` where it is undefined.
    pub nrmse: Option<f64>,
    /// RMS error in activity units.
    pub rms_error: Option<f64>,
}

/// Returns the per-unit agreement numbers under `path` (for example `spiking.units`).
pub fn unit_numbers(summary: &Value, path: &str) -> Vec<UnitNumbers> {
    let Some(units) = value_at(summary, path).and_then(Value::as_array) else {
        return Vec::new();
    };
    units
        .iter()
        .map(|unit| UnitNumbers {
            pearson_r: unit.get("pearson_r").and_then(Value::as_f64),
            nrmse: unit.get("nrmse").and_then(Value::as_f64),
            rms_error: unit.get("rms_error").and_then(Value::as_f64),
        })
        .collect()
}

/// Returns the failure messages of a summary.
pub fn failures(summary: &Value) -> Vec<String> {
    value_at(summary, "failures")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| f.as_str().map_or_else(|| f.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Loads the trial-averaged read-outs of `spiking_<label>.bin`, one `(n_steps + 1, n_units)`
/// matrix per input condition. The file also contains the mean PSTHs, which the report does not
/// use because the read-outs carry the same rates at every continuous time step.
pub fn read_spiking_readouts(path: &Path) -> Result<Vec<Array2<f64>>> {
    let (readouts, _psths_hz): (Vec<Array2<f64>>, Vec<Array2<f64>>) =
        artifact::load(path, "spiking readouts")?;
    Ok(readouts)
}

/// Finds the spike record of the first trial of the first condition of conversion `label`:
/// the file `spikes_<label>_<condition>.bin` whose condition sorts first, as a number where it
/// ends in one (`0`, `cue0`).
pub fn first_spike_file(task_dir: &Path, label: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("spikes_{label}_");
    let entries = std::fs::read_dir(task_dir)
        .with_context(|| format!("failed to list {}", task_dir.display()))?;
    let mut candidates = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to list {}", task_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(condition) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".bin"))
        else {
            continue;
        };
        let digits: String = condition
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let index = digits.parse::<u64>().unwrap_or(u64::MAX);
        candidates.push((index, name, entry.path()));
    }
    candidates.sort();
    Ok(candidates.into_iter().next().map(|(_, _, path)| path))
}

/// Loads a spike record written by the spiking stage.
pub fn read_spike_record(path: &Path) -> Result<SpikeRecord> {
    artifact::load(path, "spike record")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_parses_columns() {
        let table = Table::parse("t_ms,y_0,y_1\n0,1,2\n1,3.5,-4\n", Path::new("x.csv")).unwrap();
        assert_eq!(table.n_rows(), 2);
        assert_eq!(table.column("y_1").unwrap(), &[2.0, -4.0]);
        let matrix = table.unit_matrix("y_").unwrap();
        assert_eq!(matrix.dim(), (2, 2));
        assert_eq!(matrix[[1, 0]], 3.5);
    }

    #[test]
    fn table_rejects_bad_rows() {
        let short = Table::parse("a,b\n1\n", Path::new("x.csv")).err().unwrap();
        assert!(format!("{short}").contains("1 cells"), "{short}");
        let word = Table::parse("a\nfoo\n", Path::new("x.csv")).err().unwrap();
        assert!(format!("{word}").contains("invalid number"), "{word}");
        let table = Table::parse("a\n1\n", Path::new("x.csv")).unwrap();
        let missing = table.column("b").err().unwrap();
        assert!(
            format!("{missing}").contains("no column \"b\""),
            "{missing}"
        );
    }

    #[test]
    fn value_at_follows_dotted_paths() {
        let summary = json!({"spiking": {"median_r": 0.5, "mean_isi_cv": null}});
        assert_eq!(number_at(&summary, "spiking.median_r"), Some(0.5));
        assert!(value_at(&summary, "spiking.mean_isi_cv").is_none());
        assert!(value_at(&summary, "plain.median_r").is_none());
    }
}
