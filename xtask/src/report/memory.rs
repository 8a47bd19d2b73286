//! The memory task's report: the f-I fit, the memory output, every unit, rasters and the
//! agreement tables of both conversions.

use anyhow::{bail, Result};
use ndarray::Array2;
use serde_json::Value;

use super::data::{self, Table};
use super::html::Cell;
use super::plots::{self, GridFigure, Panel, Series, INK, PALETTE};
use super::{agreement, Report, SummaryRow};

/// Summary entries shown in the table; `checked` ones are acceptance checks of the memory
/// pipeline, whose failure messages start with the same dotted name.
const SUMMARY_ROWS: [SummaryRow; 24] = [
    SummaryRow::checked(
        "continuous.delay_rms_error",
        "logistic net: delay-period RMS error",
    ),
    SummaryRow::checked(
        "continuous.max_error",
        "logistic net: max delay-period error",
    ),
    SummaryRow::checked_if(
        "continuous.sustained_units",
        "logistic net: sustained hidden units",
        "thresholds.require_unit_types",
    ),
    SummaryRow::checked_if(
        "continuous.phasic_cue_units",
        "logistic net: phasic cue hidden units",
        "thresholds.require_unit_types",
    ),
    SummaryRow::info(
        "continuous.held_values",
        "logistic net: output held per cue value",
    ),
    SummaryRow::info(
        "continuous.training.final_loss",
        "logistic net: final training loss",
    ),
    SummaryRow::info("fit.g", "fitted gain g"),
    SummaryRow::info("fit.mu_0", "fitted drive at x = 0"),
    SummaryRow::info("fit.f_max_hz", "fitted rate scale f_max (Hz)"),
    SummaryRow::checked("fit.rms", "f-I fit: RMS of Phi - logistic"),
    SummaryRow::checked("fit.max_error", "f-I fit: max |Phi - logistic|"),
    SummaryRow::info(
        "attractor_check.delay_rms_error_fitted_curve",
        "logistic net run with the fitted curve: delay RMS error",
    ),
    SummaryRow::checked(
        "calibrated.delay_rms_error",
        "calibrated net: delay-period RMS error",
    ),
    SummaryRow::checked(
        "calibrated.max_error",
        "calibrated net: max delay-period error",
    ),
    SummaryRow::info(
        "calibrated.held_values",
        "calibrated net: output held per cue value",
    ),
    SummaryRow::checked_if(
        "plain.median_r",
        "plain conversion: median per-unit r",
        "thresholds.gate_plain_conversion",
    ),
    SummaryRow::checked_if(
        "plain.median_nrmse",
        "plain conversion: median per-unit NRMSE",
        "thresholds.gate_plain_conversion",
    ),
    SummaryRow::info(
        "plain.max_output_error_first_second",
        "plain conversion: max output error, first second of the delay",
    ),
    SummaryRow::checked(
        "spiking.median_r",
        "calibrated conversion: median per-unit r",
    ),
    SummaryRow::checked(
        "spiking.median_nrmse",
        "calibrated conversion: median per-unit NRMSE",
    ),
    SummaryRow::checked(
        "spiking.max_output_error_first_second",
        "calibrated conversion: max output error, first second of the delay",
    ),
    SummaryRow::info(
        "spiking.max_population_rate_hz",
        "calibrated conversion: highest 10 ms population rate (Hz)",
    ),
    SummaryRow::info(
        "spiking.mean_isi_cv",
        "calibrated conversion: mean ISI coefficient of variation",
    ),
    SummaryRow::info(
        "plain.mean_isi_cv",
        "plain conversion: mean ISI coefficient of variation",
    ),
];

/// One of the two conversions of the memory pipeline and the files that belong to it.
struct Conversion {
    /// Label in the spiking file names.
    label: &'static str,
    /// Description in titles.
    title: &'static str,
    /// Continuous traces of the converted net.
    continuous_csv: &'static str,
    /// Summary path of the per-unit agreement.
    units_path: &'static str,
    /// Summary path of the unit classes of the converted net.
    classes_path: &'static str,
}

