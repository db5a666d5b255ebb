//! The battery-backed clock: set forward across month ends, set backwards
//! (SPEC §3 "Clock", "Settlement").

use super::*;

#[test]
fn setting_the_clock_forward_across_month_ends_settles_each_month() {
    let mut b = Bench::new("2025-01-15 12:00:00");
    b.load_kw("2025-01-15 12:00:00", 1.0);
    b.apply(
        "2025-01-15 14:00:00",
        Command::SetClock(dt("2025-03-02 08:00:00")),
    )
    .unwrap();
    assert_eq!(b.m.clock(), dt("2025-03-02 08:00:00"));
    let ev = b.raw_events();
    assert_eq!(settlements(&ev), vec![(2025, 1), (2025, 2)]);
    let c = crate::meter::energy::Combination::ImportPlusExport;
    let s = b.snap();
    assert_close(s.months[2].active_total(c), 2000.0, 1e-12, "January");
    assert_eq!(s.months[1].active_total(c), 0.0, "February skipped");
    // The tariff follows the new clock: 08:00 is sharp until 10:00.
    assert_eq!(b.m.poll_at(), Some(t("2025-01-15 16:00:00")));
    b.run_to("2025-01-15 16:00:00");
    assert_close(
        b.snap().months[0].active_rate(Rate::Sharp, c),
        2000.0,
        1e-12,
        "sharp",
    );
    assert_eq!(b.m.clock(), dt("2025-03-02 10:00:00"));
}

#[test]
fn setting_the_clock_back_reopens_the_month_without_a_freeze() {
    let mut b = Bench::new("2025-03-02 00:00:00");
    b.load_kw("2025-03-02 00:00:00", 1.0);
    b.apply(
        "2025-03-02 01:00:00",
        Command::SetClock(dt("2025-02-27 00:00:00")),
    )
    .unwrap();
    assert!(settlements(&b.raw_events()).is_empty());
    // The clock now runs 73 h behind the timeline: it reaches Mar 1 00:00
    // again at Mar 4 01:00 on the timeline, and only then does February settle.
    assert_eq!(
        b.m.poll_at(),
        Some(t("2025-03-02 07:00:00")),
        "tariff first"
    );
    b.run_to("2025-03-04 00:59:59");
    assert!(settlements(&b.raw_events()).is_empty());
    b.run_to("2025-03-04 01:00:00");
    let ev = b.raw_events();
    assert_eq!(settlements(&ev), vec![(2025, 2)]);
    assert_eq!(ev[0].at, t("2025-03-04 01:00:00"));
    assert_eq!(b.m.clock(), dt("2025-03-01 00:00:00"));
}

#[test]
fn setting_the_clock_back_within_the_month_changes_no_history() {
    let mut b = Bench::new("2025-03-20 12:00:00");
    b.load_kw("2025-03-20 12:00:00", 1.0);
    b.apply(
        "2025-03-20 13:00:00",
        Command::SetClock(dt("2025-03-05 09:30:00")),
    )
    .unwrap();
    assert!(settlements(&b.raw_events()).is_empty());
    assert_eq!(b.m.clock(), dt("2025-03-05 09:30:00"));
    // Sharp until 10:00 on the new clock, then peak.
    assert_eq!(b.m.poll_at(), Some(t("2025-03-20 13:30:00")));
    b.run_to("2025-03-20 14:00:00");
    assert_close(
        b.rate_kwh(Rate::Peak),
        0.5,
        1e-12,
        "peak 10:00–10:30 on the clock",
    );
    assert_close(
        b.rate_kwh(Rate::Sharp),
        1.5,
        1e-12,
        "sharp 12–13, then 09:30–10:00",
    );
}

#[test]
fn the_clock_runs_at_the_timeline_rate() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.apply(
        "2025-03-10 12:00:00",
        Command::SetClock(dt("2030-06-01 00:00:00")),
    )
    .unwrap();
    b.run_to("2025-03-11 13:30:15");
    assert_eq!(b.m.clock(), dt("2030-06-02 01:30:15"));
    assert_eq!(b.snap().clock, dt("2030-06-02 01:30:15"));
}

#[test]
fn setting_the_clock_years_ahead_keeps_twelve_months() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load_kw("2025-03-10 12:00:00", 1.0);
    b.apply(
        "2025-03-10 13:00:00",
        Command::SetClock(dt("2027-03-10 12:00:00")),
    )
    .unwrap();
    let ev = b.raw_events();
    assert_eq!(settlements(&ev).len(), 24);
    assert_eq!(settlements(&ev)[23], (2027, 2));
    // The 1 kWh of March 2025 has dropped out of the 12 months kept.
    let c = crate::meter::energy::Combination::ImportPlusExport;
    let history: f64 = b.snap().months.iter().map(|m| m.active_total(c)).sum();
    assert_eq!(history, 0.0);
    assert_close(b.import_kwh(), 1.0, 1e-12, "the lifetime keeps it");
}
