//! BPTT gradients against central finite differences, and the fast simulation and loss
//! against a plain reference implementation.
//!
//! Finite-difference accuracy. The central difference `(L(p + h) - L(p - h)) / 2h` has a
//! truncation error `h^2 |L'''| / 6` and a rounding error of about `eps |L| K / h`, where `K`
//! counts the roundings that accumulate over the simulated steps. `h = 1e-5` balances the two
//! (the textbook optimum is near `eps^(1/3)`). On these networks, with losses of 0.03-0.7 and
//! weights large enough to drive the units into saturation, the measured absolute error is
//! about 1e-11 to 3e-10. The relative error is therefore taken as
//! `|g_bptt - g_fd| / max(|g_fd|, 1e-4)`: a true relative error for entries of at least 1e-4
//! and an absolute bound of 1e-10 below that, where rounding alone reaches 1e-11.
//!
//! The tabulated activation is a cubic spline that is only C1: its second derivative jumps at
//! the knots. If the `+-h` perturbation moves a pre-activation across a knot, the central
//! difference picks up an error of up to `J h / 4` (`J` = the jump in `L''`), which is not a
//! gradient error. Such entries, a few percent of all, are checked at 1e-4 instead of 1e-6.

mod common;

use common::{
    perturbed_pre_activations, perturbed_reference_simulation, random_case, random_perturbations,
    reference_simulation, smooth_table, table_segment, CaseSize,
};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use rnn_core::{Activation, Gradient, Perturbation, Rnn, Trial};

/// Step of the central differences.
const H: f64 = 1e-5;

/// Relative error bound for gradient entries.
const TOLERANCE: f64 = 1e-6;

/// Bound for entries whose perturbation crosses a table knot.
const KNOT_TOLERANCE: f64 = 1e-4;

/// Gradient magnitude below which the error is measured on an absolute scale.
const FLOOR: f64 = 1e-4;

/// One trainable parameter entry and its two gradients.
struct Check {
    name: String,
    bptt: f64,
    finite_difference: f64,
    /// The `+-h` perturbation moved some pre-activation into another table segment.
    crosses_knot: bool,
}

impl Check {
    fn relative_error(&self) -> f64 {
        (self.bptt - self.finite_difference).abs() / self.finite_difference.abs().max(FLOOR)
    }
}

/// A parameter edit: adds the given step to one entry.
type Edit<'a> = &'a dyn Fn(&mut Rnn, f64);

/// Compares the BPTT gradient with central differences for every trainable entry; checks
/// on the way that masked entries have exactly zero BPTT gradient.
fn compare_gradients(rnn: &Rnn, trials: &[Trial]) -> Vec<Check> {
    let (_, gradient) = rnn.loss_and_gradient(trials).unwrap();
    compare_with(
        rnn,
        trials,
        &gradient,
        &|net: &Rnn| net.loss(trials).unwrap(),
        None,
    )
}

/// [`compare_gradients`] for the loss and gradient with `perturbations` in the forward pass.
fn compare_perturbed_gradients(
    rnn: &Rnn,
    trials: &[Trial],
    perturbations: &[Perturbation],
) -> Vec<Check> {
    let (_, gradient) = rnn
        .loss_and_gradient_perturbed(trials, perturbations)
        .unwrap();
    let loss = |net: &Rnn| net.loss_perturbed(trials, perturbations).unwrap();
    compare_with(rnn, trials, &gradient, &loss, Some(perturbations))
}

