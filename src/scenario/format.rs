//! The scenario file as written (raw serde types, every table
//! `deny_unknown_fields`) and its validation into a [`Scenario`], whose
//! values the engine can trust. Semantic errors point at the offending value.

use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::Deserialize;
use toml::Spanned;

use super::expect::{ExpectKind, Expectation, Probe};
use super::schedule::{Jitter, Pattern, Replay, ReplayColumns};
use super::ScenarioError;
use crate::meter::settings::{Parity, RelayMode, WirelessMode};
use crate::meter::{Command, PanelOp};
use crate::profile::quantity::{FieldType, Quantity};
use crate::profile::Profile;
use crate::time::{SimDuration, SimTime};

// ---------------------------------------------------------------- raw types

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    scenario: RawHeader,
    #[serde(default)]
    meters: Vec<RawMeter>,
    #[serde(default)]
    supply: Option<RawSupply>,
    #[serde(default)]
    loads: Vec<RawLoad>,
    #[serde(default)]
    events: Vec<RawEvent>,
    #[serde(default)]
    expect: Vec<RawExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: String,
    start: Spanned<toml::Value>,
    #[serde(default)]
    time_zone: Option<Spanned<String>>,
    duration: Spanned<String>,
    #[serde(default)]
    speed: Option<Spanned<toml::Value>>,
    #[serde(default)]
    seed: Option<Spanned<i64>>,
    #[serde(default)]
    report_every: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeter {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    profile: Option<Spanned<String>>,
    #[serde(default)]
    address: Option<Spanned<u16>>,
    #[serde(default)]
    relay_mode: Option<Spanned<String>>,
    #[serde(default)]
    relay: Option<Spanned<String>>,
    #[serde(default)]
    residual_kwh: Option<Spanned<f64>>,
    #[serde(default)]
    overdraft_limit_kwh: Option<Spanned<f64>>,
    #[serde(default)]
    load_threshold_kw: Option<Spanned<f64>>,
    #[serde(default)]
    clock: Option<Spanned<toml::Value>>,
    #[serde(default)]
    ideal: bool,
    #[serde(default)]
    measurement: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupply {
    #[serde(default)]
    voltage_v: Option<Spanned<f64>>,
    #[serde(default)]
    frequency_hz: Option<Spanned<f64>>,
    #[serde(default)]
    voltage_jitter: Option<RawJitter>,
    #[serde(default)]
    frequency_jitter: Option<RawJitter>,
    #[serde(default)]
    steps: Vec<RawSupplyStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJitter {
    every: Spanned<String>,
    amplitude: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupplyStep {
    at: Spanned<toml::Value>,
    #[serde(default)]
    voltage_v: Option<Spanned<f64>>,
    #[serde(default)]
    frequency_hz: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    name: Spanned<String>,
    #[serde(default)]
    meter: Option<Spanned<String>>,
    #[serde(default)]
    component: Option<Spanned<RawComponent>>,
    #[serde(default)]
    schedule: Vec<RawPattern>,
    #[serde(default)]
    replay: Option<RawReplay>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    kind: Spanned<String>,
    #[serde(default)]
    power_w: Option<Spanned<f64>>,
    #[serde(default)]
    power_factor: Option<Spanned<f64>>,
    #[serde(default)]
    active_w: Option<Spanned<f64>>,
    #[serde(default)]
    reactive_var: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    kind: Spanned<String>,
    // steps
    #[serde(default)]
    steps: Option<Spanned<Vec<RawStep>>>,
    #[serde(default)]
    initial: Option<Spanned<f64>>,
    // ramp
    #[serde(default)]
    from: Option<Spanned<toml::Value>>,
    #[serde(default)]
    to: Option<Spanned<toml::Value>>,
    #[serde(default)]
    from_level: Option<Spanned<f64>>,
    #[serde(default)]
    to_level: Option<Spanned<f64>>,
    #[serde(default)]
    step: Option<Spanned<String>>,
    // duty cycle
    #[serde(default)]
    period: Option<Spanned<String>>,
    #[serde(default)]
    on: Option<Spanned<String>>,
    #[serde(default)]
    offset: Option<Spanned<String>>,
    // daily
    #[serde(default)]
    hourly: Option<Spanned<Vec<f64>>>,
    #[serde(default)]
    points: Option<Spanned<Vec<RawPoint>>>,
    // random
    #[serde(default)]
    every: Option<Spanned<String>>,
    #[serde(default)]
    min: Option<Spanned<f64>>,
    #[serde(default)]
    max: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: Spanned<toml::Value>,
    level: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    time: Spanned<String>,
    level: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplay {
    file: Spanned<String>,
    columns: Spanned<String>,
    #[serde(default)]
    repeat: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: Spanned<toml::Value>,
    action: Spanned<String>,
    #[serde(default)]
    meter: Option<Spanned<String>>,
    #[serde(default)]
    kwh: Option<Spanned<f64>>,
    #[serde(default)]
    clock: Option<Spanned<toml::Value>>,
    #[serde(default)]
    address: Option<Spanned<u16>>,
    #[serde(default)]
    values: Option<Spanned<Vec<u16>>>,
    #[serde(default)]
    float: Option<Spanned<f64>>,
    #[serde(default)]
    on: Option<Spanned<bool>>,
    #[serde(default)]
    op: Option<Spanned<String>>,
    #[serde(default)]
    password: Option<Spanned<u16>>,
    #[serde(default)]
    setting: Option<Spanned<String>>,
    #[serde(default)]
    value: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    meter: Option<Spanned<String>>,
    #[serde(default)]
    at: Option<Spanned<toml::Value>>,
    #[serde(default)]
    register: Option<Spanned<u16>>,
    #[serde(default)]
    quantity: Option<Spanned<String>>,
    #[serde(default)]
    month: Option<Spanned<u8>>,
    #[serde(default)]
    equals: Option<Spanned<f64>>,
    #[serde(default)]
    tolerance: Option<Spanned<f64>>,
    #[serde(default)]
    relay: Option<Spanned<String>>,
    #[serde(default)]
    event: Option<Spanned<String>>,
    #[serde(default)]
    after: Option<Spanned<toml::Value>>,
    #[serde(default)]
    before: Option<Spanned<toml::Value>>,
    #[serde(default)]
    count: Option<Spanned<usize>>,
}

// ---------------------------------------------------------- validated model

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// 1 simulated second per wall second.
    Realtime,
    /// N simulated seconds per wall second.
    Factor(f64),
    /// As fast as possible: jump from deadline to deadline.
    Max,
}

impl Speed {
    /// Simulated seconds per wall second, `None` for as fast as possible.
    pub fn factor(self) -> Option<f64> {
        match self {
            Speed::Realtime => Some(1.0),
            Speed::Factor(f) => Some(f),
            Speed::Max => None,
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it came from, for messages.
    pub file: String,
    pub name: String,
    pub description: String,
    /// Where simulated time starts; the timeline is the scenario's local time.
    pub start: SimTime,
    /// Where it ends (start + duration).
    pub end: SimTime,
    /// The local time's offset from UTC [s]
    pub utc_offset_s: i32,
    /// The time zone as written ("+08:00", "UTC").
    pub time_zone: String,
    pub speed: Speed,
    pub seed: u64,
    pub meters: Vec<MeterSpec>,
    pub supply: SupplySpec,
    pub loads: Vec<LoadSpec>,
    /// Sorted by time; equal times keep file order.
    pub events: Vec<EventSpec>,
    pub expectations: Vec<Expectation>,
    /// Interval of the `--report` time series.
    pub report_every: SimDuration,
}

/// A meter of the scenario and its state at the start.
#[derive(Debug, Clone)]
pub struct MeterSpec {
    pub name: String,
    pub profile: Arc<Profile>,
    pub address: u8,
    pub relay_mode: Option<RelayMode>,
    /// Relay at the start: true = closed.
    pub relay_closed: Option<bool>,
    /// Prepayment balance at the start [kWh]
    pub residual_kwh: Option<f64>,
    /// [kWh]
    pub overdraft_limit_kwh: Option<f64>,
    /// [kW]
    pub load_threshold_kw: Option<f64>,
    /// The meter's clock at the start (default: the scenario's start).
    pub clock: Option<NaiveDateTime>,
    /// Measure without calibration error or noise (an ideal meter), for
    /// expectations computed by hand to the last digit.
    pub ideal: bool,
    /// How readings are computed: sampled waveforms (default) or the
    /// closed-form values they converge to (for long fast-forward runs whose
    /// load changes at nearly every step).
    pub method: crate::physics::Method,
}

/// The supply, shared by every meter.
#[derive(Debug, Clone, PartialEq)]
pub struct SupplySpec {
    /// Nominal RMS voltage [V]
    pub voltage_v: f64,
    /// Nominal frequency [Hz]
    pub frequency_hz: f64,
    /// Uniform noise on the voltage [V]
    pub voltage_jitter: Option<Jitter>,
    /// Uniform noise on the frequency [Hz]
    pub frequency_jitter: Option<Jitter>,
    /// Changes of the nominal values: (at, voltage [V], frequency [Hz]).
    pub steps: Vec<(SimTime, Option<f64>, Option<f64>)>,
}

/// A load component, at level 1 (its rating).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ComponentSpec {
    /// Heater, kettle: P [W] at PF 1.
    Resistive { power_w: f64 },
    /// Motor, fridge compressor: P [W], lagging power factor (Q > 0).
    Inductive { power_w: f64, power_factor: f64 },
    /// Capacitor bank, long cable: P [W], leading power factor (Q < 0).
    Capacitive { power_w: f64, power_factor: f64 },
    /// Switch-mode supply, LED driver: P [W], displacement power factor.
    NonLinear { power_w: f64, power_factor: f64 },
    /// PV inverter: exported P [W] (≥ 0), power factor (1 = no reactive).
    Generation { power_w: f64, power_factor: f64 },
    /// Plain P [W] and Q [var].
    Power { active_w: f64, reactive_var: f64 },
}

impl ComponentSpec {
    /// Active [W] and reactive [var] power at `level` × rating.
    pub fn power(self, level: f64) -> (f64, f64) {
        let q_of = |p: f64, pf: f64| p * (1.0 - pf * pf).max(0.0).sqrt() / pf;
        let (p, q) = match self {
            ComponentSpec::Resistive { power_w } => (power_w, 0.0),
            ComponentSpec::Inductive {
                power_w,
                power_factor,
            }
            | ComponentSpec::NonLinear {
                power_w,
                power_factor,
            } => (power_w, q_of(power_w, power_factor)),
            ComponentSpec::Capacitive {
                power_w,
                power_factor,
            } => (power_w, -q_of(power_w, power_factor)),
            ComponentSpec::Generation {
                power_w,
                power_factor,
            } => (-power_w, q_of(power_w, power_factor)),
            ComponentSpec::Power {
                active_w,
                reactive_var,
            } => (active_w, reactive_var),
        };
        (p * level, q * level)
    }
}

/// Where a load's power comes from.
#[derive(Debug, Clone)]
pub enum LoadKind {
    /// A component switched by a schedule (the product of its patterns).
    Switched {
        component: ComponentSpec,
        patterns: Vec<Pattern>,
    },
    /// Recorded readings replayed from CSV.
    Replay(Arc<Replay>),
}

/// One load of the scenario.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub name: String,
    /// The meter it is behind; `None` = every meter.
    pub meter: Option<usize>,
    pub kind: LoadKind,
}

/// What an event does.
#[derive(Debug, Clone, PartialEq)]
pub enum EventAction {
    PowerOff,
    PowerOn,
    /// Energy added to the balance [kWh]
    TopUp(f64),
    SetClock(NaiveDateTime),
    /// Words written from `address`, through the register image (FC10).
    WriteRegisters {
        address: u16,
        words: Vec<u16>,
    },
    /// A coil write (FC05).
    WriteCoil {
        address: u16,
        on: bool,
    },
    Panel(PanelOp),
}

/// An event at a time, for one meter or all.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub at: SimTime,
    /// `None` = every meter.
    pub meter: Option<usize>,
    pub action: EventAction,
    /// Line in the scenario file, for the log.
    pub line: usize,
}

// --------------------------------------------------------------- validation

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    base: &'a Path,
    start: SimTime,
    end: SimTime,
    offset_s: i32,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.text, at.span().start, msg)
    }

    fn line<T>(&self, at: &Spanned<T>) -> usize {
        crate::profile::line_col(self.text, at.span().start).0
    }

    fn duration(&self, v: &Spanned<String>, field: &str) -> Result<SimDuration, ScenarioError> {
        parse_duration(v.get_ref()).ok_or_else(|| {
            self.err(
                v,
                format!(
                    "{field} = \"{}\" is not a duration like \"90s\", \"15min\", \"2h\", \"1d 6h\"",
                    v.get_ref()
                ),
            )
        })
    }

    fn positive_duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<SimDuration, ScenarioError> {
        let d = self.duration(v, field)?;
        if d <= SimDuration::ZERO {
            return Err(self.err(v, format!("{field} must be longer than 0")));
        }
        Ok(d)
    }

    fn number(
        &self,
        v: &Spanned<f64>,
        field: &str,
        lo: f64,
        hi: f64,
    ) -> Result<f64, ScenarioError> {
        let x = *v.get_ref();
        if x.is_finite() && (lo..=hi).contains(&x) {
            Ok(x)
        } else {
            Err(self.err(v, format!("{field} = {x} is not in {lo}–{hi}")))
        }
    }

    /// A time of the scenario: "+2h" (from the start), "end", "start", or a
    /// local date-time (string or TOML date-time).
    fn time(&self, v: &Spanned<toml::Value>, field: &str) -> Result<SimTime, ScenarioError> {
        let t = match v.get_ref() {
            toml::Value::String(s) if s == "start" => Some(self.start),
            toml::Value::String(s) if s == "end" => Some(self.end),
            toml::Value::String(s) if s.starts_with('+') => {
                parse_duration(&s[1..]).map(|d| self.start + d)
            }
            toml::Value::String(s) => parse_datetime(s).map(SimTime::from_datetime),
            toml::Value::Datetime(d) => {
                let (dt, off) = toml_datetime(d).ok_or_else(|| {
                    self.err(v, format!("{field} needs a date and a time, got {d}"))
                })?;
                if off.is_some_and(|o| o != self.offset_s) {
                    return Err(self.err(
                        v,
                        format!("{field} has a UTC offset other than the scenario's time zone"),
                    ));
                }
                Some(SimTime::from_datetime(dt))
            }
            _ => None,
        };
        let t = t.ok_or_else(|| {
            self.err(
                v,
                format!(
                    "{field} must be \"+DURATION\" (from the start), \"start\", \"end\" or a date-time \"YYYY-MM-DD HH:MM:SS\""
                ),
            )
        })?;
        if t < self.start || t > self.end {
            return Err(self.err(
                v,
                format!(
                    "{field} = {t} is outside the scenario ({} to {})",
                    self.start, self.end
                ),
            ));
        }
        Ok(t)
    }

    fn absolute_datetime(
        &self,
        v: &Spanned<toml::Value>,
        field: &str,
    ) -> Result<NaiveDateTime, ScenarioError> {
        let dt = match v.get_ref() {
            toml::Value::String(s) => parse_datetime(s),
            toml::Value::Datetime(d) => toml_datetime(d).map(|(dt, _)| dt),
            _ => None,
        };
        dt.ok_or_else(|| {
            self.err(
                v,
                format!("{field} must be a date-time \"YYYY-MM-DD HH:MM:SS\""),
            )
        })
    }
}

