//! The built-in default load of `metertwin run`: a household's day.
//!
//! A fixed hourly profile of active power with a lagging power factor of
//! 0.95, on a 220 V 50 Hz supply. Scenarios (`--scenario`) replace it with
//! anything richer.

use chrono::Timelike;

use super::LoadDriver;
use crate::physics::{Load, Supply};
use crate::time::{SimDuration, SimTime};

/// Average household active power for each hour of the day [W].
const HOURLY_W: [f64; 24] = [
    250.0, 220.0, 200.0, 200.0, 210.0, 300.0, // night
    900.0, 1600.0, 1200.0, 600.0, 500.0, 700.0, // morning
    1100.0, 600.0, 450.0, 450.0, 600.0, 1400.0, // day
    2400.0, 2800.0, 2100.0, 1500.0, 800.0, 400.0, // evening
];

/// Power factor of the household (lagging).
const POWER_FACTOR: f64 = 0.95;

/// The default household day, repeating every day on the meter's timeline.
#[derive(Debug, Clone, Default)]
pub struct DefaultHousehold {
    pub supply: Supply,
}

impl DefaultHousehold {
    /// Active and reactive power at `hour` [W, var].
    pub fn power_at_hour(hour: usize) -> (f64, f64) {
        let p = HOURLY_W[hour % 24];
        let q = p * (1.0 - POWER_FACTOR * POWER_FACTOR).sqrt() / POWER_FACTOR;
        (p, q)
    }
}

impl LoadDriver for DefaultHousehold {
    fn state_at(&self, at: SimTime) -> (Supply, Load) {
        let (p, q) = Self::power_at_hour(at.to_datetime().hour() as usize);
        (self.supply.clone(), Load::power(p, q))
    }

    fn next_change_after(&self, at: SimTime) -> Option<SimTime> {
        let hour = SimDuration::from_hours(1).as_millis();
        Some(SimTime((at.0.div_euclid(hour) + 1) * hour))
    }
}
