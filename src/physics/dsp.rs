//! The metering chip's DSP (SPEC §2 "Sampling"): what it computes from one
//! window of samples. It sees only the samples, never the phasors the
//! waveforms were made from.
//!
//! * `Urms = √mean(v²)`, `Irms = √mean(i²)`, `P = mean(v·i)`.
//! * `Q = mean(v̂·i)`, with `v̂` the voltage shifted by 90° at every
//!   harmonic (a Hilbert transform, as the ADE7953 family does; the sign makes
//!   Q > 0 for a lagging current), or at the fundamental only
//!   (IEC 62053-24). Because the window holds whole cycles, the shift is done
//!   exactly on the DFT bins of the harmonics of the supply frequency.
//! * F from the positive-going zero crossings of the low-pass-filtered
//!   voltage, interpolated linearly between samples, averaged over the
//!   window.

use serde::{Deserialize, Serialize};

use super::supply::Supply;
use super::synth::{supply_frequency, Spectra, Window};

/// Cut-off of the low-pass filter before the zero-crossing detector [Hz]
const ZERO_CROSSING_CUTOFF_HZ: f64 = 75.0;
/// Below this filtered RMS [V] there is no usable voltage: F reads 0.
const MIN_VOLTAGE_FOR_FREQUENCY_V: f64 = 0.5;
/// Hysteresis of the zero-crossing detector, relative to the filtered RMS.
const HYSTERESIS_RATIO: f64 = 0.1;

/// What the reactive power covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactiveMode {
    /// 90° shift of every harmonic: Q = Σ U_h·I_h·sin φ_h.
    #[default]
    AllHarmonics,
    /// Fundamental only (IEC 62053-24): Q = U1·I1·sin φ1.
    Fundamental,
}

/// The chip's results for one window, before calibration errors.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Measured {
    /// [V]
    pub voltage_v: f64,
    /// [A]
    pub current_a: f64,
    /// [W]
    pub active_w: f64,
    /// [var]
    pub reactive_var: f64,
    /// [Hz]
    pub frequency_hz: f64,
}

/// How the chip's results are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Synthesise the sampled window and measure it as the DSP does.
    #[default]
    Sampled,
    /// Closed-form values from the spectra (what `Sampled` converges to for
    /// a periodic window): no samples, no zero crossings, ~30× cheaper on a
    /// cache miss. For fast-forward runs whose supply or load changes at
    /// almost every step. F is the supply frequency; the supply's sample
    /// noise adds `noise_v²` to U².
    Analytic,
}

/// The closed-form results for `spectra` on `supply`:
/// U = √Σ|U_h|², I = √Σ|I_h|², P + jQ = Σ U_h·conj(I_h) (h = 1 only for Q
/// in `Fundamental` mode).
pub(crate) fn analytic(spectra: &Spectra, supply: &Supply, mode: ReactiveMode) -> Measured {
    if !supply.is_on() {
        return Measured::default();
    }
    let rms = |s: &super::phasor::Spectrum| s.iter().map(|(_, x)| x.norm() * x.norm()).sum::<f64>();
    let noise = if supply.noise_v.is_finite() {
        supply.noise_v
    } else {
        0.0
    };
    let (mut p, mut q) = (0.0, 0.0);
    for (h, u) in spectra.voltage.iter() {
        let s = u * spectra.current.get(h).conj();
        p += s.re;
        if h == 1 || mode == ReactiveMode::AllHarmonics {
            q += s.im;
        }
    }
    Measured {
        voltage_v: (rms(&spectra.voltage) + noise * noise).sqrt(),
        current_a: rms(&spectra.current).sqrt(),
        active_w: p,
        reactive_var: q,
        frequency_hz: supply_frequency(supply),
    }
}

/// Measure one window.
pub(crate) fn measure(window: &Window, mode: ReactiveMode) -> Measured {
    let v = window.window_voltage();
    let i = &window.current;
    let n = v.len().min(i.len());
    if n == 0 {
        return Measured::default();
    }
    let (v, i) = (&v[..n], &i[..n]);
    // One pass for Σv², Σi², Σv·i, even and odd samples summed apart so
    // the additions overlap.
    let (mut even, mut odd) = ([0.0; 3], [0.0; 3]);
    let (vc, ic) = (v.chunks_exact(2), i.chunks_exact(2));
    let (v_rest, i_rest) = (vc.remainder(), ic.remainder());
    for (x, y) in vc.zip(ic) {
        even[0] += x[0] * x[0];
        even[1] += y[0] * y[0];
        even[2] += x[0] * y[0];
        odd[0] += x[1] * x[1];
        odd[1] += y[1] * y[1];
        odd[2] += x[1] * y[1];
    }
    for (x, y) in v_rest.iter().zip(i_rest) {
        even[0] += x * x;
        even[1] += y * y;
        even[2] += x * y;
    }
    let [vv, ii, vi] = [even[0] + odd[0], even[1] + odd[1], even[2] + odd[2]];
    let current_a = (ii / n as f64).sqrt();
    let (active_w, reactive_var) = if current_a > 0.0 {
        (vi / n as f64, reactive(v, i, window.cycles as usize, mode))
    } else {
        (0.0, 0.0)
    };
    Measured {
        voltage_v: (vv / n as f64).sqrt(),
        current_a,
        active_w,
        reactive_var,
        frequency_hz: frequency(window),
    }
}

