//! Plot one synthesised measurement window (voltage and current) of a
//! non-linear load as SVG, written by hand.
//!
//! `cargo run --example plot_window [-- OUT.svg]` (default
//! `docs/physics-window.svg`).
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;

use metertwin::physics::{
    Component, Frontend, FrontendConfig, Harmonic, HarmonicProfile, Load, Supply,
};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
const MARGIN: (f64, f64, f64, f64) = (60.0, 60.0, 40.0, 90.0); // left, right, top, bottom

fn main() -> std::io::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/physics-window.svg".into());
    // 230 V with 3 % 5th harmonic (flat-topped, as on a real LV grid), a
    // PC power supply and LED lamps.
    let supply = Supply {
        voltage_v: 230.0,
        harmonics: vec![Harmonic {
            order: 5,
            ratio: 0.03,
            phase_deg: 180.0,
        }],
        ..Supply::default()
    };
    let load = Load::of([
        Component::NonLinear {
            power_w: 300.0,
            displacement_power_factor: 1.0,
            leading: false,
            spectrum: HarmonicProfile::Smps,
        },
        Component::NonLinear {
            power_w: 60.0,
            displacement_power_factor: 0.9,
            leading: true,
            spectrum: HarmonicProfile::Led,
        },
    ]);
    let mut meter = Frontend::new(
        FrontendConfig {
            ideal: true,
            ..Default::default()
        },
        0,
    );
    let window = meter.window(&supply, &load, true);
    let r = meter.measure(&supply, &load, true);

    let v = window.window_voltage();
    let i = &window.current;
    let fs = window.sample_rate_hz;
    let duration_ms = v.len() as f64 / fs * 1e3;
    let v_max = v.iter().fold(0.0f64, |m, x| m.max(x.abs())) * 1.1;
    let i_max = i.iter().fold(0.0f64, |m, x| m.max(x.abs())) * 1.1;

    let (l, rgt, top, bottom) = MARGIN;
    let plot_w = WIDTH - l - rgt;
    let plot_h = HEIGHT - top - bottom;
    let x_of = |k: usize| l + plot_w * k as f64 / v.len() as f64;
    let y_of = |x: f64, max: f64| top + plot_h / 2.0 * (1.0 - x / max);
    let path = |samples: &[f64], max: f64| {
        let mut d = String::new();
        for (k, &x) in samples.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if k == 0 { "M" } else { "L" },
                x_of(k),
                y_of(x, max)
            );
        }
        d
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="13">One window: {} cycles at 50 Hz, {} samples at {} kHz. SMPS 300 W + LED 60 W, 230 V with 3 % 5th harmonic</text>"#,
        WIDTH / 2.0,
        window.cycles,
        v.len(),
        fs / 1e3
    );
    // Axes and grid.
    let _ = writeln!(
        svg,
        r##"<rect x="{l}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>"##
    );
    let zero = y_of(0.0, 1.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{l}" y1="{zero}" x2="{}" y2="{zero}" stroke="#bbb"/>"##,
        l + plot_w
    );
    for c in 0..=window.cycles {
        let x = l + plot_w * c as f64 / window.cycles as f64;
        let t = duration_ms * c as f64 / window.cycles as f64;
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{t:.0}</text>"##,
            top + plot_h,
            top + plot_h + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">t [ms]</text>"#,
        l + plot_w / 2.0,
        top + plot_h + 34.0
    );
    for frac in [-1.0, -0.5, 0.5, 1.0] {
        let y = y_of(frac, 1.0);
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{y:.1}" text-anchor="end" fill="#1f5fbf">{:.0}</text><text x="{}" y="{y:.1}" fill="#c0392b">{:.1}</text>"##,
            l - 6.0,
            frac * v_max,
            l + plot_w + 6.0,
            frac * i_max
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="16" y="{}" fill="#1f5fbf" transform="rotate(-90 16 {})" text-anchor="middle">v(t) [V]</text>"##,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" fill="#c0392b" transform="rotate(90 {} {})" text-anchor="middle">i(t) [A]</text>"##,
        WIDTH - 14.0,
        top + plot_h / 2.0,
        WIDTH - 14.0,
        top + plot_h / 2.0
    );
    let _ = writeln!(
        svg,
        r##"<path d="{}" fill="none" stroke="#1f5fbf" stroke-width="1.2"/>"##,
        path(v, v_max)
    );
    let _ = writeln!(
        svg,
        r##"<path d="{}" fill="none" stroke="#c0392b" stroke-width="1.2"/>"##,
        path(i, i_max)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{l}" y="{}">Measured (ideal meter): U = {:.2} V, I = {:.3} A, P = {:.1} W, Q = {:.1} var, S = {:.1} VA, PF = {:.3}, F = {:.3} Hz</text>"#,
        HEIGHT - 18.0,
        r.voltage_v,
        r.current_a,
        r.active_w,
        r.reactive_var,
        r.apparent_va,
        r.power_factor,
        r.frequency_hz
    );
    let _ = writeln!(svg, "</svg>");
    std::fs::write(&out, svg)?;
    println!("wrote {out}");
    Ok(())
}
