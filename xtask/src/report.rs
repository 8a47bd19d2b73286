//! HTML reports of a reproduction: figures and tables built from the files a task pipeline
//! writes into its folder.
//!
//! [`write_report`] reads `summary.json`, the CSV traces and the binary artifacts of one task
//! folder and writes `report.html` (self-contained: every figure is an embedded PNG) and each
//! figure as a PNG under `figures/`. It only reads what the pipeline wrote: a file that an
//! older run did not write leaves a note in the report in place of the figure or column that
//! needs it.

mod agreement;
pub(crate) mod data;
pub(crate) mod html;
mod memory;
pub(crate) mod plots;
mod wrist;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tracing::info;

use crate::artifact;
use agreement::UnitRow;
use html::{Cell, Page, Status};
pub(crate) use memory::{read_cue_traces, CueTraces};
use ndarray::Array2;
use plots::{GridFigure, Panel, Series};
use plotters::style::RGBColor;

/// Writes `task_dir/report.html` and `task_dir/figures/*.png` for `task` (`"memory"` or
/// `"wrist"`) from the files in `task_dir`.
///
/// # Errors
/// Fails for an unknown task, a missing or invalid `summary.json`, a file that exists but
/// cannot be parsed, and when a figure or the page cannot be written.
pub fn write_report(task_dir: &Path, task: &str) -> Result<()> {
    plots::register_fonts()?;
    let mut report = Report::new(task_dir)?;
    match task {
        "memory" => memory::build(&mut report)?,
        "wrist" => wrist::build(&mut report)?,
        other => bail!("unknown task {other:?} for the report: expected \"memory\" or \"wrist\""),
    }
    let path = task_dir.join("report.html");
    let n_figures = report.n_figures;
    artifact::write_atomic(&path, report.page.finish().as_bytes())?;
    info!(task, path = %path.display(), n_figures, "report written");
    Ok(())
}

/// The page being built, with the folders it reads from and writes figures to.
struct Report {
    dir: PathBuf,
    figures_dir: PathBuf,
    summary: Value,
    page: Page,
    n_figures: usize,
}

impl Report {
    fn new(task_dir: &Path) -> Result<Report> {
        let summary = data::read_summary(task_dir)?;
        let figures_dir = task_dir.join("figures");
        std::fs::create_dir_all(&figures_dir)
            .with_context(|| format!("failed to create {}", figures_dir.display()))?;
        let task = summary.get("task").and_then(Value::as_str).unwrap_or("?");
        let page = Page::new(&format!("Reproduction report: {task} task"));
        Ok(Report {
            dir: task_dir.to_path_buf(),
            figures_dir,
            summary,
            page,
            n_figures: 0,
        })
    }

    fn path(&self, file_name: &str) -> PathBuf {
        self.dir.join(file_name)
    }

    /// Draws a figure into `figures/<name>.png` with `draw` and embeds it with `caption`.
    fn figure(
        &mut self,
        name: &str,
        caption: &str,
        draw: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let path = self.figures_dir.join(format!("{name}.png"));
        draw(&path).with_context(|| format!("failed to draw {}", path.display()))?;
        let png = std::fs::read(&path)
            .with_context(|| format!("failed to read back {}", path.display()))?;
        self.page.figure(&png, name, caption);
        self.n_figures += 1;
        Ok(())
    }

    /// Notes in the page that `file_name` is missing and what is left out for it.
    fn missing(&mut self, file_name: &str, left_out: &str) {
        self.page.note(&format!(
            "{file_name} is not in this folder; left out: {left_out}."
        ));
    }

    /// Appends the run's outcome and failure list.
    fn outcome(&mut self) {
        let seed = data::value_at(&self.summary, "seed").map_or("?".to_string(), Value::to_string);
        // The folder path is left out so that a replay into another folder writes the same
        // page.
        self.page.paragraph(&format!(
            "Seed: {seed}. manifest.json in this folder records the configuration, the source \
             version and the SHA-256 of every file; `cargo xtask replay manifest.json` reruns \
             the run and checks them."
        ));
        let passed = data::value_at(&self.summary, "passed").and_then(Value::as_bool);
        let failures = data::failures(&self.summary);
        match passed {
            Some(true) => self.page.badge(true, "every acceptance check passed"),
            Some(false) => self.page.badge(
                false,
                &format!("{} acceptance check(s) failed", failures.len()),
            ),
            None => self
                .page
                .note("summary.json does not say whether the run passed."),
        }
        if !failures.is_empty() {
            self.page.heading(3, "Failures");
            self.page.list(&failures);
        }
    }

