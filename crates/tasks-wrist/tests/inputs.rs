//! Desired position and input lines against closed forms.

use tasks_wrist::{
    desired_position, wrist_inputs, WristTaskParams, WristTimeline, INPUT_IA_E, INPUT_IA_F,
    INPUT_T_E, INPUT_T_F,
};

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn test_timeline() -> WristTimeline {
    WristTimeline::new(&WristTaskParams::default(), &[1000.0; 4]).unwrap()
}

#[test]
fn position_matches_closed_form() {
    let params = WristTaskParams::default();
    let desired = desired_position(&params, &test_timeline());
    let tolerance = 1e-12;
    // Baseline: p = 0.
    assert_eq!(desired.position[200], 0.0);
    // First hold: p(200 + k) = 1 - exp(-k / 100).
    for k in [1, 50, 100, 999, 1000] {
        let expected = 1.0 - (-(k as f64) / 100.0).exp();
        let p = desired.position[200 + k];
        assert!((p - expected).abs() < tolerance, "p[{}] = {p}", 200 + k);
    }
    // Second hold: p(1200 + k) = -1 + (p(1200) + 1) exp(-k / 100), p(1200) = 1 - e^-10.
    let p_step = 1.0 - (-10f64).exp();
    for k in [1, 100, 1000] {
        let expected = -1.0 + (p_step + 1.0) * (-(k as f64) / 100.0).exp();
        let p = desired.position[1200 + k];
        assert!((p - expected).abs() < tolerance, "p[{}] = {p}", 1200 + k);
    }
}

#[test]
fn velocity_in_per_second() {
    let desired = desired_position(&WristTaskParams::default(), &test_timeline());
    // At the first step dp/dt = (1 - 0) / 0.1 s = 10 /s; at the second
    // (-1 - p(1200)) / 0.1 s = -(2 - e^-10) * 10 /s.
    assert_eq!(desired.velocity_per_s[199], 0.0);
    assert!((desired.velocity_per_s[200] - 10.0).abs() < 1e-12);
    let expected = -(2.0 - (-10f64).exp()) * 10.0;
    assert!((desired.velocity_per_s[1200] - expected).abs() < 1e-9);
}

#[test]
fn afferent_lines_by_hand() {
    let params = WristTaskParams::default();
    let inputs = wrist_inputs(&params, &test_timeline());
    let tolerance = 1e-12;
    // Baseline: p = 0, dp/dt = 0, both lines logistic(-1) = 0.268941.
    assert!((inputs[[199, INPUT_IA_F]] - logistic(-1.0)).abs() < tolerance);
    assert!((inputs[[199, INPUT_IA_E]] - logistic(-1.0)).abs() < tolerance);
    // Step onset: p = 0, dp/dt = 10 /s: Ia_F = logistic(-1 - 1) = 0.119203,
    // Ia_E = logistic(1 - 1) = 0.5.
    assert!((inputs[[200, INPUT_IA_F]] - 0.11920292202211755).abs() < tolerance);
    assert!((inputs[[200, INPUT_IA_E]] - 0.5).abs() < tolerance);
    // 50 ms into the hold: p = 1 - e^-0.5, dp/dt = 10 e^-0.5 /s.
    let p = 1.0 - (-0.5f64).exp();
    let v = 10.0 * (-0.5f64).exp();
    let ia_f = logistic(-2.0 * p - 0.1 * v - 1.0);
    let ia_e = logistic(2.0 * p + 0.1 * v - 1.0);
    assert!((inputs[[250, INPUT_IA_F]] - ia_f).abs() < tolerance);
    assert!((inputs[[250, INPUT_IA_E]] - ia_e).abs() < tolerance);
}

#[test]
fn target_lines_follow_steps() {
    let inputs = wrist_inputs(&WristTaskParams::default(), &test_timeline());
    let lines = |n: usize| [inputs[[n, INPUT_T_F]], inputs[[n, INPUT_T_E]]];
    assert_eq!(lines(0), [0.0, 0.0]);
    assert_eq!(lines(199), [0.0, 0.0]);
    assert_eq!(lines(200), [1.0, 0.0]);
    assert_eq!(lines(1199), [1.0, 0.0]);
    assert_eq!(lines(1200), [0.0, 1.0]);
    assert_eq!(lines(2200), [1.0, 0.0]);
    assert_eq!(lines(4199), [0.0, 1.0]);
}
