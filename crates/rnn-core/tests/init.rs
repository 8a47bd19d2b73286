//! Initialisation: the spectral radius estimate on matrices with known eigenvalues, and
//! masked, sign-constrained, balanced and rescaled initial weights.

use std::f64::consts::PI;

use ndarray::{array, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnn_core::{spectral_radius, Error, Rnn, RnnConfig, Sign};

#[test]
fn spectral_radius_of_known_matrices() {
    // Diagonal: the largest |entry|. Rounding only, so 1e-12 relative.
    let diagonal = array![[0.3, 0.0, 0.0], [0.0, -0.9, 0.0], [0.0, 0.0, 0.5]];
    assert!((spectral_radius(diagonal.view()) - 0.9).abs() < 1e-12);

    // 2 times a rotation: eigenvalues 2 e^(+-i 0.7), a complex pair of modulus 2.
    let (c, s) = (0.7f64.cos(), 0.7f64.sin());
    let rotation = array![[2.0 * c, -2.0 * s], [2.0 * s, 2.0 * c]];
    assert!((spectral_radius(rotation.view()) - 2.0).abs() < 1e-12);

    // Jordan block: ||J^k|| grows like k 0.5^k, and k^(1/k) - 1 is 4e-17 at k = 2^60.
    let jordan = array![[0.5, 1.0], [0.0, 0.5]];
    assert!((spectral_radius(jordan.view()) - 0.5).abs() < 1e-12);

    // Nilpotent: squares to exactly zero.
    let nilpotent = array![[0.0, 3.0], [0.0, 0.0]];
    assert_eq!(spectral_radius(nilpotent.view()), 0.0);
}

#[test]
fn spectral_radius_of_circulant_matrices() {
    // A circulant matrix C_ij = c[(j - i) mod n] has eigenvalues sum_j c_j w^(jk) with
    // w = exp(2 pi i / n). The matrix is normal, so the estimate is limited by rounding in
    // 60 squarings of a 12 x 12 matrix: 1e-10 relative.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..5 {
        let n = 12;
        let c: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let matrix = Array2::from_shape_fn((n, n), |(i, j)| c[(j + n - i) % n]);
        let exact = (0..n)
            .map(|k| {
                let (mut re, mut im) = (0.0, 0.0);
                for (j, &cj) in c.iter().enumerate() {
                    let angle = 2.0 * PI * (j * k) as f64 / n as f64;
                    re += cj * angle.cos();
                    im += cj * angle.sin();
                }
                re.hypot(im)
            })
            .fold(0.0, f64::max);
        let estimate = spectral_radius(matrix.view());
        assert!(
            ((estimate - exact) / exact).abs() < 1e-10,
            "{estimate} vs {exact}"
        );
    }
}

/// Builds a Dale network of `n` units, 80 % excitatory, with a random mask of density 0.8.
fn dale_config(n: usize, seed: u64) -> RnnConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut config = RnnConfig::new(n, 1);
    config.signs = Some(
        (0..n)
            .map(|j| {
                if j < n * 4 / 5 {
                    Sign::Excitatory
                } else {
                    Sign::Inhibitory
                }
            })
            .collect(),
    );
    config.mask = Some(Array2::from_shape_fn((n, n), |_| rng.random_bool(0.8)));
    config
}

#[test]
fn radius_is_set_after_masking() {
    let mut config = dale_config(60, 2);
    config.init_spectral_radius = Some(1.3);
    let mask = config.mask.clone().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rnn = Rnn::new_using(config, &mut rng).unwrap();
    // The estimate is exact to about 1e-12 here, so the scaled matrix has radius 1.3 to
    // 1e-9 relative.
    assert!((spectral_radius(rnn.w.view()) - 1.3).abs() < 1.3e-9);
    for ((post, pre), &w) in rnn.w.indexed_iter() {
        if !mask[[post, pre]] {
            assert_eq!(w, 0.0, "masked w[{post}, {pre}]");
        }
        if pre < 48 {
            assert!(w >= 0.0, "excitatory w[{post}, {pre}] = {w}");
        } else {
            assert!(w <= 0.0, "inhibitory w[{post}, {pre}] = {w}");
        }
    }
}

#[test]
fn balance_removes_outlier_eigenvalue() {
    // Unbalanced, the mean of the weights gives an outlier eigenvalue near
    // N p (0.8 - 0.2) sigma sqrt(2 / pi) = 200 * 0.8 * 0.6 * 0.035 * 0.80 = 2.7 (p = 0.8
    // mask density, sigma = 0.5 / sqrt(200)), far outside the bulk. Balanced rows sum to 0,
    // which removes it, and the bulk radius is sqrt(N p sigma^2 (1 - 2/pi) (0.8 + 0.2 * 16))
    // = 0.54 (inhibitory weights grow by about 4). Seed 4 gives 2.74 and 0.68; the bounds
    // leave a factor of 1.5 either way for finite-size spread.
    let n = 200;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let plain = Rnn::new_using(dale_config(n, 5), &mut rng).unwrap();
    let unbalanced = spectral_radius(plain.w.view());
    assert!(unbalanced > 1.8, "unbalanced radius {unbalanced}");

    let mut config = dale_config(n, 5);
    config.init_balance = true;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let balanced = Rnn::new_using(config, &mut rng).unwrap();
    let radius = spectral_radius(balanced.w.view());
    assert!(radius < 0.54 * 1.5, "balanced radius {radius}");
    assert!(radius > 0.54 / 1.5, "balanced radius {radius}");

    // Row sums cancel to rounding: about 200 terms of size 0.1, so 1e-13.
    for (post, row) in balanced.w.outer_iter().enumerate() {
        assert!(row.sum().abs() < 1e-13, "row {post} sums to {}", row.sum());
    }
    // Signs and mask are kept, and excitatory weights are the unbalanced draws.
    for ((post, pre), &w) in balanced.w.indexed_iter() {
        if pre < 160 {
            assert_eq!(w, plain.w[[post, pre]]);
        } else {
            assert!(w <= 0.0);
            assert_eq!(w == 0.0, plain.w[[post, pre]] == 0.0);
        }
    }
}

#[test]
fn invalid_radius_rejected() {
    for radius in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut config = RnnConfig::new(3, 1);
        config.init_spectral_radius = Some(radius);
        let err = config.validate().unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { ref name, .. } if name == "init_spectral_radius"),
            "{radius}: {err}"
        );
    }
}
