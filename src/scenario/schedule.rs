//! Load and supply processes over simulated time.
//!
//! Every process is piecewise constant and knows when it next changes, so
//! the engine can jump from change to change (no ticking). Randomness is a
//! pure function of (seed, stream, step index): the value of step k is drawn
//! from a ChaCha8 stream positioned at k, so it does not depend on how often
//! or in which order the process is asked — the same scenario and seed give
//! the same loads at every speed.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ScenarioError;
use crate::time::{SimDuration, SimTime};

/// Random stream of the supply voltage jitter.
pub const STREAM_VOLTAGE: u64 = 1;
/// Random stream of the supply frequency jitter.
pub const STREAM_FREQUENCY: u64 = 2;

/// A uniform random number in [0, 1) for step `k` of `stream`.
pub fn unit_random(seed: u64, stream: u64, k: i64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    // Two 32-bit words per step: one u64.
    rng.set_word_pos(u128::from(k.max(0) as u64) * 2);
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Index of the step of length `every` from `anchor` that holds `t`.
fn step_index(anchor: SimTime, every: SimDuration, t: SimTime) -> i64 {
    (t - anchor)
        .as_millis()
        .div_euclid(every.as_millis().max(1))
}

/// The first step boundary strictly after `t`.
fn next_boundary(anchor: SimTime, every: SimDuration, t: SimTime) -> SimTime {
    let k = step_index(anchor, every, t) + 1;
    anchor + SimDuration::from_millis(k.saturating_mul(every.as_millis().max(1)))
}

/// Uniform noise of ±`amplitude`, a new value every `every`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jitter {
    pub every: SimDuration,
    /// Half-width of the noise, in the unit of the quantity it disturbs.
    pub amplitude: f64,
    pub anchor: SimTime,
    pub seed: u64,
    pub stream: u64,
}

impl Jitter {
    /// The offset in force at `t`.
    pub fn at(&self, t: SimTime) -> f64 {
        let k = step_index(self.anchor, self.every, t);
        self.amplitude * (2.0 * unit_random(self.seed, self.stream, k) - 1.0)
    }

    pub fn next_change_after(&self, t: SimTime) -> SimTime {
        next_boundary(self.anchor, self.every, t)
    }
}

/// A level (a factor of a component's rating: 0 = off, 1 = rated) over time.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// `initial` until the first step, then each step's level from its time.
    Steps {
        initial: f64,
        steps: Vec<(SimTime, f64)>,
    },
    /// `from_level` until `from`, a straight line to `to_level` at `to`,
    /// then `to_level`. In between the level is held for `step` at a time,
    /// at the line's value in the middle of the step, so the energy of the
    /// ramp is exact.
    Ramp {
        from: SimTime,
        to: SimTime,
        from_level: f64,
        to_level: f64,
        step: SimDuration,
    },
    /// On (level 1) for `on` at the start of every `period` from `anchor`,
    /// off for the rest.
    DutyCycle {
        anchor: SimTime,
        period: SimDuration,
        on: SimDuration,
    },
    /// A profile repeating every day: (time of day [ms], level) sorted; each
    /// level holds until the next point; before the first point of the day
    /// the last one holds (it wraps past midnight).
    Daily { points: Vec<(i64, f64)> },
    /// A bounded random process: a new level, uniform in [min, max], every
    /// `every` from `anchor`.
    Random {
        anchor: SimTime,
        every: SimDuration,
        min: f64,
        max: f64,
        seed: u64,
        stream: u64,
    },
}

const DAY_MS: i64 = 86_400_000;

