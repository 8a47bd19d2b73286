//! Trial layout, loss weights and sampling.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tasks_wrist::{
    sample_hold_durations_ms, sample_wrist_trial, test_trial, wrist_trial, Error, WristTaskParams,
};

#[test]
fn test_trial_ends_at_4200_ms() {
    let trial = test_trial(&WristTaskParams::default()).unwrap();
    assert_eq!(trial.inputs.dim(), (4200, 4));
    assert_eq!(trial.targets.dim(), (4200, 28));
    assert_eq!(trial.weights.dim(), (4200, 28));
}

#[test]
fn loss_weights_by_unit() {
    let trial = test_trial(&WristTaskParams::default()).unwrap();
    // Pools: 1 / (4200 * 8); templated CM/RM: 0.3 / (4200 * 6); free units: 0.
    let pool = 1.0 / (4200.0 * 8.0);
    let premotor = 0.3 / (4200.0 * 6.0);
    for unit in 0..28 {
        let expected = match unit {
            20..=27 => pool,
            0 | 1 | 3 | 4 | 6 | 8 => premotor,
            _ => 0.0,
        };
        for n in [0, 2100, 4199] {
            assert_eq!(trial.weights[[n, unit]], expected, "weight[{n}, {unit}]");
        }
    }
    let total = trial.weights.sum();
    assert!(
        (total - 1.3).abs() < 1e-12,
        "total weight {total}, tolerance 1e-12"
    );
}

#[test]
fn free_units_have_zero_target() {
    let trial = test_trial(&WristTaskParams::default()).unwrap();
    for unit in [2, 5, 7, 9, 10, 15, 16, 19] {
        assert!(
            trial.targets.column(unit).iter().all(|&t| t == 0.0),
            "unit {unit}"
        );
    }
}

#[test]
fn sampled_holds_in_range() {
    let params = WristTaskParams::default();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..100 {
        let holds = sample_hold_durations_ms(&params, &mut rng).unwrap();
        assert_eq!(holds.len(), 4);
        for hold in holds {
            assert!((700.0..=1500.0).contains(&hold), "hold {hold}");
            assert_eq!(hold.fract(), 0.0, "hold {hold} is whole ms");
        }
    }
}

#[test]
fn same_seed_same_trial() {
    let params = WristTaskParams::default();
    let mut a = ChaCha8Rng::seed_from_u64(9);
    let mut b = ChaCha8Rng::seed_from_u64(9);
    assert_eq!(
        sample_wrist_trial(&params, &mut a).unwrap(),
        sample_wrist_trial(&params, &mut b).unwrap()
    );
}

#[test]
fn rejects_fractional_hold() {
    let result = wrist_trial(&WristTaskParams::default(), &[1000.0, 1000.5]);
    assert!(matches!(
        result,
        Err(Error::NotWholeSteps {
            name: "holds_ms",
            ..
        })
    ));
}

#[test]
fn rejects_negative_hold() {
    let result = wrist_trial(&WristTaskParams::default(), &[1000.0, -5.0]);
    assert!(matches!(
        result,
        Err(Error::InvalidParameter {
            name: "holds_ms",
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn trial_invariants(holds in proptest::collection::vec(700u32..=1500, 1..6)) {
        let holds_ms: Vec<f64> = holds.iter().map(|&h| h as f64).collect();
        let trial = wrist_trial(&WristTaskParams::default(), &holds_ms).unwrap();
        let n_steps = 200 + holds.iter().sum::<u32>() as usize;
        prop_assert_eq!(trial.n_steps(), n_steps);
        let total = trial.weights.sum();
        prop_assert!((total - 1.3).abs() < 1e-9, "total weight {}", total);
        // Templates stay within [y0, 0.9]: the largest is phasic-tonic near its peak
        // (below 0.05 + 0.45 + 0.4) or the ramp at 1.5 s (0.3 + 0.45 = 0.75).
        for &t in trial.targets.iter().filter(|&&t| t != 0.0) {
            prop_assert!((0.05 - 1e-12..=0.9).contains(&t), "target {}", t);
        }
        // At most one target line is on, and afferent lines lie in (0, 1).
        for row in trial.inputs.rows() {
            prop_assert!(row[0] + row[1] <= 1.0);
            prop_assert!(row[2] > 0.0 && row[2] < 1.0 && row[3] > 0.0 && row[3] < 1.0);
        }
    }
}