/// Parse a duration: one or more `NUMBER UNIT` terms, units `ms`, `s`,
/// `min`, `h`, `d`, `w` ("1d 6h", "1h30min", "0.5s").
pub fn parse_duration(s: &str) -> Option<SimDuration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total_ms = 0.0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest.get(..num_end)?.parse().ok()?;
        rest = rest.get(num_end..)?.trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit_ms = match rest.get(..unit_end)? {
            "ms" => 1.0,
            "s" => 1e3,
            "min" => 6e4,
            "h" => 3.6e6,
            "d" => 8.64e7,
            "w" => 6.048e8,
            _ => return None,
        };
        total_ms += n * unit_ms;
        rest = rest.get(unit_end..)?.trim_start();
    }
    (total_ms.is_finite() && total_ms < 1e15)
        .then(|| SimDuration::from_millis(total_ms.round() as i64))
}

/// A local date-time "YYYY-MM-DD HH:MM[:SS]" (a `T` may replace the space).
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s.trim(), f).ok())
}

/// A TOML date-time as a local date-time and its UTC offset [s], if any.
fn toml_datetime(d: &toml::value::Datetime) -> Option<(NaiveDateTime, Option<i32>)> {
    let date = d.date?;
    let time = d.time?;
    let dt = NaiveDate::from_ymd_opt(
        i32::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )?
    .and_time(NaiveTime::from_hms_nano_opt(
        u32::from(time.hour),
        u32::from(time.minute),
        u32::from(time.second),
        time.nanosecond,
    )?);
    let off = d.offset.map(|o| match o {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i32::from(minutes) * 60,
    });
    Some((dt, off))
}

