//! Run manifests: what a task run was given and what it wrote, so that `cargo xtask replay`
//! can rerun it and check that every file comes out identical.
//!
//! `<out>/<task>/manifest.json` records the configuration, the seed, the command line, the
//! git commit (and whether the tree had uncommitted changes), the SHA-256 of `Cargo.lock`,
//! the tool versions, the wall time of each stage and the size and SHA-256 of every file in
//! the task folder. `summary.json` is the one file with wall-clock content (its `timings_s`);
//! its entry also carries the SHA-256 of the summary without `timings_s`, and a replay
//! compares that digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::memory::MemoryConfig;
use crate::wrist::WristConfig;
use crate::{artifact, memory, npy, report, training, wrist};

/// Manifest format version written by this build.
pub const SCHEMA_VERSION: u32 = 1;
/// File name of the manifest inside a task folder.
pub const FILE_NAME: &str = "manifest.json";
/// Key of `summary.json` that contains wall times, so it differs between identical runs.
const WALL_TIME_KEY: &str = "timings_s";

/// Configuration of one task run.
// A run has one or two of these, so boxing the larger variant would save nothing that
// matters.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", content = "config", rename_all = "lowercase")]
pub enum TaskConfig {
    /// Short-term memory task.
    Memory(MemoryConfig),
    /// Wrist step-tracking task.
    Wrist(WristConfig),
}

impl TaskConfig {
    /// Task name, which is also the name of its folder.
    pub fn task(&self) -> &'static str {
        match self {
            TaskConfig::Memory(_) => "memory",
            TaskConfig::Wrist(_) => "wrist",
        }
    }
}

/// Run options given on the command line, beside the configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Seed of every random draw.
    pub seed: u64,
    /// Whether the built-in quick configuration was chosen.
    pub quick: bool,
    /// Source of the configuration: `built-in full`, `built-in quick` or a file path.
    pub config_source: String,
    /// Whether trained networks of an earlier run in the same folder were loaded.
    pub reuse_trained: bool,
    /// Requested worker threads (`None`: all cores); results do not depend on it.
    pub threads: Option<usize>,
}

/// Source tree the run was built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceState {
    /// `git rev-parse HEAD`, or `None` outside a git checkout.
    pub git_commit: Option<String>,
    /// Whether `git status --porcelain` listed changes (tracked or untracked, not ignored).
    pub git_dirty: Option<bool>,
    /// SHA-256 of the workspace `Cargo.lock`.
    pub cargo_lock_sha256: Option<String>,
}

/// Tool versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tools {
    /// `rustc --version` at run time.
    pub rustc: Option<String>,
    /// `cargo --version` at run time.
    pub cargo: Option<String>,
    /// Version of the xtask crate (the workspace version).
    pub xtask_version: String,
    /// Version of the binary artifact format.
    pub artifact_format_version: u32,
    /// Whether the binary was built with debug assertions (the `ci` and `dev` profiles).
    pub debug_assertions: bool,
    /// Operating system and CPU architecture.
    pub platform: String,
}

/// Size and digests of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// For `summary.json`: SHA-256 of the summary with its `timings_s` removed (keys sorted,
    /// compact JSON), the digest a replay compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_without_timings: Option<String>,
}

impl FileDigest {
    /// The digest that must match between a run and its replay.
    pub fn compared_sha256(&self) -> &str {
        self.sha256_without_timings
            .as_deref()
            .unwrap_or(&self.sha256)
    }
}

