//! metertwin
pub mod physics;
