//! The read-out network: gradient against central differences, agreement of f32 with f64,
//! bit-identical training for 1, 2 and 8 threads, and divergence errors.

use ndarray::{Array3, ArrayView3, ShapeBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnn_core::{AdamConfig, Error, ReadoutAdam, ReadoutGradient, ReadoutNet};

/// A batch of random inputs in [-1, 1] and targets in [-0.5, 0.5].
fn random_batch(seed: u64, n_steps: usize, batch: usize) -> (Array3<f64>, Array3<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let inputs = Array3::from_shape_simple_fn((n_steps, batch, 2), || rng.random_range(-1.0..1.0));
    let targets = Array3::from_shape_simple_fn((n_steps, batch, 2), || rng.random_range(-0.5..0.5));
    (inputs, targets)
}

fn network(seed: u64, n: usize) -> ReadoutNet<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = ReadoutNet::new_using(n, 2, 2, 0.2, 2.0, &mut rng).unwrap();
    net.b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
    net.b_out.mapv_inplace(|_| rng.random_range(-0.5..0.5));
    net
}

fn loss(net: &ReadoutNet<f64>, inputs: ArrayView3<f64>, targets: ArrayView3<f64>) -> f64 {
    net.loss_and_gradient(inputs, targets).unwrap().0
}

#[test]
fn gradient_matches_central_differences() {
    // h = 1e-5 on losses of order 0.1-1 over 25 steps: truncation h^2 |L'''| / 6 and
    // rounding about 1e-16 / 1e-5 are both near 1e-11, so 1e-7 relative error with a floor
    // of 1e-4 on the scale leaves a wide margin. A batch of 11 trials fills one chunk of 8
    // and a padded chunk of 3, so padding is covered.
    let h = 1e-5;
    let (inputs, targets) = random_batch(5, 25, 11);
    let net = network(4, 5);
    let (_, gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    type Entry = fn(&mut ReadoutNet<f64>) -> &mut [f64];
    type GradientEntry = fn(&ReadoutGradient<f64>) -> &[f64];
    let parameters: [(&str, Entry, GradientEntry); 5] = [
        (
            "w",
            |n| n.w.as_slice_mut().unwrap(),
            |g| g.w.as_slice().unwrap(),
        ),
        (
            "u",
            |n| n.u.as_slice_mut().unwrap(),
            |g| g.u.as_slice().unwrap(),
        ),
        (
            "b",
            |n| n.b.as_slice_mut().unwrap(),
            |g| g.b.as_slice().unwrap(),
        ),
        (
            "w_out",
            |n| n.w_out.as_slice_mut().unwrap(),
            |g| g.w_out.as_slice().unwrap(),
        ),
        (
            "b_out",
            |n| n.b_out.as_slice_mut().unwrap(),
            |g| g.b_out.as_slice().unwrap(),
        ),
    ];
    for (name, entries, gradient_entries) in parameters {
        let exact = gradient_entries(&gradient);
        for (k, &bptt) in exact.iter().enumerate() {
            let mut plus = net.clone();
            entries(&mut plus)[k] += h;
            let mut minus = net.clone();
            entries(&mut minus)[k] -= h;
            let fd = (loss(&plus, inputs.view(), targets.view())
                - loss(&minus, inputs.view(), targets.view()))
                / (2.0 * h);
            let error = (bptt - fd).abs() / fd.abs().max(1e-4);
            assert!(error < 1e-7, "{name}[{k}]: bptt {bptt:e}, fd {fd:e}");
        }
    }
}

#[test]
fn large_network_w_gradient_matches_central_differences() {
    // From 48 units on, the W gradient is summed as a matrix product over steps and lanes
    // in place of per-lane sums. The bounds are those of the test above. Checking every 23rd
    // entry of W keeps the test short: 109 of 2500 entries, which cover every row and,
    // because 23 and 50 are coprime, every column.
    let h = 1e-5;
    let (inputs, targets) = random_batch(15, 25, 11);
    let net = network(14, 50);
    let (_, gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let exact = gradient.w.as_slice().unwrap();
    for k in (0..exact.len()).step_by(23) {
        let mut plus = net.clone();
        plus.w.as_slice_mut().unwrap()[k] += h;
        let mut minus = net.clone();
        minus.w.as_slice_mut().unwrap()[k] -= h;
        let fd = (loss(&plus, inputs.view(), targets.view())
            - loss(&minus, inputs.view(), targets.view()))
            / (2.0 * h);
        let error = (exact[k] - fd).abs() / fd.abs().max(1e-4);
        assert!(error < 1e-7, "w[{k}]: bptt {:e}, fd {fd:e}", exact[k]);
    }
}

#[test]
fn f32_agrees_with_f64() {
    // f32 rounding (6e-8) grows over 40 steps of a contracting map to about 1e-5 relative.
    let (inputs, targets) = random_batch(7, 40, 20);
    let net = network(6, 12);
    let (loss_64, gradient_64) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let net_32: ReadoutNet<f32> = net.to_precision();
    let (loss_32, gradient_32) = net_32
        .loss_and_gradient(
            inputs.mapv(|v| v as f32).view(),
            targets.mapv(|v| v as f32).view(),
        )
        .unwrap();
    assert!(((loss_32 - loss_64) / loss_64).abs() < 1e-5);
    let scale = gradient_64.w.iter().fold(0.0f64, |a, g| a.max(g.abs()));
    for (g32, g64) in gradient_32.w.iter().zip(&gradient_64.w) {
        assert!(
            (f64::from(*g32) - g64).abs() < 1e-4 * scale,
            "{g32} vs {g64}"
        );
    }
}

/// Trains a network of `n` units for a few steps on a pool of `threads` threads and returns
/// the weights.
fn train_on_threads<T: rnn_core::Real>(n: usize, threads: usize) -> ReadoutNet<T> {
    let (inputs, targets) = random_batch(9, 30, 37);
    let inputs = inputs.mapv(T::from_f64);
    let targets = targets.mapv(T::from_f64);
    let mut net: ReadoutNet<T> = network(8, n).to_precision();
    let mut adam = ReadoutAdam::new(AdamConfig::default(), &net).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for _ in 0..5 {
            let (_, gradient) = net
                .loss_and_gradient(inputs.view(), targets.view())
                .unwrap();
            adam.step(&mut net, &gradient).unwrap();
        }
    });
    net
}