/// Everything a manifest records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub schema_version: u32,
    /// Command line of the process that wrote the run.
    pub command_line: Vec<String>,
    /// Start of the task run, UTC, RFC 3339.
    pub started_utc: String,
    /// Settings of the run.
    pub run: RunSettings,
    /// Task and its full configuration.
    #[serde(flatten)]
    pub config: TaskConfig,
    /// Source tree.
    pub source: SourceState,
    /// Tool versions.
    pub tools: Tools,
    /// Wall time of each stage (s): the pipeline's `timings_s`, then `report_s`, `npy_s`
    /// and `total_s`.
    pub stages_s: BTreeMap<String, f64>,
    /// Whether every acceptance threshold passed.
    pub passed: bool,
    /// Every file of the task folder except the manifest, by path relative to the folder
    /// (`/`-separated).
    pub files: BTreeMap<String, FileDigest>,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the manifest {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("invalid JSON in {}", path.display()))?;
        let version = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SCHEMA_VERSION)) {
            bail!(
                "{} has schema_version {version:?}; this build reads version {SCHEMA_VERSION}",
                path.display()
            );
        }
        serde_json::from_value(value)
            .with_context(|| format!("invalid manifest {}", path.display()))
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Digest of one file; `summary.json` also gets the digest without its wall times.
fn digest_file(path: &Path, relative: &str) -> Result<FileDigest> {
    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let sha256_without_timings = if relative == "summary.json" {
        let mut summary: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("invalid JSON in {}", path.display()))?;
        if let Some(object) = summary.as_object_mut() {
            object.remove(WALL_TIME_KEY);
        }
        Some(sha256_hex(&serde_json::to_vec(&summary)?))
    } else {
        None
    };
    Ok(FileDigest {
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        sha256_without_timings,
    })
}

/// Digests every file under `dir`, recursively, except the manifest and temporary files
/// (names starting with `.`), by `/`-separated path relative to `dir`.
pub fn digest_folder(dir: &Path) -> Result<BTreeMap<String, FileDigest>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("failed to list {}", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("failed to list {}", folder.display()))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let relative: Vec<String> = path
                .strip_prefix(dir)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let relative = relative.join("/");
            if relative == FILE_NAME {
                continue;
            }
            let digest = digest_file(&path, &relative)?;
            files.insert(relative, digest);
        }
    }
    Ok(files)
}

/// Root of the workspace the xtask binary was built from.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs `program args` in the workspace root and returns its trimmed stdout, or `None` when
/// it cannot start or fails.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Reads the commit, the tree state and the `Cargo.lock` digest of the workspace.
pub fn source_state() -> SourceState {
    let git_commit = command_output("git", &["rev-parse", "HEAD"]);
    let git_dirty = git_commit
        .as_ref()
        .and_then(|_| command_output("git", &["status", "--porcelain"]))
        .map(|status| !status.is_empty());
    let cargo_lock_sha256 = std::fs::read(workspace_root().join("Cargo.lock"))
        .ok()
        .map(|bytes| sha256_hex(&bytes));
    SourceState {
        git_commit,
        git_dirty,
        cargo_lock_sha256,
    }
}

