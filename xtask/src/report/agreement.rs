//! Per-unit agreement numbers computed from the traces: best lag and the time a unit spends
//! silent or saturated.

use ndarray::Array2;

use super::data::UnitNumbers;

/// Continuous activity below this value counts as silent.
pub const SILENT_BELOW: f64 = 0.02;
/// Continuous activity above this value counts as saturated.
pub const SATURATED_ABOVE: f64 = 0.98;
/// Largest lag searched, in milliseconds either way.
pub const MAX_LAG_MS: f64 = 50.0;
/// Bin width of the lagged correlation (ms), the bin of the summary's per-unit r.
pub const BIN_MS: f64 = 10.0;

/// One row of an agreement table.
pub struct UnitRow {
    /// Unit index.
    pub unit: usize,
    /// Role of the unit (group or class).
    pub role: String,
    /// Pearson r, NRMSE and RMS error from the summary.
    pub numbers: UnitNumbers,
    /// Lag of the spiking read-out behind the continuous trace that maximises r (ms), and that
    /// r; `None` when r is undefined at every lag.
    pub best_lag: Option<(f64, f64)>,
    /// Fraction of continuous time steps below [`SILENT_BELOW`].
    pub silent_fraction: f64,
    /// Fraction of continuous time steps above [`SATURATED_ABOVE`].
    pub saturated_fraction: f64,
}

/// Running sums for a Pearson correlation.
#[derive(Default)]
struct PearsonSums {
    n: f64,
    sum_a: f64,
    sum_b: f64,
    sum_aa: f64,
    sum_bb: f64,
    sum_ab: f64,
}

impl PearsonSums {
    fn add(&mut self, a: f64, b: f64) {
        self.n += 1.0;
        self.sum_a += a;
        self.sum_b += b;
        self.sum_aa += a * a;
        self.sum_bb += b * b;
        self.sum_ab += a * b;
    }

    /// r, or `None` when either series has (numerically) zero variance.
    fn r(&self) -> Option<f64> {
        if self.n < 2.0 {
            return None;
        }
        let var_a = self.sum_aa / self.n - (self.sum_a / self.n).powi(2);
        let var_b = self.sum_bb / self.n - (self.sum_b / self.n).powi(2);
        let cov = self.sum_ab / self.n - (self.sum_a / self.n) * (self.sum_b / self.n);
        // Relative floor: cancellation leaves about 1e-16 of the mean square behind.
        let floor_a = 1e-12 * (self.sum_aa / self.n).max(f64::MIN_POSITIVE);
        let floor_b = 1e-12 * (self.sum_bb / self.n).max(f64::MIN_POSITIVE);
        if var_a <= floor_a || var_b <= floor_b {
            return None;
        }
        Some((cov / (var_a * var_b).sqrt()).clamp(-1.0, 1.0))
    }
}

/// Finds the lag (in steps, within `-max_lag_steps..=max_lag_steps`) at which `spiking`
/// correlates best with `continuous` shifted forward by that lag, pooling every condition.
///
/// Each condition pairs `continuous[n]` with `spiking[n + lag]` for the rows where both
/// exist after dropping row 0 (the initial state), averages consecutive pairs in bins of
/// `bin_steps` (a last partial bin is dropped) and adds the binned pairs to one correlation.
/// At lag 0 this is the binned r of the summary. A positive lag means the spiking read-out
/// follows the continuous trace. Returns `(lag_steps, r)`, or `None` when r is undefined at
/// every lag.
pub fn best_lag(
    continuous: &[&[f64]],
    spiking: &[&[f64]],
    max_lag_steps: usize,
    bin_steps: usize,
) -> Option<(isize, f64)> {
    let max_lag = max_lag_steps as isize;
    let bin_steps = bin_steps.max(1);
    let mut best: Option<(isize, f64)> = None;
    for lag in -max_lag..=max_lag {
        // Binned pairs of every condition.
        let mut sums = PearsonSums::default();
        for (c, s) in continuous.iter().zip(spiking) {
            let n_rows = c.len().min(s.len()) as isize;
            let first = 1.max(1 - lag);
            let end = n_rows.min(n_rows - lag);
            let mut row = first;
            while row + bin_steps as isize <= end {
                let bin = row as usize..row as usize + bin_steps;
                let shifted = (row + lag) as usize..(row + lag) as usize + bin_steps;
                let c_mean = c[bin].iter().sum::<f64>() / bin_steps as f64;
                let s_mean = s[shifted].iter().sum::<f64>() / bin_steps as f64;
                sums.add(c_mean, s_mean);
                row += bin_steps as isize;
            }
        }

        // On a tie the lag nearer zero wins.
        if let Some(r) = sums.r() {
            let better = match best {
                None => true,
                Some((best_lag, best_r)) => {
                    r > best_r || (r == best_r && lag.abs() < best_lag.abs())
                }
            };
            if better {
                best = Some((lag, r));
            }
        }
    }
    best
}

/// Fractions of the values below [`SILENT_BELOW`] and above [`SATURATED_ABOVE`], over every
/// row after row 0 of every condition. Returns `(0, 0)` for no values.
pub fn occupancy(traces: &[&[f64]]) -> (f64, f64) {
    let values = traces.iter().flat_map(|trace| trace.iter().skip(1));
    let (mut n, mut silent, mut saturated) = (0usize, 0usize, 0usize);
    for &value in values {
        n += 1;
        silent += usize::from(value < SILENT_BELOW);
        saturated += usize::from(value > SATURATED_ABOVE);
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    (silent as f64 / n as f64, saturated as f64 / n as f64)
}

/// Continuous traces and spiking read-outs of the same conditions, one `(n_rows, n_units)`
/// matrix per condition each, sampled every `dt_ms`.
#[derive(Clone, Copy)]
pub struct PairedTraces<'a> {
    /// Continuous activity per condition.
    pub continuous: &'a [Array2<f64>],
    /// Trial-averaged spiking read-out per condition.
    pub spiking: &'a [Array2<f64>],
    /// Time step of the rows (ms).
    pub dt_ms: f64,
}