/// `Q = mean(v̂·i)`, with `v̂` the voltage delayed by 90° at every harmonic,
/// so that `Q = U·I·sin φ` for a current lagging by φ: each harmonic
/// `√2·|V|·cos(hωt + α)` of v becomes `√2·|V|·sin(hωt + α)` in v̂. The
/// shift is done on the DFT bins `k = h·cycles` below Nyquist (all of
/// them, or the fundamental's only).
///
/// With `V_k` the RMS phasor of bin k, `v̂[m] = √2·Σ_k Im(V_k·e^{j2πkm/n})`,
/// so `mean(v̂·i) = (√2/n)·Σ_k (Re V_k·Σ_m i[m]·sin(2πkm/n) + Im V_k·Σ_m
/// i[m]·cos(2πkm/n))`: the same sum grouped by bin, which needs no v̂
/// array and takes the voltage's and the current's sums in one pass.
///
/// Every bin `k = h·cycles` is periodic in m with period `L = n/g`,
/// `g = gcd(cycles, n)`, so both signals are first folded onto L samples
/// (`x'[r] = Σ_c x[r + c·L]`) and the bins taken over those: exactly the
/// same sums, regrouped, at 1/g of the cost. At a nominal 50 Hz (1600
/// samples, 10 cycles) L is one cycle, 160 samples.
fn reactive(v: &[f64], i: &[f64], cycles: usize, mode: ReactiveMode) -> f64 {
    let n = v.len().min(i.len());
    if cycles == 0 || n < 2 {
        return 0.0;
    }
    let g = gcd(cycles, n);
    let l = n / g;
    let mut folded_v = v[..l].to_vec();
    let mut folded_i = i[..l].to_vec();
    for (vc, ic) in v[l..n].chunks_exact(l).zip(i[l..n].chunks_exact(l)) {
        for (f, x) in folded_v.iter_mut().zip(vc) {
            *f += x;
        }
        for (f, x) in folded_i.iter_mut().zip(ic) {
            *f += x;
        }
    }
    // cos(2πkr/L) is even and sin(2πkr/L) odd about r = 0 (mod L): the bins
    // need only the even part of each signal against the cosines and the odd
    // part against the sines, r = 1…(L−1)/2, plus r = 0 and r = L/2.
    let pairs: Vec<[f64; 4]> = (1..l.div_ceil(2))
        .map(|r| {
            let (v0, v1, i0, i1) = (folded_v[r], folded_v[l - r], folded_i[r], folded_i[l - r]);
            [v0 + v1, v0 - v1, i0 + i1, i0 - i1]
        })
        .collect();
    let middle = if l.is_multiple_of(2) {
        (folded_v[l / 2], folded_i[l / 2])
    } else {
        (0.0, 0.0)
    };
    let orders = match mode {
        ReactiveMode::AllHarmonics => (n - 1) / 2 / cycles,
        ReactiveMode::Fundamental => 1,
    };
    TABLE.with_borrow_mut(|table| {
        let table = table.get(l);
        let scale = std::f64::consts::SQRT_2 / n as f64;
        let (mut fundamental, mut q) = (0.0, 0.0);
        for h in 1..=orders {
            let k = h * cycles;
            if 2 * k >= n {
                break;
            }
            // Bin k of the window is bin k/g of the folded signals.
            let step = (k / g) % l;
            // [Σ v·cos, Σ v·sin, Σ i·cos, Σ i·sin] over r ≥ 1, in two
            // interleaved halves (r odd, r even) so the additions overlap.
            let sums = bin_sums(&pairs, table, step);
            let parity = if step.is_multiple_of(2) { 1.0 } else { -1.0 }; // cos(π·step)
            let v_cos = folded_v[0] + sums[0] + parity * middle.0;
            let i_cos = folded_i[0] + sums[2] + parity * middle.1;
            let (v_sin, i_sin) = (sums[1], sums[3]);
            // RMS phasor of harmonic h: V = (√2/n)·Σ v[m]·e^{−j2πkm/n}.
            let (re, im) = (v_cos * scale, -v_sin * scale);
            let magnitude = re.hypot(im);
            if h == 1 {
                fundamental = magnitude;
            }
            // An empty bin adds nothing to v̂ (< 1e-12 of the fundamental's
            // contribution).
            if magnitude <= NEGLIGIBLE_BIN * fundamental {
                continue;
            }
            q += scale * (re * i_sin + im * i_cos);
        }
        q
    })
}

