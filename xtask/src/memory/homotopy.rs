//! Calibration in stages along a path of activation functions, from the logistic to the
//! fitted spiking curve `Phi_a`.
//!
//! Swapping the logistic for `Phi_a` in one step can collapse a trained net's memory states
//! before the calibration starts (a unit below the floor of `Phi_a` has a derivative of about
//! 0 and gets no gradient). With `n` stages, stage `k` fine-tunes with the blend
//! `(1 - k/n) logistic + (k/n) Phi_a`, starting from the net of stage `k - 1`. The last stage
//! uses `Phi_a` itself.

use std::fmt;

use anyhow::{bail, Context, Result};
use rnn_core::{Activation, TabulatedActivation};
use serde::de::{Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize};

use crate::training::TrainingSettings;

/// Largest number of calibration stages.
const MAX_STAGES: usize = 20;

/// Iterations of each stage before the last when a file leaves `stage_iterations` out.
const DEFAULT_STAGE_ITERATIONS: usize = 2000;

/// Settings of the staged calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HomotopyFields")]
pub struct CalibrationHomotopy {
    /// Calibration stages; 1 calibrates with `Phi_a` directly.
    pub stages: usize,
    /// Iterations of each stage before the last, which runs `calibration.iterations`. The
    /// other optimiser settings are those of `calibration`. 2000 when a file leaves it out.
    pub stage_iterations: usize,
}

/// The `calibration_homotopy` table as read from a file, before a missing `stages` is
/// reported with its range and default (serde's own message names only the key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HomotopyFields {
    #[serde(default, deserialize_with = "deserialize_present_stages")]
    stages: Option<usize>,
    #[serde(
        default = "default_stage_iterations",
        deserialize_with = "deserialize_stage_iterations"
    )]
    stage_iterations: usize,
}

impl TryFrom<HomotopyFields> for CalibrationHomotopy {
    type Error = String;

    fn try_from(fields: HomotopyFields) -> Result<CalibrationHomotopy, String> {
        let Some(stages) = fields.stages else {
            return Err(format!(
                "missing field `stages`: give the number of calibration stages, a whole number \
                 in [1, {MAX_STAGES}]; the default, when calibration_homotopy is left out, is {}",
                CalibrationHomotopy::default().stages
            ));
        };
        Ok(CalibrationHomotopy {
            stages,
            stage_iterations: fields.stage_iterations,
        })
    }
}

impl Default for CalibrationHomotopy {
    fn default() -> CalibrationHomotopy {
        CalibrationHomotopy {
            stages: 1,
            stage_iterations: DEFAULT_STAGE_ITERATIONS,
        }
    }
}

fn default_stage_iterations() -> usize {
    DEFAULT_STAGE_ITERATIONS
}

/// Reads a whole number and names its valid range and default when the value has another
/// type, because serde's own message names only the type.
struct CountVisitor {
    /// Valid range, such as `"in [1, 20]"`.
    range: String,
    /// Key whose absence gives the default.
    absent_key: &'static str,
    default: usize,
}

impl Visitor<'_> for CountVisitor {
    type Value = usize;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "a whole number {}; the default, when {} is left out, is {}",
            self.range, self.absent_key, self.default
        )
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<usize, E> {
        usize::try_from(value).map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }
}

fn deserialize_stages<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    deserializer.deserialize_u64(CountVisitor {
        range: format!("in [1, {MAX_STAGES}]"),
        absent_key: "calibration_homotopy",
        default: CalibrationHomotopy::default().stages,
    })
}

fn deserialize_present_stages<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    deserialize_stages(deserializer).map(Some)
}

fn deserialize_stage_iterations<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<usize, D::Error> {
    deserializer.deserialize_u64(CountVisitor {
        range: ">= 1 when stages > 1".to_string(),
        absent_key: "stage_iterations",
        default: DEFAULT_STAGE_ITERATIONS,
    })
}

