//! Wrist metrics on synthetic traces: the templates themselves, degraded copies and
//! hand-built connectivity.

use ndarray::{s, Array2};
use tasks_wrist::{
    architecture, shape_blind_baseline_nrmse, template_trace, test_holds_ms, wrist_metrics,
    Direction, Error, TemplateKind, WristMetrics, WristTaskParams, WristTimeline,
};

fn params() -> WristTaskParams {
    WristTaskParams::default()
}

fn holds() -> Vec<f64> {
    test_holds_ms(&params())
}

fn timeline() -> WristTimeline {
    WristTimeline::new(&params(), &holds()).unwrap()
}

/// States `y` (4201 x 28) equal to every template; free units rest at 0.05.
fn template_states() -> Array2<f64> {
    let params = params();
    let timeline = timeline();
    let arch = architecture();
    let mut y = Array2::from_elem((timeline.n_steps + 1, 28), 0.05);
    for (unit, kind, latency_ms) in arch.templated_units(&params) {
        let preferred = arch.groups[unit].preferred_direction().unwrap();
        let trace = template_trace(&params, &timeline, kind, preferred, latency_ms);
        y.column_mut(unit).assign(&trace);
    }
    y
}

/// Activity `high` in the holds of `direction` and 0.05 elsewhere.
fn direction_trace(direction: Direction, high: f64) -> ndarray::Array1<f64> {
    let timeline = timeline();
    let mut trace = ndarray::Array1::from_elem(timeline.n_steps + 1, 0.05);
    for k in 0..timeline.n_target_steps() {
        if timeline.directions[k] == direction {
            let rows = timeline.step_starts[k] + 1..timeline.hold_end(k) + 1;
            trace.slice_mut(s![rows]).fill(high);
        }
    }
    trace
}

/// States and weights of a net that passes every criterion: templates on the templated
/// units, EIN 10 flexion-active and EIN 11 extension-active with weights onto their own
/// pools, and IIN 16 active in flexion that inhibits the extensor pools.
fn passing_net() -> (Array2<f64>, Array2<f64>) {
    let mut y = template_states();
    y.column_mut(10)
        .assign(&direction_trace(Direction::Flexion, 0.6));
    y.column_mut(11)
        .assign(&direction_trace(Direction::Extension, 0.6));
    y.column_mut(16)
        .assign(&direction_trace(Direction::Flexion, 0.6));
    let mut w = Array2::zeros((28, 28));
    // Flexion-active premotor units: CM 0, 1 (templates) and EIN 10; RM 6 carries a
    // weight too but is not direction-active after step + 200 ms.
    for pre in [0, 1, 6, 10] {
        w.slice_mut(s![20..24, pre]).fill(0.5);
    }
    for pre in [3, 4, 8, 11] {
        w.slice_mut(s![24..28, pre]).fill(0.5);
    }
    // IIN 16 is silent in extension: -1.0 onto extensor pools, -0.1 onto flexor pools.
    w.slice_mut(s![24..28, 16]).fill(-1.0);
    w.slice_mut(s![20..24, 16]).fill(-0.1);
    (y, w)
}

fn metrics(y: &Array2<f64>, w: &Array2<f64>) -> WristMetrics {
    wrist_metrics(y.view(), w.view(), &params(), &holds()).unwrap()
}

#[test]
fn baseline_nrmse_reference_values() {
    // Reference values for the default templates on the 1 s test trial, rounded to three
    // decimals: phasic-tonic 0.061, decrementing 0.072, ramp 0.106.
    let params = params();
    let timeline = timeline();
    for (kind, reference) in [
        (TemplateKind::PhasicTonic, 0.061),
        (TemplateKind::Decrementing, 0.072),
        (TemplateKind::Ramp, 0.106),
    ] {
        let nrmse = shape_blind_baseline_nrmse(&params, &timeline, kind, Direction::Flexion, 100.0)
            .unwrap();
        assert!(
            (nrmse - reference).abs() < 0.002,
            "{kind:?}: {nrmse} vs {reference}, tolerance 0.002"
        );
    }
}