/// `[Σ e_v·cos, Σ o_v·sin, Σ e_i·cos, Σ o_i·sin]` over `pairs[r − 1] =
/// [e_v, o_v, e_i, o_i]` (r = 1, 2, …), the angle being `2π·step·r/L`.
fn bin_sums(pairs: &[[f64; 4]], table: &[(f64, f64)], step: usize) -> [f64; 4] {
    let l = table.len();
    let step2 = (2 * step) % l;
    let (mut odd, mut even) = ([0.0; 4], [0.0; 4]);
    let (mut i_odd, mut i_even) = (step % l, step2);
    let mut chunks = pairs.chunks_exact(2);
    for chunk in &mut chunks {
        let ((c1, s1), (c2, s2)) = (table[i_odd], table[i_even]);
        let (p, q) = (chunk[0], chunk[1]);
        odd[0] += p[0] * c1;
        odd[1] += p[1] * s1;
        odd[2] += p[2] * c1;
        odd[3] += p[3] * s1;
        even[0] += q[0] * c2;
        even[1] += q[1] * s2;
        even[2] += q[2] * c2;
        even[3] += q[3] * s2;
        i_odd = wrap(i_odd + step2, l);
        i_even = wrap(i_even + step2, l);
    }
    if let [p] = chunks.remainder() {
        let (c1, s1) = table[i_odd];
        odd[0] += p[0] * c1;
        odd[1] += p[1] * s1;
        odd[2] += p[2] * c1;
        odd[3] += p[3] * s1;
    }
    [
        odd[0] + even[0],
        odd[1] + even[1],
        odd[2] + even[2],
        odd[3] + even[3],
    ]
}

/// Greatest common divisor.
fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

thread_local! {
    /// The last DFT table used on this thread: one per thread rather than
    /// per meter, as every meter on the same supply frequency needs the same.
    static TABLE: std::cell::RefCell<Table> = std::cell::RefCell::default();
}

/// `(cos(2πj/L), sin(2πj/L))` for j < L.
#[derive(Debug, Default)]
struct Table {
    len: usize,
    cos_sin: Vec<(f64, f64)>,
}

impl Table {
    /// The table for `len` points, computed if the last one was another.
    fn get(&mut self, len: usize) -> &[(f64, f64)] {
        if self.len != len || self.cos_sin.len() != len {
            self.cos_sin = (0..len)
                .map(|j| {
                    let a = std::f64::consts::TAU * j as f64 / len as f64;
                    (a.cos(), a.sin())
                })
                .collect();
            self.len = len;
        }
        &self.cos_sin
    }
}

/// A harmonic bin below this fraction of the fundamental is left out of v̂.
const NEGLIGIBLE_BIN: f64 = 1e-12;

/// `i mod n` for `i < 2n` (cheaper than `%` in the DFT's inner loop).
fn wrap(i: usize, n: usize) -> usize {
    if i >= n {
        i - n
    } else {
        i
    }
}

/// Frequency [Hz] from the interpolated positive-going zero crossings of
/// the low-pass-filtered voltage inside the window (the filter runs over the
/// pre-roll first, so it has settled).
fn frequency(window: &Window) -> f64 {
    let fs = window.sample_rate_hz;
    let y = low_pass(&window.voltage, ZERO_CROSSING_CUTOFF_HZ, fs);
    let inside = y.get(window.pre_roll..).unwrap_or(&[]);
    if inside.is_empty() {
        return 0.0;
    }
    let pairs = inside.chunks_exact(2);
    let rest = pairs.remainder().iter().map(|x| x * x).sum::<f64>();
    let (even, odd) = pairs.fold((rest, 0.0), |(e, o), x| (e + x[0] * x[0], o + x[1] * x[1]));
    let rms = ((even + odd) / inside.len() as f64).sqrt();
    if rms < MIN_VOLTAGE_FOR_FREQUENCY_V {
        return 0.0;
    }
    let hysteresis = HYSTERESIS_RATIO * rms;
    let (mut armed, mut first, mut last, mut count) = (false, 0.0, 0.0, 0usize);
    for m in 1..y.len() {
        let (a, b) = (y[m - 1], y[m]);
        if b < -hysteresis {
            armed = true;
        }
        if armed && a < 0.0 && b >= 0.0 {
            armed = false;
            if m > window.pre_roll {
                let t = (m - 1) as f64 + a / (a - b);
                if count == 0 {
                    first = t;
                }
                last = t;
                count += 1;
            }
        }
    }
    if count < 2 || last <= first {
        return 0.0;
    }
    (count - 1) as f64 * fs / (last - first)
}

