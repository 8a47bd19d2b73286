//! A writer killed with SIGKILL at random points leaves every artifact loadable: either the
//! version it was writing or the one before, never a torn file.
//!
//! The test runs this test binary again as the writer (`writer_child`, active only when
//! `WRITER_CHILD_DIR` is set), kills it after seeded random delays, and checks the file.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use xtask::artifact;

const KIND: &str = "counter";
const FILE: &str = "counter.bin";

/// Payload of version `v`: every filler word equals `v`, so a mix of two versions shows.
#[derive(Serialize, Deserialize)]
struct Counter {
    version: u64,
    filler: Vec<u64>,
}

fn load_version(dir: &Path) -> Option<u64> {
    let path = dir.join(FILE);
    if !path.exists() {
        return None;
    }
    let counter: Counter = artifact::load(&path, KIND)
        .unwrap_or_else(|err| panic!("artifact on disk does not load: {err:#}"));
    assert!(
        counter.filler.iter().all(|&word| word == counter.version),
        "version {} mixes words of another version",
        counter.version
    );
    Some(counter.version)
}

#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os("WRITER_CHILD_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let mut version = load_version(dir).map_or(0, |v| v + 1);
    loop {
        let counter = Counter {
            version,
            filler: vec![version; 100_000],
        };
        artifact::save(&dir.join(FILE), KIND, &counter).unwrap();
        version += 1;
    }
}

#[test]
fn sigkill_leaves_loadable_artifact() {
    let dir = std::env::temp_dir().join(format!("kill-during-write-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let started = Instant::now();
    let mut last_version = None;
    let mut rounds_with_progress = 0;
    for _ in 0..30 {
        let mut child = Command::new(&exe)
            .args(["writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("WRITER_CHILD_DIR", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(5..60)));
        // `Child::kill` sends SIGKILL on Unix.
        child.kill().unwrap();
        child.wait().unwrap();
        let version = load_version(&dir);
        assert!(
            version >= last_version,
            "version went back from {last_version:?} to {version:?}"
        );
        if version > last_version {
            rounds_with_progress += 1;
        }
        last_version = version;
    }
    // Temporary files of killed writers may remain; they never replace the artifact.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(rounds_with_progress > 0, "the writer never finished a file");
    assert!(started.elapsed() < Duration::from_secs(20));
}
