//! The tabulated activation: interpolation, monotonicity, derivative, tails and serde.

mod common;

use common::smooth_table;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use rnn_core::{Activation, Error, TabulatedActivation};

/// Builds a non-decreasing table with flat stretches, steep steps and a kink, to stress the
/// monotone slope limiter.
fn rough_table() -> TabulatedActivation {
    let values = vec![0.0, 0.0, 0.0, 0.01, 0.3, 0.31, 0.31, 0.9, 1.0, 1.02, 1.05];
    TabulatedActivation::new(-1.0, 0.5, values, 1.4).unwrap()
}

#[test]
fn interpolates_nodes() {
    for table in [smooth_table(), rough_table()] {
        for (k, &v) in table.values().iter().enumerate() {
            let x = table.x_min() + k as f64 * table.dx();
            // x is rounded once, so the cubic is evaluated within an ulp of the node.
            assert!((table.value(x) - v).abs() < 1e-13, "node {k}");
        }
    }
}

#[test]
fn derivative_matches_central_difference() {
    // h = 1e-6 on a cubic: truncation h^2 |p'''| / 6 stays below 1e-9 unless |p'''| exceeds
    // 6000, far above what these tables reach; rounding is about 1e-16 / 1e-6 = 1e-10. So
    // 1e-8 absolute. Points within 2h of a knot are skipped because p'' jumps there.
    let h = 1e-6;
    for table in [smooth_table(), rough_table()] {
        let lo = table.x_min() - 1.0;
        let hi = table.x_max() + 3.0;
        for i in 0..=2000 {
            let x = lo + (hi - lo) * i as f64 / 2000.0;
            let position = (x - table.x_min()) / table.dx();
            if (position - position.round()).abs() * table.dx() < 2.0 * h {
                continue;
            }
            let fd = (table.value(x + h) - table.value(x - h)) / (2.0 * h);
            let exact = table.derivative(x);
            assert!((exact - fd).abs() < 1e-8, "x = {x}: {exact} vs {fd}");
        }
    }
}

#[test]
fn continuous_with_continuous_slope_at_upper_end() {
    for table in [smooth_table(), rough_table()] {
        let x_last = table.x_max();
        let v_last = *table.values().last().unwrap();
        let d_end = *table.node_slopes().last().unwrap();
        assert!(d_end > 0.0, "these tables end rising");
        let eps = 1e-9;
        // Value: |phi(x_last +- eps) - v_last| <= d_end * eps + rounding.
        for x in [x_last - eps, x_last, x_last + eps] {
            assert!((table.value(x) - v_last).abs() < 2.0 * d_end * eps + 1e-14);
        }
        // Slope: both sides within 1e-6 of d_end (p'' is O(1), so the change over eps is tiny).
        assert!((table.derivative(x_last - eps) - d_end).abs() < 1e-6);
        assert!((table.derivative(x_last + eps) - d_end).abs() < 1e-6);
    }
}

#[test]
fn tail_approaches_upper_limit() {
    let table = smooth_table();
    let far = table.x_max() + 200.0;
    assert!((table.value(far) - 1.3).abs() < 1e-12);
    assert!(table.value(1e300).is_finite());
    assert_eq!(table.value(1e300), 1.3);
    assert_eq!(table.derivative(1e300), 0.0);
    assert_eq!(Activation::Tabulated(table).upper_bound(), 1.3);
}

#[test]
fn below_table_constant_with_zero_slope() {
    let table = rough_table();
    for x in [-1.0 - 1e-9, -3.0, -1e300] {
        assert_eq!(table.value(x), 0.0);
        assert_eq!(table.derivative(x), 0.0);
    }
}

#[test]
fn flat_end_gives_constant_tail() {
    // The last two values are equal, so the end slope is 0 and the tail stays at 0.5.
    let table = TabulatedActivation::new(0.0, 1.0, vec![0.0, 0.5, 0.5], 2.0).unwrap();
    assert_eq!(*table.node_slopes().last().unwrap(), 0.0);
    assert_eq!(table.value(10.0), 0.5);
    assert_eq!(table.derivative(10.0), 0.0);
    assert_eq!(table.upper_bound(), 0.5);
}

