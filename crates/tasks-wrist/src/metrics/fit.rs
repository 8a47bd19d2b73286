//! Template fit, shape-blind baseline, onset and non-preferred activity of templated units.

use ndarray::{s, Array1, ArrayView1};

use crate::templates::segmented_value;
use crate::{Direction, Error, TemplateKind, WristTaskParams, WristTimeline};

/// Normalised RMS error `RMS(y - template) / (max template - min template)` over the scored
/// states `y[1..=n_steps]`.
///
/// `y` and `template` have length `n_steps + 1`.
///
/// # Errors
/// Lengths differ or are below 2; a value is not finite; the template is constant over the
/// scored states.
pub fn template_nrmse(y: ArrayView1<f64>, template: ArrayView1<f64>) -> Result<f64, Error> {
    if y.len() != template.len() || y.len() < 2 {
        return Err(Error::ShapeMismatch {
            name: "y",
            expected: vec![template.len().max(2)],
            actual: vec![y.len()],
        });
    }
    for (name, values) in [("y", y), ("template", template)] {
        if let Some(row) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                name,
                index: vec![row],
            });
        }
    }
    let y = y.slice(s![1..]);
    let template = template.slice(s![1..]);
    let max = template.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = template.iter().copied().fold(f64::INFINITY, f64::min);
    if max <= min {
        return Err(crate::params::invalid(
            "template range",
            max - min,
            "must be > 0; a trial needs a step in the unit's preferred direction and template \
             shapes with a nonzero amplitude"
                .into(),
        ));
    }
    let mean_square = y
        .iter()
        .zip(template)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / y.len() as f64;
    Ok(mean_square.sqrt() / (max - min))
}

/// Computes the NRMSE of the shape-blind baseline against a template.
///
/// The baseline is a tonic square wave `y0 + a g(t)`: `g` rises as `1 - exp(-t' / rise_tau_ms)`
/// after each preferred onset (same latency as the template), decays with
/// `nonpreferred_decay_tau_ms` after each non-preferred onset and is 0 before the first
/// onset. The hold level `y0 + a` is the least-squares fit to the template over the scored
/// states, `a = sum g (T - y0) / sum g^2`. A pool that does not beat this score has not
/// learnt more than a square wave. On the default test trial: phasic-tonic 0.0608,
/// decrementing 0.0722, ramp 0.1063, phasic 0.1733 (tonic: 0, the template is itself a
/// square wave).
///
/// # Errors
/// The template is constant, or there is no preferred step.
pub fn shape_blind_baseline_nrmse(
    params: &WristTaskParams,
    timeline: &WristTimeline,
    kind: TemplateKind,
    preferred: Direction,
    latency_ms: f64,
) -> Result<f64, Error> {
    let template = crate::template_trace(params, timeline, kind, preferred, latency_ms);
    let rise = Array1::from_shape_fn(timeline.n_steps + 1, |k| {
        let t_ms = k as f64 * timeline.dt_ms;
        segmented_value(
            params,
            timeline,
            preferred,
            latency_ms,
            0.0,
            t_ms,
            |t_prime| {
                if t_prime > 0.0 {
                    -(-t_prime / params.rise_tau_ms).exp_m1()
                } else {
                    0.0
                }
            },
        )
    });

    // Least-squares amplitude over the scored states y[1..=n_steps].
    let g = rise.slice(s![1..]);
    let excess = template.slice(s![1..]).mapv(|v| v - params.y0);
    let g_squared = g.dot(&g);
    if g_squared <= 0.0 {
        return Err(crate::params::invalid(
            "holds_ms",
            timeline.n_target_steps() as f64,
            "the trial needs a step in the unit's preferred direction".into(),
        ));
    }
    let amplitude = g.dot(&excess) / g_squared;
    let baseline = rise.mapv(|g| params.y0 + amplitude * g);
    template_nrmse(baseline.view(), template.view())
}

