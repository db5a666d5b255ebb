//! Multi-rate tariffs: day tables and time zones (KPM31 manual §4.1, KPM31C
//! manual §4.1; SPEC §3 "Tariffs").
//!
//! A day table has up to 8 slots (start hh:mm, rate). A slot runs until the
//! next slot's start in time order; the last slot of the day wraps past
//! midnight to the first. KPM31C adds up to 4 time zones (seasons): each
//! starts on a month-day at 00:00 and selects the day table in force.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

/// Maximum number of slots in one day table.
pub const MAX_SLOTS: usize = 8;
/// Maximum number of time zones (seasons).
pub const MAX_TIME_ZONES: usize = 4;
/// Maximum number of day tables a profile may define.
pub const MAX_DAY_TABLES: usize = 4;

/// A billing rate: 1 sharp, 2 peak, 3 flat, 4 valley.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rate {
    Sharp,
    Peak,
    Flat,
    Valley,
}

impl Rate {
    pub const ALL: [Rate; 4] = [Rate::Sharp, Rate::Peak, Rate::Flat, Rate::Valley];

    /// The rate numbered 1–4 as in the manual.
    pub fn from_number(n: u16) -> Option<Rate> {
        match n {
            1 => Some(Rate::Sharp),
            2 => Some(Rate::Peak),
            3 => Some(Rate::Flat),
            4 => Some(Rate::Valley),
            _ => None,
        }
    }

    pub fn number(self) -> u16 {
        self.index() as u16 + 1
    }

    /// 0-based index for per-rate arrays.
    pub fn index(self) -> usize {
        match self {
            Rate::Sharp => 0,
            Rate::Peak => 1,
            Rate::Flat => 2,
            Rate::Valley => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Rate::Sharp => "sharp",
            Rate::Peak => "peak",
            Rate::Flat => "flat",
            Rate::Valley => "valley",
        }
    }
}

/// One slot of a day table: from `start` [minute of day] the `rate` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub hour: u8,
    pub minute: u8,
    pub rate: Rate,
}

impl Slot {
    pub fn minute_of_day(&self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }
}

/// A day table: up to [`MAX_SLOTS`] slots, kept sorted by start time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayTable {
    slots: Vec<Slot>,
}

/// Why a day table or time-zone set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("too many slots: {0} (at most {MAX_SLOTS})")]
    TooManySlots(usize),
    #[error("slot time {hour:02}:{minute:02} is not a time of day (hour 0–23, minute 0–59)")]
    BadTime { hour: u16, minute: u16 },
    #[error("rate {0} is not 1–4 (0 marks an unused slot)")]
    BadRate(u16),
    #[error("two slots start at {hour:02}:{minute:02}")]
    DuplicateStart { hour: u8, minute: u8 },
    #[error("too many time zones: {0} (at most {MAX_TIME_ZONES})")]
    TooManyZones(usize),
    #[error("time zone start {month}-{day} is not a day of the year")]
    BadZoneDate { month: u16, day: u16 },
    #[error("time zone uses day table {table}, but only 1–{tables} exist")]
    BadTableNumber { table: u16, tables: usize },
}

impl DayTable {
    /// Build a table from slots in any order; they are sorted by start time.
    pub fn new(mut slots: Vec<Slot>) -> Result<Self, TariffError> {
        if slots.len() > MAX_SLOTS {
            return Err(TariffError::TooManySlots(slots.len()));
        }
        for s in &slots {
            if s.hour > 23 || s.minute > 59 {
                return Err(TariffError::BadTime {
                    hour: s.hour.into(),
                    minute: s.minute.into(),
                });
            }
        }
        slots.sort_by_key(Slot::minute_of_day);
        if let Some(w) = slots
            .windows(2)
            .find(|w| w[0].minute_of_day() == w[1].minute_of_day())
        {
            return Err(TariffError::DuplicateStart {
                hour: w[0].hour,
                minute: w[0].minute,
            });
        }
        Ok(Self { slots })
    }

    /// The manual's example table: 06:00→1, 10:00→2, 12:00→1, 15:00→3, 23:00→4.
    pub fn manual_example() -> Self {
        let s = |hour, minute, rate| Slot { hour, minute, rate };
        Self {
            slots: vec![
                s(6, 0, Rate::Sharp),
                s(10, 0, Rate::Peak),
                s(12, 0, Rate::Sharp),
                s(15, 0, Rate::Flat),
                s(23, 0, Rate::Valley),
            ],
        }
    }

