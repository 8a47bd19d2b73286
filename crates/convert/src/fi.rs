//! Population f-I curves measured by simulating the neuron model itself.

use iaf_sim::{Network, NetworkParams, NeuronParams, PopulationParams, Simulation, SynapseModel};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::seeds::stream_seed;
use crate::{check_positive, Error};

/// Settings of an f-I curve measurement.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `n_neurons` | 200 | unconnected neurons per drive value |
/// | `dt_ms` | 0.1 ms | simulation time step |
/// | `warmup_ms` | 200 ms | discarded start, so that the rate is stationary |
/// | `duration_ms` | 2000 ms | counting window |
/// | `chunk_size` | 16 | drive values simulated together in one network |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiConfig {
    /// Unconnected neurons per drive value.
    pub n_neurons: usize,
    /// Simulation time step (ms).
    pub dt_ms: f64,
    /// Discarded start (ms).
    pub warmup_ms: f64,
    /// Counting window (ms).
    pub duration_ms: f64,
    /// Drive values per simulated network; fixes how work splits into random streams, so it
    /// changes the draws, whereas the thread count never does.
    pub chunk_size: usize,
}

impl Default for FiConfig {
    fn default() -> Self {
        FiConfig {
            n_neurons: 200,
            dt_ms: 0.1,
            warmup_ms: 200.0,
            duration_ms: 2000.0,
            chunk_size: 16,
        }
    }
}

/// Largest number of time steps of the warm-up and of the counting window: 1e8 steps of
/// 0.1 ms simulate about 2.8 hours, far beyond what a stationary rate needs.
const MAX_FI_STEPS: f64 = 1e8;

impl FiConfig {
    /// Checks the counts and durations.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first invalid field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.n_neurons == 0 {
            return Err(Error::InvalidParameter {
                name: "n_neurons",
                value: 0.0,
                expected: "at least 1 neuron per drive value",
            });
        }
        if self.chunk_size == 0 {
            return Err(Error::InvalidParameter {
                name: "chunk_size",
                value: 0.0,
                expected: "at least 1 drive value per chunk",
            });
        }
        check_positive("dt_ms", self.dt_ms)?;
        check_positive("duration_ms", self.duration_ms)?;
        if !(self.warmup_ms.is_finite() && self.warmup_ms >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "warmup_ms",
                value: self.warmup_ms,
                expected: "a finite value >= 0",
            });
        }
        if self.duration_ms < self.dt_ms {
            return Err(Error::InvalidParameter {
                name: "duration_ms",
                value: self.duration_ms,
                expected: "at least one time step dt_ms",
            });
        }
        for (name, value) in [
            ("warmup_ms", self.warmup_ms),
            ("duration_ms", self.duration_ms),
        ] {
            if value / self.dt_ms > MAX_FI_STEPS {
                return Err(Error::InvalidParameter {
                    name,
                    value,
                    expected:
                        "at most 1e8 time steps dt_ms (give a shorter time or a larger dt_ms)",
                });
            }
        }
        Ok(())
    }
}

