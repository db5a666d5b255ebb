//! With errors on: thresholds, accuracy class, determinism.

mod thresholds {
    use super::super::*;

    /// A resistive load drawing `i` [A] at 220 V.
    fn drawing(i: f64) -> Load {
        Load::of([resistive(220.0 * i)])
    }

    #[test]
    fn registers_at_the_starting_current_on_every_meter() {
        for seed in 0..50 {
            let mut meter = Frontend::new(FrontendConfig::default(), seed);
            let r = meter.measure(&Supply::default(), &drawing(0.02), true);
            assert!(r.active_w > 0.0, "seed {seed}: {r:?}");
            assert!(r.current_a > 0.0);
        }
    }

    #[test]
    fn kpm31c_needs_a_lower_no_load_threshold() {
        // Ib = 1 A: starting current 4 mA = 0.88 W at 220 V, under 2 W.
        let config = |no_load_power_w| FrontendConfig {
            starting_current_a: 0.004,
            no_load_power_w,
            accuracy: AccuracyClass::KPM31C,
            ..Default::default()
        };
        let supply = Supply::default();
        for seed in 0..20 {
            let r = Frontend::new(config(2.0), seed).measure(&supply, &drawing(0.004), true);
            assert_eq!(r.active_w, 0.0, "with 2 W the threshold swallows it");
            let r = Frontend::new(config(0.4), seed).measure(&supply, &drawing(0.004), true);
            assert!(r.active_w > 0.0, "seed {seed}");
        }
    }

