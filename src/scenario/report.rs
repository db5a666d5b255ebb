//! Text forms of a run: the register dump and event log that golden files
//! pin, and the `--report` directory (CSV time series, event log, SVG plot
//! of power and of energy by tariff rate, drawn by hand).

use std::fmt::Write as _;
use std::path::Path;

use chrono::Datelike;

use super::engine::{Engine, LogEntry, Sample};
use crate::image;
use crate::meter::Snapshot;
use crate::profile::quantity::FieldType;
use crate::profile::{RegisterMap, WordOrder};

/// Every readable register of `map` as `ADDR name = value unit`, one per
/// line, values decoded from the words a client would read.
pub fn register_dump(map: &RegisterMap, snap: &Snapshot) -> String {
    let mut out = String::new();
    for f in map.fields() {
        if !f.access.readable() {
            continue;
        }
        let Ok(w) = image::read_registers(map, snap, f.address, f.kind.width()) else {
            continue;
        };
        let join = |w: &[u16]| match map.word_order {
            WordOrder::HighFirst => (u32::from(w[0]) << 16) | u32::from(w[1]),
            WordOrder::LowFirst => (u32::from(w[1]) << 16) | u32::from(w[0]),
        };
        let value = match f.kind {
            FieldType::U16 => w[0].to_string(),
            FieldType::U32 => join(&w).to_string(),
            FieldType::F32 => format!("{}", f32::from_bits(join(&w))),
            FieldType::DateTime => format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                w[0], w[1], w[2], w[3], w[4], w[5]
            ),
            FieldType::DayTable | FieldType::TimeZones => {
                let words: Vec<String> = w.iter().map(u16::to_string).collect();
                words.join(" ")
            }
        };
        let unit = if f.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", f.unit)
        };
        let _ = writeln!(out, "{:04X}H {} = {value}{unit}", f.address, f.name);
    }
    for c in map.coils() {
        if let Ok(v) = image::read_coils(map, snap, c.address, 1) {
            let on = v.first().copied().unwrap_or(false);
            let _ = writeln!(out, "coil {:04X}H {} = {}", c.address, c.name, u8::from(on));
        }
    }
    out
}

/// The log, one entry per line: `time meter event detail`.
pub fn log_text(engine: &Engine) -> String {
    let names: Vec<&str> = engine
        .scenario()
        .meters
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let mut out = String::new();
    for e in engine.log() {
        let _ = writeln!(out, "{}", log_line(e, &names));
    }
    out
}

/// One log entry as text.
pub fn log_line(e: &LogEntry, names: &[&str]) -> String {
    let name = names.get(e.meter).copied().unwrap_or("?");
    if e.detail.is_empty() {
        format!("{} {name} {}", e.at, e.name)
    } else {
        format!("{} {name} {} {}", e.at, e.name, e.detail)
    }
}

/// The golden form of a finished run: each meter's final registers, then
/// the log.
pub fn golden_text(engine: &Engine) -> String {
    let sc = engine.scenario();
    let mut out = format!("# scenario {} — final registers at {}\n", sc.name, sc.end);
    for (i, m) in sc.meters.iter().enumerate() {
        let (Some(map), Some(snap)) = (engine.map(i), engine.snapshot(i)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "\n## meter {} ({}, address {})",
            m.name, m.profile.name, m.address
        );
        out.push_str(&register_dump(map, &snap));
    }
    out.push_str("\n## events\n");
    out.push_str(&log_text(engine));
    out
}

/// Write the `--report` directory: `readings.csv`, `events.csv`,
/// `registers.txt`, `plot.svg`.
pub fn write_report(engine: &Engine, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let sc = engine.scenario();
    let names: Vec<&str> = sc.meters.iter().map(|m| m.name.as_str()).collect();
    let mut csv = String::from(
        "time,utc_offset,meter,powered,relay_closed,voltage_v,current_a,active_w,reactive_var,power_factor,frequency_hz,total_active_kwh,import_active_kwh,export_active_kwh,import_reactive_kvarh,export_reactive_kvarh,sharp_kwh,peak_kwh,flat_kwh,valley_kwh,residual_kwh\n",
    );
    for s in engine.samples() {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.3},{:.4},{:.3},{:.3},{:.4},{:.3},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}",
            s.at.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3f"),
            sc.time_zone,
            names.get(s.meter).copied().unwrap_or("?"),
            u8::from(s.powered),
            u8::from(s.relay_closed),
            s.voltage_v,
            s.current_a,
            s.active_w,
            s.reactive_var,
            s.power_factor,
            s.frequency_hz,
            s.total_kwh,
            s.import_kwh,
            s.export_kwh,
            s.import_kvarh,
            s.export_kvarh,
            s.rate_kwh[0],
            s.rate_kwh[1],
            s.rate_kwh[2],
            s.rate_kwh[3],
            s.residual_kwh,
        );
    }
    std::fs::write(dir.join("readings.csv"), csv)?;
    let mut ev = String::from("time,meter,event,detail\n");
    for e in engine.log() {
        let _ = writeln!(
            ev,
            "{},{},{},\"{}\"",
            e.at.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3f"),
            names.get(e.meter).copied().unwrap_or("?"),
            e.name,
            e.detail.replace('"', "\"\"")
        );
    }
    std::fs::write(dir.join("events.csv"), ev)?;
    std::fs::write(dir.join("registers.txt"), golden_text(engine))?;
    std::fs::write(dir.join("plot.svg"), svg_plot(engine))?;
    Ok(())
}