/// Onset latency in ms of one unit, mean over the holds of its preferred direction.
///
/// For a preferred step at row `s` with hold end `e`, the rise is `max(y[s+1..=e]) - y[s]`;
/// a rise below `min_rise` gives no onset for that step. Otherwise the onset is the first
/// row `r > s` with `y[r] >= y[s] + fraction * rise`, at latency `(r - s) dt`. The result is
/// the mean over the steps that have an onset, `None` when none has.
pub(crate) fn onset_ms(
    y: ArrayView1<f64>,
    timeline: &WristTimeline,
    preferred: Direction,
    fraction: f64,
    min_rise: f64,
) -> Option<f64> {
    let latencies: Vec<f64> = (0..timeline.n_target_steps())
        .filter(|&k| timeline.directions[k] == preferred)
        .filter_map(|k| {
            let start = timeline.step_starts[k];
            let hold = y.slice(s![start + 1..=timeline.hold_end(k)]);
            let peak = hold.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let rise = peak - y[start];
            if rise < min_rise {
                return None;
            }
            let threshold = y[start] + fraction * rise;
            let offset = hold.iter().position(|&v| v >= threshold)?;
            Some((offset + 1) as f64 * timeline.dt_ms)
        })
        .collect();
    if latencies.is_empty() {
        None
    } else {
        Some(latencies.iter().sum::<f64>() / latencies.len() as f64)
    }
}

/// Maximum of `y` over `[t_step + offset, next step)` of every non-preferred hold; `None`
/// when the trial has no non-preferred hold.
pub(crate) fn nonpreferred_max(
    y: ArrayView1<f64>,
    timeline: &WristTimeline,
    preferred: Direction,
    offset_steps: usize,
) -> Option<f64> {
    (0..timeline.n_target_steps())
        .filter(|&k| timeline.directions[k] != preferred)
        .flat_map(|k| y.slice(s![timeline.hold_rows(k, offset_steps)]).to_vec())
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_timeline() -> WristTimeline {
        WristTimeline::new(&WristTaskParams::default(), &[1000.0; 4]).unwrap()
    }

    #[test]
    fn nrmse_by_hand() {
        // Template 0, 1, 0, 1 (scored rows 1..=3: 1, 0, 1, range 1); y off by 0.3 on one
        // of three scored rows: RMS = 0.3 / sqrt(3).
        let template = Array1::from(vec![0.0, 1.0, 0.0, 1.0]);
        let y = Array1::from(vec![5.0, 1.0, 0.3, 1.0]);
        let nrmse = template_nrmse(y.view(), template.view()).unwrap();
        assert!((nrmse - 0.3 / 3f64.sqrt()).abs() < 1e-12, "nrmse {nrmse}");
    }

    #[test]
    fn nrmse_rejects_constant_template() {
        let flat = Array1::from(vec![0.05; 5]);
        assert!(matches!(
            template_nrmse(flat.view(), flat.view()),
            Err(Error::InvalidParameter { .. })
        ));
    }

    #[test]
    fn onset_of_step_response() {
        let timeline = test_timeline();
        // y jumps from 0.1 to 0.6 at row 265 after the flexion steps at 200 and 2200 and
        // at row 2290: onsets 65 and 90 ms, mean 77.5 ms.
        let y = Array1::from_shape_fn(4201, |k| match k {
            265..=1200 | 2290..=3200 => 0.6,
            _ => 0.1,
        });
        let onset = onset_ms(y.view(), &timeline, Direction::Flexion, 0.2, 0.05).unwrap();
        assert!((onset - 77.5).abs() < 1e-12, "onset {onset}");
        // The extension holds see no rise at all.
        assert_eq!(
            onset_ms(y.view(), &timeline, Direction::Extension, 0.2, 0.05),
            None
        );
    }

    #[test]
    fn small_rise_has_no_onset() {
        let timeline = test_timeline();
        let y = Array1::from_shape_fn(4201, |k| if k > 250 { 0.14 } else { 0.1 });
        assert_eq!(
            onset_ms(y.view(), &timeline, Direction::Flexion, 0.2, 0.05),
            None
        );
    }

    #[test]
    fn nonpreferred_window_starts_300_ms_after_step() {
        let timeline = test_timeline();
        // Extension holds start at 1200 and 3200; rows 1501..=2200 and 3501..=4200 count.
        let mut y = Array1::from_elem(4201, 0.05);
        y[1500] = 0.9;
        y[3400] = 0.8;
        assert_eq!(
            nonpreferred_max(y.view(), &timeline, Direction::Flexion, 300),
            Some(0.05)
        );
        y[2200] = 0.2;
        assert_eq!(
            nonpreferred_max(y.view(), &timeline, Direction::Flexion, 300),
            Some(0.2)
        );
    }
}
