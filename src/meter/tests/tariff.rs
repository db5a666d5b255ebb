//! Multi-rate tariffs inside the meter: energy goes to the rate in force,
//! boundaries are exact, day tables and time zones can be changed (SPEC §3
//! "Tariffs"). Pure table tests live next to the code in `tariff.rs`.

use super::*;
use crate::meter::tariff::{DayTable, Slot, Tariff, TimeZone};
use crate::profile::Profile;

fn slot(hour: u8, minute: u8, rate: Rate) -> Slot {
    Slot { hour, minute, rate }
}

#[test]
fn a_morning_spreads_over_the_manual_example_rates() {
    // 1 kW 05:00–13:00: valley 05–06, sharp 06–10, peak 10–12, sharp 12–13.
    let mut b = Bench::new("2025-03-10 05:00:00");
    b.load_kw("2025-03-10 05:00:00", 1.0)
        .run_to("2025-03-10 13:00:00");
    assert_close(b.rate_kwh(Rate::Valley), 1.0, 1e-12, "valley");
    assert_close(b.rate_kwh(Rate::Sharp), 5.0, 1e-12, "sharp");
    assert_close(b.rate_kwh(Rate::Peak), 2.0, 1e-12, "peak");
    assert_eq!(b.rate_kwh(Rate::Flat), 0.0);
}

#[test]
fn the_last_slot_wraps_past_midnight() {
    // 2 kW from 22:00 to 07:00: flat 22–23, valley 23–06, sharp 06–07.
    let mut b = Bench::new("2025-03-10 22:00:00");
    b.load_kw("2025-03-10 22:00:00", 2.0)
        .run_to("2025-03-11 07:00:00");
    assert_close(b.rate_kwh(Rate::Flat), 2.0, 1e-12, "flat");
    assert_close(b.rate_kwh(Rate::Valley), 14.0, 1e-12, "valley");
    assert_close(b.rate_kwh(Rate::Sharp), 2.0, 1e-12, "sharp");
}

#[test]
fn a_boundary_is_exact_to_the_millisecond() {
    let mut b = Bench::new("2025-03-10 09:59:00");
    b.load_kw("2025-03-10 09:59:00", 3.6); // 1 Wh per second
    b.run_to("2025-03-10 10:00:01");
    assert_close(b.rate_kwh(Rate::Sharp), 0.060, 1e-9, "60 s sharp");
    assert_close(b.rate_kwh(Rate::Peak), 0.001, 1e-9, "1 s peak");
    assert_eq!(b.snap().rate, Rate::Peak);
}

#[test]
fn a_new_day_table_applies_from_the_instant_it_is_written() {
    let mut b = Bench::new("2025-03-10 16:00:00");
    b.load_kw("2025-03-10 16:00:00", 1.0);
    // 16:00–17:00 flat; then everything valley from 00:00, peak from 17:00.
    let table = DayTable::new(vec![slot(0, 0, Rate::Valley), slot(17, 0, Rate::Peak)]).unwrap();
    b.apply("2025-03-10 16:30:00", Command::SetDayTable(0, table))
        .unwrap();
    b.run_to("2025-03-10 18:00:00");
    assert_close(b.rate_kwh(Rate::Flat), 0.5, 1e-12, "flat before the write");
    assert_close(b.rate_kwh(Rate::Valley), 0.5, 1e-12, "valley until 17:00");
    assert_close(b.rate_kwh(Rate::Peak), 1.0, 1e-12, "peak from 17:00");
}

#[test]
fn a_second_day_table_is_refused_on_the_kpm31() {
    let mut b = Bench::new("2025-03-10 16:00:00");
    let err = b
        .apply(
            "2025-03-10 16:00:00",
            Command::SetDayTable(1, DayTable::default()),
        )
        .unwrap_err();
    assert!(matches!(err, CommandError::OutOfRange { .. }), "{err:?}");
    let err = b
        .apply("2025-03-10 16:00:00", Command::SetTimeZones(vec![]))
        .unwrap_err();
    assert_eq!(err, CommandError::NotSupported("time zones"));
}

#[test]
fn kpm31c_time_zone_switches_table_at_midnight() {
    let config = Profile::builtin("kpm31c").unwrap().meter;
    let mut b = Bench::with_config(config, "2025-03-31 22:00:00");
    // Table 2: valley all day. Winter (10-01 → 03-31) uses table 2,
    // summer (04-01 →) the manual's table.
    let all_valley = DayTable::new(vec![slot(0, 0, Rate::Valley)]).unwrap();
    b.apply("2025-03-31 22:00:00", Command::SetDayTable(1, all_valley))
        .unwrap();
    let zone = |month, day, table| TimeZone { month, day, table };
    b.apply(
        "2025-03-31 22:00:00",
        Command::SetTimeZones(vec![zone(10, 1, 1), zone(4, 1, 0)]),
    )
    .unwrap();
    b.load_kw("2025-03-31 22:00:00", 1.0);
    assert_eq!(b.poll_at().as_deref(), Some("2025-04-01 00:00:00.000"));
    b.run_to("2025-04-01 07:00:00");
    // 22:00–24:00 valley (winter table), 00:00–06:00 valley (summer table
    // wraps its 23:00 slot), 06:00–07:00 sharp.
    assert_close(b.rate_kwh(Rate::Valley), 8.0, 1e-12, "valley");
    assert_close(b.rate_kwh(Rate::Sharp), 1.0, 1e-12, "sharp");
    assert_eq!(b.rate_kwh(Rate::Flat), 0.0);
}

