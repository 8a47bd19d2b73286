//! `--reuse-trained` loads a network only when its training record's fingerprint matches the
//! run's task, training settings, initial network and seed. This runs in its own test binary
//! because the reuse switch and the run seed are process-wide.

mod common;

use std::sync::atomic::Ordering;

use common::{hold_trial, net, settings};
use serde_json::json;
use xtask::artifact;
use xtask::training::{train_with_checkpoints, REUSE_TRAINED};

#[test]
fn reuse_requires_matching_fingerprint() {
    let dir = std::env::temp_dir().join(format!("reuse-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("net.bin");
    let mut sample = |_: usize| Ok(vec![hold_trial()]);
    let task = json!({ "level": 0.3 });
    artifact::set_run_seed(1);

    let mut trained = net();
    let first =
        train_with_checkpoints(&mut trained, &settings(4), "a", &path, &task, &mut sample).unwrap();
    assert_eq!(first.iterations, 4);

    REUSE_TRAINED.store(true, Ordering::Relaxed);

    // Same task, settings, network and seed: the trained network comes back untouched.
    let mut reused = net();
    let again =
        train_with_checkpoints(&mut reused, &settings(4), "a", &path, &task, &mut sample).unwrap();
    assert_eq!(reused, trained);
    assert_eq!(again, first);

    // Another iteration count, another task description: rejected.
    let other_settings =
        train_with_checkpoints(&mut net(), &settings(5), "a", &path, &task, &mut sample);
    let message = format!("{:#}", other_settings.unwrap_err());
    assert!(
        message.contains("other task or training settings"),
        "{message}"
    );
    assert!(
        message.contains("differing: training or calibration settings)"),
        "{message}"
    );
    let other_task = json!({ "level": 0.4 });
    let other = train_with_checkpoints(
        &mut net(),
        &settings(4),
        "a",
        &path,
        &other_task,
        &mut sample,
    );
    let message = format!("{:#}", other.unwrap_err());
    assert!(
        message.contains("differing: task description `level`)"),
        "{message}"
    );

    // A staged calibration against a one-stage record names calibration_homotopy, also when
    // the record lacks the stored inputs, as records of earlier versions do.
    let staged_task = json!({ "level": 0.3, "homotopy": { "stages": 4, "stage_iterations": 5 } });
    let staged = |sample: &mut dyn FnMut(usize) -> anyhow::Result<Vec<rnn_core::Trial>>| {
        let result =
            train_with_checkpoints(&mut net(), &settings(4), "a", &path, &staged_task, sample);
        format!("{:#}", result.unwrap_err())
    };
    let message = staged(&mut sample);
    assert!(
        message.contains("differing: calibration_homotopy)"),
        "{message}"
    );
    let record = path.with_extension("training.json");
    let mut stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert!(stored
        .as_object_mut()
        .unwrap()
        .remove("fingerprint_inputs")
        .is_some());
    std::fs::write(&record, stored.to_string()).unwrap();
    let message = staged(&mut sample);
    assert!(
        message.contains("differing: calibration_homotopy, because the record is of a one-stage"),
        "{message}"
    );
    let message = format!(
        "{:#}",
        train_with_checkpoints(&mut net(), &settings(5), "a", &path, &task, &mut sample)
            .unwrap_err()
    );
    assert!(message.contains("from an earlier version"), "{message}");

    // Another run seed: rejected with the seeds named.
    artifact::set_run_seed(2);
    let message = format!(
        "{:#}",
        train_with_checkpoints(&mut net(), &settings(4), "a", &path, &task, &mut sample)
            .unwrap_err()
    );
    assert!(message.contains("--seed 1"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}