/// Computes the best lag `(ms, r)` and the silent and saturated fractions of unit `unit`.
fn trace_numbers(traces: PairedTraces, unit: usize) -> (Option<(f64, f64)>, f64, f64) {
    let continuous: Vec<Vec<f64>> = traces
        .continuous
        .iter()
        .map(|m| m.column(unit).to_vec())
        .collect();
    let spiking: Vec<Vec<f64>> = traces
        .spiking
        .iter()
        .map(|m| m.column(unit).to_vec())
        .collect();
    let continuous: Vec<&[f64]> = continuous.iter().map(Vec::as_slice).collect();
    let spiking: Vec<&[f64]> = spiking.iter().map(Vec::as_slice).collect();

    let max_lag_steps = (MAX_LAG_MS / traces.dt_ms).round().max(0.0) as usize;
    let bin_steps = (BIN_MS / traces.dt_ms).round().max(1.0) as usize;
    let lag = best_lag(&continuous, &spiking, max_lag_steps, bin_steps)
        .map(|(steps, r)| (steps as f64 * traces.dt_ms, r));
    let (silent, saturated) = occupancy(&continuous);
    (lag, silent, saturated)
}

/// Builds the agreement rows of every unit from the summary numbers and, where given, the
/// traces. Without traces the lag is `None` and the fractions are NaN.
pub fn unit_rows(
    numbers: Vec<UnitNumbers>,
    roles: &[String],
    traces: Option<PairedTraces>,
) -> Vec<UnitRow> {
    numbers
        .into_iter()
        .enumerate()
        .map(|(unit, numbers)| {
            let (best_lag, silent_fraction, saturated_fraction) = traces
                .filter(|t| t.continuous.iter().all(|m| unit < m.ncols()))
                .filter(|t| t.spiking.iter().all(|m| unit < m.ncols()))
                .map_or((None, f64::NAN, f64::NAN), |t| trace_numbers(t, unit));
            UnitRow {
                unit,
                role: roles.get(unit).cloned().unwrap_or_default(),
                numbers,
                best_lag,
                silent_fraction,
                saturated_fraction,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth test signal with no periodicity inside the searched lags.
    fn signal(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let t = i as f64;
                0.5 + 0.3 * (t / 37.0).sin() + 0.1 * (t / 11.0).cos()
            })
            .collect()
    }

    #[test]
    fn best_lag_finds_delay() {
        // spiking[n] = continuous[n - 7]: the read-out follows by 7 steps, where the pairs
        // are identical and r = 1 (tolerance 1e-9 for rounding in the sums).
        let continuous = signal(400);
        let mut spiking = vec![0.5; 7];
        spiking.extend_from_slice(&continuous[..393]);
        let (lag, r) = best_lag(&[&continuous], &[&spiking], 20, 1).unwrap();
        assert_eq!(lag, 7);
        assert!((r - 1.0).abs() < 1e-9, "r = {r}");
    }

    #[test]
    fn best_lag_negative_and_pooled() {
        // spiking[n] = continuous[n + 3] in both conditions: the read-out leads by 3 steps.
        let a = signal(300);
        let b: Vec<f64> = signal(300).iter().map(|v| 1.0 - v).collect();
        let lead = |x: &[f64]| {
            let mut shifted = x[3..].to_vec();
            shifted.extend_from_slice(&[0.5; 3]);
            shifted
        };
        let (sa, sb) = (lead(&a), lead(&b));
        let (lag, r) = best_lag(&[&a, &b], &[&sa, &sb], 10, 1).unwrap();
        assert_eq!(lag, -3);
        assert!((r - 1.0).abs() < 1e-9, "r = {r}");
    }

    #[test]
    fn best_lag_binned_matches_hand_values() {
        // Rows 1..=8 of both series, in bins of 2: continuous means (1.5, 3.5, 5.5, 7.5),
        // spiking means (1, 9, 1, 9) at lag 0. By hand, with centred values (-3, -1, 1, 3)
        // and (-4, 4, -4, 4): cov sum = 12 - 4 - 4 + 12 = 16, sqrt(20 * 64) = 35.78, so
        // r = 0.4472 (= 1 / sqrt(5)). With max lag 0 only lag 0 is searched.
        let continuous = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let spiking = [0.0, 1.0, 1.0, 9.0, 9.0, 1.0, 1.0, 9.0, 9.0];
        let (lag, r) = best_lag(&[&continuous], &[&spiking], 0, 2).unwrap();
        assert_eq!(lag, 0);
        assert!((r - 1.0 / 5f64.sqrt()).abs() < 1e-12, "r = {r}");
    }

    #[test]
    fn best_lag_undefined_for_constant() {
        let flat = vec![0.25; 100];
        let varying = signal(100);
        assert!(best_lag(&[&flat], &[&varying], 5, 1).is_none());
        assert!(best_lag(&[&varying], &[&flat], 5, 4).is_none());
    }

    #[test]
    fn occupancy_counts_after_row_zero() {
        // Row 0 (0.5) is skipped; of the 4 remaining values 0.01 and 0.0 are silent (2/4)
        // and 0.99 is saturated (1/4).
        let trace = [0.5, 0.01, 0.99, 0.0, 0.5];
        let (silent, saturated) = occupancy(&[&trace]);
        assert_eq!(silent, 0.5);
        assert_eq!(saturated, 0.25);
        assert_eq!(occupancy(&[]), (0.0, 0.0));
    }
}
