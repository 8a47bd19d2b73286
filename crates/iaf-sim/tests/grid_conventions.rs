//! The time-grid conventions, checked step by step against values derived by hand, on both the
//! sparse engine (`Simulation`) and the dense engine (`DenseSimulation`).
//!
//! Shared setting unless a test states otherwise: dt = 0.1 ms, tau_m = 10 ms, threshold 1,
//! reset 0, no noise, exponential synapses with tau_s = 20 ms. A free neuron with constant
//! drive `mu` from `V = 0` has `V(n dt) = mu (1 - exp(-n / 100))` at the end of step `n`.

use iaf_sim::{
    Connectivity, DenseNetwork, DenseNetworkParams, DenseSimulation, Error, Network, NetworkParams,
    NeuronParams, PopulationParams, ProjectionParams, Simulation, Source, SynapseModel,
};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DT_MS: f64 = 0.1;

/// One-neuron population with bias `mu` and refractory period `t_ref_ms`.
fn single(mu: f64, t_ref_ms: f64) -> PopulationParams {
    PopulationParams {
        n_neurons: 1,
        neuron: NeuronParams {
            tau_m_ms: 10.0,
            t_ref_ms,
            sigma_v: 0.0,
            ..NeuronParams::default()
        },
        synapse: SynapseModel::Exponential { tau_ms: 20.0 },
        bias: mu,
    }
}

/// A connection from population `source` onto population `target`.
struct Link {
    target: usize,
    source: usize,
    weight: f64,
    delay_ms: f64,
}

/// State after each step `n = 1..=n_steps` (index `n - 1`): spikes, potentials, currents.
#[derive(Debug, PartialEq)]
struct Trace {
    spikes: Vec<Vec<u32>>,
    potentials: Vec<Vec<f64>>,
    currents: Vec<Vec<f64>>,
}

impl Trace {
    fn spike_steps(&self, neuron: u32) -> Vec<usize> {
        let steps = self.spikes.iter().enumerate();
        steps
            .filter(|(_, spikes)| spikes.contains(&neuron))
            .map(|(idx, _)| idx + 1)
            .collect()
    }
}