    /// Decode the register form: 8 × (hour, minute, rate), rate 0 = unused.
    pub fn from_words(words: &[u16]) -> Result<Self, TariffError> {
        let mut slots = Vec::new();
        for w in words.chunks(3) {
            let (hour, minute, rate) = match *w {
                [h, m, r] => (h, m, r),
                _ => continue,
            };
            if rate == 0 {
                continue;
            }
            let rate = Rate::from_number(rate).ok_or(TariffError::BadRate(rate))?;
            if hour > 23 || minute > 59 {
                return Err(TariffError::BadTime { hour, minute });
            }
            slots.push(Slot {
                hour: hour as u8,
                minute: minute as u8,
                rate,
            });
        }
        Self::new(slots)
    }

    /// The register form: 8 × (hour, minute, rate), unused slots all 0.
    pub fn to_words(&self) -> [u16; MAX_SLOTS * 3] {
        let mut out = [0u16; MAX_SLOTS * 3];
        for (i, s) in self.slots.iter().enumerate() {
            out[i * 3] = s.hour.into();
            out[i * 3 + 1] = s.minute.into();
            out[i * 3 + 2] = s.rate.number();
        }
        out
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The rate at `minute` of the day, or `None` for an empty table.
    pub fn rate_at(&self, minute: u32) -> Option<Rate> {
        let last = self.slots.last()?;
        let current = self
            .slots
            .iter()
            .rev()
            .find(|s| s.minute_of_day() <= minute)
            .unwrap_or(last);
        Some(current.rate)
    }

    /// The first slot start strictly after `minute` today, or `None` when the
    /// next start is tomorrow.
    fn next_start_after(&self, minute: u32) -> Option<u32> {
        self.slots
            .iter()
            .map(Slot::minute_of_day)
            .find(|&m| m > minute)
    }
}

/// A season: from `month`-`day` 00:00 the day table `table` (0-based) applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeZone {
    pub month: u8,
    pub day: u8,
    pub table: u8,
}

impl TimeZone {
    fn key(&self) -> (u8, u8) {
        (self.month, self.day)
    }
}

/// The whole tariff: day tables and, on KPM31C, time zones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    tables: Vec<DayTable>,
    zones: Vec<TimeZone>,
}

/// The rate used when the table in force has no slots [decision: energy must
/// go to some rate so that the rate totals add up to the total; DL/T 645
/// meters fall back to "flat"].
pub const FALLBACK_RATE: Rate = Rate::Flat;

impl Tariff {
    /// `tables` day tables (at least one), the first holding `first`.
    pub fn new(first: DayTable, tables: usize) -> Self {
        let mut all = vec![first];
        all.resize(tables.clamp(1, MAX_DAY_TABLES), DayTable::default());
        Self {
            tables: all,
            zones: Vec::new(),
        }
    }

    pub fn tables(&self) -> &[DayTable] {
        &self.tables
    }

    pub fn zones(&self) -> &[TimeZone] {
        &self.zones
    }

    pub fn set_table(&mut self, index: usize, table: DayTable) -> Result<(), TariffError> {
        let n = self.tables.len();
        let slot = self
            .tables
            .get_mut(index)
            .ok_or(TariffError::BadTableNumber {
                table: index as u16 + 1,
                tables: n,
            })?;
        *slot = table;
        Ok(())
    }

    /// Replace the time zones; they are sorted by start date.
    pub fn set_zones(&mut self, mut zones: Vec<TimeZone>) -> Result<(), TariffError> {
        if zones.len() > MAX_TIME_ZONES {
            return Err(TariffError::TooManyZones(zones.len()));
        }
        for z in &zones {
            // 2024 is a leap year, so 02-29 is accepted as a zone start.
            if NaiveDate::from_ymd_opt(2024, z.month.into(), z.day.into()).is_none() {
                return Err(TariffError::BadZoneDate {
                    month: z.month.into(),
                    day: z.day.into(),
                });
            }
            if usize::from(z.table) >= self.tables.len() {
                return Err(TariffError::BadTableNumber {
                    table: u16::from(z.table) + 1,
                    tables: self.tables.len(),
                });
            }
        }
        zones.sort_by_key(TimeZone::key);
        self.zones = zones;
        Ok(())
    }