impl CalibrationHomotopy {
    /// Checks that the stage count is in [1, 20] and that intermediate stages have
    /// iterations.
    pub fn validate(&self) -> Result<()> {
        if self.stages == 0 || self.stages > MAX_STAGES {
            bail!(
                "invalid calibration_homotopy.stages = {}: give a value in [1, {MAX_STAGES}] \
                 (1 calibrates with the fitted curve directly, the default when \
                 calibration_homotopy is left out)",
                self.stages
            );
        }
        if self.stages > 1 && self.stage_iterations == 0 {
            bail!(
                "invalid calibration_homotopy.stage_iterations = 0: give at least 1 iteration \
                 per intermediate stage, or set calibration_homotopy.stages to 1"
            );
        }
        Ok(())
    }

    /// Returns the blend weight of `Phi_a` in each stage before the last, `k / stages` for
    /// `k = 1, ..., stages - 1`.
    pub fn intermediate_weights(&self) -> Vec<f64> {
        (1..self.stages)
            .map(|k| k as f64 / self.stages as f64)
            .collect()
    }

    /// Returns the optimiser settings of a stage before the last.
    pub fn stage_settings(&self, calibration: &TrainingSettings) -> TrainingSettings {
        TrainingSettings {
            iterations: self.stage_iterations,
            checkpoint_every: calibration.checkpoint_every.min(self.stage_iterations),
            ..calibration.clone()
        }
    }
}

