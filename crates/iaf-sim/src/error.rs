//! The error type of this crate.

use crate::Source;

/// Invalid parameters of a network or an invalid setting of a running simulation.
///
/// Population, Poisson source and projection indices are positions in the vectors of
/// [`NetworkParams`](crate::NetworkParams). Messages print a float whose magnitude is below
/// 1e-4 or at least 1e9 in scientific notation, such as `1e300`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The time step is zero, negative or not finite.
    #[error(
        "invalid time step dt_ms = {dt_ms}: it must be a finite number of milliseconds > 0",
        dt_ms = format_compact(*.dt_ms)
    )]
    InvalidTimeStep {
        /// The rejected time step (ms).
        dt_ms: f64,
    },

    /// The time step is not below the membrane time constant of a population.
    #[error(
        "population {pop}: time step dt_ms = {dt_ms} must be below the membrane time constant \
         tau_m_ms = {tau_m_ms}; reduce dt_ms (0.1 ms is typical)",
        dt_ms = format_compact(*.dt_ms), tau_m_ms = format_compact(*.tau_m_ms)
    )]
    TimeStepNotBelowMembraneTau {
        /// Population index.
        pop: usize,
        /// The time step (ms).
        dt_ms: f64,
        /// The membrane time constant (ms).
        tau_m_ms: f64,
    },

    /// A membrane or synaptic time constant is zero, negative or not finite.
    #[error(
        "population {pop}: invalid time constant {name} = {value}: it must be a finite number \
         of milliseconds > 0",
        value = format_compact(*.value)
    )]
    InvalidTimeConstant {
        /// Population index.
        pop: usize,
        /// Field name, such as `tau_m_ms` or `decay_ms`.
        name: &'static str,
        /// The rejected value (ms).
        value: f64,
    },

    /// The rise time of a difference-of-exponentials synapse exceeds its decay time.
    #[error(
        "population {pop}: synaptic rise time rise_ms = {rise_ms} exceeds decay time \
         decay_ms = {decay_ms}; rise_ms must be <= decay_ms (swap them if they were exchanged)",
        rise_ms = format_compact(*.rise_ms), decay_ms = format_compact(*.decay_ms)
    )]
    RiseAboveDecay {
        /// Population index.
        pop: usize,
        /// Rise time (ms).
        rise_ms: f64,
        /// Decay time (ms).
        decay_ms: f64,
    },

    /// The refractory period is shorter than one time step or not finite.
    #[error(
        "population {pop}: refractory period t_ref_ms = {t_ref_ms} is invalid: it must be \
         finite and >= the time step dt_ms = {dt_ms}; raise t_ref_ms or reduce dt_ms",
        t_ref_ms = format_compact(*.t_ref_ms), dt_ms = format_compact(*.dt_ms)
    )]
    InvalidRefractoryPeriod {
        /// Population index.
        pop: usize,
        /// The refractory period (ms).
        t_ref_ms: f64,
        /// The time step (ms).
        dt_ms: f64,
    },

    /// The refractory period lasts more time steps than its `u32` step counter can hold.
    #[error(
        "population {pop}: refractory period t_ref_ms = {t_ref_ms} is more than {max_steps} \
         time steps of dt_ms = {dt_ms}; raise dt_ms or shorten t_ref_ms",
        t_ref_ms = format_compact(*.t_ref_ms), dt_ms = format_compact(*.dt_ms)
    )]
    RefractoryPeriodTooLong {
        /// Population index.
        pop: usize,
        /// The refractory period (ms).
        t_ref_ms: f64,
        /// The time step (ms).
        dt_ms: f64,
        /// Largest supported refractory period in steps.
        max_steps: u64,
    },

    /// Threshold and reset are not finite or the threshold is not above the reset.
    #[error(
        "population {pop}: threshold v_threshold = {v_threshold} and reset v_reset = {v_reset} \
         must be finite with v_threshold > v_reset",
        v_threshold = format_compact(*.v_threshold), v_reset = format_compact(*.v_reset)
    )]
    InvalidThreshold {
        /// Population index.
        pop: usize,
        /// Threshold potential.
        v_threshold: f64,
        /// Reset potential.
        v_reset: f64,
    },

    /// The noise amplitude is negative or not finite.
    #[error(
        "population {pop}: noise amplitude sigma_v = {sigma_v} must be finite and >= 0",
        sigma_v = format_compact(*.sigma_v)
    )]
    InvalidNoise {
        /// Population index.
        pop: usize,
        /// The rejected noise amplitude.
        sigma_v: f64,
    },

    /// The bias current is not finite.
    #[error(
        "population {pop}: bias current bias = {bias} must be finite",
        bias = format_compact(*.bias)
    )]
    InvalidBias {
        /// Population index.
        pop: usize,
        /// The rejected bias.
        bias: f64,
    },

    /// The network has no population of neurons.
    #[error("the network has no population: add at least one entry to `populations`")]
    NoPopulations,

    /// A population has no neurons.
    #[error("population {pop} has n_neurons = 0: every population needs at least one neuron")]
    EmptyPopulation {
        /// Population index.
        pop: usize,
    },

    /// A Poisson source has no neurons.
    #[error(
        "poisson source {source_idx} has n_neurons = 0: every source needs at least one neuron"
    )]
    EmptyPoissonSource {
        /// Poisson source index.
        source_idx: usize,
    },

    /// The neuron count does not fit the `u32` neuron indices of spike records.
    #[error(
        "{group} has {n_neurons} neurons in total, more than the maximum of {max}; \
         split the work into smaller networks"
    )]
    TooManyNeurons {
        /// `"the network"` or `"the poisson sources"`.
        group: &'static str,
        /// Total number of neurons.
        n_neurons: usize,
        /// Largest supported total.
        max: usize,
    },

    /// The connection probability of a Bernoulli projection is outside [0, 1].
    #[error(
        "projection {projection}: connection probability p = {p} is outside [0, 1]; \
         give a probability between 0 (no synapses) and 1 (every pair)",
        p = format_compact(*.p)
    )]
    InvalidConnectionProbability {
        /// Projection index.
        projection: usize,
        /// The rejected probability.
        p: f64,
    },

    /// A fixed in-degree exceeds the size of the presynaptic population.
    #[error(
        "projection {projection}: in-degree k = {k} exceeds the {} of the source; \
         k must be <= {n_pre}", count(*.n_pre, "neuron")
    )]
    InDegreeTooLarge {
        /// Projection index.
        projection: usize,
        /// The rejected in-degree.
        k: usize,
        /// Number of presynaptic neurons.
        n_pre: usize,
    },

    /// A projection names a source that does not exist.
    #[error(
        "projection {projection}: source {source_ref:?} does not exist; the number of such \
         sources is {n_available} (valid indices 0..{n_available})"
    )]
    SourceOutOfRange {
        /// Projection index.
        projection: usize,
        /// The rejected source.
        source_ref: Source,
        /// Number of populations or Poisson sources of that kind.
        n_available: usize,
    },

    /// A projection names a target population that does not exist.
    #[error(
        "projection {projection}: target population {target} does not exist; the network has \
         {} (valid indices 0..{n_populations})", count(*.n_populations, "population")
    )]
    TargetOutOfRange {
        /// Projection index.
        projection: usize,
        /// The rejected target.
        target: usize,
        /// Number of populations.
        n_populations: usize,
    },

    /// A synaptic weight is not finite.
    #[error(
        "projection {projection}: synaptic weight = {weight} must be finite",
        weight = format_compact(*.weight)
    )]
    InvalidWeight {
        /// Projection index.
        projection: usize,
        /// The rejected weight.
        weight: f64,
    },

    /// A delay is negative, not finite, or too long to count in `u32` steps.
    #[error(
        "projection {projection}: delay_ms = {delay_ms} is invalid: it must be finite, >= 0 \
         and at most {max_steps} time steps; for a longer delay raise dt_ms",
        delay_ms = format_compact(*.delay_ms)
    )]
    InvalidDelay {
        /// Projection index.
        projection: usize,
        /// The rejected delay (ms).
        delay_ms: f64,
        /// Largest supported delay in steps.
        max_steps: u64,
    },

    /// A Poisson source index passed to a simulation does not exist.
    #[error(
        "poisson source {source_idx} does not exist; the number of sources is {n_sources} \
         (valid indices 0..{n_sources})"
    )]
    PoissonSourceOutOfRange {
        /// The rejected index.
        source_idx: usize,
        /// Number of Poisson sources.
        n_sources: usize,
    },

    /// A Poisson rate is negative, not finite, or beyond what one step can sample.
    #[error(
        "poisson source {source_idx}: rate_hz = {rate_hz} is invalid: it must be finite, \
         >= 0 and below {max_rate_hz} Hz for this source size and time step",
        rate_hz = format_compact(*.rate_hz), max_rate_hz = format_compact(*.max_rate_hz)
    )]
    InvalidPoissonRate {
        /// Poisson source index.
        source_idx: usize,
        /// The rejected rate (Hz).
        rate_hz: f64,
        /// Largest supported rate (Hz).
        max_rate_hz: f64,
    },
    /// The delay matrix of a dense network does not have one row and one column per
    /// population.
    #[error(
        "delays_ms has shape {rows} x {cols} (rows x shortest row), but the network has {}: \
         give one row per target population and one column per source population",
        count(*.n_populations, "population")
    )]
    DelayMatrixShape {
        /// Number of rows given.
        rows: usize,
        /// Length of the shortest row, or of the first row whose length differs.
        cols: usize,
        /// Number of populations.
        n_populations: usize,
    },

    /// A delay between two populations of a dense network is invalid.
    #[error(
        "delays_ms[{target}][{source_pop}] = {delay_ms} is invalid: it must be finite, >= 0 \
         and at most {max_steps} time steps; for a longer delay raise dt_ms",
        delay_ms = format_compact(*.delay_ms)
    )]
    InvalidPairDelay {
        /// Target population index (row).
        target: usize,
        /// Source population index (column).
        source_pop: usize,
        /// The rejected delay (ms).
        delay_ms: f64,
        /// Largest supported delay in steps.
        max_steps: u64,
    },

    /// A weight of a dense network is not finite.
    #[error(
        "dense weight from neuron {pre} onto neuron {post} is {weight}: every weight must be \
         finite (check the weight generator)",
        weight = format_compact(*.weight)
    )]
    InvalidDenseWeight {
        /// Presynaptic neuron (global index).
        pre: usize,
        /// Postsynaptic neuron (global index).
        post: usize,
        /// The rejected weight.
        weight: f64,
    },

    /// A weight matrix or a per-neuron vector has the wrong shape.
    #[error("{name} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Name of the argument.
        name: &'static str,
        /// Shape given.
        found: Vec<usize>,
        /// Shape required.
        expected: Vec<usize>,
    },

    /// A per-neuron value is not finite.
    #[error("{name}[{neuron}] = {value} must be finite", value = format_compact(*.value))]
    NonFiniteValue {
        /// Name of the argument.
        name: &'static str,
        /// Neuron index.
        neuron: usize,
        /// The rejected value.
        value: f64,
    },

    /// An injected current is not finite.
    #[error(
        "population {pop}: injected current {current} must be finite",
        current = format_compact(*.current)
    )]
    InvalidInjectedCurrent {
        /// Population index.
        pop: usize,
        /// The rejected current.
        current: f64,
    },

    /// A synaptic current set on a running simulation is not finite.
    #[error(
        "population {pop}: synaptic current {current} must be finite",
        current = format_compact(*.current)
    )]
    InvalidSynapticCurrent {
        /// Population index.
        pop: usize,
        /// The rejected current.
        current: f64,
    },

    /// A population index passed to a simulation does not exist.
    #[error(
        "population {pop} does not exist; the network has {} (valid indices \
         0..{n_populations})", count(*.n_populations, "population")
    )]
    PopulationOutOfRange {
        /// The rejected index.
        pop: usize,
        /// Number of populations.
        n_populations: usize,
    },

    /// A neuron index passed to a simulation does not exist.
    #[error(
        "neuron {neuron} does not exist; the network has {} (valid global indices \
         0..{n_neurons})", count(*.n_neurons, "neuron")
    )]
    NeuronOutOfRange {
        /// The rejected global index.
        neuron: usize,
        /// Number of neurons.
        n_neurons: usize,
    },

    /// A thread count of zero.
    #[error("threads = 0 is invalid: use at least 1 thread")]
    InvalidThreadCount,

    /// An array whose length follows from the parameters cannot be allocated.
    #[error(
        "failed to allocate {array}, {len} entries of {entry_bytes} bytes each (the limit is \
         the free memory, and at most {max_bytes} bytes per array); {fix}"
    )]
    AllocationFailed {
        /// Description of the array, such as `"the synapses of projection 2"`.
        array: String,
        /// Number of entries requested.
        len: u128,
        /// Size of one entry in bytes.
        entry_bytes: usize,
        /// Largest size of one array, `isize::MAX` bytes.
        max_bytes: u64,
        /// Advice on making the array smaller.
        fix: &'static str,
    },

    /// A dense network would hold more weights than memory can address.
    #[error(
        "a dense network of {n_neurons} neurons needs {n_neurons}^2 weights, more than this \
         platform can address; use the sparse Network instead"
    )]
    DenseNetworkTooLarge {
        /// Number of neurons.
        n_neurons: usize,
    },
}

