//! Delayed delivery: a spike emitted in step s through a synapse of D delay steps enters the
//! target's synaptic state at the start of step s + D, and the kernels have their documented
//! shapes.

use iaf_sim::{
    Connectivity, Network, NetworkParams, NeuronParams, PopulationParams, ProjectionParams,
    Simulation, Source, SynapseModel,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DT_MS: f64 = 0.1;

/// A neuron that spikes once, in step 1: it starts at V = 5, and after one step
/// 5 exp(-0.01) = 4.95 >= 1. Its refractory period outlasts every test and afterwards it rests
/// at 0 without drive.
fn presynaptic() -> PopulationParams {
    PopulationParams {
        n_neurons: 1,
        neuron: NeuronParams {
            t_ref_ms: 1000.0,
            sigma_v: 0.0,
            ..NeuronParams::default()
        },
        synapse: SynapseModel::Exponential { tau_ms: 20.0 },
        bias: 0.0,
    }
}

fn postsynaptic(synapse: SynapseModel, v_threshold: f64) -> PopulationParams {
    PopulationParams {
        n_neurons: 1,
        neuron: NeuronParams {
            sigma_v: 0.0,
            v_threshold,
            ..NeuronParams::default()
        },
        synapse,
        bias: 0.0,
    }
}

fn projection(source: usize, target: usize, weight: f64, delay_ms: f64) -> ProjectionParams {
    ProjectionParams {
        source: Source::Population(source),
        target,
        weight,
        delay_ms,
        connectivity: Connectivity::AllToAll,
    }
}

fn build(params: NetworkParams) -> Network {
    Network::build(params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap()
}

/// Returns the first step after which the post neuron's synaptic current is non-zero, and the
/// step of the post neuron's first spike.
fn first_input_and_spike(network: &Network, pre: usize, post: usize) -> (u64, Option<u64>) {
    let mut sim = Simulation::new(network, 0);
    sim.set_potential(pre, 5.0).unwrap();
    let mut first_input = None;
    let mut first_spike = None;
    for _ in 0..200 {
        sim.step();
        if sim.step_idx() == 1 {
            assert_eq!(
                sim.spikes_last_step(),
                &[pre as u32],
                "pre neuron spikes in step 1"
            );
        }
        if first_input.is_none() && sim.synaptic_currents()[post] != 0.0 {
            first_input = Some(sim.step_idx());
        }
        if first_spike.is_none() && sim.spikes_last_step().contains(&(post as u32)) {
            first_spike = Some(sim.step_idx());
        }
    }
    (first_input.expect("the input arrives"), first_spike)
}

#[test]
fn spike_arrives_exactly_delay_steps_later() {
    // (delay_ms, D) with D = round(delay / 0.1 ms) half away from zero, at least 1.
    let cases = [
        (0.0, 1),
        (0.04, 1),
        (0.05, 1),
        (0.1, 1),
        (0.15, 2),
        (0.25, 3),
        (3.0, 30),
        (10.0, 100),
    ];
    for (delay_ms, delay_steps) in cases {
        // Both numberings: presynaptic neuron first (0 -> 1) and last (1 -> 0).
        for pre_first in [true, false] {
            let (pre, post) = if pre_first { (0, 1) } else { (1, 0) };
            let mut populations = vec![presynaptic(), postsynaptic(SynapseModel::default(), 1.0)];
            if !pre_first {
                populations.reverse();
            }
            let network = build(NetworkParams {
                dt_ms: DT_MS,
                populations,
                projections: vec![projection(pre, post, 1000.0, delay_ms)],
                ..NetworkParams::default()
            });
            assert_eq!(network.delay_steps(0), delay_steps, "delay {delay_ms} ms");

            // Spike in step s = 1, input added at the start of step 1 + D, so I_syn is first
            // non-zero after that step. J = 1000 times the V gain of about 0.01 crosses the
            // threshold within that same step.
            let (first_input, first_spike) = first_input_and_spike(&network, pre, post);
            let expected = 1 + u64::from(delay_steps);
            assert_eq!(
                first_input, expected,
                "delay {delay_ms} ms, pre first {pre_first}"
            );
            assert_eq!(first_spike, Some(expected), "delay {delay_ms} ms");
        }
    }
}

#[test]
fn per_synapse_delays_arrive_on_time() {
    // One presynaptic neuron (global index 0) onto a population of four neurons, one
    // projection, delays 0.5 + 0.75 post ms per synapse: 0.5, 1.25, 2.0 and 2.75 ms are
    // 5, 13 (12.5 rounds away from zero), 20 and 28 steps. The projection's own 9 ms is not used.
    let mut post = postsynaptic(SynapseModel::default(), 1.0);
    post.n_neurons = 4;
    let params = NetworkParams {
        dt_ms: DT_MS,
        populations: vec![presynaptic(), post],
        projections: vec![projection(0, 1, 1000.0, 9.0)],
        ..NetworkParams::default()
    };
    let network = Network::build_with_delays(
        params.clone(),
        &mut ChaCha8Rng::seed_from_u64(0),
        |projection, pre, post| {
            assert_eq!((projection, pre), (0, 0));
            0.5 + 0.75 * post as f64
        },
    )
    .unwrap();
    assert_eq!(network.delay_steps(0), 90);
    let delays: Vec<u32> = network
        .outgoing_synapses(Source::Population(0), 0)
        .map(|synapse| synapse.delay_steps)
        .collect();
    assert_eq!(delays, vec![5, 13, 20, 28]);
    for (post, delay_steps) in [(1, 5), (2, 13), (3, 20), (4, 28)] {
        let (first_input, _) = first_input_and_spike(&network, 0, post);
        assert_eq!(first_input, 1 + delay_steps, "target {post}");
    }

    // A negative delay for one synapse is rejected with the projection's index.
    let err =
        Network::build_with_delays(params, &mut ChaCha8Rng::seed_from_u64(0), |_, _, post| {
            if post == 2 {
                -1.0
            } else {
                1.0
            }
        })
        .unwrap_err();
    assert!(
        matches!(err, iaf_sim::Error::InvalidDelay { projection: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn heterogeneous_delays_in_one_network() {
    // One presynaptic neuron, three targets with 1, 17 and 30 delay steps.
    let populations = vec![
        postsynaptic(SynapseModel::default(), 1.0),
        presynaptic(),
        postsynaptic(SynapseModel::FETZ_LAB_PSP, 1.0),
        postsynaptic(SynapseModel::Alpha { tau_ms: 2.0 }, 1.0),
    ];
    let network = build(NetworkParams {
        dt_ms: DT_MS,
        populations,
        projections: vec![
            projection(1, 0, 1000.0, 3.0),
            projection(1, 2, 1000.0, 1.7),
            projection(1, 3, 1000.0, 0.1),
        ],
        ..NetworkParams::default()
    });
    for (post, delay_steps) in [(0, 30), (2, 17), (3, 1)] {
        let (first_input, _) = first_input_and_spike(&network, 1, post);
        assert_eq!(first_input, 1 + delay_steps, "target {post}");
    }
}

#[test]
fn input_during_refractory_period_is_kept() {
    // The post neuron spikes in step 1 (V = 5), so it is refractory for 80 steps. A spike of
    // the pre neuron, also in step 1, arrives in step 1 + 10 while the post neuron is
    // refractory: its V stays at reset, and I_syn still holds the input, decaying from
    // J exp(-dt/tau_s) after step 11.
    let network = build(NetworkParams {
        dt_ms: DT_MS,
        populations: vec![presynaptic(), postsynaptic(SynapseModel::default(), 1.0)],
        projections: vec![projection(0, 1, 0.5, 1.0)],
        ..NetworkParams::default()
    });
    let mut sim = Simulation::new(&network, 0);
    sim.set_potential(0, 5.0).unwrap();
    sim.set_potential(1, 5.0).unwrap();
    sim.step();
    assert_eq!(sim.spikes_last_step(), &[0, 1]);
    let tau_s: f64 = 20.0;
    for n in 2..=80 {
        sim.step();
        assert_eq!(sim.potentials()[1], 0.0, "step {n}: clamped at reset");
        let expected = if n < 11 {
            0.0
        } else {
            0.5 * (-(n - 10) as f64 * DT_MS / tau_s).exp()
        };
        // Tolerance 1e-14: repeated multiplication by exp(-dt/tau_s) over at most 70 steps.
        let err = (sim.synaptic_currents()[1] - expected).abs();
        assert!(err <= 1e-14, "step {n}: I_syn error {err:e}");
    }
}

/// Kernel `K(t)` per unit weight, `t` in ms.
type Kernel = fn(f64) -> f64;

#[test]
fn kernels_have_documented_shapes() {
    // With J = 1 and an unreachable threshold, the post neuron's I_syn after step 1 + D + k is
    // the kernel K at t = (k + 1) dt, measured from the arrival at the start of step 1 + D.
    let tau_m = 10.0;
    let kernels: [(SynapseModel, Kernel); 4] = [
        (SynapseModel::Exponential { tau_ms: 5.0 }, |t| {
            (-t / 5.0).exp()
        }),
        (SynapseModel::FETZ_LAB_PSP, |t| {
            // J decay/(decay - rise) (exp(-t/decay) - exp(-t/rise)), rise 0.8, decay 3.2.
            3.2 / 2.4 * ((-t / 3.2).exp() - (-t / 0.8).exp())
        }),
        (SynapseModel::Alpha { tau_ms: 2.0 }, |t| {
            t / 2.0 * (-t / 2.0).exp()
        }),
        // rise == decay is the alpha kernel.
        (
            SynapseModel::DiffOfExponentials {
                rise_ms: 2.0,
                decay_ms: 2.0,
            },
            |t| t / 2.0 * (-t / 2.0).exp(),
        ),
    ];
    for (synapse, kernel) in kernels {
        let mut post = postsynaptic(synapse.clone(), 1e9);
        post.neuron.tau_m_ms = tau_m;
        let network = build(NetworkParams {
            dt_ms: DT_MS,
            populations: vec![presynaptic(), post],
            projections: vec![projection(0, 1, 1.0, 0.5)],
            ..NetworkParams::default()
        });
        let arrival_step = 1 + 5;
        let mut sim = Simulation::new(&network, 0);
        sim.set_potential(0, 5.0).unwrap();
        sim.run(arrival_step - 1);
        assert_eq!(sim.synaptic_currents()[1], 0.0);
        let mut integral = 0.0;
        for k in 0..600 {
            sim.step();
            let t = (k + 1) as f64 * DT_MS;
            let current = sim.synaptic_currents()[1];
            // Tolerance 1e-13 absolute on values below 1 after at most 600 steps.
            let err = (current - kernel(t)).abs();
            assert!(err <= 1e-13, "{synapse:?} t {t}: error {err:e}");
            integral += current * DT_MS;
        }
        // Adding dt K(0) / 2 turns the sum into the trapezoid rule on [0, 60 ms], whose error
        // dt^2 / 12 |K'(0)| is at most 1.1e-3 here (K'(0) = 1/rise = 1.25 per ms for the
        // difference of exponentials). The tails beyond 60 ms are below 1e-4, the largest being
        // 5 exp(-12) for the 5 ms exponential.
        let trapezoid = integral + DT_MS * kernel(0.0) / 2.0;
        let area = synapse.tau_area_ms();
        assert!(
            (trapezoid - area).abs() <= 2e-3,
            "{synapse:?}: integral {trapezoid} vs tau_area {area}"
        );
    }
}
