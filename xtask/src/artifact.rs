//! Versioned binary artifacts and atomic file writes.
//!
//! An artifact file is `MAGIC` (8 bytes), the format version (u32, little endian), the kind
//! name (u32 length, UTF-8 bytes), the payload length (u64) and the bincode payload
//! (fixed-width integers, little endian). A file of another version or kind is rejected with a
//! message that names both.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

const MAGIC: &[u8; 8] = b"SNNCONV\0";
/// Format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Largest payload a loader accepts, so a corrupt length cannot allocate gigabytes.
const MAX_PAYLOAD_BYTES: u64 = 1 << 31;

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(MAX_PAYLOAD_BYTES)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(folder).with_context(|| format!("failed to create {}", folder.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = folder.join(format!(".{}.tmp", file_name.to_string_lossy()));
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("failed to create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("failed to rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Serialises `value` as an artifact of `kind` and writes it atomically.
pub fn save<T: Serialize>(path: &Path, kind: &str, value: &T) -> Result<()> {
    let payload = codec()
        .serialize(value)
        .with_context(|| format!("failed to encode {kind}"))?;
    let mut bytes = Vec::with_capacity(payload.len() + 32 + kind.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(kind.len() as u32).to_le_bytes());
    bytes.extend_from_slice(kind.as_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&payload);
    write_atomic(path, &bytes)
}

/// Reads an artifact of `kind` written by [`save`].
pub fn load<T: DeserializeOwned>(path: &Path, kind: &str) -> Result<T> {
    let bytes = fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    decode(&bytes, kind).with_context(|| format!("invalid artifact {}", path.display()))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8]> {
    if bytes.len() < n {
        bail!("file is truncated: missing {what}");
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

/// Header of an artifact file.
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Kind name.
    pub kind: String,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// Reads and checks the header, returning it and the payload bytes.
pub fn split_header(mut bytes: &[u8]) -> Result<(Header, &[u8])> {
    let bytes = &mut bytes;
    if take(bytes, 8, "magic number")? != MAGIC {
        bail!("not an artifact of this toolkit (wrong magic number)");
    }
    let version = u32::from_le_bytes(take(bytes, 4, "format version")?.try_into()?);
    if version != FORMAT_VERSION {
        bail!(
            "format version {version} is not supported by this build, which reads version \
             {FORMAT_VERSION}; rerun the stage that wrote it"
        );
    }
    let kind_len = u32::from_le_bytes(take(bytes, 4, "kind length")?.try_into()?) as usize;
    if kind_len > 256 {
        bail!("kind name of {kind_len} bytes is too long (corrupt header)");
    }
    let found_kind = std::str::from_utf8(take(bytes, kind_len, "kind name")?)
        .context("kind name is not UTF-8 (corrupt header)")?
        .to_string();
    let payload_len = u64::from_le_bytes(take(bytes, 8, "payload length")?.try_into()?);
    if payload_len != bytes.len() as u64 {
        bail!(
            "payload length {payload_len} does not match the {} bytes present (truncated or corrupt file)",
            bytes.len()
        );
    }
    let header = Header {
        version,
        kind: found_kind,
        payload_len,
    };
    Ok((header, *bytes))
}

/// Decodes artifact bytes of `kind`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], kind: &str) -> Result<T> {
    let (header, payload) = split_header(bytes)?;
    if header.kind != kind {
        bail!("contains a {}, expected a {kind}", header.kind);
    }
    codec()
        .deserialize(payload)
        .with_context(|| format!("failed to decode the {kind} payload"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let dir = std::env::temp_dir().join(format!("artifact-test-{}", std::process::id()));
        let path = dir.join("x.bin");
        let value = vec![1.5f64, -2.0, 3.25];
        save(&path, "vector", &value).unwrap();
        let back: Vec<f64> = load(&path, "vector").unwrap();
        assert_eq!(back, value);

        let bytes = fs::read(&path).unwrap();
        let wrong_kind = load::<Vec<f64>>(&path, "network").unwrap_err();
        assert!(format!("{wrong_kind:#}").contains("contains a vector"));

        let mut other_version = bytes.clone();
        other_version[8..12].copy_from_slice(&2u32.to_le_bytes());
        let err = decode::<Vec<f64>>(&other_version, "vector").unwrap_err();
        assert!(err.to_string().contains("format version 2"), "{err}");

        let err = decode::<Vec<f64>>(&bytes[..bytes.len() - 3], "vector").unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(decode::<Vec<f64>>(&[], "vector").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
