//! Parameters of the wrist task and the checks shared by every function that takes them.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Amplitudes and time constants of the activity templates (see [`crate::TemplateKind`]).
///
/// | name | default | meaning |
/// |---|---|---|
/// | `tonic_level` | 0.5 | hold level of tonic, phasic-tonic and decrementing templates |
/// | `phasic_tonic_amplitude`, `phasic_tonic_tau_ms` | 0.4, 80 ms | transient on top of the phasic-tonic hold level |
/// | `decrementing_amplitude`, `decrementing_tau_ms` | 0.3, 300 ms | slow decay on top of the decrementing hold level |
/// | `ramp_start_level`, `ramp_slope_per_s` | 0.3, 0.3 /s | ramp level at onset and its growth |
/// | `phasic_amplitude`, `phasic_tau_ms` | 0.6, 80 ms | phasic transient |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateShapeParams {
    /// Hold level of the tonic, phasic-tonic and decrementing templates.
    pub tonic_level: f64,
    /// Amplitude of the phasic-tonic transient.
    pub phasic_tonic_amplitude: f64,
    /// Decay time constant of the phasic-tonic transient in ms.
    pub phasic_tonic_tau_ms: f64,
    /// Amplitude of the decrementing excess.
    pub decrementing_amplitude: f64,
    /// Decay time constant of the decrementing excess in ms.
    pub decrementing_tau_ms: f64,
    /// Ramp level at onset.
    pub ramp_start_level: f64,
    /// Ramp growth per second.
    pub ramp_slope_per_s: f64,
    /// Amplitude of the phasic template.
    pub phasic_amplitude: f64,
    /// Decay time constant of the phasic template in ms.
    pub phasic_tau_ms: f64,
}

impl Default for TemplateShapeParams {
    fn default() -> Self {
        Self {
            tonic_level: 0.5,
            phasic_tonic_amplitude: 0.4,
            phasic_tonic_tau_ms: 80.0,
            decrementing_amplitude: 0.3,
            decrementing_tau_ms: 300.0,
            ramp_start_level: 0.3,
            ramp_slope_per_s: 0.3,
            phasic_amplitude: 0.6,
            phasic_tau_ms: 80.0,
        }
    }
}

impl TemplateShapeParams {
    /// Checks that amplitudes are finite and time constants positive.
    pub fn validate(&self) -> Result<(), Error> {
        check_finite("shapes.tonic_level", self.tonic_level)?;
        check_finite("shapes.phasic_tonic_amplitude", self.phasic_tonic_amplitude)?;
        check_positive("shapes.phasic_tonic_tau_ms", self.phasic_tonic_tau_ms)?;
        check_finite("shapes.decrementing_amplitude", self.decrementing_amplitude)?;
        check_positive("shapes.decrementing_tau_ms", self.decrementing_tau_ms)?;
        check_finite("shapes.ramp_start_level", self.ramp_start_level)?;
        check_finite("shapes.ramp_slope_per_s", self.ramp_slope_per_s)?;
        check_finite("shapes.phasic_amplitude", self.phasic_amplitude)?;
        check_positive("shapes.phasic_tau_ms", self.phasic_tau_ms)
    }
}