/// Reads the tool versions; `RUSTC` and `CARGO` (set by `cargo run`) name the tools when set.
pub fn tools() -> Tools {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    Tools {
        rustc: command_output(&rustc, &["--version"]),
        cargo: command_output(&cargo, &["--version"]),
        xtask_version: env!("CARGO_PKG_VERSION").to_string(),
        artifact_format_version: artifact::FORMAT_VERSION,
        debug_assertions: cfg!(debug_assertions),
        platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

/// Formats seconds since the Unix epoch as an RFC 3339 UTC time.
fn format_utc(unix_s: u64) -> String {
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar), by counting
    // 400-year eras of 146 097 days from 0000-03-01.
    let days = (unix_s / 86_400) as i64;
    let second_of_day = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Current time as RFC 3339 UTC.
pub fn now_utc() -> String {
    let unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(unix_s)
}

/// Test trial targets of the wrist task with NaN where the unit is not scored.
fn wrist_templates(config: &WristConfig) -> Result<Array2<f64>> {
    let trial = tasks_wrist::test_trial(&config.task)?;
    let mut templates = trial.targets;
    for (value, weight) in templates.iter_mut().zip(&trial.weights) {
        if *weight == 0.0 {
            *value = f64::NAN;
        }
    }
    Ok(templates)
}

/// Runs one task into `out_root/<task>`: the pipeline, the report, the `.npy` export and the
/// manifest. Returns the summary and whether every acceptance threshold passed.
pub fn run_task(
    config: &TaskConfig,
    settings: &RunSettings,
    out_root: &Path,
) -> Result<(serde_json::Value, bool)> {
    let task = config.task();
    let task_dir = out_root.join(task);
    let started_utc = now_utc();
    let started = Instant::now();
    training::REUSE_TRAINED.store(settings.reuse_trained, std::sync::atomic::Ordering::Relaxed);
    // Artifact headers carry the run seed, so a replay or sweep must record it as well.
    artifact::set_run_seed(settings.seed);
    info!(task, quick = settings.quick, seed = settings.seed, out = %out_root.display(), "reproduction started");
    let (summary, passed) = match config {
        TaskConfig::Memory(c) => memory::reproduce(c, settings.seed, out_root)?,
        TaskConfig::Wrist(c) => wrist::reproduce(c, settings.seed, out_root)?,
    };
    let mut stages_s: BTreeMap<String, f64> = summary
        .get(WALL_TIME_KEY)
        .and_then(serde_json::Value::as_object)
        .map(|timings| {
            timings
                .iter()
                .filter_map(|(stage, s)| Some((stage.clone(), s.as_f64()?)))
                .collect()
        })
        .unwrap_or_default();

    let stage_started = Instant::now();
    report::write_report(&task_dir, task)?;
    stages_s.insert("report_s".into(), stage_started.elapsed().as_secs_f64());

    let stage_started = Instant::now();
    match config {
        TaskConfig::Memory(c) => npy::export_memory(&task_dir, &c.conversion)?,
        TaskConfig::Wrist(c) => npy::export_wrist(&task_dir, &c.conversion, &wrist_templates(c)?)?,
    }
    stages_s.insert("npy_s".into(), stage_started.elapsed().as_secs_f64());
    stages_s.insert("total_s".into(), started.elapsed().as_secs_f64());

    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        command_line: std::env::args().collect(),
        started_utc,
        run: settings.clone(),
        config: config.clone(),
        source: source_state(),
        tools: tools(),
        stages_s,
        passed,
        files: digest_folder(&task_dir)?,
    };
    let path = task_dir.join(FILE_NAME);
    artifact::write_atomic(&path, serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    info!(task, path = %path.display(), n_files = manifest.files.len(), "manifest written");
    Ok((summary, passed))
}

/// Outcome of comparing one file of a run with its replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Same compared digest.
    Identical,
    /// Both have the file, with different digests.
    Differs,
    /// The original run wrote it, the replay did not.
    MissingInReplay,
    /// The replay wrote it, the original run did not.
    OnlyInReplay,
}

/// Comparison of one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileComparison {
    /// Path relative to the task folder.
    pub path: String,
    /// Outcome.
    pub status: FileStatus,
}

/// Comparison of a run with its replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Every file of either run, in path order.
    pub files: Vec<FileComparison>,
    /// Whether the git commits differ (or one is unknown).
    pub commit_differs: bool,
    /// Whether the replay ran on a tree with uncommitted changes where the original did not,
    /// or the other way round.
    pub dirty_differs: bool,
    /// Whether the `Cargo.lock` digests differ (or one is unknown).
    pub cargo_lock_differs: bool,
    /// Tool fields that differ, as `name: original -> replay`.
    pub tool_differences: Vec<String>,
}

impl Comparison {
    /// Returns whether every file is identical.
    pub fn identical(&self) -> bool {
        self.files.iter().all(|f| f.status == FileStatus::Identical)
    }

    /// Paths of the files that are not identical.
    pub fn mismatches(&self) -> Vec<&FileComparison> {
        self.files
            .iter()
            .filter(|f| f.status != FileStatus::Identical)
            .collect()
    }
}

