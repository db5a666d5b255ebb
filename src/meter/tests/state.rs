//! Saved state: a restored meter is the meter that was saved (SPEC §3
//! "all settings and all energy survive restarts"), and a state the core
//! could not have produced is refused, naming the field.

use super::*;
use crate::meter::state::MeterState;
use crate::meter::RestoreError;

/// A meter with a bit of everything: energy in two months, local mode,
/// a balance, changed settings and a changed day table.
fn busy_meter() -> Bench {
    let mut b = Bench::new("2025-03-31 22:00:00");
    b.load_kw("2025-03-31 22:00:00", 2.0);
    b.local_mode("2025-03-31 22:00:00")
        .top_up("2025-03-31 22:00:00", 50.0);
    b.apply("2025-03-31 22:00:00", Command::SetPassword(1234))
        .unwrap();
    b.apply("2025-03-31 22:00:00", Command::SetOverdraftLimit(7.5))
        .unwrap();
    b.run_to("2025-04-01 02:00:00");
    b
}

fn config() -> MeterConfig {
    let mut c = MeterConfig::default();
    c.frontend.ideal = true;
    c
}

#[test]
fn a_restored_meter_shows_what_was_saved() {
    let b = busy_meter();
    let saved = b.m.export_state();
    let json = serde_json::to_string(&saved).unwrap();
    let back: MeterState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, saved, "JSON round trip");
    let mut r = Meter::restore(config(), back).unwrap();
    r.set_load(r.now(), Load::power(2000.0, 0.0));
    let (a, z) = (b.snap(), r.snapshot());
    assert_eq!(z.clock, a.clock);
    assert_eq!(z.lifetime, a.lifetime);
    assert_eq!(z.months, a.months);
    assert_eq!(z.settings, a.settings);
    assert_eq!(z.residual_kwh, a.residual_kwh);
    assert_eq!(z.overdraft_limit_kwh, 7.5);
    assert_eq!(z.relay_mode, a.relay_mode);
    assert_eq!(z.tariff, a.tariff);
    assert_eq!(z.pulses, a.pulses);
}

#[test]
fn a_restored_meter_runs_on_like_the_original() {
    let mut b = busy_meter();
    let mut r = Meter::restore(config(), b.m.export_state()).unwrap();
    r.set_load(r.now(), Load::power(2000.0, 0.0));
    b.run_to("2025-04-02 00:00:00");
    r.advance_to(t("2025-04-02 00:00:00"));
    assert_close(
        r.lifetime().active_dir(Direction::Import),
        b.m.lifetime().active_dir(Direction::Import),
        1e-12,
        "import energy",
    );
    assert_close(
        r.control().residual_wh,
        b.m.control().residual_wh,
        1e-9,
        "balance",
    );
}

#[test]
fn an_outage_across_a_month_end_is_caught_up_after_restore() {
    let b = busy_meter();
    let mut r = Meter::restore(config(), b.m.export_state()).unwrap();
    let at = r.now();
    r.power_off(at);
    r.power_on(t("2025-06-15 00:00:00"));
    let s = r.snapshot();
    assert_eq!(s.clock, dt("2025-06-15 00:00:00"), "the clock ran on");
    // May was settled with no consumption; April (2 h at 2 kW before the
    // outage) and March (2 h) moved back.
    assert_eq!(s.months[1].active_dir(Direction::Import), 0.0);
    assert_close(
        s.months[2].active_dir(Direction::Import),
        4000.0,
        1e-12,
        "1–2 April",
    );
    assert_close(
        s.months[3].active_dir(Direction::Import),
        4000.0,
        1e-12,
        "March",
    );
}

/// A change that makes a saved state invalid.
type Spoil = Box<dyn Fn(&mut MeterState)>;

#[test]
fn states_the_core_could_not_produce_are_refused() {
    let good = busy_meter().m.export_state();
    let cases: Vec<(&str, Spoil)> = vec![
        ("settings.address", Box::new(|s| s.settings.address = 0)),
        (
            "settings.password",
            Box::new(|s| s.settings.password = 10000),
        ),
        ("settings.baud", Box::new(|s| s.settings.baud = 115200)),
        ("lifetime", Box::new(|s| s.lifetime.active[0][0] = f64::NAN)),
        (
            "history.months",
            Box::new(|s| s.history.months[3].reactive[1][1] = -1.0),
        ),
        (
            "control.overdraft_limit_kwh",
            Box::new(|s| s.control.overdraft_limit_kwh = 1e9),
        ),
        ("this_month", Box::new(|s| s.this_month.month = 13)),
        (
            "demand",
            Box::new(|s| s.demand = crate::meter::demand::Demand::new(60, 5)),
        ),
    ];
    for (field, spoil) in cases {
        let mut s = good.clone();
        spoil(&mut s);
        match Meter::restore(config(), s) {
            Err(RestoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected an error, got {:?}", other.map(|_| ())),
        }
    }
    let mut s = good.clone();
    s.model = "KPM99".into();
    assert!(matches!(
        Meter::restore(config(), s),
        Err(RestoreError::Model { .. })
    ));
}
