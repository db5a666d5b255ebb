//! A read-only picture of a meter at one instant: what the register image,
//! the front panel and reports read. Plain data, cheap to share between
//! tasks.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::energy::{Combination, Direction, EnergyBook, HISTORY_MONTHS};
use super::settings::{RelayMode, Settings};
use super::tariff::{Rate, Tariff};
use super::{Meter, OpenReason};
use crate::physics::Readings;
use crate::time::SimTime;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub at: SimTime,
    /// The meter's clock.
    pub clock: NaiveDateTime,
    pub powered: bool,
    pub readings: Readings,
    /// Apparent demand [VA]
    pub demand_va: f64,
    /// Energy since the last clear [Wh, varh]
    pub lifetime: EnergyBook,
    /// The history blocks as shown (this month, previous 1…12) [Wh, varh]
    pub months: [EnergyBook; HISTORY_MONTHS],
    pub combination_active: Combination,
    pub combination_reactive: Combination,
    pub settings: Settings,
    pub relay_mode: RelayMode,
    pub relay_closed: bool,
    pub open_reason: Option<OpenReason>,
    /// Prepayment balance [kWh]
    pub residual_kwh: f64,
    /// [kWh]
    pub overdraft_limit_kwh: f64,
    /// [kW]
    pub load_threshold_kw: f64,
    /// Register 040DH bits.
    pub status: u16,
    pub pulses: u64,
    pub tariff: Tariff,
    /// The rate in force now.
    pub rate: Rate,
}

impl Snapshot {
    pub(super) fn of(m: &Meter) -> Self {
        let mode = m.config.history_mode;
        let months = std::array::from_fn(|k| m.history.shown(k, mode, &m.lifetime));
        Self {
            at: m.now,
            clock: m.clock(),
            powered: m.powered,
            readings: m.readings,
            demand_va: m.demand.value(),
            lifetime: m.lifetime,
            months,
            combination_active: m.config.combination_active,
            combination_reactive: m.config.combination_reactive,
            settings: m.settings.clone(),
            relay_mode: m.control.mode,
            relay_closed: m.control.relay_closed,
            open_reason: m.control.open_reason,
            residual_kwh: m.control.residual_wh / 1000.0,
            overdraft_limit_kwh: m.control.overdraft_limit_kwh,
            load_threshold_kw: m.control.load_threshold_kw,
            status: m.control.status_bits(m.readings.overload),
            pulses: m.pulse_count(),
            tariff: m.tariff.clone(),
            rate: m.tariff.rate_at(m.clock()),
        }
    }

    /// Combined active energy [kWh]
    pub fn total_active_kwh(&self) -> f64 {
        self.lifetime.active_total(self.combination_active) / 1000.0
    }

    pub fn import_active_kwh(&self) -> f64 {
        self.lifetime.active_dir(Direction::Import) / 1000.0
    }

    pub fn export_active_kwh(&self) -> f64 {
        self.lifetime.active_dir(Direction::Export) / 1000.0
    }

    /// Combined reactive energy [kvarh]
    pub fn total_reactive_kvarh(&self) -> f64 {
        self.lifetime.reactive_total(self.combination_reactive) / 1000.0
    }

    pub fn import_reactive_kvarh(&self) -> f64 {
        self.lifetime.reactive_dir(Direction::Import) / 1000.0
    }

    pub fn export_reactive_kvarh(&self) -> f64 {
        self.lifetime.reactive_dir(Direction::Export) / 1000.0
    }

    /// Combined active energy of one rate [kWh]
    pub fn rate_active_kwh(&self, rate: Rate) -> f64 {
        self.lifetime.active_rate(rate, self.combination_active) / 1000.0
    }

    /// Combined reactive energy of one rate [kvarh]
    pub fn rate_reactive_kvarh(&self, rate: Rate) -> f64 {
        self.lifetime.reactive_rate(rate, self.combination_reactive) / 1000.0
    }
}
