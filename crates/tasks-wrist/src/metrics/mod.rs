//! Template fit, timing and connectivity metrics of a wrist net, and its acceptance.

mod fit;
mod structure;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

pub use fit::{shape_blind_baseline_nrmse, template_nrmse};
pub use structure::{DirectionalWeights, InhibitoryActivity, PremotorActivity};

use crate::architecture::N_UNITS;
use crate::params::{check_nonnegative, invalid, whole_steps};
use crate::{
    architecture, template_trace, Direction, Error, TemplateKind, UnitGroup, WristTaskParams,
    WristTimeline,
};

/// Analysis windows and acceptance thresholds of the wrist metrics.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `max_pool_nrmse` | 0.1 | largest accepted template NRMSE of any pool |
/// | `max_median_pool_nrmse` | 0.05 | largest accepted median pool NRMSE |
/// | `max_nonpreferred_activity` | 0.1 | pool activity in non-preferred holds must stay below |
/// | `nonpreferred_window_start_ms` | 300 ms | non-preferred window starts this long after the step |
/// | `onset_rise_fraction` | 0.2 | onset = first time the rise reaches this fraction |
/// | `onset_min_rise` | 0.05 | smaller rises have no onset |
/// | `hold_window_start_ms` | 200 ms | hold means start this long after the step |
/// | `active_min_difference` | 0.05 | premotor direction preference threshold |
/// | `iin_min_activity_difference` | 0.2 | IIN direction preference threshold |
/// | `iin_weight_ratio` | 2 | silent-side weight must be at least this many times the other |
/// | `iin_weight_margin` | 0.2 | and more negative by at least this |
/// | `min_reciprocal_pathways` | 1 | IINs that must form a reciprocal pathway |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WristCriteria {
    /// Largest accepted template NRMSE of any motoneuron pool.
    pub max_pool_nrmse: f64,
    /// Largest accepted median template NRMSE over the pools.
    pub max_median_pool_nrmse: f64,
    /// Upper bound (exclusive) of pool activity in non-preferred holds.
    pub max_nonpreferred_activity: f64,
    /// Start of the non-preferred window after the step, in ms.
    pub nonpreferred_window_start_ms: f64,
    /// Fraction of the rise that marks the onset.
    pub onset_rise_fraction: f64,
    /// Smallest rise that has an onset.
    pub onset_min_rise: f64,
    /// Start of the hold window of premotor and IIN means after the step, in ms.
    pub hold_window_start_ms: f64,
    /// Activity difference that makes a premotor unit direction-active.
    pub active_min_difference: f64,
    /// Activity difference that makes an IIN direction-specific.
    pub iin_min_activity_difference: f64,
    /// Ratio of silent-side to other-side IIN weight.
    pub iin_weight_ratio: f64,
    /// Margin by which the silent-side IIN weight must be more negative.
    pub iin_weight_margin: f64,
    /// Minimum number of reciprocal inhibitory pathways.
    pub min_reciprocal_pathways: usize,
}

impl Default for WristCriteria {
    fn default() -> Self {
        Self {
            max_pool_nrmse: 0.1,
            max_median_pool_nrmse: 0.05,
            max_nonpreferred_activity: 0.1,
            nonpreferred_window_start_ms: 300.0,
            onset_rise_fraction: 0.2,
            onset_min_rise: 0.05,
            hold_window_start_ms: 200.0,
            active_min_difference: 0.05,
            iin_min_activity_difference: 0.2,
            iin_weight_ratio: 2.0,
            iin_weight_margin: 0.2,
            min_reciprocal_pathways: 1,
        }
    }
}

impl WristCriteria {
    /// Checks that thresholds are finite and non-negative and windows whole steps of `dt_ms`.
    pub fn validate(&self, dt_ms: f64) -> Result<(), Error> {
        for (name, value) in [
            ("max_pool_nrmse", self.max_pool_nrmse),
            ("max_median_pool_nrmse", self.max_median_pool_nrmse),
            ("max_nonpreferred_activity", self.max_nonpreferred_activity),
            ("onset_min_rise", self.onset_min_rise),
            ("active_min_difference", self.active_min_difference),
            (
                "iin_min_activity_difference",
                self.iin_min_activity_difference,
            ),
            ("iin_weight_ratio", self.iin_weight_ratio),
            ("iin_weight_margin", self.iin_weight_margin),
        ] {
            check_nonnegative(name, value)?;
        }
        let fraction = self.onset_rise_fraction;
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(invalid(
                "onset_rise_fraction",
                fraction,
                "must be in (0, 1]".into(),
            ));
        }
        check_nonnegative(
            "nonpreferred_window_start_ms",
            self.nonpreferred_window_start_ms,
        )?;
        whole_steps(
            "nonpreferred_window_start_ms",
            self.nonpreferred_window_start_ms,
            dt_ms,
        )?;
        check_nonnegative("hold_window_start_ms", self.hold_window_start_ms)?;
        whole_steps("hold_window_start_ms", self.hold_window_start_ms, dt_ms)?;
        Ok(())
    }
}

