//! Four-quadrant energy registers and the monthly history (SPEC §3 "Energy",
//! "Settlement"; KPM31 manual §4.1).
//!
//! Energy is accumulated per rate and per direction in f64 watt-hours: the
//! totals, the combined values and the rate totals are all derived from the
//! same eight numbers, so "the four rate totals add up to the total" holds by
//! construction (up to f64 summation rounding, far below the float32 the
//! registers carry).

use serde::{Deserialize, Serialize};

use super::tariff::Rate;

/// How import and export combine into the "total" registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Combination {
    /// import + export [decision: the DL/T 645 default combination]
    ImportPlusExport,
    /// import − export (net)
    ImportMinusExport,
    /// import only
    ImportOnly,
}

impl Combination {
    pub fn combine(self, import: f64, export: f64) -> f64 {
        match self {
            Combination::ImportPlusExport => import + export,
            Combination::ImportMinusExport => import - export,
            Combination::ImportOnly => import,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "import+export" => Some(Self::ImportPlusExport),
            "import-export" => Some(Self::ImportMinusExport),
            "import" => Some(Self::ImportOnly),
            _ => None,
        }
    }
}

/// Energy flow direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Import,
    Export,
}

/// Active and reactive energy per rate and direction [Wh, varh].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EnergyBook {
    /// `active[rate][0]` import, `[1]` export [Wh]
    pub active: [[f64; 2]; 4],
    /// `reactive[rate][0]` import (Q > 0), `[1]` export (Q < 0) [varh]
    pub reactive: [[f64; 2]; 4],
}

impl EnergyBook {
    /// Add `p_w` [W] and `q_var` [var] flowing for `hours` [h] at `rate`.
    pub fn add(&mut self, rate: Rate, p_w: f64, q_var: f64, hours: f64) {
        let r = rate.index();
        let p = p_w * hours;
        if p > 0.0 {
            self.active[r][0] += p;
        } else if p < 0.0 {
            self.active[r][1] -= p;
        }
        let q = q_var * hours;
        if q > 0.0 {
            self.reactive[r][0] += q;
        } else if q < 0.0 {
            self.reactive[r][1] -= q;
        }
    }

    /// Active energy in one direction, all rates [Wh].
    pub fn active_dir(&self, dir: Direction) -> f64 {
        let d = dir as usize;
        self.active.iter().map(|r| r[d]).sum()
    }

    /// Reactive energy in one direction, all rates [varh].
    pub fn reactive_dir(&self, dir: Direction) -> f64 {
        let d = dir as usize;
        self.reactive.iter().map(|r| r[d]).sum()
    }

    /// Combined active energy [Wh].
    pub fn active_total(&self, c: Combination) -> f64 {
        Rate::ALL.iter().map(|&r| self.active_rate(r, c)).sum()
    }

    /// Combined reactive energy [varh].
    pub fn reactive_total(&self, c: Combination) -> f64 {
        Rate::ALL.iter().map(|&r| self.reactive_rate(r, c)).sum()
    }

    /// Combined active energy of one rate [Wh].
    pub fn active_rate(&self, rate: Rate, c: Combination) -> f64 {
        let [i, e] = self.active[rate.index()];
        c.combine(i, e)
    }

    /// Combined reactive energy of one rate [varh].
    pub fn reactive_rate(&self, rate: Rate, c: Combination) -> f64 {
        let [i, e] = self.reactive[rate.index()];
        c.combine(i, e)
    }

    /// Element-wise sum, for "this month plus history" checks.
    pub fn plus(&self, other: &EnergyBook) -> EnergyBook {
        let mut out = *self;
        for r in 0..4 {
            for d in 0..2 {
                out.active[r][d] += other.active[r][d];
                out.reactive[r][d] += other.reactive[r][d];
            }
        }
        out
    }
}

