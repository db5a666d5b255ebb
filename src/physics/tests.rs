//! Whole-chain tests: supply and load in, readings out, against closed-form
//! values computed here from the formulas, not from the model's code.

use super::*;

const ROOT2: f64 = std::f64::consts::SQRT_2;

fn ideal() -> Frontend {
    Frontend::new(
        FrontendConfig {
            ideal: true,
            ..Default::default()
        },
        0,
    )
}

fn ideal_with(config: FrontendConfig) -> Frontend {
    Frontend::new(
        FrontendConfig {
            ideal: true,
            ..config
        },
        0,
    )
}

/// |got − want| ≤ tol·max(|want|, 1).
#[track_caller]
fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

mod ideal_meter {
    use super::*;

    #[test]
    fn pure_resistive() {
        let r = ideal().measure(
            &Supply::sinusoidal(230.0, 50.0),
            &Load::of([resistive(2000.0)]),
            true,
        );
        close(r.voltage_v, 230.0, 1e-9, "U");
        close(r.current_a, 2000.0 / 230.0, 1e-9, "I");
        close(r.active_w, 2000.0, 1e-9, "P");
        assert_eq!(
            r.reactive_var, 0.0,
            "|Q| below the no-load threshold reads 0"
        );
        close(r.apparent_va, 2000.0, 1e-9, "S");
        close(r.power_factor, 1.0, 1e-9, "PF");
        close(r.frequency_hz, 50.0, 1e-6, "F");
        assert!(!r.overload);
    }

    #[test]
    fn r_l_at_a_known_angle() {
        // PF 0.5 lagging: φ = 60°, S = 2 kVA, Q = S·sin 60°.
        let load = Load::of([Component::Inductive {
            power_w: 1000.0,
            power_factor: 0.5,
            rated_voltage_v: None,
        }]);
        let r = ideal().measure(&Supply::sinusoidal(220.0, 50.0), &load, true);
        close(r.current_a, 2000.0 / 220.0, 1e-9, "I");
        close(r.active_w, 1000.0, 1e-9, "P");
        close(r.reactive_var, 2000.0 * 3f64.sqrt() / 2.0, 1e-9, "Q");
        close(r.apparent_va, 2000.0, 1e-9, "S");
        close(r.power_factor, 0.5, 1e-9, "PF");
    }

    #[test]
    fn capacitive_leads_and_pf_sign_options() {
        let load = Load::of([Component::Capacitive {
            power_w: 800.0,
            power_factor: 0.8,
            rated_voltage_v: None,
        }]);
        let supply = Supply::sinusoidal(220.0, 50.0);
        let r = ideal().measure(&supply, &load, true);
        close(r.active_w, 800.0, 1e-9, "P");
        close(r.reactive_var, -600.0, 1e-9, "Q");
        close(r.apparent_va, 1000.0, 1e-9, "S");
        close(r.power_factor, 0.8, 1e-9, "PF (sign of P)");
        let by_q = FrontendConfig {
            power_factor_sign: PowerFactorSign::Reactive,
            ..Default::default()
        };
        close(
            ideal_with(by_q).measure(&supply, &load, true).power_factor,
            -0.8,
            1e-9,
            "PF (sign of Q)",
        );
    }

    /// Supply with 3rd and 5th voltage harmonics, a non-linear load with a
    /// known current spectrum: every cross term counts in P and Q.
    #[test]
    fn harmonic_rich_current() {
        let (u, p1, dpf) = (230.0, 500.0, 0.9);
        let v_harm = [(3usize, 0.05, 0.0), (5, 0.04, 40.0)];
        let i_harm = [(3usize, 0.6, 30.0), (5, 0.35, -20.0), (7, 0.2, 0.0)];
        let supply = Supply {
            voltage_v: u,
            harmonics: v_harm
                .iter()
                .map(|&(h, r, ph)| Harmonic {
                    order: h as u32,
                    ratio: r,
                    phase_deg: ph,
                })
                .collect(),
            ..Supply::default()
        };
        let load = Load::of([Component::NonLinear {
            power_w: p1,
            displacement_power_factor: dpf,
            leading: false,
            spectrum: HarmonicProfile::Custom(
                i_harm
                    .iter()
                    .map(|&(h, r, ph)| Harmonic {
                        order: h as u32,
                        ratio: r,
                        phase_deg: ph,
                    })
                    .collect(),
            ),
        }]);

        // Closed form. Voltage: V1 at 0°, V_h = r·V1 at its phase.
        let v1 = u / (1.0 + v_harm.iter().map(|x| x.1 * x.1).sum::<f64>()).sqrt();
        let phi1 = dpf.acos(); // current lags by φ1
        let i1 = p1 / dpf / v1;
        // Current harmonic h: r·I1 at h·(−φ1) + θ_h.
        let mut p = v1 * i1 * phi1.cos();
        let mut q = v1 * i1 * phi1.sin();
        for &(h, rv, phv) in &v_harm {
            if let Some(&(_, ri, phi)) = i_harm.iter().find(|x| x.0 == h) {
                let angle = phv.to_radians() - (-(h as f64) * phi1 + phi.to_radians());
                p += rv * v1 * ri * i1 * angle.cos();
                q += rv * v1 * ri * i1 * angle.sin();
            }
        }
        let irms = i1 * (1.0 + i_harm.iter().map(|x| x.1 * x.1).sum::<f64>()).sqrt();

        let r = ideal().measure(&supply, &load, true);
        close(r.voltage_v, u, 1e-9, "U");
        close(r.current_a, irms, 1e-9, "I");
        close(r.active_w, p, 1e-9, "P");
        close(r.reactive_var, q, 1e-9, "Q");
        close(r.apparent_va, u * irms, 1e-9, "S");
        close(r.power_factor, p / (u * irms), 1e-9, "PF");
        close(r.frequency_hz, 50.0, 1e-5, "F");
        // The harmonics make a real difference to P and Q.
        assert!((p - p1).abs() > 1.0 && (q - p1 * phi1.tan()).abs() > 1.0);

        let fundamental = FrontendConfig {
            reactive_mode: ReactiveMode::Fundamental,
            ..Default::default()
        };
        let r = ideal_with(fundamental).measure(&supply, &load, true);
        close(r.reactive_var, v1 * i1 * phi1.sin(), 1e-9, "Q1");
    }

