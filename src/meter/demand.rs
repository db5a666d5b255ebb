//! Apparent demand (register 0070H): the average apparent power over a
//! sliding window, 15 minutes updated every minute by default [decision,
//! SPEC §2].
//!
//! The window is a ring of one-minute buckets of apparent energy. Buckets are
//! closed on the meter clock's minute boundaries; long constant stretches are
//! folded in without looping over every minute, so a year of fast-forward
//! costs at most a window's worth of work per call.

use serde::{Deserialize, Serialize};

/// Sliding-window apparent demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// Closed buckets, oldest first [VA·min]
    buckets: Vec<f64>,
    /// Buckets in the window.
    window: usize,
    /// Minutes per bucket (the update period).
    period_min: u32,
    /// Energy of the bucket being filled [VA·ms]
    open: f64,
    /// Milliseconds since the open bucket started.
    open_ms: i64,
    /// The published demand [VA]
    value: f64,
}

impl Demand {
    /// A window of `window_min` minutes updated every `period_min` minutes.
    pub fn new(window_min: u32, period_min: u32) -> Self {
        let period_min = period_min.max(1);
        let window = (window_min / period_min).max(1) as usize;
        Self {
            buckets: Vec::with_capacity(window),
            window,
            period_min,
            open: 0.0,
            open_ms: 0,
            value: 0.0,
        }
    }

    /// The published demand [VA].
    pub fn value(&self) -> f64 {
        self.value
    }

    fn period_ms(&self) -> i64 {
        i64::from(self.period_min) * 60_000
    }

    /// Apparent power `s_va` [VA] flowed for `ms` [ms].
    pub fn accumulate(&mut self, s_va: f64, mut ms: i64) {
        let period = self.period_ms();
        while ms > 0 {
            let room = period - self.open_ms;
            if ms < room {
                self.open += s_va * ms as f64;
                self.open_ms += ms;
                return;
            }
            self.open += s_va * room as f64;
            ms -= room;
            self.close_bucket();
            // A whole window of identical periods: fast-forward.
            if ms >= period * self.window as i64 {
                let whole = s_va * period as f64;
                self.buckets.clear();
                self.buckets.resize(self.window, whole);
                self.publish();
                ms %= period;
            }
        }
    }

    /// Align the open bucket with the meter clock: `phase_ms` into the
    /// current period (used when the clock is set or power returns).
    pub fn align(&mut self, phase_ms: i64) {
        self.open_ms = phase_ms.clamp(0, self.period_ms() - 1);
    }

    /// The meter clock was set and is now `phase_ms` into a period. The
    /// bucket being filled ends here, short, and a new one starts: keeping
    /// its energy in the re-aligned bucket would put more than one period's
    /// worth into one bucket (a constant load would read above itself).
    pub fn clock_set(&mut self, phase_ms: i64) {
        self.close_bucket();
        self.align(phase_ms);
    }

    fn close_bucket(&mut self) {
        if self.buckets.len() == self.window {
            self.buckets.remove(0);
        }
        self.buckets.push(self.open);
        self.open = 0.0;
        self.open_ms = 0;
        self.publish();
    }

    fn publish(&mut self) {
        let window_ms = self.period_ms() as f64 * self.window as f64;
        self.value = self.buckets.iter().sum::<f64>() / window_ms;
    }

    /// Whether this window is a `window_min`/`period_min` window and its
    /// contents are plausible (a check of state loaded from outside).
    pub fn is_consistent(&self, window_min: u32, period_min: u32) -> bool {
        let fresh = Self::new(window_min, period_min);
        self.window == fresh.window
            && self.period_min == fresh.period_min
            && self.buckets.len() <= self.window
            && self.buckets.iter().all(|b| b.is_finite() && *b >= 0.0)
            && self.open.is_finite()
            && self.open >= 0.0
            && (0..self.period_ms()).contains(&self.open_ms)
            && self.value.is_finite()
            && self.value >= 0.0
    }

    /// Forget the window (after a power outage or clearing).
    pub fn reset(&mut self) {
        self.buckets.clear();
        self.open = 0.0;
        self.value = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn demand_updates_only_on_minute_boundaries() {
        let mut d = Demand::new(15, 1);
        d.accumulate(1500.0, MIN - 1);
        assert_eq!(d.value(), 0.0);
        d.accumulate(1500.0, 1);
        assert!(
            (d.value() - 100.0).abs() < 1e-9,
            "one minute of 1500 VA over 15: {}",
            d.value()
        );
    }

    #[test]
    fn a_full_window_averages_and_old_minutes_slide_out() {
        let mut d = Demand::new(15, 1);
        d.accumulate(1000.0, 15 * MIN);
        assert!((d.value() - 1000.0).abs() < 1e-9);
        d.accumulate(4000.0, 5 * MIN);
        // 10 minutes of 1000 and 5 of 4000
        assert!((d.value() - 2000.0).abs() < 1e-9, "{}", d.value());
    }

    #[test]
    fn a_clock_set_never_overfills_a_bucket() {
        let mut d = Demand::new(15, 1);
        d.accumulate(1500.0, 30 * MIN + 50_000);
        // The clock jumps from hh:mm:50 to hh:mm:10.
        d.clock_set(10_000);
        for _ in 0..(20 * 60) {
            d.accumulate(1500.0, 1000);
            assert!(d.value() <= 1500.0 + 1e-9, "{}", d.value());
        }
        assert!((d.value() - 1500.0).abs() < 1e-9);
    }

    #[test]
    fn a_long_constant_stretch_fast_forwards_exactly() {
        let mut slow = Demand::new(15, 1);
        let mut fast = Demand::new(15, 1);
        for _ in 0..(24 * 60) {
            slow.accumulate(700.0, MIN);
        }
        fast.accumulate(700.0, 24 * 60 * MIN);
        assert!((slow.value() - fast.value()).abs() < 1e-9);
        assert!((fast.value() - 700.0).abs() < 1e-9);
    }
}