const CONVERSIONS: [Conversion; 2] = [
    Conversion {
        label: "calibrated",
        title: "calibrated net (fine-tuned with the fitted curve)",
        continuous_csv: "continuous_calibrated.csv",
        units_path: "spiking.units",
        classes_path: "calibrated.unit_classes",
    },
    Conversion {
        label: "plain",
        title: "logistic net (plain conversion)",
        continuous_csv: "continuous_logistic.csv",
        units_path: "plain.units",
        classes_path: "continuous.unit_classes",
    },
];

/// Continuous traces of every unit, one matrix `(n_rows, n_units)` per cue value.
pub(crate) struct CueTraces {
    pub cues: Vec<f64>,
    pub dt_ms: f64,
    pub traces: Vec<Array2<f64>>,
}

/// Reads a `continuous_*.csv` file (columns `cue`, `t_ms`, `y_<unit>`), splitting it where
/// the cue value changes.
pub(crate) fn read_cue_traces(table: &Table) -> Result<CueTraces> {
    let cue_column = table.column("cue")?;
    let all = table.unit_matrix("y_")?;
    let (_, dt_ms) = super::time_axis(table)?;
    let mut cues = Vec::new();
    let mut traces = Vec::new();
    let mut start = 0;
    for row in 1..=cue_column.len() {
        if row == cue_column.len() || cue_column[row] != cue_column[start] {
            cues.push(cue_column[start]);
            traces.push(all.slice(ndarray::s![start..row, ..]).to_owned());
            start = row;
        }
    }
    Ok(CueTraces {
        cues,
        dt_ms,
        traces,
    })
}

/// Names the role of each unit from the unit classes of the summary. The last unit is the
/// output.
fn unit_roles(summary: &Value, classes_path: &str, n_units: usize) -> Vec<String> {
    let classes = data::value_at(summary, classes_path)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    (0..n_units)
        .map(|unit| {
            if unit + 1 == n_units {
                return "output".to_string();
            }
            let Some(class) = classes.get(unit) else {
                return "hidden".to_string();
            };
            let flags: Vec<&str> = [
                ("sustained", "sustained"),
                ("phasic_cue", "phasic cue"),
                ("phasic_tonic", "phasic-tonic"),
                ("ramp", "ramp"),
            ]
            .into_iter()
            .filter(|(key, _)| class.get(key).and_then(Value::as_bool) == Some(true))
            .map(|(_, name)| name)
            .collect();
            if flags.is_empty() {
                "unclassified".to_string()
            } else {
                flags.join(", ")
            }
        })
        .collect()
}

/// Builds the memory report into `report`.
pub fn build(report: &mut Report) -> Result<()> {
    report.outcome();
    report.page.heading(2, "Summary numbers");
    report.summary_table(&SUMMARY_ROWS);

    report.page.heading(2, "f-I fit (method a)");
    fit_figure(report)?;

    selection_table(report);

    report.page.heading(2, "Memory output");
    output_figure(report)?;

    for conversion in &CONVERSIONS {
        conversion_section(report, conversion)?;
    }
    Ok(())
}

