//! Versioned, checksummed binary artifacts and atomic file writes.
//!
//! Layout of an artifact file (integers little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic number `SNNCONV\0` |
//! | 8 | 4 | format version (u32), [`FORMAT_VERSION`] |
//! | 12 | 4 | flags (u32); bit 0 set when the run seed field is meaningful |
//! | 16 | 8 | run seed (u64), the `--seed` of the run that wrote the file |
//! | 24 | 4 | kind name length `k` (u32), 1 to [`MAX_KIND_BYTES`] |
//! | 28 | k | kind name, UTF-8 (`rnn`, `f-I fit`, ...) |
//! | 28 + k | 8 | payload length `n` (u64), at most [`MAX_PAYLOAD_BYTES`] |
//! | 36 + k | 32 | SHA-256 of bytes `0 .. 36 + k` followed by the payload |
//! | 68 + k | n | bincode payload (fixed-width integers, little endian) |
//!
//! The checksum is SHA-256 because `sha2` is already a dependency and the files are at most
//! a few megabytes, where hashing costs milliseconds. It covers the header too, so a flipped
//! bit anywhere in the file is reported as a checksum mismatch instead of a wrong kind or a
//! garbled value. Loaders return an error, never panic, for empty, truncated, oversized,
//! corrupted or other-version files; version 1 files (no seed, no checksum) are rejected with
//! the advice to rerun the stage that wrote them.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"SNNCONV\0";
/// Format version written by this build.
pub const FORMAT_VERSION: u32 = 2;
/// Maximum length of a kind name in bytes.
pub const MAX_KIND_BYTES: usize = 64;
/// Largest payload written or read, so that a corrupt length cannot make a loader allocate
/// gigabytes. The largest artifact of a full reproduction is a few megabytes.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;
const CHECKSUM_BYTES: usize = 32;
const FLAG_HAS_SEED: u32 = 1;
/// Bytes of the header before the kind name.
const FIXED_PREFIX_BYTES: usize = 28;

/// Seed of the current run, written into every header.
static RUN_SEED: Mutex<Option<u64>> = Mutex::new(None);

/// Records `seed` as the run seed written into the header of every artifact this process
/// saves from now on.
pub fn set_run_seed(seed: u64) {
    *RUN_SEED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(seed);
}

