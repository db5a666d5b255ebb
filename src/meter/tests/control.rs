//! The relay: remote commands, local mode, load control, status bits and the
//! reason it last opened (SPEC §3 "Relay, prepayment and load control").

use super::*;
use crate::meter::{Cut, OpenReason};

const RELAY_CLOSED: u16 = 1;
const LOAD_CUT: u16 = 1 << 3;

/// Local mode, a large balance, load threshold `kw`, all at `at`.
fn load_controlled(at: &str, threshold_kw: f64) -> Bench {
    let mut b = Bench::new(at);
    b.local_mode(at).top_up(at, 1000.0);
    b.apply(at, Command::SetLoadThreshold(threshold_kw))
        .unwrap();
    b.events();
    b
}

#[test]
fn remote_commands_open_and_close_the_relay() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load_kw("2025-03-10 12:00:00", 1.0);
    assert!(b.relay_closed(), "factory state: closed");
    assert_eq!(b.snap().open_reason, None);
    b.apply("2025-03-10 12:00:00", Command::Relay(false))
        .unwrap();
    assert!(!b.relay_closed());
    assert_eq!(b.snap().open_reason, Some(OpenReason::Remote));
    assert_eq!(b.snap().status & RELAY_CLOSED, 0);
    b.run_to("2025-03-10 13:00:00");
    assert_eq!(b.import_kwh(), 0.0, "nothing flows through an open relay");
    b.apply("2025-03-10 13:00:00", Command::Relay(true))
        .unwrap();
    assert!(b.relay_closed());
    // The reason it last opened stays visible.
    assert_eq!(b.snap().open_reason, Some(OpenReason::Remote));
    b.run_to("2025-03-10 14:00:00");
    assert_close(b.import_kwh(), 1.0, 1e-12, "flows again");
}

#[test]
fn remote_relay_commands_are_refused_in_local_mode() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.top_up("2025-03-10 12:00:00", 10.0)
        .local_mode("2025-03-10 12:00:00");
    assert_eq!(
        b.apply("2025-03-10 12:00:01", Command::Relay(false)),
        Err(CommandError::RefusedInLocalMode)
    );
    assert!(b.relay_closed(), "a refused command changes nothing");
    assert!(b.m.validate(&Command::Relay(true)).is_err());
}

#[test]
fn the_relay_latches_through_an_outage() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.apply("2025-03-10 12:00:00", Command::Relay(false))
        .unwrap();
    b.m.power_off(t("2025-03-10 12:10:00"));
    assert!(!b.snap().relay_closed, "open while off");
    b.m.power_on(t("2025-03-10 14:00:00"));
    assert!(!b.relay_closed(), "still open after power returns");
    b.apply("2025-03-10 14:00:00", Command::Relay(true))
        .unwrap();
    b.m.power_off(t("2025-03-10 15:00:00"));
    b.m.power_on(t("2025-03-10 16:00:00"));
    assert!(b.relay_closed(), "still closed after power returns");
}

#[test]
fn at_19_42_a_load_above_the_threshold_for_30_s_opens_the_relay() {
    let mut b = load_controlled("2025-03-10 19:40:00", 3.0);
    b.load_kw("2025-03-10 19:42:00", 3.5);
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 19:42:30.000"));
    b.run_to("2025-03-10 19:42:29.999");
    assert!(b.relay_closed());
    b.run_to("2025-03-10 19:42:30");
    assert!(!b.relay_closed(), "opened after 30 s above 3 kW");
    let s = b.snap();
    assert_eq!(s.open_reason, Some(OpenReason::Overload));
    assert_eq!(s.status, LOAD_CUT);
    assert_eq!(
        b.events(),
        vec![
            (ms("2025-03-10 19:42:30"), "load_cut"),
            (ms("2025-03-10 19:42:30"), "relay_opened"),
        ]
    );
    // Remote close refused; a top-up does not close it; time does not.
    assert_eq!(
        b.apply("2025-03-10 19:43:00", Command::Relay(true)),
        Err(CommandError::RefusedInLocalMode)
    );
    b.top_up("2025-03-10 19:44:00", 5.0);
    b.run_to("2025-03-11 19:44:00");
    assert!(!b.relay_closed());
    assert_eq!(b.m.control().cut, Some(Cut::Load));
    // Only the front panel "Relay" operation closes it.
    b.panel("2025-03-11 19:44:00", PanelOp::EnterPassword(6666))
        .unwrap();
    b.panel("2025-03-11 19:44:05", PanelOp::Relay(true))
        .unwrap();
    assert!(b.relay_closed());
    assert_eq!(b.m.control().cut, None);
    // The load is still 3.5 kW: the 30 s timer starts again.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-11 19:44:35.000"));
}

