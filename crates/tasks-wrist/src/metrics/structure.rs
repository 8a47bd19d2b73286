//! Direction preference of premotor units and reciprocal inhibitory pathways.

use ndarray::{s, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::{Direction, UnitGroup, WristArchitecture, WristTimeline};

/// Direction preference of one premotor unit (CM, RM or EIN) and its weights onto the pools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PremotorActivity {
    /// Unit index.
    pub unit: usize,
    /// Group of the unit.
    pub group: UnitGroup,
    /// Mean activity over the flexion holds from step + `hold_window_start_ms`.
    pub flexion_mean: f64,
    /// Mean activity over the extension holds from step + `hold_window_start_ms`.
    pub extension_mean: f64,
    /// Direction in which the unit is more active by more than `active_min_difference`.
    pub active_direction: Option<Direction>,
    /// Mean weight onto the flexor pools.
    pub mean_weight_to_flexor_pools: f64,
    /// Mean weight onto the extensor pools.
    pub mean_weight_to_extensor_pools: f64,
}

/// Mean weights from the premotor units active in one direction onto the two pool groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectionalWeights {
    /// Premotor units active in this direction.
    pub units: Vec<usize>,
    /// Mean of `w[pool, unit]` over those units and the flexor pools; `None` without units.
    pub mean_to_flexor_pools: Option<f64>,
    /// Mean of `w[pool, unit]` over those units and the extensor pools; `None` without units.
    pub mean_to_extensor_pools: Option<f64>,
}

impl DirectionalWeights {
    /// True when there are such units and their mean weight onto the pools of `direction`
    /// exceeds that onto the other pools.
    pub fn favours(&self, direction: Direction) -> bool {
        let (Some(flexor), Some(extensor)) =
            (self.mean_to_flexor_pools, self.mean_to_extensor_pools)
        else {
            return false;
        };
        match direction {
            Direction::Flexion => flexor > extensor,
            Direction::Extension => extensor > flexor,
        }
    }
}

/// Activity and pool weights of one inhibitory interneuron.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InhibitoryActivity {
    /// Unit index.
    pub unit: usize,
    /// Mean activity over the flexion holds from step + `hold_window_start_ms`.
    pub flexion_mean: f64,
    /// Mean activity over the extension holds from step + `hold_window_start_ms`.
    pub extension_mean: f64,
    /// Direction of lower mean hold activity when the two differ by more than
    /// `iin_min_activity_difference`.
    pub silent_direction: Option<Direction>,
    /// Mean weight onto the flexor pools.
    pub mean_weight_to_flexor_pools: f64,
    /// Mean weight onto the extensor pools.
    pub mean_weight_to_extensor_pools: f64,
    /// True when the unit forms a reciprocal inhibitory pathway.
    pub reciprocal: bool,
}

/// Mean of `y` over the holds of one direction, each hold from `offset_steps` after its step.
///
/// The mean of the per-hold means, so that long and short holds count equally.
pub(crate) fn direction_mean(
    y: ArrayView1<f64>,
    timeline: &WristTimeline,
    direction: Direction,
    offset_steps: usize,
) -> f64 {
    let hold_means: Vec<f64> = (0..timeline.n_target_steps())
        .filter(|&k| timeline.directions[k] == direction)
        .filter_map(|k| y.slice(s![timeline.hold_rows(k, offset_steps)]).mean())
        .collect();
    hold_means.iter().sum::<f64>() / hold_means.len() as f64
}

/// Mean of `w[post, pre]` over the units of `pools`.
pub(crate) fn mean_weight_onto(w: ArrayView2<f64>, pools: UnitGroup, pre: usize) -> f64 {
    let rows = pools.units();
    let n = rows.len() as f64;
    rows.map(|post| w[[post, pre]]).sum::<f64>() / n
}