impl Pattern {
    /// The level at `t`.
    pub fn level_at(&self, t: SimTime) -> f64 {
        match self {
            Pattern::Steps { initial, steps } => {
                let i = steps.partition_point(|(at, _)| *at <= t);
                if i == 0 {
                    *initial
                } else {
                    steps[i - 1].1
                }
            }
            Pattern::Ramp {
                from,
                to,
                from_level,
                to_level,
                step,
            } => {
                if t < *from {
                    *from_level
                } else if t >= *to {
                    *to_level
                } else {
                    let span = (*to - *from).as_millis() as f64;
                    let k = step_index(*from, *step, t);
                    let s = step.as_millis();
                    let seg_start = k * s;
                    let seg_end = (seg_start + s).min((*to - *from).as_millis());
                    let mid = (seg_start + seg_end) as f64 / 2.0;
                    from_level + (to_level - from_level) * mid / span
                }
            }
            Pattern::DutyCycle { anchor, period, on } => {
                let phase = (t - *anchor)
                    .as_millis()
                    .rem_euclid(period.as_millis().max(1));
                if phase < on.as_millis() {
                    1.0
                } else {
                    0.0
                }
            }
            Pattern::Daily { points } => {
                let tod = t.0.rem_euclid(DAY_MS);
                let i = points.partition_point(|(ms, _)| *ms <= tod);
                let idx = if i == 0 { points.len() - 1 } else { i - 1 };
                points.get(idx).map_or(0.0, |p| p.1)
            }
            Pattern::Random {
                anchor,
                every,
                min,
                max,
                seed,
                stream,
            } => {
                let k = step_index(*anchor, *every, t);
                min + (max - min) * unit_random(*seed, *stream, k)
            }
        }
    }

    /// The first instant after `t` at which the level may change.
    pub fn next_change_after(&self, t: SimTime) -> Option<SimTime> {
        match self {
            Pattern::Steps { steps, .. } => {
                let i = steps.partition_point(|(at, _)| *at <= t);
                steps.get(i).map(|s| s.0)
            }
            Pattern::Ramp { from, to, step, .. } => {
                if t < *from {
                    Some(*from)
                } else if t >= *to {
                    None
                } else {
                    Some(next_boundary(*from, *step, t).min(*to))
                }
            }
            Pattern::DutyCycle { anchor, period, on } => {
                let p = period.as_millis().max(1);
                let base = t.0 - (t - *anchor).as_millis().rem_euclid(p);
                let on_end = SimTime(base + on.as_millis());
                if on.as_millis() == 0 || on.as_millis() == p {
                    None
                } else if on_end > t {
                    Some(on_end)
                } else {
                    Some(SimTime(base + p))
                }
            }
            Pattern::Daily { points } => {
                if points.len() < 2 {
                    return None;
                }
                let day = t.0.div_euclid(DAY_MS) * DAY_MS;
                let tod = t.0 - day;
                let i = points.partition_point(|(ms, _)| *ms <= tod);
                Some(match points.get(i) {
                    Some((ms, _)) => SimTime(day + ms),
                    None => SimTime(day + DAY_MS + points[0].0),
                })
            }
            Pattern::Random { anchor, every, .. } => Some(next_boundary(*anchor, *every, t)),
        }
    }
}

/// The columns of a replay CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayColumns {
    /// `time, p_w, q_var`
    PQ,
    /// `time, i_a, pf`: P = U·I·PF and Q = U·I·√(1−PF²) (inductive; a
    /// negative PF means export, IEC sign convention).
    IPf,
}

/// Recorded readings, held sample-and-hold from each row's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub columns: ReplayColumns,
    /// (time, first value, second value) sorted by time.
    pub rows: Vec<(SimTime, f64, f64)>,
    /// Replay again from the first row after the last row's time + the
    /// last interval.
    pub repeat: bool,
}

