//! `cargo xtask sweep`: agreement of the spiking network with its continuous twin against the
//! population size, over several conversion seeds.
//!
//! The sweep runs the task once (training is skipped with `--reuse-trained` when an earlier
//! run left its networks in the same folder), then converts the trained network again at
//! each population size with each seed and simulates it. It writes `sweep.csv` (one row per
//! size and seed), `sweep.json` (rows, statistics per size and the noise floor) and
//! `sweep.html` with the figure into `<out>/<task>-sweep/`.
//!
//! Noise floor: for each measure, the step from one size to the next helps when the mean
//! improves by more than the larger seed standard deviation of the two sizes. The floor is
//! the smallest size from which no later step helps; it needs at least two seeds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use convert::seeds::stream_seed;
use serde::Serialize;
use serde_json::json;
use tracing::info;

use crate::manifest::{self, RunSettings, TaskConfig};
use crate::report::html::{Cell, Page};
use crate::report::plots::{self, GridFigure, Panel, Series};
use crate::spiking::SpikingRuns;
use crate::training::progress_bar;
use crate::{artifact, memory, wrist, Task};

/// Options of `cargo xtask sweep`.
#[derive(Args)]
pub struct SweepArgs {
    /// Task to sweep: memory or wrist (`all` is rejected, because each sweep converts one
    /// task's network).
    #[arg(long, value_enum)]
    pub task: Task,
    /// Population sizes (neurons per unit), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "25,50,100,200,400")]
    pub neurons: Vec<usize>,
    /// Conversion seeds per population size.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Spiking trials per condition (default: the configuration's `n_trials`).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Seed of the task run and base of the conversion seeds.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Use the quick configuration.
    #[arg(long)]
    pub quick: bool,
    /// Configuration file (`.toml` or `.json`) replacing the built-in defaults of the task.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Folder of the task run; the sweep goes to `<out>/<task>-sweep/`.
    #[arg(long, default_value_os_t = crate::manifest::workspace_root().join("target/sweep"))]
    pub out: PathBuf,
    /// Load networks trained by an earlier run in `--out` instead of training again.
    #[arg(long)]
    pub reuse_trained: bool,
    /// Worker threads (default: all cores); results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Numbers measured at one population size and seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointMeasure {
    /// Median per-unit Pearson r over units where it is defined.
    pub median_r: Option<f64>,
    /// Median per-unit NRMSE over units where it is defined.
    pub median_nrmse: Option<f64>,
    /// Task error: memory, max output error over the first second of the delay; wrist,
    /// median motoneuron pool NRMSE to the templates.
    pub task_error: f64,
    /// Units whose r is undefined (a constant trace).
    pub n_undefined_r: usize,
    /// Highest 10 ms population rate (Hz).
    pub max_rate_hz: f64,
    /// Mean ISI coefficient of variation.
    pub mean_isi_cv: Option<f64>,
}

impl PointMeasure {
    /// Collects the numbers of one spiking validation.
    pub fn of(runs: &SpikingRuns, task_error: f64) -> PointMeasure {
        PointMeasure {
            median_r: runs.median_r,
            median_nrmse: runs.median_nrmse,
            task_error,
            n_undefined_r: runs
                .agreement
                .iter()
                .filter(|a| a.pearson_r.is_none())
                .count(),
            max_rate_hz: runs.max_rate_hz,
            mean_isi_cv: runs.mean_isi_cv,
        }
    }
}

/// One row of `sweep.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    /// Neurons per population.
    pub n_neurons: usize,
    /// Index of the conversion seed.
    pub seed_index: usize,
    /// Conversion seed.
    pub seed: u64,
    /// Measured numbers.
    #[serde(flatten)]
    pub measure: PointMeasure,
    /// Wall time of the point (s).
    pub seconds: f64,
}

/// Whether a measure improves upwards (r) or downwards (errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Larger is better.
    Higher,
    /// Smaller is better.
    Lower,
}

/// Statistics of one measure at one population size, over the seeds where it is defined.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeStats {
    /// Neurons per population.
    pub n_neurons: usize,
    /// Seeds with a defined value.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1); 0 for one seed.
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Worst value: `min` for a measure where higher is better, else `max`.
    pub worst: f64,
}