/// Flexion- and extension-active premotor units with their pool weights.
pub(crate) fn premotor_activity(
    y: ArrayView2<f64>,
    w: ArrayView2<f64>,
    arch: &WristArchitecture,
    timeline: &WristTimeline,
    offset_steps: usize,
    min_difference: f64,
) -> Vec<PremotorActivity> {
    (0..arch.groups.len())
        .filter(|&unit| arch.groups[unit].is_premotor())
        .map(|unit| {
            let column = y.column(unit);
            let flexion_mean = direction_mean(column, timeline, Direction::Flexion, offset_steps);
            let extension_mean =
                direction_mean(column, timeline, Direction::Extension, offset_steps);
            let active_direction = if flexion_mean - extension_mean > min_difference {
                Some(Direction::Flexion)
            } else if extension_mean - flexion_mean > min_difference {
                Some(Direction::Extension)
            } else {
                None
            };
            PremotorActivity {
                unit,
                group: arch.groups[unit],
                flexion_mean,
                extension_mean,
                active_direction,
                mean_weight_to_flexor_pools: mean_weight_onto(w, UnitGroup::MnFlexor, unit),
                mean_weight_to_extensor_pools: mean_weight_onto(w, UnitGroup::MnExtensor, unit),
            }
        })
        .collect()
}

/// Mean pool weights of the premotor units active in `direction`.
pub(crate) fn directional_weights(
    premotor: &[PremotorActivity],
    direction: Direction,
) -> DirectionalWeights {
    let active: Vec<&PremotorActivity> = premotor
        .iter()
        .filter(|p| p.active_direction == Some(direction))
        .collect();
    let mean = |pick: fn(&PremotorActivity) -> f64| {
        (!active.is_empty())
            .then(|| active.iter().map(|p| pick(p)).sum::<f64>() / active.len() as f64)
    };
    DirectionalWeights {
        units: active.iter().map(|p| p.unit).collect(),
        mean_to_flexor_pools: mean(|p| p.mean_weight_to_flexor_pools),
        mean_to_extensor_pools: mean(|p| p.mean_weight_to_extensor_pools),
    }
}

/// Thresholds of the reciprocal inhibition test.
pub(crate) struct ReciprocalRule {
    pub offset_steps: usize,
    pub min_activity_difference: f64,
    pub weight_ratio: f64,
    pub weight_margin: f64,
}

/// Activity, pool weights and reciprocal-pathway verdict of every IIN.
///
/// An IIN forms a reciprocal pathway when its mean hold activity differs between the
/// directions by more than `min_activity_difference` and its mean weight onto the pools of
/// the direction in which it is silent, `w_silent`, satisfies
/// `w_silent <= weight_ratio * w_other` and `w_silent <= w_other - weight_margin`.
pub(crate) fn inhibitory_activity(
    y: ArrayView2<f64>,
    w: ArrayView2<f64>,
    arch: &WristArchitecture,
    timeline: &WristTimeline,
    rule: &ReciprocalRule,
) -> Vec<InhibitoryActivity> {
    (0..arch.groups.len())
        .filter(|&unit| arch.groups[unit] == UnitGroup::Iin)
        .map(|unit| {
            let column = y.column(unit);
            let flexion_mean =
                direction_mean(column, timeline, Direction::Flexion, rule.offset_steps);
            let extension_mean =
                direction_mean(column, timeline, Direction::Extension, rule.offset_steps);
            let to_flexor = mean_weight_onto(w, UnitGroup::MnFlexor, unit);
            let to_extensor = mean_weight_onto(w, UnitGroup::MnExtensor, unit);

            // Silent direction and the weights onto its pools and onto the other pools.
            let silent_direction =
                if (flexion_mean - extension_mean).abs() > rule.min_activity_difference {
                    Some(if flexion_mean < extension_mean {
                        Direction::Flexion
                    } else {
                        Direction::Extension
                    })
                } else {
                    None
                };
            let reciprocal = silent_direction.is_some_and(|silent| {
                let (w_silent, w_other) = match silent {
                    Direction::Flexion => (to_flexor, to_extensor),
                    Direction::Extension => (to_extensor, to_flexor),
                };
                w_silent <= rule.weight_ratio * w_other && w_silent <= w_other - rule.weight_margin
            });
            InhibitoryActivity {
                unit,
                flexion_mean,
                extension_mean,
                silent_direction,
                mean_weight_to_flexor_pools: to_flexor,
                mean_weight_to_extensor_pools: to_extensor,
                reciprocal,
            }
        })
        .collect()
}
