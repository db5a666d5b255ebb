//! Waveform synthesis: the sampled voltage and current of one measurement
//! window, as the meter's ADCs would see them (SPEC §2 "Sampling").
//!
//! The window holds a whole number of cycles of the supply (the metering
//! chip accumulates over line cycles, found by zero crossings): by default
//! 0.2 s worth, i.e. 10 cycles at 50 Hz and 12 at 60 Hz. Before it the
//! voltage has a short pre-roll, so that the DSP's filters have settled when
//! the window starts — as they have in a meter that samples continuously.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::load::Load;
use super::phasor::{Phasor, Spectrum};
use super::supply::Supply;

/// Sampling rate used unless the profile says otherwise [Hz]
pub const DEFAULT_SAMPLE_RATE_HZ: f64 = 8000.0;
/// Length of a measurement window, rounded to whole cycles [s]
pub const DEFAULT_WINDOW_S: f64 = 0.2;
/// Cycles of voltage synthesised before the window for filter settling [1]
const PRE_ROLL_CYCLES: f64 = 2.0;
/// Frequencies outside this range [Hz] are clamped for synthesis, so that a
/// nonsense supply cannot ask for an unbounded number of samples.
const FREQUENCY_RANGE_HZ: (f64, f64) = (10.0, 1000.0);

/// One synthesised measurement window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Sampling rate [Hz]
    pub sample_rate_hz: f64,
    /// Whole supply cycles the window spans [1]
    pub cycles: u32,
    /// Voltage samples before the window, for filter settling [1]
    pub pre_roll: usize,
    /// Voltage samples [V]: `pre_roll` samples, then the window's
    pub voltage: Vec<f64>,
    /// Current samples [A], the window only
    pub current: Vec<f64>,
}

impl Window {
    /// The voltage samples inside the window [V].
    pub fn window_voltage(&self) -> &[f64] {
        self.voltage.get(self.pre_roll..).unwrap_or(&[])
    }

    /// Number of samples in the window [1].
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// Whether the window has no samples.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
}

/// How to sample: from the frontend's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sampling {
    /// [Hz]
    pub sample_rate_hz: f64,
    /// [s]
    pub window_s: f64,
}

/// The voltage and current spectra the window is made from, harmonics
/// at or above Nyquist left out (the meter's anti-alias filter removes them).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Spectra {
    pub voltage: Spectrum,
    pub current: Spectrum,
}

/// Sampling rate actually used [Hz].
fn sample_rate(sampling: Sampling) -> f64 {
    if sampling.sample_rate_hz.is_finite() && sampling.sample_rate_hz >= 100.0 {
        sampling.sample_rate_hz
    } else {
        DEFAULT_SAMPLE_RATE_HZ
    }
}

/// Supply frequency actually synthesised [Hz].
pub(crate) fn supply_frequency(supply: &Supply) -> f64 {
    if supply.frequency_hz.is_finite() {
        supply
            .frequency_hz
            .clamp(FREQUENCY_RANGE_HZ.0, FREQUENCY_RANGE_HZ.1)
    } else {
        50.0
    }
}

/// The spectra of `supply` feeding `load` (no current if the relay is open).
pub(crate) fn spectra(
    supply: &Supply,
    load: &Load,
    relay_closed: bool,
    sampling: Sampling,
) -> Spectra {
    if !supply.is_on() {
        return Spectra::default();
    }
    let max_order = ((sample_rate(sampling) / 2.0) / supply_frequency(supply)).ceil() as usize - 1;
    let full = supply.spectrum();
    let mut voltage = Spectrum::default();
    for (h, x) in full.iter().filter(|(h, _)| *h <= max_order) {
        voltage.add(h, x);
    }
    let current = if relay_closed {
        load.current_spectrum(&voltage, max_order)
    } else {
        Spectrum::default()
    };
    Spectra { voltage, current }
}

