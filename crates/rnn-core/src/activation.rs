//! Activation functions: the logistic and a tabulated monotone curve.

use serde::{Deserialize, Serialize};

use crate::Error;

/// Activation function `phi` of the continuous units.
///
/// Both kinds return finite values and derivatives for every finite argument.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Activation {
    /// `phi(x) = 1 / (1 + exp(-x))`, with range (0, 1).
    Logistic,
    /// A monotone cubic through tabulated values, for example a spiking population's
    /// normalised f-I curve.
    Tabulated(TabulatedActivation),
}

impl Activation {
    /// Evaluates `phi(x)`.
    pub fn value(&self, x: f64) -> f64 {
        match self {
            Activation::Logistic => logistic(x),
            Activation::Tabulated(table) => table.value(x),
        }
    }

    /// Evaluates `phi'(x)`, the exact derivative of [`Activation::value`].
    pub fn derivative(&self, x: f64) -> f64 {
        self.value_and_derivative(x).1
    }

    /// Evaluates `phi(x)` and `phi'(x)` together (one exponential for the logistic).
    pub fn value_and_derivative(&self, x: f64) -> (f64, f64) {
        match self {
            Activation::Logistic => logistic_and_derivative(x),
            Activation::Tabulated(table) => table.value_and_derivative(x),
        }
    }

    /// Returns `sup phi`: 1 for the logistic, the tail limit (or the last tabulated value if
    /// the curve ends flat) for a table.
    pub fn upper_bound(&self) -> f64 {
        match self {
            Activation::Logistic => 1.0,
            Activation::Tabulated(table) => table.upper_bound(),
        }
    }
}

/// Evaluates the logistic without overflow, because `exp` only gets non-positive arguments.
fn logistic(x: f64) -> f64 {
    logistic_and_derivative(x).0
}

/// Returns the logistic and its derivative `e / (1 + e)^2` with `e = exp(-|x|)`.
#[inline]
pub(crate) fn logistic_and_derivative(x: f64) -> (f64, f64) {
    let e = (-x.abs()).exp();
    let denominator = 1.0 + e;
    let value = if x >= 0.0 {
        1.0 / denominator
    } else {
        e / denominator
    };
    (value, e / (denominator * denominator))
}

/// Monotone piecewise cubic Hermite interpolant (PCHIP) through equally spaced values, with
/// a saturating exponential tail above the table and a constant below it.
///
/// On `[x_min, x_last]`, `x_last = x_min + (K - 1) dx`, the curve is the PCHIP interpolant of
/// the points `(x_min + k dx, values[k])`. Its node slopes follow the shape-preserving rule
/// of SciPy's `PchipInterpolator` (Fritsch-Carlson). An interior slope is 0 unless both
/// neighbouring secant slopes `m_{k-1}`, `m_k` are positive, and then it is their harmonic
/// mean `2 / (1/m_{k-1} + 1/m_k)` (equal spacing). An end slope is the one-sided
/// three-point estimate `(3 m_0 - m_1) / 2`, raised to 0 if negative. Non-decreasing values
/// therefore give a non-decreasing curve that passes through every node, and the curve is C1
/// on the table.
///
/// Outside the table:
///
/// | range | value | derivative |
/// |---|---|---|
/// | `x < x_min` | `values[0]` | 0 |
/// | `x > x_last` | `v_last + (upper_limit - v_last) (1 - exp(-s (x - x_last)))` | `d_end exp(-s (x - x_last))` |
///
/// with `s = d_end / (upper_limit - v_last)` and `d_end` the PCHIP slope at `x_last`, so the
/// curve is C1 at the upper end. If `d_end = 0` or `upper_limit = v_last`, the tail is the
/// constant `v_last` (then C1 only if `d_end = 0`). The curve is C1 at the lower end only if
/// the PCHIP slope at `x_min` is 0, which holds when the first two values are equal.
///
/// | parameter | meaning |
/// |---|---|
/// | `x_min` | argument of the first value |
/// | `dx` | spacing of the arguments, > 0 |
/// | `values` | curve at `x_min + k dx`, finite, non-decreasing, at least 2 |
/// | `upper_limit` | limit of the tail as `x -> inf`, >= the last value |
///
/// Deserialisation validates the table like [`TabulatedActivation::new`] and recomputes the
/// node slopes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TableData", into = "TableData")]
pub struct TabulatedActivation {
    x_min: f64,
    dx: f64,
    values: Vec<f64>,
    upper_limit: f64,
    /// PCHIP slope `d phi / dx` at each node.
    slopes: Vec<f64>,
    /// Decay rate `s` of the exponential tail in 1/x; 0 for a constant tail.
    tail_rate: f64,
    /// `1 / dx`.
    inverse_dx: f64,
    /// Argument of the last value, `x_min + (K - 1) dx`.
    x_last: f64,
}

/// The serialised form of a table: its defining data, without the derived slopes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableData {
    x_min: f64,
    dx: f64,
    values: Vec<f64>,
    upper_limit: f64,
}

impl TryFrom<TableData> for TabulatedActivation {
    type Error = Error;