/// Tabulates `(1 - weight) logistic + weight Phi_a` on the grid of `phi_a`, with the same
/// blend of the two upper limits. The blend of two nondecreasing curves is nondecreasing, so
/// the PCHIP interpolant through it is monotone, like `phi_a`'s.
pub fn blended_activation(phi_a: &TabulatedActivation, weight: f64) -> Result<Activation> {
    if !(weight.is_finite() && (0.0..=1.0).contains(&weight)) {
        bail!("invalid blend weight {weight}: give a value in [0, 1]");
    }
    let logistic = Activation::Logistic;
    let values: Vec<f64> = phi_a
        .values()
        .iter()
        .enumerate()
        .map(|(k, &phi)| {
            let x = phi_a.x_min() + k as f64 * phi_a.dx();
            (1.0 - weight) * logistic.value(x) + weight * phi
        })
        .collect();
    // The logistic's last value lies below 1, so the blended limit stays above the blended
    // last value whenever `phi_a`'s does.
    let upper_limit = (1.0 - weight) + weight * phi_a.upper_limit();
    let table = TabulatedActivation::new(phi_a.x_min(), phi_a.dx(), values, upper_limit)
        .with_context(|| format!("failed to tabulate the activation blend with weight {weight}"))?;
    Ok(Activation::Tabulated(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, Format};

    /// Parses a configuration that holds only a `calibration_homotopy` table.
    fn parse_homotopy(table: &str) -> Result<CalibrationHomotopy> {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Section {
            calibration_homotopy: CalibrationHomotopy,
        }
        let text = format!("[calibration_homotopy]\n{table}");
        parse::<Section>(&text, Format::Toml).map(|section| section.calibration_homotopy)
    }

    #[test]
    fn wrong_type_names_range_and_default() {
        for value in ["1.5", "\"4\"", "-2"] {
            let err = format!(
                "{:#}",
                parse_homotopy(&format!("stages = {value}")).unwrap_err()
            );
            assert!(err.contains("`calibration_homotopy.stages`"), "{err}");
            assert!(err.contains("in [1, 20]"), "{err}");
            assert!(err.contains("is 1"), "{err}");
        }
        let table = "stages = 4\nstage_iterations = 2.5";
        let err = format!("{:#}", parse_homotopy(table).unwrap_err());
        assert!(
            err.contains("`calibration_homotopy.stage_iterations`"),
            "{err}"
        );
        assert!(err.contains(">= 1 when stages > 1"), "{err}");
        assert!(err.contains("is 2000"), "{err}");
    }

    #[test]
    fn missing_stages_names_range_and_default() {
        let err = format!(
            "{:#}",
            parse_homotopy("stage_iterations = 100").unwrap_err()
        );
        assert!(err.contains("`calibration_homotopy`"), "{err}");
        assert!(err.contains("missing field `stages`"), "{err}");
        assert!(err.contains("in [1, 20]"), "{err}");
        assert!(err.contains("is 1"), "{err}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = format!(
            "{:#}",
            parse_homotopy(
                "stages = 2
stage = 3"
            )
            .unwrap_err()
        );
        assert!(err.contains("unknown field `stage`"), "{err}");
    }

    #[test]
    fn stage_iterations_default_when_left_out() {
        let homotopy = parse_homotopy("stages = 4").unwrap();
        assert_eq!(homotopy.stages, 4);
        assert_eq!(homotopy.stage_iterations, 2000);
        assert_eq!(
            parse_homotopy("stages = 3\nstage_iterations = 7")
                .unwrap()
                .stage_iterations,
            7
        );
    }

    /// Builds a coarse stand-in for `Phi_a`, a clipped ramp from 0 at x = -2 to 1 at x = 2.
    fn ramp() -> TabulatedActivation {
        let values = (0..9)
            .map(|k| ((-4.0 + k as f64 + 2.0) / 4.0).clamp(0.0, 1.0))
            .collect();
        TabulatedActivation::new(-4.0, 1.0, values, 1.0).unwrap()
    }

    #[test]
    fn blend_hits_nodes_of_both_curves() {
        let phi = ramp();
        let blend = blended_activation(&phi, 0.25).unwrap();
        // At x = 0 the ramp is 0.5 and the logistic is 0.5, so the blend is 0.5.
        assert!((blend.value(0.0) - 0.5).abs() < 1e-12);
        // At x = 2 the ramp is 1 and the logistic is 1 / (1 + e^-2) = 0.880797...; the
        // blend is 0.75 * 0.880797 + 0.25 * 1 = 0.910598.
        assert!((blend.value(2.0) - 0.910_598).abs() < 1e-6);
        // At x = -3 the ramp is 0 and the logistic is 1 / (1 + e^3) = 0.047426; the blend is
        // 0.75 * 0.047426 = 0.035570.
        assert!((blend.value(-3.0) - 0.035_570).abs() < 1e-6);
    }

    #[test]
    fn blend_end_weights_match_curves() {
        let phi = ramp();
        let full = blended_activation(&phi, 1.0).unwrap();
        for k in 0..9 {
            let x = -4.0 + k as f64;
            assert_eq!(full.value(x), phi.value(x), "x = {x}");
        }
        let none = blended_activation(&phi, 0.0).unwrap();
        let logistic = Activation::Logistic;
        for k in 0..9 {
            let x = -4.0 + k as f64;
            assert!((none.value(x) - logistic.value(x)).abs() < 1e-12, "x = {x}");
        }
    }

    #[test]
    fn blend_rejects_weight_outside_unit_interval() {
        let phi = ramp();
        for weight in [-0.1, 1.1, f64::NAN] {
            let err = blended_activation(&phi, weight).unwrap_err().to_string();
            assert!(err.contains("blend weight"), "{err}");
        }
    }

    #[test]
    fn weights_rise_to_last_stage() {
        let homotopy = CalibrationHomotopy {
            stages: 4,
            stage_iterations: 10,
        };
        assert_eq!(homotopy.intermediate_weights(), vec![0.25, 0.5, 0.75]);
        let single = CalibrationHomotopy::default();
        assert!(single.intermediate_weights().is_empty());
    }

    #[test]
    fn validate_names_invalid_keys() {
        for stages in [0, MAX_STAGES + 1] {
            let homotopy = CalibrationHomotopy {
                stages,
                stage_iterations: 10,
            };
            let err = homotopy.validate().unwrap_err().to_string();
            assert!(err.contains("calibration_homotopy.stages"), "{err}");
        }
        let homotopy = CalibrationHomotopy {
            stages: 3,
            stage_iterations: 0,
        };
        let err = homotopy.validate().unwrap_err().to_string();
        assert!(
            err.contains("calibration_homotopy.stage_iterations"),
            "{err}"
        );
        let single = CalibrationHomotopy {
            stages: 1,
            stage_iterations: 0,
        };
        assert!(single.validate().is_ok());
    }
}
