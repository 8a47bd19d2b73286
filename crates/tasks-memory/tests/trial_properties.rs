//! Invariants of cue and latch trials over random cue values, delays and seeds.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tasks_memory::{cue_trial, sample_latch_trial, LatchTaskParams, MemoryTaskParams};

proptest! {
    #[test]
    fn cue_trial_weights_form_a_mean(value in 0.2f64..=1.0, delay_steps in 1usize..2000) {
        let params = MemoryTaskParams::default();
        let trial = cue_trial(&params, value, delay_steps as f64).unwrap();
        prop_assert_eq!(trial.n_steps(), 300 + delay_steps);
        let total: f64 = trial.weights.sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "total weight {}", total);
    }

    #[test]
    fn scored_output_targets_are_zero_or_cue(value in 0.2f64..=1.0, delay_steps in 1usize..2000) {
        let params = MemoryTaskParams::default();
        let trial = cue_trial(&params, value, delay_steps as f64).unwrap();
        let out = params.output_unit();
        for n in 0..trial.n_steps() {
            if trial.weights[[n, out]] > 0.0 {
                let expected = if n < 200 { 0.0 } else { value };
                prop_assert_eq!(trial.targets[[n, out]], expected);
            }
        }
        // Cue lines are on for exactly the 100 cue steps.
        prop_assert_eq!(trial.inputs.column(1).sum(), 100.0);
    }

    #[test]
    fn latch_scored_targets_follow_latest_gate(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let trial = sample_latch_trial(&LatchTaskParams::default(), 2500, &mut rng).unwrap();
        let total: f64 = trial.weights.sum();
        prop_assert!((total - 1.0).abs() < 1e-9, "total weight {}", total);
        let mut latched = None;
        for n in 0..trial.n_steps() {
            if trial.inputs[[n, 1]] > 0.0 {
                latched = Some(trial.inputs[[n, 0]]);
            }
            if trial.weights[[n, 8]] > 0.0 {
                prop_assert_eq!(Some(trial.targets[[n, 8]]), latched);
            }
        }
    }
}
