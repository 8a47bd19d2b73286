//! `cargo xtask export-nest`: writes a converted network as NumPy files, a JSON description
//! and a PyNEST script that NEST 3 runs directly.

use std::path::Path;

use anyhow::{Context, Result};
use convert::nest::{
    initial_current_spike_weights_pa, nest_inputs, NestInputs, NestNetwork, NestUnits,
};
use convert::Converted;
use ndarray::{Array1, Array2};
use ndarray_npy::WriteNpyExt;
use serde_json::json;
use tracing::info;

use super::record::ConversionRecord;
use crate::artifact;

/// The PyNEST runner; `export` prepends a header describing the exported network.
const RUNNER: &str = include_str!("run_nest.py");

/// A record with its rebuilt network.
pub struct Exported {
    /// The record read from the reproduction.
    pub record: ConversionRecord,
    /// The rebuilt conversion, synapse for synapse the reproduction's.
    pub converted: Converted,
}

fn write_npy<A: WriteNpyExt>(path: &Path, array: &A) -> Result<()> {
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .with_context(|| format!("failed to encode {}", path.display()))?;
    artifact::write_atomic(path, &bytes)
}

/// Rebuilds conversion `label` of `task` from the reproduction in `from` and writes its NEST
/// export into `out`.
pub fn export(task: &str, label: &str, from: &Path, out: &Path) -> Result<Exported> {
    let record = ConversionRecord::load(&from.join(task), task, label)?;
    write_export(task, record, out)
}

/// Rebuilds the network of `record` and writes its NEST export into `out`.
pub fn write_export(task: &str, record: ConversionRecord, out: &Path) -> Result<Exported> {
    let label = record.label.as_str();
    let converted = record.convert()?;
    let nest = NestNetwork::from_network(&converted.network, &NestUnits::default())?;
    std::fs::create_dir_all(out).with_context(|| format!("failed to create {}", out.display()))?;

    // Connections.
    let c = &nest.connections;
    let as_i64 = |v: &[u32]| Array1::from_iter(v.iter().map(|&x| i64::from(x)));
    write_npy(&out.join("connections_pre.npy"), &as_i64(&c.pre))?;
    write_npy(&out.join("connections_post.npy"), &as_i64(&c.post))?;
    write_npy(&out.join("connections_receptor.npy"), &as_i64(&c.receptor))?;
    write_npy(
        &out.join("connections_weight_pa.npy"),
        &Array1::from(c.weight_pa.clone()),
    )?;
    write_npy(
        &out.join("connections_delay_ms.npy"),
        &Array1::from(c.delay_ms.clone()),
    )?;

    // Inputs of every condition.
    let mut input_mode = "step_currents";
    for (condition, inputs) in record.inputs.iter().enumerate() {
        let prefix = format!("inputs_c{condition}");
        match nest_inputs(&converted, &nest, inputs.view())? {
            NestInputs::StepCurrents {
                i_e_pa,
                times_ms,
                amplitudes_pa,
            } => {
                write_npy(
                    &out.join(format!("{prefix}_i_e_pa.npy")),
                    &Array1::from(i_e_pa),
                )?;
                write_npy(
                    &out.join(format!("{prefix}_times_ms.npy")),
                    &Array1::from(times_ms),
                )?;
                write_npy(&out.join(format!("{prefix}_values.npy")), &amplitudes_pa)?;
            }
            NestInputs::PoissonRates { times_ms, rates_hz } => {
                input_mode = "poisson_rates";
                write_npy(
                    &out.join(format!("{prefix}_times_ms.npy")),
                    &Array1::from(times_ms),
                )?;
                write_npy(&out.join(format!("{prefix}_values.npy")), &rates_hz)?;
            }
        }
    }

    // Description and runner.
    let n_rows = record.inputs.first().map_or(0, Array2::nrows);
    let duration_ms = n_rows as f64 * converted.rnn.config.dt_ms;
    let description = json!({
        "task": task,
        "conversion": label,
        "resolution_ms": nest.resolution_ms,
        "duration_ms": duration_ms,
        "continuous_dt_ms": converted.rnn.config.dt_ms,
        "n_conditions": record.inputs.len(),
        "n_trials": record.n_trials,
        "input_mode": input_mode,
        "populations": nest.populations,
        "poisson_sources": nest.poisson_sources,
        "initial_current_spike_weights_pa": initial_current_spike_weights_pa(&converted, &nest),
        "n_connections": nest.connections.len(),
        "n_late_synapses": nest.n_late_synapses,
        "units": nest.units,
    });
    artifact::write_atomic(
        &out.join("network.json"),
        serde_json::to_string_pretty(&description)?.as_bytes(),
    )?;
    let script = format!(
        "#!/usr/bin/env python3\n{}{RUNNER}",
        header(task, label, &nest, duration_ms)
    );
    artifact::write_atomic(&out.join("run_nest.py"), script.as_bytes())?;
    info!(
        task,
        conversion = label,
        out = %out.display(),
        neurons = converted.network.n_neurons(),
        connections = nest.connections.len(),
        "exported the network for NEST"
    );
    Ok(Exported { record, converted })
}