/// Computes the statistics of `values` (non-finite ones skipped); `None` when none is finite.
pub fn size_stats(n_neurons: usize, values: &[f64], better: Better) -> Option<SizeStats> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    let n = finite.len();
    let mean = finite.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let worst = match better {
        Better::Higher => min,
        Better::Lower => max,
    };
    Some(SizeStats {
        n_neurons,
        n,
        mean,
        sd,
        min,
        max,
        worst,
    })
}

/// Finds the noise floor of one measure from its statistics in increasing population size.
/// The floor is the smallest size from which no later step to the next size improves the
/// mean by more than the larger seed standard deviation of the two sizes. Returns `None` with fewer than
/// two sizes or when a size has fewer than two seeds; returns the largest size when its last
/// step still helps (no floor reached within the sweep).
pub fn noise_floor(stats: &[SizeStats], better: Better) -> Option<usize> {
    if stats.len() < 2 || stats.iter().any(|s| s.n < 2) {
        return None;
    }
    let helps = |a: &SizeStats, b: &SizeStats| {
        let improvement = match better {
            Better::Higher => b.mean - a.mean,
            Better::Lower => a.mean - b.mean,
        };
        improvement > a.sd.max(b.sd)
    };
    // The floor sits after the last helpful step.
    let last_helpful = (0..stats.len() - 1)
        .rev()
        .find(|&i| helps(&stats[i], &stats[i + 1]));
    let floor_index = last_helpful.map_or(0, |i| i + 1);
    Some(stats[floor_index].n_neurons)
}

/// One measure of the sweep: its name, direction and statistics per size.
#[derive(Serialize)]
struct MeasureSummary {
    name: &'static str,
    meaning: &'static str,
    better: Better,
    stats: Vec<SizeStats>,
    noise_floor_n_neurons: Option<usize>,
    /// Whether the last step still improves by more than the seed spread, so that larger
    /// populations may help further.
    still_improving: bool,
}

fn summarise(
    rows: &[SweepRow],
    sizes: &[usize],
    name: &'static str,
    meaning: &'static str,
    better: Better,
    value: impl Fn(&PointMeasure) -> Option<f64>,
) -> MeasureSummary {
    let stats: Vec<SizeStats> = sizes
        .iter()
        .filter_map(|&n_neurons| {
            let values: Vec<f64> = rows
                .iter()
                .filter(|r| r.n_neurons == n_neurons)
                .filter_map(|r| value(&r.measure))
                .collect();
            size_stats(n_neurons, &values, better)
        })
        .collect();
    let floor = noise_floor(&stats, better);
    let still_improving = floor.is_some() && floor == stats.last().map(|s| s.n_neurons);
    MeasureSummary {
        name,
        meaning,
        better,
        stats,
        // A sweep whose last step still helps has not reached the floor.
        noise_floor_n_neurons: floor.filter(|_| !still_improving),
        still_improving,
    }
}

/// Checks the sweep options.
fn validate(args: &SweepArgs) -> Result<Vec<usize>> {
    if args.task == Task::All {
        bail!("--task all is not supported by the sweep: give --task memory or --task wrist");
    }
    if args.seeds == 0 {
        bail!("invalid --seeds 0: give at least 1 conversion seed per size (2 or more for a noise floor)");
    }
    if args.trials == Some(0) {
        bail!("invalid --trials 0: give at least 1 spiking trial per condition");
    }
    let mut sizes = args.neurons.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() || sizes[0] == 0 {
        bail!(
            "invalid --neurons {:?}: give population sizes of at least 1, comma-separated",
            args.neurons
        );
    }
    Ok(sizes)
}

