//! Four-quadrant energy, combination rules, pulses, exact accumulation,
//! demand (SPEC §3 "Energy", SPEC §2 apparent demand).

use super::*;
use crate::meter::energy::Combination;

#[test]
fn import_load_counts_import_active_and_reactive() {
    // 15:00–16:00 is flat on the manual's table.
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load("2025-03-10 15:00:00", 2000.0, 1000.0)
        .run_to("2025-03-10 16:00:00");
    let s = b.snap();
    assert_close(s.import_active_kwh(), 2.0, 1e-12, "import active");
    assert_eq!(s.export_active_kwh(), 0.0);
    assert_close(s.import_reactive_kvarh(), 1.0, 1e-12, "import reactive");
    assert_eq!(s.export_reactive_kvarh(), 0.0);
    assert_close(s.total_active_kwh(), 2.0, 1e-12, "total active");
    assert_close(s.total_reactive_kvarh(), 1.0, 1e-12, "total reactive");
    assert_close(s.rate_active_kwh(Rate::Flat), 2.0, 1e-12, "flat active");
    assert_close(
        s.rate_reactive_kvarh(Rate::Flat),
        1.0,
        1e-12,
        "flat reactive",
    );
    assert_eq!(s.rate_active_kwh(Rate::Peak), 0.0);
}

#[test]
fn each_quadrant_goes_to_its_register() {
    // Quadrant I, II, III, IV for one hour each, all in the flat slot.
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load("2025-03-10 15:00:00", 1000.0, 100.0) // I: import P, import Q
        .load("2025-03-10 16:00:00", -2000.0, 200.0) // II: export P, import Q
        .load("2025-03-10 17:00:00", -3000.0, -300.0) // III: export P, export Q
        .load("2025-03-10 18:00:00", 4000.0, -400.0) // IV: import P, export Q
        .run_to("2025-03-10 19:00:00");
    let s = b.snap();
    assert_close(s.import_active_kwh(), 5.0, 1e-12, "import active");
    assert_close(s.export_active_kwh(), 5.0, 1e-12, "export active");
    assert_close(s.import_reactive_kvarh(), 0.3, 1e-12, "import reactive");
    assert_close(s.export_reactive_kvarh(), 0.7, 1e-12, "export reactive");
    // import + export [decision: DL/T 645 default]
    assert_close(s.total_active_kwh(), 10.0, 1e-12, "total active");
    assert_close(s.total_reactive_kvarh(), 1.0, 1e-12, "total reactive");
}

fn run_import_export(c: Combination) -> Snapshot {
    let config = MeterConfig {
        combination_active: c,
        combination_reactive: c,
        ..MeterConfig::default()
    };
    let mut b = Bench::with_config(config, "2025-03-10 15:00:00");
    b.load("2025-03-10 15:00:00", 3000.0, 600.0)
        .load("2025-03-10 16:00:00", -1000.0, -200.0)
        .run_to("2025-03-10 17:00:00");
    b.snap()
}

#[test]
fn combination_rule_comes_from_the_profile() {
    // 3 kWh import, 1 kWh export; 0.6 kvarh import, 0.2 kvarh export.
    let cases = [
        (Combination::ImportPlusExport, 4.0, 0.8),
        (Combination::ImportMinusExport, 2.0, 0.4),
        (Combination::ImportOnly, 3.0, 0.6),
    ];
    for (c, active, reactive) in cases {
        let s = run_import_export(c);
        assert_close(
            s.total_active_kwh(),
            active,
            1e-12,
            &format!("{c:?} active"),
        );
        assert_close(
            s.total_reactive_kvarh(),
            reactive,
            1e-12,
            &format!("{c:?} reactive"),
        );
        assert_close(
            s.rate_active_kwh(Rate::Flat),
            active,
            1e-12,
            &format!("{c:?} flat rate"),
        );
        // Import and export registers do not depend on the rule.
        assert_close(s.import_active_kwh(), 3.0, 1e-12, "import");
        assert_close(s.export_active_kwh(), 1.0, 1e-12, "export");
    }
}

#[test]
fn pulses_at_1600_per_kwh() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load_kw("2025-03-10 15:00:00", 1.0)
        .run_to("2025-03-10 16:00:00");
    assert_eq!(b.snap().pulses, 1600);
    // One pulse is 0.625 Wh: 1 kW for 2.25 s is exactly one more pulse.
    b.run_to("2025-03-10 16:00:02.250");
    assert_eq!(b.snap().pulses, 1601);
    b.run_to("2025-03-10 16:00:04.499");
    assert_eq!(b.snap().pulses, 1601);
    b.run_to("2025-03-10 16:00:04.500");
    assert_eq!(b.snap().pulses, 1602);
}