/// Second-order Butterworth low-pass (bilinear transform), zero initial
/// state.
fn low_pass(x: &[f64], cutoff_hz: f64, fs: f64) -> Vec<f64> {
    let k = (std::f64::consts::PI * cutoff_hz / fs).tan();
    let r2 = std::f64::consts::SQRT_2;
    let norm = 1.0 / (1.0 + r2 * k + k * k);
    let b0 = k * k * norm;
    let (b1, b2) = (2.0 * b0, b0);
    let a1 = 2.0 * (k * k - 1.0) * norm;
    let a2 = (1.0 - r2 * k + k * k) * norm;
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    x.iter()
        .map(|&x0| {
            // y1's term last: the only one waiting on the previous sample.
            let y0 = (b0 * x0 + b1 * x1 + b2 * x2 - a2 * y2) - a1 * y1;
            (x2, x1, y2, y1) = (x1, x0, y1, y0);
            y0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window of `√2·U·cos(ωt)` and `√2·I·cos(ωt − φ)` straight from the
    /// formula, independent of the synthesiser.
    fn sine_window(u: f64, i: f64, phi_deg: f64, f: f64, cycles: u32) -> Window {
        let fs = 8000.0;
        let n = (cycles as f64 * fs / f).round() as usize;
        let pre = (2.0 * fs / f).round() as usize;
        let w = std::f64::consts::TAU * f / fs;
        let r2 = std::f64::consts::SQRT_2;
        Window {
            sample_rate_hz: fs,
            cycles,
            pre_roll: pre,
            voltage: (0..pre + n)
                .map(|k| r2 * u * (w * (k as f64 - pre as f64)).cos())
                .collect(),
            current: (0..n)
                .map(|m| r2 * i * (w * m as f64 - phi_deg.to_radians()).cos())
                .collect(),
        }
    }

    #[test]
    fn lagging_current_gives_positive_q() {
        let m = measure(
            &sine_window(230.0, 10.0, 30.0, 50.0, 10),
            ReactiveMode::AllHarmonics,
        );
        assert!((m.voltage_v - 230.0).abs() < 1e-9);
        assert!((m.current_a - 10.0).abs() < 1e-9);
        assert!((m.active_w - 2300.0 * 30f64.to_radians().cos()).abs() < 1e-7);
        assert!(
            (m.reactive_var - 2300.0 * 0.5).abs() < 1e-7,
            "{}",
            m.reactive_var
        );
        assert!((m.frequency_hz - 50.0).abs() < 1e-6, "{}", m.frequency_hz);
    }

    #[test]
    fn leading_current_gives_negative_q() {
        let m = measure(
            &sine_window(220.0, 5.0, -60.0, 60.0, 12),
            ReactiveMode::Fundamental,
        );
        assert!((m.reactive_var + 1100.0 * 60f64.to_radians().sin()).abs() < 1e-7);
        assert!((m.frequency_hz - 60.0).abs() < 1e-4, "{}", m.frequency_hz);
    }

    #[test]
    fn frequency_off_nominal() {
        for f in [45.0, 49.9, 50.37, 59.5, 65.0] {
            let m = measure(
                &sine_window(220.0, 0.0, 0.0, f, 10),
                ReactiveMode::AllHarmonics,
            );
            assert!((m.frequency_hz - f).abs() < 1e-4, "{f}: {}", m.frequency_hz);
        }
    }

    #[test]
    fn no_voltage_no_frequency() {
        let m = measure(
            &sine_window(0.0, 0.0, 0.0, 50.0, 10),
            ReactiveMode::AllHarmonics,
        );
        assert_eq!(m, Measured::default());
    }

    #[test]
    fn low_pass_has_unity_dc_gain() {
        let y = low_pass(&[1.0; 2000], 75.0, 8000.0);
        assert!((y[1999] - 1.0).abs() < 1e-9);
    }
}
