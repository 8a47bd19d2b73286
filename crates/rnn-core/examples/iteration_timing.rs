//! Measures the wall time of one training iteration (batch loss and gradient plus an Adam
//! step) for a memory-sized and a wrist-sized network.
//!
//! Run with `cargo run -p rnn-core --release --example iteration_timing [iterations] [name]`,
//! where `name` (`memory`, `wrist`, `wrist-delayed`, `wrist-tabulated`) selects one network. Set
//! `RAYON_NUM_THREADS` to fix the number of threads.

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rnn_core::{Activation, Adam, AdamConfig, Rnn, RnnConfig, Sign, TabulatedActivation, Trial};

fn random_trials(rng: &mut ChaCha8Rng, n_trials: usize, n_steps: usize, rnn: &Rnn) -> Vec<Trial> {
    let (n, m) = (rnn.n_units(), rnn.n_inputs());
    (0..n_trials)
        .map(|_| Trial {
            inputs: Array2::from_shape_fn((n_steps, m), |_| rng.random_range(0.0..1.0)),
            targets: Array2::from_shape_fn((n_steps, n), |_| rng.random_range(0.0..1.0)),
            weights: Array2::from_elem((n_steps, n), 1.0 / (n_steps * n) as f64),
        })
        .collect()
}

/// Builds a wrist-like configuration: 28 units in groups CM (0-5), RM (6-9), EIN (10-15),
/// IIN (16-19) and motoneurons (20-27). Motoneurons project nowhere, and CM and RM units
/// receive from CM and RM units only.
fn wrist_config(activation: Activation) -> RnnConfig {
    let n = 28;
    let mut config = RnnConfig::new(n, 4);
    config.activation = activation;
    config.train_y0 = false;
    config.mask = Some(Array2::from_shape_fn((n, n), |(post, pre)| {
        let premotor_source = pre < 20;
        let cm_rm_source = pre < 10;
        if post < 10 {
            cm_rm_source
        } else {
            premotor_source
        }
    }));
    config.signs = Some(
        (0..n)
            .map(|unit| {
                if (16..20).contains(&unit) {
                    Sign::Inhibitory
                } else {
                    Sign::Excitatory
                }
            })
            .collect(),
    );
    config
}

fn time_iterations(label: &str, mut rnn: Rnn, batch: usize, n_steps: usize, iterations: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let trials = random_trials(&mut rng, batch, n_steps, &rnn);
    let mut adam = Adam::new(AdamConfig::default(), &rnn).unwrap();
    let start = Instant::now();
    for _ in 0..iterations {
        let (_, gradient) = rnn.loss_and_gradient(&trials).unwrap();
        adam.step(&mut rnn, &gradient).unwrap();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / iterations as f64;
    println!("{label}: {ms:.2} ms per iteration ({iterations} iterations)");
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(50);
    let only = std::env::args().nth(2);
    let selected = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let mut rng = ChaCha8Rng::seed_from_u64(0);

    if selected("memory") {
        let memory = Rnn::new_using(RnnConfig::new(9, 2), &mut rng).unwrap();
        time_iterations(
            "memory 9 units, 1800 steps, batch 16",
            memory,
            16,
            1800,
            iterations,
        );
    }
    if selected("wrist") {
        let wrist = Rnn::new_using(wrist_config(Activation::Logistic), &mut rng).unwrap();
        let label = "wrist 28 units, 4200 steps, batch 8, logistic";
        time_iterations(label, wrist, 8, 4200, iterations);
    }
    if selected("wrist-delayed") {
        // Per-postsynaptic delays: 2 steps onto the motoneurons, 1 step elsewhere.
        let mut config = wrist_config(Activation::Logistic);
        config.delay_steps = Some(Array2::from_shape_fn((28, 28), |(post, _)| {
            if post >= 20 {
                2
            } else {
                1
            }
        }));
        let wrist = Rnn::new_using(config, &mut rng).unwrap();
        let label = "wrist 28 units, 4200 steps, batch 8, logistic, delays";
        time_iterations(label, wrist, 8, 4200, iterations);
    }
    if !selected("wrist-tabulated") {
        return;
    }

    // A table on -8..8 in steps of 0.05, as used for a spiking f-I curve.
    let values: Vec<f64> = (0..321)
        .map(|k| 1.3 / (1.0 + (-(-8.0 + 0.05 * k as f64)).exp()))
        .collect();
    let table = TabulatedActivation::new(-8.0, 0.05, values, 1.31).unwrap();
    let wrist = Rnn::new_using(wrist_config(Activation::Tabulated(table)), &mut rng).unwrap();
    time_iterations(
        "wrist 28 units, 4200 steps, batch 8, tabulated",
        wrist,
        8,
        4200,
        iterations,
    );
}