impl Replay {
    /// Parse a replay CSV: a header line, then rows `time,a,b`. `time` is
    /// seconds since the scenario start, or a local date-time. `#` starts a
    /// comment line.
    pub fn parse(
        file: &str,
        text: &str,
        columns: ReplayColumns,
        repeat: bool,
        start: SimTime,
    ) -> Result<Self, ScenarioError> {
        let expected: &[&str] = match columns {
            ReplayColumns::PQ => &["time", "p_w", "q_var"],
            ReplayColumns::IPf => &["time", "i_a", "pf"],
        };
        let mut rows: Vec<(SimTime, f64, f64)> = Vec::new();
        let mut header_seen = false;
        let mut offset = 0usize;
        for line in text.split_inclusive('\n') {
            let at = offset;
            offset += line.len();
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let cells: Vec<&str> = l.split(',').map(str::trim).collect();
            if !header_seen {
                header_seen = true;
                if cells != expected {
                    return Err(ScenarioError::at(
                        file,
                        text,
                        at,
                        format!("the header must be \"{}\"", expected.join(",")),
                    ));
                }
                continue;
            }
            if cells.len() != 3 {
                return Err(ScenarioError::at(
                    file,
                    text,
                    at,
                    format!(
                        "a row has 3 cells ({}), got {}",
                        expected.join(","),
                        cells.len()
                    ),
                ));
            }
            let col_at = |i: usize| at + line.find(cells[i]).unwrap_or(0);
            let t = match cells[0].parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => {
                    start + SimDuration::from_millis((s * 1000.0).round() as i64)
                }
                _ => match super::format::parse_datetime(cells[0]) {
                    Some(dt) => SimTime::from_datetime(dt),
                    None => {
                        return Err(ScenarioError::at(
                            file,
                            text,
                            col_at(0),
                            format!("time \"{}\" is not seconds ≥ 0 or a date-time", cells[0]),
                        ))
                    }
                },
            };
            if rows.last().is_some_and(|r| r.0 >= t) {
                return Err(ScenarioError::at(
                    file,
                    text,
                    col_at(0),
                    "times must increase from row to row",
                ));
            }
            let mut v = [0.0; 2];
            for (k, slot) in v.iter_mut().enumerate() {
                *slot = match cells[k + 1].parse::<f64>() {
                    Ok(x) if x.is_finite() && x.abs() <= 1e6 => x,
                    _ => {
                        return Err(ScenarioError::at(
                            file,
                            text,
                            col_at(k + 1),
                            format!("{} = \"{}\" is not a number", expected[k + 1], cells[k + 1]),
                        ))
                    }
                };
            }
            if columns == ReplayColumns::IPf && (v[0] < 0.0 || v[1].abs() > 1.0) {
                return Err(ScenarioError::at(
                    file,
                    text,
                    col_at(1),
                    "i_a must be ≥ 0 and pf in −1…1",
                ));
            }
            rows.push((t, v[0], v[1]));
        }
        if rows.is_empty() {
            return Err(ScenarioError::at(
                file,
                text,
                0,
                "the replay file has no rows",
            ));
        }
        Ok(Self {
            columns,
            rows,
            repeat,
        })
    }

    /// Length of one pass [ms]: first row to last row plus the last interval.
    fn cycle_ms(&self) -> i64 {
        let n = self.rows.len();
        let first = self.rows[0].0;
        let last = self.rows[n - 1].0;
        let tail = if n > 1 {
            (last - self.rows[n - 2].0).as_millis()
        } else {
            1000
        };
        ((last - first).as_millis() + tail).max(1)
    }

    /// Map `t` into the first pass when repeating.
    fn fold(&self, t: SimTime) -> (SimTime, i64) {
        let first = self.rows[0].0;
        if !self.repeat || t < first {
            return (t, 0);
        }
        let c = self.cycle_ms();
        let k = (t - first).as_millis().div_euclid(c);
        (SimTime(t.0 - k * c), k * c)
    }

    /// Active [W] and reactive [var] power at `t` on a supply of
    /// `voltage_v` [V]; 0 before the first row.
    pub fn power_at(&self, t: SimTime, voltage_v: f64) -> (f64, f64) {
        let (t, _) = self.fold(t);
        let i = self.rows.partition_point(|r| r.0 <= t);
        if i == 0 {
            return (0.0, 0.0);
        }
        let (_, a, b) = self.rows[i - 1];
        match self.columns {
            ReplayColumns::PQ => (a, b),
            ReplayColumns::IPf => {
                let s = voltage_v * a;
                (s * b, s * (1.0 - b * b).max(0.0).sqrt())
            }
        }
    }

    pub fn next_change_after(&self, t: SimTime) -> Option<SimTime> {
        let (ft, shift) = self.fold(t);
        let i = self.rows.partition_point(|r| r.0 <= ft);
        match self.rows.get(i) {
            Some(r) => Some(SimTime(r.0 .0 + shift)),
            None if self.repeat => Some(SimTime(self.rows[0].0 .0 + shift + self.cycle_ms())),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn random_values_depend_only_on_seed_stream_and_step() {
        let a = unit_random(7, 3, 100);
        let _ = unit_random(7, 3, 5);
        assert_eq!(unit_random(7, 3, 100), a);
        assert_ne!(unit_random(8, 3, 100), a);
        assert_ne!(unit_random(7, 4, 100), a);
        assert!((0.0..1.0).contains(&a));
    }

    #[test]
    fn duty_cycle_edges() {
        let p = Pattern::DutyCycle {
            anchor: SimTime(0),
            period: SimDuration::from_minutes(40),
            on: SimDuration::from_minutes(15),
        };
        assert_eq!(p.level_at(SimTime(0)), 1.0);
        assert_eq!(p.level_at(SimTime(15 * 60_000)), 0.0);
        assert_eq!(p.next_change_after(SimTime(0)), Some(SimTime(15 * 60_000)));
        assert_eq!(
            p.next_change_after(SimTime(15 * 60_000)),
            Some(SimTime(40 * 60_000))
        );
    }

    #[test]
    fn daily_profile_wraps_past_midnight() {
        let p = Pattern::Daily {
            points: vec![(6 * H, 1.0), (22 * H, 0.2)],
        };
        assert_eq!(p.level_at(SimTime(2 * H)), 0.2);
        assert_eq!(p.level_at(SimTime(7 * H)), 1.0);
        assert_eq!(p.next_change_after(SimTime(23 * H)), Some(SimTime(30 * H)));
    }

    #[test]
    fn ramp_holds_midpoint_levels() {
        let p = Pattern::Ramp {
            from: SimTime(0),
            to: SimTime(4 * 60_000),
            from_level: 0.0,
            to_level: 1.0,
            step: SimDuration::from_minutes(1),
        };
        assert_eq!(p.level_at(SimTime(0)), 0.125);
        assert_eq!(p.level_at(SimTime(3 * 60_000 + 5)), 0.875);
        assert_eq!(p.level_at(SimTime(4 * 60_000)), 1.0);
        assert_eq!(p.next_change_after(SimTime(30_000)), Some(SimTime(60_000)));
    }

    #[test]
    fn replay_holds_and_repeats() {
        let text = "time,p_w,q_var\n0,100,10\n60,200,0\n";
        let r = Replay::parse("x.csv", text, ReplayColumns::PQ, true, SimTime(0)).unwrap();
        assert_eq!(r.power_at(SimTime(30_000), 230.0), (100.0, 10.0));
        assert_eq!(r.power_at(SimTime(90_000), 230.0), (200.0, 0.0));
        assert_eq!(r.power_at(SimTime(120_000), 230.0), (100.0, 10.0));
        assert_eq!(r.next_change_after(SimTime(90_000)), Some(SimTime(120_000)));
    }

    #[test]
    fn replay_errors_are_located() {
        let text = "time,p_w,q_var\n0,100,10\n60,abc,0\n";
        let e = Replay::parse("x.csv", text, ReplayColumns::PQ, false, SimTime(0)).unwrap_err();
        assert_eq!((e.line, e.column), (3, 4), "{e}");
    }
}