/// A fixed UTC offset: "UTC", "Z", "+08:00", "-05:30" [s].
pub fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Some(0);
    }
    let s = s.strip_prefix("UTC").unwrap_or(s);
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn format_offset(s: i32) -> String {
    let sign = if s < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", s.abs() / 3600, s.abs() % 3600 / 60)
}

pub(super) fn parse(file: &str, text: &str, base: &Path) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        ScenarioError::at(file, text, at, e.message().trim().to_string())
    })?;
    let h = &raw.scenario;
    let mut cx = Ctx {
        file,
        text,
        base,
        start: SimTime(0),
        end: SimTime(0),
        offset_s: 0,
    };
    // Start and time zone.
    let (start_dt, start_off) = match h.start.get_ref() {
        toml::Value::Datetime(d) => toml_datetime(d),
        toml::Value::String(s) => parse_datetime(s).map(|dt| (dt, None)),
        _ => None,
    }
    .ok_or_else(|| {
        cx.err(
            &h.start,
            "start must be a date-time, e.g. 2024-03-01T00:00:00+08:00",
        )
    })?;
    let zone_off = match &h.time_zone {
        Some(z) => Some(parse_offset(z.get_ref()).ok_or_else(|| {
            cx.err(
                z,
                format!(
                    "time_zone = \"{}\" is not a UTC offset like \"+08:00\" or \"UTC\" (the meter has no daylight saving)",
                    z.get_ref()
                ),
            )
        })?),
        None => None,
    };
    let offset_s = match (start_off, zone_off) {
        (Some(a), Some(b)) if a != b => {
            let z = h.time_zone.as_ref().map_or(&h.start, |_| &h.start);
            return Err(cx.err(z, "start's UTC offset differs from time_zone"));
        }
        (a, b) => a.or(b).unwrap_or(0),
    };
    cx.offset_s = offset_s;
    cx.start = SimTime::from_datetime(start_dt);
    let duration = cx.positive_duration(&h.duration, "duration")?;
    cx.end = cx.start + duration;
    let speed = match &h.speed {
        None => Speed::Max,
        Some(v) => match v.get_ref() {
            toml::Value::String(s) if s == "max" => Speed::Max,
            toml::Value::String(s) if s == "realtime" => Speed::Realtime,
            toml::Value::Integer(n) if *n > 0 && *n <= 1_000_000_000 => Speed::Factor(*n as f64),
            toml::Value::Float(f) if f.is_finite() && *f > 0.0 && *f <= 1e9 => Speed::Factor(*f),
            _ => {
                return Err(cx.err(
                    v,
                    "speed must be \"realtime\", \"max\" or a factor (a number more than 0, at most 1e9)",
                ))
            }
        },
    };
    let seed = match &h.seed {
        Some(s) if *s.get_ref() < 0 => return Err(cx.err(s, "seed must be 0 or more")),
        Some(s) => *s.get_ref() as u64,
        None => 0,
    };
    let report_every = match &h.report_every {
        Some(v) => cx.positive_duration(v, "report_every")?,
        None => SimDuration::from_millis((duration.as_millis() / 500).max(1000) / 1000 * 1000),
    };

    let meters = parse_meters(&cx, &raw.meters)?;
    let meter_index = |v: &Option<Spanned<String>>| -> Result<Option<usize>, ScenarioError> {
        match v {
            None => Ok(None),
            Some(name) => meters
                .iter()
                .position(|m| m.name == *name.get_ref())
                .map(Some)
                .ok_or_else(|| {
                    let names: Vec<_> = meters.iter().map(|m| format!("\"{}\"", m.name)).collect();
                    cx.err(
                        name,
                        format!(
                            "no meter named \"{}\" (meters: {})",
                            name.get_ref(),
                            names.join(", ")
                        ),
                    )
                }),
        }
    };
    let supply = parse_supply(&cx, raw.supply.as_ref(), seed)?;
    let mut loads = Vec::new();
    for (i, l) in raw.loads.iter().enumerate() {
        if raw.loads[..i]
            .iter()
            .any(|o| o.name.get_ref() == l.name.get_ref())
        {
            return Err(cx.err(&l.name, format!("two loads named \"{}\"", l.name.get_ref())));
        }
        let kind = parse_load(&cx, l, seed, i as u64)?;
        loads.push(LoadSpec {
            name: l.name.get_ref().clone(),
            meter: meter_index(&l.meter)?,
            kind,
        });
    }
    let mut events = Vec::new();
    for e in &raw.events {
        let meter = meter_index(&e.meter)?;
        events.push(parse_event(&cx, e, meter, &meters)?);
    }
    events.sort_by_key(|e| e.at);
    let mut expectations = Vec::new();
    for (i, x) in raw.expect.iter().enumerate() {
        let meter = meter_index(&x.meter)?.unwrap_or(0);
        expectations.push(parse_expect(&cx, x, i, meter, &meters)?);
    }
    let name = h.name.clone().unwrap_or_else(|| {
        Path::new(file)
            .file_stem()
            .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned())
    });
    Ok(Scenario {
        file: file.to_string(),
        name,
        description: h.description.trim().to_string(),
        start: cx.start,
        end: cx.end,
        utc_offset_s: offset_s,
        time_zone: h
            .time_zone
            .as_ref()
            .map_or_else(|| format_offset(offset_s), |z| z.get_ref().clone()),
        speed,
        seed,
        meters,
        supply,
        loads,
        events,
        expectations,
        report_every,
    })
}

