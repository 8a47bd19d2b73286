//! Step-by-step checks of the exact propagators against closed-form solutions of the linear
//! dynamics, and of the exact Ornstein-Uhlenbeck noise.
//!
//! A single neuron with no noise and an unreachable threshold starts from `V(0) = V0` and
//! `I_syn(0) = I0` (for two-state kernels the rise state starts at `x0 = I0 / decay`) under a
//! constant drive `mu`. Every grid value must equal the continuous solution at `t = n dt`.

use iaf_sim::{NetworkParams, NeuronParams, PopulationParams, Simulation, SynapseModel};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const V0: f64 = 0.2;
const I0: f64 = 0.7;
const MU: f64 = 0.3;
const DT_MS: f64 = 0.1;
const N_STEPS: usize = 300;

fn single_neuron(tau_m_ms: f64, synapse: SynapseModel) -> iaf_sim::Network {
    let params = NetworkParams {
        dt_ms: DT_MS,
        populations: vec![PopulationParams {
            n_neurons: 1,
            neuron: NeuronParams {
                tau_m_ms,
                t_ref_ms: 1.0,
                v_threshold: 1e9,
                v_reset: 0.0,
                sigma_v: 0.0,
            },
            synapse,
            bias: MU,
        }],
        ..NetworkParams::default()
    };
    iaf_sim::Network::build(params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap()
}

/// Steps the neuron and compares `(V, I_syn)` with `expected(t)` after every step.
fn check_trajectory(
    tau_m_ms: f64,
    synapse: SynapseModel,
    tolerance: f64,
    expected: impl Fn(f64) -> (f64, f64),
) {
    let network = single_neuron(tau_m_ms, synapse.clone());
    let mut sim = Simulation::new(&network, 0);
    sim.set_potential(0, V0).unwrap();
    sim.set_synaptic_current(0, I0).unwrap();
    for n in 1..=N_STEPS {
        sim.step();
        let t = n as f64 * DT_MS;
        let (v, i_syn) = expected(t);
        let v_err = (sim.potentials()[0] - v).abs();
        let i_err = (sim.synaptic_currents()[0] - i_syn).abs();
        assert!(
            v_err <= tolerance,
            "{synapse:?} step {n}: V error {v_err:e}"
        );
        assert!(
            i_err <= tolerance,
            "{synapse:?} step {n}: I_syn error {i_err:e}"
        );
    }
}

/// Free membrane part: `mu + (V0 - mu) exp(-t / tau_m)`.
fn free_membrane(t: f64, tau_m: f64) -> f64 {
    MU + (V0 - MU) * (-t / tau_m).exp()
}

/// Response of `tau_m dV/dt = -V + c exp(-t / tau)`, `V(0) = 0`, for `tau != tau_m`:
/// the particular solution `A exp(-t/tau)` needs `A (1 - tau_m / tau) = c`, so
/// `V = c tau / (tau - tau_m) (exp(-t/tau) - exp(-t/tau_m))`.
fn response_to_exp(t: f64, c: f64, tau: f64, tau_m: f64) -> f64 {
    c * tau / (tau - tau_m) * ((-t / tau).exp() - (-t / tau_m).exp())
}

// Tolerance 1e-12: every value is O(1), and 300 steps of rounding at 1e-16 each stay far below.
const TOL: f64 = 1e-12;

#[test]
fn exponential_kernel_distinct_taus() {
    let (tau_m, tau_s) = (10.0, 20.0);
    check_trajectory(
        tau_m,
        SynapseModel::Exponential { tau_ms: tau_s },
        TOL,
        |t| {
            let v = free_membrane(t, tau_m) + response_to_exp(t, I0, tau_s, tau_m);
            (v, I0 * (-t / tau_s).exp())
        },
    );
}

#[test]
fn exponential_kernel_equal_taus() {
    // tau_s = tau_m = tau: tau dV/dt = -V + I0 exp(-t/tau) gives V = I0 (t/tau) exp(-t/tau).
    let tau = 10.0;
    check_trajectory(tau, SynapseModel::Exponential { tau_ms: tau }, TOL, |t| {
        let v = free_membrane(t, tau) + I0 * (t / tau) * (-t / tau).exp();
        (v, I0 * (-t / tau).exp())
    });
}

#[test]
fn exponential_kernel_nearly_equal_taus() {
    // tau_s = tau_m (1 + 1e-10): the exact solution differs from the equal-tau limit by
    // O(1e-10). The textbook gain tau_s / (tau_s - tau_m) (e^{-h/tau_s} - e^{-h/tau_m}) would
    // carry a rounding error of about 1e-16 * 1e10 = 1e-6 per step here, so the tolerance
    // 1e-9 separates a cancellation-free evaluation from the naive one.
    let tau = 10.0;
    let tau_s = tau * (1.0 + 1e-10);
    check_trajectory(
        tau,
        SynapseModel::Exponential { tau_ms: tau_s },
        1e-9,
        |t| {
            let v = free_membrane(t, tau) + I0 * (t / tau) * (-t / tau).exp();
            (v, I0 * (-t / tau).exp())
        },
    );
}

#[test]
fn diff_of_exponentials_kernel() {
    // Cascade dx/dt = -x/r, dI/dt = -I/d + x from x0 = I0/d:
    // I = c_d exp(-t/d) + c_r exp(-t/r) with c_d = I0 + x0 r d/(d - r), c_r = -x0 r d/(d - r).
    // V adds the response to each exponential.
    let (tau_m, rise, decay) = (10.0, 0.8, 3.2);
    let x0 = I0 / decay;
    let c_r = -x0 * rise * decay / (decay - rise);
    let c_d = I0 - c_r;
    check_trajectory(tau_m, SynapseModel::FETZ_LAB_PSP, TOL, |t| {
        let i_syn = c_d * (-t / decay).exp() + c_r * (-t / rise).exp();
        let v = free_membrane(t, tau_m)
            + response_to_exp(t, c_d, decay, tau_m)
            + response_to_exp(t, c_r, rise, tau_m);
        (v, i_syn)
    });
}

#[test]
fn diff_of_exponentials_decay_equal_to_tau_m() {
    // Same currents as above with d = tau_m: the response to c_d exp(-t/tau_m) is
    // c_d (t/tau_m) exp(-t/tau_m).
    let (tau_m, rise, decay) = (10.0, 2.0, 10.0);
    let x0 = I0 / decay;
    let c_r = -x0 * rise * decay / (decay - rise);
    let c_d = I0 - c_r;
    let synapse = SynapseModel::DiffOfExponentials {
        rise_ms: rise,
        decay_ms: decay,
    };
    check_trajectory(tau_m, synapse, TOL, |t| {
        let i_syn = c_d * (-t / decay).exp() + c_r * (-t / rise).exp();
        let v = free_membrane(t, tau_m)
            + c_d * (t / tau_m) * (-t / tau_m).exp()
            + response_to_exp(t, c_r, rise, tau_m);
        (v, i_syn)
    });
}

#[test]
fn alpha_kernel_distinct_from_tau_m() {
    // Alpha with tau: x = x0 exp(-t/tau), I = (I0 + x0 t) exp(-t/tau), x0 = I0/tau.
    // tau_m dV/dt = -V + t exp(-t/tau) has the particular solution (a t + b) exp(-t/tau) with
    // a = tau/(tau - tau_m), b = -tau_m tau^2/(tau - tau_m)^2; V(0) = 0 adds -b exp(-t/tau_m).
    let (tau_m, tau) = (10.0, 5.0);
    let x0 = I0 / tau;
    let a = tau / (tau - tau_m);
    let b = -tau_m * tau * tau / ((tau - tau_m) * (tau - tau_m));
    check_trajectory(tau_m, SynapseModel::Alpha { tau_ms: tau }, TOL, |t| {
        let i_syn = (I0 + x0 * t) * (-t / tau).exp();
        let ramp = (a * t + b) * (-t / tau).exp() - b * (-t / tau_m).exp();
        let v = free_membrane(t, tau_m) + response_to_exp(t, I0, tau, tau_m) + x0 * ramp;
        (v, i_syn)
    });
}

#[test]
fn alpha_kernel_equal_to_tau_m() {
    // All three time constants equal tau: the I0 part gives I0 (t/tau) exp(-t/tau) and the
    // x0 part solves tau dV/dt = -V + x0 t exp(-t/tau), V = x0 t^2/(2 tau) exp(-t/tau).
    let tau = 10.0;
    let x0 = I0 / tau;
    check_trajectory(tau, SynapseModel::Alpha { tau_ms: tau }, TOL, |t| {
        let i_syn = (I0 + x0 * t) * (-t / tau).exp();
        let v = free_membrane(t, tau)
            + I0 * (t / tau) * (-t / tau).exp()
            + x0 * t * t / (2.0 * tau) * (-t / tau).exp();
        (v, i_syn)
    });
}

/// Sample variance of the potentials of `n_neurons` noise-driven free neurons after `n_steps`.
fn free_membrane_variance(dt_ms: f64, n_steps: usize, n_neurons: usize) -> f64 {
    let params = NetworkParams {
        dt_ms,
        populations: vec![PopulationParams {
            n_neurons,
            neuron: NeuronParams {
                tau_m_ms: 10.0,
                t_ref_ms: dt_ms,
                v_threshold: 1e9,
                v_reset: 0.0,
                sigma_v: 1.0,
            },
            bias: 0.0,
            ..PopulationParams::default()
        }],
        ..NetworkParams::default()
    };
    let network = iaf_sim::Network::build(params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let mut sim = Simulation::new(&network, 11);
    sim.run(n_steps);
    let v = sim.potentials();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

#[test]
fn noise_variance_is_exact_at_any_step() {
    // sigma_v = 1, tau_m = 10 ms. After one step from V = 0 the variance is
    // (1 - exp(-2 dt / tau_m)) / 2, and after 20 membrane time constants the stationary 1/2,
    // whatever dt. With 20,000 neurons a sample variance has relative SD sqrt(2 / 19,999) =
    // 1.0%, so 5% is five SDs. At dt = 5 ms an Euler-Maruyama scheme would give 0.25 after one
    // step (exact 0.316) and 0.667 stationary, both far outside.
    let n_neurons = 20_000;
    for dt_ms in [0.1, 1.0, 5.0] {
        let one_step = free_membrane_variance(dt_ms, 1, n_neurons);
        let expected = (1.0 - (-2.0 * dt_ms / 10.0).exp()) / 2.0;
        let rel = one_step / expected - 1.0;
        assert!(
            rel.abs() <= 0.05,
            "dt {dt_ms}: one-step variance off by {rel:.4}"
        );

        let n_steps = (200.0 / dt_ms) as usize;
        let stationary = free_membrane_variance(dt_ms, n_steps, n_neurons);
        let rel = stationary / 0.5 - 1.0;
        assert!(
            rel.abs() <= 0.05,
            "dt {dt_ms}: stationary variance off by {rel:.4}"
        );
    }
}
