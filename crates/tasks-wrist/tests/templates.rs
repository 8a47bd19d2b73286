//! Template values at chosen times, computed by hand from the template equations.

use tasks_wrist::{
    template_trace, template_value, test_trial, Direction, TemplateKind, WristTaskParams,
    WristTimeline,
};

const TOL: f64 = 1e-12;

fn test_timeline() -> WristTimeline {
    WristTimeline::new(&WristTaskParams::default(), &[1000.0; 4]).unwrap()
}

/// Template of a unit of the test trial at time `t_ms`.
fn value(kind: TemplateKind, preferred: Direction, latency_ms: f64, t_ms: f64) -> f64 {
    template_value(
        &WristTaskParams::default(),
        &test_timeline(),
        kind,
        preferred,
        latency_ms,
        t_ms,
    )
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < TOL,
        "{what}: {actual} vs {expected}, tolerance {TOL}"
    );
}

#[test]
fn tonic_rise_and_decay() {
    use Direction::Flexion;
    use TemplateKind::Tonic;
    // Flexor pool, onset at 200 + 100 ms.
    assert_close(value(Tonic, Flexion, 100.0, 250.0), 0.05, "before onset");
    assert_close(value(Tonic, Flexion, 100.0, 300.0), 0.05, "at onset");
    // t' = 20 ms: 0.05 + (1 - e^-1) 0.45 = 0.334454.
    let expected = 0.05 + (1.0 - (-1f64).exp()) * 0.45;
    assert_close(value(Tonic, Flexion, 100.0, 320.0), expected, "t' = 20 ms");
    // Extension onset at 1300 ms: reached 0.05 + (1 - e^-50) 0.45; 30 ms later one decay
    // time constant has passed: 0.05 + 0.45 e^-1 = 0.215548.
    let reached = 0.05 + (1.0 - (-50f64).exp()) * 0.45;
    assert_close(
        value(Tonic, Flexion, 100.0, 1300.0),
        reached,
        "at opposite onset",
    );
    let decayed = 0.05 + (reached - 0.05) * (-1f64).exp();
    assert_close(
        value(Tonic, Flexion, 100.0, 1330.0),
        decayed,
        "30 ms into decay",
    );
}

#[test]
fn shapes_at_chosen_times() {
    use Direction::Flexion;
    // Phasic-tonic at t' = 80 ms: r = 1 - e^-4, 0.05 + r (0.45 + 0.4 e^-1) = 0.636215.
    let r = 1.0 - (-4f64).exp();
    let expected = 0.05 + r * (0.45 + 0.4 * (-1f64).exp());
    assert_close(
        value(TemplateKind::PhasicTonic, Flexion, 100.0, 380.0),
        expected,
        "phasic-tonic",
    );

    // Decrementing at t' = 300 ms: 0.05 + (1 - e^-15)(0.45 + 0.3 e^-1) = 0.610363.
    let expected = 0.05 + (1.0 - (-15f64).exp()) * (0.45 + 0.3 * (-1f64).exp());
    assert_close(
        value(TemplateKind::Decrementing, Flexion, 100.0, 600.0),
        expected,
        "decrementing",
    );

    // Ramp at t' = 500 ms: 0.05 + (1 - e^-25)(0.25 + 0.15) = 0.45.
    let expected = 0.05 + (1.0 - (-25f64).exp()) * 0.4;
    assert_close(
        value(TemplateKind::Ramp, Flexion, 100.0, 800.0),
        expected,
        "ramp",
    );

    // Phasic RM (latency 60 ms) at t' = 80 ms: 0.05 + (1 - e^-4) 0.6 e^-1 = 0.266685.
    let expected = 0.05 + (1.0 - (-4f64).exp()) * 0.6 * (-1f64).exp();
    assert_close(
        value(TemplateKind::Phasic, Flexion, 60.0, 340.0),
        expected,
        "phasic",
    );
}

#[test]
fn ramp_decays_from_reached_value() {
    // Reached at 1300 ms (t' = 1000 ms): 0.05 + (1 - e^-50)(0.25 + 0.3) = 0.6;
    // 60 ms later: 0.05 + 0.55 e^-2 = 0.124434.
    let reached = 0.05 + (1.0 - (-50f64).exp()) * 0.55;
    let expected = 0.05 + (reached - 0.05) * (-2f64).exp();
    assert_close(
        value(TemplateKind::Ramp, Direction::Flexion, 100.0, 1360.0),
        expected,
        "ramp decay",
    );
}

#[test]
fn extensor_template_rests_until_its_step() {
    use Direction::Extension;
    use TemplateKind::Tonic;
    // First extension step at 1200 ms, onset 1300 ms: y0 before, through the flexion hold.
    assert_close(value(Tonic, Extension, 100.0, 700.0), 0.05, "flexion hold");
    assert_close(value(Tonic, Extension, 100.0, 1299.0), 0.05, "before onset");
    let expected = 0.05 + (1.0 - (-1f64).exp()) * 0.45;
    assert_close(
        value(Tonic, Extension, 100.0, 1320.0),
        expected,
        "t' = 20 ms",
    );
}

#[test]
fn second_preferred_step_restarts() {
    use Direction::Flexion;
    use TemplateKind::PhasicTonic;
    // Second flexion onset at 2300 ms: 20 ms later the template equals the first hold's
    // value 20 ms after its onset at 300 ms.
    let first = value(PhasicTonic, Flexion, 100.0, 320.0);
    let second = value(PhasicTonic, Flexion, 100.0, 2320.0);
    assert_close(second, first, "second flexion hold");
}

#[test]
fn trace_samples_state_times() {
    let params = WristTaskParams::default();
    let trace = template_trace(
        &params,
        &test_timeline(),
        TemplateKind::Tonic,
        Direction::Flexion,
        100.0,
    );
    assert_eq!(trace.len(), 4201);
    let expected = 0.05 + (1.0 - (-1f64).exp()) * 0.45;
    assert_close(trace[320], expected, "trace at 320 ms");
}

#[test]
fn trial_targets_score_next_state() {
    let trial = test_trial(&WristTaskParams::default()).unwrap();
    // Row 319 is compared with y[320], the state at 320 ms.
    let expected = 0.05 + (1.0 - (-1f64).exp()) * 0.45;
    assert_close(trial.targets[[319, 20]], expected, "flexor tonic pool");
    // Extensor tonic pool (unit 24) is at y0 then.
    assert_close(trial.targets[[319, 24]], 0.05, "extensor tonic pool");
    // CM flexor tonic unit (latency 60 ms) at 280 ms is also 20 ms past its onset.
    assert_close(trial.targets[[279, 1]], expected, "CM flexor tonic");
}