#[test]
fn pulses_count_export_too() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load_kw("2025-03-10 15:00:00", -0.5)
        .run_to("2025-03-10 16:00:00");
    assert_eq!(b.snap().pulses, 800);
}

/// A small deterministic generator (not the code under test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn a_year_of_varying_load_matches_the_integral() {
    let start = "2025-01-01 00:00:00";
    let mut b = Bench::new(start);
    let mut rng = Lcg(2025);
    let mut now = t(start);
    let end = t("2026-01-01 00:00:00");
    // The integral of P, exactly, in W·ms (integers).
    let (mut import_wms, mut export_wms) = (0i128, 0i128);
    while now < end {
        let p = rng.next(12_000) as i64 - 2_000; // −2 kW … +10 kW, whole watts
        let p = if p.abs() < 10 { 100 } else { p };
        let q = rng.next(2_000) as f64 - 1_000.0;
        let span = 1 + rng.next(3 * 3_600_000) as i64; // 1 ms … 3 h
        let until = (now + SimDuration::from_millis(span)).min(end);
        b.m.set_load(now, Load::power(p as f64, q));
        let wms = i128::from(p) * i128::from((until - now).as_millis());
        if p > 0 {
            import_wms += wms;
        } else {
            export_wms -= wms;
        }
        now = until;
    }
    b.m.advance_to(end);
    let kwh = |wms: i128| wms as f64 / 3_600_000.0 / 1000.0;
    let s = b.snap();
    assert_close(s.import_active_kwh(), kwh(import_wms), 1e-6, "import");
    assert_close(s.export_active_kwh(), kwh(export_wms), 1e-6, "export");
    assert_close(
        s.total_active_kwh(),
        kwh(import_wms + export_wms),
        1e-6,
        "total",
    );
    let rates: f64 = Rate::ALL.iter().map(|&r| s.rate_active_kwh(r)).sum();
    assert_close(rates, s.total_active_kwh(), 1e-12, "rates add up");
    // 12 monthly settlements: this month plus the 12 previous cover the year.
    let months: f64 = s
        .months
        .iter()
        .map(|m| m.active_total(Combination::ImportPlusExport))
        .sum::<f64>()
        / 1000.0;
    assert_close(
        months,
        s.total_active_kwh(),
        1e-9,
        "history covers the year",
    );
}

#[test]
fn snapshot_apparent_power_is_u_times_i() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load("2025-03-10 15:00:00", 1200.0, 900.0);
    let r = b.snap().readings;
    assert_close(r.apparent_va, 1500.0, 1e-9, "S");
    assert_close(r.voltage_v * r.current_a, r.apparent_va, 1e-9, "S = U·I");
    assert_close(r.power_factor, 0.8, 1e-9, "PF = P/S");
    b.run_to("2025-03-10 16:00:00");
    let s = b.snap();
    assert_close(
        s.import_active_kwh() + s.export_active_kwh(),
        s.total_active_kwh(),
        1e-12,
        "import + export = total",
    );
}

#[test]
fn demand_is_a_15_minute_window_updated_on_the_clock_minute() {
    // Powered at 12:00:30: the first minute bucket is half full.
    let mut b = Bench::new("2025-03-10 12:00:30");
    b.load("2025-03-10 12:00:30", 1200.0, 900.0); // S = 1500 VA
    b.run_to("2025-03-10 12:00:59.999");
    assert_eq!(b.snap().demand_va, 0.0, "no update inside the minute");
    b.run_to("2025-03-10 12:01:00");
    // 30 s of 1500 VA over a 15-min window
    assert_close(b.snap().demand_va, 50.0, 1e-9, "after the first minute");
    b.run_to("2025-03-10 12:15:00");
    assert_close(b.snap().demand_va, 1450.0, 1e-9, "14.5 minutes of load");
    b.run_to("2025-03-10 12:16:00");
    assert_close(b.snap().demand_va, 1500.0, 1e-9, "full window");
    // The load drops to 300 VA at 12:20:00; at 12:25:00 five minutes of the
    // window are 300 VA and ten are 1500 VA.
    b.load("2025-03-10 12:20:00", 300.0, 0.0)
        .run_to("2025-03-10 12:25:00");
    assert_close(b.snap().demand_va, 1100.0, 1e-9, "sliding");
    b.run_to("2025-03-10 12:35:00");
    assert_close(b.snap().demand_va, 300.0, 1e-9, "old minutes slid out");
}

