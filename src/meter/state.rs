//! The meter's durable state: what the real KPM31 keeps through a power
//! failure (SPEC §3 "Settings": "all settings and all energy survive
//! restarts"), as plain serialisable data.
//!
//! The core only converts: [`Meter::export_state`] takes the state out,
//! [`Meter::restore`] checks a state against the model's configuration and
//! builds a meter from it. Files, formats and versions belong to the runtime
//! (`runtime/state.rs`, `docs/state.md`).
//!
//! What is *not* state: the supply and load (they come from outside), the
//! readings (measured again from them), the front-panel session (a power
//! cycle ends it) and the measurement-noise generator (re-seeded).

use chrono::{Datelike, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::demand::Demand;
use super::energy::{EnergyBook, History};
use super::settings::{Settings, BAUD_RATES};
use super::tariff::{DayTable, Tariff};
use super::{panel, Control, Meter, MeterConfig};
use crate::physics::{Frontend, Load, Readings, Supply};
use crate::time::SimTime;

/// Largest distance of a saved instant from the timeline's origin [ms].
const MAX_INSTANT_MS: i64 = 30_000 * 366 * 86_400_000;

/// Everything a meter must keep across a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterState {
    /// The model the state belongs to (the profile's `model`).
    pub model: String,
    /// Seed of the meter's calibration error: the same physical meter.
    pub seed: u64,
    /// The simulated instant the state was taken at.
    pub at: SimTime,
    /// The meter's clock at `at` (battery-backed RTC).
    pub clock: NaiveDateTime,
    pub powered: bool,
    pub settings: Settings,
    /// Relay, its open reason, relay mode, residual energy, overdraft limit,
    /// load threshold and the cut-off timers.
    pub control: Control,
    /// Day tables and time zones.
    pub tariff: Tariff,
    /// Energy since the last clear [Wh, varh].
    pub lifetime: EnergyBook,
    /// Monthly history [Wh, varh].
    pub history: History,
    /// The month "this month" covers.
    pub this_month: YearMonth,
    /// The apparent-demand window.
    pub demand: Demand,
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearMonth {
    pub year: i32,
    pub month: u32,
}

/// Why a saved state cannot be used with a model. Each names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    #[error("the state is of model {state}, but the profile is {profile}")]
    Model { state: String, profile: String },
    #[error("{field} = {value} is invalid (allowed: {allowed})")]
    Invalid {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("tariff: {0}")]
    Tariff(#[from] super::tariff::TariffError),
}

fn invalid(field: &'static str, value: impl ToString, allowed: &'static str) -> RestoreError {
    RestoreError::Invalid {
        field,
        value: value.to_string(),
        allowed,
    }
}

/// Every number of `book` is finite and not negative.
fn check_book(field: &'static str, book: &EnergyBook) -> Result<(), RestoreError> {
    let all = book.active.iter().chain(&book.reactive).flatten();
    match all.copied().find(|v| !v.is_finite() || *v < 0.0) {
        Some(v) => Err(invalid(field, v, "finite, at least 0 [Wh, varh]")),
        None => Ok(()),
    }
}

fn check_range(
    field: &'static str,
    v: f64,
    lo: f64,
    hi: f64,
    allowed: &'static str,
) -> Result<(), RestoreError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, v, allowed))
    }
}

