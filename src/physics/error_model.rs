//! The meter's errors (SPEC §2 "Meter error"): a fixed calibration error
//! per quantity, drawn once from the meter's seed inside its accuracy class,
//! plus a small noise drawn per reading.
//!
//! Errors are relative for U, I, P and Q and absolute for F. S and PF are
//! not given errors of their own: the meter computes S = Urms·Irms and
//! PF = P/S from its (erroneous) readings, as the chip does; the draw is
//! repeated until the resulting PF error is inside its class too.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dsp::Measured;

/// Accuracy class limits of a meter model (both manuals, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccuracyClass {
    /// Voltage [% of reading]
    pub voltage_pct: f64,
    /// Current [% of reading]
    pub current_pct: f64,
    /// Active power [% of reading]
    pub active_power_pct: f64,
    /// Reactive power [% of reading]
    pub reactive_power_pct: f64,
    /// Power factor [% of reading]
    pub power_factor_pct: f64,
    /// Frequency [Hz]
    pub frequency_hz: f64,
}

impl AccuracyClass {
    /// KPM31: U, I ±0.2 %, P, Q, PF ±0.5 %, F ±0.02 Hz.
    pub const KPM31: Self = Self {
        voltage_pct: 0.2,
        current_pct: 0.2,
        active_power_pct: 0.5,
        reactive_power_pct: 0.5,
        power_factor_pct: 0.5,
        frequency_hz: 0.02,
    };
    /// KPM31C: as KPM31 but Q ±2 %.
    pub const KPM31C: Self = Self {
        reactive_power_pct: 2.0,
        ..Self::KPM31
    };
}

impl Default for AccuracyClass {
    fn default() -> Self {
        Self::KPM31
    }
}

/// One set of errors: relative for U, I, P, Q [1], absolute for F [Hz].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Errors {
    /// Voltage gain error [1] (0.001 = +0.1 %)
    pub voltage: f64,
    /// Current gain error [1]
    pub current: f64,
    /// Active power gain error [1]
    pub active: f64,
    /// Reactive power gain error [1]
    pub reactive: f64,
    /// Frequency offset [Hz]
    pub frequency_hz: f64,
}

/// Draws of the PF-consistent calibration before giving up and making the
/// PF error zero. The acceptance rate is above 1/3, so this is never hit in
/// practice; it only bounds the loop.
const MAX_CALIBRATION_DRAWS: usize = 64;

impl Errors {
    /// The fixed calibration error of one meter: each quantity uniform in
    /// ±`spread`·class, with the implied PF error kept inside
    /// ±`spread`·PF class.
    pub(crate) fn calibration(rng: &mut ChaCha8Rng, class: &AccuracyClass, spread: f64) -> Self {
        let spread = sanitize(spread);
        let mut draw = |limit_pct: f64| rng.random_range(-1.0..=1.0) * spread * limit_pct;
        let mut e = Self::default();
        for _ in 0..MAX_CALIBRATION_DRAWS {
            e = Self {
                voltage: draw(class.voltage_pct) / 100.0,
                current: draw(class.current_pct) / 100.0,
                active: draw(class.active_power_pct) / 100.0,
                reactive: draw(class.reactive_power_pct) / 100.0,
                frequency_hz: draw(class.frequency_hz),
            };
            if e.power_factor_error().abs() <= spread * class.power_factor_pct / 100.0 {
                return e;
            }
        }
        Self {
            active: (1.0 + e.voltage) * (1.0 + e.current) - 1.0,
            ..e
        }
    }

    /// Noise of one reading: each quantity normal with standard deviation
    /// `sigma`·class, truncated at 3σ.
    pub(crate) fn noise(rng: &mut ChaCha8Rng, class: &AccuracyClass, sigma: f64) -> Self {
        let sigma = sanitize(sigma);
        let mut draw = |limit: f64| gaussian(rng).clamp(-3.0, 3.0) * sigma * limit;
        Self {
            voltage: draw(class.voltage_pct) / 100.0,
            current: draw(class.current_pct) / 100.0,
            active: draw(class.active_power_pct) / 100.0,
            reactive: draw(class.reactive_power_pct) / 100.0,
            frequency_hz: draw(class.frequency_hz),
        }
    }

    /// Relative PF error these errors cause, PF = P/(U·I) [1].
    pub fn power_factor_error(&self) -> f64 {
        (1.0 + self.active) / ((1.0 + self.voltage) * (1.0 + self.current)) - 1.0
    }

    /// `m` as a meter with these errors reads it.
    pub(crate) fn apply(&self, m: &Measured) -> Measured {
        Measured {
            voltage_v: m.voltage_v * (1.0 + self.voltage),
            current_a: m.current_a * (1.0 + self.current),
            active_w: m.active_w * (1.0 + self.active),
            reactive_var: m.reactive_var * (1.0 + self.reactive),
            frequency_hz: if m.frequency_hz > 0.0 {
                m.frequency_hz + self.frequency_hz
            } else {
                0.0
            },
        }
    }
}

/// A fraction in [0, 1]; anything else is 0 (no error rather than a panic).
fn sanitize(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// A standard normal draw (Box–Muller; `rand` 0.9 has no normal
/// distribution without `rand_distr`).
pub(crate) fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn calibration_stays_inside_the_spread() {
        let class = AccuracyClass::KPM31C;
        for seed in 0..500 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let e = Errors::calibration(&mut rng, &class, 0.5);
            assert!(e.voltage.abs() <= 0.001 && e.current.abs() <= 0.001);
            assert!(e.active.abs() <= 0.0025 && e.reactive.abs() <= 0.01);
            assert!(e.frequency_hz.abs() <= 0.01);
            assert!(e.power_factor_error().abs() <= 0.0025);
        }
    }

    #[test]
    fn noise_is_truncated() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..2000 {
            let e = Errors::noise(&mut rng, &AccuracyClass::KPM31, 0.02);
            assert!(e.voltage.abs() <= 3.0 * 0.02 * 0.002 + 1e-15);
        }
    }

    #[test]
    fn reads_a_profile_accuracy_table() {
        let class: AccuracyClass = toml::from_str(
            "voltage_pct = 0.2\ncurrent_pct = 0.2\nactive_power_pct = 0.5\n\
             reactive_power_pct = 2.0\npower_factor_pct = 0.5\nfrequency_hz = 0.02",
        )
        .unwrap();
        assert_eq!(class, AccuracyClass::KPM31C);
    }

    #[test]
    fn gaussian_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let xs: Vec<f64> = (0..20000).map(|_| gaussian(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
