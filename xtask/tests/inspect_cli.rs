//! `xtask inspect` on good and damaged artifacts: a description and exit code 0, or the
//! reason and a non-zero exit code.

use std::process::Command;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig};
use xtask::artifact;

fn inspect(path: &std::path::Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("inspect")
        .arg(path)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn inspect_reports_good_and_damaged_files() {
    let dir = std::env::temp_dir().join(format!("inspect-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let rnn = Rnn::new_using(RnnConfig::new(3, 1), &mut rng).unwrap();
    let good = dir.join("rnn.bin");
    artifact::save(&good, "rnn", &rnn).unwrap();
    let (ok, stdout, stderr) = inspect(&good);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("kind: rnn"), "{stdout}");
    assert!(stdout.contains("units: 3, inputs: 1"), "{stdout}");

    let bytes = std::fs::read(&good).unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let damaged = [
        ("empty", Vec::new(), "empty"),
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("flipped", flipped, "checksum mismatch"),
    ];
    for (name, content, reason) in damaged {
        let path = dir.join(format!("{name}.bin"));
        std::fs::write(&path, content).unwrap();
        let (ok, _, stderr) = inspect(&path);
        assert!(!ok, "{name} accepted");
        assert!(stderr.contains(reason), "{name}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