fn fit_figure(report: &mut Report) -> Result<()> {
    let Some(table) = data::read_optional(&report.path("fit.csv"), Table::read)? else {
        report.missing("fit.csv", "the f-I fit figure");
        return Ok(());
    };
    let x = table.column("x")?;
    let phi = table.column("phi_spiking")?;
    let logistic = table.column("logistic")?;
    let pairs = |y: &[f64]| x.iter().copied().zip(y.iter().copied()).collect::<Vec<_>>();
    let error: Vec<f64> = phi.iter().zip(logistic).map(|(p, l)| p - l).collect();
    let x_span = (
        x.first().copied().unwrap_or(0.0),
        x.last().copied().unwrap_or(1.0),
    );

    let figure = GridFigure {
        title: "Spiking f-I curve against the logistic".to_string(),
        size: (1100, 800),
        layout: (2, 1),
        panels: vec![
            Panel {
                title: "Phi(x) = F(g x + mu_0) / f_max and logistic(x)".to_string(),
                series: vec![
                    Series::line("logistic", INK, 2, pairs(logistic)),
                    Series::scatter("spiking Phi (measured)", PALETTE[0], 4, pairs(phi)),
                ],
                y_range: None,
                x_desc: "unit input x".to_string(),
                y_desc: "activity".to_string(),
                x_log2: false,
            },
            Panel {
                title: "error Phi - logistic".to_string(),
                series: vec![
                    Series::line("", plots::GRAY, 1, vec![(x_span.0, 0.0), (x_span.1, 0.0)]),
                    Series::line("error", PALETTE[1], 2, pairs(&error)),
                ],
                y_range: None,
                x_desc: "unit input x".to_string(),
                y_desc: "Phi - logistic".to_string(),
                x_log2: false,
            },
        ],
    };

    let s = &report.summary;
    let caption = format!(
        "Population f-I curve of the spiking neurons at the fitted parameters g = {}, \
         mu_0 = {}, f_max = {} Hz, divided by f_max, against the logistic it replaces. \
         RMS error {}, max error {} (fit.csv, summary.json fit).",
        fmt(s, "fit.g"),
        fmt(s, "fit.mu_0"),
        fmt(s, "fit.f_max_hz"),
        fmt(s, "fit.rms"),
        fmt(s, "fit.max_error"),
    );
    report.figure("fit", &caption, |path| plots::draw_grid(path, &figure))
}

/// Adds the choice among calibration runs, when the run made one (`calibrated.selection`).
fn selection_table(report: &mut Report) {
    let selection = &report.summary["calibrated"]["selection"];
    let Some(candidates) = selection["candidates"].as_array() else {
        return;
    };
    let chosen = selection["chosen"].as_u64();
    report.page.heading(2, "Choice among calibration runs");
    report.page.paragraph(
        "Each calibration run was converted and simulated on validation cue values of its own; \
         the run that meets the continuous thresholds there with the smallest first-second \
         output error was kept.",
    );
    let rows: Vec<Vec<Cell>> = candidates
        .iter()
        .map(|candidate| {
            let index = candidate["index"].as_u64();
            vec![
                Cell::number(index.map_or_else(|| "missing".to_string(), |i| i.to_string())),
                Cell::number(fmt(candidate, "delay_rms_error")),
                Cell::number(fmt(candidate, "max_error")),
                Cell::number(fmt(candidate, "max_output_error_first_second")),
                Cell::text(if index.is_some() && index == chosen {
                    "kept"
                } else {
                    ""
                }),
            ]
        })
        .collect();
    report.page.table(
        &[
            "run",
            "delay RMS error",
            "max error",
            "first-second output error",
            "",
        ],
        &rows,
    );
}

/// Formats the summary number at `path`, or returns "missing".
fn fmt(summary: &Value, path: &str) -> String {
    data::number_at(summary, path).map_or_else(|| "missing".to_string(), super::format_number)
}

