//! `cargo xtask inspect FILE`: a readable account of an artifact.

use std::fmt::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use convert::{ActivationTable, FitResult};
use iaf_sim::SpikeRecord;
use ndarray::Array2;
use rnn_core::{Activation, Rnn};

use crate::artifact;
use crate::training::{self, TrainingCheckpoint};

/// Kind names of every artifact the pipelines write.
pub const KINDS: [&str; 6] = [
    "rnn",
    "f-I fit",
    "activation table",
    "spike record",
    "spiking readouts",
    training::CHECKPOINT_KIND,
];

/// Prints the header and the main sizes of the artifact at `path`.
///
/// # Errors
/// The reason the file is not a readable artifact (see [`describe`]).
pub fn inspect(path: &Path) -> Result<()> {
    let bytes = artifact::read_bytes(path)?;
    let text = describe(&bytes).with_context(|| format!("invalid artifact {}", path.display()))?;
    println!("file: {}", path.display());
    print!("{text}");
    Ok(())
}

/// Describes the artifact in `bytes`: header fields, then the main sizes of its content.
///
/// # Errors
/// Any error of [`artifact::split_header`], an unknown kind, or a payload that does not decode
/// or, for a network, fails [`Rnn::validate`].
pub fn describe(bytes: &[u8]) -> Result<String> {
    let (header, _) = artifact::split_header(bytes)?;
    let mut out = String::new();
    writeln!(out, "kind: {}", header.kind)?;
    writeln!(out, "format version: {}", header.version)?;
    match header.run_seed {
        Some(seed) => writeln!(out, "run seed: {seed}")?,
        None => writeln!(out, "run seed: not recorded")?,
    }
    writeln!(out, "payload: {} bytes", header.payload_len)?;
    writeln!(out, "sha-256: {}", header.checksum_hex)?;
    let decode_error = || format!("invalid {} payload", header.kind);
    match header.kind.as_str() {
        "rnn" => {
            let rnn: Rnn = artifact::decode(bytes, "rnn").with_context(decode_error)?;
            rnn.validate().with_context(decode_error)?;
            describe_rnn(&mut out, &rnn)?;
        }
        "f-I fit" => {
            let fit: FitResult = artifact::decode(bytes, "f-I fit").with_context(decode_error)?;
            writeln!(
                out,
                "g = {}, mu_0 = {}, f_max = {} Hz",
                fit.g, fit.mu_0, fit.f_max_hz
            )?;
            writeln!(
                out,
                "RMS {} and max error {} against the logistic over {} points",
                fit.rms,
                fit.max_error,
                fit.x.len()
            )?;
        }
        "activation table" => {
            let table: ActivationTable =
                artifact::decode(bytes, "activation table").with_context(decode_error)?;
            writeln!(
                out,
                "g = {}, mu_0 = {}, f_max = {} Hz",
                table.g, table.mu_0, table.f_max_hz
            )?;
            writeln!(
                out,
                "{} simulated points, {} table points, upper limit {}",
                table.x.len(),
                table.activation.values().len(),
                table.activation.upper_limit()
            )?;
        }
        "spike record" => {
            let record: SpikeRecord =
                artifact::decode(bytes, "spike record").with_context(decode_error)?;
            let last = record.steps.last().copied().unwrap_or(0);
            writeln!(
                out,
                "spikes: {}, last spike at step {last}",
                record.steps.len()
            )?;
        }
        "spiking readouts" => {
            let (readouts, psths): (Vec<Array2<f64>>, Vec<Array2<f64>>) =
                artifact::decode(bytes, "spiking readouts").with_context(decode_error)?;
            let shape = readouts.first().map_or("none".to_string(), |r| {
                let (rows, cols) = r.dim();
                format!("{rows} x {cols}")
            });
            writeln!(
                out,
                "conditions: {}, read-out shape {shape}, PSTHs {}",
                readouts.len(),
                psths.len()
            )?;
        }
        training::CHECKPOINT_KIND => {
            let checkpoint: TrainingCheckpoint =
                artifact::decode(bytes, training::CHECKPOINT_KIND).with_context(decode_error)?;
            checkpoint.rnn.validate().with_context(decode_error)?;
            writeln!(
                out,
                "iterations done: {} of {}, last loss {}, best loss {}",
                checkpoint.next_iteration,
                checkpoint.settings.iterations,
                checkpoint.loss_history.last().copied().unwrap_or(f64::NAN),
                checkpoint.best_loss
            )?;
            describe_rnn(&mut out, &checkpoint.rnn)?;
        }
        crate::record::KIND => {
            let record: crate::record::ConversionRecord =
                artifact::decode(bytes, crate::record::KIND).with_context(decode_error)?;
            let c = &record.conversion;
            writeln!(
                out,
                "conversion {}: {} units of {} neurons, g = {}, mu_0 = {}, f_max = {} Hz",
                record.label,
                record.rnn.n_units(),
                c.n_neurons,
                c.g,
                c.mu_0,
                c.f_max_hz
            )?;
            writeln!(
                out,
                "conditions: {}, trials per condition: {}, conversion seed {}, trial seed {}",
                record.inputs.len(),
                record.n_trials,
                record.conversion_seed,
                record.trial_seed
            )?;
        }
        other => bail!("unknown artifact kind {other:?}"),
    }
    Ok(out)
}

fn describe_rnn(out: &mut String, rnn: &Rnn) -> Result<()> {
    let activation = match &rnn.config.activation {
        Activation::Logistic => "logistic".to_string(),
        Activation::Tabulated(t) => format!(
            "tabulated, {} points from x = {}",
            t.values().len(),
            t.x_min()
        ),
    };
    let n_weights = rnn.w.iter().filter(|w| **w != 0.0).count();
    writeln!(
        out,
        "units: {}, inputs: {}, non-zero weights: {n_weights}",
        rnn.n_units(),
        rnn.n_inputs()
    )?;
    writeln!(out, "dt: {} ms, activation: {activation}", rnn.config.dt_ms)?;
    let max_weight = rnn.w.iter().fold(0.0f64, |m, w| m.max(w.abs()));
    writeln!(out, "max |W|: {max_weight:.4}")?;
    if rnn.n_units() <= 12 {
        writeln!(out, "W (rows post, columns pre):")?;
        for row in rnn.w.outer_iter() {
            let cells: Vec<String> = row.iter().map(|w| format!("{w:8.3}")).collect();
            writeln!(out, "  {}", cells.join(" "))?;
        }
        let biases: Vec<String> = rnn.b.iter().map(|b| format!("{b:.3}")).collect();
        writeln!(out, "b: {}", biases.join(" "))?;
    }
    Ok(())
}