/// Formats `n` with `noun`, adding an "s" unless `n` is 1: "1 population", "3 populations".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Formats `value` in full decimal when its magnitude is in [1e-4, 1e9) and in scientific
/// notation outside that range, so that 1e300 prints as "1e300" instead of 301 digits and
/// 1e-12 as "1e-12" instead of "0.000000000001". Zero, infinities and NaN print as usual.
fn format_compact(value: f64) -> String {
    if value == 0.0 || !value.is_finite() || (1e-4..1e9).contains(&value.abs()) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_uses_singular_for_one() {
        assert_eq!(count(1, "population"), "1 population");
        assert_eq!(count(0, "population"), "0 populations");
        assert_eq!(count(3, "neuron"), "3 neurons");
    }

    #[test]
    fn format_compact_switches_at_range_ends() {
        assert_eq!(format_compact(1e300), "1e300");
        assert_eq!(format_compact(-1e300), "-1e300");
        assert_eq!(format_compact(1e-12), "1e-12");
        assert_eq!(format_compact(1e9), "1e9");
        assert_eq!(format_compact(999_999_999.0), "999999999");
        assert_eq!(format_compact(1e-4), "0.0001");
        assert_eq!(format_compact(9e-5), "9e-5");
        assert_eq!(format_compact(0.1), "0.1");
        assert_eq!(format_compact(0.0), "0");
        assert_eq!(format_compact(f64::NAN), "NaN");
        assert_eq!(format_compact(f64::NEG_INFINITY), "-inf");
    }

    /// Returns every variant that carries a float, with each float set to `value`.
    fn float_variants(value: f64) -> Vec<Error> {
        vec![
            Error::InvalidTimeStep { dt_ms: value },
            Error::TimeStepNotBelowMembraneTau {
                pop: 0,
                dt_ms: value,
                tau_m_ms: value,
            },
            Error::InvalidTimeConstant {
                pop: 0,
                name: "tau_m_ms",
                value,
            },
            Error::RiseAboveDecay {
                pop: 0,
                rise_ms: value,
                decay_ms: value,
            },
            Error::InvalidRefractoryPeriod {
                pop: 0,
                t_ref_ms: value,
                dt_ms: value,
            },
            Error::RefractoryPeriodTooLong {
                pop: 0,
                t_ref_ms: value,
                dt_ms: value,
                max_steps: 1,
            },
            Error::InvalidThreshold {
                pop: 0,
                v_threshold: value,
                v_reset: value,
            },
            Error::InvalidNoise {
                pop: 0,
                sigma_v: value,
            },
            Error::InvalidBias {
                pop: 0,
                bias: value,
            },
            Error::InvalidConnectionProbability {
                projection: 0,
                p: value,
            },
            Error::InvalidWeight {
                projection: 0,
                weight: value,
            },
            Error::InvalidDelay {
                projection: 0,
                delay_ms: value,
                max_steps: 1,
            },
            Error::InvalidPoissonRate {
                source_idx: 0,
                rate_hz: value,
                max_rate_hz: value,
            },
            Error::InvalidPairDelay {
                target: 0,
                source_pop: 0,
                delay_ms: value,
                max_steps: 1,
            },
            Error::InvalidDenseWeight {
                pre: 0,
                post: 0,
                weight: value,
            },
            Error::NonFiniteValue {
                name: "bias",
                neuron: 0,
                value,
            },
            Error::InvalidInjectedCurrent {
                pop: 0,
                current: value,
            },
            Error::InvalidSynapticCurrent {
                pop: 0,
                current: value,
            },
        ]
    }

    #[test]
    fn messages_print_floats_compactly() {
        // Every float of every message goes through format_compact, so no message contains the long
        // run of zeros that full decimal gives 1e300 or 1e-12.
        for (value, text) in [(1e300, "1e300"), (1e-12, "1e-12")] {
            for err in float_variants(value) {
                let message = err.to_string();
                assert!(message.contains(text), "{message}");
                assert!(!message.contains("0000000000"), "{message}");
            }
        }
    }

    #[test]
    fn messages_agree_in_number() {
        let target = Error::TargetOutOfRange {
            projection: 0,
            target: 2,
            n_populations: 1,
        }
        .to_string();
        assert!(
            target.contains("the network has 1 population ("),
            "{target}"
        );

        let rate = Error::InvalidPoissonRate {
            source_idx: 0,
            rate_hz: -1.0,
            max_rate_hz: 1e4,
        }
        .to_string();
        assert!(
            rate.contains("poisson source 0: rate_hz = -1 is invalid"),
            "{rate}"
        );

        let allocation = Error::AllocationFailed {
            array: "the synapses of projection 2".to_string(),
            len: 1 << 62,
            entry_bytes: 16,
            max_bytes: isize::MAX as u64,
            fix: "use fewer synapses",
        }
        .to_string();
        assert!(
            allocation.starts_with("failed to allocate the synapses of projection 2, "),
            "{allocation}"
        );
    }
}