/// Returns the run seed set by [`set_run_seed`], if any.
pub fn run_seed() -> Option<u64> {
    *RUN_SEED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn codec(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(limit)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, an fsync and a
/// rename, so that a reader sees either the old file or the whole new one, even when the
/// writer is killed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(folder).with_context(|| format!("failed to create {}", folder.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = folder.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("failed to create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", tmp.display()))?;
    drop(file);
    fs::rename(&tmp, path)
        .with_context(|| format!("failed to rename {} to {}", tmp.display(), path.display()))?;
    // Persist the rename itself; a folder that cannot be opened for syncing (some file
    // systems) still has the complete file under its final name.
    if let Ok(dir) = fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Encodes `value` as the bytes of an artifact file of `kind`.
pub fn encode<T: Serialize>(kind: &str, value: &T) -> Result<Vec<u8>> {
    let payload = codec(MAX_PAYLOAD_BYTES)
        .serialize(value)
        .with_context(|| format!("failed to encode {kind}"))?;
    wrap_payload(kind, &payload)
}

/// Puts the header, with the run seed and the checksum, in front of an encoded payload.
///
/// # Errors
/// For a kind name that is empty or longer than [`MAX_KIND_BYTES`], or a payload longer than
/// [`MAX_PAYLOAD_BYTES`].
pub fn wrap_payload(kind: &str, payload: &[u8]) -> Result<Vec<u8>> {
    if kind.is_empty() || kind.len() > MAX_KIND_BYTES {
        bail!("invalid artifact kind {kind:?}: give a name of 1 to {MAX_KIND_BYTES} bytes");
    }
    if payload.len() as u64 > MAX_PAYLOAD_BYTES {
        bail!(
            "the {kind} payload has {} bytes, more than the limit of {MAX_PAYLOAD_BYTES}",
            payload.len()
        );
    }
    let seed = run_seed();
    let mut bytes = Vec::with_capacity(FIXED_PREFIX_BYTES + kind.len() + 40 + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let flags = if seed.is_some() { FLAG_HAS_SEED } else { 0 };
    bytes.extend_from_slice(&flags.to_le_bytes());
    bytes.extend_from_slice(&seed.unwrap_or(0).to_le_bytes());
    bytes.extend_from_slice(&(kind.len() as u32).to_le_bytes());
    bytes.extend_from_slice(kind.as_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let checksum = Sha256::new()
        .chain_update(&bytes)
        .chain_update(payload)
        .finalize();
    bytes.extend_from_slice(&checksum);
    bytes.extend_from_slice(payload);
    Ok(bytes)
}

/// Serialises `value` as an artifact of `kind` and writes it atomically.
pub fn save<T: Serialize>(path: &Path, kind: &str, value: &T) -> Result<()> {
    write_atomic(path, &encode(kind, value)?)
}

/// Reads the bytes of an artifact file, rejecting a file too large to be one before reading
/// it.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let size = fs::metadata(path)
        .with_context(|| format!("failed to read {}", path.display()))?
        .len();
    let max_file_bytes = MAX_PAYLOAD_BYTES + (FIXED_PREFIX_BYTES + MAX_KIND_BYTES) as u64 + 40;
    if size > max_file_bytes {
        bail!(
            "invalid artifact {}: the file has {size} bytes, more than the {max_file_bytes} \
             bytes an artifact may have",
            path.display()
        );
    }
    // A device or a pipe (such as /dev/zero) reports no useful size, so the read itself
    // stops one byte past the limit.
    let file =
        fs::File::open(path).with_context(|| format!("failed to read {}", path.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, max_file_bytes + 1),
        &mut bytes,
    )
    .with_context(|| format!("failed to read {}", path.display()))?;
    if bytes.len() as u64 > max_file_bytes {
        bail!(
            "invalid artifact {}: it holds more than the {max_file_bytes} bytes an artifact may \
             have",
            path.display()
        );
    }
    Ok(bytes)
}

/// Reads an artifact of `kind` written by [`save`].
pub fn load<T: DeserializeOwned>(path: &Path, kind: &str) -> Result<T> {
    let bytes = read_bytes(path)?;
    decode(&bytes, kind).with_context(|| format!("invalid artifact {}", path.display()))
}

/// Reads an artifact of `kind` written by [`save`], with its header.
pub fn load_with_header<T: DeserializeOwned>(path: &Path, kind: &str) -> Result<(Header, T)> {
    let bytes = read_bytes(path)?;
    let invalid = || format!("invalid artifact {}", path.display());
    let (header, payload) = split_header(&bytes).with_context(invalid)?;
    if header.kind != kind {
        bail!(
            "invalid artifact {}: its kind is `{}`, expected `{kind}`",
            path.display(),
            header.kind
        );
    }
    let value = decode_payload(payload, kind).with_context(invalid)?;
    Ok((header, value))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8]> {
    if bytes.len() < n {
        bail!(
            "file is truncated: {what} needs {n} bytes, {} are left",
            bytes.len()
        );
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn take_u32(bytes: &mut &[u8], what: &str) -> Result<u32> {
    let field = take(bytes, 4, what)?;
    Ok(u32::from_le_bytes(field.try_into().expect("4 bytes")))
}

fn take_u64(bytes: &mut &[u8], what: &str) -> Result<u64> {
    let field = take(bytes, 8, what)?;
    Ok(u64::from_le_bytes(field.try_into().expect("8 bytes")))
}

/// Header of an artifact file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Seed of the run that wrote the file, when it was recorded.
    pub run_seed: Option<u64>,
    /// Kind name.
    pub kind: String,
    /// Payload length in bytes.
    pub payload_len: u64,
    /// SHA-256 of the header fields before it and the payload, as lowercase hex.
    pub checksum_hex: String,
}

/// Reads and checks the header and the checksum, returning the header and the payload bytes.
///
/// # Errors
/// A message naming the first problem: empty or truncated file, wrong magic number, another
/// format version, a corrupt kind name or length, or a checksum mismatch.
pub fn split_header(bytes: &[u8]) -> Result<(Header, &[u8])> {
    if bytes.is_empty() {
        bail!("file is empty (0 bytes); rerun the stage that writes it");
    }
    let mut rest = bytes;
    let cursor = &mut rest;
    let magic = take(cursor, MAGIC.len(), "magic number")?;
    if magic != MAGIC {
        // JSON and CSV outputs of a run are plain text, read directly.
        if bytes.first().is_some_and(|b| matches!(b, b'{' | b'[')) {
            bail!("not an artifact of this toolkit: the file looks like JSON; open it as text");
        }
        if bytes.is_ascii() {
            bail!("not an artifact of this toolkit: the file is plain text; open it directly");
        }
        bail!("not an artifact of this toolkit (wrong magic number {magic:02x?})");
    }
    let version = take_u32(cursor, "format version")?;
    if version != FORMAT_VERSION {
        bail!(
            "format version {version} is not supported by this build, which reads version \
             {FORMAT_VERSION}; rerun the stage that wrote it"
        );
    }
    let flags = take_u32(cursor, "flags")?;
    if flags & !FLAG_HAS_SEED != 0 {
        bail!("unknown header flags {flags:#x} (corrupt header)");
    }
    let seed = take_u64(cursor, "run seed")?;
    let kind_len = take_u32(cursor, "kind length")? as usize;
    if kind_len == 0 || kind_len > MAX_KIND_BYTES {
        bail!(
            "kind name length {kind_len} is outside 1 to {MAX_KIND_BYTES} bytes (corrupt header)"
        );
    }
    let kind = std::str::from_utf8(take(cursor, kind_len, "kind name")?)
        .context("kind name is not UTF-8 (corrupt header)")?
        .to_string();
    let payload_len = take_u64(cursor, "payload length")?;
    let hashed_header = &bytes[..bytes.len() - cursor.len()];
    let stored_checksum = take(cursor, CHECKSUM_BYTES, "checksum")?;
    if payload_len > MAX_PAYLOAD_BYTES {
        bail!(
            "payload length {payload_len} exceeds the limit of {MAX_PAYLOAD_BYTES} bytes \
             (corrupt header)"
        );
    }
    if payload_len != cursor.len() as u64 {
        bail!(
            "payload length {payload_len} does not match the {} bytes present (truncated or \
             corrupt file)",
            cursor.len()
        );
    }
    let payload = *cursor;
    let checksum = Sha256::new()
        .chain_update(hashed_header)
        .chain_update(payload)
        .finalize();
    if checksum.as_slice() != stored_checksum {
        bail!(
            "checksum mismatch: the file is corrupt (stored SHA-256 {}, computed {}); rerun \
             the stage that wrote it",
            hex(stored_checksum),
            hex(&checksum)
        );
    }
    let header = Header {
        version,
        run_seed: (flags & FLAG_HAS_SEED != 0).then_some(seed),
        kind,
        payload_len,
        checksum_hex: hex(stored_checksum),
    };
    Ok((header, payload))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes artifact bytes of `kind`.
///
/// # Errors
/// Any error of [`split_header`], another kind, or a payload that does not decode as `T`
/// (including trailing bytes after the value).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], kind: &str) -> Result<T> {
    let (header, payload) = split_header(bytes)?;
    if header.kind != kind {
        bail!("its kind is `{}`, expected `{kind}`", header.kind);
    }
    decode_payload(payload, kind)
}

/// Decodes a payload of `kind`; every byte must belong to the value, and decoding never
/// reads or allocates beyond the payload length.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8], kind: &str) -> Result<T> {
    codec(payload.len() as u64)
        .reject_trailing_bytes()
        .deserialize(payload)
        .with_context(|| format!("failed to decode the {kind} payload"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode("vector", &vec![1.5f64, -2.0, 3.25]).unwrap()
    }

    #[test]
    fn round_trip_through_file() {
        let dir = std::env::temp_dir().join(format!("artifact-test-{}", std::process::id()));
        let path = dir.join("x.bin");
        let value = vec![1.5f64, -2.0, 3.25];
        save(&path, "vector", &value).unwrap();
        let back: Vec<f64> = load(&path, "vector").unwrap();
        assert_eq!(back, value);
        let wrong_kind = load::<Vec<f64>>(&path, "network").unwrap_err();
        assert!(format!("{wrong_kind:#}").contains("its kind is `vector`"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn header_fields_read_back() {
        let bytes = sample();
        let (header, payload) = split_header(&bytes).unwrap();
        assert_eq!(header.version, FORMAT_VERSION);
        assert_eq!(header.kind, "vector");
        // Payload: u64 length prefix plus three f64 values.
        assert_eq!(header.payload_len, 8 + 3 * 8);
        assert_eq!(payload.len(), 32);
        // Header: 28 fixed bytes, 6 kind bytes, 8 length bytes, 32 checksum bytes.
        assert_eq!(bytes.len(), 28 + 6 + 8 + 32 + 32);
    }

    #[test]
    fn other_version_rejected() {
        let mut bytes = sample();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let err = decode::<Vec<f64>>(&bytes, "vector").unwrap_err();
        assert!(err.to_string().contains("format version 1"), "{err}");
    }

    #[test]
    fn truncated_and_empty_rejected() {
        let bytes = sample();
        let err = decode::<Vec<f64>>(&bytes[..bytes.len() - 3], "vector").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = decode::<Vec<f64>>(&bytes[..20], "vector").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = decode::<Vec<f64>>(&[], "vector").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn flipped_payload_bit_rejected() {
        let mut bytes = sample();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x10;
        let err = decode::<Vec<f64>>(&bytes, "vector").unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn huge_payload_length_rejected() {
        let mut bytes = sample();
        // Payload length field at 28 + 6 ("vector").
        bytes[34..42].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = decode::<Vec<f64>>(&bytes, "vector").unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn huge_vector_length_in_payload_rejected() {
        // A payload claiming 2^61 elements must fail on the byte limit, not allocate.
        let payload = (1u64 << 61).to_le_bytes();
        let err = decode_payload::<Vec<f64>>(&payload, "vector").unwrap_err();
        assert!(format!("{err:#}").contains("failed to decode"), "{err:#}");
    }

    #[test]
    fn trailing_payload_bytes_rejected() {
        let mut payload = codec(1024).serialize(&vec![1.0f64]).unwrap();
        payload.push(0);
        assert!(decode_payload::<Vec<f64>>(&payload, "vector").is_err());
    }

    #[test]
    fn oversized_file_rejected_before_reading() {
        let dir = std::env::temp_dir().join(format!("artifact-big-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.bin");
        let file = fs::File::create(&path).unwrap();
        // A sparse file: the length is set without writing the bytes.
        file.set_len(MAX_PAYLOAD_BYTES + 4096).unwrap();
        let err = load::<Vec<f64>>(&path, "vector").unwrap_err();
        assert!(err.to_string().contains("more than the"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
