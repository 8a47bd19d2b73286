//! Measures simulation speed on a network of the size of a converted recurrent net: 9
//! populations of 100 neurons, each neuron receiving 30 synapses from every population
//! (270 inputs), firing at about 50 Hz, for 33,000 steps of 0.1 ms.
//!
//! Run with `cargo run -p iaf-sim --release --example throughput`.

use std::time::Instant;

use iaf_sim::{
    Connectivity, Network, NetworkParams, PopulationParams, ProjectionParams, Simulation, Source,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), iaf_sim::Error> {
    let n_populations = 9;
    let n_steps = 33_000;
    let populations = vec![
        PopulationParams {
            bias: 0.9,
            ..PopulationParams::default()
        };
        n_populations
    ];
    let mut projections = Vec::new();
    for target in 0..n_populations {
        for source in 0..n_populations {
            projections.push(ProjectionParams {
                source: Source::Population(source),
                target,
                weight: 0.0005,
                delay_ms: 3.0,
                connectivity: Connectivity::FixedIndegree { k: 30 },
            });
        }
    }
    let params = NetworkParams {
        populations,
        projections,
        ..NetworkParams::default()
    };

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let start = Instant::now();
    let network = Network::build(params, &mut rng)?;
    let build_s = start.elapsed().as_secs_f64();

    let mut sim = Simulation::new(&network, 2);
    sim.set_potentials_uniform(&mut rng);
    let start = Instant::now();
    let mut n_spikes = 0u64;
    for _ in 0..n_steps {
        sim.step();
        n_spikes += sim.spikes_last_step().len() as u64;
    }
    let run_s = start.elapsed().as_secs_f64();

    let duration_s = n_steps as f64 * network.params().dt_ms / 1000.0;
    let rate_hz = n_spikes as f64 / network.n_neurons() as f64 / duration_s;
    println!(
        "{} neurons, {} synapses, {} steps: build {:.3} s, run {:.3} s, mean rate {:.1} Hz, \
         {:.1} M synaptic events",
        network.n_neurons(),
        network.n_synapses(),
        n_steps,
        build_s,
        run_s,
        rate_hz,
        n_spikes as f64 * 270.0 / 1e6
    );
    Ok(())
}