impl MeterState {
    /// Check the state against `config`; `Ok` means [`Meter::restore`] can
    /// build a meter that keeps every invariant of the core.
    fn check(&self, config: &MeterConfig) -> Result<Tariff, RestoreError> {
        if self.model != config.model {
            return Err(RestoreError::Model {
                state: self.model.clone(),
                profile: config.model.clone(),
            });
        }
        let s = &self.settings;
        if s.password > 9999 {
            return Err(invalid("settings.password", s.password, "0–9999"));
        }
        if !(1..=247).contains(&s.address) {
            return Err(invalid("settings.address", s.address, "1–247"));
        }
        if !BAUD_RATES.contains(&s.baud) {
            return Err(invalid("settings.baud", s.baud, "1200, 2400, 4800, 9600"));
        }
        if s.frequency_hz != 50 && s.frequency_hz != 60 {
            return Err(invalid("settings.frequency_hz", s.frequency_hz, "50 or 60"));
        }
        let c = &self.control;
        check_range(
            "control.residual_wh",
            c.residual_wh,
            -1e12,
            1e12,
            "a finite balance [Wh]",
        )?;
        check_range(
            "control.overdraft_limit_kwh",
            c.overdraft_limit_kwh,
            0.0,
            65535.0,
            "0–65535",
        )?;
        check_range(
            "control.load_threshold_kw",
            c.load_threshold_kw,
            0.0,
            65535.0,
            "0–65535",
        )?;
        if c.relay_closed && c.cut.is_some() {
            return Err(invalid(
                "control.cut",
                format!("{:?}", c.cut),
                "none while the relay is closed",
            ));
        }
        check_book("lifetime", &self.lifetime)?;
        for (k, b) in self.history.months.iter().enumerate() {
            check_book(
                if k == 0 {
                    "history.months (this month)"
                } else {
                    "history.months"
                },
                b,
            )?;
        }
        for b in &self.history.frozen {
            check_book("history.frozen", b)?;
        }
        let YearMonth { year, month } = self.this_month;
        if !(1..=12).contains(&month) || !(1..=9999).contains(&year) {
            return Err(invalid(
                "this_month",
                format!("{year}-{month}"),
                "a month of the years 1–9999",
            ));
        }
        // Instants on the simulated timeline: ±30 000 years leaves room for
        // every deadline the core adds to them.
        let instants = [
            ("at", Some(self.at)),
            ("control.reconnect_at", c.reconnect_at),
            ("control.over_threshold_since", c.over_threshold_since),
        ];
        for (field, t) in instants {
            if let Some(t) = t.filter(|t| t.0.abs() > MAX_INSTANT_MS) {
                return Err(invalid(field, t.0, "within ±30 000 years of 1970 [ms]"));
            }
        }
        if !(1..=9999).contains(&self.clock.year()) {
            return Err(invalid("clock", self.clock, "a date of the years 1–9999"));
        }
        if !self
            .demand
            .is_consistent(config.demand_window_min, config.demand_period_min)
        {
            return Err(invalid(
                "demand",
                "(window)",
                "the profile's demand window, finite non-negative buckets",
            ));
        }
        // Rebuild the tariff through its validating constructors: derived
        // deserialisation alone would accept any slots.
        let tables = self.tariff.tables();
        if tables.len() != config.day_tables.max(1) {
            return Err(invalid(
                "tariff.tables",
                tables.len(),
                "as many day tables as the model has",
            ));
        }
        let rebuild = |t: &DayTable| DayTable::new(t.slots().to_vec());
        let first = tables.first().map(rebuild).transpose()?.unwrap_or_default();
        let mut tariff = Tariff::new(first, config.day_tables);
        for (i, t) in tables.iter().enumerate().skip(1) {
            tariff.set_table(i, rebuild(t)?)?;
        }
        let zones = self.tariff.zones().to_vec();
        if !zones.is_empty() && !config.time_zones {
            return Err(invalid(
                "tariff.zones",
                zones.len(),
                "none: the model has no time zones",
            ));
        }
        tariff.set_zones(zones)?;
        Ok(tariff)
    }
}

impl Meter {
    /// The meter's durable state at its present instant.
    pub fn export_state(&self) -> MeterState {
        MeterState {
            model: self.config.model.clone(),
            seed: self.seed,
            at: self.now,
            clock: self.clock(),
            powered: self.powered,
            settings: self.settings.clone(),
            control: self.control.clone(),
            tariff: self.tariff.clone(),
            lifetime: self.lifetime,
            history: self.history.clone(),
            this_month: YearMonth {
                year: self.this_month.0,
                month: self.this_month.1,
            },
            demand: self.demand.clone(),
        }
    }

    /// A meter of model `config` in the saved `state`, at `state.at`, with
    /// no supply and no load yet. The state is checked first: a value the
    /// core could not have produced is an error naming the field, never a
    /// meter with broken invariants.
    pub fn restore(config: MeterConfig, state: MeterState) -> Result<Self, RestoreError> {
        let tariff = state.check(&config)?;
        let mut m = Self {
            seed: state.seed,
            frontend: Frontend::new(config.frontend.clone(), state.seed),
            now: state.at,
            clock_offset: SimTime::from_datetime(state.clock) - state.at,
            powered: state.powered,
            supply: Supply::default(),
            load: Load::default(),
            readings: Readings::default(),
            reading_slot: 0,
            metered: Readings::default(),
            lifetime: state.lifetime,
            history: state.history,
            this_month: (state.this_month.year, state.this_month.month),
            demand: state.demand,
            settings: state.settings,
            tariff,
            control: state.control,
            panel: panel::Panel::default(),
            events: Vec::new(),
            config,
        };
        m.refresh_readings();
        Ok(m)
    }
}