#[test]
fn two_point_table_is_linear() {
    // Two nodes: both slopes equal the secant (1 - 0) / 2 = 0.5, so the cubic is the line.
    let table = TabulatedActivation::new(0.0, 2.0, vec![0.0, 1.0], 1.0).unwrap();
    assert!((table.value(0.5) - 0.25).abs() < 1e-15);
    assert!((table.derivative(1.3) - 0.5).abs() < 1e-15);
    // upper_limit equals the last value: constant tail.
    assert_eq!(table.value(5.0), 1.0);
}

#[test]
fn invalid_tables_rejected() {
    let cases: [(f64, f64, Vec<f64>, f64, &str); 8] = [
        (0.0, 0.0, vec![0.0, 1.0], 1.0, "dx"),
        (0.0, 1e-320, vec![0.0, 1.0], 1.0, "dx"),
        (1e6, 1e-12, vec![0.0, 1.0], 1.0, "dx"),
        (0.0, -1.0, vec![0.0, 1.0], 1.0, "dx"),
        (f64::NAN, 1.0, vec![0.0, 1.0], 1.0, "x_min"),
        (0.0, 1.0, vec![0.5], 1.0, "values.len()"),
        (0.0, 1.0, vec![0.0, 0.6, 0.5], 1.0, "values[2]"),
        (0.0, 1.0, vec![0.0, 1.0], 0.9, "upper_limit"),
    ];
    for (x_min, dx, values, upper, expected_name) in cases {
        let err = TabulatedActivation::new(x_min, dx, values, upper).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { ref name, .. } if name == expected_name),
            "{err}"
        );
    }
    let err =
        TabulatedActivation::new(0.0, 1.0, vec![0.0, f64::INFINITY], f64::INFINITY).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "values[1]"));
}

#[test]
fn serde_round_trip() {
    let activation = Activation::Tabulated(smooth_table());
    let json = serde_json::to_string(&activation).unwrap();
    let back: Activation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, activation);
    assert!(
        !json.contains("slopes"),
        "derived slopes are not serialised"
    );
}

#[test]
fn deserialising_invalid_table_fails() {
    let json = r#"{"x_min":0.0,"dx":1.0,"values":[0.0,0.7,0.2],"upper_limit":1.0}"#;
    let result: Result<TabulatedActivation, _> = serde_json::from_str(json);
    let message = result.unwrap_err().to_string();
    assert!(message.contains("non-decreasing"), "{message}");
}

/// Non-decreasing tables of 2-30 values built from non-negative increments, some exactly 0.
fn monotone_table() -> impl Strategy<Value = TabulatedActivation> {
    (
        -5.0..5.0f64,
        0.01..2.0f64,
        prop::collection::vec(prop_oneof![Just(0.0), 0.0..3.0f64], 1..30),
        0.0..2.0f64,
    )
        .prop_map(|(x_min, dx, increments, headroom)| {
            let mut values = vec![0.0];
            for step in increments {
                values.push(values[values.len() - 1] + step);
            }
            let upper = values[values.len() - 1] + headroom;
            TabulatedActivation::new(x_min, dx, values, upper).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x7ab1e),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn monotone_everywhere(table in monotone_table()) {
        // 50 points per segment from one segment below the table to three above it.
        let start = table.x_min() - table.dx();
        let n_points = (table.values().len() + 4) * 50;
        let mut previous = f64::NEG_INFINITY;
        for i in 0..=n_points {
            let x = start + table.dx() * i as f64 / 50.0;
            let (value, slope) = table.value_and_derivative(x);
            // Hermite rounding can dip by an ulp on flat stretches; allow 1e-12.
            prop_assert!(value >= previous - 1e-12, "decreases at x = {x}");
            prop_assert!(slope >= -1e-12, "negative slope {slope} at x = {x}");
            prop_assert!(value <= table.upper_bound() + 1e-12);
            previous = value;
        }
    }
}