    /// Appends a table of summary numbers: name, value and whether an acceptance check
    /// passed.
    fn summary_table(&mut self, rows: &[SummaryRow]) {
        let failures = data::failures(&self.summary);
        let cells: Vec<Vec<Cell>> = rows
            .iter()
            .map(|row| {
                let value = data::value_at(&self.summary, row.path);
                let failure_prefix = format!("{}:", row.failure_name.unwrap_or(row.path));
                let failed = failures.iter().any(|f| f.starts_with(&failure_prefix));
                let switched_off = row.gated_by.is_some_and(|flag| {
                    matches!(
                        data::value_at(&self.summary, flag),
                        Some(Value::Bool(false))
                    )
                });
                let status = match (failed, row.gate, value) {
                    (true, ..) => Status::Fail,
                    _ if switched_off => Status::Info,
                    (false, Gate::Checked, Some(_)) => Status::Pass,
                    (false, Gate::WhenTrue, Some(Value::Bool(true))) => Status::Pass,
                    _ => Status::Info,
                };
                vec![
                    Cell::text(row.path),
                    Cell::text(row.meaning),
                    Cell::number(value.map_or_else(|| "missing".to_string(), format_value)),
                    Cell::status(status),
                ]
            })
            .collect();
        self.page
            .table(&["summary entry", "meaning", "value", "check"], &cells);
    }
}

/// Treatment of a summary entry by the acceptance checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Always checked: passes unless a failure names it.
    Checked,
    /// Not checked: informative only, unless a failure names it.
    Info,
    /// A flag checked only in some configurations: `true` passes, a failure naming it fails,
    /// and `false` without such a failure was not checked.
    WhenTrue,
}

/// One line of the summary table.
struct SummaryRow {
    /// Dotted path into `summary.json`.
    path: &'static str,
    /// Description of the number.
    meaning: &'static str,
    /// Treatment by the acceptance checks.
    gate: Gate,
    /// Name the failure messages start with, when it differs from `path`.
    failure_name: Option<&'static str>,
    /// Dotted path of a configuration flag that switches the check on; `false` there means
    /// the entry was not checked in this run.
    gated_by: Option<&'static str>,
}

impl SummaryRow {
    const fn checked(path: &'static str, meaning: &'static str) -> SummaryRow {
        SummaryRow {
            path,
            meaning,
            gate: Gate::Checked,
            failure_name: None,
            gated_by: None,
        }
    }

    /// Returns a check that runs only when the flag at `flag_path` in `summary.json` is true.
    const fn checked_if(
        path: &'static str,
        meaning: &'static str,
        flag_path: &'static str,
    ) -> SummaryRow {
        SummaryRow {
            gated_by: Some(flag_path),
            ..SummaryRow::checked(path, meaning)
        }
    }

    const fn info(path: &'static str, meaning: &'static str) -> SummaryRow {
        SummaryRow {
            path,
            meaning,
            gate: Gate::Info,
            failure_name: None,
            gated_by: None,
        }
    }
}

/// Formats `value` with four significant digits, with an exponent outside 1e-3..1e5.
fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return "undefined".to_string();
    }
    if value == 0.0 {
        return "0".to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e9 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    if !(-3..5).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    format!("{value:.decimals$}")
}

fn format_optional(value: Option<f64>) -> String {
    value.map_or_else(|| "undefined".to_string(), format_number)
}

/// Formats a JSON value as table text: numbers rounded, lists joined, null as "none".
fn format_value(value: &Value) -> String {
    match value {
        Value::Null => "none".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format_number),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(format_value)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => value.to_string(),
    }
}

