//! The load behind the meter (SPEC §2 "Loads"): components, each turned into
//! the current it draws, harmonic by harmonic, from the supply's voltage.
//!
//! Powers are stated at the fundamental. A component without
//! `rated_voltage_v` draws its stated power at whatever voltage the supply
//! has (constant power, like a load behind a regulator or a scenario that
//! says "2 kW"); with `rated_voltage_v` it is a fixed impedance that draws
//! its power at that voltage and `(U/Un)²` of it elsewhere.

use serde::{Deserialize, Serialize};

use super::supply::Harmonic;

/// One part of the load behind the meter. In TOML: a table with
/// `kind = "resistive"` and the variant's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Component {
    /// A plain P/Q source at the fundamental (sinusoidal current, constant
    /// power). `active_w`: active power [W], negative = export;
    /// `reactive_var`: reactive power [var], positive = inductive. Also the
    /// way to state a pure reactance (a capacitor bank: `active_w = 0`,
    /// `reactive_var < 0`).
    PowerSource { active_w: f64, reactive_var: f64 },
    /// A resistance (heater, kettle, incandescent lamp): PF 1; draws
    /// current harmonics in proportion to the voltage harmonics.
    Resistive {
        /// Active power [W]
        power_w: f64,
        /// Voltage at which `power_w` is drawn [V]; if given the component
        /// is a fixed impedance, otherwise constant power.
        #[serde(default)]
        rated_voltage_v: Option<f64>,
    },
    /// A series R-L (motor, transformer, fluorescent ballast): lagging PF,
    /// Q > 0. Its reactance grows with the harmonic order. Alias `motor`.
    #[serde(alias = "motor")]
    Inductive {
        /// Active power [W]
        power_w: f64,
        /// Power factor cos φ, in (0, 1], lagging [1]
        power_factor: f64,
        /// Voltage at which `power_w` is drawn [V]; see `Resistive`.
        #[serde(default)]
        rated_voltage_v: Option<f64>,
    },
    /// A parallel R-C (capacitive ballast, cable, PFC capacitor with
    /// losses): leading PF, Q < 0. Its susceptance grows with the order.
    Capacitive {
        /// Active power [W]
        power_w: f64,
        /// Power factor cos φ, in (0, 1], leading [1]
        power_factor: f64,
        /// Voltage at which `power_w` is drawn [V]; see `Resistive`.
        #[serde(default)]
        rated_voltage_v: Option<f64>,
    },
    /// A rectifier load (switch-mode supply, LED driver): constant power at
    /// the fundamental plus a current harmonic spectrum.
    NonLinear {
        /// Active power of the fundamental [W] (the whole active power on a
        /// sinusoidal supply)
        power_w: f64,
        /// Displacement power factor cos φ1 of the fundamental, (0, 1] [1].
        /// Default 1.
        #[serde(default = "unity")]
        displacement_power_factor: f64,
        /// Whether the fundamental leads the voltage (EMI/input capacitor).
        /// Default false (lagging).
        #[serde(default)]
        leading: bool,
        /// The current's harmonics relative to its fundamental. Default
        /// `smps`.
        #[serde(default)]
        spectrum: HarmonicProfile,
    },
    /// A PV inverter exporting `power_w` (a positive number; the meter sees
    /// P = −power_w) with a cos φ(P) characteristic: cos φ = 1 up to
    /// `knee_ratio`·`rated_power_w`, then falling linearly to
    /// `min_power_factor` at `rated_power_w` (and staying there above).
    /// Sinusoidal current, constant power.
    Generation {
        /// Exported active power [W], ≥ 0
        power_w: f64,
        /// Rated power of the inverter Pn [W]
        rated_power_w: f64,
        /// cos φ at and above Pn [1]. Default 0.9.
        #[serde(default = "default_min_power_factor")]
        min_power_factor: f64,
        /// P/Pn below which cos φ = 1 [1]. Default 0.5.
        #[serde(default = "default_knee_ratio")]
        knee_ratio: f64,
        /// Which way the reactive power flows. Default `under_excited`.
        #[serde(default)]
        excitation: Excitation,
    },
}

