//! placeholder
pub mod trial;
pub use trial::Trial;