/// Measures the stationary rate (Hz) of `neuron` for each constant drive `mu` (the bias
/// current, in the normalised potential scale), with the neuron's own membrane noise.
///
/// Each chunk of `config.chunk_size` drive values is one network of unconnected populations
/// with random stream `stream_seed(seed, chunk_idx)`, so the same seed gives the same rates
/// (common random numbers across calls) for any thread count.
///
/// # Errors
/// [`Error::InvalidParameter`] for invalid settings or non-finite drives;
/// [`Error::Simulator`] when the simulator rejects the neuron parameters.
pub fn measure_fi_curve(
    neuron: &NeuronParams,
    drives: &[f64],
    config: &FiConfig,
    seed: u64,
) -> Result<Vec<f64>, Error> {
    config.validate()?;
    if let Some(bad) = drives.iter().find(|mu| !mu.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "drive",
            value: *bad,
            expected: "finite drive values",
        });
    }
    let warmup_steps = (config.warmup_ms / config.dt_ms).round() as usize;
    let count_steps = ((config.duration_ms / config.dt_ms).round() as usize).max(1);
    let window_s = count_steps as f64 * config.dt_ms * 1e-3;

    let chunks: Vec<(usize, &[f64])> = drives.chunks(config.chunk_size).enumerate().collect();
    let rates: Result<Vec<Vec<f64>>, Error> = chunks
        .par_iter()
        .map(|(chunk_idx, chunk)| {
            let params = NetworkParams {
                dt_ms: config.dt_ms,
                populations: chunk
                    .iter()
                    .map(|&mu| PopulationParams {
                        n_neurons: config.n_neurons,
                        neuron: neuron.clone(),
                        synapse: SynapseModel::Exponential { tau_ms: 20.0 },
                        bias: mu,
                    })
                    .collect(),
                poisson_sources: Vec::new(),
                projections: Vec::new(),
            };
            let chunk_seed = stream_seed(seed, *chunk_idx as u64);
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(chunk_seed);
            let network = Network::build(params, &mut rng)?;
            let mut sim = Simulation::try_new(&network, stream_seed(chunk_seed, 1))?;
            sim.set_potentials_uniform(&mut rng);
            sim.run(warmup_steps);

            let mut counts = vec![0u64; chunk.len()];
            for _ in 0..count_steps {
                sim.step();
                for (count, &c) in counts.iter_mut().zip(sim.population_spike_counts()) {
                    *count += u64::from(c);
                }
            }
            Ok(counts
                .iter()
                .map(|&c| c as f64 / (config.n_neurons as f64 * window_s))
                .collect())
        })
        .collect();
    Ok(rates?.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noiseless() -> NeuronParams {
        NeuronParams {
            tau_m_ms: 20.0,
            t_ref_ms: 2.0,
            v_threshold: 1.0,
            v_reset: 0.0,
            sigma_v: 0.0,
        }
    }

    #[test]
    fn noiseless_curve_matches_closed_form() {
        // 1 / (t_ref + tau_m ln(mu / (mu - 1))) at mu = 1.5, 3: 41.71 Hz and 98.92 Hz. With
        // dt = 0.01 ms each interspike interval is rounded up to the grid, costing at most
        // one step, which bounds the relative error by rate * dt = 0.1 %, plus the count
        // quantisation of one spike in 2 s per neuron (0.5 Hz).
        let config = FiConfig {
            n_neurons: 4,
            dt_ms: 0.01,
            warmup_ms: 100.0,
            duration_ms: 2000.0,
            chunk_size: 2,
        };
        let rates = measure_fi_curve(&noiseless(), &[0.5, 1.5, 3.0], &config, 1).unwrap();
        assert_eq!(rates[0], 0.0);
        assert!((rates[1] - 41.71).abs() < 0.6, "{}", rates[1]);
        assert!((rates[2] - 98.92).abs() < 0.7, "{}", rates[2]);
    }

    #[test]
    fn same_seed_same_rates() {
        let mut neuron = noiseless();
        neuron.sigma_v = 1.0;
        let config = FiConfig {
            n_neurons: 10,
            duration_ms: 200.0,
            chunk_size: 2,
            ..FiConfig::default()
        };
        let drives = [0.0, 1.0, 2.0];
        let a = measure_fi_curve(&neuron, &drives, &config, 5).unwrap();
        let b = measure_fi_curve(&neuron, &drives, &config, 5).unwrap();
        assert_eq!(a, b);
        let c = measure_fi_curve(&neuron, &drives, &config, 6).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn rejects_bad_settings() {
        let config = FiConfig {
            n_neurons: 0,
            ..FiConfig::default()
        };
        assert!(matches!(
            measure_fi_curve(&noiseless(), &[1.0], &config, 0),
            Err(Error::InvalidParameter {
                name: "n_neurons",
                ..
            })
        ));
        assert!(matches!(
            measure_fi_curve(&noiseless(), &[f64::NAN], &FiConfig::default(), 0),
            Err(Error::InvalidParameter { name: "drive", .. })
        ));
    }

    #[test]
    fn rejects_unbounded_durations() {
        let cases = [
            (
                "warmup_ms",
                FiConfig {
                    warmup_ms: 1e300,
                    ..FiConfig::default()
                },
            ),
            (
                "warmup_ms",
                FiConfig {
                    dt_ms: 1e-300,
                    ..FiConfig::default()
                },
            ),
            (
                "duration_ms",
                FiConfig {
                    duration_ms: 1e-9,
                    ..FiConfig::default()
                },
            ),
            (
                "duration_ms",
                FiConfig {
                    duration_ms: 1.1e7,
                    ..FiConfig::default()
                },
            ),
        ];
        for (expected, config) in cases {
            match config.validate() {
                Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, expected),
                other => panic!("{config:?} gave {other:?}, expected an error on {expected}"),
            }
        }
        // 1e8 steps of 0.1 ms is the largest accepted window.
        let longest = FiConfig {
            duration_ms: 1e7,
            ..FiConfig::default()
        };
        assert!(longest.validate().is_ok());
    }
}