/// Timing, afferent model and templates of the wrist step-tracking task.
///
/// | name | default | meaning |
/// |---|---|---|
/// | `dt_ms` | 1 ms | time step |
/// | `baseline_ms` | 200 ms | time before the first target step (no target, position 0) |
/// | `test_hold_ms` | 1000 ms | hold after each step in the test trial |
/// | `train_hold_min_ms`, `train_hold_max_ms` | 700, 1500 ms | range of training holds |
/// | `n_target_steps` | 4 | steps per trial, alternating +1, -1, ..., flexion first |
/// | `tau_p_ms` | 100 ms | time constant of the desired position |
/// | `ia_position_gain` | 2 | position gain of the afferent lines |
/// | `ia_velocity_gain_s` | 0.1 s | velocity gain of the afferent lines |
/// | `ia_bias` | -1 | bias of the afferent lines |
/// | `mn_latency_ms` | 100 ms | template latency of motoneuron pools |
/// | `cm_rm_latency_ms` | 60 ms | template latency of CM and RM units |
/// | `y0` | 0.05 | resting activity of every template |
/// | `rise_tau_ms` | 20 ms | template rise time constant |
/// | `nonpreferred_decay_tau_ms` | 30 ms | template decay after a non-preferred step |
/// | `template_loss_weight` | 0.3 | weight of the CM/RM template loss against the motoneuron loss |
/// | `shapes` | see [`TemplateShapeParams`] | template amplitudes and time constants |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WristTaskParams {
    /// Time step in ms.
    pub dt_ms: f64,
    /// Time before the first target step in ms.
    pub baseline_ms: f64,
    /// Hold duration of the test trial in ms.
    pub test_hold_ms: f64,
    /// Minimum training hold in ms.
    pub train_hold_min_ms: f64,
    /// Maximum training hold in ms.
    pub train_hold_max_ms: f64,
    /// Number of target steps per trial.
    pub n_target_steps: usize,
    /// Time constant of the desired position in ms.
    pub tau_p_ms: f64,
    /// Position gain of the afferent lines.
    pub ia_position_gain: f64,
    /// Velocity gain of the afferent lines in s.
    pub ia_velocity_gain_s: f64,
    /// Bias of the afferent lines.
    pub ia_bias: f64,
    /// Template latency of motoneuron pools in ms.
    pub mn_latency_ms: f64,
    /// Template latency of CM and RM units in ms.
    pub cm_rm_latency_ms: f64,
    /// Resting template activity.
    pub y0: f64,
    /// Template rise time constant in ms.
    pub rise_tau_ms: f64,
    /// Template decay time constant after a non-preferred step in ms.
    pub nonpreferred_decay_tau_ms: f64,
    /// Weight of the CM/RM template loss relative to the motoneuron loss.
    pub template_loss_weight: f64,
    /// Template amplitudes and time constants.
    pub shapes: TemplateShapeParams,
}

impl Default for WristTaskParams {
    fn default() -> Self {
        Self {
            dt_ms: 1.0,
            baseline_ms: 200.0,
            test_hold_ms: 1000.0,
            train_hold_min_ms: 700.0,
            train_hold_max_ms: 1500.0,
            n_target_steps: 4,
            tau_p_ms: 100.0,
            ia_position_gain: 2.0,
            ia_velocity_gain_s: 0.1,
            ia_bias: -1.0,
            mn_latency_ms: 100.0,
            cm_rm_latency_ms: 60.0,
            y0: 0.05,
            rise_tau_ms: 20.0,
            nonpreferred_decay_tau_ms: 30.0,
            template_loss_weight: 0.3,
            shapes: TemplateShapeParams::default(),
        }
    }
}

impl WristTaskParams {
    /// Checks every field and returns the parameters unchanged if they are valid.
    pub fn validated(self) -> Result<Self, Error> {
        self.validate()?;
        Ok(self)
    }

    /// Checks that every field is finite and in range and that durations are whole steps.
    pub fn validate(&self) -> Result<(), Error> {
        check_positive("dt_ms", self.dt_ms)?;
        check_nonnegative("baseline_ms", self.baseline_ms)?;
        whole_steps("baseline_ms", self.baseline_ms, self.dt_ms)?;
        check_positive("test_hold_ms", self.test_hold_ms)?;
        whole_steps("test_hold_ms", self.test_hold_ms, self.dt_ms)?;
        self.validate_train_holds()?;
        if self.n_target_steps == 0 {
            return Err(invalid(
                "n_target_steps",
                0.0,
                "must be >= 1; the default trial has 4 steps".into(),
            ));
        }
        check_positive("tau_p_ms", self.tau_p_ms)?;
        check_finite("ia_position_gain", self.ia_position_gain)?;
        check_finite("ia_velocity_gain_s", self.ia_velocity_gain_s)?;
        check_finite("ia_bias", self.ia_bias)?;
        check_nonnegative("mn_latency_ms", self.mn_latency_ms)?;
        check_nonnegative("cm_rm_latency_ms", self.cm_rm_latency_ms)?;
        check_finite("y0", self.y0)?;
        check_positive("rise_tau_ms", self.rise_tau_ms)?;
        check_positive("nonpreferred_decay_tau_ms", self.nonpreferred_decay_tau_ms)?;
        check_nonnegative("template_loss_weight", self.template_loss_weight)?;
        self.shapes.validate()
    }

