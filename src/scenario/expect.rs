//! Expectations: what must hold for a scenario to pass, and their outcomes.
//!
//! Values are read through the register image ([`crate::image`]), the same
//! path a Modbus client reads, so an expectation on 0080H checks exactly what
//! a SCADA would see (float32, the profile's word order).

use crate::image;
use crate::meter::Snapshot;
use crate::profile::quantity::FieldType;
use crate::profile::{RegisterMap, WordOrder};
use crate::time::SimTime;

/// A register to read: its start address and encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub address: u16,
    pub kind: FieldType,
    /// How the scenario named it (quantity key, or address and name).
    pub name: String,
}

impl Probe {
    /// The register's value as a number, read through the image.
    pub fn read(&self, map: &RegisterMap, snap: &Snapshot) -> Result<f64, String> {
        let words = image::read_registers(map, snap, self.address, self.kind.width())
            .map_err(|e| e.to_string())?;
        let join = |w: &[u16]| match map.word_order {
            WordOrder::HighFirst => (u32::from(w[0]) << 16) | u32::from(w[1]),
            WordOrder::LowFirst => (u32::from(w[1]) << 16) | u32::from(w[0]),
        };
        Ok(match self.kind {
            FieldType::U16 => f64::from(words[0]),
            FieldType::U32 => f64::from(join(&words)),
            FieldType::F32 => f64::from(f32::from_bits(join(&words))),
            _ => return Err(format!("{} is not a number register", self.name)),
        })
    }
}

/// What an expectation checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectKind {
    /// The register equals `equals` within `tolerance` (same unit) at `at`.
    Value {
        at: SimTime,
        probe: Probe,
        equals: f64,
        tolerance: f64,
    },
    /// The relay coil is closed (or open) at `at`.
    Relay {
        at: SimTime,
        coil: u16,
        closed: bool,
    },
    /// An event named `name` happened between `from` and `to` (inclusive):
    /// exactly `count` times, or at least once.
    Event {
        name: String,
        from: SimTime,
        to: SimTime,
        count: Option<usize>,
    },
}

/// One expectation of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// Its `name`, or "expectation #N (line L)".
    pub label: String,
    /// Line in the scenario file.
    pub line: usize,
    pub meter: usize,
    pub kind: ExpectKind,
}

impl Expectation {
    /// When a value or relay expectation is checked; `None` for events
    /// (checked at the end, over the whole log).
    pub fn at(&self) -> Option<SimTime> {
        match &self.kind {
            ExpectKind::Value { at, .. } | ExpectKind::Relay { at, .. } => Some(*at),
            ExpectKind::Event { .. } => None,
        }
    }

    /// Check a value or relay expectation against `snap`.
    pub fn check_snapshot(&self, map: &RegisterMap, snap: &Snapshot) -> Outcome {
        let (expected, actual, passed) = match &self.kind {
            ExpectKind::Value {
                probe,
                equals,
                tolerance,
                ..
            } => {
                let expected = if *tolerance > 0.0 {
                    format!("{} = {equals} ± {tolerance}", probe.name)
                } else {
                    format!("{} = {equals}", probe.name)
                };
                match probe.read(map, snap) {
                    Ok(v) => (expected, format!("{v}"), (v - equals).abs() <= *tolerance),
                    Err(e) => (expected, e, false),
                }
            }
            ExpectKind::Relay { coil, closed, .. } => {
                let word = |c: bool| if c { "closed" } else { "open" };
                match image::read_coils(map, snap, *coil, 1) {
                    Ok(v) => {
                        let is = v.first().copied().unwrap_or(false);
                        (
                            format!("relay {}", word(*closed)),
                            format!("relay {}", word(is)),
                            is == *closed,
                        )
                    }
                    Err(e) => (format!("relay {}", word(*closed)), e.to_string(), false),
                }
            }
            ExpectKind::Event { .. } => (String::new(), "not a snapshot check".into(), false),
        };
        Outcome {
            label: self.label.clone(),
            at: snap.at,
            passed,
            expected,
            actual,
        }
    }

    /// Check an event expectation against the times of the events named
    /// `name` on this expectation's meter.
    pub fn check_events(&self, times: &[SimTime], end: SimTime) -> Outcome {
        let ExpectKind::Event {
            name,
            from,
            to,
            count,
        } = &self.kind
        else {
            return Outcome {
                label: self.label.clone(),
                at: end,
                passed: false,
                expected: String::new(),
                actual: "not an event check".into(),
            };
        };
        let inside: Vec<SimTime> = times
            .iter()
            .copied()
            .filter(|t| t >= from && t <= to)
            .collect();
        let passed = match count {
            Some(n) => inside.len() == *n,
            None => !inside.is_empty(),
        };
        let how_many =
            count.map_or_else(|| "at least once".to_string(), |n| format!("{n} time(s)"));
        let seen = if times.is_empty() {
            "never".to_string()
        } else {
            let list: Vec<String> = times.iter().take(5).map(|t| t.to_string()).collect();
            format!(
                "{} time(s) in the window; all at: {}{}",
                inside.len(),
                list.join(", "),
                if times.len() > 5 { ", ..." } else { "" }
            )
        };
        Outcome {
            label: self.label.clone(),
            at: end,
            passed,
            expected: format!("event {name} {how_many} between {from} and {to}"),
            actual: seen,
        }
    }
}

/// The result of one expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub label: String,
    /// When it was checked.
    pub at: SimTime,
    pub passed: bool,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "ok" } else { "FAILED" };
        write!(
            f,
            "{verdict}: {} at {}: expected {}, actual {}",
            self.label, self.at, self.expected, self.actual
        )
    }
}
