//! The register table for people, generated from the same profile the twin
//! serves, so the docs cannot drift from the behaviour.

use super::quantity::FieldType;
use super::{Field, Profile};

/// One row per register or series: address range, name, type, access, unit.
fn rows(p: &Profile) -> Vec<[String; 6]> {
    let mut out = Vec::new();
    let fields = p.map.fields();
    let mut i = 0;
    while i < fields.len() {
        let f = &fields[i];
        // A history series prints as one row covering its 13 values.
        let series_len = if matches!(f.quantity, super::quantity::Quantity::History(_, 0)) {
            13
        } else {
            1
        };
        let last: &Field = &fields[(i + series_len - 1).min(fields.len() - 1)];
        let name = if series_len > 1 {
            format!(
                "{}: this month, previous 1…12",
                f.name.trim_end_matches(" [this month]")
            )
        } else {
            f.name.clone()
        };
        let kind = match (f.kind, series_len) {
            (FieldType::F32, 13) => "float ×13".to_string(),
            (FieldType::F32, _) => "float".to_string(),
            (k, _) => k.name().to_string(),
        };
        let addr = if series_len == 1 && f.kind.width() <= 2 {
            format!("{:04X}H", f.address)
        } else {
            format!("{:04X}H–{:04X}H", f.address, last.last())
        };
        out.push([
            addr,
            name,
            kind,
            f.access.name().to_string(),
            f.unit.clone(),
            f.description.clone(),
        ]);
        i += series_len;
    }
    for c in p.map.coils() {
        out.push([
            format!("coil {:04X}H", c.address),
            c.name.clone(),
            "bit".into(),
            c.access.name().into(),
            String::new(),
            c.description.clone(),
        ]);
    }
    out
}

/// A Markdown table of the register map.
pub fn markdown(p: &Profile) -> String {
    let mut s = format!(
        "Register map of profile `{}` ({}). Reads must lie inside one block:",
        p.name, p.description
    );
    for b in p.map.blocks() {
        s += &format!(" {} {:04X}H–{:04X}H;", b.name, b.start, b.end);
    }
    s.pop();
    s += ". Reserved words inside a block read 0.\n\n";
    s += "| address | name | type | access | unit | notes |\n|---|---|---|---|---|---|\n";
    for r in rows(p) {
        s += &format!("| {} |\n", r.join(" | "));
    }
    s
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// The register map as CSV.
pub fn csv(p: &Profile) -> String {
    let mut s = String::from("address,name,type,access,unit,notes\n");
    for r in rows(p) {
        s += &r.iter().map(|v| csv_field(v)).collect::<Vec<_>>().join(",");
        s.push('\n');
    }
    s
}