/// Compares the files and the build of an original run with those of its replay.
pub fn compare(original: &Manifest, replay: &Manifest) -> Comparison {
    let mut paths: Vec<&String> = original.files.keys().chain(replay.files.keys()).collect();
    paths.sort();
    paths.dedup();
    let files = paths
        .into_iter()
        .map(|path| {
            let status = match (original.files.get(path), replay.files.get(path)) {
                (Some(a), Some(b)) if a.compared_sha256() == b.compared_sha256() => {
                    FileStatus::Identical
                }
                (Some(_), Some(_)) => FileStatus::Differs,
                (Some(_), None) => FileStatus::MissingInReplay,
                (None, _) => FileStatus::OnlyInReplay,
            };
            FileComparison {
                path: path.clone(),
                status,
            }
        })
        .collect();

    let (a, b) = (&original.tools, &replay.tools);
    let mut tool_differences = Vec::new();
    let mut note = |name: &str, x: String, y: String| {
        if x != y {
            tool_differences.push(format!("{name}: {x} -> {y}"));
        }
    };
    note("rustc", format!("{:?}", a.rustc), format!("{:?}", b.rustc));
    note("cargo", format!("{:?}", a.cargo), format!("{:?}", b.cargo));
    note(
        "xtask_version",
        a.xtask_version.clone(),
        b.xtask_version.clone(),
    );
    note(
        "artifact_format_version",
        a.artifact_format_version.to_string(),
        b.artifact_format_version.to_string(),
    );
    note("platform", a.platform.clone(), b.platform.clone());

    let (sa, sb) = (&original.source, &replay.source);
    Comparison {
        files,
        commit_differs: sa.git_commit.is_none() || sa.git_commit != sb.git_commit,
        dirty_differs: sa.git_dirty != sb.git_dirty,
        cargo_lock_differs: sa.cargo_lock_sha256.is_none()
            || sa.cargo_lock_sha256 != sb.cargo_lock_sha256,
        tool_differences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("manifest-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn sha256_known_vector() {
        // FIPS 180-2 test vector: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn utc_formatting_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        // 951 782 400 s = 11 016 days = 2000-02-29 (a leap day of a 400-year leap year).
        assert_eq!(format_utc(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        // 1 709 251 199 s = 2024-02-29T23:59:59Z.
        assert_eq!(format_utc(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    /// Writes a small task folder: a binary artifact, a summary with wall times, a figure in a
    /// subfolder, a temporary file and an old manifest.
    fn write_folder(dir: &Path, train_s: f64, artifact_byte: u8) {
        std::fs::create_dir_all(dir.join("figures")).unwrap();
        std::fs::write(dir.join("fit.bin"), [1, 2, artifact_byte]).unwrap();
        let summary = serde_json::json!({"seed": 1, "timings_s": {"train_s": train_s}});
        std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
        std::fs::write(dir.join("figures/fit.png"), b"png").unwrap();
        std::fs::write(dir.join(".fit.bin.tmp"), b"partial").unwrap();
        std::fs::write(dir.join(FILE_NAME), b"{}").unwrap();
    }

    fn manifest_of(dir: &Path, commit: &str) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            command_line: vec!["xtask".into()],
            started_utc: format_utc(0),
            run: RunSettings {
                seed: 1,
                quick: true,
                config_source: "built-in quick".into(),
                reuse_trained: false,
                threads: None,
            },
            config: TaskConfig::Memory(MemoryConfig::quick()),
            source: SourceState {
                git_commit: Some(commit.into()),
                git_dirty: Some(false),
                cargo_lock_sha256: Some("00".into()),
            },
            tools: tools(),
            stages_s: BTreeMap::new(),
            passed: true,
            files: digest_folder(dir).unwrap(),
        }
    }

    #[test]
    fn digest_skips_manifest_and_temporary() {
        let dir = TempDir::new("digest");
        write_folder(&dir.0, 1.0, 3);
        let files = digest_folder(&dir.0).unwrap();
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(paths, ["figures/fit.png", "fit.bin", "summary.json"]);
        assert_eq!(files["fit.bin"].bytes, 3);
        assert_eq!(files["figures/fit.png"].sha256, sha256_hex(b"png"));
        assert!(files["fit.bin"].sha256_without_timings.is_none());
        assert!(files["summary.json"].sha256_without_timings.is_some());
    }

    #[test]
    fn compare_ignores_wall_times_only() {
        let original_dir = TempDir::new("original");
        let replay_dir = TempDir::new("replay");
        write_folder(&original_dir.0, 1.0, 3);
        // Another wall time, one artifact byte changed, one extra file.
        write_folder(&replay_dir.0, 2.5, 4);
        std::fs::write(replay_dir.0.join("extra.csv"), b"x").unwrap();

        let original = manifest_of(&original_dir.0, "abc");
        let replay = manifest_of(&replay_dir.0, "abc");
        assert_ne!(
            original.files["summary.json"].sha256,
            replay.files["summary.json"].sha256
        );
        let comparison = compare(&original, &replay);
        let status = |path: &str| {
            comparison
                .files
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.status)
        };
        assert_eq!(status("summary.json"), Some(FileStatus::Identical));
        assert_eq!(status("figures/fit.png"), Some(FileStatus::Identical));
        assert_eq!(status("fit.bin"), Some(FileStatus::Differs));
        assert_eq!(status("extra.csv"), Some(FileStatus::OnlyInReplay));
        assert!(!comparison.identical());
        assert_eq!(comparison.mismatches().len(), 2);
        assert!(!comparison.commit_differs);
        assert!(!comparison.cargo_lock_differs);
        assert!(comparison.tool_differences.is_empty());

        // The same folder against itself, built from another commit.
        let other_commit = manifest_of(&original_dir.0, "def");
        let comparison = compare(&original, &other_commit);
        assert!(comparison.identical());
        assert!(comparison.commit_differs);

        // A file only the original wrote.
        std::fs::remove_file(replay_dir.0.join("figures/fit.png")).unwrap();
        let comparison = compare(&original, &manifest_of(&replay_dir.0, "abc"));
        let missing = comparison
            .files
            .iter()
            .find(|f| f.path == "figures/fit.png")
            .unwrap();
        assert_eq!(missing.status, FileStatus::MissingInReplay);
    }

    #[test]
    fn manifest_round_trip_and_version() {
        let dir = TempDir::new("round-trip");
        write_folder(&dir.0, 1.0, 3);
        let manifest = manifest_of(&dir.0, "abc");
        let path = dir.0.join(FILE_NAME);
        std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
        assert_eq!(Manifest::read(&path).unwrap(), manifest);

        let mut value = serde_json::to_value(&manifest).unwrap();
        assert_eq!(value["task"], "memory");
        assert!(value["config"]["training"]["iterations"].is_u64());
        value["schema_version"] = serde_json::json!(99);
        std::fs::write(&path, value.to_string()).unwrap();
        let err = Manifest::read(&path).unwrap_err();
        assert!(err.to_string().contains("schema_version Some(99)"), "{err}");
    }

    /// Memory configuration small enough for a test run of a few seconds: 30 training
    /// iterations, 10 neurons per population, 1 spiking trial and short f-I runs. The
    /// calibration runs 5 iterations with a blend of the logistic and `Phi_a`, then 10 with
    /// `Phi_a`.
    fn tiny_memory_config() -> MemoryConfig {
        let mut config = MemoryConfig::quick();
        config.training.iterations = 30;
        config.training.checkpoint_every = 30;
        config.calibration.iterations = 10;
        config.calibration.checkpoint_every = 10;
        config.calibration_homotopy = crate::memory::CalibrationHomotopy {
            stages: 2,
            stage_iterations: 5,
        };
        config.n_trials = 1;
        config.conversion.n_neurons = 10;
        for fi in [&mut config.fit.fi, &mut config.table.fi] {
            fi.n_neurons = 20;
            fi.warmup_ms = 50.0;
            fi.duration_ms = 200.0;
        }
        config.fit.mu_step = 0.25;
        config.table.x_step = 0.5;
        config
    }

    #[test]
    fn replay_of_tiny_run_identical() {
        let original = TempDir::new("tiny-original");
        let replay_root = original.0.join("replay");
        let config = TaskConfig::Memory(tiny_memory_config());
        let settings = RunSettings {
            seed: 7,
            quick: false,
            config_source: "test".into(),
            reuse_trained: false,
            threads: None,
        };
        run_task(&config, &settings, &original.0).unwrap();
        let manifest_path = original.0.join("memory").join(FILE_NAME);
        let manifest = Manifest::read(&manifest_path).unwrap();
        assert_eq!(manifest.run.seed, 7);
        assert_eq!(manifest.config, config);
        for file in [
            "summary.json",
            "report.html",
            "npy/index.json",
            "rnn_calibrated.bin",
            "rnn_calibrated_stage_1.bin",
        ] {
            assert!(
                manifest.files.contains_key(file),
                "{file} not in the manifest"
            );
        }
        for stage in ["train_s", "report_s", "npy_s", "total_s"] {
            assert!(manifest.stages_s.contains_key(stage), "{stage} not timed");
        }

        crate::replay::replay(&manifest_path, Some(replay_root.clone()), None).unwrap();
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(replay_root.join("replay-memory.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(record["identical"], true);

        // A second replay into the now filled folder is rejected.
        let err = crate::replay::replay(&manifest_path, Some(replay_root), None).unwrap_err();
        assert!(err.to_string().contains("already holds files"), "{err}");
    }
}