    /// Decode the register form: 4 × (month, day, day-table number 1–N),
    /// month 0 = unused.
    pub fn zones_from_words(&self, words: &[u16]) -> Result<Vec<TimeZone>, TariffError> {
        let mut zones = Vec::new();
        for w in words.chunks(3) {
            let (month, day, table) = match *w {
                [m, d, t] => (m, d, t),
                _ => continue,
            };
            if month == 0 {
                continue;
            }
            if month > 12 || day == 0 || day > 31 {
                return Err(TariffError::BadZoneDate { month, day });
            }
            if table == 0 || usize::from(table) > self.tables.len() {
                return Err(TariffError::BadTableNumber {
                    table,
                    tables: self.tables.len(),
                });
            }
            zones.push(TimeZone {
                month: month as u8,
                day: day as u8,
                table: (table - 1) as u8,
            });
        }
        Ok(zones)
    }

    /// The register form of the time zones.
    pub fn zones_to_words(&self) -> [u16; MAX_TIME_ZONES * 3] {
        let mut out = [0u16; MAX_TIME_ZONES * 3];
        for (i, z) in self.zones.iter().enumerate() {
            out[i * 3] = z.month.into();
            out[i * 3 + 1] = z.day.into();
            out[i * 3 + 2] = u16::from(z.table) + 1;
        }
        out
    }

    /// The day table in force on `date`.
    fn table_on(&self, date: NaiveDate) -> &DayTable {
        let key = (date.month() as u8, date.day() as u8);
        let zone = self
            .zones
            .iter()
            .rev()
            .find(|z| z.key() <= key)
            .or(self.zones.last());
        let index = zone.map_or(0, |z| usize::from(z.table));
        self.tables.get(index).unwrap_or(&self.tables[0])
    }

    /// The rate in force at `at` on the meter's clock.
    pub fn rate_at(&self, at: NaiveDateTime) -> Rate {
        let minute = at.hour() * 60 + at.minute();
        self.table_on(at.date())
            .rate_at(minute)
            .unwrap_or(FALLBACK_RATE)
    }