    #[test]
    fn sixty_hz() {
        let load = Load::of([
            resistive(1000.0),
            Component::Inductive {
                power_w: 600.0,
                power_factor: 0.6,
                rated_voltage_v: None,
            },
        ]);
        let r = ideal().measure(&Supply::sinusoidal(120.0, 60.0), &load, true);
        close(r.active_w, 1600.0, 1e-9, "P");
        close(r.reactive_var, 800.0, 1e-9, "Q");
        close(r.apparent_va, 1600f64.hypot(800.0), 1e-9, "S");
        close(r.frequency_hz, 60.0, 1e-6, "F");
    }

    #[test]
    fn off_nominal_and_drifting_frequency() {
        let load = Load::of([resistive(1000.0)]);
        for f in [49.5, 50.37, 61.2] {
            let r = ideal().measure(&Supply::sinusoidal(220.0, f), &load, true);
            close(r.frequency_hz, f, 1e-6, "F");
            // The window is whole cycles to within half a sample.
            close(r.active_w, 1000.0, 5e-4, "P");
        }
        let drifting = Supply {
            frequency_drift_hz_per_s: 0.5,
            ..Supply::sinusoidal(220.0, 50.0)
        };
        // The crossings average the frequency over cycles 0.75…9.75 of the
        // window (cos starts at a peak), not 0…10: F reads drift × 5 ms high.
        let f = ideal().measure(&drifting, &load, true).frequency_hz;
        close(f, 50.0 + 0.5 * 0.005, 2e-4 / 50.0, "F");
    }

    #[test]
    fn pv_export_with_cos_phi_p() {
        let pv = |power_w| {
            Load::of([Component::Generation {
                power_w,
                rated_power_w: 4000.0,
                min_power_factor: 0.9,
                knee_ratio: 0.5,
                excitation: Excitation::UnderExcited,
            }])
        };
        let supply = Supply::sinusoidal(230.0, 50.0);
        let r = ideal().measure(&supply, &pv(1500.0), true);
        close(r.active_w, -1500.0, 1e-9, "P");
        assert_eq!(r.reactive_var, 0.0);
        close(r.power_factor, -1.0, 1e-9, "PF");
        let r = ideal().measure(&supply, &pv(4000.0), true);
        close(r.active_w, -4000.0, 1e-9, "P");
        close(
            r.reactive_var,
            4000.0 * 0.19f64.sqrt() / 0.9,
            1e-9,
            "Q (under-excited > 0)",
        );
        close(r.power_factor, -0.9, 1e-9, "PF");
        // Net metering: 2 kW house load against 4 kW of PV.
        let mut both = pv(4000.0);
        both.components.push(resistive(2000.0));
        close(
            ideal().measure(&supply, &both, true).active_w,
            -2000.0,
            1e-9,
            "net P",
        );
    }

