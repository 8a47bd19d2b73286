//! Figures drawn with plotters into PNG files: panels of lines and points laid out in a grid
//! under one shared legend, and spike rasters.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Font family every figure uses; [`register_fonts`] binds it to DejaVu Sans.
const FONT: &str = "sans-serif";

/// Colour-blind-safe colours (Okabe and Ito), in the order series take them.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
];

/// Near-black for reference curves.
pub const INK: RGBColor = RGBColor(30, 30, 30);

/// Mid grey for reference lines.
pub const GRAY: RGBColor = RGBColor(150, 150, 150);

/// `color` moved 45 % of the way to white, for a thin trace drawn over its thick twin.
pub fn lighten(color: RGBColor) -> RGBColor {
    let mix = |c: u8| (f64::from(c) + 0.45 * (255.0 - f64::from(c))).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Registers DejaVu Sans as the `sans-serif` family. Plotters built without system font
/// support panics on the first text drawn on a bitmap unless a font is registered.
pub fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        let regular =
            plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
                .is_ok();
        let bold =
            plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok();
        regular && bold
    });
    if !*ok {
        bail!("failed to load the bundled DejaVu Sans font for the figures");
    }
    Ok(())
}

fn plot_error(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("failed to draw a figure: {err}")
}

/// Drawing style of a series.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// Continuous line.
    Solid,
    /// Dashed line.
    Dashed,
    /// One filled circle per point.
    Points,
}

/// One curve or point set of a panel.
pub struct Series {
    /// Legend label; series with an empty label are left out of the legend.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Line width or circle radius in pixels.
    pub width: u32,
    /// Line or points.
    pub stroke: Stroke,
    /// `(x, y)` points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// Creates a solid line.
    pub fn line(label: &str, color: RGBColor, width: u32, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.to_string(),
            color,
            width,
            stroke: Stroke::Solid,
            points,
        }
    }

    /// Creates a dashed line.
    pub fn dashed(label: &str, color: RGBColor, width: u32, points: Vec<(f64, f64)>) -> Series {
        Series {
            stroke: Stroke::Dashed,
            ..Series::line(label, color, width, points)
        }
    }

    /// Creates filled circles of radius `radius`.
    pub fn scatter(label: &str, color: RGBColor, radius: u32, points: Vec<(f64, f64)>) -> Series {
        Series {
            stroke: Stroke::Points,
            ..Series::line(label, color, radius, points)
        }
    }

    fn finite_points(&self) -> impl Iterator<Item = (f64, f64)> + Clone + '_ {
        self.points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    }
}

/// One chart of a figure.
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// Curves and point sets.
    pub series: Vec<Series>,
    /// Fixed y range; `None` fits the data with a 5 % margin.
    pub y_range: Option<(f64, f64)>,
    /// x axis label.
    pub x_desc: String,
    /// y axis label.
    pub y_desc: String,
    /// Whether the x values are base-2 logarithms of the plotted quantity; the tick labels
    /// then show the quantity itself (`2^x`).
    pub x_log2: bool,
}

/// A figure of panels in a grid of `layout.0` rows and `layout.1` columns, filled row by row.
pub struct GridFigure {
    /// Title across the top.
    pub title: String,
    /// Image size in pixels.
    pub size: (u32, u32),
    /// Rows and columns.
    pub layout: (usize, usize),
    /// Panels, at most `rows * cols`.
    pub panels: Vec<Panel>,
}