#[test]
fn training_bit_identical_across_threads() {
    // 9 units use per-lane W gradient sums, 50 units the matrix-product form.
    let bits = |net: &ReadoutNet<f64>| net.w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for n in [9, 50] {
        let single_thread = train_on_threads::<f64>(n, 1);
        for threads in [2, 8] {
            let many = train_on_threads::<f64>(n, threads);
            assert_eq!(
                bits(&single_thread),
                bits(&many),
                "n {n}, {threads} threads"
            );
            assert_eq!(single_thread, many, "n {n}, {threads} threads");
        }
        let single_thread = train_on_threads::<f32>(n, 1);
        for threads in [2, 8] {
            let many = train_on_threads::<f32>(n, threads);
            assert_eq!(single_thread, many, "n {n}, {threads} threads");
        }
    }
}

#[test]
fn non_finite_gradient_leaves_weights() {
    let mut net = network(10, 4);
    let (inputs, targets) = random_batch(11, 10, 3);
    let (_, mut gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let mut adam = ReadoutAdam::new(AdamConfig::default(), &net).unwrap();
    adam.step(&mut net, &gradient).unwrap();
    let before = net.clone();
    gradient.w_out[[1, 2]] = f64::NAN;
    let err = adam.step(&mut net, &gradient).unwrap_err();
    assert_eq!(
        err,
        Error::Diverged {
            iteration: 1,
            parameter: "w_out".into()
        }
    );
    assert_eq!(net, before);
    assert_eq!(adam.step_count(), 1);
}

#[test]
fn overflowing_update_is_divergence() {
    // The first Adam step moves each parameter by about the learning rate (the bias-corrected
    // m / sqrt(v) is +-1), so a rate of 1e39 takes every `f32` weight past f32::MAX (3.4e38)
    // although the gradient is finite.
    let mut net = network(10, 4).to_precision::<f32>();
    let (inputs, targets) = random_batch(11, 10, 3);
    let (inputs, targets) = (inputs.mapv(|x| x as f32), targets.mapv(|x| x as f32));
    let (_, gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let config = AdamConfig {
        learning_rate: 1e39,
        ..AdamConfig::default()
    };
    let mut adam = ReadoutAdam::new(config, &net).unwrap();
    let before = net.clone();
    let err = adam.step(&mut net, &gradient).unwrap_err();
    assert_eq!(
        err,
        Error::Diverged {
            iteration: 0,
            parameter: "w".into()
        }
    );
    assert_eq!(net, before);
    assert_eq!(adam.step_count(), 0);
}

#[test]
fn overflowing_loss_is_an_error() {
    // Targets of 1e200 are finite, but each squared residual, about 1e400, overflows f64.
    let net = network(13, 3);
    let (inputs, mut targets) = random_batch(2, 5, 2);
    targets.fill(1e200);
    let err = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Overflow { quantity, precision: "f64", .. } if quantity == "loss"),
        "{err}"
    );
}