fn parse_meters(cx: &Ctx, raw: &[RawMeter]) -> Result<Vec<MeterSpec>, ScenarioError> {
    let mut out: Vec<MeterSpec> = Vec::new();
    let defaults;
    let raw = if raw.is_empty() {
        defaults = [RawMeter {
            name: None,
            profile: None,
            address: None,
            relay_mode: None,
            relay: None,
            residual_kwh: None,
            overdraft_limit_kwh: None,
            load_threshold_kw: None,
            clock: None,
            ideal: false,
            measurement: None,
        }];
        &defaults[..]
    } else {
        raw
    };
    for (i, m) in raw.iter().enumerate() {
        let name = m
            .name
            .as_ref()
            .map_or_else(|| format!("meter{}", i + 1), |n| n.get_ref().clone());
        if let Some(n) = &m.name {
            if out.iter().any(|o| o.name == name) {
                return Err(cx.err(n, format!("two meters named \"{name}\"")));
            }
        }
        let profile = match &m.profile {
            None => Profile::resolve("kpm31")?,
            Some(p) => {
                let s = p.get_ref();
                match Profile::builtin(s) {
                    Some(b) => b,
                    None => {
                        let path = cx.base.join(s);
                        if !path.exists() {
                            return Err(cx.err(
                                p,
                                format!(
                                    "profile \"{s}\" is neither built in (kpm31, kpm31c) nor a file ({} not found)",
                                    path.display()
                                ),
                            ));
                        }
                        Profile::load(&path)?
                    }
                }
            }
        };
        let address = match &m.address {
            Some(a) if !(1..=247).contains(a.get_ref()) => {
                return Err(cx.err(a, format!("address = {} is not 1–247", a.get_ref())))
            }
            Some(a) => *a.get_ref() as u8,
            None => {
                let a = profile.meter.default_settings.address;
                if raw.len() > 1 {
                    (i + 1).min(247) as u8
                } else {
                    a
                }
            }
        };
        if let Some(o) = out.iter().find(|o| o.address == address) {
            let at = m
                .address
                .as_ref()
                .map_or(cx.start_span(), |a| a.span().start);
            return Err(ScenarioError::at(
                cx.file,
                cx.text,
                at,
                format!(
                    "meters \"{}\" and \"{name}\" share address {address}",
                    o.name
                ),
            ));
        }
        let relay_mode = match &m.relay_mode {
            None => None,
            Some(v) => Some(match v.get_ref().as_str() {
                "remote" => RelayMode::Remote,
                "local" => RelayMode::Local,
                other => {
                    return Err(cx.err(
                        v,
                        format!("relay_mode = \"{other}\" is not \"remote\" or \"local\""),
                    ))
                }
            }),
        };
        let relay_closed = match &m.relay {
            None => None,
            Some(v) => Some(relay_state(cx, v)?),
        };
        let residual_kwh = m
            .residual_kwh
            .as_ref()
            .map(|v| cx.number(v, "residual_kwh", 0.0, 1.0e6))
            .transpose()?;
        let overdraft_limit_kwh = m
            .overdraft_limit_kwh
            .as_ref()
            .map(|v| cx.number(v, "overdraft_limit_kwh", 0.0, 65535.0))
            .transpose()?;
        let load_threshold_kw = m
            .load_threshold_kw
            .as_ref()
            .map(|v| cx.number(v, "load_threshold_kw", 0.0, 65535.0))
            .transpose()?;
        let clock = m
            .clock
            .as_ref()
            .map(|v| cx.absolute_datetime(v, "clock"))
            .transpose()?;
        out.push(MeterSpec {
            name,
            profile: Arc::new(profile),
            address,
            relay_mode,
            relay_closed,
            residual_kwh,
            overdraft_limit_kwh,
            load_threshold_kw,
            ideal: m.ideal,
            method: match &m.measurement {
                None => crate::physics::Method::Sampled,
                Some(v) => match v.get_ref().as_str() {
                    "sampled" => crate::physics::Method::Sampled,
                    "analytic" => crate::physics::Method::Analytic,
                    other => {
                        return Err(cx.err(
                            v,
                            format!("measurement = \"{other}\" is not \"sampled\" or \"analytic\""),
                        ))
                    }
                },
            },
            clock,
        });
    }
    Ok(out)
}

impl Ctx<'_> {
    fn start_span(&self) -> usize {
        self.text.find("[[meters]]").unwrap_or(0)
    }
}

fn relay_state(cx: &Ctx, v: &Spanned<String>) -> Result<bool, ScenarioError> {
    match v.get_ref().as_str() {
        "closed" | "on" => Ok(true),
        "open" | "off" => Ok(false),
        other => Err(cx.err(
            v,
            format!("relay = \"{other}\" is not \"closed\" or \"open\""),
        )),
    }
}

fn parse_jitter(cx: &Ctx, j: &RawJitter, stream: u64, seed: u64) -> Result<Jitter, ScenarioError> {
    Ok(Jitter {
        every: cx.positive_duration(&j.every, "every")?,
        amplitude: cx.number(&j.amplitude, "amplitude", 0.0, 1e6)?,
        anchor: cx.start,
        seed,
        stream,
    })
}

fn parse_supply(cx: &Ctx, raw: Option<&RawSupply>, seed: u64) -> Result<SupplySpec, ScenarioError> {
    let mut s = SupplySpec {
        voltage_v: 220.0,
        frequency_hz: 50.0,
        voltage_jitter: None,
        frequency_jitter: None,
        steps: Vec::new(),
    };
    let Some(r) = raw else { return Ok(s) };
    if let Some(v) = &r.voltage_v {
        s.voltage_v = cx.number(v, "voltage_v", 0.0, 1000.0)?;
    }
    if let Some(v) = &r.frequency_hz {
        s.frequency_hz = cx.number(v, "frequency_hz", 40.0, 70.0)?;
    }
    s.voltage_jitter = r
        .voltage_jitter
        .as_ref()
        .map(|j| parse_jitter(cx, j, super::schedule::STREAM_VOLTAGE, seed))
        .transpose()?;
    s.frequency_jitter = r
        .frequency_jitter
        .as_ref()
        .map(|j| parse_jitter(cx, j, super::schedule::STREAM_FREQUENCY, seed))
        .transpose()?;
    for st in &r.steps {
        let at = cx.time(&st.at, "at")?;
        let v = st
            .voltage_v
            .as_ref()
            .map(|v| cx.number(v, "voltage_v", 0.0, 1000.0))
            .transpose()?;
        let f = st
            .frequency_hz
            .as_ref()
            .map(|v| cx.number(v, "frequency_hz", 40.0, 70.0))
            .transpose()?;
        if v.is_none() && f.is_none() {
            return Err(cx.err(&st.at, "a supply step sets voltage_v, frequency_hz or both"));
        }
        s.steps.push((at, v, f));
    }
    s.steps.sort_by_key(|x| x.0);
    Ok(s)
}