    fn try_from(data: TableData) -> Result<Self, Error> {
        TabulatedActivation::new(data.x_min, data.dx, data.values, data.upper_limit)
    }
}

impl From<TabulatedActivation> for TableData {
    fn from(table: TabulatedActivation) -> TableData {
        TableData {
            x_min: table.x_min,
            dx: table.dx,
            values: table.values,
            upper_limit: table.upper_limit,
        }
    }
}

impl TabulatedActivation {
    /// Builds the interpolant and precomputes its node slopes and tail rate.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `x_min` is not finite, `dx` is not finite and positive,
    /// there are fewer than 2 values, a value is not finite, the values decrease somewhere, or
    /// `upper_limit` is not finite or lies below the last value.
    pub fn new(
        x_min: f64,
        dx: f64,
        values: Vec<f64>,
        upper_limit: f64,
    ) -> Result<TabulatedActivation, Error> {
        validate_table(x_min, dx, &values, upper_limit)?;
        let slopes = pchip_slopes(dx, &values);

        // Tail rate: match the end slope d_end = (upper_limit - v_last) * s.
        let v_last = values[values.len() - 1];
        let d_end = slopes[slopes.len() - 1];
        let headroom = upper_limit - v_last;
        let tail_rate = if d_end > 0.0 && headroom > 0.0 {
            d_end / headroom
        } else {
            0.0
        };
        let x_last = x_min + (values.len() - 1) as f64 * dx;
        Ok(TabulatedActivation {
            x_min,
            dx,
            values,
            upper_limit,
            slopes,
            tail_rate,
            inverse_dx: 1.0 / dx,
            x_last,
        })
    }

    /// Argument of the first tabulated value.
    pub fn x_min(&self) -> f64 {
        self.x_min
    }

    /// Spacing of the tabulated arguments.
    pub fn dx(&self) -> f64 {
        self.dx
    }

    /// Tabulated values at `x_min + k dx`.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Limit of the exponential tail as `x -> inf`.
    pub fn upper_limit(&self) -> f64 {
        self.upper_limit
    }

    /// PCHIP slope at each node.
    pub fn node_slopes(&self) -> &[f64] {
        &self.slopes
    }

    /// Argument of the last tabulated value.
    pub fn x_max(&self) -> f64 {
        self.x_last
    }

    /// Returns `sup phi`: `upper_limit` if the tail rises, else the last value.
    pub fn upper_bound(&self) -> f64 {
        if self.tail_rate > 0.0 {
            self.upper_limit
        } else {
            self.values[self.values.len() - 1]
        }
    }

    /// Evaluates the curve at `x` (NaN for NaN).
    pub fn value(&self, x: f64) -> f64 {
        self.value_and_derivative(x).0
    }

    /// Evaluates the exact derivative of [`TabulatedActivation::value`] at `x`.
    pub fn derivative(&self, x: f64) -> f64 {
        self.value_and_derivative(x).1
    }

    /// Evaluates the curve and its derivative at `x`.
    #[inline]
    pub fn value_and_derivative(&self, x: f64) -> (f64, f64) {
        if x.is_nan() {
            return (f64::NAN, f64::NAN);
        }
        let last = self.values.len() - 1;
        let position = (x - self.x_min) * self.inverse_dx;

        // Below the table: constant first value.
        if position <= 0.0 {
            if position == 0.0 {
                return (self.values[0], self.slopes[0]);
            }
            return (self.values[0], 0.0);
        }

        // Above the table: saturating exponential tail, written with expm1 so that it
        // starts exactly at the last value.
        if position >= last as f64 {
            let v_last = self.values[last];
            if self.tail_rate == 0.0 {
                return (v_last, 0.0);
            }
            let distance = x - self.x_last;
            let decay = (-self.tail_rate * distance).exp();
            let rise = -(-self.tail_rate * distance).exp_m1();
            let value = v_last + (self.upper_limit - v_last) * rise;
            return (value, self.slopes[last] * decay);
        }

        // Inside: cubic Hermite segment k with local coordinate t in [0, 1).
        // position lies in (0, last), so truncation is the floor (and much cheaper).
        let k = (position as usize).min(last - 1);
        let t = position - k as f64;
        let (v0, v1) = (self.values[k], self.values[k + 1]);
        let (d0, d1) = (self.slopes[k] * self.dx, self.slopes[k + 1] * self.dx);
        let t2 = t * t;
        let t3 = t2 * t;
        let value = (2.0 * t3 - 3.0 * t2 + 1.0) * v0
            + (t3 - 2.0 * t2 + t) * d0
            + (-2.0 * t3 + 3.0 * t2) * v1
            + (t3 - t2) * d1;
        let slope = ((6.0 * t2 - 6.0 * t) * (v0 - v1)
            + (3.0 * t2 - 4.0 * t + 1.0) * d0
            + (3.0 * t2 - 2.0 * t) * d1)
            * self.inverse_dx;
        (value, slope)
    }
}

