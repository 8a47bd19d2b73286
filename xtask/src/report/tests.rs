//! Reports rendered from small synthetic task folders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use iaf_sim::SpikeRecord;
use ndarray::Array2;
use serde_json::json;

use super::*;

/// A fresh folder under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("report-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Formats a text cell as the page writes it.
fn t(text: &str) -> String {
    format!("<td>{text}</td>")
}

/// Formats a number cell as the page writes it.
fn n(text: &str) -> String {
    format!("<td class=\"num\">{text}</td>")
}

fn pass() -> String {
    "<td class=\"pass\">pass</td>".to_string()
}

fn fail() -> String {
    "<td class=\"fail\">fail</td>".to_string()
}

fn not_gated() -> String {
    "<td class=\"info\">not gated</td>".to_string()
}

/// Drops the lines with embedded images from the page, for failure messages.
fn tables(html: &str) -> String {
    html.lines()
        .filter(|line| !line.contains("base64,"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
}

/// Activity of unit `unit` at row `row`: a slow wave between 0.1 and 0.9.
fn wave(unit: usize, row: usize) -> f64 {
    0.5 + 0.4 * ((row as f64) / (6.0 + unit as f64)).sin()
}

/// Writes a memory folder with two cue values and three units: unit 0 varies, unit 1 is
/// constant (r undefined), unit 2 is the output. The spiking read-out of unit 0 follows the
/// continuous trace by 3 steps of 1 ms.
fn memory_folder(dir: &Path) {
    let n_rows = 60;
    let cues = [0.4, 0.8];
    let continuous = |unit: usize, row: usize| match unit {
        1 => 0.01,
        _ => wave(unit, row),
    };

    let mut csv = String::from("cue,t_ms,y_0,y_1,y_2\n");
    let mut readouts = Vec::new();
    for cue in cues {
        let mut readout = Array2::zeros((n_rows, 3));
        for row in 0..n_rows {
            let y: Vec<f64> = (0..3).map(|unit| continuous(unit, row)).collect();
            writeln!(csv, "{cue},{row},{},{},{}", y[0], y[1], y[2]).unwrap();
            for unit in 0..3 {
                let source = if unit == 0 {
                    row.saturating_sub(3)
                } else {
                    row
                };
                readout[[row, unit]] = continuous(unit, source);
            }
        }
        readouts.push(readout);
    }
    write(dir, "continuous_calibrated.csv", &csv);
    let psths = vec![Array2::<f64>::zeros((6, 3)); 2];
    artifact::save(
        &dir.join("spiking_calibrated.bin"),
        "spiking readouts",
        &(&readouts, &psths),
    )
    .unwrap();

    let mut output = String::from("t_ms,continuous_0.4,spiking_0.4,continuous_0.8,spiking_0.8\n");
    for row in 0..n_rows {
        let (c, s) = (continuous(2, row), readouts[0][[row, 2]]);
        writeln!(output, "{row},{c},{s},{c},{s}").unwrap();
    }
    write(dir, "output_traces.csv", &output);

    let mut fit = String::from("x,phi_spiking,logistic\n");
    for i in 0..9 {
        let x = -4.0 + i as f64;
        let logistic = 1.0 / (1.0 + (-x).exp());
        writeln!(fit, "{x},{},{logistic}", logistic + 0.01).unwrap();
    }
    write(dir, "fit.csv", &fit);

    // Two spikes of population 0 and one of the output population (neurons 200-299).
    let spikes = SpikeRecord {
        steps: vec![10, 250, 400],
        neurons: vec![5, 250, 17],
    };
    artifact::save(
        &dir.join("spikes_calibrated_0.bin"),
        "spike record",
        &spikes,
    )
    .unwrap();

    let summary = json!({
        "task": "memory",
        "seed": 3,
        "passed": false,
        "failures": ["fit.rms: 0.05 > 0.04"],
        "fit": {"g": 0.8, "mu_0": 1.1, "f_max_hz": 95.0, "rms": 0.05, "max_error": 0.06},
        "spiking": {
            "median_r": 0.95,
            "units": [
                {"pearson_r": 0.97, "nrmse": 0.05, "rms_error": 0.02},
                {"pearson_r": null, "nrmse": null, "rms_error": 0.0},
                {"pearson_r": 0.99, "nrmse": 0.02, "rms_error": 0.01}
            ]
        },
        "calibrated": {"unit_classes": [{"sustained": true}, {"sustained": false}]},
        "plain": {"median_r": 0.7, "median_nrmse": 0.3},
        "thresholds": {"gate_plain_conversion": false, "require_unit_types": true}
    });
    write(dir, "summary.json", &summary.to_string());
}

#[test]
fn memory_report_lists_calibration_runs() {
    let dir = TempDir::new("memory-selection");
    memory_folder(&dir.0);
    let path = dir.0.join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    summary["calibrated"]["selection"] = serde_json::json!({
        "candidates": [
            {"index": 0, "delay_rms_error": 0.03, "max_error": 0.09, "max_output_error_first_second": 0.13},
            {"index": 1, "delay_rms_error": 0.02, "max_error": 0.08, "max_output_error_first_second": 0.07}
        ],
        "chosen": 1
    });
    std::fs::write(&path, summary.to_string()).unwrap();
    write_report(&dir.0, "memory").unwrap();

    let html = std::fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(
        html.contains("Choice among calibration runs"),
        "{}",
        tables(&html)
    );
    let kept_row = [n("1"), n("0.02000"), n("0.08000"), n("0.07000"), t("kept")];
    assert!(html.contains(&kept_row.concat()), "{}", tables(&html));
    let other_row = [n("0"), n("0.03000"), n("0.09000"), n("0.1300"), t("")];
    assert!(html.contains(&other_row.concat()), "{}", tables(&html));
}

#[test]
fn memory_report_from_synthetic_folder() {
    let dir = TempDir::new("memory");
    memory_folder(&dir.0);
    write_report(&dir.0, "memory").unwrap();

    let html = std::fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(html.contains("Reproduction report: memory task"));
    // fit.rms is named in the failures, fit.max_error is checked and not named.
    let fit_rms = [
        t("fit.rms"),
        t("f-I fit: RMS of Phi - logistic"),
        n("0.05000"),
        fail(),
    ];
    assert!(html.contains(&fit_rms.concat()), "{}", tables(&html));
    let fit_max = [
        t("fit.max_error"),
        t("f-I fit: max |Phi - logistic|"),
        n("0.06000"),
        pass(),
    ];
    assert!(html.contains(&fit_max.concat()), "{}", tables(&html));
    // The plain conversion is not gated in this run, so its r is neither pass nor fail.
    let plain_r = [
        t("plain.median_r"),
        t("plain conversion: median per-unit r"),
        n("0.7000"),
        not_gated(),
    ];
    assert!(html.contains(&plain_r.concat()), "{}", tables(&html));
    // Unit 0: read-out 3 steps of 1 ms behind, identical there, so r = 1 at lag 3 ms.
    let unit_0 = [
        n("0"),
        t("sustained"),
        n("0.9700"),
        n("0.05000"),
        n("0.02000"),
        n("3"),
        n("1"),
    ];
    assert!(html.contains(&unit_0.concat()), "{}", tables(&html));
    // Unit 1: constant 0.01, so r is undefined and the unit is silent all the time.
    let unit_1 = [
        n("1"),
        t("unclassified"),
        n("undefined"),
        n("undefined"),
        n("0"),
        n("undefined"),
        n("undefined"),
        n("100.0 %"),
        n("0.0 %"),
    ];
    assert!(html.contains(&unit_1.concat()), "{}", tables(&html));
    assert!(
        html.contains("Units where r is undefined (a constant trace), left out of the medians: 1 (unclassified)."),
        "{}",
        tables(&html)
    );
    // The plain conversion's files are absent and noted.
    assert!(html.contains("continuous_logistic.csv is not in this folder"));
    assert!(html.contains("data:image/png;base64,"));

    for name in [
        "fit",
        "memory_output",
        "units_calibrated",
        "raster_calibrated",
    ] {
        assert_png(&dir.0.join("figures").join(format!("{name}.png")));
    }
    assert!(!dir.0.join("figures/units_plain.png").exists());
}

/// Writes a wrist folder with 28 units and 40 rows; the control's spike file is absent.
fn wrist_folder(dir: &Path) {
    let n_units = 28;
    let mut header = String::from("t_ms");
    for unit in 0..n_units {
        write!(header, ",continuous_{unit},spiking_{unit}").unwrap();
    }
    let mut csv = header + "\n";
    for row in 0..40 {
        write!(csv, "{row}").unwrap();
        for unit in 0..n_units {
            write!(csv, ",{},{}", wave(unit, row), wave(unit, row) + 0.01).unwrap();
        }
        csv.push('\n');
    }
    write(dir, "traces_phi.csv", &csv);
    write(dir, "traces_control.csv", &csv);

    let mut phi = String::from("x,phi_measured,phi_siegert,phi_table\n");
    for i in 0..11 {
        let x = -5.0 + i as f64;
        let s = 1.0 / (1.0 + (-x).exp());
        writeln!(phi, "{x},{},{s},{s}", s + 0.005).unwrap();
    }
    write(dir, "phi.csv", &phi);

    let spikes = SpikeRecord {
        steps: vec![3, 100, 390],
        neurons: vec![2001, 2450, 30],
    };
    artifact::save(&dir.join("spikes_phi_0.bin"), "spike record", &spikes).unwrap();

    let units: Vec<_> = (0..n_units)
        .map(|_| json!({"pearson_r": 0.99, "nrmse": 0.03, "rms_error": 0.01}))
        .collect();
    let summary = json!({
        "task": "wrist",
        "seed": 1,
        "passed": true,
        "failures": [],
        "activation": {"g": 0.763, "mu_0": 0.994, "f_max_hz": 95.4},
        "continuous": {"accepted": false, "failed_criteria": ["pool 22 NRMSE 0.12 > 0.1"]},
        "spiking": {"median_r": 0.99, "units": units},
        "control": {"median_r": 0.98, "units": units},
    });
    write(dir, "summary.json", &summary.to_string());
}

#[test]
fn wrist_report_from_synthetic_folder() {
    let dir = TempDir::new("wrist");
    wrist_folder(&dir.0);
    write_report(&dir.0, "wrist").unwrap();

    let html = std::fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(html.contains("every acceptance check passed"));
    // Not accepted and no failure naming it: the quick configuration does not gate it.
    assert!(
        html.contains(&[n("false"), not_gated()].concat()),
        "{}",
        tables(&html)
    );
    let median_r = [
        t("spiking.median_r"),
        t("method (b) spiking: median per-unit r"),
        n("0.9900"),
        pass(),
    ];
    assert!(html.contains(&median_r.concat()), "{}", tables(&html));
    let median_nrmse = [
        t("spiking.median_nrmse"),
        t("method (b) spiking: median per-unit NRMSE"),
        n("missing"),
        not_gated(),
    ];
    assert!(html.contains(&median_nrmse.concat()), "{}", tables(&html));
    assert!(html.contains("pool 22 NRMSE 0.12 &gt; 0.1"));
    assert!(html.contains(&[n("20"), t("MN flexor")].concat()));
    assert!(html.contains("spikes_control_&lt;condition&gt;.bin is not in this folder"));

    for name in [
        "phi",
        "motoneuron_pools",
        "units_phi",
        "units_control",
        "raster_phi",
    ] {
        assert_png(&dir.0.join("figures").join(format!("{name}.png")));
    }
}

#[test]
fn report_rejects_bad_input() {
    let dir = TempDir::new("bad");
    let missing = write_report(&dir.0, "memory").unwrap_err();
    assert!(
        format!("{missing:#}").contains("summary.json"),
        "{missing:#}"
    );

    write(&dir.0, "summary.json", "{\"task\": \"memory\"}");
    let unknown = write_report(&dir.0, "arm").unwrap_err();
    assert!(
        format!("{unknown:#}").contains("unknown task \"arm\""),
        "{unknown:#}"
    );

    write(&dir.0, "fit.csv", "x,phi_spiking,logistic\n0,zero,0.5\n");
    let corrupt = write_report(&dir.0, "memory").unwrap_err();
    assert!(
        format!("{corrupt:#}").contains("invalid number"),
        "{corrupt:#}"
    );
}

#[test]
fn format_number_significant_digits() {
    assert_eq!(format_number(0.123456), "0.1235");
    assert_eq!(format_number(12.3456), "12.35");
    assert_eq!(format_number(3.0), "3");
    assert_eq!(format_number(1.5e-5), "1.500e-5");
    assert_eq!(format_number(f64::NAN), "undefined");
}

/// Renders the report of a real run: `REPORT_TASK_DIR=<folder> REPORT_TASK=memory|wrist`.
#[test]
#[ignore = "needs a reproduction folder named by REPORT_TASK_DIR"]
fn report_of_real_run() {
    let dir = std::env::var("REPORT_TASK_DIR").expect("set REPORT_TASK_DIR to a task folder");
    let task = std::env::var("REPORT_TASK").expect("set REPORT_TASK to memory or wrist");
    write_report(Path::new(&dir), &task).unwrap();
}
