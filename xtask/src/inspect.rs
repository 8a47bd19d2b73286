//! `cargo xtask inspect FILE`: a readable account of an artifact.

use std::path::Path;

use anyhow::{bail, Context, Result};
use convert::{ActivationTable, FitResult};
use iaf_sim::SpikeRecord;
use ndarray::Array2;
use rnn_core::{Activation, Rnn};

use crate::artifact;

/// Prints the header and the main sizes of the artifact at `path`.
pub fn inspect(path: &Path) -> Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let (header, _) = artifact::split_header(&bytes)
        .with_context(|| format!("invalid artifact {}", path.display()))?;
    println!("file: {}", path.display());
    println!("kind: {}", header.kind);
    println!("format version: {}", header.version);
    println!("payload: {} bytes", header.payload_len);
    let decode_error = || format!("invalid artifact {}", path.display());
    match header.kind.as_str() {
        "rnn" => {
            let rnn: Rnn = artifact::decode(&bytes, "rnn").with_context(decode_error)?;
            let activation = match &rnn.config.activation {
                Activation::Logistic => "logistic".to_string(),
                Activation::Tabulated(t) => format!(
                    "tabulated, {} points from x = {}",
                    t.values().len(),
                    t.x_min()
                ),
            };
            let n_weights = rnn.w.iter().filter(|w| **w != 0.0).count();
            println!(
                "units: {}, inputs: {}, non-zero weights: {n_weights}",
                rnn.n_units(),
                rnn.n_inputs()
            );
            println!("dt: {} ms, activation: {activation}", rnn.config.dt_ms);
            let max_weight = rnn.w.iter().fold(0.0f64, |m, w| m.max(w.abs()));
            println!("max |W|: {max_weight:.4}");
            if rnn.n_units() <= 12 {
                println!("W (rows post, columns pre):");
                for row in rnn.w.outer_iter() {
                    let cells: Vec<String> = row.iter().map(|w| format!("{w:8.3}")).collect();
                    println!("  {}", cells.join(" "));
                }
                let biases: Vec<String> = rnn.b.iter().map(|b| format!("{b:.3}")).collect();
                println!("b: {}", biases.join(" "));
            }
        }
        "f-I fit" => {
            let fit: FitResult = artifact::decode(&bytes, "f-I fit").with_context(decode_error)?;
            println!(
                "g = {}, mu_0 = {}, f_max = {} Hz",
                fit.g, fit.mu_0, fit.f_max_hz
            );
            println!(
                "RMS {} and max error {} against the logistic over {} points",
                fit.rms,
                fit.max_error,
                fit.x.len()
            );
        }
        "activation table" => {
            let table: ActivationTable =
                artifact::decode(&bytes, "activation table").with_context(decode_error)?;
            println!(
                "g = {}, mu_0 = {}, f_max = {} Hz",
                table.g, table.mu_0, table.f_max_hz
            );
            println!(
                "{} simulated points, {} table points, upper limit {}",
                table.x.len(),
                table.activation.values().len(),
                table.activation.upper_limit()
            );
        }
        "spike record" => {
            let record: SpikeRecord =
                artifact::decode(&bytes, "spike record").with_context(decode_error)?;
            let last = record.steps.last().copied().unwrap_or(0);
            println!("spikes: {}, last spike at step {last}", record.steps.len());
        }
        "spiking readouts" => {
            let (readouts, psths): (Vec<Array2<f64>>, Vec<Array2<f64>>) =
                artifact::decode(&bytes, "spiking readouts").with_context(decode_error)?;
            let shape = readouts.first().map(|r| r.dim());
            println!(
                "conditions: {}, read-out shape {shape:?}, PSTHs {}",
                readouts.len(),
                psths.len()
            );
        }
        crate::nest::record::KIND => {
            let record: crate::nest::record::ConversionRecord =
                artifact::decode(&bytes, crate::nest::record::KIND).with_context(decode_error)?;
            let c = &record.conversion;
            println!(
                "conversion {}: {} units of {} neurons, g = {}, mu_0 = {}, f_max = {} Hz",
                record.label,
                record.rnn.n_units(),
                c.n_neurons,
                c.g,
                c.mu_0,
                c.f_max_hz
            );
            println!(
                "conditions: {}, trials per condition: {}, conversion seed {}, trial seed {}",
                record.inputs.len(),
                record.n_trials,
                record.conversion_seed,
                record.trial_seed
            );
        }
        other => bail!("unknown artifact kind {other:?} in {}", path.display()),
    }
    Ok(())
}