/// Fit and timing of one templated unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateFit {
    /// Unit index.
    pub unit: usize,
    /// Group of the unit.
    pub group: UnitGroup,
    /// Template of the unit.
    pub template: TemplateKind,
    /// `RMS(y - template) / (max template - min template)` over `y[1..=n_steps]`.
    pub nrmse: f64,
    /// NRMSE of the shape-blind baseline on this template; `None` for tonic templates,
    /// where the baseline is the template itself.
    pub baseline_nrmse: Option<f64>,
    /// Whether `nrmse < baseline_nrmse`; `None` for tonic templates.
    pub beats_baseline: Option<bool>,
    /// Maximum of `y` over `[t_step + 300 ms, next step)` of every non-preferred hold.
    pub nonpreferred_max: f64,
    /// Mean onset latency in ms after the preferred steps; `None` when no rise reaches 0.05.
    pub onset_ms: Option<f64>,
}

/// Metrics of a wrist net on one trial, with the criteria that [`WristMetrics::accepted`]
/// applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WristMetrics {
    /// The 8 motoneuron pools in unit order (flexor pools 20-23, extensor pools 24-27).
    pub pools: Vec<TemplateFit>,
    /// The 6 templated CM/RM units in unit order (0, 1, 3, 4, 6, 8).
    pub cm_rm: Vec<TemplateFit>,
    /// Median pool NRMSE.
    pub median_pool_nrmse: f64,
    /// Maximum pool NRMSE.
    pub max_pool_nrmse: f64,
    /// Median onset of the templated CM/RM units that have an onset.
    pub median_cm_rm_onset_ms: Option<f64>,
    /// Median onset of the pools that have an onset.
    pub median_pool_onset_ms: Option<f64>,
    /// True when both medians exist and the CM/RM median is earlier.
    pub cm_rm_lead: bool,
    /// Direction preference and pool weights of every premotor unit (CM, RM, EIN).
    pub premotor: Vec<PremotorActivity>,
    /// Pool weights of the flexion-active premotor units.
    pub flexion_active: DirectionalWeights,
    /// Pool weights of the extension-active premotor units.
    pub extension_active: DirectionalWeights,
    /// Activity and pool weights of every IIN.
    pub inhibitory: Vec<InhibitoryActivity>,
    /// Number of IINs that form a reciprocal inhibitory pathway.
    pub n_reciprocal_pathways: usize,
    /// Thresholds used for the metrics and for acceptance.
    pub criteria: WristCriteria,
}

/// Scores a wrist net with the default [`WristCriteria`]; see [`wrist_metrics_with`].
pub fn wrist_metrics(
    y: ArrayView2<f64>,
    w: ArrayView2<f64>,
    params: &WristTaskParams,
    holds_ms: &[f64],
) -> Result<WristMetrics, Error> {
    wrist_metrics_with(y, w, params, holds_ms, &WristCriteria::default())
}

