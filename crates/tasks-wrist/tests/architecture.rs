//! Connection masks, signs and templates against the unit table.

use tasks_wrist::{
    architecture, TemplateKind, UnitGroup, INPUT_IA_E, INPUT_IA_F, INPUT_T_E, INPUT_T_F,
};

// Unit ranges from the table: CM 0-5, RM 6-9, EIN 10-15, IIN 16-19, MN 20-27.
const CM: std::ops::Range<usize> = 0..6;
const RM: std::ops::Range<usize> = 6..10;
const EIN: std::ops::Range<usize> = 10..16;
const IIN: std::ops::Range<usize> = 16..20;
const MN: std::ops::Range<usize> = 20..28;

#[test]
fn mask_shapes() {
    let arch = architecture();
    assert_eq!(arch.mask.dim(), (28, 28));
    assert_eq!(arch.input_mask.dim(), (28, 4));
    assert_eq!(arch.groups.len(), 28);
    assert_eq!(arch.signs.len(), 28);
    assert_eq!(arch.templates.len(), 28);
}

#[test]
fn allowed_sources_per_row() {
    let arch = architecture();
    // Sources from the table: CM and RM get CM+RM (10 units); EIN, IIN and MN get
    // CM+RM+EIN+IIN (20 units).
    let premotor_sources: Vec<usize> = CM.chain(RM).collect();
    let spinal_sources: Vec<usize> = CM.chain(RM).chain(EIN).chain(IIN).collect();
    for post in 0..28 {
        let sources = if post < 10 {
            &premotor_sources
        } else {
            &spinal_sources
        };
        for pre in 0..28 {
            assert_eq!(
                arch.mask[[post, pre]],
                sources.contains(&pre),
                "mask[{post}, {pre}]"
            );
        }
    }
}

#[test]
fn allowed_connection_counts() {
    let arch = architecture();
    let count_rows = |rows: std::ops::Range<usize>| {
        rows.map(|post| arch.mask.row(post).iter().filter(|&&m| m).count())
            .sum::<usize>()
    };
    // CM: 6 units x 10 sources; RM: 4 x 10; EIN: 6 x 20; IIN: 4 x 20; MN: 8 x 20.
    assert_eq!(count_rows(CM), 60);
    assert_eq!(count_rows(RM), 40);
    assert_eq!(count_rows(EIN), 120);
    assert_eq!(count_rows(IIN), 80);
    assert_eq!(count_rows(MN), 160);
    assert_eq!(arch.mask.iter().filter(|&&m| m).count(), 460);
    // Inputs: CM 6 x 4, RM 4 x 2, EIN 6 x 2, IIN 4 x 2, MN 8 x 1.
    assert_eq!(
        arch.input_mask.iter().filter(|&&m| m).count(),
        24 + 8 + 12 + 8 + 8
    );
}

#[test]
fn motoneurons_project_nowhere() {
    let arch = architecture();
    for pre in MN {
        assert!(
            arch.mask.column(pre).iter().all(|&m| !m),
            "pool {pre} projects"
        );
    }
}

#[test]
fn self_connections_only_before_pools() {
    let arch = architecture();
    for unit in 0..28 {
        assert_eq!(
            arch.mask[[unit, unit]],
            unit < 20,
            "self-connection of {unit}"
        );
    }
}

#[test]
fn input_lines_per_group() {
    let arch = architecture();
    let row = |unit: usize| {
        [INPUT_T_F, INPUT_T_E, INPUT_IA_F, INPUT_IA_E].map(|i| arch.input_mask[[unit, i]])
    };
    for unit in CM {
        assert_eq!(row(unit), [true, true, true, true], "CM unit {unit}");
    }
    for unit in RM {
        assert_eq!(row(unit), [true, true, false, false], "RM unit {unit}");
    }
    for unit in EIN.chain(IIN) {
        assert_eq!(row(unit), [false, false, true, true], "interneuron {unit}");
    }
    for unit in 20..24 {
        assert_eq!(row(unit), [false, false, true, false], "flexor pool {unit}");
    }
    for unit in 24..28 {
        assert_eq!(
            row(unit),
            [false, false, false, true],
            "extensor pool {unit}"
        );
    }
}

#[test]
fn templates_follow_table() {
    use TemplateKind::*;
    let arch = architecture();
    let expected = [
        (0, Some(PhasicTonic)),
        (1, Some(Tonic)),
        (2, None),
        (3, Some(PhasicTonic)),
        (4, Some(Tonic)),
        (5, None),
        (6, Some(Phasic)),
        (7, None),
        (8, Some(Phasic)),
        (9, None),
        (20, Some(Tonic)),
        (21, Some(PhasicTonic)),
        (22, Some(Decrementing)),
        (23, Some(Ramp)),
        (24, Some(Tonic)),
        (25, Some(PhasicTonic)),
        (26, Some(Decrementing)),
        (27, Some(Ramp)),
    ];
    for (unit, template) in expected {
        assert_eq!(arch.templates[unit], template, "template of unit {unit}");
    }
    for unit in EIN.chain(IIN) {
        assert_eq!(arch.templates[unit], None, "template of interneuron {unit}");
    }
}

#[test]
fn group_ranges_match_table() {
    assert_eq!(UnitGroup::CmFlexor.units(), 0..3);
    assert_eq!(UnitGroup::RmExtensor.units(), 8..10);
    assert_eq!(UnitGroup::Iin.units(), IIN);
    assert_eq!(UnitGroup::MnExtensor.units(), 24..28);
}