/// Draws `figure` as a PNG at `path`.
pub fn draw_grid(path: &Path, figure: &GridFigure) -> Result<()> {
    let (rows, cols) = figure.layout;
    if figure.panels.len() > rows * cols {
        bail!(
            "figure {:?} has {} panels but a {rows}x{cols} grid",
            figure.title,
            figure.panels.len()
        );
    }
    let root = BitMapBackend::new(path, figure.size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let body = root
        .titled(&figure.title, (FONT, 26).into_font().style(FontStyle::Bold))
        .map_err(plot_error)?;

    let entries = legend_entries(&figure.panels);
    let legend_height = legend_height(&body, &entries)?;
    let (legend_area, grid_area) = body.split_vertically(legend_height);
    draw_legend(&legend_area, &entries)?;

    let areas = grid_area.split_evenly((rows, cols));
    let n_panels = figure.panels.len();
    for (idx, (panel, area)) in figure.panels.iter().zip(&areas).enumerate() {
        let lowest_in_column = idx + cols >= n_panels;
        let first_column = idx % cols == 0;
        draw_panel(area, panel, lowest_in_column, first_column)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Formats a tick label: whole numbers without decimals, others with up to three significant
/// digits.
fn format_tick(value: &f64) -> String {
    let value = *value;
    if value.fract().abs() < 1e-9 * value.abs().max(1.0) {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn data_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |range, v| match range {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn padded((lo, hi): (f64, f64), fraction: f64) -> (f64, f64) {
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * fraction;
    (lo - pad, hi + pad)
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel,
    show_x_desc: bool,
    show_y_desc: bool,
) -> Result<()> {
    let points = || panel.series.iter().flat_map(Series::finite_points);
    // Points get a margin so the outermost circles are not cut in half.
    let has_points = panel.series.iter().any(|s| s.stroke == Stroke::Points);
    let x_range = padded(
        data_range(points().map(|(x, _)| x)).unwrap_or((0.0, 1.0)),
        if has_points { 0.02 } else { 0.0 },
    );
    let y_range = panel.y_range.unwrap_or_else(|| {
        padded(
            data_range(points().map(|(_, y)| y)).unwrap_or((0.0, 1.0)),
            0.05,
        )
    });

    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 19))
        .margin(8)
        .margin_right(16)
        .x_label_area_size(if show_x_desc { 52 } else { 30 })
        .y_label_area_size(if show_y_desc { 80 } else { 58 })
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(plot_error)?;
    let x_tick = |value: &f64| {
        if panel.x_log2 {
            format_tick(&2f64.powf(*value).round())
        } else {
            format_tick(value)
        }
    };
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.1))
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&x_tick)
        .y_label_formatter(&format_tick)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17));
    if show_x_desc {
        mesh.x_desc(&panel.x_desc);
    }
    if show_y_desc {
        mesh.y_desc(&panel.y_desc);
    }
    mesh.draw().map_err(plot_error)?;

    // Thin traces first, so the thick ones stay visible on top of them.
    let thin = panel.series.iter().filter(|s| s.width <= 1);
    let thick = panel.series.iter().filter(|s| s.width > 1);
    for series in thin.chain(thick) {
        let style = series.color.stroke_width(series.width);
        match series.stroke {
            Stroke::Solid => chart
                .draw_series(LineSeries::new(series.finite_points(), style))
                .map(|_| ()),
            Stroke::Dashed => chart
                .draw_series(DashedLineSeries::new(series.finite_points(), 8, 5, style))
                .map(|_| ()),
            Stroke::Points => chart
                .draw_series(
                    series
                        .finite_points()
                        .map(|p| Circle::new(p, series.width, series.color.filled())),
                )
                .map(|_| ()),
        }
        .map_err(plot_error)?;
    }
    Ok(())
}

/// A legend entry: label, colour, width and stroke.
type LegendEntry = (String, RGBColor, u32, Stroke);

fn legend_entries(panels: &[Panel]) -> Vec<LegendEntry> {
    let mut entries: Vec<LegendEntry> = Vec::new();
    for series in panels.iter().flat_map(|p| &p.series) {
        if series.label.is_empty() || entries.iter().any(|e| e.0 == series.label) {
            continue;
        }
        entries.push((
            series.label.clone(),
            series.color,
            series.width,
            series.stroke,
        ));
    }
    entries
}

const LEGEND_FONT_SIZE: u32 = 17;
const LEGEND_ROW_HEIGHT: i32 = 27;
const LEGEND_SAMPLE_WIDTH: i32 = 30;
const LEGEND_GAP: i32 = 28;

/// Places the legend entries left to right, wrapping at the area's width; returns the
/// top-left corner of each entry and the number of rows.
fn legend_layout(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    entries: &[LegendEntry],
) -> Result<(Vec<(i32, i32)>, i32)> {
    let width = area.dim_in_pixel().0 as i32;
    let font = TextStyle::from((FONT, LEGEND_FONT_SIZE).into_font());
    let (mut x, mut row) = (LEGEND_GAP, 0);
    let mut corners = Vec::new();
    for (label, ..) in entries {
        let text_width = area.estimate_text_size(label, &font).map_err(plot_error)?.0 as i32;
        let entry_width = LEGEND_SAMPLE_WIDTH + 8 + text_width;
        if x > LEGEND_GAP && x + entry_width > width {
            x = LEGEND_GAP;
            row += 1;
        }
        corners.push((x, row * LEGEND_ROW_HEIGHT));
        x += entry_width + LEGEND_GAP;
    }
    let n_rows = if entries.is_empty() { 0 } else { row + 1 };
    Ok((corners, n_rows))
}

fn legend_height(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    entries: &[LegendEntry],
) -> Result<i32> {
    let (_, n_rows) = legend_layout(area, entries)?;
    Ok(if n_rows == 0 {
        0
    } else {
        n_rows * LEGEND_ROW_HEIGHT + 8
    })
}

