//! The wrist task's report: the tabulated activation, the motoneuron pools, every unit,
//! rasters and the agreement tables of method (b) and of the control.

use anyhow::Result;
use ndarray::Array2;
use serde_json::Value;
use tasks_wrist::UnitGroup;

use super::data::{self, Table};
use super::plots::{self, GridFigure, Panel, Series, INK, PALETTE};
use super::{agreement, Gate, Report, SummaryRow};

/// Summary entries shown in the table; `checked` ones are acceptance checks of the wrist
/// pipeline, whose failure messages start with the same dotted name.
const SUMMARY_ROWS: [SummaryRow; 23] = [
    SummaryRow::info("activation.g", "gain g of the tabulation"),
    SummaryRow::info("activation.mu_0", "drive at x = 0"),
    SummaryRow::info("activation.f_max_hz", "rate scale f_max (Hz)"),
    SummaryRow::info(
        "activation.rms_measured_vs_siegert",
        "RMS of measured Phi - Siegert",
    ),
    SummaryRow::info("activation.phi_at_zero", "Phi(0)"),
    SummaryRow::info("activation.upper_limit", "upper limit of Phi"),
    SummaryRow {
        path: "continuous.accepted",
        meaning: "method (b) net: every continuous criterion met (gated in full runs)",
        gate: Gate::WhenTrue,
        failure_name: Some("continuous"),
        gated_by: None,
    },
    SummaryRow::info(
        "continuous.mn_template_nrmse",
        "method (b) net: median pool NRMSE to the templates",
    ),
    SummaryRow::info(
        "continuous.max_pool_nrmse",
        "method (b) net: worst pool NRMSE to the templates",
    ),
    SummaryRow::info(
        "continuous.nonpreferred_max",
        "method (b) net: max pool activity in the non-preferred direction",
    ),
    SummaryRow::info(
        "continuous.median_cm_rm_onset_ms",
        "method (b) net: median CM/RM onset (ms)",
    ),
    SummaryRow::info(
        "continuous.median_pool_onset_ms",
        "method (b) net: median pool onset (ms)",
    ),
    SummaryRow::info(
        "continuous.n_reciprocal_pathways",
        "method (b) net: reciprocal pathways",
    ),
    SummaryRow::checked("spiking.median_r", "method (b) spiking: median per-unit r"),
    SummaryRow::checked(
        "spiking.median_nrmse",
        "method (b) spiking: median per-unit NRMSE",
    ),
    SummaryRow::checked(
        "spiking.mn_nrmse",
        "method (b) spiking: median pool NRMSE to the templates (must beat the control)",
    ),
    SummaryRow::info(
        "spiking.mn_nrmse_continuous",
        "method (b) continuous: same measure",
    ),
    SummaryRow::checked(
        "spiking.max_population_rate_hz",
        "method (b) spiking: highest 10 ms population rate (Hz)",
    ),
    SummaryRow::checked(
        "spiking.mean_isi_cv",
        "method (b) spiking: mean ISI coefficient of variation",
    ),
    SummaryRow::info("control.median_r", "control spiking: median per-unit r"),
    SummaryRow::info(
        "control.median_nrmse",
        "control spiking: median per-unit NRMSE",
    ),
    SummaryRow::info(
        "control.mn_nrmse",
        "control spiking: median pool NRMSE to the templates",
    ),
    SummaryRow::info(
        "control.mean_isi_cv",
        "control spiking: mean ISI coefficient of variation",
    ),
];

/// Populations in the rasters, one from each of the groups CM flexor, CM extensor, EIN, IIN,
/// MN flexor and MN extensor, so every stage of the pathway shows.
const RASTER_UNITS: [usize; 6] = [0, 3, 10, 16, 20, 24];

/// Names the group of each unit of the wrist network with its usual abbreviation.
fn unit_roles(n_units: usize) -> Vec<String> {
    (0..n_units)
        .map(|unit| {
            let group = UnitGroup::ALL.iter().find(|g| g.units().contains(&unit));
            match group {
                Some(UnitGroup::CmFlexor) => "CM flexor",
                Some(UnitGroup::CmExtensor) => "CM extensor",
                Some(UnitGroup::RmFlexor) => "RM flexor",
                Some(UnitGroup::RmExtensor) => "RM extensor",
                Some(UnitGroup::Ein) => "EIN",
                Some(UnitGroup::Iin) => "IIN",
                Some(UnitGroup::MnFlexor) => "MN flexor",
                Some(UnitGroup::MnExtensor) => "MN extensor",
                _ => "unit",
            }
            .to_string()
        })
        .collect()
}

/// Continuous and spiking traces of one net, `(n_rows, n_units)` each.
struct NetTraces {
    dt_ms: f64,
    continuous: Array2<f64>,
    spiking: Array2<f64>,
}

fn read_traces(path: &std::path::Path) -> Result<NetTraces> {
    let table = Table::read(path)?;
    let (_, dt_ms) = super::time_axis(&table)?;
    Ok(NetTraces {
        dt_ms,
        continuous: table.unit_matrix("continuous_")?,
        spiking: table.unit_matrix("spiking_")?,
    })
}