#[test]
fn overflowing_gradient_is_an_error() {
    // Targets of f32::MAX are finite, and their squared residuals, summed in f64, stay
    // finite too. Each read-out error is 2 / (4 steps x 10 trials x 2 outputs) times a
    // residual of about -f32::MAX, so the b_out gradient, a sum of 40 of them, overflows f32.
    let net: ReadoutNet<f32> = network(14, 3).to_precision();
    let (inputs, _) = random_batch(3, 4, 10);
    let inputs = inputs.mapv(|v| v as f32);
    let targets = Array3::from_elem((4, 10, 2), f32::MAX);
    let err = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Overflow { quantity, precision: "f32", .. } if quantity == "gradient.b_out[0]"),
        "{err}"
    );
}

#[test]
fn clipping_survives_overflowing_norm() {
    // Entries of 1e300 square to infinity, but the norm scaled by the largest entry does not.
    // The step is therefore clipped to norm 1, and Adam's first step moves each entry by lr.
    let mut net = network(12, 3);
    let mut adam = ReadoutAdam::new(AdamConfig::default(), &net).unwrap();
    let (_, mut gradient) = net
        .loss_and_gradient(
            random_batch(1, 5, 2).0.view(),
            random_batch(1, 5, 2).1.view(),
        )
        .unwrap();
    gradient.w.fill(1e300);
    let before = net.clone();
    adam.step(&mut net, &gradient).unwrap();
    let moved = before.w[[0, 0]] - net.w[[0, 0]];
    // Nine equal entries of w clip to 1/3 each. Adam's first step moves an entry by
    // lr |g| / (|g| + eps) = 2e-3 (1 - 3e-8), so within 1e-10 of lr.
    assert!((moved - 2e-3).abs() < 1e-10, "moved {moved}");
}

#[test]
fn wrong_shapes_are_rejected() {
    let net = network(13, 3);
    let (inputs, targets) = random_batch(2, 5, 2);
    let err = net
        .loss_and_gradient(inputs.view(), targets.slice(ndarray::s![.., .., ..1]))
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { ref name, .. } if name == "targets"));
    let no_steps = Array3::zeros((0, 2, 2));
    let err = net
        .loss_and_gradient(no_steps.view(), no_steps.view())
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { ref name, .. } if name == "inputs"));
    let no_trials = Array3::zeros((4, 0, 2));
    let err = net
        .loss_and_gradient(no_trials.view(), no_trials.view())
        .unwrap_err();
    assert_eq!(err, Error::EmptyBatch);
    // Axes swapped: the message takes the expected steps and trials from the targets.
    let swapped = inputs
        .clone()
        .permuted_axes([2, 1, 0])
        .as_standard_layout()
        .to_owned();
    let err = net
        .loss_and_gradient(swapped.view(), targets.view())
        .unwrap_err();
    match err {
        Error::ShapeMismatch { expected, .. } => {
            assert!(expected.starts_with("(5, 2, 2)"), "{expected}")
        }
        other => panic!("expected a shape mismatch, got {other}"),
    }
}

