//! Prepayment in local mode: reminder cut at 0 with reconnect after exactly
//! 10 s, overdraft down to the limit, hard cut until a top-up lifts the
//! balance above 0 (SPEC §3 "Relay, prepayment and load control").

use super::*;
use crate::meter::{Cut, OpenReason};

/// Status bits of 040DH.
const RELAY_CLOSED: u16 = 1;
const PREPAY_ALARM: u16 = 1 << 1;
const OVERDRAFT_CUT: u16 = 1 << 2;
const REMINDER_CUT: u16 = 1 << 4;

/// Local mode with `kwh` in the balance and `kw` drawn, all at `at`.
fn prepaid(at: &str, kwh: f64, kw: f64) -> Bench {
    let mut b = Bench::new(at);
    b.local_mode(at).top_up(at, kwh).load_kw(at, kw);
    b.events();
    b
}

#[test]
fn balance_1_kwh_at_2_kw_reminds_after_30_min_and_reconnects_10_s_later() {
    let mut b = prepaid("2025-03-10 08:00:00", 1.0, 2.0);
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:30:00.000"));
    b.run_to("2025-03-10 08:29:59.999");
    assert!(b.relay_closed(), "still closed 1 ms before");
    assert!(b.residual_kwh() > 0.0);
    b.run_to("2025-03-10 08:30:00");
    assert!(!b.relay_closed(), "reminder cut at 0");
    assert_close(b.residual_kwh(), 0.0, 1.0, "balance at the cut");
    assert!(
        b.residual_kwh().abs() < 1e-9,
        "balance {}",
        b.residual_kwh()
    );
    let s = b.snap();
    assert_eq!(s.open_reason, Some(OpenReason::PrepayReminder));
    assert_eq!(s.status, PREPAY_ALARM | REMINDER_CUT);
    assert_eq!(s.readings.active_w, 0.0, "no current with the relay open");
    assert_eq!(
        b.events(),
        vec![
            (ms("2025-03-10 08:30:00"), "prepay_reminder"),
            (ms("2025-03-10 08:30:00"), "relay_opened"),
        ]
    );
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 08:30:10.000"));
    b.run_to("2025-03-10 08:30:09.999");
    assert!(!b.relay_closed());
    b.run_to("2025-03-10 08:30:10");
    assert!(b.relay_closed(), "reconnected exactly 10 s later");
    assert_eq!(b.snap().status, RELAY_CLOSED | PREPAY_ALARM);
    assert_eq!(
        b.events(),
        vec![(ms("2025-03-10 08:30:10"), "relay_closed")]
    );
    // Now into overdraft: 5 kWh at 2 kW is 2 h 30 min (11:00:10), but the
    // peak slot at 10:00 comes first.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 10:00:00.000"));
}

#[test]
fn overdraft_limit_cuts_hard_until_a_top_up_lifts_the_balance_above_0() {
    let mut b = prepaid("2025-03-10 08:00:00", 1.0, 2.0);
    b.run_to("2025-03-10 11:00:09.999");
    assert!(b.relay_closed());
    b.run_to("2025-03-10 11:00:10");
    assert!(!b.relay_closed(), "overdraft cut");
    assert!(
        (b.residual_kwh() + 5.0).abs() < 1e-9,
        "at −5 kWh: {}",
        b.residual_kwh()
    );
    let s = b.snap();
    assert_eq!(s.open_reason, Some(OpenReason::Overdraft));
    assert_eq!(s.status, PREPAY_ALARM | OVERDRAFT_CUT);
    assert_eq!(b.m.control().cut, Some(Cut::Overdraft));
    // No reconnect by itself.
    b.run_to("2025-03-12 00:00:00");
    assert!(!b.relay_closed());
    assert!((b.residual_kwh() + 5.0).abs() < 1e-9, "nothing flows");
    // A top-up that leaves the balance ≤ 0 does not close it …
    b.top_up("2025-03-12 00:00:00", 5.0);
    assert!(!b.relay_closed(), "balance exactly 0 is not above 0");
    // … one that lifts it above 0 does.
    b.events();
    b.top_up("2025-03-12 09:00:00", 0.5);
    assert!(b.relay_closed());
    assert_eq!(
        b.events(),
        vec![
            (ms("2025-03-12 09:00:00"), "top_up"),
            (ms("2025-03-12 09:00:00"), "relay_closed"),
        ]
    );
    // 0.5 kWh at 2 kW: the next reminder is 15 min later.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-12 09:15:00.000"));
    b.run_to("2025-03-12 09:15:00");
    assert_eq!(b.snap().open_reason, Some(OpenReason::PrepayReminder));
}

