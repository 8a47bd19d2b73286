//! Unit classifier on synthetic traces whose epoch means are known by construction.

use ndarray::{Array2, ArrayView2};
use tasks_memory::{classify_units, test_cue_values, Error, MemoryTaskParams};

const DELAY_MS: f64 = 3000.0;
const N_ROWS: usize = 3301;

/// Builds one trace per test cue value from `unit_fn(row, v)` for each unit.
fn traces(units: &[&dyn Fn(usize, f64) -> f64]) -> Vec<Array2<f64>> {
    test_cue_values()
        .iter()
        .map(|&v| Array2::from_shape_fn((N_ROWS, units.len()), |(k, i)| units[i](k, v)))
        .collect()
}

fn views(traces: &[Array2<f64>]) -> Vec<ArrayView2<'_, f64>> {
    traces.iter().map(|t| t.view()).collect()
}

// Rows with the defaults and a 3000 ms delay: baseline 1..=200, cue 201..=300,
// delay 301..=3300, D1 401..=700, D2 2801..=3300.
fn in_cue(k: usize) -> bool {
    (201..=300).contains(&k)
}

#[test]
fn synthetic_units_get_expected_labels() {
    let phasic_cue = |k: usize, _v: f64| if in_cue(k) { 0.7 } else { 0.1 };
    let sustained = |k: usize, v: f64| if k > 200 { 0.1 + 0.5 * v } else { 0.1 };
    let phasic_tonic_coding = |k: usize, v: f64| match k {
        0..=200 => 0.1,
        201..=300 => 0.8,
        _ => 0.3 + 0.1 * v,
    };
    let ramp = |k: usize, _v: f64| {
        if k > 300 {
            0.1 + 0.5 * (k - 300) as f64 / 3000.0
        } else {
            0.1
        }
    };
    let silent = |_k: usize, _v: f64| 0.2;
    let inverted = |k: usize, v: f64| if k > 200 { 0.8 - 0.5 * v } else { 0.1 };
    let traces = traces(&[
        &phasic_cue,
        &sustained,
        &phasic_tonic_coding,
        &ramp,
        &silent,
        &inverted,
    ]);
    let classes = classify_units(
        &views(&traces),
        &test_cue_values(),
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();

    let labels: Vec<[bool; 4]> = classes
        .iter()
        .map(|c| [c.phasic_cue, c.sustained, c.phasic_tonic, c.ramp])
        .collect();
    // Order: [phasic_cue, sustained, phasic_tonic, ramp].
    assert_eq!(labels[0], [true, false, false, false], "phasic cue unit");
    assert_eq!(labels[1], [false, true, false, false], "sustained unit");
    // C - D2 = 0.8 - 0.36 = 0.44, D2 - B = 0.26, D1 = D2 and corr = 1: two labels.
    assert_eq!(
        labels[2],
        [false, true, true, false],
        "phasic-tonic coding unit"
    );
    assert_eq!(labels[3], [false, false, false, true], "ramp unit");
    assert_eq!(labels[4], [false; 4], "silent unit");
    assert_eq!(
        labels[5],
        [false, true, false, false],
        "inverted sustained unit"
    );
}

#[test]
fn epoch_means_by_hand() {
    let ramp = |k: usize, _v: f64| {
        if k > 300 {
            0.1 + 0.5 * (k - 300) as f64 / 3000.0
        } else {
            0.1
        }
    };
    let traces = traces(&[&ramp]);
    let class = &classify_units(
        &views(&traces),
        &test_cue_values(),
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap()[0];
    // D1 rows 401..=700 have mean k = 550.5, so D1 = 0.1 + 0.5 * 250.5 / 3000 = 0.14175.
    // D2 rows 2801..=3300 have mean k = 3050.5, so D2 = 0.1 + 0.5 * 2750.5 / 3000.
    let tolerance = 1e-12;
    assert!((class.means.baseline - 0.1).abs() < tolerance);
    assert!((class.means.cue - 0.1).abs() < tolerance);
    assert!((class.means.early_delay - 0.14175).abs() < tolerance);
    let d2 = 0.1 + 0.5 * 2750.5 / 3000.0;
    assert!((class.means.late_delay - d2).abs() < tolerance);
    assert_eq!(class.late_delay_value_corr, None);
}

#[test]
fn thresholds_are_strict() {
    // C - B = 0.19 stays below the 0.2 phasic cue threshold.
    let weak = |k: usize, _v: f64| if in_cue(k) { 0.29 } else { 0.1 };
    // D2 - B = 0.09 stays below the 0.1 sustained threshold despite corr = 1.
    let shallow = |k: usize, v: f64| if k > 200 { 0.1 + 0.15 * v } else { 0.1 };
    let traces = traces(&[&weak, &shallow]);
    let classes = classify_units(
        &views(&traces),
        &test_cue_values(),
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();
    assert!(!classes[0].phasic_cue);
    assert!(!classes[1].sustained);
    let corr = classes[1].late_delay_value_corr.unwrap();
    assert!((corr - 1.0).abs() < 1e-12, "corr {corr}, tolerance 1e-12");
}

#[test]
fn rejects_mismatched_cue_values() {
    let silent = |_k: usize, _v: f64| 0.2;
    let traces = traces(&[&silent]);
    let result = classify_units(
        &views(&traces),
        &[0.2, 0.4],
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert!(matches!(result, Err(Error::LengthMismatch { .. })));
}

#[test]
fn rejects_single_cue_value() {
    let trace = Array2::<f64>::zeros((N_ROWS, 3));
    let result = classify_units(
        &[trace.view()],
        &[0.5],
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert_eq!(result, Err(Error::TooFewCueValues { n_distinct: 1 }));
    let repeated = classify_units(
        &[trace.view(), trace.view()],
        &[0.5, 0.5],
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert_eq!(repeated, Err(Error::TooFewCueValues { n_distinct: 1 }));
}

#[test]
fn rejects_no_traces() {
    let err = classify_units(&[], &[], &MemoryTaskParams::default(), DELAY_MS).unwrap_err();
    assert_eq!(err, Error::TooFewCueValues { n_distinct: 0 });
    let message = err.to_string();
    assert!(!message.contains("NaN"), "{message}");
    assert!(message.contains("0 distinct values"), "{message}");
}

#[test]
fn rejects_wrong_row_count() {
    let traces: Vec<Array2<f64>> = (0..5).map(|_| Array2::zeros((N_ROWS - 1, 3))).collect();
    let result = classify_units(
        &views(&traces),
        &test_cue_values(),
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert!(matches!(result, Err(Error::ShapeMismatch { index: 0, .. })));
}

#[test]
fn rejects_traces_without_units() {
    let traces: Vec<Array2<f64>> = (0..5).map(|_| Array2::zeros((N_ROWS, 0))).collect();
    let err = classify_units(
        &views(&traces),
        &test_cue_values(),
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::NoUnits {
            name: "traces",
            index: 0,
            n_rows: N_ROWS
        }
    );
    let message = err.to_string();
    assert!(message.contains("traces[0] has no units"), "{message}");
    assert!(!message.contains("was expected"), "{message}");
}

#[test]
fn rejects_nan_activity() {
    let mut traces: Vec<Array2<f64>> = (0..5).map(|_| Array2::zeros((N_ROWS, 3))).collect();
    traces[2][[17, 1]] = f64::NAN;
    let result = classify_units(
        &views(&traces),
        &test_cue_values(),
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert_eq!(
        result,
        Err(Error::NonFinite {
            name: "traces",
            index: 2,
            row: 17
        })
    );
}

#[test]
fn rejects_cue_value_outside_range() {
    // The default cue range is [0.2, 1]. cue_trial builds no trial for 1.5 or 0.1, so traces
    // labelled with these values did not come from the task.
    let silent = |_k: usize, _v: f64| 0.2;
    let traces = traces(&[&silent]);
    for bad in [1.5, 0.1] {
        let mut cue_values = test_cue_values();
        cue_values[3] = bad;
        let err = classify_units(
            &views(&traces),
            &cue_values,
            &MemoryTaskParams::default(),
            DELAY_MS,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "cue_values", value, .. } if value == bad),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("[0.2, 1]"), "{message}");
    }
}

#[test]
fn accepts_cue_range_ends() {
    // A narrowed range [0.4, 0.6] accepts its own ends.
    let params = MemoryTaskParams {
        cue_min: 0.4,
        cue_max: 0.6,
        ..MemoryTaskParams::default()
    };
    let silent = |_k: usize, _v: f64| 0.2;
    let traces = traces(&[&silent]);
    let cue_values = [0.4, 0.45, 0.5, 0.55, 0.6];
    let classes = classify_units(&views(&traces), &cue_values, &params, DELAY_MS).unwrap();
    assert_eq!(classes.len(), 1);
}