/// One of the two wrist nets and the files that belong to it.
struct Net {
    label: &'static str,
    title: &'static str,
    traces_csv: &'static str,
    units_path: &'static str,
}

const NETS: [Net; 2] = [
    Net {
        label: "phi",
        title: "method (b) net, trained with Phi",
        traces_csv: "traces_phi.csv",
        units_path: "spiking.units",
    },
    Net {
        label: "control",
        title: "control net, trained with the logistic",
        traces_csv: "traces_control.csv",
        units_path: "control.units",
    },
];

/// Builds the wrist report into `report`.
pub fn build(report: &mut Report) -> Result<()> {
    report.outcome();
    report.page.heading(2, "Summary numbers");
    report.summary_table(&SUMMARY_ROWS);
    if let Some(criteria) = data::value_at(&report.summary, "continuous.failed_criteria")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
    {
        let items: Vec<String> = criteria.iter().map(super::format_value).collect();
        report
            .page
            .heading(3, "Continuous criteria the method (b) net misses");
        report.page.list(&items);
    }

    report
        .page
        .heading(2, "Tabulated activation Phi (method b)");
    phi_figure(report)?;

    let traces: Vec<Option<NetTraces>> = NETS
        .iter()
        .map(|net| data::read_optional(&report.path(net.traces_csv), read_traces))
        .collect::<Result<_>>()?;

    report.page.heading(2, "Motoneuron pools");
    match (&traces[0], &traces[1]) {
        (Some(phi), Some(control)) => pools_figure(report, phi, control)?,
        (None, _) => report.missing(NETS[0].traces_csv, "the motoneuron pool figure"),
        (_, None) => report.missing(NETS[1].traces_csv, "the motoneuron pool figure"),
    }

    for (net, net_traces) in NETS.iter().zip(&traces) {
        net_section(report, net, net_traces.as_ref())?;
    }
    Ok(())
}

fn phi_figure(report: &mut Report) -> Result<()> {
    let Some(table) = data::read_optional(&report.path("phi.csv"), Table::read)? else {
        report.missing("phi.csv", "the activation figure");
        return Ok(());
    };
    let x = table.column("x")?;
    let measured = table.column("phi_measured")?;
    let siegert = table.column("phi_siegert")?;
    let tabulated = table.column("phi_table")?;
    let pairs = |y: &[f64]| x.iter().copied().zip(y.iter().copied()).collect::<Vec<_>>();
    let error: Vec<f64> = measured.iter().zip(siegert).map(|(m, s)| m - s).collect();
    let x_span = (
        x.first().copied().unwrap_or(0.0),
        x.last().copied().unwrap_or(1.0),
    );

    let figure = GridFigure {
        title: "Tabulated spiking activation against the Siegert rate".to_string(),
        size: (1100, 800),
        layout: (2, 1),
        panels: vec![
            Panel {
                title: "Phi(x) = F(g x + mu_0) / f_max".to_string(),
                series: vec![
                    Series::line("Siegert (diffusion approximation)", INK, 2, pairs(siegert)),
                    Series::dashed("table used in training", PALETTE[1], 2, pairs(tabulated)),
                    Series::scatter("measured (spiking neurons)", PALETTE[0], 3, pairs(measured)),
                ],
                y_range: None,
                x_desc: "unit input x".to_string(),
                y_desc: "activity".to_string(),
                x_log2: false,
            },
            Panel {
                title: "measured - Siegert".to_string(),
                series: vec![
                    Series::line("", plots::GRAY, 1, vec![(x_span.0, 0.0), (x_span.1, 0.0)]),
                    Series::line("measured - Siegert", PALETTE[2], 2, pairs(&error)),
                ],
                y_range: None,
                x_desc: "unit input x".to_string(),
                y_desc: "difference".to_string(),
                x_log2: false,
            },
        ],
    };

    let s = &report.summary;
    let number = |path: &str| {
        data::number_at(s, path).map_or_else(|| "missing".to_string(), super::format_number)
    };
    let caption = format!(
        "Population rate of the spiking neurons measured at g = {}, mu_0 = {}, \
         f_max = {} Hz, divided by f_max, against the Siegert rate of the same neuron; RMS \
         difference {}, Phi(0) = {}, upper limit {} (phi.csv).",
        number("activation.g"),
        number("activation.mu_0"),
        number("activation.f_max_hz"),
        number("activation.rms_measured_vs_siegert"),
        number("activation.phi_at_zero"),
        number("activation.upper_limit"),
    );
    report.figure("phi", &caption, |path| plots::draw_grid(path, &figure))
}

/// Builds the template of `unit` as a thick grey line, empty when there is none.
fn template_series(templates: Option<&Table>, unit: usize) -> Series {
    let points = templates
        .and_then(|table| {
            let t_ms = table.column("t_ms").ok()?;
            let y = table.column(&format!("template_{unit}")).ok()?;
            Some(t_ms.iter().copied().zip(y.iter().copied()).collect())
        })
        .unwrap_or_default();
    Series::line("template", plots::lighten(plots::GRAY), 5, points)
}

