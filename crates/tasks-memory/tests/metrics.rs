//! Memory metrics and acceptance on synthetic output traces with known errors.

use ndarray::{Array1, ArrayView1};
use tasks_memory::{
    held_values, memory_acceptance, memory_metrics, test_cue_values, EpochMeans, Error,
    MemoryCriteria, MemoryTaskParams, UnitClass,
};

const DELAY_MS: f64 = 3000.0;
const N_ROWS: usize = 3301;

/// Output that is 0 before the delay and `v + offset` over the delay rows 301..=3300.
fn offset_output(v: f64, offset: f64) -> Array1<f64> {
    Array1::from_shape_fn(N_ROWS, |k| if k > 300 { v + offset } else { 0.0 })
}

fn views(outputs: &[Array1<f64>]) -> Vec<ArrayView1<'_, f64>> {
    outputs.iter().map(|o| o.view()).collect()
}

#[test]
fn constant_offsets_by_hand() {
    let values = test_cue_values();
    let offsets = [0.01, -0.02, 0.03, 0.0, -0.04];
    let outputs: Vec<Array1<f64>> = values
        .iter()
        .zip(offsets)
        .map(|(&v, e)| offset_output(v, e))
        .collect();
    let metrics = memory_metrics(
        &views(&outputs),
        &values,
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();

    // Per-value RMS = abs(offset); pooled RMS = sqrt((1 + 4 + 9 + 0 + 16) / 5) * 0.01
    // = sqrt(6) * 0.01 = 0.0244949; max error = 0.04.
    let tolerance = 1e-12;
    for (rms, e) in metrics.per_value_rms.iter().zip(offsets) {
        assert!((rms - e.abs()).abs() < tolerance, "rms {rms} vs {e}");
    }
    assert!((metrics.delay_rms_error - 0.01 * 6f64.sqrt()).abs() < tolerance);
    assert!((metrics.max_error - 0.04).abs() < tolerance);
    for ((held, &v), e) in metrics.held_values.iter().zip(&values).zip(offsets) {
        assert!((held - (v + e)).abs() < tolerance, "held {held}");
    }
}

#[test]
fn delay_rows_start_after_cue_offset() {
    let values = [0.5, 0.7];
    // An error on row 300 (the last cue state) is outside the delay; row 301 is inside.
    let mut before = offset_output(0.5, 0.0);
    before[300] = 0.5 + 0.9;
    let mut inside = offset_output(0.7, 0.0);
    inside[301] = 0.7 + 0.5;
    let metrics = memory_metrics(
        &views(&[before, inside]),
        &values,
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();
    // One error of 0.5 over 3000 delay rows: RMS = 0.5 / sqrt(3000) = 0.00912871.
    let tolerance = 1e-12;
    assert_eq!(metrics.per_value_rms[0], 0.0);
    assert!((metrics.per_value_rms[1] - 0.5 / 3000f64.sqrt()).abs() < tolerance);
    assert!((metrics.max_error - 0.5).abs() < tolerance);
}

#[test]
fn last_row_is_in_delay() {
    let mut output = offset_output(0.4, 0.0);
    output[3300] = 0.4 - 0.3;
    let metrics = memory_metrics(
        &views(&[output.clone(), offset_output(0.6, 0.0)]),
        &[0.4, 0.6],
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();
    assert!(
        (metrics.max_error - 0.3).abs() < 1e-12,
        "max {}",
        metrics.max_error
    );
    // D2 = rows 2801..=3300, 500 rows: mean = 0.4 - 0.3 / 500 = 0.3994.
    let held = held_values(&[output.view()], &MemoryTaskParams::default(), DELAY_MS).unwrap();
    assert!((held[0] - 0.3994).abs() < 1e-12, "held {}", held[0]);
}

#[test]
fn rejects_short_trace() {
    let short = Array1::zeros(N_ROWS - 1);
    let result = memory_metrics(
        &[short.view()],
        &[0.2],
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert!(matches!(
        result,
        Err(Error::ShapeMismatch {
            name: "outputs",
            ..
        })
    ));
}

/// Cue range [-1e300, 1e300], which `validate` accepts.
fn huge_cue_range() -> MemoryTaskParams {
    MemoryTaskParams {
        cue_min: -1e300,
        cue_max: 1e300,
        ..MemoryTaskParams::default()
    }
}

#[test]
fn huge_cues_give_finite_errors() {
    // Every delay row of both outputs is 0, so each differs from its cue by exactly 1e300:
    // per-value RMS, pooled RMS and maximum error are all 1e300, although the squares 1e600
    // exceed f64::MAX.
    let outputs = [Array1::zeros(N_ROWS), Array1::zeros(N_ROWS)];
    let metrics = memory_metrics(
        &views(&outputs),
        &[1e300, -1e300],
        &huge_cue_range(),
        DELAY_MS,
    )
    .unwrap();
    assert_eq!(metrics.per_value_rms, vec![1e300, 1e300]);
    assert_eq!(metrics.delay_rms_error, 1e300);
    assert_eq!(metrics.max_error, 1e300);
    assert_eq!(metrics.held_values, vec![0.0, 0.0]);
}

#[test]
fn huge_outputs_give_finite_held_values() {
    // The 500 late-delay rows of 1e308 sum past f64::MAX, but their mean is 1e308.
    let output = offset_output(1e308, 0.0);
    let held = held_values(&[output.view()], &huge_cue_range(), DELAY_MS).unwrap();
    assert!(((held[0] - 1e308) / 1e308).abs() < 1e-12, "{held:?}");
    // The mean of rows that all equal f64::MAX is f64::MAX itself.
    let output = offset_output(f64::MAX, 0.0);
    let held = held_values(&[output.view()], &huge_cue_range(), DELAY_MS).unwrap();
    assert_eq!(held, vec![f64::MAX]);
}

#[test]
fn rejects_error_beyond_f64_max() {
    // f64::MAX - (-1e300) exceeds f64::MAX by far more than its rounding step 2^971 = 2e292.
    let output = offset_output(f64::MAX, 0.0);
    let err = memory_metrics(&[output.view()], &[-1e300], &huge_cue_range(), DELAY_MS).unwrap_err();
    assert_eq!(
        err,
        Error::MetricOverflow {
            name: "max_error",
            index: 0,
            cue_value: -1e300
        }
    );
    let message = err.to_string();
    assert!(message.contains("max_error of outputs[0]"), "{message}");
    assert!(message.contains("cue value -1e300"), "{message}");
}

#[test]
fn rejects_length_mismatch() {
    let output = offset_output(0.2, 0.0);
    let result = memory_metrics(
        &[output.view()],
        &[0.2, 0.4],
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert!(matches!(
        result,
        Err(Error::LengthMismatch {
            name: "cue_values",
            ..
        })
    ));
}

#[test]
fn rejects_infinite_output() {
    let mut output = offset_output(0.2, 0.0);
    output[5] = f64::INFINITY;
    let result = memory_metrics(
        &[output.view()],
        &[0.2],
        &MemoryTaskParams::default(),
        DELAY_MS,
    );
    assert_eq!(
        result,
        Err(Error::NonFinite {
            name: "outputs",
            index: 0,
            row: 5
        })
    );
}

#[test]
fn rejects_no_outputs() {
    for cue_values in [&[][..], &[0.2][..]] {
        let err =
            memory_metrics(&[], cue_values, &MemoryTaskParams::default(), DELAY_MS).unwrap_err();
        assert_eq!(err, Error::NoTraces { name: "outputs" });
        let message = err.to_string();
        assert!(message.contains("outputs is empty"), "{message}");
    }
    let err = held_values(&[], &MemoryTaskParams::default(), DELAY_MS).unwrap_err();
    assert_eq!(err, Error::NoTraces { name: "outputs" });
}

#[test]
fn rejects_cue_value_outside_range() {
    // The default cue range is [0.2, 1], and cue_trial builds no trial for 1.2.
    let output = offset_output(1.2, 0.0);
    let err = memory_metrics(
        &[output.view()],
        &[1.2],
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { name: "cue_values", value, .. } if value == 1.2),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("[0.2, 1]"), "{message}");
}

fn class(phasic_cue: bool, sustained: bool) -> UnitClass {
    UnitClass {
        phasic_cue,
        sustained,
        phasic_tonic: false,
        ramp: false,
        means: EpochMeans {
            baseline: 0.0,
            cue: 0.0,
            early_delay: 0.0,
            late_delay: 0.0,
        },
        late_delay_value_corr: None,
    }
}

#[test]
fn acceptance_lists_each_failure() {
    let values = test_cue_values();
    let outputs: Vec<Array1<f64>> = values.iter().map(|&v| offset_output(v, 0.06)).collect();
    let metrics = memory_metrics(
        &views(&outputs),
        &values,
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();
    let verdict = memory_acceptance(&metrics, &[class(false, false)], &MemoryCriteria::default());
    assert!(!verdict.accepted);
    assert_eq!(verdict.failed.len(), 3, "{:?}", verdict.failed);
    assert!(verdict.failed[0].starts_with("delay RMS error 0.0600"));
    assert!(verdict.failed[1].starts_with("0 sustained"));
    assert!(verdict.failed[2].starts_with("0 phasic cue"));
}

#[test]
fn acceptance_passes_good_net() {
    let values = test_cue_values();
    let outputs: Vec<Array1<f64>> = values.iter().map(|&v| offset_output(v, 0.02)).collect();
    let metrics = memory_metrics(
        &views(&outputs),
        &values,
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();
    let classes = [class(true, false), class(false, true)];
    let verdict = memory_acceptance(&metrics, &classes, &MemoryCriteria::default());
    assert!(verdict.accepted, "{:?}", verdict.failed);
}

#[test]
fn acceptance_rejects_max_error() {
    let values = [0.2, 0.4];
    let mut spiky = offset_output(0.2, 0.0);
    spiky[1000] = 0.2 + 0.11;
    let outputs = [spiky, offset_output(0.4, 0.0)];
    let metrics = memory_metrics(
        &views(&outputs),
        &values,
        &MemoryTaskParams::default(),
        DELAY_MS,
    )
    .unwrap();
    let classes = [class(true, true)];
    let verdict = memory_acceptance(&metrics, &classes, &MemoryCriteria::default());
    assert_eq!(verdict.failed.len(), 1, "{:?}", verdict.failed);
    assert!(verdict.failed[0].starts_with("max delay error 0.1100"));
}
