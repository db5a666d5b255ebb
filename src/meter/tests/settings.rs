//! Settings and their range checks (SPEC §3 "Settings"; KPM31 manual §5.4).

use super::*;
use crate::meter::settings::{Parity, WirelessMode};

#[test]
fn factory_defaults() {
    let b = Bench::new("2025-03-10 12:00:00");
    let s = b.snap();
    assert_eq!(s.settings.password, 6666);
    assert_eq!(s.settings.address, 1);
    assert_eq!(s.settings.baud, 9600);
    assert_eq!(s.settings.parity, Parity::Even);
    assert_eq!(s.settings.frequency_hz, 50);
    assert_eq!(s.settings.wireless, WirelessMode::Mqtt);
    assert_eq!(s.relay_mode, RelayMode::Remote);
    assert_eq!(s.overdraft_limit_kwh, 5.0);
    assert_eq!(s.load_threshold_kw, 65535.0);
    assert!(s.relay_closed);
}

/// (command, accepted?) at the edges of every range.
#[test]
fn range_checks_at_the_edges() {
    let cases = [
        (Command::SetPassword(0), true),
        (Command::SetPassword(9999), true),
        (Command::SetPassword(10_000), false),
        (Command::SetAddress(0), false),
        (Command::SetAddress(1), true),
        (Command::SetAddress(247), true),
        (Command::SetAddress(248), false),
        (Command::SetBaud(1200), true),
        (Command::SetBaud(2400), true),
        (Command::SetBaud(4800), true),
        (Command::SetBaud(9600), true),
        (Command::SetBaud(19200), false),
        (Command::SetBaud(0), false),
        (Command::SetFrequency(50), true),
        (Command::SetFrequency(60), true),
        (Command::SetFrequency(55), false),
        (Command::SetFrequency(0), false),
        (Command::SetLoadThreshold(0.0), true),
        (Command::SetLoadThreshold(65535.0), true),
        (Command::SetLoadThreshold(-0.1), false),
        (Command::SetLoadThreshold(65535.5), false),
        (Command::SetLoadThreshold(f64::NAN), false),
        (Command::SetOverdraftLimit(0.0), true),
        (Command::SetOverdraftLimit(-1.0), false),
        (Command::SetOverdraftLimit(f64::INFINITY), false),
        (Command::TopUp(0.001), true),
        (Command::TopUp(0.0), false),
        (Command::TopUp(-5.0), false),
        (Command::TopUp(f64::NAN), false),
    ];
    for (cmd, ok) in cases {
        let mut b = Bench::new("2025-03-10 12:00:00");
        let before = b.snap();
        let result = b.apply("2025-03-10 12:00:00", cmd.clone());
        assert_eq!(result.is_ok(), ok, "{cmd:?} → {result:?}");
        if !ok {
            assert!(
                matches!(result, Err(CommandError::OutOfRange { .. })),
                "{cmd:?} → {result:?}"
            );
            assert_eq!(b.snap(), before, "a refused {cmd:?} changes nothing");
        }
    }
}

#[test]
fn accepted_settings_take_effect() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    let at = "2025-03-10 12:00:00";
    b.apply(at, Command::SetPassword(42)).unwrap();
    b.apply(at, Command::SetAddress(247)).unwrap();
    b.apply(at, Command::SetBaud(2400)).unwrap();
    b.apply(at, Command::SetParity(Parity::None)).unwrap();
    b.apply(at, Command::SetWireless(WirelessMode::Debug))
        .unwrap();
    b.apply(at, Command::SetFrequency(60)).unwrap();
    b.apply(at, Command::SetRelayMode(RelayMode::Local))
        .unwrap();
    b.apply(at, Command::SetLoadThreshold(7.5)).unwrap();
    b.apply(at, Command::SetOverdraftLimit(2.0)).unwrap();
    let s = b.snap();
    assert_eq!(s.settings.password, 42);
    assert_eq!(s.settings.address, 247);
    assert_eq!(s.settings.baud, 2400);
    assert_eq!(s.settings.parity, Parity::None);
    assert_eq!(s.settings.wireless, WirelessMode::Debug);
    assert_eq!(s.settings.frequency_hz, 60);
    assert_eq!(s.relay_mode, RelayMode::Local);
    assert_eq!(s.load_threshold_kw, 7.5);
    assert_eq!(s.overdraft_limit_kwh, 2.0);
    let names: Vec<_> = b.events().into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["setting_changed"; 9]);
}

#[test]
fn clear_residual_in_remote_mode_just_zeroes_the_balance() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.top_up("2025-03-10 12:00:00", 12.5);
    assert_eq!(b.snap().residual_kwh, 12.5);
    b.apply("2025-03-10 12:00:01", Command::ClearResidual)
        .unwrap();
    assert_eq!(b.snap().residual_kwh, 0.0);
    assert!(b.relay_closed(), "no prepayment in remote mode");
}

#[test]
fn the_changed_address_and_baud_survive_an_outage() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.apply("2025-03-10 12:00:00", Command::SetAddress(17))
        .unwrap();
    b.apply("2025-03-10 12:00:00", Command::SetBaud(4800))
        .unwrap();
    b.m.power_off(t("2025-03-10 12:01:00"));
    b.m.power_on(t("2025-03-10 12:02:00"));
    assert_eq!(b.m.settings().address, 17);
    assert_eq!(b.m.settings().baud, 4800);
}