fn parse_component(cx: &Ctx, c: &Spanned<RawComponent>) -> Result<ComponentSpec, ScenarioError> {
    let r = c.get_ref();
    let kind = r.kind.get_ref().as_str();
    let need = |v: &Option<Spanned<f64>>, field: &str, lo: f64, hi: f64| match v {
        Some(v) => cx.number(v, field, lo, hi),
        None => Err(cx.err(&r.kind, format!("a \"{kind}\" component needs {field}"))),
    };
    let pf = |default: Option<f64>| match (&r.power_factor, default) {
        (Some(v), _) => {
            let x = cx.number(v, "power_factor", 0.0, 1.0)?;
            if x <= 0.0 {
                return Err(cx.err(v, "power_factor must be more than 0"));
            }
            Ok(x)
        }
        (None, Some(d)) => Ok(d),
        (None, None) => Err(cx.err(
            &r.kind,
            format!("a \"{kind}\" component needs power_factor"),
        )),
    };
    let forbid = |v: bool, field: &str| {
        if v {
            Err(cx.err(&r.kind, format!("a \"{kind}\" component has no {field}")))
        } else {
            Ok(())
        }
    };
    let is_power = kind == "power";
    forbid(!is_power && r.active_w.is_some(), "active_w")?;
    forbid(!is_power && r.reactive_var.is_some(), "reactive_var")?;
    forbid(is_power && r.power_w.is_some(), "power_w (use active_w)")?;
    forbid(
        (is_power || kind == "resistive") && r.power_factor.is_some(),
        "power_factor",
    )?;
    const MAX_W: f64 = 1.0e6;
    Ok(match kind {
        "resistive" => ComponentSpec::Resistive {
            power_w: need(&r.power_w, "power_w", 0.0, MAX_W)?,
        },
        "inductive" => ComponentSpec::Inductive {
            power_w: need(&r.power_w, "power_w", 0.0, MAX_W)?,
            power_factor: pf(None)?,
        },
        "capacitive" => ComponentSpec::Capacitive {
            power_w: need(&r.power_w, "power_w", 0.0, MAX_W)?,
            power_factor: pf(None)?,
        },
        "non_linear" => ComponentSpec::NonLinear {
            power_w: need(&r.power_w, "power_w", 0.0, MAX_W)?,
            power_factor: pf(Some(1.0))?,
        },
        "generation" => ComponentSpec::Generation {
            power_w: need(&r.power_w, "power_w", 0.0, MAX_W)?,
            power_factor: pf(Some(1.0))?,
        },
        "power" => ComponentSpec::Power {
            active_w: need(&r.active_w, "active_w", -MAX_W, MAX_W)?,
            reactive_var: match &r.reactive_var {
                Some(v) => cx.number(v, "reactive_var", -MAX_W, MAX_W)?,
                None => 0.0,
            },
        },
        other => return Err(cx.err(
            &r.kind,
            format!("kind = \"{other}\" is not one of \"resistive\", \"inductive\", \"capacitive\", \"non_linear\", \"generation\", \"power\""),
        )),
    })
}

fn parse_load(cx: &Ctx, l: &RawLoad, seed: u64, index: u64) -> Result<LoadKind, ScenarioError> {
    match (&l.component, &l.replay) {
        (Some(_), Some(r)) => Err(cx.err(
            &r.file,
            "a load has either a component (with a schedule) or a replay, not both",
        )),
        (None, None) => Err(cx.err(&l.name, "a load needs a component or a replay")),
        (None, Some(r)) => {
            if let Some(p) = l.schedule.first() {
                return Err(cx.err(&p.kind, "a replayed load has no schedule"));
            }
            let columns = match r.columns.get_ref().as_str() {
                "p_q" => ReplayColumns::PQ,
                "i_pf" => ReplayColumns::IPf,
                other => {
                    return Err(cx.err(
                        &r.columns,
                        format!("columns = \"{other}\" is not \"p_q\" or \"i_pf\""),
                    ))
                }
            };
            let path = cx.base.join(r.file.get_ref());
            let csv_name = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| cx.err(&r.file, format!("cannot read {csv_name}: {e}")))?;
            let replay = Replay::parse(&csv_name, &text, columns, r.repeat, cx.start)?;
            Ok(LoadKind::Replay(Arc::new(replay)))
        }
        (Some(c), None) => {
            let component = parse_component(cx, c)?;
            let mut patterns = Vec::new();
            for (k, p) in l.schedule.iter().enumerate() {
                patterns.push(parse_pattern(cx, p, seed, (index << 8) + k as u64 + 16)?);
            }
            Ok(LoadKind::Switched {
                component,
                patterns,
            })
        }
    }
}

fn parse_level(cx: &Ctx, v: &Spanned<f64>) -> Result<f64, ScenarioError> {
    cx.number(v, "level", 0.0, 1000.0)
}