#[test]
fn the_panel_cannot_override_an_overdraft_cut() {
    let mut b = prepaid("2025-03-10 08:00:00", 0.5, 3.0);
    b.run_to("2025-03-10 12:00:00");
    assert_eq!(b.m.control().cut, Some(Cut::Overdraft));
    b.panel("2025-03-10 12:00:00", PanelOp::EnterPassword(6666))
        .unwrap();
    assert_eq!(
        b.panel("2025-03-10 12:00:01", PanelOp::Relay(true)),
        Err(CommandError::RelayLocked(Cut::Overdraft))
    );
    assert!(!b.relay_closed());
}

#[test]
fn a_changed_overdraft_limit_moves_the_deadline() {
    let mut b = prepaid("2025-03-10 08:00:00", 1.0, 2.0);
    b.run_to("2025-03-10 08:30:10");
    b.apply("2025-03-10 08:30:10", Command::SetOverdraftLimit(1.0))
        .unwrap();
    // 1 kWh at 2 kW
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 09:00:10.000"));
    // Lowering it below the present debt cuts at once.
    b.run_to("2025-03-10 08:45:10");
    b.apply("2025-03-10 08:45:10", Command::SetOverdraftLimit(0.25))
        .unwrap();
    assert!(!b.relay_closed());
    assert_eq!(b.m.control().cut, Some(Cut::Overdraft));
}

#[test]
fn a_top_up_during_the_reminder_reconnects_at_once() {
    let mut b = prepaid("2025-03-10 08:00:00", 1.0, 2.0);
    b.run_to("2025-03-10 08:30:05");
    assert!(!b.relay_closed());
    b.top_up("2025-03-10 08:30:05", 2.0);
    assert!(b.relay_closed());
    assert_eq!(b.m.control().cut, None);
    // 2 kWh at 2 kW: reminder again in 1 h; no stray 10 s reconnect.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 09:30:05.000"));
}

#[test]
fn clear_residual_sets_the_balance_to_zero_and_reminds() {
    let mut b = prepaid("2025-03-10 08:00:00", 3.0, 1.0);
    b.apply("2025-03-10 08:10:00", Command::ClearResidual)
        .unwrap();
    assert_eq!(b.residual_kwh(), 0.0);
    assert!(!b.relay_closed(), "balance 0 → reminder cut");
    assert_eq!(b.snap().open_reason, Some(OpenReason::PrepayReminder));
    b.run_to("2025-03-10 08:10:10");
    assert!(b.relay_closed());
}

#[test]
fn only_import_draws_on_the_balance() {
    let mut b = prepaid("2025-03-10 08:00:00", 2.0, -1.5);
    assert_eq!(
        b.m.poll_at(),
        Some(t("2025-03-10 10:00:00")),
        "only the tariff"
    );
    b.run_to("2025-03-10 10:00:00");
    assert_eq!(b.residual_kwh(), 2.0);
    b.load_kw("2025-03-10 10:00:00", 0.5)
        .run_to("2025-03-10 11:00:00");
    assert_close(b.residual_kwh(), 1.5, 1e-12, "0.5 kWh drawn");
}

#[test]
fn remote_mode_has_no_prepayment() {
    let mut b = Bench::new("2025-03-10 08:00:00");
    b.top_up("2025-03-10 08:00:00", 1.0)
        .load_kw("2025-03-10 08:00:00", 2.0)
        .run_to("2025-03-10 12:00:00");
    assert!(b.relay_closed());
    assert_eq!(
        b.residual_kwh(),
        1.0,
        "the balance is not drawn in remote mode"
    );
}

#[test]
fn switching_back_to_remote_stops_prepayment() {
    let mut b = prepaid("2025-03-10 08:00:00", 1.0, 2.0);
    b.run_to("2025-03-10 08:30:02");
    assert!(!b.relay_closed());
    b.apply(
        "2025-03-10 08:30:02",
        Command::SetRelayMode(RelayMode::Remote),
    )
    .unwrap();
    assert_eq!(b.m.control().cut, None);
    // The relay keeps its state; the remote side now controls it.
    b.apply("2025-03-10 08:30:03", Command::Relay(true))
        .unwrap();
    assert!(b.relay_closed());
    b.run_to("2025-03-10 20:00:00");
    assert!(b.relay_closed(), "no overdraft cut in remote mode");
}

#[test]
fn the_balance_survives_an_outage_and_the_deadline_resumes() {
    let mut b = prepaid("2025-03-10 08:00:00", 1.0, 2.0);
    b.m.power_off(t("2025-03-10 08:10:00"));
    b.m.power_on(t("2025-03-10 09:10:00"));
    // 10 min used before the outage, 20 min left at 2 kW.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 09:30:00.000"));
    b.run_to("2025-03-10 09:30:00");
    assert!(!b.relay_closed());
}