/// Scores a wrist net from its states on one trial and its recurrent weights.
///
/// `y` has shape `(n_steps + 1, 28)` (states `y[0..=n_steps]` of the trial built from
/// `holds_ms`), `w` shape `(28, 28)` = `(n_post, n_pre)`. Windows map to state rows as in
/// [`WristTimeline::hold_rows`]. Definitions:
///
/// - template NRMSE: [`template_nrmse`]; baseline: [`shape_blind_baseline_nrmse`];
/// - non-preferred activity: max of `y` over `[t_step + 300 ms, next step)` of every
///   non-preferred hold;
/// - onset: first time after a preferred step at which `y` has risen 20% of the way from
///   `y(t_step)` to its maximum in that hold, mean over the preferred steps with a rise of at
///   least 0.05;
/// - premotor units (CM, RM, EIN) are flexion-active when their mean over the flexion
///   holds, each from step + 200 ms, exceeds that over the extension holds by more than
///   0.05, and extension-active the other way round. The weight check pools the active
///   units: mean of `w[pool, unit]` over the active units and the pools of each direction;
/// - an IIN forms a reciprocal inhibitory pathway when its mean hold activity differs
///   between directions by more than 0.2 and its mean weight onto the pools of the
///   direction in which it is silent is at least twice as negative, and more negative by
///   0.2, as onto the other pools.
///
/// # Errors
/// Invalid `params` or `criteria`; fewer than two holds (both directions are needed); a
/// hold no longer than the analysis windows; `y` or `w` of the wrong shape or with a
/// non-finite value.
pub fn wrist_metrics_with(
    y: ArrayView2<f64>,
    w: ArrayView2<f64>,
    params: &WristTaskParams,
    holds_ms: &[f64],
    criteria: &WristCriteria,
) -> Result<WristMetrics, Error> {
    let timeline = WristTimeline::new(params, holds_ms)?;
    criteria.validate(params.dt_ms)?;
    check_inputs(y, w, &timeline, holds_ms, criteria)?;
    let arch = architecture();

    // Template fit and timing of every templated unit.
    let nonpreferred_steps = whole_steps(
        "nonpreferred_window_start_ms",
        criteria.nonpreferred_window_start_ms,
        params.dt_ms,
    )?;
    let mut pools = Vec::new();
    let mut cm_rm = Vec::new();
    for (unit, kind, latency_ms) in arch.templated_units(params) {
        let group = arch.groups[unit];
        let preferred = group
            .preferred_direction()
            .expect("templated units are CM, RM or motoneuron pools, which have a direction");
        let template = template_trace(params, &timeline, kind, preferred, latency_ms);
        let column = y.column(unit);
        let nrmse = template_nrmse(column, template.view())?;
        let baseline_nrmse = match kind {
            TemplateKind::Tonic => None,
            _ => Some(shape_blind_baseline_nrmse(
                params, &timeline, kind, preferred, latency_ms,
            )?),
        };
        let fit = TemplateFit {
            unit,
            group,
            template: kind,
            nrmse,
            baseline_nrmse,
            beats_baseline: baseline_nrmse.map(|baseline| nrmse < baseline),
            nonpreferred_max: fit::nonpreferred_max(
                column,
                &timeline,
                preferred,
                nonpreferred_steps,
            )
            .expect("check_inputs requires two or more holds, so both directions occur"),
            onset_ms: fit::onset_ms(
                column,
                &timeline,
                preferred,
                criteria.onset_rise_fraction,
                criteria.onset_min_rise,
            ),
        };
        if group.is_motoneuron() {
            pools.push(fit);
        } else {
            cm_rm.push(fit);
        }
    }

    // Summary of fit and onsets.
    let pool_nrmse: Vec<f64> = pools.iter().map(|p| p.nrmse).collect();
    let median_cm_rm_onset_ms =
        median(&cm_rm.iter().filter_map(|f| f.onset_ms).collect::<Vec<_>>());
    let median_pool_onset_ms = median(&pools.iter().filter_map(|f| f.onset_ms).collect::<Vec<_>>());
    let cm_rm_lead = matches!(
        (median_cm_rm_onset_ms, median_pool_onset_ms),
        (Some(cm_rm), Some(pool)) if cm_rm < pool
    );

    // Direction preference of premotor units and inhibitory pathways.
    let hold_steps = whole_steps(
        "hold_window_start_ms",
        criteria.hold_window_start_ms,
        params.dt_ms,
    )?;
    let premotor = structure::premotor_activity(
        y,
        w,
        &arch,
        &timeline,
        hold_steps,
        criteria.active_min_difference,
    );
    let rule = structure::ReciprocalRule {
        offset_steps: hold_steps,
        min_activity_difference: criteria.iin_min_activity_difference,
        weight_ratio: criteria.iin_weight_ratio,
        weight_margin: criteria.iin_weight_margin,
    };
    let inhibitory = structure::inhibitory_activity(y, w, &arch, &timeline, &rule);

    Ok(WristMetrics {
        median_pool_nrmse: median(&pool_nrmse).expect("there are 8 pools"),
        max_pool_nrmse: pool_nrmse.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        pools,
        cm_rm,
        median_cm_rm_onset_ms,
        median_pool_onset_ms,
        cm_rm_lead,
        flexion_active: structure::directional_weights(&premotor, Direction::Flexion),
        extension_active: structure::directional_weights(&premotor, Direction::Extension),
        premotor,
        n_reciprocal_pathways: inhibitory.iter().filter(|i| i.reciprocal).count(),
        inhibitory,
        criteria: criteria.clone(),
    })
}

impl WristMetrics {
    /// True when every acceptance criterion holds; see [`WristMetrics::failed_criteria`].
    pub fn accepted(&self) -> bool {
        self.failed_criteria().is_empty()
    }