/// Table tests for boundaries: (table slots, now, expected rate, next boundary).
#[test]
fn boundary_table() {
    let manual = DayTable::manual_example();
    let night_first = DayTable::new(vec![
        slot(22, 30, Rate::Valley),
        slot(7, 15, Rate::Peak),
        slot(0, 0, Rate::Flat),
    ])
    .unwrap();
    let single = DayTable::new(vec![slot(8, 0, Rate::Peak)]).unwrap();
    let cases: [(&DayTable, &str, Rate, &str); 10] = [
        (
            &manual,
            "2025-06-01 00:00:00",
            Rate::Valley,
            "2025-06-01 06:00:00",
        ),
        (
            &manual,
            "2025-06-01 11:59:59.999",
            Rate::Peak,
            "2025-06-01 12:00:00",
        ),
        (
            &manual,
            "2025-06-01 23:59:59",
            Rate::Valley,
            "2025-06-02 06:00:00",
        ),
        (
            &manual,
            "2024-12-31 23:00:00",
            Rate::Valley,
            "2025-01-01 06:00:00",
        ),
        (
            &manual,
            "2024-02-28 23:30:00",
            Rate::Valley,
            "2024-02-29 06:00:00",
        ),
        // Out-of-order slots are sorted: 00:00 flat, 07:15 peak, 22:30 valley.
        (
            &night_first,
            "2025-06-01 07:14:59",
            Rate::Flat,
            "2025-06-01 07:15:00",
        ),
        (
            &night_first,
            "2025-06-01 22:30:00",
            Rate::Valley,
            "2025-06-02 00:00:00",
        ),
        (
            &night_first,
            "2025-06-01 12:00:00",
            Rate::Peak,
            "2025-06-01 22:30:00",
        ),
        // One slot: the same rate all day, before its start too.
        (
            &single,
            "2025-06-01 03:00:00",
            Rate::Peak,
            "2025-06-01 08:00:00",
        ),
        (
            &single,
            "2025-06-01 09:00:00",
            Rate::Peak,
            "2025-06-02 08:00:00",
        ),
    ];
    for (table, now, rate, next) in cases {
        let tariff = Tariff::new(table.clone(), 1);
        assert_eq!(tariff.rate_at(dt(now)), rate, "rate at {now}");
        assert_eq!(tariff.next_boundary_after(dt(now)), dt(next), "after {now}");
    }
}

#[test]
fn time_zone_table_across_the_year() {
    let mut tariff = Tariff::new(DayTable::manual_example(), 3);
    tariff
        .set_table(1, DayTable::new(vec![slot(0, 0, Rate::Valley)]).unwrap())
        .unwrap();
    tariff
        .set_table(2, DayTable::new(vec![slot(0, 0, Rate::Peak)]).unwrap())
        .unwrap();
    let zone = |month, day, table| TimeZone { month, day, table };
    // Given out of order; 02-29 is a valid start.
    tariff
        .set_zones(vec![zone(11, 15, 1), zone(2, 29, 2), zone(5, 1, 0)])
        .unwrap();
    let cases = [
        ("2025-01-10 12:00:00", Rate::Valley), // winter zone from last year
        ("2024-02-28 12:00:00", Rate::Valley),
        ("2024-02-29 12:00:00", Rate::Peak), // leap day zone
        ("2025-03-01 12:00:00", Rate::Peak), // no 02-29: in force from 03-01
        ("2025-04-30 23:59:59", Rate::Peak),
        ("2025-05-01 12:00:00", Rate::Sharp), // the manual's table
        ("2025-11-14 16:00:00", Rate::Flat),
        ("2025-11-15 16:00:00", Rate::Valley),
    ];
    for (now, rate) in cases {
        assert_eq!(tariff.rate_at(dt(now)), rate, "at {now}");
    }
    // With zones, the next boundary is at most the next midnight.
    assert_eq!(
        tariff.next_boundary_after(dt("2025-04-30 23:00:00")),
        dt("2025-05-01 00:00:00")
    );
    assert_eq!(
        tariff.next_boundary_after(dt("2025-05-01 05:00:00")),
        dt("2025-05-01 06:00:00")
    );
    assert!(tariff.set_zones(vec![zone(2, 30, 0)]).is_err());
    assert!(tariff.set_zones(vec![zone(1, 1, 3)]).is_err());
    assert!(tariff
        .set_zones(vec![
            zone(1, 1, 0),
            zone(2, 1, 0),
            zone(3, 1, 0),
            zone(4, 1, 0),
            zone(5, 1, 0)
        ])
        .is_err());
}

#[test]
fn energy_in_a_slot_boundary_year_adds_up() {
    // Four days of constant load: per day sharp 4+3 h, peak 2 h, flat 8 h,
    // valley 7 h at 1 kW.
    let mut b = Bench::new("2025-03-10 00:00:00");
    b.load_kw("2025-03-10 00:00:00", 1.0)
        .run_to("2025-03-14 00:00:00");
    assert_close(b.rate_kwh(Rate::Sharp), 28.0, 1e-12, "sharp");
    assert_close(b.rate_kwh(Rate::Peak), 8.0, 1e-12, "peak");
    assert_close(b.rate_kwh(Rate::Flat), 32.0, 1e-12, "flat");
    assert_close(b.rate_kwh(Rate::Valley), 28.0, 1e-12, "valley");
}