fn validate_table(x_min: f64, dx: f64, values: &[f64], upper_limit: f64) -> Result<(), Error> {
    if !x_min.is_finite() {
        return Err(Error::invalid("x_min", x_min, "must be finite"));
    }
    if !(dx.is_finite() && dx > 0.0) {
        return Err(Error::invalid("dx", dx, "must be finite and > 0"));
    }
    if values.len() < 2 {
        return Err(Error::invalid(
            "values.len()",
            values.len(),
            "a table needs at least 2 values",
        ));
    }
    // A subnormal step makes 1 / dx infinite, and a step below the spacing of f64 values
    // near x_min leaves the grid points equal, so the interpolation would divide by zero.
    let x_last = x_min + (values.len() - 1) as f64 * dx;
    if !(dx.is_normal() && (1.0 / dx).is_finite() && x_last.is_finite() && x_min + dx > x_min) {
        return Err(Error::invalid(
            "dx",
            dx,
            format!(
                "is too small to resolve table arguments near x_min = {x_min}; give a larger step"
            ),
        ));
    }
    for (k, &v) in values.iter().enumerate() {
        if !v.is_finite() {
            return Err(Error::invalid(
                format!("values[{k}]"),
                v,
                "table values must be finite",
            ));
        }
        if k > 0 && v < values[k - 1] {
            return Err(Error::invalid(
                format!("values[{k}]"),
                v,
                format!(
                    "table values must be non-decreasing, but the previous value is {}",
                    values[k - 1]
                ),
            ));
        }
    }
    let v_last = values[values.len() - 1];
    if !(upper_limit.is_finite() && upper_limit >= v_last) {
        return Err(Error::invalid(
            "upper_limit",
            upper_limit,
            format!("must be finite and >= the last table value {v_last}"),
        ));
    }
    Ok(())
}

/// Computes the PCHIP node slopes of non-decreasing, equally spaced values.
fn pchip_slopes(dx: f64, values: &[f64]) -> Vec<f64> {
    let n = values.len();
    let secants: Vec<f64> = values.windows(2).map(|w| (w[1] - w[0]) / dx).collect();
    if n == 2 {
        return vec![secants[0]; 2];
    }
    let mut slopes = vec![0.0; n];

    // Interior nodes: harmonic mean of the neighbouring secants where both are positive.
    for k in 1..n - 1 {
        let (left, right) = (secants[k - 1], secants[k]);
        if left > 0.0 && right > 0.0 {
            slopes[k] = 2.0 / (1.0 / left + 1.0 / right);
        }
    }

    // End nodes: one-sided three-point estimate, limited to keep the curve monotone.
    slopes[0] = end_slope(secants[0], secants[1]);
    slopes[n - 1] = end_slope(secants[n - 2], secants[n - 3]);
    slopes
}

/// Returns the shape-preserving end slope from the end secant `near` and its neighbour `far`.
///
/// For non-decreasing data both secants are >= 0, so the general rule (zero if the estimate
/// changes sign, at most 3 `near` if the secants differ in sign) reduces to clamping at 0:
/// the estimate never exceeds 1.5 `near`.
fn end_slope(near: f64, far: f64) -> f64 {
    if near > 0.0 {
        ((3.0 * near - far) / 2.0).max(0.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_reference_values() {
        // 1/(1+e^-2) = 0.8807970779..., 1/(1+e^4) = 0.0179862100...
        let phi = Activation::Logistic;
        assert!((phi.value(0.0) - 0.5).abs() < 1e-12);
        assert!((phi.value(2.0) - 0.880797).abs() < 1e-6);
        assert!((phi.value(-4.0) - 0.017986).abs() < 1e-6);
        assert!((phi.derivative(0.0) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn logistic_finite_in_far_tails() {
        let phi = Activation::Logistic;
        for x in [1e300, -1e300, 800.0, -800.0, f64::MAX, f64::MIN] {
            let (v, d) = phi.value_and_derivative(x);
            assert!(v.is_finite() && (0.0..=1.0).contains(&v), "phi({x}) = {v}");
            assert!(d.is_finite() && d >= 0.0, "phi'({x}) = {d}");
        }
        assert_eq!(phi.value(1e300), 1.0);
        assert_eq!(phi.value(-1e300), 0.0);
    }

    #[test]
    fn logistic_derivative_matches_central_difference() {
        // Central difference with h = 1e-5: truncation h^2 |phi'''| / 6 < 2e-12, rounding
        // about 1e-16 / 1e-5 = 1e-11, so 1e-9 is a safe absolute tolerance.
        let phi = Activation::Logistic;
        let h = 1e-5;
        for i in -80..=80 {
            let x = i as f64 * 0.1;
            let fd = (phi.value(x + h) - phi.value(x - h)) / (2.0 * h);
            assert!((phi.derivative(x) - fd).abs() < 1e-9, "x = {x}");
        }
    }

    #[test]
    fn end_slope_limits() {
        // Rising secants: (3 * 2 - 1) / 2 = 2.5.
        assert_eq!(end_slope(2.0, 1.0), 2.5);
        // The formula would give a negative slope: clamp to 0.
        assert_eq!(end_slope(1.0, 4.0), 0.0);
        // A flat end secant gives a flat end.
        assert_eq!(end_slope(0.0, 1.0), 0.0);
    }
}