    /// Lists the failed acceptance criteria with the measured numbers.
    ///
    /// The criteria: every pool NRMSE <= `max_pool_nrmse` (0.1) and the median <=
    /// `max_median_pool_nrmse` (0.05); every phasic-tonic, decrementing and ramp pool below
    /// its shape-blind baseline; every pool's non-preferred activity < 0.1; median CM/RM
    /// onset earlier than median pool onset; flexion-active premotor units weigh more on the
    /// flexor than on the extensor pools and extension-active ones the reverse (both groups
    /// must exist); at least `min_reciprocal_pathways` (1) reciprocal inhibitory pathways.
    pub fn failed_criteria(&self) -> Vec<String> {
        let c = &self.criteria;
        let within = |value: f64, max: f64| value <= max;
        let mut failed = Vec::new();
        for pool in &self.pools {
            if !within(pool.nrmse, c.max_pool_nrmse) {
                failed.push(format!(
                    "pool {} ({:?}) NRMSE {:.4} > {}",
                    pool.unit, pool.template, pool.nrmse, c.max_pool_nrmse
                ));
            }
        }
        if !within(self.median_pool_nrmse, c.max_median_pool_nrmse) {
            failed.push(format!(
                "median pool NRMSE {:.4} > {}",
                self.median_pool_nrmse, c.max_median_pool_nrmse
            ));
        }
        for pool in &self.pools {
            if let (Some(false), Some(baseline)) = (pool.beats_baseline, pool.baseline_nrmse) {
                failed.push(format!(
                    "pool {} ({:?}) NRMSE {:.4} does not beat the shape-blind baseline {:.4}",
                    pool.unit, pool.template, pool.nrmse, baseline
                ));
            }
        }
        for pool in &self.pools {
            if pool.nonpreferred_max >= c.max_nonpreferred_activity {
                failed.push(format!(
                    "pool {} non-preferred activity {:.4} >= {}",
                    pool.unit, pool.nonpreferred_max, c.max_nonpreferred_activity
                ));
            }
        }
        if !self.cm_rm_lead {
            failed.push(format!(
                "median CM/RM onset {} is not earlier than median pool onset {}",
                format_ms(self.median_cm_rm_onset_ms),
                format_ms(self.median_pool_onset_ms)
            ));
        }
        self.push_weight_failures(&mut failed);
        if self.n_reciprocal_pathways < c.min_reciprocal_pathways {
            failed.push(format!(
                "{} reciprocal inhibitory pathways < {}",
                self.n_reciprocal_pathways, c.min_reciprocal_pathways
            ));
        }
        failed
    }

    fn push_weight_failures(&self, failed: &mut Vec<String>) {
        for (weights, direction, name) in [
            (&self.flexion_active, Direction::Flexion, "flexion"),
            (&self.extension_active, Direction::Extension, "extension"),
        ] {
            if weights.favours(direction) {
                continue;
            }
            match (weights.mean_to_flexor_pools, weights.mean_to_extensor_pools) {
                (Some(flexor), Some(extensor)) => failed.push(format!(
                    "{name}-active premotor units {:?} weigh {flexor:.4} on flexor and \
                     {extensor:.4} on extensor pools",
                    weights.units
                )),
                _ => failed.push(format!("no {name}-active premotor unit")),
            }
        }
    }
}

fn format_ms(value: Option<f64>) -> String {
    match value {
        Some(ms) => format!("{ms:.1} ms"),
        None => "none".into(),
    }
}

/// Median of the values; `None` when empty.
fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        0.5 * (sorted[mid - 1] + sorted[mid])
    })
}

/// Checks shapes, finiteness, both directions and hold lengths against the windows.
fn check_inputs(
    y: ArrayView2<f64>,
    w: ArrayView2<f64>,
    timeline: &WristTimeline,
    holds_ms: &[f64],
    criteria: &WristCriteria,
) -> Result<(), Error> {
    if holds_ms.len() < 2 {
        return Err(invalid(
            "holds_ms",
            holds_ms.len() as f64,
            "needs at least 2 holds so that both directions occur; use the test trial".into(),
        ));
    }
    let window_ms = criteria
        .nonpreferred_window_start_ms
        .max(criteria.hold_window_start_ms);
    if let Some(&short) = holds_ms.iter().find(|&&hold| hold <= window_ms) {
        return Err(invalid(
            "holds_ms",
            short,
            format!("every hold must be longer than the {window_ms} ms analysis window start"),
        ));
    }
    for (name, array, expected) in [
        ("y", y, [timeline.n_steps + 1, N_UNITS]),
        ("w", w, [N_UNITS, N_UNITS]),
    ] {
        if array.shape() != expected {
            return Err(Error::ShapeMismatch {
                name,
                expected: expected.to_vec(),
                actual: array.shape().to_vec(),
            });
        }
        if let Some((index, _)) = array.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite {
                name,
                index: vec![index.0, index.1],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn criteria_defaults_valid() {
        assert_eq!(WristCriteria::default().validate(1.0), Ok(()));
    }

    #[test]
    fn criteria_reject_fractional_window() {
        let criteria = WristCriteria {
            hold_window_start_ms: 200.5,
            ..Default::default()
        };
        assert!(matches!(
            criteria.validate(1.0),
            Err(Error::NotWholeSteps { .. })
        ));
    }
}
