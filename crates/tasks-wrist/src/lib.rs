//! The wrist step-tracking task after Fetz et al. (1990), Cheney & Fetz (1980) and Maier et
//! al. (1998): the 28-unit network architecture, trial generator, activity templates and
//! the metrics that decide whether a trained net does the task.
//!
//! A trial starts with a 200 ms baseline, then the target steps to +1 (flexion), -1, +1, -1,
//! holding each for 1 s in the test trial (0.7-1.5 s in training). Four inputs carry the
//! target (`T_F`, `T_E`) and afferent lines (`Ia_F`, `Ia_E`) computed from a desired
//! position that follows the target with a 100 ms time constant. The 8 motoneuron pools and
//! 6 CM/RM units are trained toward templates (tonic, phasic-tonic, decrementing, ramp,
//! phasic); the other units are free. [`architecture`] gives the connection masks and the
//! sign of every unit (Dale's principle).
//!
//! Trials are [`rnn_core::Trial`]s: row `n` of the inputs drives `y[n] -> y[n + 1]` and row
//! `n` of targets and weights scores `y[n + 1]`. This crate does not simulate or train
//! networks (that is `rnn-core`), has no closed-loop wrist plant and does no I/O.
//!
//! ```
//! use tasks_wrist::{architecture, test_holds_ms, test_trial, WristTaskParams};
//!
//! let params = WristTaskParams::default().validated()?;
//! let trial = test_trial(&params)?;
//! assert_eq!(trial.n_steps(), 4200);
//! assert_eq!(test_holds_ms(&params), vec![1000.0; 4]);
//!
//! // Motoneuron pools (units 20-27) receive no input from other pools.
//! let arch = architecture();
//! assert!(!arch.mask[[20, 27]]);
//! assert!(arch.mask[[20, 10]]);
//! # Ok::<(), tasks_wrist::Error>(())
//! ```

mod architecture;
mod error;
mod inputs;
mod metrics;
mod params;
mod templates;
mod timeline;
mod trial;

pub use architecture::{
    architecture, Direction, TemplateKind, UnitGroup, WristArchitecture, INPUT_IA_E, INPUT_IA_F,
    INPUT_T_E, INPUT_T_F, N_INPUTS, N_UNITS,
};
pub use error::Error;
pub use inputs::{afferent_activity, desired_position, wrist_inputs, DesiredPosition};
pub use metrics::{
    shape_blind_baseline_nrmse, template_nrmse, wrist_metrics, wrist_metrics_with,
    DirectionalWeights, InhibitoryActivity, PremotorActivity, TemplateFit, WristCriteria,
    WristMetrics,
};
pub use params::{TemplateShapeParams, WristTaskParams};
pub use templates::{preferred_template_value, template_trace, template_value};
pub use timeline::WristTimeline;
pub use trial::{
    sample_hold_durations_ms, sample_wrist_trial, test_holds_ms, test_trial, wrist_trial,
};
