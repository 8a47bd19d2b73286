//! Plain-text tables, speed ratios and agreement checks of the benchmark results.

use serde_json::Value;

/// Tables, agreement checks and speed ratios of one benchmark's runs.
pub struct Summary {
    /// The tables as printed.
    pub text: String,
    /// One entry per run: the figure compared with ours and whether it is within tolerance.
    pub agreement: Value,
    /// Peer time / our time, keyed `<tool>_m<M>` or `<tool>_n<n>`.
    pub speedups: serde_json::Map<String, Value>,
}

/// Returns how many times faster `ours_s` is than `peer_s` (peer time / our time), or `None`
/// when either time is missing, not positive or not finite.
pub fn speedup(peer_s: Option<f64>, ours_s: Option<f64>) -> Option<f64> {
    let (peer, ours) = (peer_s?, ours_s?);
    let valid = |t: f64| t.is_finite() && t > 0.0;
    (valid(peer) && valid(ours)).then(|| peer / ours)
}

/// Returns the relative difference `|a - b| / |reference|`, or `None` for a zero or non-finite
/// reference.
pub fn relative_difference(a: f64, b: f64, reference: f64) -> Option<f64> {
    (reference.is_finite() && reference != 0.0 && a.is_finite() && b.is_finite())
        .then(|| (a - b).abs() / reference.abs())
}

/// Reads a number field of a child's JSON result line.
pub fn number(record: &Value, field: &str) -> Option<f64> {
    record.get(field).and_then(Value::as_f64)
}

/// Formats a number with `decimals` digits after the point, or `-` when it is missing.
pub fn cell(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".to_string(),
    }
}

/// Formats a number in scientific notation with three significant digits, or `-`.
pub fn cell_sci(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.2e}"),
        _ => "-".to_string(),
    }
}

/// Renders rows under a header as a Markdown table whose columns are padded to equal width.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.to_vec());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(rule.iter().map(String::as_str).collect()));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speedup_is_peer_over_ours() {
        // A peer taking 3 s against our 0.5 s is 6 times slower.
        assert_eq!(speedup(Some(3.0), Some(0.5)), Some(6.0));
    }

    #[test]
    fn speedup_rejects_missing_or_zero() {
        assert_eq!(speedup(None, Some(1.0)), None);
        assert_eq!(speedup(Some(1.0), None), None);
        assert_eq!(speedup(Some(1.0), Some(0.0)), None);
        assert_eq!(speedup(Some(f64::NAN), Some(1.0)), None);
    }

    #[test]
    fn relative_difference_of_totals() {
        // |101 - 100| / 100 = 0.01, up to the rounding of the division (tolerance 1e-15).
        let diff = relative_difference(101.0, 100.0, 100.0).unwrap();
        assert!((diff - 0.01).abs() < 1e-15, "diff {diff}");
        assert_eq!(relative_difference(1.0, 2.0, 0.0), None);
    }

    #[test]
    fn cells_format_missing_values() {
        assert_eq!(cell(Some(1.23456), 2), "1.23");
        assert_eq!(cell(None, 2), "-");
        assert_eq!(cell(Some(f64::INFINITY), 2), "-");
        assert_eq!(cell_sci(Some(12345.0)), "1.23e4");
    }

    #[test]
    fn render_pads_columns() {
        let rows = vec![vec!["iaf-sim".to_string(), "1.5".to_string()]];
        let table = render(&["tool", "loop s"], &rows);
        let expected = "| tool    | loop s |\n| ------- | ------ |\n| iaf-sim | 1.5    |\n";
        assert_eq!(table, expected);
    }

    #[test]
    fn number_reads_fields() {
        let record: Value = serde_json::json!({"loop_s": 2.5, "tool": "nest"});
        assert_eq!(number(&record, "loop_s"), Some(2.5));
        assert_eq!(number(&record, "tool"), None);
        assert_eq!(number(&record, "missing"), None);
    }
}