fn pools_figure(report: &mut Report, phi: &NetTraces, control: &NetTraces) -> Result<()> {
    // Templates (t_ms, template_<unit>) of the test trial; older folders lack the file.
    let templates = data::read_optional(&report.path("templates.csv"), Table::read)?;
    let roles = unit_roles(phi.continuous.ncols());
    let pools: Vec<usize> = UnitGroup::MnFlexor
        .units()
        .chain(UnitGroup::MnExtensor.units())
        .filter(|&unit| unit < phi.continuous.ncols() && unit < control.continuous.ncols())
        .collect();
    let points = |m: &Array2<f64>, unit: usize, dt_ms: f64| -> Vec<(f64, f64)> {
        m.column(unit)
            .iter()
            .enumerate()
            .map(|(row, &y)| (row as f64 * dt_ms, y))
            .collect()
    };
    let panels = pools
        .iter()
        .map(|&unit| Panel {
            title: format!("unit {unit} ({})", roles[unit]),
            series: vec![
                template_series(templates.as_ref(), unit),
                Series::line(
                    "method (b): continuous",
                    PALETTE[0],
                    2,
                    points(&phi.continuous, unit, phi.dt_ms),
                ),
                Series::line(
                    "method (b): spiking",
                    plots::lighten(PALETTE[0]),
                    1,
                    points(&phi.spiking, unit, phi.dt_ms),
                ),
                Series::dashed(
                    "control: continuous",
                    PALETTE[1],
                    2,
                    points(&control.continuous, unit, control.dt_ms),
                ),
                Series::line(
                    "control: spiking",
                    plots::lighten(PALETTE[1]),
                    1,
                    points(&control.spiking, unit, control.dt_ms),
                ),
            ],
            y_range: None,
            x_desc: "time (ms)".to_string(),
            y_desc: "activity".to_string(),
            x_log2: false,
        })
        .collect();
    let figure = GridFigure {
        title: "Motoneuron pools: method (b) against the control".to_string(),
        size: (1500, 780),
        layout: (2, 4),
        panels,
    };
    let caption = "Flexor (top) and extensor (bottom) motoneuron pools on the test trial: the \
                   template the nets were trained to (thick grey, templates.csv), the \
                   continuous activity of each net and the trial-averaged read-out of its \
                   spiking network (population rate filtered with the unit's time constant, \
                   divided by f_max); traces_phi.csv and traces_control.csv.";
    if templates.is_none() {
        report.missing("templates.csv", "the templates in the motoneuron figure");
    }
    report.figure("motoneuron_pools", caption, |path| {
        plots::draw_grid(path, &figure)
    })
}

fn net_section(report: &mut Report, net: &Net, traces: Option<&NetTraces>) -> Result<()> {
    report
        .page
        .heading(2, &format!("Spiking network of the {}", net.title));
    let numbers = data::unit_numbers(&report.summary, net.units_path);
    let n_units = traces.map_or(numbers.len(), |t| t.continuous.ncols());
    let roles = unit_roles(n_units);

    match traces {
        Some(t) => {
            let pair = super::TracePair {
                label: String::new(),
                continuous_color: INK,
                spiking_color: PALETTE[0],
                continuous: &t.continuous,
                spiking: &t.spiking,
            };
            let figure = super::unit_grid(
                &format!("Every unit, {}", net.title),
                &[pair],
                &roles,
                t.dt_ms,
            );
            let caption = format!(
                "Continuous activity of every unit on the test trial and the trial-averaged \
                 read-out of its spiking population ({}).",
                net.traces_csv
            );
            report.figure(&format!("units_{}", net.label), &caption, |path| {
                plots::draw_grid(path, &figure)
            })?;
        }
        None => report.missing(
            net.traces_csv,
            "the per-unit figure and the trace-based columns",
        ),
    }

    let duration_ms = traces.map_or(0.0, |t| (t.continuous.nrows() as f64 - 1.0) * t.dt_ms);
    let populations: Vec<usize> = RASTER_UNITS
        .iter()
        .copied()
        .filter(|&u| u < n_units)
        .collect();
    let description = format!("{}: test trial, first spiking trial", net.title);
    if !super::raster(
        report,
        net.label,
        &populations,
        &roles,
        duration_ms,
        &description,
    )? {
        report.missing(
            &format!("spikes_{}_<condition>.bin", net.label),
            "the raster",
        );
    }

    report.page.heading(3, "Per-unit agreement");
    if numbers.is_empty() {
        report
            .page
            .note(&format!("summary.json has no {} list.", net.units_path));
        return Ok(());
    }
    let paired = traces.map(|t| agreement::PairedTraces {
        continuous: std::slice::from_ref(&t.continuous),
        spiking: std::slice::from_ref(&t.spiking),
        dt_ms: t.dt_ms,
    });
    let rows = agreement::unit_rows(numbers, &roles, paired);
    super::agreement_table(&mut report.page, &rows);
    report.page.paragraph(&super::agreement_caption());
    Ok(())
}
