//! The front panel: pages, password, settings, the Relay operation and the
//! 30 s inactivity timeout (SPEC §3 "Front panel"; KPM31 manual §5).

use super::*;
use crate::meter::Page;

#[test]
fn settings_need_the_password() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    assert_eq!(
        b.panel("2025-03-10 12:00:00", PanelOp::Set(Command::SetAddress(5))),
        Err(CommandError::PasswordRequired)
    );
    assert_eq!(
        b.panel("2025-03-10 12:00:00", PanelOp::Relay(false)),
        Err(CommandError::PasswordRequired)
    );
    assert_eq!(
        b.panel("2025-03-10 12:00:01", PanelOp::EnterPassword(1234)),
        Err(CommandError::WrongPassword)
    );
    assert!(!b.m.panel_session_open());
    b.panel("2025-03-10 12:00:02", PanelOp::EnterPassword(6666))
        .unwrap();
    assert!(b.m.panel_session_open());
    b.panel("2025-03-10 12:00:03", PanelOp::Set(Command::SetAddress(5)))
        .unwrap();
    assert_eq!(b.m.settings().address, 5);
    assert!(b.relay_closed());
}

#[test]
fn thirty_seconds_without_a_key_end_the_session() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.panel("2025-03-10 12:00:00", PanelOp::EnterPassword(6666))
        .unwrap();
    b.panel("2025-03-10 12:00:20", PanelOp::NextPage).unwrap();
    // The key at 12:00:20 restarted the 30 s.
    assert_eq!(b.poll_at().as_deref(), Some("2025-03-10 12:00:50.000"));
    b.run_to("2025-03-10 12:00:49.999");
    assert!(b.m.panel_session_open());
    b.events();
    b.run_to("2025-03-10 12:00:50");
    assert!(!b.m.panel_session_open());
    assert_eq!(
        b.events(),
        vec![(ms("2025-03-10 12:00:50"), "panel_timeout")]
    );
    assert_eq!(
        b.panel("2025-03-10 12:00:51", PanelOp::Set(Command::SetBaud(1200))),
        Err(CommandError::PasswordRequired)
    );
}

#[test]
fn exit_ends_the_session() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.panel("2025-03-10 12:00:00", PanelOp::EnterPassword(6666))
        .unwrap();
    b.panel("2025-03-10 12:00:01", PanelOp::Exit).unwrap();
    assert!(!b.m.panel_session_open());
    assert_eq!(
        b.m.poll_at(),
        Some(t("2025-03-10 15:00:00")),
        "no panel deadline"
    );
}

#[test]
fn remote_only_values_are_not_panel_settings() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.panel("2025-03-10 12:00:00", PanelOp::EnterPassword(6666))
        .unwrap();
    for cmd in [
        Command::TopUp(1.0),
        Command::SetLoadThreshold(1.0),
        Command::Relay(true),
    ] {
        assert!(
            matches!(
                b.panel("2025-03-10 12:00:01", PanelOp::Set(cmd.clone())),
                Err(CommandError::NotAPanelSetting(_))
            ),
            "{cmd:?}"
        );
    }
    // Range checks apply on the panel as well.
    assert!(matches!(
        b.panel(
            "2025-03-10 12:00:02",
            PanelOp::Set(Command::SetPassword(10_000))
        ),
        Err(CommandError::OutOfRange { .. })
    ));
    b.panel(
        "2025-03-10 12:00:03",
        PanelOp::Set(Command::SetPassword(1234)),
    )
    .unwrap();
    b.panel("2025-03-10 12:00:04", PanelOp::Exit).unwrap();
    assert_eq!(
        b.panel("2025-03-10 12:00:05", PanelOp::EnterPassword(6666)),
        Err(CommandError::WrongPassword)
    );
    b.panel("2025-03-10 12:00:06", PanelOp::EnterPassword(1234))
        .unwrap();
}

#[test]
fn pages_cycle_both_ways() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load("2025-03-10 12:00:00", 1200.0, 900.0);
    assert_eq!(b.m.display(), (Page::Voltage, "U 220.0 V".to_string()));
    b.panel("2025-03-10 12:00:00", PanelOp::PreviousPage)
        .unwrap();
    assert_eq!(b.m.display(), (Page::Version, "V2.1-20220310".to_string()));
    b.panel("2025-03-10 12:00:00", PanelOp::NextPage).unwrap();
    for (page, text) in [
        (Page::Current, "I 6.818 A"), // 1500 VA / 220 V
        (Page::ActivePower, "P 1200.0 W"),
        (Page::ReactivePower, "Q 900.0 var"),
        (Page::ApparentPower, "S 1500.0 VA"),
        (Page::PowerFactor, "PF 0.800"),
        (Page::Frequency, "F 50.00 Hz"),
    ] {
        b.panel("2025-03-10 12:00:00", PanelOp::NextPage).unwrap();
        assert_eq!(b.m.display(), (page, text.to_string()));
    }
    for _ in 0..6 {
        b.panel("2025-03-10 12:00:00", PanelOp::NextPage).unwrap();
    }
    assert_eq!(
        b.m.display(),
        (Page::DateTime, "2025-03-10 12-00-00".to_string())
    );
    for _ in 0..5 {
        b.panel("2025-03-10 12:00:00", PanelOp::NextPage).unwrap();
    }
    assert_eq!(b.m.display().0, Page::Voltage, "17 pages, then round again");
    // Stepping pages needs no password and opens no session.
    assert!(!b.m.panel_session_open());
}

#[test]
fn the_energy_pages_show_kwh() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load_kw("2025-03-10 12:00:00", 1.5)
        .run_to("2025-03-10 14:00:00");
    for _ in 0..7 {
        b.panel("2025-03-10 14:00:00", PanelOp::NextPage).unwrap();
    }
    assert_eq!(
        b.m.display(),
        (Page::TotalActiveEnergy, "EP 3.00 kWh".to_string())
    );
}

#[test]
fn the_panel_is_dead_while_off() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.panel("2025-03-10 12:00:00", PanelOp::EnterPassword(6666))
        .unwrap();
    b.m.power_off(t("2025-03-10 12:00:05"));
    assert!(!b.m.panel_session_open(), "the outage ends the session");
    assert_eq!(
        b.panel("2025-03-10 12:00:06", PanelOp::NextPage),
        Err(CommandError::PoweredOff)
    );
}
