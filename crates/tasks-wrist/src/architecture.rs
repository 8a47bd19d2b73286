//! The 28-unit wrist network: unit groups, signs, templates and allowed connections.

use std::ops::Range;

use ndarray::Array2;
use rnn_core::Sign;
use serde::{Deserialize, Serialize};

use crate::WristTaskParams;

/// Number of units of the wrist network.
pub const N_UNITS: usize = 28;
/// Number of inputs of the wrist network.
pub const N_INPUTS: usize = 4;
/// Input index of the flexion target line `T_F` (1 iff the target is +1).
pub const INPUT_T_F: usize = 0;
/// Input index of the extension target line `T_E` (1 iff the target is -1).
pub const INPUT_T_E: usize = 1;
/// Input index of the flexor afferent line `Ia_F`.
pub const INPUT_IA_F: usize = 2;
/// Input index of the extensor afferent line `Ia_E`.
pub const INPUT_IA_E: usize = 3;

/// Direction of a target step: flexion (+1) or extension (-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Step to target +1.
    Flexion,
    /// Step to target -1.
    Extension,
}

impl Direction {
    /// Returns the other direction.
    pub fn opposite(self) -> Self {
        match self {
            Self::Flexion => Self::Extension,
            Self::Extension => Self::Flexion,
        }
    }

    /// Target position of a step in this direction: +1 or -1.
    pub fn target_position(self) -> f64 {
        match self {
            Self::Flexion => 1.0,
            Self::Extension => -1.0,
        }
    }
}

/// Functional group of a unit; flexor groups prefer flexion, extensor groups extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnitGroup {
    /// Corticomotoneuronal cells preferring flexion (units 0-2).
    CmFlexor,
    /// Corticomotoneuronal cells preferring extension (units 3-5).
    CmExtensor,
    /// Rubromotoneuronal cells preferring flexion (units 6-7).
    RmFlexor,
    /// Rubromotoneuronal cells preferring extension (units 8-9).
    RmExtensor,
    /// Excitatory spinal interneurons (units 10-15).
    Ein,
    /// Inhibitory spinal interneurons (units 16-19).
    Iin,
    /// Flexor motoneuron pools (units 20-23).
    MnFlexor,
    /// Extensor motoneuron pools (units 24-27).
    MnExtensor,
}

impl UnitGroup {
    /// All groups in unit order.
    pub const ALL: [UnitGroup; 8] = [
        Self::CmFlexor,
        Self::CmExtensor,
        Self::RmFlexor,
        Self::RmExtensor,
        Self::Ein,
        Self::Iin,
        Self::MnFlexor,
        Self::MnExtensor,
    ];

    /// Unit indices of the group.
    pub fn units(self) -> Range<usize> {
        match self {
            Self::CmFlexor => 0..3,
            Self::CmExtensor => 3..6,
            Self::RmFlexor => 6..8,
            Self::RmExtensor => 8..10,
            Self::Ein => 10..16,
            Self::Iin => 16..20,
            Self::MnFlexor => 20..24,
            Self::MnExtensor => 24..28,
        }
    }

    /// Preferred direction of the group; `None` for interneurons.
    pub fn preferred_direction(self) -> Option<Direction> {
        match self {
            Self::CmFlexor | Self::RmFlexor | Self::MnFlexor => Some(Direction::Flexion),
            Self::CmExtensor | Self::RmExtensor | Self::MnExtensor => Some(Direction::Extension),
            Self::Ein | Self::Iin => None,
        }
    }

    /// Sign of the group's outgoing weights: inhibitory for IIN, excitatory otherwise.
    pub fn sign(self) -> Sign {
        match self {
            Self::Iin => Sign::Inhibitory,
            _ => Sign::Excitatory,
        }
    }

    /// True for CM and RM units.
    pub fn is_cm_rm(self) -> bool {
        matches!(
            self,
            Self::CmFlexor | Self::CmExtensor | Self::RmFlexor | Self::RmExtensor
        )
    }

