//! Whole-chain tests: supply and load in, readings out, against closed-form
//! values computed here from the formulas, not from the model's code.

use super::*;

mod ideal_meter;
mod meter_errors;

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
