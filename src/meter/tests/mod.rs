//! Tests of the meter core (SPEC §3), grouped by state. Expected values are
//! worked out by hand from the SPEC and the manuals, never by calling the
//! code under test a second time.
//!
//! The helpers let a test read like the scenario: a [`Bench`] starts a
//! KPM31 whose clock equals the simulated timeline, so one
//! `"2025-03-10 19:42:00"` string names both the instant and what the
//! meter's clock shows (until a test sets the clock).

mod clock;
mod control;
mod deadlines;
mod energy;
mod panel;
mod power;
mod prepay;
mod properties;
mod settings;
mod settlement;
mod state;
mod tariff;

use chrono::NaiveDateTime;

use super::energy::Direction;
use super::settings::RelayMode;
use super::tariff::Rate;
use super::{Command, CommandError, Event, EventKind, Meter, MeterConfig, PanelOp, Snapshot};
use crate::physics::Load;
use crate::time::{SimDuration, SimTime};

/// A calendar time written `YYYY-MM-DD hh:mm:ss[.fff]`.
pub(crate) fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("bad test time {s:?}: {e}"))
}

/// The simulated instant named by `s` (the timeline shows local calendar time).
pub(crate) fn t(s: &str) -> SimTime {
    SimTime::from_datetime(dt(s))
}

/// Relative comparison for energies and powers.
#[track_caller]
pub(crate) fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let tol = rel * expected.abs().max(1e-9);
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: got {actual}, expected {expected} (±{tol})"
    );
}

/// A meter on the test bench.
pub(crate) struct Bench {
    pub m: Meter,
}

impl Bench {
    /// A factory-fresh KPM31 (remote mode, balance 0), powered, its clock
    /// showing `at` at the instant `at`.
    pub fn new(at: &str) -> Self {
        Self::with_config(MeterConfig::default(), at)
    }

    /// The core's rules are exact arithmetic: the meter under test measures
    /// ideally (the error model has its own tests in `physics/`).
    pub fn with_config(mut config: MeterConfig, at: &str) -> Self {
        config.frontend.ideal = true;
        Self {
            m: Meter::new(config, 7, t(at), dt(at)),
        }
    }

    /// At `at`, the load becomes `p_w` [W] and `q_var` [var].
    pub fn load(&mut self, at: &str, p_w: f64, q_var: f64) -> &mut Self {
        self.m.set_load(t(at), Load::power(p_w, q_var));
        self
    }

    /// At `at`, a purely resistive load of `kw` [kW].
    pub fn load_kw(&mut self, at: &str, kw: f64) -> &mut Self {
        self.load(at, kw * 1000.0, 0.0)
    }

    /// Run the meter up to `at`.
    pub fn run_to(&mut self, at: &str) -> &mut Self {
        self.m.advance_to(t(at));
        self
    }

    pub fn apply(&mut self, at: &str, cmd: Command) -> Result<(), CommandError> {
        self.m.apply(t(at), cmd)
    }

    pub fn panel(&mut self, at: &str, op: PanelOp) -> Result<(), CommandError> {
        self.m.panel(t(at), op)
    }

    /// At `at`, switch to local mode (prepayment and load control on).
    pub fn local_mode(&mut self, at: &str) -> &mut Self {
        self.apply(at, Command::SetRelayMode(RelayMode::Local))
            .expect("local mode");
        self
    }

    pub fn top_up(&mut self, at: &str, kwh: f64) -> &mut Self {
        self.apply(at, Command::TopUp(kwh)).expect("top-up");
        self
    }

    pub fn snap(&self) -> Snapshot {
        self.m.snapshot()
    }

    pub fn relay_closed(&self) -> bool {
        self.m.control().relay_closed
    }

    /// Import active energy since the last clear [kWh].
    pub fn import_kwh(&self) -> f64 {
        self.m.lifetime().active_dir(Direction::Import) / 1000.0
    }

    /// Combined active energy of one rate [kWh].
    pub fn rate_kwh(&self, rate: Rate) -> f64 {
        self.snap().rate_active_kwh(rate)
    }

    /// Prepayment balance [kWh].
    pub fn residual_kwh(&self) -> f64 {
        self.m.control().residual_wh / 1000.0
    }

    /// The events since the last call, as (instant, name).
    pub fn events(&mut self) -> Vec<(String, &'static str)> {
        self.m
            .take_events()
            .into_iter()
            .map(|Event { at, kind }| (at.to_string(), kind.name()))
            .collect()
    }

    /// The events since the last call, whole.
    pub fn raw_events(&mut self) -> Vec<Event> {
        self.m.take_events()
    }

    /// The next deadline, as a calendar string of the timeline.
    pub fn poll_at(&self) -> Option<String> {
        self.m.poll_at().map(|t| t.to_string())
    }
}

/// `"2025-03-10 08:30:00"` → `"2025-03-10 08:30:00.000"`, as events print.
pub(crate) fn ms(s: &str) -> String {
    t(s).to_string()
}

/// The `Settlement` events in `events`, as (year, month).
pub(crate) fn settlements(events: &[Event]) -> Vec<(i32, u32)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Settlement { year, month } => Some((year, month)),
            _ => None,
        })
        .collect()
}
