//! Damaged artifact files: every loader returns an error, never a panic, and a flipped bit
//! anywhere in a valid file is detected.

use ndarray::Array2;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rnn_core::{Rnn, RnnConfig};
use xtask::{artifact, inspect};

/// Encodes a valid network artifact and a valid spiking read-out artifact.
fn valid_files() -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rnn = Rnn::new_using(RnnConfig::new(4, 2), &mut rng).unwrap();
    let readouts = (
        vec![Array2::<f64>::zeros((3, 4))],
        vec![Array2::<f64>::ones((2, 4))],
    );
    vec![
        artifact::encode("rnn", &rnn).unwrap(),
        artifact::encode("spiking readouts", &readouts).unwrap(),
    ]
}

#[test]
fn valid_files_describe() {
    for file in valid_files() {
        let text = inspect::describe(&file).unwrap();
        assert!(text.contains("format version: 2"), "{text}");
    }
}

#[test]
fn every_single_bit_flip_detected() {
    // Exhaustive over the header and the first payload bytes of the smallest file.
    let file = &valid_files()[1];
    for byte in 0..file.len().min(160) {
        for bit in 0..8 {
            let mut damaged = file.clone();
            damaged[byte] ^= 1 << bit;
            assert!(
                inspect::describe(&damaged).is_err(),
                "flip of bit {bit} in byte {byte} went unnoticed"
            );
        }
    }
}

#[test]
fn every_truncation_detected() {
    let file = &valid_files()[0];
    for len in 0..file.len() {
        assert!(inspect::describe(&file[..len]).is_err(), "length {len}");
    }
}

#[test]
fn loaders_reject_wrong_kind_payloads() {
    // A valid checksum around a payload of another type must fail to decode, not panic.
    let files = valid_files();
    let (_, rnn_payload) = artifact::split_header(&files[0]).unwrap();
    for kind in inspect::KINDS {
        if kind == "rnn" {
            continue;
        }
        let file = artifact::wrap_payload(kind, rnn_payload).unwrap();
        assert!(
            inspect::describe(&file).is_err(),
            "rnn payload accepted as {kind}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = inspect::describe(&bytes);
    }

    #[test]
    fn arbitrary_payloads_never_panic(
        kind_idx in 0..inspect::KINDS.len(),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let file = artifact::wrap_payload(inspect::KINDS[kind_idx], &payload).unwrap();
        let _ = inspect::describe(&file);
    }

    #[test]
    fn random_bit_flips_detected(
        file_idx in 0..2usize,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0..8u8), 1..4),
    ) {
        let mut damaged = valid_files()[file_idx].clone();
        let original = damaged.clone();
        for (index, bit) in &flips {
            let byte = index.index(damaged.len());
            damaged[byte] ^= 1 << bit;
        }
        // An even number of flips of one bit cancels out; only a changed file must fail.
        prop_assume!(damaged != original);
        let err = inspect::describe(&damaged);
        prop_assert!(err.is_err());
    }
}