#[test]
fn non_finite_batch_rejected() {
    let net = network(13, 3);
    let (inputs, targets) = random_batch(6, 8, 5);
    for bad in [f64::NAN, f64::INFINITY] {
        let mut bad_inputs = inputs.clone();
        bad_inputs[[3, 4, 1]] = bad;
        let err = net
            .loss_and_gradient(bad_inputs.view(), targets.view())
            .unwrap_err();
        match err {
            Error::NonFinite { name, index, .. } => {
                assert_eq!(name, "inputs");
                assert_eq!(index, "3, 4, 1");
            }
            other => panic!("expected a non-finite input error, got {other}"),
        }
        let mut bad_targets = targets.clone();
        bad_targets[[0, 2, 0]] = bad;
        let err = net
            .loss_and_gradient(inputs.view(), bad_targets.view())
            .unwrap_err();
        assert!(matches!(err, Error::NonFinite { ref name, .. } if name == "targets"));
    }
}

#[test]
fn strided_batch_gives_same_bits() {
    // The same batch in Fortran order (no contiguous standard-layout slice) takes the
    // element-by-element paths of the finiteness check and of the packing into lanes.
    let net = network(4, 13);
    let (inputs, targets) = random_batch(5, 30, 19);
    let fortran = |a: &Array3<f64>| {
        let mut copy = Array3::zeros(a.raw_dim().f());
        copy.assign(a);
        copy
    };
    let (inputs_f, targets_f) = (fortran(&inputs), fortran(&targets));
    assert!(inputs_f.as_slice().is_none());
    let (loss, gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let (loss_f, gradient_f) = net
        .loss_and_gradient(inputs_f.view(), targets_f.view())
        .unwrap();
    assert_eq!(loss.to_bits(), loss_f.to_bits());
    assert_eq!(gradient.w, gradient_f.w);
    assert_eq!(gradient.u, gradient_f.u);
    assert_eq!(gradient.b, gradient_f.b);
    assert_eq!(gradient.w_out, gradient_f.w_out);
    assert_eq!(gradient.b_out, gradient_f.b_out);

    let mut bad = inputs_f.clone();
    bad[[7, 11, 1]] = f64::INFINITY;
    match net.loss_and_gradient(bad.view(), targets_f.view()) {
        Err(Error::NonFinite { name, index, .. }) => {
            assert_eq!(name, "inputs");
            assert_eq!(index, "7, 11, 1");
        }
        other => panic!("expected a non-finite input error, got {other:?}"),
    }
}

#[test]
fn zero_inputs_match_zero_input_column() {
    // A net without inputs computes what a net with one input of weight 0, fed zeros,
    // computes: x + 0 * 0 = x exactly, so every bit but those of u's gradient agrees. At 50
    // units the one-input net sums b's gradient inside the W product and the other per
    // lane, so b agrees to rounding (1e-12 of its largest entry) there.
    for n in [13, 50] {
        let with_input = network(6, n);
        let without = ReadoutNet {
            u: ndarray::Array2::zeros((n, 0)),
            ..with_input.clone()
        };
        let (_, targets) = random_batch(7, 20, 9);
        let zeros = Array3::zeros((20, 9, 1));
        let none = Array3::zeros((20, 9, 0));
        let with_input = ReadoutNet {
            u: ndarray::Array2::zeros((n, 1)),
            ..with_input
        };
        let (loss_1, gradient_1) = with_input
            .loss_and_gradient(zeros.view(), targets.view())
            .unwrap();
        let (loss_0, gradient_0) = without
            .loss_and_gradient(none.view(), targets.view())
            .unwrap();
        assert_eq!(loss_0.to_bits(), loss_1.to_bits(), "n = {n}");
        assert_eq!(gradient_0.u.dim(), (n, 0), "n = {n}");
        assert_eq!(gradient_0.w, gradient_1.w, "n = {n}");
        if n == 13 {
            assert_eq!(gradient_0.b, gradient_1.b);
        } else {
            let scale = gradient_1.b.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (b_0, b_1) in gradient_0.b.iter().zip(&gradient_1.b) {
                assert!((b_0 - b_1).abs() <= 1e-12 * scale, "{b_0} vs {b_1}");
            }
        }
        assert_eq!(gradient_0.w_out, gradient_1.w_out, "n = {n}");
        assert_eq!(gradient_0.b_out, gradient_1.b_out, "n = {n}");
    }
}

#[test]
fn adam_rejects_net_of_other_size() {
    let net = network(8, 20);
    let (inputs, targets) = random_batch(9, 10, 4);
    let (_, gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let mut adam = ReadoutAdam::new(AdamConfig::default(), &net).unwrap();

    // A 19-unit net with the 20-unit optimiser and gradient.
    let mut smaller = network(8, 19);
    let before = smaller.clone();
    match adam.step(&mut smaller, &gradient) {
        Err(Error::ShapeMismatch { name, .. }) => assert_eq!(name, "net.w"),
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    assert_eq!(smaller, before);
    assert_eq!(adam.step_count(), 0);

    // The same number of entries in another shape.
    let mut reshaped = net.clone();
    reshaped.w = ndarray::Array2::zeros((4, 100));
    match adam.step(&mut reshaped, &gradient) {
        Err(Error::ShapeMismatch { name, .. }) => assert_eq!(name, "w"),
        other => panic!("expected a shape mismatch, got {other:?}"),
    }

    // A gradient of another shape.
    let mut wrong_gradient = gradient.clone();
    wrong_gradient.w = ndarray::Array2::zeros((20, 21));
    let mut same = net.clone();
    match adam.step(&mut same, &wrong_gradient) {
        Err(Error::ShapeMismatch { name, .. }) => assert_eq!(name, "gradient.w"),
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    assert_eq!(same, net);
}

#[test]
fn adam_steps_column_major_net() {
    // The same values in column-major memory give the same step, bit for bit.
    let net = network(10, 12);
    let (inputs, targets) = random_batch(11, 10, 4);
    let (_, gradient) = net
        .loss_and_gradient(inputs.view(), targets.view())
        .unwrap();
    let column_major = |a: &ndarray::Array2<f64>| {
        let mut copy = ndarray::Array2::zeros(a.raw_dim().f());
        copy.assign(a);
        copy
    };
    let mut fortran = net.clone();
    fortran.w = column_major(&net.w);
    fortran.u = column_major(&net.u);
    fortran.w_out = column_major(&net.w_out);
    assert!(fortran.w.as_slice().is_none());
    // Vectors with a stride of 2, the same values in the same logical order.
    let strided = |a: &ndarray::Array1<f64>| {
        ndarray::Array1::from_iter(a.iter().flat_map(|&v| [v, 0.0])).slice_move(ndarray::s![..;2])
    };
    fortran.b = strided(&net.b);
    fortran.b_out = strided(&net.b_out);
    assert_eq!(fortran.b, net.b);
    assert!(!fortran.b.is_standard_layout());
    let mut fortran_gradient = gradient.clone();
    fortran_gradient.w = column_major(&gradient.w);

    let mut standard = net.clone();
    let mut adam = ReadoutAdam::new(AdamConfig::default(), &net).unwrap();
    adam.step(&mut standard, &gradient).unwrap();
    let mut adam_fortran = ReadoutAdam::new(AdamConfig::default(), &net).unwrap();
    adam_fortran.step(&mut fortran, &fortran_gradient).unwrap();
    assert_eq!(standard.w, fortran.w);
    assert_eq!(standard.u, fortran.u);
    assert_eq!(standard.w_out, fortran.w_out);
    assert_eq!(standard.b, fortran.b);
    assert_eq!(standard.b_out, fortran.b_out);
    assert_eq!(adam, adam_fortran);
}

#[test]
fn validate_rejects_net_without_units() {
    let mut net = network(12, 5);
    net.b = ndarray::Array1::zeros(0);
    net.w = ndarray::Array2::zeros((0, 0));
    net.u = ndarray::Array2::zeros((0, 2));
    net.w_out = ndarray::Array2::zeros((2, 0));
    match net.validate() {
        Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, "n_units"),
        other => panic!("expected an invalid n_units, got {other:?}"),
    }
}