/// Compares `gradient` with central differences of `loss` for every trainable entry. The
/// table segments of the pre-activations are those of the forward pass with
/// `perturbations`, whose drive offsets shift them.
fn compare_with(
    rnn: &Rnn,
    trials: &[Trial],
    gradient: &Gradient,
    loss: &dyn Fn(&Rnn) -> f64,
    perturbations: Option<&[Perturbation]>,
) -> Vec<Check> {
    let perturbed = |edit: Edit, step: f64| {
        let mut copy = rnn.clone();
        edit(&mut copy, step);
        copy
    };
    let central = |edit: Edit| {
        let plus = loss(&perturbed(edit, H));
        let minus = loss(&perturbed(edit, -H));
        (plus - minus) / (2.0 * H)
    };
    let segments = |net: &Rnn| -> Vec<i64> {
        let Activation::Tabulated(table) = &net.config.activation else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, trial) in trials.iter().enumerate() {
            let perturbation = perturbations.map(|all| &all[k]);
            out.extend(
                perturbed_pre_activations(net, &trial.inputs, perturbation)
                    .iter()
                    .map(|&v| table_segment(table, v)),
            );
        }
        out
    };
    let crosses_knot = |edit: Edit| segments(&perturbed(edit, H)) != segments(&perturbed(edit, -H));
    let check = |name: String, bptt: f64, edit: Edit| Check {
        name,
        bptt,
        finite_difference: central(edit),
        crosses_knot: crosses_knot(edit),
    };

    let mut checks = Vec::new();
    let n = rnn.n_units();
    for i in 0..n {
        for j in 0..n {
            if rnn.config.connection_allowed(i, j) {
                let edit = move |r: &mut Rnn, h: f64| r.w[[i, j]] += h;
                checks.push(check(format!("w[{i}, {j}]"), gradient.w[[i, j]], &edit));
            } else {
                assert_eq!(gradient.w[[i, j]], 0.0, "masked w[{i}, {j}]");
            }
        }
        for k in 0..rnn.n_inputs() {
            if rnn.config.input_allowed(i, k) {
                let edit = move |r: &mut Rnn, h: f64| r.u[[i, k]] += h;
                checks.push(check(format!("u[{i}, {k}]"), gradient.u[[i, k]], &edit));
            } else {
                assert_eq!(gradient.u[[i, k]], 0.0, "masked u[{i}, {k}]");
            }
        }
        let edit = move |r: &mut Rnn, h: f64| r.b[i] += h;
        checks.push(check(format!("b[{i}]"), gradient.b[i], &edit));
        let edit = move |r: &mut Rnn, h: f64| r.y0[i] += h;
        checks.push(check(format!("y0[{i}]"), gradient.y0[i], &edit));
        if rnn.config.train_tau {
            let edit = move |r: &mut Rnn, h: f64| r.config.tau_ms[i] += h;
            checks.push(check(format!("tau_ms[{i}]"), gradient.tau_ms[i], &edit));
        }
    }
    checks
}

fn assert_gradients_match(rnn: &Rnn, trials: &[Trial]) -> Result<(), TestCaseError> {
    assert_checks_pass(compare_gradients(rnn, trials))
}

fn assert_checks_pass(checks: Vec<Check>) -> Result<(), TestCaseError> {
    for check in checks {
        let tolerance = if check.crosses_knot {
            KNOT_TOLERANCE
        } else {
            TOLERANCE
        };
        prop_assert!(
            check.relative_error() < tolerance,
            "{}: bptt {:e}, finite difference {:e}, relative error {:e} >= {:e}",
            check.name,
            check.bptt,
            check.finite_difference,
            check.relative_error(),
            tolerance
        );
    }
    Ok(())
}

fn case_size() -> impl Strategy<Value = CaseSize> {
    (2usize..=5, 1usize..=3, 5usize..=30, 1usize..=3).prop_map(
        |(n_units, n_inputs, n_steps, n_trials)| CaseSize {
            n_units,
            n_inputs,
            n_steps,
            n_trials,
        },
    )
}

