//! Monthly settlement (freeze at 00:00 on the 1st), history of 10 series ×
//! 13 values, catch-up of freezes missed while off (SPEC §3 "Settlement").

use super::*;
use crate::meter::energy::{Combination, HistoryMode};

const C: Combination = Combination::ImportPlusExport;

/// Combined active energy of month `k` (0 = this month) [kWh].
fn month_kwh(b: &Bench, k: usize) -> f64 {
    b.snap().months[k].active_total(C) / 1000.0
}

#[test]
fn the_freeze_happens_at_midnight_on_the_first() {
    // 1 kW from Jan 31 20:00 to Feb 1 02:00.
    let mut b = Bench::new("2025-01-31 20:00:00");
    b.load("2025-01-31 20:00:00", 1000.0, 500.0);
    b.run_to("2025-01-31 23:59:59.999");
    assert!(settlements(&b.raw_events()).is_empty());
    b.run_to("2025-02-01 00:00:00");
    let ev = b.raw_events();
    assert_eq!(settlements(&ev), vec![(2025, 1)]);
    assert_eq!(ev[0].at, t("2025-02-01 00:00:00"));
    assert_close(month_kwh(&b, 1), 4.0, 1e-12, "January (previous 1)");
    assert_eq!(month_kwh(&b, 0), 0.0, "February restarts at 0");
    b.run_to("2025-02-01 02:00:00");
    assert_close(month_kwh(&b, 0), 2.0, 1e-12, "February so far");
    let s = b.snap();
    assert_close(
        s.months[1].reactive_total(C) / 1000.0,
        2.0,
        1e-12,
        "reactive",
    );
    // Jan 31 20:00–23:00 flat, 23:00–24:00 valley; Feb 1 00:00–02:00 valley.
    assert_close(
        s.months[1].active_rate(Rate::Flat, C) / 1000.0,
        3.0,
        1e-12,
        "jan flat",
    );
    assert_close(
        s.months[1].active_rate(Rate::Valley, C) / 1000.0,
        1.0,
        1e-12,
        "jan valley",
    );
    assert_close(
        s.months[0].active_rate(Rate::Valley, C) / 1000.0,
        2.0,
        1e-12,
        "feb valley",
    );
    assert_close(
        s.months[1].reactive_rate(Rate::Flat, C) / 1000.0,
        1.5,
        1e-12,
        "jan flat q",
    );
    // The live totals are not touched by the freeze.
    assert_close(s.total_active_kwh(), 6.0, 1e-12, "total");
}

#[test]
fn a_leap_february_has_29_days() {
    let mut b = Bench::new("2024-02-28 22:00:00");
    b.load_kw("2024-02-28 22:00:00", 1.0);
    b.run_to("2024-02-29 23:59:59");
    assert!(
        settlements(&b.raw_events()).is_empty(),
        "no freeze on Feb 29"
    );
    b.run_to("2024-03-01 01:00:00");
    let ev = b.raw_events();
    assert_eq!(settlements(&ev), vec![(2024, 2)]);
    assert_eq!(ev[0].at, t("2024-03-01 00:00:00"));
    // Feb 28 22:00 → Mar 1 00:00 is 26 h.
    assert_close(month_kwh(&b, 1), 26.0, 1e-12, "February");
    assert_close(month_kwh(&b, 0), 1.0, 1e-12, "March");
}

#[test]
fn the_new_year_settles_december() {
    let mut b = Bench::new("2025-12-31 23:00:00");
    b.load_kw("2025-12-31 23:00:00", 1.0);
    assert_eq!(b.poll_at().as_deref(), Some("2026-01-01 00:00:00.000"));
    b.run_to("2026-01-01 00:30:00");
    assert_eq!(settlements(&b.raw_events()), vec![(2025, 12)]);
    assert_close(month_kwh(&b, 1), 1.0, 1e-12, "December");
    assert_close(month_kwh(&b, 0), 0.5, 1e-12, "January");
}

/// Days in `month` of 2025 (the test's own table).
const DAYS_2025: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

