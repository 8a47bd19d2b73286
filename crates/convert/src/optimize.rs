//! Nelder-Mead simplex minimisation for the few-parameter fits of this crate.

use crate::Error;

/// Result of a Nelder-Mead run.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    /// Best point found.
    pub point: Vec<f64>,
    /// Objective at `point`, always finite.
    pub value: f64,
    /// Objective evaluations used.
    pub evaluations: usize,
}

/// Minimises `objective` from `start` with initial simplex steps `steps`, using the standard
/// coefficients (reflection 1, expansion 2, contraction 1/2, shrink 1/2). Stops when the spread
/// of objective values in the simplex falls below `tolerance` or once `max_evaluations` is
/// reached. The iteration in progress is finished, so up to `start.len() + 1` evaluations more
/// than `max_evaluations` can be reported.
///
/// A non-finite objective value counts as worse than any finite one, so the simplex moves away
/// from invalid regions. A search that finds no finite value returns an error, so a returned
/// `value` is always finite. Any search stops before `max_evaluations` once a shrink no
/// longer moves the simplex, because it would only evaluate the same points again: the
/// result is the one the full budget would give, after fewer evaluations. Without a finite
/// value that takes about `log2(step / ulp) + 2` shrinks of `start.len() + 2` evaluations
/// each, where `ulp` is the spacing of doubles at `start`. That is 53 shrinks for a step of
/// 0.5 from 1, 1076 for a step of 1 from 0, and about 2100 at most.
///
/// # Errors
/// [`Error::Shape`] when `start` is empty or `steps` differs from it in length.
/// [`Error::InvalidParameter`] for a NaN or infinite coordinate of `start` or `steps`, or a
/// step too small to change its start coordinate (zero included), which leaves the simplex
/// flat along that axis. The same error rejects a
/// `tolerance` that is not finite and >= 0, and a `max_evaluations` below `start.len() + 1`,
/// the evaluations of the initial simplex.
/// [`Error::NoFiniteObjective`] when every evaluation returned NaN or infinity.
pub fn nelder_mead(
    objective: &mut dyn FnMut(&[f64]) -> f64,
    start: &[f64],
    steps: &[f64],
    tolerance: f64,
    max_evaluations: usize,
) -> Result<Minimum, Error> {
    if start.is_empty() || start.len() != steps.len() {
        return Err(Error::Shape(format!(
            "nelder_mead got {} start coordinates and {} steps; give at least one coordinate \
             and one step per coordinate",
            start.len(),
            steps.len()
        )));
    }
    for (name, values) in [("start", start), ("steps", steps)] {
        if let Some(&value) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidParameter {
                name,
                value,
                expected: "finite coordinates",
            });
        }
    }
    // A step too small to change its coordinate leaves the simplex as flat as a zero one.
    let flat = start
        .iter()
        .zip(steps)
        .find(|&(&coordinate, &step)| coordinate + step == coordinate);
    if let Some((_, &value)) = flat {
        return Err(Error::InvalidParameter {
            name: "steps",
            value,
            expected: "a step along every axis large enough to change its start coordinate, \
                       so that the initial simplex can move",
        });
    }
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(Error::InvalidParameter {
            name: "tolerance",
            value: tolerance,
            expected: "a finite spread of objective values >= 0",
        });
    }
    let dim = start.len();
    if max_evaluations < dim + 1 {
        return Err(Error::InvalidParameter {
            name: "max_evaluations",
            value: max_evaluations as f64,
            expected: "at least start.len() + 1 evaluations, the vertices of the initial simplex",
        });
    }
    let mut evaluations = 0;
    let mut eval = |x: &[f64], evaluations: &mut usize| {
        *evaluations += 1;
        let value = objective(x);
        if value.is_finite() {
            value
        } else {
            f64::INFINITY
        }
    };

    // Initial simplex: the start and one step along each axis.
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(dim + 1);
    simplex.push((start.to_vec(), eval(start, &mut evaluations)));
    for axis in 0..dim {
        let mut vertex = start.to_vec();
        vertex[axis] += steps[axis];
        let value = eval(&vertex, &mut evaluations);
        simplex.push((vertex, value));
    }

    while evaluations < max_evaluations {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let spread = simplex[dim].1 - simplex[0].1;
        if spread.is_finite() && spread.abs() <= tolerance {
            break;
        }

        // Centroid of all vertices but the worst.
        let mut centroid = vec![0.0; dim];
        for (vertex, _) in &simplex[..dim] {
            for (c, v) in centroid.iter_mut().zip(vertex) {
                *c += v / dim as f64;
            }
        }
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[dim].0)
                .map(|(c, w)| c + t * (c - w))
                .collect()
        };

        // Reflect, then expand or contract.
        let reflected = along(1.0);
        let reflected_value = eval(&reflected, &mut evaluations);
        if reflected_value < simplex[0].1 {
            let expanded = along(2.0);
            let expanded_value = eval(&expanded, &mut evaluations);
            simplex[dim] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            continue;
        }
        if reflected_value < simplex[dim - 1].1 {
            simplex[dim] = (reflected, reflected_value);
            continue;
        }
        let contracted = if reflected_value < simplex[dim].1 {
            along(0.5)
        } else {
            along(-0.5)
        };
        let contracted_value = eval(&contracted, &mut evaluations);
        if contracted_value < simplex[dim].1.min(reflected_value) {
            simplex[dim] = (contracted, contracted_value);
            continue;
        }

        // Shrink toward the best vertex.
        let best = simplex[0].0.clone();
        let mut moved = false;
        for (vertex, value) in simplex.iter_mut().skip(1) {
            for (v, b) in vertex.iter_mut().zip(&best) {
                let shrunk = b + 0.5 * (*v - b);
                moved |= shrunk.to_bits() != v.to_bits();
                *v = shrunk;
            }
            *value = eval(vertex, &mut evaluations);
        }
        // A shrink that moved no vertex (each already within rounding of the best) leaves
        // the simplex exactly as this iteration found it, so every later iteration would
        // evaluate the same points again. Stopping here returns what the full budget would,
        // whether or not a finite value was seen.
        // NOTE: this assumes that the objective depends on the point alone; one that changes
        // with the number of calls could still move the search later.
        if !moved {
            break;
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (point, value) = simplex.swap_remove(0);
    // Non-finite values were mapped to infinity, so an infinite best means none was finite.
    if value == f64::INFINITY {
        return Err(Error::NoFiniteObjective { evaluations });
    }
    Ok(Minimum {
        point,
        value,
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rosenbrock_minimum() {
        // Rosenbrock's function has its only minimum, 0, at (1, 1).
        let mut f = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let min = nelder_mead(&mut f, &[-1.2, 1.0], &[0.5, 0.5], 1e-14, 5000).unwrap();
        assert!((min.point[0] - 1.0).abs() < 1e-4, "{:?}", min.point);
        assert!((min.point[1] - 1.0).abs() < 1e-4, "{:?}", min.point);
    }

    #[test]
    fn avoids_non_finite_region() {
        // sqrt is NaN for x < 0; the minimum of (sqrt(x) - 2)^2 is at x = 4.
        let mut f = |x: &[f64]| (x[0].sqrt() - 2.0).powi(2);
        let min = nelder_mead(&mut f, &[0.5], &[-1.0], 1e-14, 1000).unwrap();
        assert!((min.point[0] - 4.0).abs() < 1e-4, "{:?}", min.point);
    }

    #[test]
    fn rejects_objective_never_finite() {
        // A NaN objective never meets the tolerance, so the search uses its whole budget of
        // 50 evaluations. A budget of 3 covers only the initial simplex of two coordinates.
        let mut f = |_: &[f64]| f64::NAN;
        let err = nelder_mead(&mut f, &[1.0], &[0.5], 1e-12, 50).unwrap_err();
        assert!(
            matches!(err, Error::NoFiniteObjective { evaluations } if evaluations >= 50),
            "{err:?}"
        );
        let mut g = |_: &[f64]| f64::INFINITY;
        let err = nelder_mead(&mut g, &[1.0, 2.0], &[0.5, 0.5], 1e-12, 3).unwrap_err();
        assert!(
            matches!(err, Error::NoFiniteObjective { evaluations: 3 }),
            "{err:?}"
        );
    }

    #[test]
    fn stops_early_when_never_finite() {
        // Without a finite value the simplex only shrinks toward the start. Each halving of
        // the distance costs dim + 2 evaluations. The step 0.5 is 2^51 times the spacing 2^-52
        // of doubles at 1, so about 53 halvings take the other vertices onto the start, after
        // which no shrink moves them. The search ends there, far below the budget.
        for dim in [1, 3] {
            let mut f = |_: &[f64]| f64::NAN;
            let start = vec![1.0; dim];
            let steps = vec![0.5; dim];
            let err = nelder_mead(&mut f, &start, &steps, 1e-12, 10_000_000).unwrap_err();
            let Error::NoFiniteObjective { evaluations } = err else {
                panic!("{dim}: {err:?}");
            };
            assert!(evaluations < 100 * (dim + 2), "{dim}: {evaluations}");
        }
        // From 0 the halvings run down to the smallest subnormal spacing 2^-1074, about 1076.
        let mut f = |_: &[f64]| f64::INFINITY;
        let err = nelder_mead(&mut f, &[0.0, 0.0], &[1.0, -1.0], 1e-12, 10_000_000).unwrap_err();
        let Error::NoFiniteObjective { evaluations } = err else {
            panic!("{err:?}");
        };
        assert!(evaluations < 1100 * 4, "{evaluations}");
    }

    #[test]
    fn stops_when_shrinks_cannot_move() {
        // Finite only at the start, whose odd last bit makes a shrink round the other vertex
        // back onto the same double 1 ulp away, so the simplex stops moving while the spread
        // of values stays infinite and above any tolerance.
        let start = 1.0f64 + f64::EPSILON;
        let mut f = |x: &[f64]| if x[0] == start { 2.0 } else { f64::NAN };
        let found = nelder_mead(&mut f, &[start], &[0.5], 1e-12, 10_000_000).unwrap();
        assert_eq!(found.point, vec![start]);
        assert_eq!(found.value, 2.0);
        assert!(found.evaluations < 1000, "{}", found.evaluations);
    }

    #[test]
    fn finds_finite_value_after_many_shrinks() {
        // The objective is finite only in (1, 1 + 1e-12], which the shrinks toward the start 1
        // reach after about 40 halvings of the step 0.5. The early stop must not end the search
        // before that.
        let mut f = |x: &[f64]| {
            if x[0] > 1.0 && x[0] <= 1.0 + 1e-12 {
                x[0] - 1.0
            } else {
                f64::NAN
            }
        };
        let min = nelder_mead(&mut f, &[1.0], &[0.5], 0.0, 100_000).unwrap();
        assert!(min.point[0] > 1.0, "{min:?}");
        assert!(min.point[0] <= 1.0 + 1e-12, "{min:?}");
        assert!(min.value.is_finite(), "{min:?}");
    }

    #[test]
    fn keeps_one_finite_value() {
        // Only the start is finite, so the search must return it even though every other
        // evaluation is NaN.
        let mut f = |x: &[f64]| if x[0] == 1.0 { 7.0 } else { f64::NAN };
        let min = nelder_mead(&mut f, &[1.0], &[0.5], 1e-12, 30).unwrap();
        assert_eq!(min.point, vec![1.0]);
        assert_eq!(min.value, 7.0);
    }

    #[test]
    fn rejects_bad_start_or_steps() {
        let mut f = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
        for (start, steps) in [(&[][..], &[][..]), (&[1.0, 2.0][..], &[0.5][..])] {
            let err = nelder_mead(&mut f, start, steps, 1e-12, 100).unwrap_err();
            assert!(matches!(err, Error::Shape(_)), "{err:?}");
        }
        let err = nelder_mead(&mut f, &[f64::NAN], &[0.5], 1e-12, 100).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "start", .. }),
            "{err:?}"
        );
        let err = nelder_mead(&mut f, &[1.0], &[f64::INFINITY], 1e-12, 100).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "steps", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_zero_step() {
        let mut f = |x: &[f64]| x.iter().map(|v| (v - 1.0).powi(2)).sum::<f64>();
        let err = nelder_mead(&mut f, &[0.0, 0.0], &[0.5, 0.0], 1e-12, 100).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "steps", value, .. } if value == 0.0),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_step_lost_in_rounding() {
        // 1e6 + 1e-11 rounds back to 1e6 (the spacing of doubles near 1e6 is 1.2e-10).
        let mut f = |x: &[f64]| (x[0] - 3.0).powi(2);
        let err = nelder_mead(&mut f, &[1e6], &[1e-11], 1e-12, 100).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "steps", value, .. } if value == 1e-11),
            "{err:?}"
        );
    }

    #[test]
    fn step_message_is_compact() {
        // 1e300 + 1e-300 rounds back to 1e300, and the message shows the step as written.
        let mut f = |x: &[f64]| x[0] * x[0];
        let err = nelder_mead(&mut f, &[1e300], &[1e-300], 1e-12, 100).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid steps = 1e-300: "),
            "{err}"
        );
    }

    #[test]
    fn rejects_too_few_evaluations() {
        // Two coordinates need three evaluations for the initial simplex.
        let mut f = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>();
        for max_evaluations in [0, 2] {
            let err =
                nelder_mead(&mut f, &[1.0, 1.0], &[0.5, 0.5], 1e-12, max_evaluations).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidParameter {
                        name: "max_evaluations",
                        ..
                    }
                ),
                "{max_evaluations}: {err:?}"
            );
        }
        let min = nelder_mead(&mut f, &[1.0, 1.0], &[0.5, 0.5], 1e-12, 3).unwrap();
        assert_eq!(min.evaluations, 3);
    }

    #[test]
    fn evaluations_overshoot_is_bounded() {
        // The last iteration may add up to dim + 2 evaluations after max_evaluations - 1.
        let mut f = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        for max_evaluations in 3..40 {
            let min = nelder_mead(&mut f, &[-1.2, 1.0], &[0.5, 0.5], 0.0, max_evaluations).unwrap();
            assert!(
                min.evaluations >= max_evaluations,
                "{max_evaluations}: {min:?}"
            );
            assert!(
                min.evaluations <= max_evaluations + 3,
                "{max_evaluations}: {min:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_tolerance() {
        let mut f = |x: &[f64]| x[0] * x[0];
        for tolerance in [-1e-12, f64::NAN, f64::INFINITY] {
            let err = nelder_mead(&mut f, &[1.0], &[0.5], tolerance, 100).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidParameter {
                        name: "tolerance",
                        ..
                    }
                ),
                "{tolerance}: {err:?}"
            );
        }
    }
}