/// Checks every population size of the sweep as the reproduction checks its own.
fn check_sizes(config: &TaskConfig, sizes: &[usize], n_trials: usize) -> Result<()> {
    let (conversion, dt_ms, n_units) = match config {
        TaskConfig::Memory(c) => (&c.conversion, c.task.dt_ms, c.task.n_units()),
        TaskConfig::Wrist(c) => (&c.conversion, c.task.dt_ms, c.task.n_units()),
    };
    for &n_neurons in sizes {
        let at_size = convert::ConversionParams {
            n_neurons,
            ..conversion.clone()
        };
        crate::spiking::check_spiking_settings(&at_size, dt_ms, n_trials, n_units)
            .with_context(|| format!("invalid --neurons value {n_neurons}"))?;
    }
    Ok(())
}

/// Runs the sweep described by `args`.
pub fn sweep(args: &SweepArgs) -> Result<()> {
    let sizes = validate(args)?;
    let started = Instant::now();
    let (config, config_source) =
        crate::task_config(args.task, args.quick, args.config.as_deref())?;
    let task = config.task();
    let settings = RunSettings {
        seed: args.seed,
        quick: args.quick,
        config_source,
        reuse_trained: args.reuse_trained,
        threads: args.threads,
    };
    let default_trials = match &config {
        TaskConfig::Memory(c) => c.n_trials,
        TaskConfig::Wrist(c) => c.n_trials,
    };
    check_sizes(&config, &sizes, args.trials.unwrap_or(default_trials))?;
    let (_, base_passed) = manifest::run_task(&config, &settings, &args.out)?;
    let base_seconds = started.elapsed().as_secs_f64();
    let task_dir = args.out.join(task);
    let sweep_dir = args.out.join(format!("{task}-sweep"));
    let scratch_dir = sweep_dir.join("scratch");

    enum Base {
        Memory(memory::SweepBase),
        Wrist(wrist::SweepBase),
    }
    let (base, default_trials) = match &config {
        TaskConfig::Memory(c) => (Base::Memory(memory::sweep_base(c, &task_dir)?), c.n_trials),
        TaskConfig::Wrist(c) => (Base::Wrist(wrist::sweep_base(c, &task_dir)?), c.n_trials),
    };
    let n_trials = args.trials.unwrap_or(default_trials);

    info!(task, sizes = ?sizes, seeds = args.seeds, n_trials, "sweep started");
    let bar = progress_bar((sizes.len() * args.seeds) as u64, "sweep");
    let mut rows = Vec::new();
    for &n_neurons in &sizes {
        for seed_index in 0..args.seeds {
            let point_started = Instant::now();
            let seed = stream_seed(args.seed, 10_000 + seed_index as u64);
            std::fs::create_dir_all(&scratch_dir)
                .with_context(|| format!("failed to create {}", scratch_dir.display()))?;
            let measure = match (&config, &base) {
                (TaskConfig::Memory(c), Base::Memory(b)) => {
                    memory::sweep_point(c, b, n_neurons, n_trials, seed, &scratch_dir)?
                }
                (TaskConfig::Wrist(c), Base::Wrist(b)) => {
                    wrist::sweep_point(c, b, n_neurons, n_trials, seed, &scratch_dir)?
                }
                _ => bail!("the sweep base does not match the task configuration"),
            };
            std::fs::remove_dir_all(&scratch_dir)
                .with_context(|| format!("failed to remove {}", scratch_dir.display()))?;
            let row = SweepRow {
                n_neurons,
                seed_index,
                seed,
                measure,
                seconds: point_started.elapsed().as_secs_f64(),
            };
            bar.suspend(|| {
                info!(
                    n_neurons,
                    seed_index,
                    median_r = row.measure.median_r,
                    median_nrmse = row.measure.median_nrmse,
                    task_error = row.measure.task_error,
                    seconds = row.seconds,
                    "sweep point"
                );
            });
            rows.push(row);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let task_error_meaning = match task {
        "memory" => "max output error over the first second of the delay",
        _ => "median motoneuron pool NRMSE to the templates",
    };
    let measures = vec![
        summarise(
            &rows,
            &sizes,
            "median_r",
            "median per-unit r",
            Better::Higher,
            |m| m.median_r,
        ),
        summarise(
            &rows,
            &sizes,
            "median_nrmse",
            "median per-unit NRMSE",
            Better::Lower,
            |m| m.median_nrmse,
        ),
        summarise(
            &rows,
            &sizes,
            "task_error",
            task_error_meaning,
            Better::Lower,
            |m| Some(m.task_error),
        ),
    ];
    let total_seconds = started.elapsed().as_secs_f64();
    for measure in &measures {
        info!(
            measure = measure.name,
            noise_floor_n_neurons = measure.noise_floor_n_neurons,
            still_improving = measure.still_improving,
            "noise floor"
        );
    }

    write_csv(&sweep_dir.join("sweep.csv"), &rows)?;
    let doc = json!({
        "task": task,
        "base_run": task_dir.join(manifest::FILE_NAME),
        "base_run_passed": base_passed,
        "seed": args.seed,
        "n_seeds": args.seeds,
        "n_trials": n_trials,
        "sizes": sizes,
        "noise_floor_rule": "a step to the next size helps when the mean improves by more than \
                             the larger seed standard deviation of the two sizes; the floor is \
                             the smallest size from which no later step helps",
        "measures": measures,
        "rows": rows,
        "seconds": { "base_run": base_seconds, "total": total_seconds },
    });
    artifact::write_atomic(
        &sweep_dir.join("sweep.json"),
        serde_json::to_string_pretty(&doc)?.as_bytes(),
    )?;
    write_html(&sweep_dir, task, &measures, &rows, n_trials, total_seconds)?;
    info!(
        folder = %sweep_dir.display(),
        seconds = total_seconds,
        "sweep finished"
    );
    Ok(())
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

fn write_csv(path: &Path, rows: &[SweepRow]) -> Result<()> {
    let mut text = String::from(
        "n_neurons,seed_index,seed,median_r,median_nrmse,task_error,n_undefined_r,\
         max_rate_hz,mean_isi_cv,seconds\n",
    );
    for row in rows {
        let m = &row.measure;
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            row.n_neurons,
            row.seed_index,
            row.seed,
            optional(m.median_r),
            optional(m.median_nrmse),
            m.task_error,
            m.n_undefined_r,
            m.max_rate_hz,
            optional(m.mean_isi_cv),
            row.seconds
        ));
    }
    artifact::write_atomic(path, text.as_bytes())
}

/// Draws one panel per measure: every seed, the mean, the min-max range, mean +- sd and the
/// worst case, against the population size on a base-2 logarithmic axis.
fn sweep_figure(task: &str, measures: &[MeasureSummary], rows: &[SweepRow]) -> GridFigure {
    let x = |n: usize| (n as f64).log2();
    let panels = measures
        .iter()
        .enumerate()
        .map(|(idx, measure)| {
            let value = |m: &PointMeasure| match idx {
                0 => m.median_r,
                1 => m.median_nrmse,
                _ => Some(m.task_error),
            };
            let seeds: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| Some((x(r.n_neurons), value(&r.measure)?)))
                .collect();
            let line = |f: &dyn Fn(&SizeStats) -> f64| -> Vec<(f64, f64)> {
                measure
                    .stats
                    .iter()
                    .map(|s| (x(s.n_neurons), f(s)))
                    .collect()
            };
            let mut series = vec![
                Series::scatter("each seed", plots::GRAY, 3, seeds),
                Series::line(
                    "min and max",
                    plots::lighten(plots::PALETTE[0]),
                    1,
                    line(&|s| s.min),
                ),
                Series::line("", plots::lighten(plots::PALETTE[0]), 1, line(&|s| s.max)),
                Series::dashed("mean +- sd", plots::PALETTE[0], 2, line(&|s| s.mean - s.sd)),
                Series::dashed("", plots::PALETTE[0], 2, line(&|s| s.mean + s.sd)),
                Series::line("mean", plots::INK, 3, line(&|s| s.mean)),
                Series::scatter("worst case", plots::PALETTE[1], 5, line(&|s| s.worst)),
            ];
            if let Some(floor) = measure.noise_floor_n_neurons {
                let (lo, hi) = measure
                    .stats
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
                        (lo.min(s.min), hi.max(s.max))
                    });
                series.push(Series::dashed(
                    "noise floor",
                    plots::PALETTE[2],
                    2,
                    vec![(x(floor), lo), (x(floor), hi)],
                ));
            }
            Panel {
                title: measure.meaning.to_string(),
                series,
                y_range: None,
                x_desc: "neurons per population (log scale)".to_string(),
                y_desc: measure.name.to_string(),
                x_log2: true,
            }
        })
        .collect();
    GridFigure {
        title: format!("Agreement against population size, {task} task"),
        size: (1500, 560),
        layout: (1, 3),
        panels,
    }
}

