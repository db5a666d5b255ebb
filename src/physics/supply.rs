//! The supply at the meter's terminals (SPEC §2 "Supply"): RMS voltage,
//! frequency with a drift, voltage harmonics and noise.

use serde::{Deserialize, Serialize};

use super::phasor::{Phasor, Spectrum};

/// One harmonic of a waveform, relative to its fundamental.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Harmonic {
    /// Harmonic order h (2 = 100 Hz on a 50 Hz supply) [1]
    pub order: u32,
    /// RMS of this harmonic over the RMS of the fundamental [1]
    pub ratio: f64,
    /// Phase of this harmonic [°], in the harmonic's own time scale: the
    /// term is `√2·ratio·X1·cos(h·(ωt + φ1) + phase)`, so a spectrum keeps its
    /// wave shape when the fundamental's phase φ1 moves. Default 0.
    #[serde(default)]
    pub phase_deg: f64,
}

impl Harmonic {
    /// Harmonic `order` at `ratio` of the fundamental, phase 0.
    pub fn new(order: u32, ratio: f64) -> Self {
        Self {
            order,
            ratio,
            phase_deg: 0.0,
        }
    }
}

/// The supply at the meter's terminals.
///
/// Built with `Supply { voltage_v, frequency_hz, ..Default::default() }`;
/// in a scenario every field but the two first is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Supply {
    /// RMS voltage [V], the true RMS of the whole waveform (fundamental and
    /// harmonics, without the noise). 0 = outage.
    pub voltage_v: f64,
    /// Frequency [Hz] at the middle of the measurement window
    pub frequency_hz: f64,
    /// Rate of change of the frequency during the window [Hz/s]. Slow drift
    /// over minutes is the scenario's business (it changes `frequency_hz`);
    /// this is the drift *within* one measured window. Default 0.
    pub frequency_drift_hz_per_s: f64,
    /// Voltage harmonics, relative to the fundamental. Default none.
    pub harmonics: Vec<Harmonic>,
    /// White noise added to every voltage sample, standard deviation [V].
    /// Default 0.
    pub noise_v: f64,
}

impl Default for Supply {
    fn default() -> Self {
        Self {
            voltage_v: 220.0,
            frequency_hz: 50.0,
            frequency_drift_hz_per_s: 0.0,
            harmonics: Vec::new(),
            noise_v: 0.0,
        }
    }
}

/// Below this RMS voltage [V] the supply counts as off: loads draw nothing.
pub(crate) const OUTAGE_VOLTAGE_V: f64 = 1.0;

impl Supply {
    /// A clean sinusoidal supply of `voltage_v` [V] at `frequency_hz` [Hz].
    pub fn sinusoidal(voltage_v: f64, frequency_hz: f64) -> Self {
        Self {
            voltage_v,
            frequency_hz,
            ..Self::default()
        }
    }

    /// Whether the supply counts as present (loads draw current).
    pub fn is_on(&self) -> bool {
        self.voltage_v.is_finite()
            && self.voltage_v >= OUTAGE_VOLTAGE_V
            && self.frequency_hz.is_finite()
            && self.frequency_hz > 0.0
    }

    /// The voltage's harmonic spectrum (RMS phasors, fundamental at phase 0),
    /// scaled so that its RMS is `voltage_v`. Harmonics of order 0 or 1 and
    /// non-finite entries are ignored.
    pub(crate) fn spectrum(&self) -> Spectrum {
        let mut spectrum = Spectrum::default();
        if !self.is_on() {
            return spectrum;
        }
        let valid = |h: &&Harmonic| h.order >= 2 && h.ratio.is_finite() && h.phase_deg.is_finite();
        let sum_sq: f64 = self
            .harmonics
            .iter()
            .filter(valid)
            .map(|h| h.ratio * h.ratio)
            .sum();
        let v1 = self.voltage_v / (1.0 + sum_sq).sqrt();
        spectrum.add(1, Phasor::new(v1, 0.0));
        for h in self.harmonics.iter().filter(valid) {
            spectrum.add(
                h.order as usize,
                Phasor::polar(v1 * h.ratio, h.phase_deg.to_radians()),
            );
        }
        spectrum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_keeps_the_true_rms() {
        let supply = Supply {
            voltage_v: 230.0,
            harmonics: vec![Harmonic::new(3, 0.05), Harmonic::new(5, 0.04)],
            ..Supply::default()
        };
        let s = supply.spectrum();
        assert!((s.rms() - 230.0).abs() < 1e-9);
        let v1 = 230.0 / (1.0f64 + 0.05 * 0.05 + 0.04 * 0.04).sqrt();
        assert!((s.get(1).norm() - v1).abs() < 1e-9);
        assert!((s.get(3).norm() - 0.05 * v1).abs() < 1e-9);
    }

    #[test]
    fn outage_has_no_spectrum() {
        assert_eq!(Supply::sinusoidal(0.0, 50.0).spectrum().iter().count(), 0);
        assert!(!Supply::sinusoidal(0.5, 50.0).is_on());
        assert!(Supply::default().is_on());
    }

    #[test]
    fn toml_with_defaults() {
        let s: Supply = toml::from_str("voltage_v = 230.0\nfrequency_hz = 60.0").unwrap();
        assert_eq!(s, Supply::sinusoidal(230.0, 60.0));
        let bad = toml::from_str::<Supply>("voltage_v = 230.0\nvoltage = 1.0");
        assert!(bad.is_err());
    }
}
