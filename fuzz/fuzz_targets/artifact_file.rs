//! Whole artifact files: header parsing, checksum and every loader through the inspector.
//! Any input must give `Ok` or `Err`, never a panic, abort or runaway allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = xtask::artifact::split_header(bytes);
    let _ = xtask::inspect::describe(bytes);
});
