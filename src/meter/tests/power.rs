//! Power outage and restore: no energy while off, the clock runs on, the
//! relay keeps its state, commands are refused (SPEC §3).

use super::*;

#[test]
fn no_energy_while_off_and_it_resumes_on_restore() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load_kw("2025-03-10 15:00:00", 2.0);
    b.m.power_off(t("2025-03-10 16:00:00"));
    let s = b.snap();
    assert!(!s.powered);
    assert_eq!(s.readings.voltage_v, 0.0);
    assert_eq!(s.readings.active_w, 0.0);
    b.run_to("2025-03-10 20:00:00");
    assert_close(
        b.import_kwh(),
        2.0,
        1e-12,
        "only the hour before the outage",
    );
    // The clock runs on while off.
    assert_eq!(b.m.clock(), dt("2025-03-10 20:00:00"));
    b.m.power_on(t("2025-03-10 20:00:00"));
    assert_close(b.snap().readings.active_w, 2000.0, 1e-9, "measuring again");
    b.run_to("2025-03-10 21:00:00");
    assert_close(b.import_kwh(), 4.0, 1e-12, "counts again");
    assert_eq!(
        b.events(),
        vec![
            (ms("2025-03-10 16:00:00"), "power_off"),
            (ms("2025-03-10 20:00:00"), "power_on"),
        ]
    );
}

#[test]
fn commands_are_refused_while_off() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.m.power_off(t("2025-03-10 15:00:00"));
    assert_eq!(
        b.apply("2025-03-10 15:00:01", Command::Relay(false)),
        Err(CommandError::PoweredOff)
    );
    assert!(b.relay_closed());
    assert_eq!(b.m.poll_at(), None, "nothing happens by itself while off");
}

#[test]
fn a_second_power_off_or_on_is_a_no_op() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.m.power_off(t("2025-03-10 15:00:00"));
    b.m.power_off(t("2025-03-10 15:00:01"));
    b.m.power_on(t("2025-03-10 15:00:02"));
    b.m.power_on(t("2025-03-10 15:00:03"));
    let names: Vec<_> = b.events().into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["power_off", "power_on"]);
}

#[test]
fn demand_restarts_after_an_outage() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load("2025-03-10 12:00:00", 1500.0, 0.0)
        .run_to("2025-03-10 12:30:00");
    assert_close(b.snap().demand_va, 1500.0, 1e-9, "before");
    b.m.power_off(t("2025-03-10 12:30:00"));
    b.m.power_on(t("2025-03-10 12:40:20"));
    assert_eq!(b.snap().demand_va, 0.0);
    // The first minute bucket closes on the clock minute: 40 s of 1500 VA.
    b.run_to("2025-03-10 12:41:00");
    assert_close(b.snap().demand_va, 1500.0 * 40.0 / 900.0, 1e-9, "after");
}