fn fixed_seed_config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(fixed_seed_config(256, 0x5eed_0001))]

    #[test]
    fn logistic_gradient_matches_finite_differences(size in case_size(), seed in any::<u64>()) {
        let (rnn, trials) = random_case(size, seed, Activation::Logistic);
        assert_gradients_match(&rnn, &trials)?;
    }

    #[test]
    fn tabulated_gradient_matches_finite_differences(size in case_size(), seed in any::<u64>()) {
        let (rnn, trials) = random_case(size, seed, Activation::Tabulated(smooth_table()));
        assert_gradients_match(&rnn, &trials)?;
    }

    #[test]
    fn simulation_and_loss_match_reference(
        size in case_size(),
        seed in any::<u64>(),
        tabulated in any::<bool>(),
    ) {
        let activation = if tabulated {
            Activation::Tabulated(smooth_table())
        } else {
            Activation::Logistic
        };
        let (rnn, trials) = random_case(size, seed, activation);

        // States: only the summation order differs and states are O(1), so 1e-12 is ample.
        let mut reference_loss = 0.0;
        for trial in &trials {
            let fast = rnn.simulate(trial.inputs.view()).unwrap();
            let reference = reference_simulation(&rnn, &trial.inputs);
            let largest = (&fast - &reference).mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b));
            prop_assert!(largest < 1e-12, "max |fast - reference| = {largest:e}");
            let residual = &reference.slice(ndarray::s![1.., ..]) - &trial.targets;
            reference_loss += (&trial.weights * &residual * &residual).sum();
        }
        reference_loss /= trials.len() as f64;

        // Loss: a sum of O(100) terms of size <= 1, so 1e-12 relative.
        let loss = rnn.loss(&trials).unwrap();
        prop_assert!((loss - reference_loss).abs() <= 1e-12 * reference_loss.abs().max(1e-3));
        let (loss_with_gradient, _) = rnn.loss_and_gradient(&trials).unwrap();
        prop_assert_eq!(loss, loss_with_gradient);
    }
}

proptest! {
    #![proptest_config(fixed_seed_config(64, 0x5eed_0002))]

    #[test]
    fn perturbed_gradient_matches_finite_differences(
        size in case_size(),
        seed in any::<u64>(),
        tabulated in any::<bool>(),
    ) {
        let activation = if tabulated {
            Activation::Tabulated(smooth_table())
        } else {
            Activation::Logistic
        };
        let (rnn, trials) = random_case(size, seed, activation);
        let perturbations = random_perturbations(&trials, rnn.n_units(), seed ^ 0x9e37);
        assert_checks_pass(compare_perturbed_gradients(&rnn, &trials, &perturbations))?;
    }

    #[test]
    fn perturbed_loss_matches_reference(
        size in case_size(),
        seed in any::<u64>(),
        tabulated in any::<bool>(),
    ) {
        let activation = if tabulated {
            Activation::Tabulated(smooth_table())
        } else {
            Activation::Logistic
        };
        let (rnn, trials) = random_case(size, seed, activation);
        let perturbations = random_perturbations(&trials, rnn.n_units(), seed ^ 0x9e37);
        let mut reference_loss = 0.0;
        for (trial, perturbation) in trials.iter().zip(&perturbations) {
            let y = perturbed_reference_simulation(&rnn, &trial.inputs, Some(perturbation));
            let residual = &y.slice(ndarray::s![1.., ..]) - &trial.targets;
            reference_loss += (&trial.weights * &residual * &residual).sum();
        }
        reference_loss /= trials.len() as f64;

        // As for the unperturbed loss: O(100) terms of size <= 1, so 1e-12 relative.
        let loss = rnn.loss_perturbed(&trials, &perturbations).unwrap();
        prop_assert!((loss - reference_loss).abs() <= 1e-12 * reference_loss.abs().max(1e-3));
        let (loss_with_gradient, _) =
            rnn.loss_and_gradient_perturbed(&trials, &perturbations).unwrap();
        prop_assert_eq!(loss, loss_with_gradient);
    }
}

/// Zero perturbations give the unperturbed loss and gradient bit for bit, and non-zero ones
/// change both.
#[test]
fn zero_perturbation_changes_nothing() {
    let size = CaseSize {
        n_units: 4,
        n_inputs: 2,
        n_steps: 25,
        n_trials: 6,
    };
    let (rnn, trials) = random_case(size, 5, Activation::Tabulated(smooth_table()));
    let zeros: Vec<Perturbation> = trials
        .iter()
        .map(|trial| Perturbation {
            drive_offset: ndarray::Array1::zeros(4),
            state_noise: Some(ndarray::Array2::zeros((trial.n_steps(), 4))),
        })
        .collect();
    let plain = rnn.loss_and_gradient(&trials).unwrap();
    let zero = rnn.loss_and_gradient_perturbed(&trials, &zeros).unwrap();
    assert_eq!(plain.0, zero.0);
    assert_eq!(plain.1, zero.1);
    let random = random_perturbations(&trials, 4, 8);
    let perturbed = rnn.loss_and_gradient_perturbed(&trials, &random).unwrap();
    assert_ne!(plain.0, perturbed.0);
    assert_ne!(plain.1.b, perturbed.1.b);
}

