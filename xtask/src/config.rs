//! Configuration files: TOML or JSON by extension, with errors that name the key, the value
//! and the nearest valid key name.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// File format of a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.json`
    Json,
    /// `.toml`
    Toml,
}

impl Format {
    /// Returns the format named by the extension of `path`.
    ///
    /// # Errors
    /// For an extension other than `.toml` or `.json`.
    pub fn of_path(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Ok(Format::Toml),
            Some(ext) if ext.eq_ignore_ascii_case("json") => Ok(Format::Json),
            _ => bail!(
                "invalid configuration file name {}: give a .toml or .json file",
                path.display()
            ),
        }
    }
}

/// Reads the configuration at `path` (TOML or JSON by extension).
///
/// # Errors
/// When the file cannot be read or does not parse as `T`; see [`parse`].
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let format = Format::of_path(path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read the configuration {}", path.display()))?;
    parse(&text, format).with_context(|| format!("invalid configuration {}", path.display()))
}

/// Describes a JSON syntax error. JSON has no NaN or infinity, and serde_json reports one only
/// as "expected value", so a non-finite number at the error's position is named as such.
fn json_syntax_error(text: &str, err: serde_json::Error) -> anyhow::Error {
    // serde_json's column is 1-based and, after a minus sign, points past it.
    let line = text.lines().nth(err.line().saturating_sub(1)).unwrap_or("");
    let mut start = err.column().saturating_sub(1);
    if start > 0 && line.as_bytes().get(start - 1) == Some(&b'-') {
        start -= 1;
    }
    let at = line.get(start..).unwrap_or("");
    let word: String = at
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '+')
        .collect();
    let non_finite = ["nan", "inf", "infinity"];
    if non_finite.contains(
        &word
            .trim_start_matches(['-', '+'])
            .to_ascii_lowercase()
            .as_str(),
    ) {
        return anyhow::anyhow!(
            "not valid JSON: {word} at line {} column {} is not a number; give a finite number",
            err.line(),
            start + 1
        );
    }
    anyhow::Error::new(err).context("not valid JSON")
}

/// Parses configuration text in which every key must be known. An error names the key path
/// (for example `training.learning_rate`) and the problem, and for an unknown key or variant
/// also the nearest valid name.
///
/// # Errors
/// Syntax errors, unknown keys, missing keys and values of the wrong type.
pub fn parse<T: DeserializeOwned>(text: &str, format: Format) -> Result<T> {
    let value: serde_json::Value = match format {
        Format::Json => serde_json::from_str(text).map_err(|err| json_syntax_error(text, err))?,
        Format::Toml => {
            let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
            // JSON has no NaN or infinity, so the conversion below would turn them into null.
            if let Some((key, value)) = non_finite_float(&toml::Value::Table(table.clone()), "") {
                bail!("at key `{key}`: {value} is not a valid value; give a finite number");
            }
            serde_json::to_value(table).context("failed to read the TOML values")?
        }
    };
    serde_path_to_error::deserialize(value).map_err(|err| {
        let key = err.path().to_string();
        let message = err.inner().to_string();
        let hint = nearest_name_hint(&message).unwrap_or_default();
        anyhow!("at key `{key}`: {message}{hint}")
    })
}

/// Returns the key path and value of the first NaN or infinite float in `value`.
fn non_finite_float(value: &toml::Value, path: &str) -> Option<(String, f64)> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        toml::Value::Float(x) if !x.is_finite() => Some((path.to_string(), *x)),
        toml::Value::Table(table) => table
            .iter()
            .find_map(|(key, item)| non_finite_float(item, &join(key))),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| non_finite_float(item, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Serialises `config` in `format`.
///
/// # Errors
/// When the value cannot be represented, for example a non-finite float in JSON.
pub fn to_text<T: Serialize>(config: &T, format: Format) -> Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(config)?),
        Format::Toml => Ok(toml::to_string_pretty(config)?),
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or variant) messages, returns
/// "; the nearest valid name is `a`".
fn nearest_name_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (unknown, expected) = rest.split_once('`')?;
    let candidates = expected.split('`').skip(1).step_by(2);
    let nearest = candidates.min_by_key(|name| strsim::damerau_levenshtein(unknown, name))?;
    Some(format!("; the nearest valid name is `{nearest}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        learning_rate: f64,
        iterations: usize,
        target: Option<f64>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        training: Inner,
        range: (f64, f64),
    }

    fn sample() -> Outer {
        Outer {
            training: Inner {
                learning_rate: 0.002,
                iterations: 10,
                target: None,
            },
            range: (0.3, 1.2),
        }
    }

    #[test]
    fn toml_nan_names_its_key() {
        let text = "[table]\nsmoothing_bandwidth = nan\n";
        let err = parse::<serde_json::Value>(text, Format::Toml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`table.smoothing_bandwidth`"), "{err}");
        assert!(err.contains("NaN is not a valid value"), "{err}");
        let err = parse::<serde_json::Value>("x = [1.0, -inf]\n", Format::Toml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`x[1]`: -inf"), "{err}");
    }

    #[test]
    fn json_nan_named_with_position() {
        // Line 2 is `  "training": {"learning_rate": NaN}`, where the N is the 33rd character.
        let text = "{\n  \"training\": {\"learning_rate\": NaN}\n}";
        let err = format!(
            "{:#}",
            parse::<serde_json::Value>(text, Format::Json).unwrap_err()
        );
        assert!(err.contains("NaN at line 2 column 33"), "{err}");
        let err = format!(
            "{:#}",
            parse::<serde_json::Value>("[1.0, -Infinity]", Format::Json).unwrap_err()
        );
        assert!(err.contains("-Infinity at line 1 column 7"), "{err}");
        let err = format!(
            "{:#}",
            parse::<serde_json::Value>("{\"a\": }", Format::Json).unwrap_err()
        );
        assert!(err.contains("not valid JSON: expected value"), "{err}");
    }

    #[test]
    fn toml_and_json_round_trip() {
        for format in [Format::Toml, Format::Json] {
            let text = to_text(&sample(), format).unwrap();
            let back: Outer = parse(&text, format).unwrap();
            assert_eq!(back, sample(), "{format:?}");
        }
    }

    #[test]
    fn unknown_key_names_nearest() {
        let text = "range = [0.3, 1.2]\n[training]\nlearning_rate = 0.1\niteratons = 5\n";
        let err = parse::<Outer>(text, Format::Toml).unwrap_err().to_string();
        assert!(err.contains("training.iteratons"), "{err}");
        assert!(err.contains("nearest valid name is `iterations`"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_and_value() {
        let text = r#"{"training": {"learning_rate": "fast", "iterations": 5}, "range": [0, 1]}"#;
        let err = parse::<Outer>(text, Format::Json).unwrap_err().to_string();
        assert!(err.contains("training.learning_rate"), "{err}");
        assert!(err.contains("\"fast\""), "{err}");
    }

    #[test]
    fn negative_count_rejected() {
        let text = "range = [0.3, 1.2]\n[training]\nlearning_rate = 0.1\niterations = -5\n";
        let err = parse::<Outer>(text, Format::Toml).unwrap_err().to_string();
        assert!(err.contains("training.iterations"), "{err}");
        assert!(err.contains("-5"), "{err}");
    }

    #[test]
    fn other_extension_rejected() {
        let err = Format::of_path(Path::new("a.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(".toml or .json"), "{err}");
    }
}
