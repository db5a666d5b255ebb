//! Simulated time.
//!
//! Every layer below the runtime works on [`SimTime`]: milliseconds on a
//! monotonic simulated timeline. Nothing in `meter/` or `physics/` reads a
//! real clock; the runtime (real time, N× real time, or fast-forward) decides
//! how simulated time maps to wall time and passes it in.
//!
//! The timeline is anchored to calendar time so that it can be shown as a
//! date: `SimTime(0)` is 1970-01-01 00:00:00 in the meter's local time (the
//! meter's clock has no time zone and no daylight saving). The meter's own
//! real-time clock is a separate, settable offset from this timeline.

use std::fmt;
use std::ops::{Add, Sub};

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// A point on the simulated timeline [ms since 1970-01-01 00:00:00 local].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(pub i64);

/// A span of simulated time [ms].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(pub i64);

impl SimDuration {
    pub const ZERO: Self = Self(0);

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn from_secs(s: i64) -> Self {
        Self(s * 1000)
    }

    pub const fn from_minutes(m: i64) -> Self {
        Self(m * 60_000)
    }

    pub const fn from_hours(h: i64) -> Self {
        Self(h * 3_600_000)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This span in hours, for energy integration [h].
    pub fn as_hours(self) -> f64 {
        self.0 as f64 / 3_600_000.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl SimTime {
    /// The simulated instant that shows as `dt` on the timeline's calendar.
    pub fn from_datetime(dt: NaiveDateTime) -> Self {
        Self(dt.and_utc().timestamp_millis())
    }

    /// The calendar date and time of this instant. Out-of-range values (beyond
    /// year ±262143) saturate at the ends of chrono's range.
    pub fn to_datetime(self) -> NaiveDateTime {
        match DateTime::from_timestamp_millis(self.0) {
            Some(dt) => dt.naive_utc(),
            None if self.0 < 0 => NaiveDateTime::MIN,
            None => NaiveDateTime::MAX,
        }
    }

    pub fn saturating_add(self, d: SimDuration) -> Self {
        Self(self.0.saturating_add(d.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        self.saturating_add(rhs)
    }
}

impl Sub<SimDuration> for SimTime {
    type Output = SimTime;
    fn sub(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_sub(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, rhs: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%d %H:%M:%S%.3f"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn calendar_round_trip() {
        let dt = NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_milli_opt(23, 59, 59, 999)
            .unwrap();
        let t = SimTime::from_datetime(dt);
        assert_eq!(t.to_datetime(), dt);
        assert_eq!(
            (t + SimDuration::from_millis(1)).to_datetime().to_string(),
            "2024-03-01 00:00:00"
        );
    }

    #[test]
    fn durations_convert_to_hours() {
        assert_eq!(SimDuration::from_minutes(90).as_hours(), 1.5);
        assert_eq!(SimTime(5000) - SimTime(2000), SimDuration::from_secs(3));
    }
}