/// Synthesise one window of `supply` feeding `load` (no current if the
/// relay is open). `noise_seed` seeds the supply's sample noise, so a state
/// always gives the same window.
pub(crate) fn synthesize(
    supply: &Supply,
    load: &Load,
    relay_closed: bool,
    sampling: Sampling,
    noise_seed: u64,
) -> Window {
    let fs = sample_rate(sampling);
    let f0 = supply_frequency(supply);
    let window_s = if sampling.window_s.is_finite() && sampling.window_s > 0.0 {
        sampling.window_s.min(10.0)
    } else {
        DEFAULT_WINDOW_S
    };
    let cycles = (window_s * f0).round().max(1.0);
    let n = (cycles * fs / f0).round() as usize;
    let pre_roll = (PRE_ROLL_CYCLES * fs / f0).round() as usize;

    let mut window = Window {
        sample_rate_hz: fs,
        cycles: cycles as u32,
        pre_roll,
        voltage: vec![0.0; pre_roll + n],
        current: vec![0.0; n],
    };
    if !supply.is_on() {
        return window;
    }

    // Instantaneous frequency f0 + drift·(t − Tw/2): f0 at the window's
    // middle. Phase θ(t) = 2π∫f, θ(0) = 0.
    let drift = if supply.frequency_drift_hz_per_s.is_finite() {
        supply.frequency_drift_hz_per_s
    } else {
        0.0
    };
    let phase = Phase {
        fs,
        f0,
        drift,
        t_mid: n as f64 / fs / 2.0,
    };
    let spectra = spectra(supply, load, relay_closed, sampling);
    add_harmonics(
        &mut window.voltage,
        -(pre_roll as isize),
        &spectra.voltage,
        &phase,
    );
    add_harmonics(&mut window.current, 0, &spectra.current, &phase);

    let noise = if supply.noise_v.is_finite() {
        supply.noise_v.max(0.0)
    } else {
        0.0
    };
    if noise > 0.0 {
        add_noise(
            &mut window.voltage,
            noise,
            &mut ChaCha8Rng::seed_from_u64(noise_seed),
        );
    }
    window
}

/// Add `sigma`·N(0, 1) to every sample: Box–Muller, using both normals
/// each pair of uniforms gives (they are independent), so one logarithm,
/// square root and sine/cosine pair per two samples.
fn add_noise(out: &mut [f64], sigma: f64, rng: &mut ChaCha8Rng) {
    let mut normal_pair = || {
        let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
        (r * cos, r * sin)
    };
    let mut pairs = out.chunks_exact_mut(2);
    for pair in &mut pairs {
        let (a, b) = normal_pair();
        pair[0] += sigma * a;
        pair[1] += sigma * b;
    }
    if let [y] = pairs.into_remainder() {
        *y += sigma * normal_pair().0;
    }
}

/// The supply's phase θ at sample m (m = 0 is the window's first sample):
/// `θ(t) = 2π·(f0·t + drift/2·((t − t_mid)² − t_mid²))`, `t = m/fs`.
struct Phase {
    fs: f64,
    f0: f64,
    drift: f64,
    t_mid: f64,
}

impl Phase {
    /// θ(m) [rad].
    fn at(&self, m: isize) -> f64 {
        let t = m as f64 / self.fs;
        std::f64::consts::TAU
            * (self.f0 * t
                + 0.5 * self.drift * ((t - self.t_mid).powi(2) - self.t_mid * self.t_mid))
    }

    /// θ(m + 1) − θ(m) [rad]; it grows by `2·curvature()` per sample.
    fn step(&self, m: isize) -> f64 {
        std::f64::consts::TAU * (self.f0 - self.drift * self.t_mid) / self.fs
            + self.curvature() * (2 * m + 1) as f64
    }

    /// `π·drift/fs²`, the coefficient of m² in θ(m) [rad].
    fn curvature(&self) -> f64 {
        std::f64::consts::PI * self.drift / (self.fs * self.fs)
    }
}

/// Samples between exact evaluations of each harmonic's phase; in between
/// the phasor is rotated by a complex multiply per sample, on two
/// interleaved lanes (even and odd samples) of 32 rotations each. The
/// rotation's rounding error grows by about 1e-16 per step, so it stays
/// below 1e-14 over a block.
const RESYNC_SAMPLES: usize = 64;