/// Returns the script's docstring: what it runs, how, and every approximation of the mapping.
fn header(task: &str, label: &str, nest: &NestNetwork, duration_ms: f64) -> String {
    let pop = &nest.populations[0];
    let h = nest.resolution_ms;
    let late = if nest.n_late_synapses == 0 {
        "none here".to_string()
    } else {
        format!("{} synapses here", nest.n_late_synapses)
    };
    format!(
        r#""""Run the `{label}` conversion of the {task} network in NEST 3 (written by
`cargo xtask export-nest`; tested with NEST 3.10.0).

Usage:
    python run_nest.py [--trials N] [--conditions 0,2] [--seed S] [--threads T] [--out DIR]
    mpirun -np P python run_nest.py ...   (needs a NEST built with MPI)

For every condition and trial the script resets the kernel, builds the network from
network.json and the .npy files beside it, simulates {duration_ms} ms at resolution {h} ms and
saves the spikes of each MPI rank as spikes_c<condition>_t<trial>_rank<rank>.npy, an int64
array of rows (neuron index, step index); step n ends at n * {h} ms and neuron indices count
populations in order from 0.

Mapping (normalised potential of the Rust simulator -> NEST, {v_unit} mV per unit,
C_m = {c_m} pF, currents scaled by C_m * v_unit / tau_m = {pa} pA per unit):
    neuron + exponential synapse   {model}, tau_m {tau_m} ms, tau_syn {tau_syn}
    threshold, reset, refractory   V_th {v_th} mV, V_reset {v_reset} mV, E_L 0 mV,
                                   t_ref {t_ref} ms (same end-of-step test and clamp)
    bias                           I_e in pA
    synaptic jump J                weight J * pa_per_unit pA (receptor 0)
    diff. of exponentials          iaf_psc_exp_multisynapse, tau_syn [decay, rise], weights
                                   +-J * pa_per_unit * decay / (decay - rise) on receptors 1, 2
    alpha kernel                   iaf_psc_alpha, weight J * pa_per_unit / e
    delay of D steps               (D - 1) * h: NEST adds a spike one step later than the
                                   Rust simulator for equal delays
    OU membrane noise sigma_v      noise_generator, dt = h, std {noise} pA: the same
                                   autoregression on the grid, exact variance sigma_v^2 / 2
    injected input rows            I_e holds row 0, step_current_generator (delay h) the
                                   changes, stamped (n * k - 1) * h for row n of k steps
    Poisson sources                inhomogeneous_poisson_generator -> parrot_neuron

Approximations:
  - Delays of one step (D = 1) cannot be shortened and arrive one step late ({late}).
  - The first two steps ({two_steps} ms) have no membrane noise and no synaptic current:
    NEST cannot set the synaptic current directly, so one spike at h sets it to the Rust
    simulator's value from 2 h on.
  - Initial potentials are uniform in [V_reset, V_th) as in the Rust simulator, drawn from
    NEST's random numbers; trials match in distribution, not spike for spike.
  - Within a step the noise current is constant, so the membrane path between grid points is
    smooth; both simulators test the threshold only at grid points.
  - Poisson inputs: the first step of a trial receives no Poisson spikes.
"""
"#,
        v_unit = nest.units.v_unit_mv,
        c_m = nest.units.c_m_pf,
        pa = pop.pa_per_unit,
        model = pop.model,
        tau_m = pop.tau_m_ms,
        tau_syn = match &pop.synapse {
            convert::nest::NestSynapse::Exp { tau_syn_ms }
            | convert::nest::NestSynapse::Alpha { tau_syn_ms } => format!("{tau_syn_ms} ms"),
            convert::nest::NestSynapse::ExpMultisynapse { tau_syn_ms, .. } => {
                format!("{tau_syn_ms:?} ms")
            }
        },
        v_th = pop.v_th_mv,
        v_reset = pop.v_reset_mv,
        t_ref = pop.t_ref_ms,
        noise = pop.noise_std_pa,
        two_steps = 2.0 * h,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use convert::ConversionParams;
    use ndarray::array;
    use ndarray_npy::ReadNpyExt;
    use rnn_core::{Rnn, RnnConfig};

    fn read_i64(path: &Path) -> Array1<i64> {
        Array1::<i64>::read_npy(std::fs::File::open(path).unwrap()).unwrap()
    }

    #[test]
    fn export_writes_every_file() {
        // Two units of 4 neurons, fixed in-degree round(0.3 * 4) = 1, two conditions of 3 rows.
        let rnn = Rnn::from_parts(
            RnnConfig::new(2, 1),
            array![[0.5, -1.0], [1.5, 0.0]],
            array![[2.0], [0.5]],
            array![-0.5, -1.0],
            array![0.3, 0.6],
        )
        .unwrap();
        let inputs = vec![array![[0.0], [1.0], [1.0]], array![[0.5], [0.5], [0.0]]];
        let record = ConversionRecord {
            label: "tiny".into(),
            rnn,
            conversion: ConversionParams {
                n_neurons: 4,
                ..ConversionParams::default()
            },
            conversion_seed: 7,
            continuous: vec![Array2::zeros((4, 2)); 2],
            inputs,
            n_trials: 3,
            trial_seed: 1,
            output_window: None,
        };
        let out = std::env::temp_dir().join(format!("nest-export-test-{}", std::process::id()));
        let exported = write_export("memory", record, &out).unwrap();

        // Three non-zero weights, each drawn once per postsynaptic neuron: 3 * 4 synapses.
        let n_synapses = exported.converted.network.n_synapses();
        assert_eq!(n_synapses, 12);
        for name in ["pre", "post", "receptor"] {
            let values = read_i64(&out.join(format!("connections_{name}.npy")));
            assert_eq!(values.len(), n_synapses, "{name}");
        }
        let post = read_i64(&out.join("connections_post.npy"));
        assert!(post.iter().all(|&p| (0..8).contains(&p)));
        for condition in 0..2 {
            for part in ["i_e_pa", "times_ms", "values"] {
                let path = out.join(format!("inputs_c{condition}_{part}.npy"));
                assert!(path.exists(), "{}", path.display());
            }
        }

        // The description names what the script reads.
        let text = std::fs::read_to_string(out.join("network.json")).unwrap();
        let description: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(description["n_conditions"], 2);
        assert_eq!(description["n_trials"], 3);
        assert_eq!(description["input_mode"], "step_currents");
        assert_eq!(description["duration_ms"], 3.0);
        assert_eq!(description["populations"].as_array().unwrap().len(), 2);
        let script = std::fs::read_to_string(out.join("run_nest.py")).unwrap();
        assert!(script.starts_with("#!/usr/bin/env python3\n\"\"\"Run the `tiny` conversion"));
        assert!(script.contains("def main():"));
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn missing_record_names_command() {
        let from = std::env::temp_dir().join("nest-export-test-missing");
        let err = export("wrist", "phi", &from, &from.join("out"))
            .err()
            .unwrap();
        let message = format!("{err:#}");
        assert!(message.contains("conversion_phi.bin"), "{message}");
        assert!(
            message.contains("cargo xtask reproduce --task wrist"),
            "{message}"
        );
    }
}
