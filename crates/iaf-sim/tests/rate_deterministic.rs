//! Noiseless firing against the closed-form rate `1 / (t_ref + tau_m ln(mu / (mu - 1)))`.
//!
//! On the grid, V(n dt) = mu (1 - exp(-n dt / tau_m)) from reset exactly, so the first step
//! with V >= 1 is `n_free = ceil(T_free / dt)` with `T_free = tau_m ln(mu / (mu - 1))`, and
//! every interspike interval is `round(t_ref / dt) + n_free` steps. The simulated rate thus
//! lies in `(1 / (ISI + dt), 1 / ISI]` of the continuous interval `ISI`, a relative deviation
//! below `dt / ISI`.

use iaf_sim::{
    lif_rate_deterministic_hz, Network, NetworkParams, NeuronParams, PopulationParams, Simulation,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DT_MS: f64 = 0.1;

fn neuron() -> NeuronParams {
    NeuronParams {
        tau_m_ms: 20.0,
        t_ref_ms: 2.0,
        v_threshold: 1.0,
        v_reset: 0.0,
        sigma_v: 0.0,
    }
}

fn driven_network(mu: f64) -> Network {
    let params = NetworkParams {
        dt_ms: DT_MS,
        populations: vec![PopulationParams {
            n_neurons: 1,
            neuron: neuron(),
            bias: mu,
            ..PopulationParams::default()
        }],
        ..NetworkParams::default()
    };
    Network::build(params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap()
}

/// Steps of every spike of one neuron over `n_steps`.
fn spike_steps(network: &Network, n_steps: usize) -> Vec<u64> {
    let mut sim = Simulation::new(network, 0);
    sim.record_spikes(true);
    sim.run(n_steps);
    sim.take_spike_record().steps
}

#[test]
fn closed_form_matches_reference_values() {
    // tau_m 20 ms, t_ref 2 ms; values rounded to 0.01 Hz, so the tolerance is 0.005 Hz.
    let reference = [
        (1.1, 20.02),
        (1.5, 41.71),
        (2.0, 63.04),
        (3.0, 98.92),
        (5.0, 154.73),
    ];
    for (mu, rate_hz) in reference {
        let rate = lif_rate_deterministic_hz(&neuron(), mu);
        assert!((rate - rate_hz).abs() <= 0.005, "mu {mu}: {rate} Hz");
    }
}

#[test]
fn interspike_intervals_are_step_exact() {
    // (mu, n_free) by hand: T_free = 20 ln(mu / (mu - 1)) ms, n_free = ceil(T_free / 0.1 ms):
    // 1.1: 20 ln 11   = 47.958 ms -> 480;  1.5: 20 ln 3    = 21.972 ms -> 220;
    // 2:   20 ln 2    = 13.863 ms -> 139;  3:   20 ln 1.5  =  8.109 ms ->  82;
    // 5:   20 ln 1.25 =  4.463 ms ->  45.  The refractory period is round(2 / 0.1) = 20 steps.
    let cases: [(f64, u64); 5] = [(1.1, 480), (1.5, 220), (2.0, 139), (3.0, 82), (5.0, 45)];
    for (mu, n_free) in cases {
        let t_free_ms = 20.0 * (mu / (mu - 1.0)).ln();
        assert_eq!((t_free_ms / DT_MS).ceil() as u64, n_free, "mu {mu}");

        let network = driven_network(mu);
        let steps = spike_steps(&network, 20_000);

        // From rest the neuron is not refractory: the first spike comes after n_free steps.
        assert_eq!(steps[0], n_free, "mu {mu}: first spike");
        for pair in steps.windows(2) {
            assert_eq!(pair[1] - pair[0], 20 + n_free, "mu {mu}: interval");
        }

        // Rate from the spike count against the closed form, within dt / ISI relative.
        let isi_ms = 2.0 + t_free_ms;
        let span_ms = (steps[steps.len() - 1] - steps[0]) as f64 * DT_MS;
        let rate_hz = 1000.0 * (steps.len() - 1) as f64 / span_ms;
        let closed_form = lif_rate_deterministic_hz(&neuron(), mu);
        let rel = (closed_form - rate_hz) / closed_form;
        assert!(
            rel >= 0.0 && rel < DT_MS / isi_ms,
            "mu {mu}: {rate_hz} vs {closed_form}"
        );
    }
}

#[test]
fn neuron_that_never_spiked_is_not_refractory() {
    // From V = 1 with mu = 1.1, V after one step is 1 + 0.1 (1 - exp(-0.005)) >= 1: the neuron
    // spikes in step 1, then waits 20 refractory steps and 480 free steps.
    let network = driven_network(1.1);
    let mut sim = Simulation::new(&network, 0);
    sim.set_potential(0, 1.0).unwrap();
    sim.record_spikes(true);
    sim.run(1000);
    assert_eq!(sim.spike_record().steps, vec![1, 501]);
    assert_eq!(sim.spike_record().neurons, vec![0, 0]);
}

#[test]
fn subthreshold_drive_never_spikes() {
    // mu = 1 approaches the threshold only asymptotically.
    let network = driven_network(1.0);
    assert!(spike_steps(&network, 50_000).is_empty());
    assert_eq!(lif_rate_deterministic_hz(&neuron(), 1.0), 0.0);
}