/// Add `√2·|X_h|·cos(h·θ(m) + arg X_h)` of every harmonic in `spectrum` to
/// `out[j]`, sample m = `first + j`.
///
/// Instead of a cosine per sample and harmonic, the harmonic's phasor
/// `z = √2·|X_h|·e^{j(h·θ(m) + arg X_h)}` is rotated:
/// `z(m+2) = z(m)·w(m)`, `w(m) = e^{j·h·(θ(m+2) − θ(m))}`, the even and
/// the odd samples each on their own (two independent chains of
/// multiplies). With a frequency drift the rotation itself turns by
/// `e^{j·8h·curvature}` per step. Both are evaluated exactly every
/// `RESYNC_SAMPLES` samples.
fn add_harmonics(out: &mut [f64], first: isize, spectrum: &Spectrum, phase: &Phase) {
    let drifting = phase.curvature() != 0.0;
    for (h, x) in spectrum.iter() {
        let (amplitude, arg, h) = (std::f64::consts::SQRT_2 * x.norm(), x.arg(), h as f64);
        let turn = Phasor::polar(1.0, 8.0 * h * phase.curvature());
        for (block, chunk) in out.chunks_mut(RESYNC_SAMPLES).enumerate() {
            let m0 = first + (block * RESYNC_SAMPLES) as isize;
            let z = [
                Phasor::polar(amplitude, h * phase.at(m0) + arg),
                Phasor::polar(amplitude, h * phase.at(m0 + 1) + arg),
            ];
            let w_even = Phasor::polar(1.0, h * (phase.step(m0) + phase.step(m0 + 1)));
            if drifting {
                let w_odd = Phasor::polar(1.0, h * (phase.step(m0 + 1) + phase.step(m0 + 2)));
                rotate::<true>(chunk, z, [w_even, w_odd], turn);
            } else {
                rotate::<false>(chunk, z, [w_even, w_even], turn);
            }
        }
    }
}

