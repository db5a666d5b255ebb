//! Physics model: the supply and the load, and what the meter's metering chip
//! measures from them (SPEC §2).
//!
//! This layer is sans-IO and pure: no clock, no files, randomness only from
//! the seed a [`Frontend`] is built with. The meter core asks the frontend for
//! [`Readings`] whenever the supply, the load or the relay changes; a
//! stationary state is measured once and reused.
//!
//! The first implementation is a plain P/Q source: each component contributes
//! its active and reactive power analytically. The waveform model (sampled
//! v(t), i(t) measured like the DSP chip does) replaces the inside of
//! [`Frontend::measure`] without changing this interface.

use serde::{Deserialize, Serialize};

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
    /// Power factor, signed per the profile's convention
    pub power_factor: f64,
    /// Frequency [Hz]
    pub frequency_hz: f64,
    /// Beyond 1.2 × Imax or 1.2 × Un
    pub overload: bool,
}

/// The supply at the meter's terminals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supply {
    /// RMS voltage [V]
    pub voltage_v: f64,
    /// Frequency [Hz]
    pub frequency_hz: f64,
}

impl Default for Supply {
    fn default() -> Self {
        Self {
            voltage_v: 220.0,
            frequency_hz: 50.0,
        }
    }
}

/// One part of the load behind the meter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Component {
    /// A plain P/Q source: active power [W] (negative = export) and reactive
    /// power [var] (positive = inductive).
    PowerSource { active_w: f64, reactive_var: f64 },
}

/// The sum of the components connected behind the meter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Load {
    pub components: Vec<Component>,
}

impl Load {
    /// A load that draws `active_w` and `reactive_var`.
    pub fn power(active_w: f64, reactive_var: f64) -> Self {
        Self {
            components: vec![Component::PowerSource {
                active_w,
                reactive_var,
            }],
        }
    }
}

/// How a meter measures: ratings and conventions from its profile.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontendConfig {
    /// Rated voltage Un [V]
    pub rated_voltage_v: f64,
    /// Maximum current Imax [A]
    pub max_current_a: f64,
}

/// One meter's measuring chain.
#[derive(Debug, Clone)]
pub struct Frontend {
    config: FrontendConfig,
}

impl Frontend {
    pub fn new(config: FrontendConfig, _seed: u64) -> Self {
        Self { config }
    }

    /// Measure `load` on `supply`. With the relay open no current flows, but
    /// the voltage is still measured.
    pub fn measure(&mut self, supply: &Supply, load: &Load, relay_closed: bool) -> Readings {
        let u = supply.voltage_v;
        let (mut p, mut q) = (0.0, 0.0);
        if relay_closed && u > 0.0 {
            for c in &load.components {
                match c {
                    Component::PowerSource {
                        active_w,
                        reactive_var,
                    } => {
                        p += active_w;
                        q += reactive_var;
                    }
                }
            }
        }
        let s = p.hypot(q);
        let i = if u > 0.0 { s / u } else { 0.0 };
        let pf = if s > 0.0 { p / s } else { 1.0 };
        Readings {
            voltage_v: u,
            current_a: i,
            active_w: p,
            reactive_var: q,
            apparent_va: s,
            power_factor: pf,
            frequency_hz: if u > 0.0 { supply.frequency_hz } else { 0.0 },
            overload: i > 1.2 * self.config.max_current_a || u > 1.2 * self.config.rated_voltage_v,
        }
    }
}