#[test]
fn dropping_below_the_threshold_restarts_the_30_s() {
    let mut b = load_controlled("2025-03-10 19:40:00", 3.0);
    b.load_kw("2025-03-10 19:42:00", 3.5)
        .load_kw("2025-03-10 19:42:20", 2.9)
        .load_kw("2025-03-10 19:42:25", 4.0);
    b.run_to("2025-03-10 19:42:54.999");
    assert!(b.relay_closed(), "the timer restarted at 19:42:25");
    b.run_to("2025-03-10 19:42:55");
    assert!(!b.relay_closed());
}

#[test]
fn a_change_of_load_above_the_threshold_keeps_the_timer() {
    let mut b = load_controlled("2025-03-10 19:40:00", 3.0);
    b.load_kw("2025-03-10 19:42:00", 3.5)
        .load_kw("2025-03-10 19:42:10", 5.0);
    b.run_to("2025-03-10 19:42:30");
    assert!(
        !b.relay_closed(),
        "above the threshold all along since 19:42:00"
    );
}

#[test]
fn exactly_the_threshold_is_not_above_it() {
    let mut b = load_controlled("2025-03-10 19:40:00", 3.0);
    b.load_kw("2025-03-10 19:42:00", 3.0)
        .run_to("2025-03-10 19:50:00");
    assert!(b.relay_closed());
}

#[test]
fn load_control_is_off_in_remote_mode() {
    let mut b = Bench::new("2025-03-10 19:40:00");
    b.apply("2025-03-10 19:40:00", Command::SetLoadThreshold(1.0))
        .unwrap();
    b.load_kw("2025-03-10 19:42:00", 3.5)
        .run_to("2025-03-10 20:00:00");
    assert!(b.relay_closed());
}

#[test]
fn a_lowered_threshold_starts_the_timer_when_written() {
    let mut b = load_controlled("2025-03-10 19:40:00", 10.0);
    b.load_kw("2025-03-10 19:41:00", 3.5);
    b.apply("2025-03-10 19:42:00", Command::SetLoadThreshold(3.0))
        .unwrap();
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 19:42:30.000"));
}

#[test]
fn an_outage_resets_the_load_timer() {
    let mut b = load_controlled("2025-03-10 19:40:00", 3.0);
    b.load_kw("2025-03-10 19:42:00", 3.5);
    b.m.power_off(t("2025-03-10 19:42:20"));
    b.m.power_on(t("2025-03-10 19:43:00"));
    b.run_to("2025-03-10 19:43:29.999");
    assert!(b.relay_closed());
    b.run_to("2025-03-10 19:43:30");
    assert!(!b.relay_closed());
}

#[test]
fn the_panel_relay_opens_locally() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.panel("2025-03-10 12:00:00", PanelOp::EnterPassword(6666))
        .unwrap();
    b.panel("2025-03-10 12:00:01", PanelOp::Relay(false))
        .unwrap();
    assert!(!b.relay_closed());
    assert_eq!(b.snap().open_reason, Some(OpenReason::Local));
}

#[test]
fn overload_flag_shows_in_the_status_bits() {
    // 1.2 × 60 A at 220 V is 15.84 kVA; 20 kW is beyond it.
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load_kw("2025-03-10 12:00:00", 20.0);
    assert_eq!(b.snap().status, RELAY_CLOSED | 1 << 1 | 1 << 5);
}