#[test]
fn fourteen_months_keep_the_last_twelve() {
    // Month k of 2025 (1-based) and then Jan, Feb 2026 draw 100·k W.
    let mut b = Bench::new("2025-01-01 00:00:00");
    let mut consumption = Vec::new();
    for k in 1..=14u32 {
        let (year, month) = if k <= 12 { (2025, k) } else { (2026, k - 12) };
        let watts = 100.0 * f64::from(k);
        b.load(&format!("{year}-{month:02}-01 00:00:00"), watts, 0.0);
        let days = if k <= 12 {
            DAYS_2025[k as usize - 1]
        } else {
            [31, 28][k as usize - 13]
        };
        consumption.push(watts * f64::from(days) * 24.0 / 1000.0);
    }
    b.run_to("2026-03-01 00:00:00");
    let ev = b.raw_events();
    assert_eq!(settlements(&ev).len(), 14);
    assert_eq!(settlements(&ev)[13], (2026, 2));
    assert_eq!(month_kwh(&b, 0), 0.0);
    // previous 1 = Feb 2026 (k = 14) … previous 12 = Mar 2025 (k = 3).
    for prev in 1..=12usize {
        let k = 14 - (prev - 1);
        assert_close(
            month_kwh(&b, prev),
            consumption[k - 1],
            1e-12,
            &format!("previous {prev} (month k = {k})"),
        );
    }
    // Jan and Feb 2025 have dropped out: the history no longer covers them.
    let history: f64 = (0..13).map(|k| month_kwh(&b, k)).sum();
    let dropped = consumption[0] + consumption[1];
    assert_close(
        history + dropped,
        b.snap().total_active_kwh(),
        1e-12,
        "dropped",
    );
}

#[test]
fn months_missed_while_off_are_caught_up_with_zero() {
    let mut b = Bench::new("2025-01-20 00:00:00");
    b.load_kw("2025-01-20 00:00:00", 1.0);
    b.m.power_off(t("2025-01-21 00:00:00")); // 24 kWh in January
    b.run_to("2025-04-10 00:00:00");
    assert!(settlements(&b.raw_events()).is_empty(), "nothing while off");
    assert_eq!(b.m.poll_at(), None);
    b.m.power_on(t("2025-04-10 12:00:00"));
    let ev = b.raw_events();
    assert_eq!(settlements(&ev), vec![(2025, 1), (2025, 2), (2025, 3)]);
    assert!(ev
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Settlement { .. }))
        .all(|e| e.at == t("2025-04-10 12:00:00")));
    assert_close(month_kwh(&b, 3), 24.0, 1e-12, "January");
    assert_eq!(month_kwh(&b, 2), 0.0, "February (off)");
    assert_eq!(month_kwh(&b, 1), 0.0, "March (off)");
    b.run_to("2025-04-10 14:00:00");
    assert_close(month_kwh(&b, 0), 2.0, 1e-12, "April since power-on");
    // The next freeze is on time.
    b.run_to("2025-05-01 00:00:00");
    assert_eq!(settlements(&b.raw_events()), vec![(2025, 4)]);
}

#[test]
fn cumulative_history_freezes_the_lifetime_reading() {
    let config = MeterConfig {
        history_mode: HistoryMode::Cumulative,
        ..MeterConfig::default()
    };
    let mut b = Bench::with_config(config, "2025-01-31 22:00:00");
    b.load_kw("2025-01-31 22:00:00", 1.0);
    b.run_to("2025-02-28 23:00:00");
    let s = b.snap();
    // This month reads the live value; previous 1 the reading at Feb 1 00:00.
    assert_close(
        month_kwh(&b, 0),
        s.total_active_kwh(),
        1e-12,
        "this month live",
    );
    assert_close(month_kwh(&b, 1), 2.0, 1e-12, "frozen at Feb 1");
    b.run_to("2025-03-01 00:00:00");
    assert_close(
        month_kwh(&b, 1),
        2.0 + 28.0 * 24.0,
        1e-12,
        "frozen at Mar 1",
    );
    assert_close(month_kwh(&b, 2), 2.0, 1e-12, "previous 2");
}

#[test]
fn clearing_energy_clears_the_history_too() {
    let mut b = Bench::new("2025-01-31 22:00:00");
    b.load_kw("2025-01-31 22:00:00", 1.0)
        .run_to("2025-02-01 01:00:00");
    assert!(month_kwh(&b, 1) > 0.0);
    b.apply("2025-02-01 01:00:00", Command::ClearEnergy)
        .unwrap();
    let s = b.snap();
    assert_eq!(s.total_active_kwh(), 0.0);
    assert_eq!(s.pulses, 0);
    for k in 0..13 {
        assert_eq!(month_kwh(&b, k), 0.0, "month {k}");
    }
    b.run_to("2025-02-01 02:00:00");
    assert_close(month_kwh(&b, 0), 1.0, 1e-12, "counts again");
    assert_close(b.snap().total_active_kwh(), 1.0, 1e-12, "total again");
}
