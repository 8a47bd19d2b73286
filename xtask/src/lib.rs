//! Library part of the project automation: artifact files, configuration files, training
//! with resumable checkpoints, Ctrl-C handling and the artifact inspector, shared by the
//! `xtask` binary, its tests and the fuzz targets in `fuzz/`.
//!
//! ```
//! let bytes = xtask::artifact::encode("vector", &vec![1.0f64, 2.0]).unwrap();
//! let back: Vec<f64> = xtask::artifact::decode(&bytes, "vector").unwrap();
//! assert_eq!(back, vec![1.0, 2.0]);
//! ```

pub mod artifact;
pub mod config;
pub mod inspect;
pub mod interrupt;
pub mod record;
pub mod status;
pub mod training;
