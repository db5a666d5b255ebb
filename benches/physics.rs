//! Cost of one measurement window: synthesised and measured (cache miss)
//! versus reused (cache hit). Not a timed test: it prints numbers.
//!
//! `cargo bench --bench physics`
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::hint::black_box;
use std::time::{Duration, Instant};

use metertwin::physics::{
    Component, Frontend, FrontendConfig, HarmonicProfile, Load, Method, Supply,
};

/// Run `f` for about `budget`, return the mean time per call.
fn time_per_call(budget: Duration, mut f: impl FnMut(u64)) -> (Duration, u64) {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f(calls);
            calls += 1;
        }
    }
    (start.elapsed() / calls as u32, calls)
}

fn main() {
    let budget = Duration::from_secs(2);
    let loads = [
        (
            "resistive",
            Load::of([Component::Resistive {
                power_w: 2000.0,
                rated_voltage_v: None,
            }]),
        ),
        (
            "house (R + motor + SMPS + LED + PV)",
            Load::of([
                Component::Resistive {
                    power_w: 2000.0,
                    rated_voltage_v: None,
                },
                Component::Inductive {
                    power_w: 750.0,
                    power_factor: 0.8,
                    rated_voltage_v: None,
                },
                Component::NonLinear {
                    power_w: 150.0,
                    displacement_power_factor: 1.0,
                    leading: false,
                    spectrum: HarmonicProfile::Smps,
                },
                Component::NonLinear {
                    power_w: 40.0,
                    displacement_power_factor: 0.9,
                    leading: true,
                    spectrum: HarmonicProfile::Led,
                },
                Component::Generation {
                    power_w: 3000.0,
                    rated_power_w: 4000.0,
                    min_power_factor: 0.9,
                    knee_ratio: 0.5,
                    excitation: Default::default(),
                },
            ]),
        ),
    ];
    println!("physics: one measurement window, 8 kHz, 10 cycles at 50 Hz (1600 samples)");
    for (method, (name, load)) in [Method::Sampled, Method::Analytic]
        .into_iter()
        .flat_map(|m| loads.iter().map(move |l| (m, l)))
    {
        let mut meter = Frontend::new(
            FrontendConfig {
                method,
                ..Default::default()
            },
            1,
        );
        // Miss: a supply that differs every call (by a µV) is never cached.
        let (miss, n_miss) = time_per_call(budget, |k| {
            let supply = Supply::sinusoidal(220.0 + k as f64 * 1e-6, 50.0);
            black_box(meter.measure(black_box(&supply), black_box(load), true));
        });
        let supply = Supply::default();
        let (hit, n_hit) = time_per_call(budget, |_| {
            black_box(meter.measure(black_box(&supply), black_box(load), true));
        });
        let stats = meter.cache_stats();
        assert_eq!(stats.misses, n_miss + 1, "every miss call synthesised");
        assert_eq!(
            stats.hits,
            n_hit - 1,
            "every hit call was served from the cache"
        );
        println!(
            "{:>9} {name:>36}: miss {:>9.1} µs   hit {:>7.3} µs   miss/hit {:>7.0}×",
            format!("{method:?}"),
            miss.as_secs_f64() * 1e6,
            hit.as_secs_f64() * 1e6,
            miss.as_secs_f64() / hit.as_secs_f64()
        );
    }
}