    /// True for motoneuron pools.
    pub fn is_motoneuron(self) -> bool {
        matches!(self, Self::MnFlexor | Self::MnExtensor)
    }

    /// True for premotor units: CM, RM and EIN.
    pub fn is_premotor(self) -> bool {
        self.is_cm_rm() || self == Self::Ein
    }

    /// Motoneuron pool group of a direction.
    pub fn motoneurons(direction: Direction) -> Self {
        match direction {
            Direction::Flexion => Self::MnFlexor,
            Direction::Extension => Self::MnExtensor,
        }
    }

    /// Returns whether a unit of this group receives from a unit of group `pre`.
    fn receives_from(self, pre: UnitGroup) -> bool {
        match self {
            Self::CmFlexor | Self::CmExtensor | Self::RmFlexor | Self::RmExtensor => pre.is_cm_rm(),
            Self::Ein | Self::Iin | Self::MnFlexor | Self::MnExtensor => !pre.is_motoneuron(),
        }
    }

    /// Returns whether a unit of this group receives input line `input`.
    fn receives_input(self, input: usize) -> bool {
        let target = input == INPUT_T_F || input == INPUT_T_E;
        match self {
            Self::CmFlexor | Self::CmExtensor => true,
            Self::RmFlexor | Self::RmExtensor => target,
            Self::Ein | Self::Iin => !target,
            Self::MnFlexor => input == INPUT_IA_F,
            Self::MnExtensor => input == INPUT_IA_E,
        }
    }
}

/// Shape of an activity template, see [`crate::template_value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TemplateKind {
    /// Step to a hold level.
    Tonic,
    /// Transient overshoot on top of a hold level.
    PhasicTonic,
    /// Slowly decaying excess over a hold level.
    Decrementing,
    /// Level that grows through the hold.
    Ramp,
    /// Transient only.
    Phasic,
}

/// Template of each unit in index order; `None` marks free (unscored) units.
const TEMPLATES: [Option<TemplateKind>; N_UNITS] = {
    use TemplateKind::*;
    [
        // CM flexor, CM extensor: phasic-tonic, tonic, free.
        Some(PhasicTonic),
        Some(Tonic),
        None,
        Some(PhasicTonic),
        Some(Tonic),
        None,
        // RM flexor, RM extensor: phasic, free.
        Some(Phasic),
        None,
        Some(Phasic),
        None,
        // EIN, IIN.
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        // Flexor pools, extensor pools: tonic, phasic-tonic, decrementing, ramp.
        Some(Tonic),
        Some(PhasicTonic),
        Some(Decrementing),
        Some(Ramp),
        Some(Tonic),
        Some(PhasicTonic),
        Some(Decrementing),
        Some(Ramp),
    ]
};

/// Groups, signs, templates and connection masks of the 28-unit wrist network.
///
/// | units | group | sign | template | receives from |
/// |---|---|---|---|---|
/// | 0-2 | CM flexor | + | phasic-tonic, tonic, free | T, Ia, CM, RM |
/// | 3-5 | CM extensor | + | phasic-tonic, tonic, free | T, Ia, CM, RM |
/// | 6-7 | RM flexor | + | phasic, free | T, CM, RM |
/// | 8-9 | RM extensor | + | phasic, free | T, CM, RM |
/// | 10-15 | EIN | + | free | Ia, CM, RM, EIN, IIN |
/// | 16-19 | IIN | - | free | Ia, CM, RM, EIN, IIN |
/// | 20-23 | flexor pools | + | tonic, phasic-tonic, decrementing, ramp | Ia_F, CM, RM, EIN, IIN |
/// | 24-27 | extensor pools | + | same four | Ia_E, CM, RM, EIN, IIN |
///
/// "T" is both target lines and "Ia" both afferent lines. A group that receives from itself
/// includes self-connections. Motoneuron pools project nowhere. Flexor and extensor CM/RM
/// units connect to both pool groups; the direction split of premotor weights is learnt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WristArchitecture {
    /// Group of each unit, length 28.
    pub groups: Vec<UnitGroup>,
    /// Template of each unit, `None` for free units; length 28.
    pub templates: Vec<Option<TemplateKind>>,
    /// Sign of each unit's outgoing weights, length 28.
    pub signs: Vec<Sign>,
    /// Allowed recurrent connections, shape `(28, 28)` = `(n_post, n_pre)`.
    pub mask: Array2<bool>,
    /// Allowed input connections, shape `(28, 4)` = `(n_post, n_inputs)`.
    pub input_mask: Array2<bool>,
}