#[test]
fn baseline_of_tonic_is_exact() {
    // The baseline family contains the tonic template (level 0.5), so its NRMSE is 0.
    let nrmse = shape_blind_baseline_nrmse(
        &params(),
        &timeline(),
        TemplateKind::Tonic,
        Direction::Extension,
        100.0,
    )
    .unwrap();
    assert!(
        nrmse < 1e-12,
        "tonic baseline NRMSE {nrmse}, tolerance 1e-12"
    );
}

#[test]
fn perfect_templates_pass_template_criteria() {
    let y = template_states();
    let w = Array2::zeros((28, 28));
    let m = metrics(&y, &w);
    assert_eq!(m.pools.len(), 8);
    assert_eq!(m.cm_rm.len(), 6);
    for fit in m.pools.iter().chain(&m.cm_rm) {
        assert!(fit.nrmse < 1e-12, "unit {} NRMSE {}", fit.unit, fit.nrmse);
        assert_ne!(fit.beats_baseline, Some(false), "unit {}", fit.unit);
    }
    assert!(m.max_pool_nrmse < 1e-12);

    // The slowest pool decay is the ramp's, from 0.6 at the opposite onset: 200 ms after
    // the onset, 0.05 + 0.55 e^(-200/30) = 0.0507.
    for pool in &m.pools {
        assert!(
            pool.nonpreferred_max < 0.051,
            "pool {} {}",
            pool.unit,
            pool.nonpreferred_max
        );
    }

    // Tonic templates cross 20% of their rise (0.14) at t' = 5 ms: r(4) = 0.181 gives
    // 0.132 and r(5) = 0.221 gives 0.150. Onsets: CM tonic 65 ms, pool tonic 105 ms.
    assert_eq!(m.cm_rm[1].onset_ms, Some(65.0));
    assert_eq!(m.pools[0].onset_ms, Some(105.0));
    assert!(m.cm_rm_lead);

    // Zero weights fail exactly the connectivity criteria.
    let failed = m.failed_criteria();
    assert_eq!(failed.len(), 3, "{failed:?}");
    // The phasic RM units (6, 8) have decayed to near y0 by step + 200 ms, so only the
    // CM units count as direction-active.
    assert!(failed[0].starts_with("flexion-active premotor units [0, 1]"));
    assert!(failed[1].starts_with("extension-active premotor units [3, 4]"));
    assert!(failed[2].starts_with("0 reciprocal inhibitory pathways"));
    assert!(!m.accepted());
}

#[test]
fn passing_net_is_accepted() {
    let (y, w) = passing_net();
    let m = metrics(&y, &w);
    assert!(m.accepted(), "{:?}", m.failed_criteria());
    assert_eq!(m.flexion_active.units, vec![0, 1, 10]);
    assert_eq!(m.extension_active.units, vec![3, 4, 11]);
    assert_eq!(m.n_reciprocal_pathways, 1);
    let iin = &m.inhibitory[0];
    assert_eq!(iin.unit, 16);
    assert_eq!(iin.silent_direction, Some(Direction::Extension));
    // Hold means from step + 200 ms: 0.6 in flexion, 0.05 in extension.
    assert!((iin.flexion_mean - 0.6).abs() < 1e-12);
    assert!((iin.extension_mean - 0.05).abs() < 1e-12);
}

#[test]
fn weak_inhibition_is_not_reciprocal() {
    let (y, mut w) = passing_net();
    // The ratio is met (-0.25 <= 2 * -0.1) but the margin fails (-0.25 > -0.1 - 0.2).
    w.slice_mut(s![24..28, 16]).fill(-0.25);
    assert_eq!(metrics(&y, &w).n_reciprocal_pathways, 0);
    // The margin is met (-0.5 <= -0.28 - 0.2) but the ratio fails (-0.5 > 2 * -0.28).
    w.slice_mut(s![24..28, 16]).fill(-0.5);
    w.slice_mut(s![20..24, 16]).fill(-0.28);
    assert_eq!(metrics(&y, &w).n_reciprocal_pathways, 0);
}

