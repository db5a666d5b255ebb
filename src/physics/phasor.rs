//! A minimal complex number for RMS phasors, so the physics model needs no
//! numerics crate.
//!
//! Convention: a phasor `X = |X|·e^{jφ}` stands for the waveform
//! `x(t) = √2·|X|·cos(h·ω·t + φ)`, i.e. its modulus is the RMS value of that
//! harmonic and its argument the phase at `t = 0`.

use std::ops::{Add, AddAssign, Mul};

/// A complex number; used as an RMS phasor of one harmonic.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Phasor {
    pub re: f64,
    pub im: f64,
}

impl Phasor {
    pub const ZERO: Self = Self { re: 0.0, im: 0.0 };

    pub fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    /// `magnitude·e^{j·angle_rad}`.
    pub fn polar(magnitude: f64, angle_rad: f64) -> Self {
        Self {
            re: magnitude * angle_rad.cos(),
            im: magnitude * angle_rad.sin(),
        }
    }

    pub fn norm(self) -> f64 {
        self.re.hypot(self.im)
    }

    pub fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }

    pub fn conj(self) -> Self {
        Self {
            re: self.re,
            im: -self.im,
        }
    }

    pub fn scale(self, k: f64) -> Self {
        Self {
            re: self.re * k,
            im: self.im * k,
        }
    }

    /// `self / rhs`; zero when `rhs` is zero (a missing branch draws nothing).
    pub fn div(self, rhs: Self) -> Self {
        let d = rhs.re * rhs.re + rhs.im * rhs.im;
        if d == 0.0 {
            return Self::ZERO;
        }
        Self {
            re: (self.re * rhs.re + self.im * rhs.im) / d,
            im: (self.im * rhs.re - self.re * rhs.im) / d,
        }
    }
}

impl Add for Phasor {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self {
            re: self.re + rhs.re,
            im: self.im + rhs.im,
        }
    }
}

impl AddAssign for Phasor {
    fn add_assign(&mut self, rhs: Self) {
        self.re += rhs.re;
        self.im += rhs.im;
    }
}

impl Mul for Phasor {
    type Output = Self;
    fn mul(self, rhs: Self) -> Self {
        Self {
            re: self.re * rhs.re - self.im * rhs.im,
            im: self.re * rhs.im + self.im * rhs.re,
        }
    }
}

/// A harmonic spectrum: the RMS phasor of each harmonic order (index 1 is
/// the fundamental; index 0, DC, stays zero).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Spectrum {
    bins: Vec<Phasor>,
}

impl Spectrum {
    /// Add `x` to harmonic `order` (order 0 is ignored: no DC in the model).
    pub fn add(&mut self, order: usize, x: Phasor) {
        if order == 0 {
            return;
        }
        if self.bins.len() <= order {
            self.bins.resize(order + 1, Phasor::ZERO);
        }
        self.bins[order] += x;
    }

    /// The phasor of harmonic `order` (zero if absent).
    pub fn get(&self, order: usize) -> Phasor {
        self.bins.get(order).copied().unwrap_or(Phasor::ZERO)
    }

    /// `(order, phasor)` for every non-zero harmonic.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Phasor)> + '_ {
        self.bins
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, x)| *x != Phasor::ZERO)
    }

    /// RMS of the whole waveform: √Σ|X_h|².
    #[cfg(test)]
    pub fn rms(&self) -> f64 {
        self.iter()
            .map(|(_, x)| x.norm() * x.norm())
            .sum::<f64>()
            .sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let a = Phasor::new(3.0, 4.0);
        assert_eq!(a.norm(), 5.0);
        let b = Phasor::polar(2.0, std::f64::consts::FRAC_PI_2);
        assert!((b.re).abs() < 1e-12 && (b.im - 2.0).abs() < 1e-12);
        let q = (a * b).div(b);
        assert!((q.re - 3.0).abs() < 1e-12 && (q.im - 4.0).abs() < 1e-12);
        assert_eq!(a.div(Phasor::ZERO), Phasor::ZERO);
    }

    #[test]
    fn spectrum_rms_and_orders() {
        let mut s = Spectrum::default();
        s.add(1, Phasor::new(3.0, 0.0));
        s.add(5, Phasor::new(0.0, 4.0));
        s.add(0, Phasor::new(9.0, 0.0));
        assert!((s.rms() - 5.0).abs() < 1e-12);
        assert_eq!(s.get(3), Phasor::ZERO);
        assert_eq!(s.iter().count(), 2);
    }
}