    #[test]
    fn below_the_starting_current_nothing() {
        for seed in 0..50 {
            let mut meter = Frontend::new(FrontendConfig::default(), seed);
            let r = meter.measure(&Supply::default(), &drawing(0.01), true);
            assert_eq!(
                (r.current_a, r.active_w, r.reactive_var, r.apparent_va),
                (0.0, 0.0, 0.0, 0.0),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn no_creep_on_voltage_alone_or_tiny_power() {
        let mut meter = Frontend::new(FrontendConfig::default(), 9);
        // 115 % Un, nothing connected.
        let r = meter.measure(&Supply::sinusoidal(253.0, 50.0), &Load::default(), true);
        assert_eq!((r.active_w, r.reactive_var), (0.0, 0.0));
        // A capacitor bank: current flows, |P| < 2 W reads 0, Q does not.
        let r = meter.measure(&Supply::default(), &Load::power(1.0, -50.0), true);
        assert_eq!(r.active_w, 0.0);
        assert!(r.reactive_var < -49.0 && r.current_a > 0.2);
    }
}

mod errors {
    use super::super::*;

    /// IEC test points: 0.05 In, In, Imax × PF 1, 0.5 lagging, 0.8 leading
    /// (In = Ib = 5 A, Imax = 60 A, Un = 220 V).
    fn test_points() -> Vec<(f64, f64, Load)> {
        let mut points = Vec::new();
        for i in [0.25, 5.0, 60.0] {
            let s = 220.0 * i;
            points.push((i, 1.0, Load::of([resistive(s)])));
            points.push((
                i,
                0.5,
                Load::of([Component::Inductive {
                    power_w: s * 0.5,
                    power_factor: 0.5,
                    rated_voltage_v: None,
                }]),
            ));
            points.push((
                i,
                -0.8,
                Load::of([Component::Capacitive {
                    power_w: s * 0.8,
                    power_factor: 0.8,
                    rated_voltage_v: None,
                }]),
            ));
        }
        points
    }

    #[track_caller]
    fn within_pct(got: f64, want: f64, pct: f64, what: &str) {
        let err = (got - want).abs() / want.abs() * 100.0;
        assert!(
            err <= pct,
            "{what}: got {got}, want {want}, error {err:.4} % > {pct} %"
        );
    }

    fn check_class(config: FrontendConfig, seeds: std::ops::Range<u64>) {
        let class = config.accuracy;
        let supply = Supply::default();
        let points = test_points();
        for seed in seeds {
            let mut meter = Frontend::new(config.clone(), seed);
            for (i, pf, load) in &points {
                let (p, q) = (
                    220.0 * i * pf.abs(),
                    220.0 * i * (1.0 - pf * pf).sqrt() * pf.signum(),
                );
                for _ in 0..3 {
                    let r = meter.measure(&supply, load, true);
                    let at = format!("seed {seed}, I {i} A, PF {pf}");
                    within_pct(r.voltage_v, 220.0, class.voltage_pct, &format!("U at {at}"));
                    within_pct(r.current_a, *i, class.current_pct, &format!("I at {at}"));
                    within_pct(r.active_w, p, class.active_power_pct, &format!("P at {at}"));
                    within_pct(
                        r.power_factor,
                        pf.abs(),
                        class.power_factor_pct,
                        &format!("PF at {at}"),
                    );
                    if *pf != 1.0 {
                        within_pct(
                            r.reactive_var,
                            q,
                            class.reactive_power_pct,
                            &format!("Q at {at}"),
                        );
                    }
                    assert!(
                        (r.frequency_hz - 50.0).abs() <= class.frequency_hz,
                        "F at {at}: {}",
                        r.frequency_hz
                    );
                }
            }
        }
    }

    #[test]
    fn kpm31_stays_in_class_at_the_iec_points() {
        check_class(FrontendConfig::default(), 0..40);
    }

    #[test]
    fn kpm31c_reactive_class_is_wider() {
        let config = FrontendConfig {
            accuracy: AccuracyClass::KPM31C,
            ..Default::default()
        };
        check_class(config.clone(), 100..120);
        // Its Q errors do use the wider class.
        let widest = (0..200)
            .map(|s| {
                Frontend::new(config.clone(), s)
                    .calibration()
                    .reactive
                    .abs()
            })
            .fold(0.0, f64::max);
        assert!(widest > 0.005 && widest <= 0.01, "{widest}");
    }

    #[test]
    fn a_meter_really_has_errors() {
        let mut meter = Frontend::new(FrontendConfig::default(), 5);
        let r = meter.measure(&Supply::default(), &Load::of([resistive(1100.0)]), true);
        assert_ne!(r.active_w, 1100.0);
        assert_ne!(r.voltage_v, 220.0);
    }
}

mod determinism {
    use super::super::*;

    fn states() -> Vec<(Supply, Load, bool)> {
        vec![
            (Supply::default(), Load::of([resistive(1000.0)]), true),
            (
                Supply::sinusoidal(231.0, 50.02),
                Load::power(300.0, 120.0),
                true,
            ),
            (Supply::default(), Load::of([resistive(1000.0)]), true),
            (Supply::default(), Load::of([resistive(1000.0)]), false),
            (
                Supply {
                    noise_v: 0.5,
                    ..Supply::default()
                },
                Load::power(50.0, 0.0),
                true,
            ),
        ]
    }

    fn run(meter: &mut Frontend, clear_between: bool) -> Vec<Readings> {
        states()
            .iter()
            .map(|(s, l, relay)| {
                if clear_between {
                    meter.clear_cache();
                }
                meter.measure(s, l, *relay)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_readings() {
        let a = run(&mut Frontend::new(FrontendConfig::default(), 42), false);
        let b = run(&mut Frontend::new(FrontendConfig::default(), 42), false);
        assert_eq!(a, b);
    }

    #[test]
    fn the_cache_is_invisible() {
        let cached = run(&mut Frontend::new(FrontendConfig::default(), 42), false);
        let fresh = run(&mut Frontend::new(FrontendConfig::default(), 42), true);
        assert_eq!(cached, fresh);
    }

    #[test]
    fn different_seed_different_calibration() {
        let a = Frontend::new(FrontendConfig::default(), 1).calibration();
        let b = Frontend::new(FrontendConfig::default(), 2).calibration();
        assert_ne!(a, b);
        assert_eq!(
            Frontend::new(
                FrontendConfig {
                    ideal: true,
                    ..Default::default()
                },
                1
            )
            .calibration(),
            Errors::default()
        );
    }

    #[test]
    fn noise_per_call_noise_free_on_request() {
        let mut meter = Frontend::new(FrontendConfig::default(), 3);
        let (s, l) = (Supply::default(), Load::of([resistive(2000.0)]));
        let (a, b) = (meter.measure(&s, &l, true), meter.measure(&s, &l, true));
        assert_ne!(a.active_w, b.active_w);
        let (c, d) = (
            meter.measure_noise_free(&s, &l, true),
            meter.measure_noise_free(&s, &l, true),
        );
        assert_eq!(c, d);
        close(
            c.active_w,
            2000.0 * (1.0 + meter.calibration().active),
            1e-9,
            "steady P",
        );
        assert_eq!(meter.cache_stats(), CacheStats { hits: 3, misses: 1 });
    }
}