fn draw_legend(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    entries: &[LegendEntry],
) -> Result<()> {
    let (corners, _) = legend_layout(area, entries)?;
    let text_style = TextStyle::from((FONT, LEGEND_FONT_SIZE).into_font())
        .pos(Pos::new(HPos::Left, VPos::Center));
    for ((label, color, width, stroke), (x, y)) in entries.iter().zip(corners) {
        let mid = y + LEGEND_ROW_HEIGHT / 2;
        let style = color.stroke_width((*width).max(2));
        match stroke {
            Stroke::Solid => area.draw(&PathElement::new(
                vec![(x, mid), (x + LEGEND_SAMPLE_WIDTH, mid)],
                style,
            )),
            Stroke::Dashed => area
                .draw(&PathElement::new(vec![(x, mid), (x + 10, mid)], style))
                .and_then(|()| {
                    area.draw(&PathElement::new(
                        vec![(x + 18, mid), (x + LEGEND_SAMPLE_WIDTH, mid)],
                        style,
                    ))
                }),
            Stroke::Points => area.draw(&Circle::new(
                (x + LEGEND_SAMPLE_WIDTH / 2, mid),
                (*width).max(3),
                color.filled(),
            )),
        }
        .map_err(plot_error)?;
        area.draw(&Text::new(
            label.clone(),
            (x + LEGEND_SAMPLE_WIDTH + 8, mid),
            text_style.clone(),
        ))
        .map_err(plot_error)?;
    }
    Ok(())
}

/// Spikes of one population for a raster.
pub struct RasterPopulation {
    /// Label left of the population's rows.
    pub label: String,
    /// Second, smaller line under the label.
    pub detail: String,
    /// `(time_ms, neuron index within the population)` of each spike.
    pub spikes: Vec<(f64, u32)>,
}

/// A raster of several populations stacked from the top, `n_neurons` rows each.
pub struct RasterFigure {
    /// Title across the top.
    pub title: String,
    /// Populations, drawn top to bottom.
    pub populations: Vec<RasterPopulation>,
    /// Neurons per population.
    pub n_neurons: u32,
    /// Trial duration (ms).
    pub duration_ms: f64,
    /// Image width in pixels; the height follows from the number of neurons.
    pub width: u32,
}

/// Draws `figure` as a PNG at `path`.
pub fn draw_raster(path: &Path, figure: &RasterFigure) -> Result<()> {
    let n_rows = figure.populations.len() as u32 * figure.n_neurons;
    let plot_height = n_rows.clamp(200, 900);
    let size = (figure.width, plot_height + 110);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let body = root
        .titled(&figure.title, (FONT, 24).into_font().style(FontStyle::Bold))
        .map_err(plot_error)?;

    let label_width = 210;
    let mut chart = ChartBuilder::on(&body)
        .margin(10)
        .margin_right(20)
        .x_label_area_size(44)
        .y_label_area_size(label_width)
        .build_cartesian_2d(0.0..figure.duration_ms.max(1.0), 0.0..n_rows.max(1) as f64)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.08))
        .x_labels(8)
        .x_label_formatter(&format_tick)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_desc("time (ms)")
        .draw()
        .map_err(plot_error)?;

    // Populations from the top: population k fills rows from top - (k + 1) N to top - k N.
    let top = n_rows as f64;
    let n = f64::from(figure.n_neurons);
    let label_style =
        TextStyle::from((FONT, 17).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let detail_style =
        TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for (k, population) in figure.populations.iter().enumerate() {
        let color = PALETTE[k % 2];
        let base = top - (k as f64 + 1.0) * n;
        chart
            .draw_series(
                population.spikes.iter().map(|&(t_ms, neuron)| {
                    Pixel::new((t_ms, base + f64::from(neuron) + 0.5), color)
                }),
            )
            .map_err(plot_error)?;
        if k > 0 {
            let edge = base + n;
            chart
                .draw_series(LineSeries::new(
                    [(0.0, edge), (figure.duration_ms, edge)],
                    BLACK.mix(0.4).stroke_width(1),
                ))
                .map_err(plot_error)?;
        }
        let (x, y) = chart.backend_coord(&(0.0, base + n / 2.0));
        root.draw(&Text::new(
            population.label.clone(),
            (x - 10, y - 10),
            label_style.clone(),
        ))
        .map_err(plot_error)?;
        root.draw(&Text::new(
            population.detail.clone(),
            (x - 10, y + 12),
            detail_style.clone(),
        ))
        .map_err(plot_error)?;
    }
    root.present().map_err(plot_error)?;
    Ok(())
}