    fn validate_train_holds(&self) -> Result<(), Error> {
        check_positive("train_hold_min_ms", self.train_hold_min_ms)?;
        whole_steps("train_hold_min_ms", self.train_hold_min_ms, self.dt_ms)?;
        if !(self.train_hold_max_ms.is_finite() && self.train_hold_max_ms >= self.train_hold_min_ms)
        {
            return Err(invalid(
                "train_hold_max_ms",
                self.train_hold_max_ms,
                format!(
                    "must be finite and >= train_hold_min_ms = {} ms",
                    self.train_hold_min_ms
                ),
            ));
        }
        whole_steps("train_hold_max_ms", self.train_hold_max_ms, self.dt_ms)?;
        Ok(())
    }

    /// Number of units (28).
    pub fn n_units(&self) -> usize {
        crate::architecture::N_UNITS
    }

    /// Number of inputs (4: `T_F`, `T_E`, `Ia_F`, `Ia_E`).
    pub fn n_inputs(&self) -> usize {
        crate::architecture::N_INPUTS
    }
}

/// Builds an [`Error::InvalidParameter`].
pub(crate) fn invalid(name: &'static str, value: f64, requirement: String) -> Error {
    Error::InvalidParameter {
        name,
        value,
        requirement,
    }
}

pub(crate) fn check_finite(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite".into()))
    }
}

pub(crate) fn check_positive(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and > 0".into()))
    }
}

pub(crate) fn check_nonnegative(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(name, value, "must be finite and >= 0".into()))
    }
}

/// Converts a duration to a step count, rejecting durations that are not whole steps.
///
/// A duration within `1e-6` steps of an integer counts as whole, so that values such as
/// `0.3 / 0.1` pass despite rounding.
pub(crate) fn whole_steps(name: &'static str, value_ms: f64, dt_ms: f64) -> Result<usize, Error> {
    let steps = value_ms / dt_ms;
    let rounded = steps.round();
    if !steps.is_finite() || rounded < 0.0 || (steps - rounded).abs() > 1e-6 {
        return Err(Error::NotWholeSteps {
            name,
            value_ms,
            dt_ms,
        });
    }
    Ok(rounded as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(WristTaskParams::default().validate(), Ok(()));
    }

    #[test]
    fn rejects_inverted_hold_range() {
        let params = WristTaskParams {
            train_hold_max_ms: 600.0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "train_hold_max_ms",
                ..
            })
        ));
    }

    #[test]
    fn rejects_zero_steps() {
        let params = WristTaskParams {
            n_target_steps: 0,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "n_target_steps",
                ..
            })
        ));
    }

    #[test]
    fn rejects_bad_shape_tau() {
        let params = WristTaskParams {
            shapes: TemplateShapeParams {
                phasic_tau_ms: -1.0,
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::InvalidParameter {
                name: "shapes.phasic_tau_ms",
                ..
            })
        ));
    }

    #[test]
    fn rejects_fractional_baseline() {
        let params = WristTaskParams {
            baseline_ms: 200.5,
            ..Default::default()
        };
        assert!(matches!(
            params.validate(),
            Err(Error::NotWholeSteps {
                name: "baseline_ms",
                ..
            })
        ));
    }
}