/// What the monthly history blocks hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryMode {
    /// Consumption during each month [decision, KPM31C manual wording].
    Consumption,
    /// The cumulative reading frozen at each settlement (DL/T 645 style).
    Cumulative,
}

/// Number of months kept: this month plus 12 previous.
pub const HISTORY_MONTHS: usize = 13;

/// Monthly history: `months[0]` is this month, `months[k]` previous k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Energy during each month.
    pub months: [EnergyBook; HISTORY_MONTHS],
    /// The lifetime reading frozen at each settlement, `frozen[k]` for
    /// previous k (`frozen[0]` unused: "this month" reads the live value).
    pub frozen: [EnergyBook; HISTORY_MONTHS],
}

impl Default for History {
    fn default() -> Self {
        Self {
            months: [EnergyBook::default(); HISTORY_MONTHS],
            frozen: [EnergyBook::default(); HISTORY_MONTHS],
        }
    }
}

impl History {
    /// The monthly freeze: this month moves to previous 1, previous k to k+1,
    /// previous 12 drops out; this month restarts at 0.
    pub fn freeze(&mut self, lifetime: &EnergyBook) {
        self.months.rotate_right(1);
        self.months[0] = EnergyBook::default();
        self.frozen.rotate_right(1);
        self.frozen[1] = *lifetime;
        self.frozen[0] = EnergyBook::default();
    }

    /// The book shown for month `k` (0 = this month) in `mode`.
    pub fn shown(&self, k: usize, mode: HistoryMode, lifetime: &EnergyBook) -> EnergyBook {
        match (mode, k) {
            (HistoryMode::Consumption, _) => self.months[k],
            (HistoryMode::Cumulative, 0) => *lifetime,
            (HistoryMode::Cumulative, _) => self.frozen[k],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_quadrants_split_by_sign() {
        let mut b = EnergyBook::default();
        b.add(Rate::Peak, 1000.0, 200.0, 2.0); // quadrant I
        b.add(Rate::Peak, -500.0, -100.0, 1.0); // quadrant III
        b.add(Rate::Valley, -300.0, 50.0, 1.0); // quadrant II
        assert_eq!(b.active_dir(Direction::Import), 2000.0);
        assert_eq!(b.active_dir(Direction::Export), 800.0);
        assert_eq!(b.reactive_dir(Direction::Import), 450.0);
        assert_eq!(b.reactive_dir(Direction::Export), 100.0);
        assert_eq!(b.active_total(Combination::ImportPlusExport), 2800.0);
        assert_eq!(b.active_total(Combination::ImportMinusExport), 1200.0);
        assert_eq!(b.active_total(Combination::ImportOnly), 2000.0);
        assert_eq!(
            b.active_rate(Rate::Valley, Combination::ImportPlusExport),
            300.0
        );
    }

    #[test]
    fn freeze_shifts_months_and_drops_the_oldest() {
        let mut h = History::default();
        let mut life = EnergyBook::default();
        for month in 1..=14 {
            h.months[0].add(Rate::Flat, 1000.0 * f64::from(month), 0.0, 1.0);
            life.add(Rate::Flat, 1000.0 * f64::from(month), 0.0, 1.0);
            h.freeze(&life);
        }
        // previous 1 is month 14, previous 12 is month 3; months 1 and 2 dropped out
        assert_eq!(h.months[0].active_dir(Direction::Import), 0.0);
        assert_eq!(h.months[1].active_dir(Direction::Import), 14_000.0);
        assert_eq!(h.months[12].active_dir(Direction::Import), 3_000.0);
        let c = HistoryMode::Cumulative;
        assert_eq!(
            h.shown(1, c, &life).active_dir(Direction::Import),
            life.active_dir(Direction::Import)
        );
    }

    #[test]
    fn combination_names_parse() {
        assert_eq!(
            Combination::parse("import-export"),
            Some(Combination::ImportMinusExport)
        );
        assert_eq!(Combination::parse("sum"), None);
    }
}