    /// The next instant after `at` at which the rate may change: the next slot
    /// start of the table in force, or the next midnight (where a time zone
    /// may switch tables), whichever comes first.
    /// At the very end of the calendar (chrono's last day) there is no next
    /// boundary: `NaiveDateTime::MAX` is returned rather than overflowing.
    pub fn next_boundary_after(&self, at: NaiveDateTime) -> NaiveDateTime {
        let Some(tomorrow) = at.date().succ_opt() else {
            return NaiveDateTime::MAX;
        };
        let midnight = tomorrow.and_time(NaiveTime::MIN);
        let minute = at.hour() * 60 + at.minute();
        let table = self.table_on(at.date());
        let next_today = table
            .next_start_after(minute)
            .map(|m| at.date().and_time(NaiveTime::MIN) + Duration::minutes(i64::from(m)));
        match next_today {
            Some(t) if t < midnight => t,
            _ if self.zones.is_empty() && !table.slots.is_empty() => {
                // Same table tomorrow: its first slot is the next boundary.
                midnight
                    .checked_add_signed(Duration::minutes(i64::from(
                        table.slots[0].minute_of_day(),
                    )))
                    .unwrap_or(NaiveDateTime::MAX)
            }
            _ => midnight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn default_tariff() -> Tariff {
        Tariff::new(DayTable::manual_example(), 1)
    }

    #[test]
    fn manual_example_rates_through_the_day() {
        let t = default_tariff();
        let table = [
            ("00:00:00", Rate::Valley), // 23:00 slot wraps past midnight
            ("05:59:59", Rate::Valley),
            ("06:00:00", Rate::Sharp),
            ("09:59:59", Rate::Sharp),
            ("10:00:00", Rate::Peak),
            ("12:00:00", Rate::Sharp),
            ("14:59:59", Rate::Sharp),
            ("15:00:00", Rate::Flat),
            ("22:59:59", Rate::Flat),
            ("23:00:00", Rate::Valley),
            ("23:59:59", Rate::Valley),
        ];
        for (time, rate) in table {
            assert_eq!(
                t.rate_at(at(&format!("2025-03-10 {time}"))),
                rate,
                "at {time}"
            );
        }
    }

    #[test]
    fn slots_given_out_of_order_are_sorted() {
        let s = |hour, minute, rate| Slot { hour, minute, rate };
        let table = DayTable::new(vec![
            s(23, 0, Rate::Valley),
            s(6, 0, Rate::Sharp),
            s(15, 30, Rate::Flat),
        ])
        .unwrap();
        let t = Tariff::new(table, 1);
        assert_eq!(t.rate_at(at("2025-01-01 03:00:00")), Rate::Valley);
        assert_eq!(t.rate_at(at("2025-01-01 15:29:00")), Rate::Sharp);
        assert_eq!(t.rate_at(at("2025-01-01 15:30:00")), Rate::Flat);
    }

    #[test]
    fn next_boundary_follows_slots_and_wraps_midnight() {
        let t = default_tariff();
        let cases = [
            ("2025-01-01 05:00:00", "2025-01-01 06:00:00"),
            ("2025-01-01 06:00:00", "2025-01-01 10:00:00"),
            ("2025-01-01 14:59:00", "2025-01-01 15:00:00"),
            ("2025-01-01 23:00:00", "2025-01-02 06:00:00"),
            ("2025-12-31 23:30:00", "2026-01-01 06:00:00"),
        ];
        for (from, next) in cases {
            assert_eq!(t.next_boundary_after(at(from)), at(next), "after {from}");
        }
    }

    #[test]
    fn no_boundary_past_the_end_of_the_calendar() {
        let t = default_tariff();
        let last = NaiveDateTime::MAX;
        assert_eq!(t.next_boundary_after(last), NaiveDateTime::MAX);
        assert_eq!(t.rate_at(last), Rate::Valley);
    }

    #[test]
    fn empty_table_uses_the_fallback_rate() {
        let t = Tariff::new(DayTable::default(), 1);
        assert_eq!(t.rate_at(at("2025-01-01 12:00:00")), FALLBACK_RATE);
    }

    #[test]
    fn time_zones_switch_tables_at_midnight_of_their_start() {
        let s = |hour, minute, rate| Slot { hour, minute, rate };
        let mut t = Tariff::new(DayTable::manual_example(), 2);
        t.set_table(
            1,
            DayTable::new(vec![s(0, 0, Rate::Valley), s(18, 0, Rate::Peak)]).unwrap(),
        )
        .unwrap();
        t.set_zones(vec![
            TimeZone {
                month: 10,
                day: 1,
                table: 1,
            },
            TimeZone {
                month: 4,
                day: 1,
                table: 0,
            },
        ])
        .unwrap();
        let table = [
            ("2025-03-31 12:00:00", Rate::Valley), // winter table wraps across new year
            ("2025-04-01 12:00:00", Rate::Sharp),  // summer from 04-01
            ("2025-09-30 19:00:00", Rate::Flat),
            ("2025-10-01 19:00:00", Rate::Peak), // winter again
            ("2026-01-15 08:00:00", Rate::Valley),
        ];
        for (when, rate) in table {
            assert_eq!(t.rate_at(at(when)), rate, "at {when}");
        }
        // With zones, midnight is always a candidate boundary.
        assert_eq!(
            t.next_boundary_after(at("2025-03-31 23:30:00")),
            at("2025-04-01 00:00:00")
        );
    }

    #[test]
    fn register_words_round_trip_and_reject_bad_values() {
        let t = DayTable::manual_example();
        let words = t.to_words();
        assert_eq!(&words[..6], &[6, 0, 1, 10, 0, 2]);
        assert_eq!(DayTable::from_words(&words).unwrap(), t);
        let mut bad = words;
        bad[2] = 5;
        assert_eq!(DayTable::from_words(&bad), Err(TariffError::BadRate(5)));
        let mut bad = words;
        bad[0] = 24;
        assert!(matches!(
            DayTable::from_words(&bad),
            Err(TariffError::BadTime { .. })
        ));
        let mut dup = words;
        dup[3] = 6;
        assert!(matches!(
            DayTable::from_words(&dup),
            Err(TariffError::DuplicateStart { .. })
        ));
    }

    #[test]
    fn zone_words_validate_table_numbers() {
        let t = Tariff::new(DayTable::manual_example(), 2);
        let zones = t
            .zones_from_words(&[4, 1, 1, 10, 1, 2, 0, 0, 0, 0, 0, 0])
            .unwrap();
        assert_eq!(zones.len(), 2);
        assert!(matches!(
            t.zones_from_words(&[4, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(TariffError::BadTableNumber { table: 3, .. })
        ));
        assert!(t
            .zones_from_words(&[13, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .is_err());
    }
}