fn output_figure(report: &mut Report) -> Result<()> {
    let Some(table) = data::read_optional(&report.path("output_traces.csv"), Table::read)? else {
        report.missing("output_traces.csv", "the memory output figure");
        return Ok(());
    };

    // One thick continuous and one thin spiking trace per cue value, in one colour.
    let (t_ms, _) = super::time_axis(&table)?;
    let points = |y: &[f64]| {
        t_ms.iter()
            .copied()
            .zip(y.iter().copied())
            .collect::<Vec<_>>()
    };
    let mut series = Vec::new();
    for (idx, (cue, continuous)) in table.columns_with_prefix("continuous_").enumerate() {
        let spiking = table.column(&format!("spiking_{cue}"))?;
        let color = PALETTE[idx % PALETTE.len()];
        series.push(Series::line(
            &format!("cue {cue}"),
            color,
            2,
            points(continuous),
        ));
        series.push(Series::line("", plots::lighten(color), 1, points(spiking)));
        // Older folders have no target columns.
        if let Ok(target) = table.column(&format!("target_{cue}")) {
            series.push(Series::dashed("", color, 1, points(target)));
        }
    }
    series.push(Series::dashed(
        "target: the cue value over the delay (dashed)",
        plots::GRAY,
        1,
        Vec::new(),
    ));
    series.extend(super::style_legend(INK, plots::GRAY));

    let figure = GridFigure {
        title: "Memory output, calibrated net: continuous and trial-averaged spiking".to_string(),
        size: (1300, 650),
        layout: (1, 1),
        panels: vec![Panel {
            title: String::new(),
            series,
            y_range: None,
            x_desc: "time (ms)".to_string(),
            y_desc: "output activity".to_string(),
            x_log2: false,
        }],
    };

    let caption = "Output unit of the calibrated net for each test cue value: the continuous \
                   activity (thick), the trial-averaged read-out of the converted spiking \
                   network (thin, same colour), whose population rate is divided by f_max, and \
                   the target, the cue value held from cue offset to the end of the delay \
                   (dashed); output_traces.csv.";
    report.figure("memory_output", caption, |path| {
        plots::draw_grid(path, &figure)
    })
}

fn conversion_section(report: &mut Report, conversion: &Conversion) -> Result<()> {
    report
        .page
        .heading(2, &format!("Spiking network of the {}", conversion.title));
    let continuous = data::read_optional(&report.path(conversion.continuous_csv), |path| {
        read_cue_traces(&Table::read(path)?)
    })?;
    let readout_file = format!("spiking_{}.bin", conversion.label);
    let readouts = data::read_optional(&report.path(&readout_file), data::read_spiking_readouts)?;
    let numbers = data::unit_numbers(&report.summary, conversion.units_path);
    let n_units = continuous
        .as_ref()
        .and_then(|c| c.traces.first().map(|t| t.ncols()))
        .or_else(|| readouts.as_ref().and_then(|r| r.first().map(|m| m.ncols())))
        .unwrap_or(numbers.len());
    let roles = unit_roles(&report.summary, conversion.classes_path, n_units);

    // Every unit: continuous traces against the spiking read-outs.
    let paired = match (&continuous, &readouts) {
        (Some(c), Some(r)) => {
            check_shapes(c, r, conversion)?;
            unit_figure(report, conversion, c, r, &roles)?;
            Some(agreement::PairedTraces {
                continuous: &c.traces,
                spiking: r,
                dt_ms: c.dt_ms,
            })
        }
        (None, _) => {
            report.missing(
                conversion.continuous_csv,
                "the per-unit figure and the trace-based columns",
            );
            None
        }
        (_, None) => {
            report.missing(
                &readout_file,
                "the per-unit figure and the trace-based columns",
            );
            None
        }
    };

    // Rasters: the output and the most active hidden populations.
    let duration_ms = continuous.as_ref().map_or(0.0, |c| {
        c.traces.first().map_or(0.0, |t| t.nrows() as f64 - 1.0) * c.dt_ms
    });
    let populations = raster_populations(report, conversion.label, n_units)?;
    let first_cue = continuous
        .as_ref()
        .and_then(|c| c.cues.first())
        .map_or_else(|| "first cue value".to_string(), |cue| format!("cue {cue}"));
    let description = format!("{}: {first_cue}, first spiking trial", conversion.title);
    if !super::raster(
        report,
        conversion.label,
        &populations,
        &roles,
        duration_ms,
        &description,
    )? {
        report.missing(
            &format!("spikes_{}_<condition>.bin", conversion.label),
            "the raster",
        );
    }

    // Agreement table.
    report.page.heading(3, "Per-unit agreement");
    if numbers.is_empty() {
        report.page.note(&format!(
            "summary.json has no {} list.",
            conversion.units_path
        ));
        return Ok(());
    }
    let rows = agreement::unit_rows(numbers, &roles, paired);
    super::agreement_table(&mut report.page, &rows);
    report.page.paragraph(&super::agreement_caption());
    Ok(())
}