/// Appends the per-unit agreement table.
fn agreement_table(page: &mut Page, rows: &[UnitRow]) {
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|row| {
            let (lag, r_at_lag) = match row.best_lag {
                // A lag at the edge of the search only bounds the true lag.
                Some((lag_ms, r)) if lag_ms.abs() >= agreement::MAX_LAG_MS - 1e-9 => (
                    format!("{} (search limit)", format_number(lag_ms)),
                    format_number(r),
                ),
                Some((lag_ms, r)) => (format_number(lag_ms), format_number(r)),
                None => ("undefined".to_string(), "undefined".to_string()),
            };
            let percent = |fraction: f64| {
                if fraction.is_finite() {
                    format!("{:.1} %", 100.0 * fraction)
                } else {
                    "no trace".to_string()
                }
            };
            vec![
                Cell::number(row.unit.to_string()),
                Cell::text(row.role.clone()),
                Cell::number(format_optional(row.numbers.pearson_r)),
                Cell::number(format_optional(row.numbers.nrmse)),
                Cell::number(format_optional(row.numbers.rms_error)),
                Cell::number(lag),
                Cell::number(r_at_lag),
                Cell::number(percent(row.silent_fraction)),
                Cell::number(percent(row.saturated_fraction)),
            ]
        })
        .collect();
    let undefined: Vec<String> = rows
        .iter()
        .filter(|row| row.numbers.pearson_r.is_none())
        .map(|row| format!("{} ({})", row.unit, row.role))
        .collect();
    if !undefined.is_empty() {
        page.paragraph(&format!(
            "Units where r is undefined (a constant trace), left out of the medians: {}.",
            undefined.join(", ")
        ));
    }
    let silent = format!("silent (< {})", agreement::SILENT_BELOW);
    let saturated = format!("saturated (> {})", agreement::SATURATED_ABOVE);
    page.table(
        &[
            "unit",
            "role",
            "r",
            "NRMSE",
            "RMS error",
            "best lag (ms)",
            "r at best lag",
            &silent,
            &saturated,
        ],
        &cells,
    );
}

/// Returns the caption that explains the agreement table's columns.
fn agreement_caption() -> String {
    format!(
        "r, NRMSE and RMS error compare the trial-averaged spiking read-out with the continuous \
         activity in {bin} ms bins over all conditions (from summary.json); undefined where a \
         trace is constant. The best lag is the shift of the read-out behind the continuous \
         trace, within ±{lag} ms in steps of the continuous time step, that maximises the same \
         {bin} ms binned r (positive: the spiking network follows); at lag 0 that r is the r \
         column. Silent and saturated give the share of continuous time steps below {silent} \
         and above {saturated}.",
        bin = agreement::BIN_MS,
        lag = agreement::MAX_LAG_MS,
        silent = agreement::SILENT_BELOW,
        saturated = agreement::SATURATED_ABOVE
    )
}

/// Draws a raster of the first trial of conversion `label` for `populations` (unit indices)
/// and returns false when the spike file is missing.
fn raster(
    report: &mut Report,
    label: &str,
    populations: &[usize],
    roles: &[String],
    duration_ms: f64,
    description: &str,
) -> Result<bool> {
    let Some(path) = data::first_spike_file(&report.dir, label)? else {
        return Ok(false);
    };
    let record = data::read_spike_record(&path)?;
    // NOTE: the spike files do not store the simulation step or the population size; these
    // are the conversion defaults, which the task configurations keep.
    let defaults = convert::ConversionParams::default();
    let n_neurons = defaults.n_neurons as u32;
    let mut by_population: Vec<Vec<(f64, u32)>> = vec![Vec::new(); populations.len()];
    for (&step, &neuron) in record.steps.iter().zip(&record.neurons) {
        let unit = (neuron / n_neurons) as usize;
        if let Some(slot) = populations.iter().position(|&p| p == unit) {
            by_population[slot].push((step as f64 * defaults.dt_ms, neuron % n_neurons));
        }
    }
    let last_spike_ms = record
        .steps
        .iter()
        .max()
        .map_or(0.0, |&s| s as f64 * defaults.dt_ms);
    let figure = plots::RasterFigure {
        title: format!("Spike raster, {description}"),
        populations: populations
            .iter()
            .zip(by_population)
            .map(|(&unit, spikes)| plots::RasterPopulation {
                label: format!("unit {unit}"),
                detail: roles.get(unit).cloned().unwrap_or_default(),
                spikes,
            })
            .collect(),
        n_neurons,
        duration_ms: duration_ms.max(last_spike_ms),
        width: 1300,
    };
    let file_name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let caption = format!(
        "First trial of {file_name}: one dot per spike, {n_neurons} neurons per population \
         (population p holds neurons {n_neurons}p to {n_neurons}p + {}), spike times at the \
         simulation step of {} ms.",
        n_neurons - 1,
        defaults.dt_ms
    );
    report.figure(&format!("raster_{label}"), &caption, |png| {
        plots::draw_raster(png, &figure)
    })?;
    Ok(true)
}