#[test]
fn iin_without_direction_is_not_reciprocal() {
    let (mut y, w) = passing_net();
    // Hold means 0.3 and 0.15 differ by 0.15 < 0.2.
    let flexion = direction_trace(Direction::Flexion, 0.3);
    let extension = direction_trace(Direction::Extension, 0.15);
    let both = &flexion + &extension - 0.05;
    y.column_mut(16).assign(&both);
    let m = metrics(&y, &w);
    assert_eq!(m.inhibitory[0].silent_direction, None);
    assert_eq!(m.n_reciprocal_pathways, 0);
}

#[test]
fn square_wave_pool_does_not_beat_baseline() {
    let (mut y, w) = passing_net();
    // Replace the flexor phasic-tonic pool (unit 21) by a tonic template at 0.5: its
    // NRMSE stays below 0.1 but is not below the shape-blind baseline.
    let params = params();
    let square = template_trace(
        &params,
        &timeline(),
        TemplateKind::Tonic,
        Direction::Flexion,
        100.0,
    );
    y.column_mut(21).assign(&square);
    let m = metrics(&y, &w);
    let pool = &m.pools[1];
    assert_eq!(pool.unit, 21);
    assert!(pool.nrmse < 0.1, "NRMSE {}", pool.nrmse);
    assert_eq!(pool.beats_baseline, Some(false));
    let failed = m.failed_criteria();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("does not beat the shape-blind baseline"));
}

#[test]
fn offset_pool_fails_nrmse() {
    let (mut y, w) = passing_net();
    // A constant offset of 0.06 on the flexor tonic pool: NRMSE = 0.06 / (0.5 - 0.05) = 0.1333.
    y.column_mut(20).mapv_inplace(|v| v + 0.06);
    let m = metrics(&y, &w);
    assert!(
        (m.pools[0].nrmse - 0.06 / 0.45).abs() < 1e-6,
        "NRMSE {}",
        m.pools[0].nrmse
    );
    let failed = m.failed_criteria();
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("pool 20 (Tonic) NRMSE 0.1333 > 0.1")),
        "{failed:?}"
    );
}

#[test]
fn nonpreferred_bump_fails() {
    let (mut y, w) = passing_net();
    // Extension hold 1 runs over [1200, 2200) ms; 1600 ms lies in its window from +300 ms.
    y[[1600, 22]] = 0.15;
    let m = metrics(&y, &w);
    assert_eq!(m.pools[2].nonpreferred_max, 0.15);
    let failed = m.failed_criteria();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].starts_with("pool 22 non-preferred activity 0.1500"));
}

#[test]
fn late_cm_rm_onsets_fail() {
    let (mut y, w) = passing_net();
    // Shift the six CM/RM templates 100 ms later, behind the pools.
    let original = y.clone();
    for unit in [0, 1, 3, 4, 6, 8] {
        for k in 100..y.nrows() {
            y[[k, unit]] = original[[k - 100, unit]];
        }
    }
    let m = metrics(&y, &w);
    assert!(!m.cm_rm_lead);
    assert!(m
        .failed_criteria()
        .iter()
        .any(|f| f.starts_with("median CM/RM onset")));
}

#[test]
fn rejects_wrong_shape() {
    let y = Array2::zeros((4200, 28));
    let w = Array2::zeros((28, 28));
    let result = wrist_metrics(y.view(), w.view(), &params(), &holds());
    assert!(matches!(
        result,
        Err(Error::ShapeMismatch { name: "y", .. })
    ));
}

#[test]
fn rejects_nan_weight() {
    let (y, mut w) = passing_net();
    w[[3, 7]] = f64::NAN;
    let result = wrist_metrics(y.view(), w.view(), &params(), &holds());
    assert_eq!(
        result,
        Err(Error::NonFinite {
            name: "w",
            index: vec![3, 7]
        })
    );
}

#[test]
fn rejects_single_hold() {
    let y = Array2::zeros((1201, 28));
    let w = Array2::zeros((28, 28));
    let result = wrist_metrics(y.view(), w.view(), &params(), &[1000.0]);
    assert!(matches!(
        result,
        Err(Error::InvalidParameter {
            name: "holds_ms",
            ..
        })
    ));
}
