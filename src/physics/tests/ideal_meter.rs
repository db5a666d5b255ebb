//! With errors off: readings against closed-form values.

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

mod analytic_method {
    use super::super::*;

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