fn unity() -> f64 {
    1.0
}
fn default_min_power_factor() -> f64 {
    0.9
}
fn default_knee_ratio() -> f64 {
    0.5
}

/// Reactive behaviour of a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Excitation {
    /// Absorbs reactive power, like an inductive load: the meter sees Q > 0
    /// (P < 0, Q > 0: quadrant II). The usual grid-code setting.
    #[default]
    UnderExcited,
    /// Delivers reactive power: the meter sees Q < 0 (quadrant III).
    OverExcited,
}

/// The current harmonics of a non-linear component.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HarmonicProfile {
    /// Capacitor-input bridge rectifier without PFC (PC or TV supply):
    /// current pulses ±35° around the voltage peaks, THD ≈ 100 %.
    #[default]
    Smps,
    /// Small LED driver: wider pulses (±50°), THD ≈ 70 %.
    Led,
    /// Any spectrum, relative to the fundamental current.
    Custom(Vec<Harmonic>),
}

/// Spectrum of a cos²-shaped current pulse of half-width 35° at each
/// voltage peak (computed numerically; negative terms as 180°).
const SMPS: [(u32, f64, f64); 6] = [
    (3, 0.819, 0.0),
    (5, 0.534, 0.0),
    (7, 0.255, 0.0),
    (9, 0.064, 0.0),
    (11, 0.018, 180.0),
    (13, 0.024, 180.0),
];
/// The same for a half-width of 50°.
const LED: [(u32, f64, f64); 5] = [
    (3, 0.657, 0.0),
    (5, 0.244, 0.0),
    (7, 0.011, 0.0),
    (9, 0.025, 180.0),
    (13, 0.007, 0.0),
];

impl HarmonicProfile {
    /// The harmonics (order ≥ 2) of this profile.
    pub fn harmonics(&self) -> Vec<Harmonic> {
        let table = |t: &[(u32, f64, f64)]| {
            t.iter()
                .map(|&(order, ratio, phase_deg)| Harmonic {
                    order,
                    ratio,
                    phase_deg,
                })
                .collect()
        };
        match self {
            Self::Smps => table(&SMPS),
            Self::Led => table(&LED),
            Self::Custom(h) => h.clone(),
        }
    }
}

/// A value in a load that cannot be measured.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("load component {index}: {field} = {value} is out of range ({expected})")]
pub struct LoadError {
    /// Position of the component in the load [1]
    pub index: usize,
    pub field: &'static str,
    pub value: f64,
    pub expected: &'static str,
}

/// The sum of the components connected behind the meter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    #[serde(default)]
    pub components: Vec<Component>,
}

impl Load {
    /// A load that draws `active_w` [W] and `reactive_var` [var].
    pub fn power(active_w: f64, reactive_var: f64) -> Self {
        Self {
            components: vec![Component::PowerSource {
                active_w,
                reactive_var,
            }],
        }
    }

    /// A load made of `components`.
    pub fn of(components: impl IntoIterator<Item = Component>) -> Self {
        Self {
            components: components.into_iter().collect(),
        }
    }

