//! Payloads behind a valid header and checksum, so that the fuzzer reaches the bincode
//! decoders of every artifact kind; the first byte picks the kind.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((selector, payload)) = bytes.split_first() else {
        return;
    };
    let kinds = xtask::inspect::KINDS;
    let kind = kinds[*selector as usize % kinds.len()];
    let file = xtask::artifact::wrap_payload(kind, payload).expect("kind names are valid");
    let _ = xtask::inspect::describe(&file);
});