fn trace_sparse(pops: &[PopulationParams], links: &[Link], v0: &[f64], n_steps: usize) -> Trace {
    let projections = links
        .iter()
        .map(|link| ProjectionParams {
            source: Source::Population(link.source),
            target: link.target,
            weight: link.weight,
            delay_ms: link.delay_ms,
            connectivity: Connectivity::AllToAll,
        })
        .collect();
    let params = NetworkParams {
        dt_ms: DT_MS,
        populations: pops.to_vec(),
        projections,
        ..NetworkParams::default()
    };
    let network = Network::build(params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let mut sim = Simulation::new(&network, 0);
    for (neuron, &v) in v0.iter().enumerate() {
        sim.set_potential(neuron, v).unwrap();
    }
    let mut trace = Trace {
        spikes: vec![],
        potentials: vec![],
        currents: vec![],
    };
    for _ in 0..n_steps {
        sim.step();
        trace.spikes.push(sim.spikes_last_step().to_vec());
        trace.potentials.push(sim.potentials().to_vec());
        trace.currents.push(sim.synaptic_currents().to_vec());
    }
    trace
}

/// The same network on the dense engine; links must be between one-neuron populations, and
/// pairs without a link get weight 0 and delay 0.1 ms.
fn trace_dense(pops: &[PopulationParams], links: &[Link], v0: &[f64], n_steps: usize) -> Trace {
    let n = pops.len();
    let mut delays_ms = vec![vec![DT_MS; n]; n];
    let mut weights = Array2::zeros((n, n));
    for link in links {
        delays_ms[link.target][link.source] = link.delay_ms;
        weights[[link.target, link.source]] = link.weight;
    }
    let params = DenseNetworkParams {
        dt_ms: DT_MS,
        populations: pops.to_vec(),
        delays_ms,
    };
    let network = DenseNetwork::from_matrix(params, weights.view()).unwrap();
    let mut sim = DenseSimulation::new(&network, 0, 1).unwrap();
    sim.set_potentials(v0).unwrap();
    let mut trace = Trace {
        spikes: vec![],
        potentials: vec![],
        currents: vec![],
    };
    for _ in 0..n_steps {
        sim.step();
        trace.spikes.push(sim.spikes_last_step().to_vec());
        trace.potentials.push(sim.potentials().to_vec());
        trace
            .currents
            .push((0..n).map(|i| sim.synaptic_current(i)).collect());
    }
    trace
}

/// Runs both engines, checks they agree exactly, and returns the trace.
fn trace_both(pops: &[PopulationParams], links: &[Link], v0: &[f64], n_steps: usize) -> Trace {
    let sparse = trace_sparse(pops, links, v0, n_steps);
    let dense = trace_dense(pops, links, v0, n_steps);
    assert_eq!(dense, sparse, "dense and sparse engines differ");
    sparse
}

/// Free trajectory `mu (1 - exp(-n dt / tau_m))` with tau_m = 10 ms.
fn free(mu: f64, n: usize) -> f64 {
    -mu * (-(n as f64) * DT_MS / 10.0).exp_m1()
}

#[test]
fn spike_is_stamped_in_first_crossing_step() {
    // mu = 2: V(n) = 2 (1 - e^{-n/100}) reaches 1 at n = 100 ln 2 = 69.31, so the first
    // end-of-step value above threshold is V(70) = 2 (1 - e^{-0.7}) = 1.0068, after
    // V(69) = 2 (1 - e^{-0.69}) = 0.9968. The spike is stamped in step 70 (t = 7.0 ms).
    let trace = trace_both(&[single(2.0, 0.25)], &[], &[0.0], 71);
    assert!(free(2.0, 69) < 1.0);
    assert!(free(2.0, 70) >= 1.0);
    assert_eq!(trace.spike_steps(0), vec![70]);
    // 69 steps, each rounding at about 1e-16 relative: 1e-13 bounds the accumulated error.
    assert!((trace.potentials[68][0] - free(2.0, 69)).abs() <= 1e-13);
    // Reset to exactly 0 in the spike step.
    assert_eq!(trace.potentials[69][0], 0.0);
}

#[test]
fn refractory_period_is_round_t_ref_over_dt() {
    // t_ref = 0.25 ms is 2.5 steps, rounded half away from zero to 3; t_ref = 0.15 ms is
    // 1.4999999999999998 in binary and still counts as 1.5, so 2 steps. After the spike in step
    // 70 the neuron is clamped at 0 for R steps, integrates from 0 again in step 71 + R, and
    // needs 70 more steps to cross: spikes at 70, 140 + R, 210 + 2R.
    for (t_ref_ms, refractory_steps) in [(0.25, 3usize), (0.15, 2), (0.1, 1), (1.0, 10)] {
        let trace = trace_both(&[single(2.0, t_ref_ms)], &[], &[0.0], 230);
        let r = refractory_steps;
        assert_eq!(
            trace.spike_steps(0),
            vec![70, 140 + r, 210 + 2 * r],
            "t_ref {t_ref_ms} ms"
        );
        // Clamped in steps 71..=70 + R, then V(70 + R + 1) = 2 (1 - e^{-0.01}).
        for step in 71..=70 + r {
            assert_eq!(
                trace.potentials[step - 1][0],
                0.0,
                "t_ref {t_ref_ms}, step {step}"
            );
        }
        let first_free = trace.potentials[70 + r][0];
        assert!(
            (first_free - free(2.0, 1)).abs() <= 1e-16,
            "t_ref {t_ref_ms}"
        );
    }
}

#[test]
fn neuron_that_never_spiked_is_not_refractory() {
    // V0 = 5 without drive: V(1) = 5 e^{-0.01} = 4.950 >= 1, so it spikes in step 1 although
    // its refractory period (8 ms) is longer than the time elapsed.
    let trace = trace_both(&[single(0.0, 8.0)], &[], &[5.0], 3);
    assert_eq!(trace.spike_steps(0), vec![1]);
}

#[test]
fn refractory_period_below_dt_is_rejected() {
    let pops = vec![single(0.0, 0.09)];
    let sparse = NetworkParams {
        dt_ms: DT_MS,
        populations: pops.clone(),
        ..NetworkParams::default()
    };
    let err = Network::build(sparse, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
    assert!(
        matches!(err, Error::InvalidRefractoryPeriod { pop: 0, .. }),
        "{err:?}"
    );
    let dense = DenseNetworkParams::with_uniform_delay(DT_MS, pops, 1.0);
    let err = DenseNetwork::from_rows(dense, 1, |_, _| {}).unwrap_err();
    assert!(
        matches!(err, Error::InvalidRefractoryPeriod { pop: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn delays_round_and_arrive_on_time() {
    // Neuron 0 starts at V = 5 and spikes in step 1; neuron 1 has an unreachable threshold.
    // A delay of d ms is D = max(1, round(d / 0.1)) steps, so I_syn of neuron 1 is 0 after
    // step D and J e^{-0.1/20} after step 1 + D: the input joins I_syn at the start of step
    // 1 + D and decays for one step.
    let j = 0.5;
    for (delay_ms, d) in [
        (0.0, 1usize),
        (0.04, 1),
        (0.05, 1),
        (0.15, 2),
        (0.25, 3),
        (2.0, 20),
    ] {
        let pre = PopulationParams {
            neuron: NeuronParams {
                t_ref_ms: 100.0,
                ..single(0.0, 1.0).neuron
            },
            ..single(0.0, 1.0)
        };
        let mut post = single(0.0, 1.0);
        post.neuron.v_threshold = 1e9;
        let link = Link {
            target: 1,
            source: 0,
            weight: j,
            delay_ms,
        };
        let trace = trace_both(&[pre, post], &[link], &[5.0, 0.0], d + 3);
        assert_eq!(trace.spike_steps(0), vec![1]);
        if d > 1 {
            assert_eq!(trace.currents[d - 1][1], 0.0, "delay {delay_ms} ms");
        }
        let expected = j * (-DT_MS / 20.0).exp();
        assert_eq!(trace.currents[d][1], expected, "delay {delay_ms} ms");
    }
}

#[test]
fn input_arriving_in_reset_step_is_kept() {
    // Neuron 1 (mu = 2, t_ref 0.25 ms = 3 steps) crosses in step 70. Neuron 0 spikes in step 1
    // and its spike arrives after 69 steps (6.9 ms), at the start of step 70: the step in
    // which neuron 1 spikes and resets. The input must survive the reset:
    // - after step 70 + k, I_syn = J e^{-(k + 1) dt / tau_s} = J e^{-0.005 (k + 1)};
    // - V is clamped in steps 71..=73, and in step 74 it integrates from 0 with the current
    //   I_syn = J e^{-0.02} at the start of the step, so
    //   V(74) = 2 (1 - e^{-0.01}) + J e^{-0.02} * 2 (e^{-0.005} - e^{-0.01}),
    //   where 2 (e^{-0.005} - e^{-0.01}) = tau_s / (tau_s - tau_m) (e^{-dt/tau_s} - e^{-dt/tau_m})
    //   is the gain from I_syn to V over one step.
    let j = 0.5;
    let pre = PopulationParams {
        neuron: NeuronParams {
            t_ref_ms: 100.0,
            ..single(0.0, 1.0).neuron
        },
        ..single(0.0, 1.0)
    };
    let link = Link {
        target: 1,
        source: 0,
        weight: j,
        delay_ms: 6.9,
    };
    let trace = trace_both(&[pre, single(2.0, 0.25)], &[link], &[5.0, 0.0], 80);

    assert_eq!(trace.spike_steps(1), vec![70]);
    // Before the arrival no input.
    assert_eq!(trace.currents[68][1], 0.0);
    for k in 0..10 {
        let expected = j * (-0.005 * (k + 1) as f64).exp();
        let current = trace.currents[69 + k][1];
        assert!(
            (current - expected).abs() <= 1e-15,
            "step {}: {current}",
            70 + k
        );
    }

    let gain = 2.0 * ((-0.005f64).exp() - (-0.01f64).exp());
    let expected_v74 = free(2.0, 1) + j * (-0.02f64).exp() * gain;
    let v74 = trace.potentials[73][1];
    assert!(
        (v74 - expected_v74).abs() <= 1e-15,
        "{v74} vs {expected_v74}"
    );
}

#[test]
fn deterministic_rate_matches_closed_form_at_several_steps() {
    // A neuron of drive mu crosses after n_free = ceil(T_free / dt) steps with
    // T_free = tau_m ln(mu / (mu - 1)), then stays R = round(t_ref / dt) steps clamped, so
    // every interspike interval is exactly R + n_free steps and the grid rate is
    // 1 / ((R + n_free) dt), within dt / ISI below the closed form 1 / (t_ref + T_free).
    // Checked at three time steps, t_ref = 2 ms.
    for dt_ms in [0.05, 0.1, 0.2] {
        for mu in [1.05, 1.5, 3.0, 10.0] {
            let mut pop = single(mu, 2.0);
            pop.neuron.tau_m_ms = 10.0;
            let params = DenseNetworkParams::with_uniform_delay(dt_ms, vec![pop.clone()], 1.0);
            let network = DenseNetwork::from_rows(params, 1, |_, _| {}).unwrap();
            let mut sim = DenseSimulation::new(&network, 0, 1).unwrap();
            sim.record_spikes(true);
            sim.run((2000.0 / dt_ms) as usize);
            let steps = &sim.spike_record().steps;

            let t_free_ms = 10.0 * (mu / (mu - 1.0)).ln();
            let n_free = (t_free_ms / dt_ms).ceil() as u64;
            let r = (2.0 / dt_ms).round() as u64;
            assert_eq!(steps[0], n_free, "dt {dt_ms} mu {mu}");
            for pair in steps.windows(2) {
                assert_eq!(pair[1] - pair[0], r + n_free, "dt {dt_ms} mu {mu}");
            }
            let closed_hz = iaf_sim::lif_rate_deterministic_hz(&pop.neuron, mu);
            let grid_hz = 1000.0 / ((r + n_free) as f64 * dt_ms);
            let isi_ms = 1000.0 / closed_hz;
            let rel = (closed_hz - grid_hz) / closed_hz;
            assert!(
                rel >= 0.0 && rel < dt_ms / isi_ms,
                "dt {dt_ms} mu {mu}: {rel}"
            );
        }
    }
}
