//! Export of converted networks to NEST 3 and the cross-check of NEST against this project's
//! simulator.

pub mod crosscheck;
pub mod export;
pub use xtask::record;
