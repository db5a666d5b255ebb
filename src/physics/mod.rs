//! Physics model: the supply and the load, and what the meter's metering chip
//! measures from them (SPEC §2; formulas and conventions in
//! `docs/physics.md`).
//!
//! This layer is sans-IO and pure: no clock, no files, randomness only from
//! the seed a [`Frontend`] is built with. The meter core asks the frontend for
//! [`Readings`] whenever the supply, the load or the relay changes; a
//! stationary state is measured once and reused.
//!
//! The chain, one file each:
//!
//! * `supply` — [`Supply`]: voltage, frequency and drift, voltage harmonics,
//!   noise;
//! * `load` — the [`Component`]s of a [`Load`], their TOML form and validation;
//! * `current` — the current spectrum each component draws;
//! * `synth` — sampled v(t), i(t) over a window of whole cycles ([`Window`]);
//! * `dsp` — Urms, Irms, P, Q (90° shift), F (zero crossings), from the
//!   samples only;
//! * `error_model` — the meter's calibration error and noise;
//! * `frontend` — [`Frontend`]: the cache, the thresholds (starting current,
//!   no-load), S, PF and the overload flag.
//!
//! Signs: P > 0 import, P < 0 export; Q > 0 inductive (lagging);
//! PF = P/S by default.

mod current;
mod dsp;
mod error_model;
mod frontend;
mod load;
mod phasor;
mod supply;
mod synth;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use dsp::{Method, ReactiveMode};
pub use error_model::{AccuracyClass, Errors};
pub use frontend::{
    CacheStats, Frontend, FrontendConfig, PowerFactorSign, STARTING_CURRENT_CUTOFF,
};
pub use load::{Component, Excitation, HarmonicProfile, Load, LoadError};
pub use supply::{Harmonic, Supply};
pub use synth::{Window, DEFAULT_SAMPLE_RATE_HZ, DEFAULT_WINDOW_S};

/// What the metering chip reports for one measurement window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Readings {
    /// RMS voltage [V]
    pub voltage_v: f64,
    /// RMS current [A]
    pub current_a: f64,
    /// Active power [W]; negative when exporting
    pub active_w: f64,
    /// Reactive power [var]; positive for inductive (lagging) loads
    pub reactive_var: f64,
    /// Apparent power [VA]
    pub apparent_va: f64,
    /// Power factor [1], signed per the profile's convention
    pub power_factor: f64,
    /// Frequency [Hz]
    pub frequency_hz: f64,
    /// Beyond 1.2 × Imax or 1.2 × Un
    pub overload: bool,
}