    /// Check every value once, when a scenario is loaded. [`Frontend`]
    /// measures any load without panicking, but clamps what this rejects.
    ///
    /// [`Frontend`]: super::Frontend
    pub fn validate(&self) -> Result<(), LoadError> {
        for (index, c) in self.components.iter().enumerate() {
            let err = |field, value, expected| LoadError {
                index,
                field,
                value,
                expected,
            };
            let non_negative = |field, v: f64| {
                if v.is_finite() && v >= 0.0 {
                    Ok(())
                } else {
                    Err(err(field, v, "finite, ≥ 0"))
                }
            };
            let pf = |field, v: f64| {
                if v > 0.0 && v <= 1.0 {
                    Ok(())
                } else {
                    Err(err(field, v, "0 < pf ≤ 1"))
                }
            };
            let voltage = |v: Option<f64>| match v {
                Some(v) if !(v.is_finite() && v > 0.0) => Err(err("rated_voltage_v", v, "> 0")),
                _ => Ok(()),
            };
            match c {
                Component::PowerSource {
                    active_w,
                    reactive_var,
                } => {
                    for (field, v) in [("active_w", *active_w), ("reactive_var", *reactive_var)] {
                        if !v.is_finite() {
                            return Err(err(field, v, "finite"));
                        }
                    }
                }
                Component::Resistive {
                    power_w,
                    rated_voltage_v,
                } => {
                    non_negative("power_w", *power_w)?;
                    voltage(*rated_voltage_v)?;
                }
                Component::Inductive {
                    power_w,
                    power_factor,
                    rated_voltage_v,
                }
                | Component::Capacitive {
                    power_w,
                    power_factor,
                    rated_voltage_v,
                } => {
                    non_negative("power_w", *power_w)?;
                    pf("power_factor", *power_factor)?;
                    voltage(*rated_voltage_v)?;
                }
                Component::NonLinear {
                    power_w,
                    displacement_power_factor,
                    spectrum,
                    ..
                } => {
                    non_negative("power_w", *power_w)?;
                    pf("displacement_power_factor", *displacement_power_factor)?;
                    for h in spectrum.harmonics() {
                        if h.order < 2 {
                            return Err(err("spectrum.order", f64::from(h.order), "≥ 2"));
                        }
                        non_negative("spectrum.ratio", h.ratio)?;
                    }
                }
                Component::Generation {
                    power_w,
                    rated_power_w,
                    min_power_factor,
                    knee_ratio,
                    ..
                } => {
                    non_negative("power_w", *power_w)?;
                    if !(rated_power_w.is_finite() && *rated_power_w > 0.0) {
                        return Err(err("rated_power_w", *rated_power_w, "> 0"));
                    }
                    pf("min_power_factor", *min_power_factor)?;
                    if !(0.0..1.0).contains(knee_ratio) {
                        return Err(err("knee_ratio", *knee_ratio, "0 ≤ knee < 1"));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_components() {
        let load: Load = toml::from_str(
            r#"
            [[components]]
            kind = "resistive"
            power_w = 2000.0
            [[components]]
            kind = "motor"
            power_w = 750.0
            power_factor = 0.8
            [[components]]
            kind = "non_linear"
            power_w = 100.0
            spectrum = "led"
            [[components]]
            kind = "non_linear"
            power_w = 50.0
            spectrum = { custom = [{ order = 3, ratio = 0.5 }] }
            [[components]]
            kind = "generation"
            power_w = 3000.0
            rated_power_w = 4000.0
            excitation = "over_excited"
            [[components]]
            kind = "power_source"
            active_w = 10.0
            reactive_var = -5.0
            "#,
        )
        .unwrap();
        assert_eq!(load.components.len(), 6);
        assert!(load.validate().is_ok());
        assert!(matches!(
            load.components[4],
            Component::Generation { min_power_factor, knee_ratio, .. } if min_power_factor == 0.9 && knee_ratio == 0.5
        ));
        let typo = toml::from_str::<Load>("[[components]]\nkind = \"resistive\"\npower = 1.0");
        assert!(typo.is_err());
    }

    #[test]
    fn validation_names_the_bad_value() {
        let load = Load::of([
            Component::Resistive {
                power_w: 10.0,
                rated_voltage_v: None,
            },
            Component::Inductive {
                power_w: 10.0,
                power_factor: 1.5,
                rated_voltage_v: None,
            },
        ]);
        let e = load.validate().unwrap_err();
        assert_eq!((e.index, e.field), (1, "power_factor"));
    }
}