#[test]
fn perturbations_of_wrong_shape_rejected() {
    let size = CaseSize {
        n_units: 3,
        n_inputs: 1,
        n_steps: 10,
        n_trials: 2,
    };
    let (rnn, trials) = random_case(size, 2, Activation::Logistic);
    let mut perturbations = random_perturbations(&trials, 3, 1);
    let err = rnn
        .loss_perturbed(&trials, &perturbations[..1])
        .unwrap_err()
        .to_string();
    assert!(err.contains("perturbations"), "{err}");

    perturbations[1].drive_offset = ndarray::Array1::zeros(4);
    let err = rnn
        .loss_perturbed(&trials, &perturbations)
        .unwrap_err()
        .to_string();
    assert!(err.contains("perturbations[1].drive_offset"), "{err}");

    let mut perturbations = random_perturbations(&trials, 3, 1);
    perturbations[0].state_noise = Some(ndarray::Array2::zeros((9, 3)));
    let err = rnn
        .loss_and_gradient_perturbed(&trials, &perturbations)
        .unwrap_err()
        .to_string();
    assert!(err.contains("perturbations[0].state_noise"), "{err}");

    let mut perturbations = random_perturbations(&trials, 3, 1);
    perturbations[1].drive_offset[2] = f64::NAN;
    let err = rnn
        .loss_perturbed(&trials, &perturbations)
        .unwrap_err()
        .to_string();
    assert!(err.contains("perturbations[1].drive_offset"), "{err}");
}

/// The random cases must drive pre-activations below and above the table, or the gradient
/// check would not cover the constant and exponential parts of the curve.
#[test]
fn random_cases_reach_both_table_ends() {
    let table = smooth_table();
    let n_cases = 100;
    let (mut below, mut above, mut both) = (0, 0, 0);
    for seed in 0..n_cases {
        let size = CaseSize {
            n_units: 2 + (seed as usize % 4),
            n_inputs: 1 + (seed as usize % 3),
            n_steps: 20,
            n_trials: 1,
        };
        let (rnn, trials) = random_case(size, seed, Activation::Tabulated(table.clone()));
        let (_, x) = rnn
            .simulate_with_pre_activations(trials[0].inputs.view())
            .unwrap();
        let reaches_below = x.iter().any(|&v| v < table.x_min());
        let reaches_above = x.iter().any(|&v| v > table.x_max());
        below += usize::from(reaches_below);
        above += usize::from(reaches_above);
        both += usize::from(reaches_below && reaches_above);
    }
    // Seeds 0..100 give 74, 71 and 55 cases.
    assert!(
        below >= 60,
        "only {below} of {n_cases} cases go below the table"
    );
    assert!(
        above >= 60,
        "only {above} of {n_cases} cases go above the table"
    );
    assert!(both >= 40, "only {both} of {n_cases} cases reach both ends");
}

#[test]
fn fixed_initial_state_has_zero_gradient() {
    let size = CaseSize {
        n_units: 3,
        n_inputs: 2,
        n_steps: 15,
        n_trials: 2,
    };
    let (mut rnn, trials) = random_case(size, 11, Activation::Logistic);
    let (_, trained) = rnn.loss_and_gradient(&trials).unwrap();
    assert!(trained.y0.iter().any(|&g| g != 0.0));
    rnn.config.train_y0 = false;
    let (_, fixed) = rnn.loss_and_gradient(&trials).unwrap();
    assert!(fixed.y0.iter().all(|&g| g == 0.0));
    assert_eq!(fixed.w, trained.w);
}
