//! Core capacity: how many meters one core advances at 1 Hz of simulated
//! time, and memory per meter. Not a timed test: it prints numbers (the last
//! line is JSON, for `bench/run`).
//!
//! N KPM31 meters (`Meter::new`, seed = index) on 220 V; every simulated
//! second each meter gets a new load (its active power changes, so the
//! front end measures again: one new reading per meter per second) and is
//! advanced to that second. Wall time per simulated second gives the meters
//! one core carries in real time. A second pass advances the meters 1 s
//! with no load change (energy integration and deadlines only).
//! Memory: resident set (`/proc/self/statm`) before and after creating the
//! meters, divided by N.
//!
//! `cargo bench --bench meter_capacity [-- METERS SECONDS]` (default 10000 5).
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::hint::black_box;
use std::time::Instant;

use metertwin::meter::Meter;
use metertwin::physics::{Load, Supply};
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
    let t0 = SimTime::from_datetime(clock);

    let rss0 = rss_bytes();
    let mut meters: Vec<Meter> = (0..n)
        .map(|i| {
            let mut m = Meter::new(profile.meter.clone(), i as u64, t0, clock);
            m.set_supply(t0, Supply::sinusoidal(220.0, 50.0));
            m.set_load(t0, load(i, 0));
            m
        })
        .collect();
    let rss1 = rss_bytes();
    let per_meter = (rss1.saturating_sub(rss0)) as f64 / n as f64;

    // Pass 1: a load change (a new reading) per meter per simulated second.
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

    // Pass 2: advance only.
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

    let capacity = n as f64 / with_change;
    println!(
        "{n} meters: {:.1} ms wall per simulated second with a load change each \
         ({:.2} µs per meter-second) → {capacity:.0} meters at 1 Hz on one core — {}",
        with_change * 1e3,
        with_change * 1e6 / n as f64,
        if capacity >= 10_000.0 {
            "target (≥ 10,000) met"
        } else {
            "target (≥ 10,000) MISSED"
        },
    );
    println!(
        "  advance only (no load change): {:.2} µs per meter-second → {:.0} meters at 1 Hz",
        advance_only * 1e6 / n as f64,
        n as f64 / advance_only
    );
    println!(
        "  memory: {:.0} bytes resident per meter ({n} meters, RSS delta)",
        per_meter
    );
    println!(
        "{}",
        serde_json::json!({
            "meters": n,
            "seconds": seconds,
            "wall_per_sim_s": with_change,
            "us_per_meter_reading": with_change * 1e6 / n as f64,
            "meters_at_1hz": capacity,
            "us_per_meter_advance_only": advance_only * 1e6 / n as f64,
            "meters_at_1hz_advance_only": n as f64 / advance_only,
            "bytes_per_meter": per_meter,
        })
    );
}