/// `out[2j + l] += Re z_l`, then `z_l *= w_l` (and `w_l *= turn` if
/// `DRIFT`), lanes l = 0 (even samples) and 1 (odd).
fn rotate<const DRIFT: bool>(
    out: &mut [f64],
    mut z: [Phasor; 2],
    mut w: [Phasor; 2],
    turn: Phasor,
) {
    let mut pairs = out.chunks_exact_mut(2);
    for pair in &mut pairs {
        pair[0] += z[0].re;
        pair[1] += z[1].re;
        z = [z[0] * w[0], z[1] * w[1]];
        if DRIFT {
            w = [w[0] * turn, w[1] * turn];
        }
    }
    if let [y] = pairs.into_remainder() {
        *y += z[0].re;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::load::Component;

    const SAMPLING: Sampling = Sampling {
        sample_rate_hz: 8000.0,
        window_s: 0.2,
    };

    #[test]
    fn whole_cycles_at_50_and_60_hz() {
        let w = synthesize(
            &Supply::sinusoidal(220.0, 50.0),
            &Load::default(),
            true,
            SAMPLING,
            0,
        );
        assert_eq!((w.cycles, w.len(), w.pre_roll), (10, 1600, 320));
        let w = synthesize(
            &Supply::sinusoidal(220.0, 60.0),
            &Load::default(),
            true,
            SAMPLING,
            0,
        );
        assert_eq!((w.cycles, w.len()), (12, 1600));
    }

    #[test]
    fn samples_follow_the_phasors() {
        let load = Load::of([Component::Inductive {
            power_w: 1000.0,
            power_factor: 0.5,
            rated_voltage_v: None,
        }]);
        let w = synthesize(&Supply::sinusoidal(200.0, 50.0), &load, true, SAMPLING, 0);
        let peak_v = 200.0 * std::f64::consts::SQRT_2;
        assert!((w.window_voltage()[0] - peak_v).abs() < 1e-9);
        // i = √2·I·cos(ωt − 60°), I = S/U = 2000/200 = 10 A.
        let expected_i0 = 10.0 * std::f64::consts::SQRT_2 * 60f64.to_radians().cos();
        assert!((w.current[0] - expected_i0).abs() < 1e-9);
        // A quarter cycle later (40 samples): cos(90° − 60°).
        let expected_i40 = 10.0 * std::f64::consts::SQRT_2 * (-30f64).to_radians().cos();
        assert!((w.current[40] - expected_i40).abs() < 1e-9);
    }

    #[test]
    fn rotation_matches_the_cosines() {
        // Harmonics, a drift and an off-nominal frequency, against the
        // formula evaluated per sample.
        let supply = Supply {
            frequency_hz: 49.93,
            frequency_drift_hz_per_s: 0.7,
            harmonics: vec![crate::physics::Harmonic {
                order: 7,
                ratio: 0.05,
                phase_deg: 30.0,
            }],
            ..Supply::default()
        };
        let load = Load::of([Component::NonLinear {
            power_w: 300.0,
            displacement_power_factor: 0.9,
            leading: false,
            spectrum: crate::physics::HarmonicProfile::Smps,
        }]);
        let w = synthesize(&supply, &load, true, SAMPLING, 0);
        let s = spectra(&supply, &load, true, SAMPLING);
        let phase = Phase {
            fs: 8000.0,
            f0: 49.93,
            drift: 0.7,
            t_mid: w.len() as f64 / 8000.0 / 2.0,
        };
        let direct = |spectrum: &Spectrum, m: isize| {
            spectrum
                .iter()
                .map(|(h, x)| {
                    std::f64::consts::SQRT_2 * x.norm() * (h as f64 * phase.at(m) + x.arg()).cos()
                })
                .sum::<f64>()
        };
        let pre = w.pre_roll as isize;
        for (k, v) in w.voltage.iter().enumerate() {
            assert!((v - direct(&s.voltage, k as isize - pre)).abs() < 1e-10);
        }
        for (m, i) in w.current.iter().enumerate() {
            assert!((i - direct(&s.current, m as isize)).abs() < 1e-12);
        }
    }

    #[test]
    fn open_relay_or_outage_gives_no_current() {
        let load = Load::power(1000.0, 0.0);
        let w = synthesize(&Supply::default(), &load, false, SAMPLING, 0);
        assert!(w.current.iter().all(|&i| i == 0.0));
        assert!(w.voltage.iter().any(|&v| v != 0.0));
        let w = synthesize(&Supply::sinusoidal(0.0, 50.0), &load, true, SAMPLING, 0);
        assert!(w.current.iter().chain(&w.voltage).all(|&x| x == 0.0));
    }

    #[test]
    fn noise_is_white_and_normal() {
        // Noise = noisy window − clean window, over a few seeds.
        let clean = synthesize(&Supply::default(), &Load::default(), true, SAMPLING, 0);
        let noisy = Supply {
            noise_v: 2.0,
            ..Supply::default()
        };
        let mut x = Vec::new();
        for seed in 0..8 {
            let w = synthesize(&noisy, &Load::default(), true, SAMPLING, seed);
            x.extend(
                w.voltage
                    .iter()
                    .zip(&clean.voltage)
                    .map(|(a, b)| (a - b) / 2.0),
            );
        }
        let n = x.len() as f64; // 15,360
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let lag1 = x
            .windows(2)
            .map(|p| (p[0] - mean) * (p[1] - mean))
            .sum::<f64>()
            / n
            / var;
        let kurtosis = x.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n / (var * var);
        // Standard errors: mean 0.008, var 0.011, lag-1 0.008, kurtosis 0.04.
        assert!(mean.abs() < 0.04, "mean {mean}");
        assert!((var - 1.0).abs() < 0.06, "variance {var}");
        assert!(lag1.abs() < 0.04, "lag-1 correlation {lag1}");
        assert!((kurtosis - 3.0).abs() < 0.2, "kurtosis {kurtosis}");
    }

    #[test]
    fn noise_is_seeded() {
        let noisy = Supply {
            noise_v: 1.0,
            ..Supply::default()
        };
        let a = synthesize(&noisy, &Load::default(), true, SAMPLING, 7);
        let b = synthesize(&noisy, &Load::default(), true, SAMPLING, 7);
        let c = synthesize(&noisy, &Load::default(), true, SAMPLING, 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