fn write_html(
    sweep_dir: &Path,
    task: &str,
    measures: &[MeasureSummary],
    rows: &[SweepRow],
    n_trials: usize,
    total_seconds: f64,
) -> Result<()> {
    plots::register_fonts()?;
    let figure_path = sweep_dir.join("sweep.png");
    plots::draw_grid(&figure_path, &sweep_figure(task, measures, rows))?;
    let png = std::fs::read(&figure_path)
        .with_context(|| format!("failed to read back {}", figure_path.display()))?;

    let mut page = Page::new(&format!("Population-size sweep: {task} task"));
    let n_seeds = rows.iter().map(|r| r.seed_index).max().map_or(0, |m| m + 1);
    page.paragraph(&format!(
        "Each point converts the trained network of the base run (manifest in ../{task}/) with \
         the given neurons per population and one conversion seed, and simulates {n_trials} \
         spiking trial(s) per condition. {n_seeds} seed(s) per size; {} points in {:.0} s.",
        rows.len(),
        total_seconds
    ));
    page.figure(
        &png,
        "sweep",
        "Per measure: every seed (grey), the mean (black), mean +- sample sd (dashed), the \
         min-max range (thin) and the worst seed (orange), against the population size on a \
         logarithmic axis. The green dashed line marks the noise floor.",
    );
    page.heading(2, "Noise floor");
    page.paragraph(
        "A step from one size to the next helps when the mean improves by more than the larger \
         seed standard deviation of the two sizes. The noise floor is the smallest size from \
         which no later step helps: beyond it, more neurons change the measure by less than \
         the seed-to-seed spread. It needs at least two seeds.",
    );
    let floor_rows: Vec<Vec<Cell>> = measures
        .iter()
        .map(|m| {
            let largest = m.stats.last().map_or(0, |s| s.n_neurons);
            let floor = match (m.noise_floor_n_neurons, m.still_improving) {
                (_, true) => format!("not reached: still improving at {largest}"),
                (None, false) => "undefined (fewer than two seeds or sizes)".to_string(),
                (Some(n), false) => n.to_string(),
            };
            vec![
                Cell::text(m.name),
                Cell::text(m.meaning),
                Cell::number(floor),
            ]
        })
        .collect();
    page.table(
        &["measure", "meaning", "noise floor (neurons)"],
        &floor_rows,
    );

    page.heading(2, "Statistics per size");
    let mut stat_rows = Vec::new();
    for m in measures {
        for s in &m.stats {
            stat_rows.push(vec![
                Cell::text(m.name),
                Cell::number(s.n_neurons.to_string()),
                Cell::number(s.n.to_string()),
                Cell::number(format!("{:.4}", s.mean)),
                Cell::number(format!("{:.4}", s.sd)),
                Cell::number(format!("{:.4}", s.min)),
                Cell::number(format!("{:.4}", s.max)),
                Cell::number(format!("{:.4}", s.worst)),
            ]);
        }
    }
    page.table(
        &[
            "measure", "neurons", "seeds", "mean", "sd", "min", "max", "worst",
        ],
        &stat_rows,
    );
    page.paragraph("Every point is in sweep.csv; sweep.json holds the same with the statistics.");
    artifact::write_atomic(&sweep_dir.join("sweep.html"), page.finish().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(n_neurons: usize, mean: f64, sd: f64) -> SizeStats {
        SizeStats {
            n_neurons,
            n: 5,
            mean,
            sd,
            min: mean - sd,
            max: mean + sd,
            worst: mean - sd,
        }
    }

    #[test]
    fn size_stats_hand_values() {
        // Values 1, 2, 3, 6: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, sd = sqrt(14 / 3).
        let s = size_stats(50, &[1.0, 2.0, f64::NAN, 3.0, 6.0], Better::Lower).unwrap();
        assert_eq!(s.n, 4);
        assert!((s.mean - 3.0).abs() < 1e-12, "mean {}", s.mean);
        assert!((s.sd - (14.0f64 / 3.0).sqrt()).abs() < 1e-12, "sd {}", s.sd);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 6.0);
        assert_eq!(s.worst, 6.0);
        let higher = size_stats(50, &[1.0, 6.0], Better::Higher).unwrap();
        assert_eq!(higher.worst, 1.0);
        assert!(size_stats(50, &[f64::NAN], Better::Higher).is_none());
    }

    #[test]
    fn noise_floor_after_last_helpful_step() {
        // r: +0.10 (> sd 0.02) helps, +0.05 (> 0.02) helps, +0.01 (< 0.02) does not,
        // +0.015 (< 0.02) does not: the floor is the third size.
        let r = [
            stats(25, 0.70, 0.02),
            stats(50, 0.80, 0.02),
            stats(100, 0.85, 0.02),
            stats(200, 0.86, 0.02),
            stats(400, 0.875, 0.01),
        ];
        assert_eq!(noise_floor(&r, Better::Higher), Some(100));
        // An error that still drops by more than the spread at the last step: the largest size.
        let error = [
            stats(25, 0.4, 0.01),
            stats(50, 0.3, 0.01),
            stats(100, 0.2, 0.01),
        ];
        assert_eq!(noise_floor(&error, Better::Lower), Some(100));
        // No step helps: the smallest size.
        let flat = [stats(25, 0.2, 0.05), stats(50, 0.19, 0.05)];
        assert_eq!(noise_floor(&flat, Better::Lower), Some(25));
        // A later helpful step moves the floor past an earlier plateau.
        let late = [
            stats(25, 0.5, 0.01),
            stats(50, 0.5, 0.01),
            stats(100, 0.6, 0.01),
        ];
        assert_eq!(noise_floor(&late, Better::Higher), Some(100));
    }

    #[test]
    fn figure_drawn_with_size_ticks() {
        // Rows at 25 to 400 neurons, three seeds each. The test checks that the page and
        // the figure are written, because the tick labels can only be checked by eye.
        let sizes = [25, 50, 100, 200, 400];

        let mut rows = Vec::new();
        for (size_idx, &n_neurons) in sizes.iter().enumerate() {
            for seed_index in 0..3 {
                let spread = 0.01 * seed_index as f64;
                rows.push(SweepRow {
                    n_neurons,
                    seed_index,
                    seed: seed_index as u64,
                    measure: PointMeasure {
                        median_r: Some(0.8 + 0.04 * size_idx as f64 - spread),
                        median_nrmse: Some(0.2 - 0.03 * size_idx as f64 + spread),
                        task_error: 0.3 - 0.05 * size_idx as f64 + spread,
                        n_undefined_r: 0,
                        max_rate_hz: 90.0,
                        mean_isi_cv: Some(0.8),
                    },
                    seconds: 1.0,
                });
            }
        }
        let measures = [summarise(
            &rows,
            &sizes,
            "median_r",
            "median per-unit r",
            Better::Higher,
            |m| m.median_r,
        )];

        let dir = std::env::temp_dir().join(format!("sweep-figure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_html(&dir, "memory", &measures, &rows, 2, 10.0).unwrap();

        let png = std::fs::metadata(dir.join("sweep.png")).unwrap();
        assert!(png.len() > 1000, "sweep.png has {} bytes", png.len());
        assert!(dir.join("sweep.html").exists());
        if std::env::var_os("KEEP_SWEEP_FIGURE").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn noise_floor_needs_two_seeds() {
        let mut single = stats(50, 0.8, 0.0);
        single.n = 1;
        assert_eq!(
            noise_floor(&[stats(25, 0.7, 0.01), single], Better::Higher),
            None
        );
        assert_eq!(noise_floor(&[stats(25, 0.7, 0.01)], Better::Higher), None);
    }
}