/// One line of a plot: legend, colour, points (time [ms], value).
type Line<'a> = (&'a str, &'a str, &'a [(f64, f64)]);

const W: f64 = 900.0;
const PANEL_H: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const RATE_COLOURS: [&str; 4] = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"];

/// Two panels per meter: active power [W] over time, and cumulative active
/// energy [kWh] of each tariff rate.
pub fn svg_plot(engine: &Engine) -> String {
    let sc = engine.scenario();
    let n = sc.meters.len().max(1);
    let height = n as f64 * (2.0 * PANEL_H + 60.0) + 20.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let t0 = sc.start.0 as f64;
    let t1 = (sc.end.0 as f64).max(t0 + 1.0);
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    for (mi, m) in sc.meters.iter().enumerate() {
        let samples: Vec<&Sample> = engine.samples().iter().filter(|s| s.meter == mi).collect();
        let top = 20.0 + mi as f64 * (2.0 * PANEL_H + 60.0);
        let p_series: Vec<(f64, f64)> = samples
            .iter()
            .map(|s| (s.at.0 as f64, s.active_w))
            .collect();
        panel(
            &mut s,
            top,
            &format!("{} — active power [W]", m.name),
            &[("P", "#333333", p_series.as_slice())],
            &x,
            sc,
        );
        let rates: Vec<Vec<(f64, f64)>> = (0..4)
            .map(|r| {
                samples
                    .iter()
                    .map(|s| (s.at.0 as f64, s.rate_kwh[r]))
                    .collect()
            })
            .collect();
        let names = ["sharp (1)", "peak (2)", "flat (3)", "valley (4)"];
        let series: Vec<Line> = (0..4)
            .map(|r| (names[r], RATE_COLOURS[r], rates[r].as_slice()))
            .collect();
        panel(
            &mut s,
            top + PANEL_H + 30.0,
            &format!("{} — active energy by tariff rate [kWh]", m.name),
            &series,
            &x,
            sc,
        );
    }
    s.push_str("</svg>\n");
    s
}

fn panel(
    s: &mut String,
    top: f64,
    title: &str,
    series: &[Line],
    x: &dyn Fn(f64) -> f64,
    sc: &super::Scenario,
) {
    let h = PANEL_H - 30.0;
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for (_, _, pts) in series {
        for &(_, v) in pts.iter() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let y = |v: f64| top + 20.0 + (hi - v) / (hi - lo) * h;
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>",
        top + 12.0,
        xml(title)
    );
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"none\" stroke=\"#999\"/>",
        top + 20.0,
        W - LEFT - RIGHT
    );
    for k in 0..=4 {
        let v = lo + (hi - lo) * f64::from(k) / 4.0;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 4.0,
            y(v) + 4.0,
            short(v)
        );
    }
    for k in 0..=4 {
        let t = sc.start.0 as f64 + (sc.end.0 - sc.start.0) as f64 * f64::from(k) / 4.0;
        let label = crate::time::SimTime(t as i64).to_datetime();
        let label = if (sc.end - sc.start).as_millis() > 86_400_000 * 2 {
            format!("{}-{:02}-{:02}", label.year(), label.month(), label.day())
        } else {
            label.format("%m-%d %H:%M").to_string()
        };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            x(t),
            top + 20.0 + h + 14.0
        );
    }
    for (i, (name, colour, pts)) in series.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (k, &(t, v)) in pts.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if k == 0 { "M" } else { " L" },
                x(t),
                y(v)
            );
        }
        let _ = writeln!(
            s,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.2\"/>"
        );
        let lx = LEFT + 10.0 + i as f64 * 110.0;
        let _ = writeln!(
            s,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"3\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            top + 28.0,
            lx + 14.0,
            top + 33.0,
            xml(name)
        );
    }
}

fn short(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
