//! The training loop: minibatch gradient, Adam step, stopping rules.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::{Adam, AdamConfig, Error, Rnn, Trial};

/// Settings of a training run.
///
/// | field | default | meaning |
/// |---|---|---|
/// | `max_iterations` | 10000 | total number of Adam steps, counted from the optimiser's first step |
/// | `target_loss` | none | stop once a batch loss is at or below this value |
/// | `adam` | [`AdamConfig::default`] | optimiser settings |
/// | `log_every` | 100 | iterations between `tracing` info events; 0 logs only start and end |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Total number of Adam steps.
    pub max_iterations: usize,
    /// Batch loss at which training stops.
    pub target_loss: Option<f64>,
    /// Optimiser settings.
    pub adam: AdamConfig,
    /// Iterations between progress events.
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            max_iterations: 10_000,
            target_loss: None,
            adam: AdamConfig::default(),
            log_every: 100,
        }
    }
}

impl TrainConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `max_iterations` = 0 or a non-finite `target_loss`,
    /// and any error of [`AdamConfig::validate`].
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_iterations == 0 {
            return Err(Error::invalid(
                "max_iterations",
                0,
                "training needs at least 1 iteration",
            ));
        }
        if let Some(target) = self.target_loss {
            if !target.is_finite() {
                return Err(Error::invalid("target_loss", target, "must be finite"));
            }
        }
        self.adam.validate()
    }
}

/// Reason a training run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// The optimiser reached `max_iterations` steps.
    MaxIterations,
    /// A batch loss reached `target_loss`.
    TargetLoss,
    /// The observer returned `ControlFlow::Break`.
    Observer,
}

/// Outcome of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Iterations run in this call.
    pub iterations: usize,
    /// Batch loss of the last iteration.
    pub final_loss: f64,
    /// Batch loss of every iteration of this call, in order.
    pub loss_history: Vec<f64>,
    /// Smallest batch loss of this call.
    pub best_loss: f64,
    /// Reason the run stopped.
    pub stop_reason: StopReason,
}

/// Trains `rnn` with a fresh Adam optimiser; see [`train_with_adam`].
///
/// # Errors
/// As [`train_with_adam`], and any error of [`Adam::new`].
pub fn train(
    rnn: &mut Rnn,
    config: &TrainConfig,
    sample_batch: &mut dyn FnMut(usize) -> Vec<Trial>,
    observer: &mut dyn FnMut(usize, f64) -> ControlFlow<()>,
) -> Result<TrainReport, Error> {
    let mut adam = Adam::new(config.adam.clone(), rnn)?;
    train_with_adam(rnn, &mut adam, config, sample_batch, observer)
}

/// Trains `rnn` with the optimiser state `adam`, which makes resuming from a checkpoint
/// continue the same schedule.
///
/// Iteration indices run from `adam.step_count()` to `config.max_iterations - 1`; the
/// optimiser settings come from `adam`, not from `config.adam`. Each iteration:
///
/// 1. `batch = sample_batch(iteration)`;
/// 2. `(loss, gradient) = rnn.loss_and_gradient(&batch)` (the loss before the step);
/// 3. a non-finite loss or gradient stops with [`Error::Diverged`];
/// 4. one [`Adam::step`] (clip, update, apply the constraints);
/// 5. `observer(iteration, loss)`; training stops after a `Break`, after a loss at or
///    below `target_loss`, or at `max_iterations`.
///
/// # Errors
/// - Any error of [`TrainConfig::validate`].
/// - [`Error::InvalidParameter`] if `adam` has already taken `max_iterations` steps.
/// - Any error of [`Rnn::loss_and_gradient`] for a bad batch.
/// - [`Error::Diverged`] naming the iteration and `loss`, or the parameter whose gradient or
///   update became non-finite.
///
/// On error `rnn` and `adam` are as they were after the last completed iteration.
pub fn train_with_adam(
    rnn: &mut Rnn,
    adam: &mut Adam,
    config: &TrainConfig,
    sample_batch: &mut dyn FnMut(usize) -> Vec<Trial>,
    observer: &mut dyn FnMut(usize, f64) -> ControlFlow<()>,
) -> Result<TrainReport, Error> {
    config.validate()?;
    let start = adam.step_count();
    if start >= config.max_iterations {
        return Err(Error::invalid(
            "max_iterations",
            config.max_iterations,
            format!("the optimiser has already taken {start} steps; raise max_iterations"),
        ));
    }
    let span = tracing::info_span!("train", n_units = rnn.n_units(), start);
    let _guard = span.enter();
    tracing::info!(
        max_iterations = config.max_iterations,
        target_loss = ?config.target_loss,
        "training starts"
    );

    let mut loss_history = Vec::with_capacity(config.max_iterations - start);
    let mut best_loss = f64::INFINITY;
    let mut stop_reason = StopReason::MaxIterations;
    for iteration in start..config.max_iterations {
        // Gradient of the batch loss at the current parameters.
        let batch = sample_batch(iteration);
        let (loss, gradient) = rnn.loss_and_gradient(&batch)?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                iteration,
                parameter: "loss".into(),
            });
        }

        // Adam step; its errors carry the step count, so re-label them with the iteration.
        adam.step(rnn, &gradient).map_err(|err| match err {
            Error::Diverged { parameter, .. } => Error::Diverged {
                iteration,
                parameter,
            },
            other => other,
        })?;

        loss_history.push(loss);
        best_loss = best_loss.min(loss);
        if config.log_every > 0 && iteration % config.log_every == 0 {
            tracing::info!(iteration, loss, gradient_norm = gradient.norm(), "progress");
        }

        // Stopping rules.
        if observer(iteration, loss).is_break() {
            stop_reason = StopReason::Observer;
            break;
        }
        if config.target_loss.is_some_and(|target| loss <= target) {
            stop_reason = StopReason::TargetLoss;
            break;
        }
    }

    let final_loss = *loss_history.last().expect("at least one iteration ran");
    tracing::info!(
        iterations = loss_history.len(),
        final_loss,
        best_loss,
        ?stop_reason,
        "training ends"
    );
    Ok(TrainReport {
        iterations: loss_history.len(),
        final_loss,
        loss_history,
        best_loss,
        stop_reason,
    })
}
