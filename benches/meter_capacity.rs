//! Core capacity: how many meters one core advances at 1 Hz of simulated
//! time, and memory per meter. Not a timed test: it prints numbers (the last
//! line is JSON, for `bench/run`).
//!
//! N KPM31 meters (`Meter::new`, seed = index) on 220 V; every simulated
//! second each meter gets a new load (its active power changes, so the
//! front end measures again: one new reading per meter per second) and is
//! advanced to that second. Wall time per simulated second gives the meters
//! one core carries in real time. A second pass advances the meters 1 s
//! with no load change (energy integration and deadlines only). Both for the
//! profile's sampled front end and for the analytic one.
//! Memory: resident set (`/proc/self/statm`) before and after creating the
//! meters, divided by N.
//!
//! `cargo bench --bench meter_capacity [-- METERS SECONDS]` (default 10000 5).
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::hint::black_box;
use std::time::Instant;

use chrono::NaiveDateTime;
use metertwin::meter::{Meter, MeterConfig};
use metertwin::physics::{Load, Method, Supply};
use metertwin::profile::Profile;
use metertwin::time::{SimDuration, SimTime};

/// Resident set size [bytes].
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A household-like load for meter `i` at second `s` [W, var at PF 0.95].
fn load(i: usize, s: i64) -> Load {
    let p = 200.0 + ((i as i64 * 37 + s * 101) % 3000) as f64;
    Load::power(p, p * 0.3287)
}

/// What one method measured.
struct Capacity {
    /// Wall time per simulated second, a new reading per meter [s]
    with_change: f64,
    /// Wall time per simulated second, no load change [s]
    advance_only: f64,
    /// Resident memory per meter [bytes]
    bytes_per_meter: f64,
}

fn measure(config: &MeterConfig, clock: NaiveDateTime, n: usize, seconds: i64) -> Capacity {
    let t0 = SimTime::from_datetime(clock);
    let rss0 = rss_bytes();
    let mut meters: Vec<Meter> = (0..n)
        .map(|i| {
            let mut m = Meter::new(config.clone(), i as u64, t0, clock);
            m.set_supply(t0, Supply::sinusoidal(220.0, 50.0));
            m.set_load(t0, load(i, 0));
            m
        })
        .collect();
    let bytes_per_meter = rss_bytes().saturating_sub(rss0) as f64 / n as f64;

    // A load change (a new reading) per meter per simulated second.
    let wall = Instant::now();
    for s in 1..=seconds {
        let at = t0 + SimDuration::from_millis(s * 1000);
        for (i, m) in meters.iter_mut().enumerate() {
            m.set_load(at, load(i, s));
            m.advance_to(at);
            m.take_events();
        }
    }
    let with_change = wall.elapsed().as_secs_f64() / seconds as f64;

    // Advance only.
    let wall = Instant::now();
    for s in seconds + 1..=2 * seconds {
        let at = t0 + SimDuration::from_millis(s * 1000);
        for m in meters.iter_mut() {
            m.advance_to(at);
            m.take_events();
        }
    }
    let advance_only = wall.elapsed().as_secs_f64() / seconds as f64;
    black_box(&meters);
    Capacity {
        with_change,
        advance_only,
        bytes_per_meter,
    }
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seconds: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let Some(profile) = Profile::builtin("kpm31") else {
        eprintln!("no built-in profile kpm31");
        std::process::exit(2);
    };
    let Some(clock) =
        chrono::NaiveDate::from_ymd_opt(2024, 3, 1).and_then(|d| d.and_hms_opt(0, 0, 0))
    else {
        std::process::exit(2);
    };
    let mut json = serde_json::Map::new();
    json.insert("meters".into(), n.into());
    json.insert("seconds".into(), seconds.into());
    // The profile's front end (sampled: a synthesised window per new state),
    // then the analytic one a scenario selects with `measurement = "analytic"`.
    for (name, method) in [("sampled", Method::Sampled), ("analytic", Method::Analytic)] {
        let mut config = profile.meter.clone();
        config.frontend.method = method;
        let c = measure(&config, clock, n, seconds);
        let capacity = n as f64 / c.with_change;
        println!(
            "{name}: {n} meters: {:.1} ms wall per simulated second with a load change each \
             ({:.2} µs per meter-second) → {capacity:.0} meters at 1 Hz on one core — {}",
            c.with_change * 1e3,
            c.with_change * 1e6 / n as f64,
            if capacity >= 10_000.0 {
                "target (≥ 10,000) met"
            } else {
                "target (≥ 10,000) MISSED"
            },
        );
        println!(
            "  advance only (no load change): {:.2} µs per meter-second → {:.0} meters at 1 Hz",
            c.advance_only * 1e6 / n as f64,
            n as f64 / c.advance_only
        );
        println!(
            "  memory: {:.0} bytes resident per meter (RSS delta)",
            c.bytes_per_meter
        );
        json.insert(
            name.into(),
            serde_json::json!({
                "wall_per_sim_s": c.with_change,
                "us_per_meter_reading": c.with_change * 1e6 / n as f64,
                "meters_at_1hz": capacity,
                "us_per_meter_advance_only": c.advance_only * 1e6 / n as f64,
                "meters_at_1hz_advance_only": n as f64 / c.advance_only,
                "bytes_per_meter": c.bytes_per_meter,
            }),
        );
    }
    println!("{}", serde_json::Value::Object(json));
}