    #[test]
    fn relay_open_still_measures_voltage() {
        let r = ideal().measure(
            &Supply::sinusoidal(230.0, 50.0),
            &Load::of([resistive(2000.0)]),
            false,
        );
        close(r.voltage_v, 230.0, 1e-9, "U");
        close(r.frequency_hz, 50.0, 1e-6, "F");
        assert_eq!(
            (r.current_a, r.active_w, r.reactive_var, r.apparent_va),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(r.power_factor, 1.0);
    }

    #[test]
    fn outage_reads_nothing() {
        let r = ideal().measure(
            &Supply::sinusoidal(0.0, 50.0),
            &Load::power(1000.0, 0.0),
            true,
        );
        assert_eq!(
            r,
            Readings {
                power_factor: 1.0,
                ..Readings::default()
            }
        );
    }

    #[test]
    fn overload_is_flagged_but_measured() {
        let r = ideal().measure(
            &Supply::sinusoidal(220.0, 50.0),
            &Load::power(220.0 * 73.0, 0.0),
            true,
        );
        assert!(r.overload);
        close(r.current_a, 73.0, 1e-9, "I");
        let r = ideal().measure(
            &Supply::sinusoidal(220.0, 50.0),
            &Load::power(220.0 * 71.0, 0.0),
            true,
        );
        assert!(!r.overload);
        assert!(
            ideal()
                .measure(&Supply::sinusoidal(265.0, 50.0), &Load::default(), true)
                .overload
        );
    }

    #[test]
    fn power_source_keeps_its_meaning() {
        let r = ideal().measure(&Supply::default(), &Load::power(-1200.0, 500.0), true);
        close(r.active_w, -1200.0, 1e-9, "P");
        close(r.reactive_var, 500.0, 1e-9, "Q");
        close(r.current_a, 1300.0 / 220.0, 1e-9, "I");
    }
}

mod analytic_method {
    use super::*;

    #[test]
    fn agrees_with_the_sampled_window() {
        let distorted = Supply {
            voltage_v: 230.0,
            harmonics: vec![
                Harmonic {
                    order: 3,
                    ratio: 0.04,
                    phase_deg: 10.0,
                },
                Harmonic::new(7, 0.02),
            ],
            ..Supply::default()
        };
        let house = Load::of([
            resistive(1500.0),
            Component::Inductive {
                power_w: 700.0,
                power_factor: 0.7,
                rated_voltage_v: None,
            },
            Component::Capacitive {
                power_w: 50.0,
                power_factor: 0.3,
                rated_voltage_v: Some(230.0),
            },
            Component::NonLinear {
                power_w: 250.0,
                displacement_power_factor: 0.95,
                leading: true,
                spectrum: HarmonicProfile::Smps,
            },
        ]);
        let cases = [
            (distorted.clone(), house.clone(), true),
            (Supply::sinusoidal(120.0, 60.0), house.clone(), true),
            (
                Supply::sinusoidal(220.0, 50.4),
                Load::power(-2500.0, 300.0),
                true,
            ),
            (distorted, house.clone(), false),
            (Supply::sinusoidal(0.0, 50.0), house, true),
        ];
        for mode in [ReactiveMode::AllHarmonics, ReactiveMode::Fundamental] {
            let config = |method| FrontendConfig {
                method,
                reactive_mode: mode,
                ..Default::default()
            };
            let mut sampled = ideal_with(config(Method::Sampled));
            let mut analytic = ideal_with(config(Method::Analytic));
            for (s, l, relay) in &cases {
                let (a, b) = (
                    sampled.measure(s, l, *relay),
                    analytic.measure(s, l, *relay),
                );
                let what = format!(
                    "{mode:?} at {} V {} Hz relay {relay}",
                    s.voltage_v, s.frequency_hz
                );
                // Off nominal frequency the sampled window misses up to
                // half a sample of whole cycles: ~1e-4 leakage.
                let tol = if s.frequency_hz == 50.4 { 5e-4 } else { 1e-9 };
                close(b.voltage_v, a.voltage_v, tol, &format!("U, {what}"));
                close(b.current_a, a.current_a, tol, &format!("I, {what}"));
                close(b.active_w, a.active_w, tol, &format!("P, {what}"));
                close(b.reactive_var, a.reactive_var, tol, &format!("Q, {what}"));
                close(b.frequency_hz, a.frequency_hz, 1e-6, &format!("F, {what}"));
            }
        }
    }
}

mod thresholds {
    use super::*;

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
    use super::*;

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
                    within_pct(r.active_w, p, class.active_pct, &format!("P at {at}"));
                    within_pct(
                        r.power_factor,
                        pf.abs(),
                        class.power_factor_pct,
                        &format!("PF at {at}"),
                    );
                    if *pf != 1.0 {
                        within_pct(r.reactive_var, q, class.reactive_pct, &format!("Q at {at}"));
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
    use super::*;

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

fn resistive(power_w: f64) -> Component {
    Component::Resistive {
        power_w,
        rated_voltage_v: None,
    }
}

#[test]
fn waveform_peaks_for_a_rectifier_load() {
    // The SMPS current is pulses at the voltage peaks: its crest factor is
    // far above a sine's √2.
    let meter = ideal();
    let load = Load::of([Component::NonLinear {
        power_w: 200.0,
        displacement_power_factor: 1.0,
        leading: false,
        spectrum: HarmonicProfile::Smps,
    }]);
    let w = meter.window(&Supply::default(), &load, true);
    let peak = w.current.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let rms = (w.current.iter().map(|x| x * x).sum::<f64>() / w.len() as f64).sqrt();
    assert!(
        peak / rms > 2.0 * ROOT2 / 1.5,
        "crest factor {}",
        peak / rms
    );
}