fn check_shapes(
    continuous: &CueTraces,
    readouts: &[Array2<f64>],
    conversion: &Conversion,
) -> Result<()> {
    let same = continuous.traces.len() == readouts.len()
        && continuous
            .traces
            .iter()
            .zip(readouts)
            .all(|(c, r)| c.dim() == r.dim());
    if !same {
        bail!(
            "{} ({} cue values of shape {:?}) and spiking_{}.bin ({} conditions of shape {:?}) \
             do not match; rerun the pipeline so both come from the same run",
            conversion.continuous_csv,
            continuous.traces.len(),
            continuous.traces.first().map(Array2::dim),
            conversion.label,
            readouts.len(),
            readouts.first().map(Array2::dim),
        );
    }
    Ok(())
}

/// Picks the output population and up to five hidden populations with the most spikes in
/// the first trial, in unit order.
fn raster_populations(report: &Report, label: &str, n_units: usize) -> Result<Vec<usize>> {
    let n_neurons = convert::ConversionParams::default().n_neurons as u32;
    let Some(path) = data::first_spike_file(&report.dir, label)? else {
        return Ok(Vec::new());
    };
    let record = data::read_spike_record(&path)?;
    let output = n_units.saturating_sub(1);
    let mut counts = vec![0usize; output];
    for &neuron in &record.neurons {
        if let Some(count) = counts.get_mut((neuron / n_neurons) as usize) {
            *count += 1;
        }
    }
    let mut hidden: Vec<usize> = (0..output).collect();
    hidden.sort_by_key(|&unit| std::cmp::Reverse(counts[unit]));
    hidden.truncate(5);
    hidden.sort_unstable();
    hidden.push(output);
    Ok(hidden)
}

/// Pairs the traces of cue value `cue`, coloured by its position `idx` among the cue values.
fn cue_pair<'a>(
    idx: usize,
    cue: &str,
    continuous: &'a Array2<f64>,
    spiking: &'a Array2<f64>,
) -> super::TracePair<'a> {
    let color = PALETTE[idx % PALETTE.len()];
    super::TracePair {
        label: format!("cue {cue}"),
        continuous_color: color,
        spiking_color: plots::lighten(color),
        continuous,
        spiking,
    }
}

fn unit_figure(
    report: &mut Report,
    conversion: &Conversion,
    continuous: &CueTraces,
    readouts: &[Array2<f64>],
    roles: &[String],
) -> Result<()> {
    let pairs: Vec<super::TracePair> = continuous
        .cues
        .iter()
        .zip(continuous.traces.iter().zip(readouts))
        .enumerate()
        .map(|(idx, (cue, (c, s)))| cue_pair(idx, &cue.to_string(), c, s))
        .collect();
    let figure = super::unit_grid(
        &format!("Every unit, {}", conversion.title),
        &pairs,
        roles,
        continuous.dt_ms,
    );
    let caption = format!(
        "Continuous activity of every unit (thick) and the trial-averaged read-out of its \
         spiking population (thin, same colour), for each test cue value ({} and \
         spiking_{}.bin). The read-out is the population rate filtered with the unit's time \
         constant and divided by f_max.",
        conversion.continuous_csv, conversion.label
    );
    report.figure(&format!("units_{}", conversion.label), &caption, |path| {
        plots::draw_grid(path, &figure)
    })
}