/// Time of day "HH:MM[:SS]" [ms since midnight].
fn parse_time_of_day(s: &str) -> Option<i64> {
    let t = NaiveTime::parse_from_str(s, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()?;
    Some(i64::from(t.num_seconds_from_midnight()) * 1000)
}

fn parse_pattern(
    cx: &Ctx,
    p: &RawPattern,
    seed: u64,
    stream: u64,
) -> Result<Pattern, ScenarioError> {
    let kind = p.kind.get_ref().as_str();
    let missing = |field: &str| cx.err(&p.kind, format!("a \"{kind}\" schedule needs {field}"));
    // Fields each kind may use; any other field given is an error.
    let used: &[&str] = match kind {
        "steps" => &["steps", "initial"],
        "ramp" => &["from", "to", "from_level", "to_level", "step"],
        "duty_cycle" => &["period", "on", "offset"],
        "daily" => &["hourly", "points"],
        "random" => &["every", "min", "max"],
        other => {
            return Err(cx.err(
                &p.kind,
                format!("kind = \"{other}\" is not one of \"steps\", \"ramp\", \"duty_cycle\", \"daily\", \"random\""),
            ))
        }
    };
    let given = [
        ("steps", p.steps.as_ref().map(|s| s.span().start)),
        ("initial", p.initial.as_ref().map(|s| s.span().start)),
        ("from", p.from.as_ref().map(|s| s.span().start)),
        ("to", p.to.as_ref().map(|s| s.span().start)),
        ("from_level", p.from_level.as_ref().map(|s| s.span().start)),
        ("to_level", p.to_level.as_ref().map(|s| s.span().start)),
        ("step", p.step.as_ref().map(|s| s.span().start)),
        ("period", p.period.as_ref().map(|s| s.span().start)),
        ("on", p.on.as_ref().map(|s| s.span().start)),
        ("offset", p.offset.as_ref().map(|s| s.span().start)),
        ("hourly", p.hourly.as_ref().map(|s| s.span().start)),
        ("points", p.points.as_ref().map(|s| s.span().start)),
        ("every", p.every.as_ref().map(|s| s.span().start)),
        ("min", p.min.as_ref().map(|s| s.span().start)),
        ("max", p.max.as_ref().map(|s| s.span().start)),
    ];
    for (field, at) in given {
        if let Some(at) = at {
            if !used.contains(&field) {
                return Err(ScenarioError::at(
                    cx.file,
                    cx.text,
                    at,
                    format!(
                        "{field} is not a field of a \"{kind}\" schedule (fields: {})",
                        used.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(match kind {
        "steps" => {
            let steps = p.steps.as_ref().ok_or_else(|| missing("steps"))?;
            let mut v = Vec::new();
            for s in steps.get_ref() {
                v.push((cx.time(&s.at, "at")?, parse_level(cx, &s.level)?));
            }
            v.sort_by_key(|x| x.0);
            Pattern::Steps {
                initial: p
                    .initial
                    .as_ref()
                    .map(|x| parse_level(cx, x))
                    .transpose()?
                    .unwrap_or(0.0),
                steps: v,
            }
        }
        "ramp" => {
            let from = cx.time(p.from.as_ref().ok_or_else(|| missing("from"))?, "from")?;
            let to_v = p.to.as_ref().ok_or_else(|| missing("to"))?;
            let to = cx.time(to_v, "to")?;
            if to <= from {
                return Err(cx.err(to_v, "a ramp ends after it starts"));
            }
            Pattern::Ramp {
                from,
                to,
                from_level: parse_level(
                    cx,
                    p.from_level.as_ref().ok_or_else(|| missing("from_level"))?,
                )?,
                to_level: parse_level(cx, p.to_level.as_ref().ok_or_else(|| missing("to_level"))?)?,
                step: match &p.step {
                    Some(s) => cx.positive_duration(s, "step")?,
                    None => SimDuration::from_minutes(1),
                },
            }
        }
        "duty_cycle" => {
            let period_v = p.period.as_ref().ok_or_else(|| missing("period"))?;
            let period = cx.positive_duration(period_v, "period")?;
            let on_v = p.on.as_ref().ok_or_else(|| missing("on"))?;
            let on = cx.duration(on_v, "on")?;
            if on > period {
                return Err(cx.err(on_v, "on must not be longer than period"));
            }
            let offset = p
                .offset
                .as_ref()
                .map(|o| cx.duration(o, "offset"))
                .transpose()?;
            Pattern::DutyCycle {
                anchor: cx.start + offset.unwrap_or(SimDuration::ZERO),
                period,
                on,
            }
        }
        "daily" => {
            let mut points = Vec::new();
            match (&p.hourly, &p.points) {
                (Some(h), None) => {
                    if h.get_ref().len() != 24 {
                        return Err(cx.err(
                            h,
                            format!(
                                "hourly has 24 levels (00:00 to 23:00), got {}",
                                h.get_ref().len()
                            ),
                        ));
                    }
                    for (i, &x) in h.get_ref().iter().enumerate() {
                        if !(x.is_finite() && (0.0..=1000.0).contains(&x)) {
                            return Err(cx.err(h, format!("hourly level {x} is not in 0–1000")));
                        }
                        points.push((i as i64 * 3_600_000, x));
                    }
                }
                (None, Some(ps)) => {
                    for pt in ps.get_ref() {
                        let ms = parse_time_of_day(pt.time.get_ref()).ok_or_else(|| {
                            cx.err(
                                &pt.time,
                                format!(
                                    "time = \"{}\" is not a time of day HH:MM[:SS]",
                                    pt.time.get_ref()
                                ),
                            )
                        })?;
                        if points.iter().any(|(t, _)| *t == ms) {
                            return Err(cx.err(&pt.time, "two points at the same time of day"));
                        }
                        points.push((ms, parse_level(cx, &pt.level)?));
                    }
                    if points.is_empty() {
                        return Err(cx.err(ps, "points needs at least one point"));
                    }
                    points.sort_by_key(|x| x.0);
                }
                (Some(h), Some(_)) => return Err(cx.err(h, "give hourly or points, not both")),
                (None, None) => return Err(missing("hourly or points")),
            }
            Pattern::Daily { points }
        }
        "random" => {
            let every =
                cx.positive_duration(p.every.as_ref().ok_or_else(|| missing("every"))?, "every")?;
            let min = parse_level(cx, p.min.as_ref().ok_or_else(|| missing("min"))?)?;
            let max_v = p.max.as_ref().ok_or_else(|| missing("max"))?;
            let max = parse_level(cx, max_v)?;
            if max < min {
                return Err(cx.err(max_v, "max must be at least min"));
            }
            Pattern::Random {
                anchor: cx.start,
                every,
                min,
                max,
                seed,
                stream,
            }
        }
        _ => return Err(missing("a known kind")),
    })
}

fn parse_event(
    cx: &Ctx,
    e: &RawEvent,
    meter: Option<usize>,
    meters: &[MeterSpec],
) -> Result<EventSpec, ScenarioError> {
    let at = cx.time(&e.at, "at")?;
    let action = e.action.get_ref().as_str();
    let missing = |field: &str| cx.err(&e.action, format!("action \"{action}\" needs {field}"));
    let used: &[&str] = match action {
        "power_off" | "power_on" => &[],
        "top_up" => &["kwh"],
        "set_clock" => &["clock"],
        "write_registers" => &["address", "values", "float"],
        "write_coil" => &["address", "on"],
        "panel" => &["op", "password", "setting", "value"],
        other => {
            return Err(cx.err(
                &e.action,
                format!("action = \"{other}\" is not one of \"power_off\", \"power_on\", \"top_up\", \"set_clock\", \"write_registers\", \"write_coil\", \"panel\""),
            ))
        }
    };
    let given = [
        ("kwh", e.kwh.as_ref().map(|s| s.span().start)),
        ("clock", e.clock.as_ref().map(|s| s.span().start)),
        ("address", e.address.as_ref().map(|s| s.span().start)),
        ("values", e.values.as_ref().map(|s| s.span().start)),
        ("float", e.float.as_ref().map(|s| s.span().start)),
        ("on", e.on.as_ref().map(|s| s.span().start)),
        ("op", e.op.as_ref().map(|s| s.span().start)),
        ("password", e.password.as_ref().map(|s| s.span().start)),
        ("setting", e.setting.as_ref().map(|s| s.span().start)),
        ("value", e.value.as_ref().map(|s| s.span().start)),
    ];
    for (field, pos) in given {
        if let Some(pos) = pos {
            if !used.contains(&field) {
                return Err(ScenarioError::at(
                    cx.file,
                    cx.text,
                    pos,
                    format!("{field} is not a field of action \"{action}\""),
                ));
            }
        }
    }
    let action = match action {
        "power_off" => EventAction::PowerOff,
        "power_on" => EventAction::PowerOn,
        "top_up" => {
            let v = e.kwh.as_ref().ok_or_else(|| missing("kwh"))?;
            let kwh = cx.number(v, "kwh", 0.0, 1.0e6)?;
            if kwh <= 0.0 {
                return Err(cx.err(v, "a top-up adds more than 0 kWh"));
            }
            EventAction::TopUp(kwh)
        }
        "set_clock" => EventAction::SetClock(
            cx.absolute_datetime(e.clock.as_ref().ok_or_else(|| missing("clock"))?, "clock")?,
        ),
        "write_registers" => {
            let a = e.address.as_ref().ok_or_else(|| missing("address"))?;
            let targets: Vec<&MeterSpec> = match meter {
                Some(i) => meters.get(i).into_iter().collect(),
                None => meters.iter().collect(),
            };
            let words = match (&e.values, &e.float) {
                (Some(v), None) => {
                    if v.get_ref().is_empty() || v.get_ref().len() > 123 {
                        return Err(cx.err(v, "values holds 1–123 registers"));
                    }
                    v.get_ref().clone()
                }
                (None, Some(f)) => {
                    let order = targets.first().map(|m| m.profile.map.word_order);
                    let bits = (*f.get_ref() as f32).to_bits();
                    let (hi, lo) = ((bits >> 16) as u16, bits as u16);
                    match order {
                        Some(crate::profile::WordOrder::LowFirst) => vec![lo, hi],
                        _ => vec![hi, lo],
                    }
                }
                (Some(v), Some(_)) => return Err(cx.err(v, "give values or float, not both")),
                (None, None) => return Err(missing("values (register words) or float")),
            };
            // The register must exist and be writable in each target's map.
            for m in targets {
                let map = &m.profile.map;
                let snap = crate::meter::Meter::new(
                    m.profile.meter.clone(),
                    0,
                    cx.start,
                    cx.start.to_datetime(),
                )
                .snapshot();
                if let Err(err) = crate::image::write_registers(map, &snap, *a.get_ref(), &words) {
                    if matches!(err, crate::image::ImageError::Address { .. }) {
                        return Err(cx.err(a, format!("meter \"{}\": {err}", m.name)));
                    }
                }
            }
            EventAction::WriteRegisters {
                address: *a.get_ref(),
                words,
            }
        }
        "write_coil" => EventAction::WriteCoil {
            address: *e.address.as_ref().map_or(&1, |a| a.get_ref()),
            on: *e
                .on
                .as_ref()
                .ok_or_else(|| missing("on = true | false"))?
                .get_ref(),
        },
        "panel" => {
            let op_v = e.op.as_ref().ok_or_else(|| missing("op"))?;
            let op = match op_v.get_ref().as_str() {
                "password" => PanelOp::EnterPassword(
                    *e.password.as_ref().ok_or_else(|| missing("password"))?.get_ref(),
                ),
                "relay_on" => PanelOp::Relay(true),
                "relay_off" => PanelOp::Relay(false),
                "next_page" => PanelOp::NextPage,
                "previous_page" => PanelOp::PreviousPage,
                "exit" => PanelOp::Exit,
                "set" => PanelOp::Set(panel_setting(cx, e, &missing)?),
                other => {
                    return Err(cx.err(
                        op_v,
                        format!("op = \"{other}\" is not one of \"password\", \"set\", \"relay_on\", \"relay_off\", \"next_page\", \"previous_page\", \"exit\""),
                    ))
                }
            };
            if e.password.is_some() && !matches!(op, PanelOp::EnterPassword(_)) {
                return Err(cx.err(op_v, "password goes with op = \"password\""));
            }
            if (e.setting.is_some() || e.value.is_some()) && !matches!(op, PanelOp::Set(_)) {
                return Err(cx.err(op_v, "setting and value go with op = \"set\""));
            }
            EventAction::Panel(op)
        }
        _ => return Err(missing("a known action")),
    };
    Ok(EventSpec {
        at,
        meter,
        action,
        line: cx.line(&e.at),
    })
}

/// The settings the front panel can change (`op = "set"`): `setting` and,
/// except for the two clear operations, `value`, checked against the meter's
/// ranges here so that a scenario with an impossible value does not run.
fn panel_setting(
    cx: &Ctx,
    e: &RawEvent,
    missing: &dyn Fn(&str) -> ScenarioError,
) -> Result<Command, ScenarioError> {
    const KNOWN: [&str; 9] = [
        "password",
        "address",
        "baud",
        "parity",
        "wireless",
        "frequency",
        "relay_mode",
        "clear_energy",
        "clear_residual",
    ];
    let name_v = e
        .setting
        .as_ref()
        .ok_or_else(|| missing("setting (with op = \"set\")"))?;
    let name = name_v.get_ref().as_str();
    let not_known = || {
        cx.err(
            name_v,
            format!(
                "setting = \"{name}\" is not one of \"{}\"",
                KNOWN.join("\", \"")
            ),
        )
    };
    if !KNOWN.contains(&name) {
        return Err(not_known());
    }
    let needs_value = !matches!(name, "clear_energy" | "clear_residual");
    let value = match (&e.value, needs_value) {
        (Some(v), true) => Some(v),
        (None, true) => return Err(cx.err(name_v, format!("setting \"{name}\" needs a value"))),
        (Some(v), false) => return Err(cx.err(v, format!("setting \"{name}\" takes no value"))),
        (None, false) => None,
    };
    let int = |v: &Spanned<toml::Value>| -> Result<i64, ScenarioError> {
        v.get_ref().as_integer().ok_or_else(|| {
            cx.err(
                v,
                format!("the value of setting \"{name}\" is a whole number"),
            )
        })
    };
    let word = |v: &Spanned<toml::Value>, allowed: &[&str]| -> Result<String, ScenarioError> {
        match v.get_ref().as_str() {
            Some(w) if allowed.contains(&w) => Ok(w.to_string()),
            _ => Err(cx.err(
                v,
                format!(
                    "the value of setting \"{name}\" is one of \"{}\"",
                    allowed.join("\", \"")
                ),
            )),
        }
    };
    // Out of u16/u32 range is out of the setting's range too: map it to a
    // value check_values refuses with the allowed range in its message.
    let cmd = match (name, value) {
        ("password", Some(v)) => Command::SetPassword(u16::try_from(int(v)?).unwrap_or(u16::MAX)),
        ("address", Some(v)) => Command::SetAddress(u16::try_from(int(v)?).unwrap_or(0)),
        ("baud", Some(v)) => Command::SetBaud(u32::try_from(int(v)?).unwrap_or(0)),
        ("frequency", Some(v)) => Command::SetFrequency(u16::try_from(int(v)?).unwrap_or(0)),
        ("parity", Some(v)) => {
            Command::SetParity(match word(v, &["none", "even", "odd"])?.as_str() {
                "none" => Parity::None,
                "even" => Parity::Even,
                _ => Parity::Odd,
            })
        }
        ("wireless", Some(v)) => {
            Command::SetWireless(match word(v, &["mqtt", "debug"])?.as_str() {
                "mqtt" => WirelessMode::Mqtt,
                _ => WirelessMode::Debug,
            })
        }
        ("relay_mode", Some(v)) => {
            Command::SetRelayMode(match word(v, &["remote", "local"])?.as_str() {
                "remote" => RelayMode::Remote,
                _ => RelayMode::Local,
            })
        }
        ("clear_energy", None) => Command::ClearEnergy,
        ("clear_residual", None) => Command::ClearResidual,
        _ => return Err(not_known()),
    };
    if let Err(err) = cmd.check_values() {
        return Err(match value {
            Some(v) => cx.err(v, err.to_string()),
            None => cx.err(name_v, err.to_string()),
        });
    }
    Ok(cmd)
}

fn parse_expect(
    cx: &Ctx,
    x: &RawExpect,
    index: usize,
    meter: usize,
    meters: &[MeterSpec],
) -> Result<Expectation, ScenarioError> {
    let anchor =
        x.at.as_ref()
            .map(|a| a.span().start)
            .or(x.event.as_ref().map(|a| a.span().start))
            .or(x.register.as_ref().map(|a| a.span().start))
            .or(x.quantity.as_ref().map(|a| a.span().start))
            .or(x.relay.as_ref().map(|a| a.span().start))
            .unwrap_or(0);
    let line = crate::profile::line_col(cx.text, anchor).0;
    let here = |msg: String| ScenarioError::at(cx.file, cx.text, anchor, msg);
    let label = x
        .name
        .clone()
        .unwrap_or_else(|| format!("expectation #{} (line {line})", index + 1));
    let at = match &x.at {
        Some(a) => cx.time(a, "at")?,
        None => cx.end,
    };
    let spec = meters
        .get(meter)
        .ok_or_else(|| here("no such meter".into()))?;
    let map = &spec.profile.map;
    let kinds = usize::from(x.register.is_some() || x.quantity.is_some())
        + usize::from(x.relay.is_some())
        + usize::from(x.event.is_some());
    if kinds != 1 {
        return Err(here(
            "an expectation checks exactly one of: a register or quantity (with equals), relay, or event".into(),
        ));
    }
    let kind = if let Some(ev) = &x.event {
        if x.at.is_some() || x.equals.is_some() || x.tolerance.is_some() || x.month.is_some() {
            return Err(cx.err(ev, "an event expectation uses after, before and count (not at, equals, tolerance, month)"));
        }
        let from = x
            .after
            .as_ref()
            .map(|a| cx.time(a, "after"))
            .transpose()?
            .unwrap_or(cx.start);
        let to = x
            .before
            .as_ref()
            .map(|a| cx.time(a, "before"))
            .transpose()?
            .unwrap_or(cx.end);
        if to < from {
            return Err(here("before is earlier than after".into()));
        }
        ExpectKind::Event {
            name: ev.get_ref().clone(),
            from,
            to,
            count: x.count.as_ref().map(|c| *c.get_ref()),
        }
    } else {
        if let Some(a) = x.after.as_ref().or(x.before.as_ref()) {
            return Err(cx.err(a, "after and before belong to event expectations; use at"));
        }
        if let Some(c) = &x.count {
            return Err(cx.err(c, "count belongs to event expectations"));
        }
        if let Some(r) = &x.relay {
            if x.equals.is_some() || x.tolerance.is_some() || x.month.is_some() {
                return Err(cx.err(r, "a relay expectation has no equals, tolerance or month"));
            }
            let closed = relay_state(cx, r)?;
            let coil = map.coils().first().map(|c| c.address).ok_or_else(|| {
                cx.err(
                    r,
                    format!("meter \"{}\"'s profile has no relay coil", spec.name),
                )
            })?;
            ExpectKind::Relay { at, coil, closed }
        } else {
            let probe = if let Some(q) = &x.quantity {
                let key = q.get_ref();
                let mut quantity = Quantity::parse(key).ok_or_else(|| {
                    cx.err(q, format!("quantity = \"{key}\" is not a quantity of the register map (see `metertwin registers`)"))
                })?;
                if let Some(m) = &x.month {
                    match quantity {
                        Quantity::History(s, _) if *m.get_ref() <= 12 => {
                            quantity = Quantity::History(s, *m.get_ref());
                        }
                        Quantity::History(..) => {
                            return Err(cx.err(m, "month is 0 (this month) to 12"))
                        }
                        _ => return Err(cx.err(m, "month goes with history.* quantities")),
                    }
                } else if matches!(quantity, Quantity::History(..)) {
                    return Err(cx.err(
                        q,
                        "a history quantity needs month = 0 (this month) to 12 (previous 12)",
                    ));
                }
                let field = map.field_of(quantity).ok_or_else(|| {
                    cx.err(
                        q,
                        format!("meter \"{}\"'s register map has no \"{key}\"", spec.name),
                    )
                })?;
                Probe {
                    address: field.address,
                    kind: field.kind,
                    name: key.clone(),
                }
            } else if let Some(r) = &x.register {
                if let Some(m) = &x.month {
                    return Err(cx.err(m, "month goes with quantity, not register"));
                }
                let a = *r.get_ref();
                let field = map
                    .fields()
                    .iter()
                    .find(|f| f.address == a)
                    .ok_or_else(|| {
                        cx.err(
                            r,
                            format!(
                                "no register starts at {a:04X}H in meter \"{}\"'s map",
                                spec.name
                            ),
                        )
                    })?;
                Probe {
                    address: a,
                    kind: field.kind,
                    name: format!("{a:04X}H {}", field.name),
                }
            } else {
                return Err(here("unreachable".into()));
            };
            if !matches!(probe.kind, FieldType::U16 | FieldType::U32 | FieldType::F32) {
                return Err(here(format!("{} is not a number register", probe.name)));
            }
            let equals = x
                .equals
                .as_ref()
                .ok_or_else(|| here("a register expectation needs equals".into()))?;
            if !equals.get_ref().is_finite() {
                return Err(cx.err(equals, "equals must be a finite number"));
            }
            let tolerance = match &x.tolerance {
                Some(t) => cx.number(t, "tolerance", 0.0, f64::MAX)?,
                None if probe.kind == FieldType::F32 => 1e-6 * equals.get_ref().abs(),
                None => 0.0,
            };
            ExpectKind::Value {
                at,
                probe,
                equals: *equals.get_ref(),
                tolerance,
            }
        }
    };
    Ok(Expectation {
        label,
        line,
        meter,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Some(SimDuration::from_secs(90)));
        assert_eq!(
            parse_duration("1h30min"),
            Some(SimDuration::from_minutes(90))
        );
        assert_eq!(parse_duration("1d 6h"), Some(SimDuration::from_hours(30)));
        assert_eq!(parse_duration("0.5s"), Some(SimDuration::from_millis(500)));
        assert_eq!(
            parse_duration("365d"),
            Some(SimDuration::from_hours(365 * 24))
        );
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5m"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("+08:00"), Some(8 * 3600));
        assert_eq!(parse_offset("-05:30"), Some(-(5 * 3600 + 1800)));
        assert_eq!(parse_offset("Europe/Paris"), None);
    }

    #[test]
    fn components_give_signed_power() {
        let (p, q) = ComponentSpec::Inductive {
            power_w: 800.0,
            power_factor: 0.8,
        }
        .power(1.0);
        assert!((p - 800.0).abs() < 1e-9 && (q - 600.0).abs() < 1e-9);
        let (p, q) = ComponentSpec::Capacitive {
            power_w: 800.0,
            power_factor: 0.8,
        }
        .power(0.5);
        assert!((p - 400.0).abs() < 1e-9 && (q + 300.0).abs() < 1e-9);
        let (p, q) = ComponentSpec::Generation {
            power_w: 3000.0,
            power_factor: 1.0,
        }
        .power(1.0);
        assert_eq!((p, q), (-3000.0, 0.0));
    }
}