/// Continuous traces and spiking read-outs of one condition, each `(n_rows, n_units)`,
/// with the legend label and colours they are drawn with.
struct TracePair<'a> {
    /// Legend label of the condition; empty when there is a single condition.
    label: String,
    continuous_color: RGBColor,
    spiking_color: RGBColor,
    continuous: &'a Array2<f64>,
    spiking: &'a Array2<f64>,
}

/// Creates legend-only series that explain the line styles: thick continuous, thin spiking.
fn style_legend(continuous_color: RGBColor, spiking_color: RGBColor) -> Vec<Series> {
    vec![
        Series::line("continuous (thick)", continuous_color, 2, Vec::new()),
        Series::line(
            "spiking, trial-averaged read-out (thin)",
            spiking_color,
            1,
            Vec::new(),
        ),
    ]
}

/// The continuous (thick) and spiking (thin) series of column `column` of every pair, rows
/// sampled every `dt_ms`.
fn trace_series(pairs: &[TracePair], column: usize, dt_ms: f64) -> Vec<Series> {
    let points = |m: &Array2<f64>| {
        m.column(column)
            .iter()
            .enumerate()
            .map(|(row, &y)| (row as f64 * dt_ms, y))
            .collect()
    };
    let mut series = Vec::new();
    for pair in pairs {
        series.push(Series::line(
            &pair.label,
            pair.continuous_color,
            2,
            points(pair.continuous),
        ));
        series.push(Series::line(
            "",
            pair.spiking_color,
            1,
            points(pair.spiking),
        ));
    }
    series
}

/// Small multiples: one panel per unit with the continuous trace (thick) and the spiking
/// read-out (thin) of every pair, rows sampled every `dt_ms`.
fn unit_grid(title: &str, pairs: &[TracePair], roles: &[String], dt_ms: f64) -> GridFigure {
    let n_units = pairs.first().map_or(0, |p| p.continuous.ncols());
    let cols = ((n_units as f64).sqrt().ceil() as usize).clamp(1, 5);
    let rows = n_units.div_ceil(cols).max(1);
    let mut panels: Vec<Panel> = (0..n_units)
        .map(|unit| {
            let series = trace_series(pairs, unit, dt_ms);
            // Every panel shows at least 0 to 1, so panels compare at a glance.
            let (lo, hi) = series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .filter(|y| y.is_finite())
                .fold((0.0f64, 1.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
            let pad = 0.04 * (hi - lo);
            Panel {
                title: format!(
                    "unit {unit} ({})",
                    roles.get(unit).map_or("", String::as_str)
                ),
                series,
                y_range: Some((lo - pad, hi + pad)),
                x_desc: "time (ms)".to_string(),
                y_desc: "activity".to_string(),
                x_log2: false,
            }
        })
        .collect();
    // With one condition the style entries carry its colours; with several, the colours name
    // the conditions and the style entries are neutral.
    let (continuous_color, spiking_color) = match pairs {
        [single] => (single.continuous_color, single.spiking_color),
        _ => (plots::INK, plots::GRAY),
    };
    if let Some(first) = panels.first_mut() {
        first
            .series
            .extend(style_legend(continuous_color, spiking_color));
    }
    GridFigure {
        title: title.to_string(),
        size: (cols as u32 * 360, rows as u32 * 270 + 130),
        layout: (rows, cols),
        panels,
    }
}

/// Time axis of a trace table: the `t_ms` column and its step.
pub(crate) fn time_axis(table: &data::Table) -> Result<(Vec<f64>, f64)> {
    let t_ms = table.column("t_ms")?.to_vec();
    let dt_ms = match t_ms.as_slice() {
        [first, second, ..] if second > first => second - first,
        _ => bail!(
            "{} needs at least two increasing t_ms values",
            table.source.display()
        ),
    };
    Ok((t_ms, dt_ms))
}

#[cfg(test)]
mod tests;