/// Builds the wrist network architecture.
pub fn architecture() -> WristArchitecture {
    let groups: Vec<UnitGroup> = (0..N_UNITS).map(group_of).collect();
    let mask = Array2::from_shape_fn((N_UNITS, N_UNITS), |(post, pre)| {
        groups[post].receives_from(groups[pre])
    });
    let input_mask = Array2::from_shape_fn((N_UNITS, N_INPUTS), |(post, input)| {
        groups[post].receives_input(input)
    });
    WristArchitecture {
        signs: groups.iter().map(|g| g.sign()).collect(),
        templates: TEMPLATES.to_vec(),
        groups,
        mask,
        input_mask,
    }
}

fn group_of(unit: usize) -> UnitGroup {
    UnitGroup::ALL
        .into_iter()
        .find(|g| g.units().contains(&unit))
        .expect("the group ranges cover units 0..28")
}

impl WristArchitecture {
    /// Units with a template and the template's latency in ms (motoneuron or CM/RM latency).
    pub fn templated_units(&self, params: &WristTaskParams) -> Vec<(usize, TemplateKind, f64)> {
        (0..N_UNITS)
            .filter_map(|unit| {
                let kind = self.templates[unit]?;
                let latency_ms = if self.groups[unit].is_motoneuron() {
                    params.mn_latency_ms
                } else {
                    params.cm_rm_latency_ms
                };
                Some((unit, kind, latency_ms))
            })
            .collect()
    }

    /// Motoneuron pool units, flexor pools first.
    pub fn motoneuron_pools(&self) -> Vec<usize> {
        (0..N_UNITS)
            .filter(|&u| self.groups[u].is_motoneuron())
            .collect()
    }

    /// CM and RM units that have a template.
    pub fn templated_cm_rm(&self) -> Vec<usize> {
        (0..N_UNITS)
            .filter(|&u| self.groups[u].is_cm_rm() && self.templates[u].is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_units_in_order() {
        let arch = architecture();
        assert_eq!(arch.groups[0], UnitGroup::CmFlexor);
        assert_eq!(arch.groups[5], UnitGroup::CmExtensor);
        assert_eq!(arch.groups[7], UnitGroup::RmFlexor);
        assert_eq!(arch.groups[9], UnitGroup::RmExtensor);
        assert_eq!(arch.groups[15], UnitGroup::Ein);
        assert_eq!(arch.groups[16], UnitGroup::Iin);
        assert_eq!(arch.groups[23], UnitGroup::MnFlexor);
        assert_eq!(arch.groups[24], UnitGroup::MnExtensor);
    }

    #[test]
    fn only_iin_inhibitory() {
        let arch = architecture();
        for (unit, sign) in arch.signs.iter().enumerate() {
            if (16..20).contains(&unit) {
                assert!(matches!(sign, Sign::Inhibitory), "unit {unit}");
            } else {
                assert!(matches!(sign, Sign::Excitatory), "unit {unit}");
            }
        }
    }

    #[test]
    fn templated_unit_lists() {
        let arch = architecture();
        assert_eq!(arch.templated_cm_rm(), vec![0, 1, 3, 4, 6, 8]);
        assert_eq!(arch.motoneuron_pools(), (20..28).collect::<Vec<_>>());
        let templated = arch.templated_units(&WristTaskParams::default());
        assert_eq!(templated.len(), 14);
        assert_eq!(templated[0], (0, TemplateKind::PhasicTonic, 60.0));
        assert_eq!(templated[13], (27, TemplateKind::Ramp, 100.0));
    }
}