#[test]
fn demand_after_a_clock_set_follows_the_new_minute_and_never_overshoots() {
    let mut b = Bench::new("2025-03-10 12:00:00");
    b.load("2025-03-10 12:00:00", 1500.0, 0.0);
    b.run_to("2025-03-10 12:30:50");
    assert_close(b.snap().demand_va, 1500.0, 1e-9, "full window");
    // The clock is set to hh:mm:10: the minute being filled ends now (50 s
    // of it), and the next one ends 50 s later, on the new clock's minute.
    b.apply(
        "2025-03-10 12:30:50",
        Command::SetClock(dt("2025-03-10 18:00:10")),
    )
    .unwrap();
    b.run_to("2025-03-10 12:31:39.999");
    let d = b.snap().demand_va;
    b.run_to("2025-03-10 12:31:40");
    assert!(b.snap().demand_va != d, "a bucket closed on the new minute");
    // 13 whole minutes, and two of 50 s: never above the constant load.
    assert_close(
        b.snap().demand_va,
        1500.0 * (13.0 * 60.0 + 100.0) / 900.0,
        1e-9,
        "after",
    );
    b.run_to("2025-03-10 12:46:40");
    assert_close(b.snap().demand_va, 1500.0, 1e-9, "a window later");
}

/// A meter with its real error model (calibration and noise), seed 11.
fn noisy_meter(at: &str) -> Meter {
    Meter::new(MeterConfig::default(), 11, t(at), dt(at))
}

#[test]
fn readings_refresh_once_per_second_and_energy_ignores_the_noise() {
    // SPEC §2: readings refresh once per second of simulated time; a
    // constant load reads slightly differently from second to second (noise
    // inside the accuracy class), the same all through one second.
    let mut m = noisy_meter("2025-03-10 15:00:00");
    m.set_load(t("2025-03-10 15:00:00"), Load::power(1000.0, 0.0));
    let mut per_second = Vec::new();
    for s in 0..20 {
        m.advance_to(t("2025-03-10 15:00:00") + SimDuration::from_millis(s * 1000 + 100));
        let early = *m.readings();
        m.advance_to(t("2025-03-10 15:00:00") + SimDuration::from_millis(s * 1000 + 900));
        assert_eq!(
            *m.readings(),
            early,
            "second {s}: changed inside the second"
        );
        per_second.push(early.active_w);
    }
    let mut distinct = per_second.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(
        distinct.len() >= 19,
        "20 seconds gave {} distinct readings",
        distinct.len()
    );
    for p in &per_second {
        // Within the class (0.5 %) around the true 1000 W.
        assert!((p - 1000.0).abs() <= 5.0, "{p} W");
    }
    // Energy integrates the noise-free calibrated power: 20 s of readings
    // that differ change nothing in it (it grows exactly linearly).
    let e1 = m.snapshot().import_active_kwh(); // over 19.9 s
    m.advance_to(t("2025-03-10 15:00:39.800"));
    let e2 = m.snapshot().import_active_kwh();
    assert_close(e2, 2.0 * e1, 1e-9, "energy over 39.8 s vs 19.9 s");
}

#[test]
fn the_reading_at_an_instant_does_not_depend_on_how_the_meter_got_there() {
    let load = Load::power(1500.0, 400.0);
    let mut stepped = noisy_meter("2025-03-10 15:00:00");
    let mut jumped = noisy_meter("2025-03-10 15:00:00");
    stepped.set_load(t("2025-03-10 15:00:00"), load.clone());
    jumped.set_load(t("2025-03-10 15:00:00"), load);
    for ms in (0..=37_000).step_by(250) {
        stepped.advance_to(t("2025-03-10 15:00:00") + SimDuration::from_millis(ms));
    }
    jumped.advance_to(t("2025-03-10 15:00:37"));
    assert_eq!(stepped.readings(), jumped.readings());
}

#[test]
fn an_ideal_meter_reads_the_same_every_second() {
    let mut b = Bench::new("2025-03-10 15:00:00");
    b.load("2025-03-10 15:00:00", 1000.0, 0.0);
    let first = *b.m.readings();
    b.run_to("2025-03-10 15:00:10");
    assert_eq!(*b.m.readings(), first);
}
