//! The profile file format, as written in TOML, and its validation.
//! Every table denies unknown fields; semantic errors point at the value.

use serde::Deserialize;
use toml::Spanned;

use super::map::{Block, Coil, Field, RegisterMap, WordOrder};
use super::quantity::{Access, FieldType, Quantity};
use super::{Accuracy, Profile, ProfileError, Ratings, SerialDefaults};
use crate::meter::energy::{Combination, HistoryMode};
use crate::meter::settings::{Parity, Settings, BAUD_RATES};
use crate::meter::tariff::{DayTable, Rate, Slot, MAX_DAY_TABLES, MAX_SLOTS};
use crate::meter::MeterConfig;
use crate::physics::{AccuracyClass, FrontendConfig};
use crate::time::SimDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub model: RawModel,
    pub ratings: RawRatings,
    pub accuracy: RawAccuracy,
    pub serial: RawSerial,
    pub modbus: RawModbus,
    pub metering: RawMetering,
    pub tariff: RawTariff,
    pub defaults: RawDefaults,
    #[serde(default)]
    pub blocks: Vec<RawBlock>,
    #[serde(default)]
    pub registers: Vec<RawRegister>,
    #[serde(default)]
    pub coils: Vec<RawCoil>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: String,
    pub manufacturer: String,
    pub description: String,
    pub firmware: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRatings {
    pub rated_voltage_v: Spanned<f64>,
    pub basic_current_a: Spanned<f64>,
    pub max_current_a: Spanned<f64>,
    pub starting_current_a: Spanned<f64>,
    pub no_load_power_w: Spanned<f64>,
    pub frequency_hz: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccuracy {
    pub voltage_pct: Spanned<f64>,
    pub current_pct: Spanned<f64>,
    pub active_power_pct: Spanned<f64>,
    pub reactive_power_pct: Spanned<f64>,
    pub power_factor_pct: Spanned<f64>,
    pub frequency_hz: Spanned<f64>,
    pub active_energy_class: String,
    pub reactive_energy_class: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSerial {
    pub baud: Spanned<u32>,
    pub parity: Spanned<String>,
    pub stop_bits_no_parity: Spanned<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModbus {
    pub float_word_order: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetering {
    pub combination_active: Spanned<String>,
    pub combination_reactive: Spanned<String>,
    pub history: Spanned<String>,
    pub pulses_per_kwh: Spanned<u32>,
    pub demand_window_min: Spanned<u32>,
    pub demand_period_min: Spanned<u32>,
    /// Readings refresh period [s] (default 1, like the display).
    #[serde(default)]
    pub refresh_s: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTariff {
    pub day_tables: Spanned<usize>,
    pub time_zones: bool,
    pub default_day_table: Spanned<Vec<RawSlot>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlot {
    pub start: Spanned<String>,
    pub rate: Spanned<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub password: Spanned<u16>,
    pub address: Spanned<u16>,
    pub overdraft_limit_kwh: Spanned<f64>,
    pub load_threshold_kw: Spanned<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlock {
    pub name: String,
    pub start: Spanned<u16>,
    /// Last register of the block, inclusive.
    pub end: Spanned<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegister {
    pub address: Spanned<u16>,
    pub name: String,
    pub value: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub access: Spanned<String>,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub count: Option<Spanned<u16>>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoil {
    pub address: Spanned<u16>,
    pub name: String,
    pub value: Spanned<String>,
    pub access: Spanned<String>,
    #[serde(default)]
    pub description: String,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, msg: impl Into<String>) -> ProfileError {
        ProfileError::at(self.file, self.text, at.span().start, msg)
    }

    fn positive(&self, v: &Spanned<f64>, field: &str) -> Result<f64, ProfileError> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(self.err(v, format!("{field} must be a positive number, got {x}")))
        }
    }

    fn one_of<T: Copy>(
        &self,
        v: &Spanned<String>,
        field: &str,
        choices: &[(&str, T)],
    ) -> Result<T, ProfileError> {
        choices
            .iter()
            .find(|(k, _)| *k == v.get_ref())
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<_> = choices.iter().map(|(k, _)| format!("\"{k}\"")).collect();
                self.err(
                    v,
                    format!(
                        "{field} = \"{}\" is not one of {}",
                        v.get_ref(),
                        names.join(", ")
                    ),
                )
            })
    }
}

pub(super) fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
    let raw: RawProfile = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let message = e.message().trim();
        // toml's syntax and type errors ("invalid hexadecimal number") do
        // not say which field they are about: name it.
        let message = match key_at(text, at) {
            Some(key) if !message.contains(key) => format!("{key}: {message}"),
            _ => message.to_string(),
        };
        ProfileError::at(file, text, at, message)
    })?;
    let cx = Ctx { file, text };
    let r = &raw.ratings;
    let ratings = Ratings {
        rated_voltage_v: cx.positive(&r.rated_voltage_v, "rated_voltage_v")?,
        basic_current_a: cx.positive(&r.basic_current_a, "basic_current_a")?,
        max_current_a: cx.positive(&r.max_current_a, "max_current_a")?,
        starting_current_a: cx.positive(&r.starting_current_a, "starting_current_a")?,
        no_load_power_w: cx.positive(&r.no_load_power_w, "no_load_power_w")?,
        frequency_hz: cx.positive(&r.frequency_hz, "frequency_hz")?,
    };
    if ratings.max_current_a < ratings.basic_current_a {
        return Err(cx.err(
            &r.max_current_a,
            "max_current_a must be at least basic_current_a",
        ));
    }
    let a = &raw.accuracy;
    let accuracy = Accuracy {
        limits: AccuracyClass {
            voltage_pct: cx.positive(&a.voltage_pct, "voltage_pct")?,
            current_pct: cx.positive(&a.current_pct, "current_pct")?,
            active_power_pct: cx.positive(&a.active_power_pct, "active_power_pct")?,
            reactive_power_pct: cx.positive(&a.reactive_power_pct, "reactive_power_pct")?,
            power_factor_pct: cx.positive(&a.power_factor_pct, "power_factor_pct")?,
            frequency_hz: cx.positive(&a.frequency_hz, "frequency_hz")?,
        },
        active_energy_class: a.active_energy_class.clone(),
        reactive_energy_class: a.reactive_energy_class.clone(),
    };
    let parities = [
        ("none", Parity::None),
        ("even", Parity::Even),
        ("odd", Parity::Odd),
    ];
    let s = &raw.serial;
    if !BAUD_RATES.contains(s.baud.get_ref()) {
        return Err(cx.err(
            &s.baud,
            format!(
                "baud = {} is not one of 1200, 2400, 4800, 9600",
                s.baud.get_ref()
            ),
        ));
    }
    if !matches!(s.stop_bits_no_parity.get_ref(), 1 | 2) {
        return Err(cx.err(&s.stop_bits_no_parity, "stop_bits_no_parity must be 1 or 2"));
    }
    let serial = SerialDefaults {
        baud: *s.baud.get_ref(),
        parity: cx.one_of(&s.parity, "parity", &parities)?,
        stop_bits_no_parity: *s.stop_bits_no_parity.get_ref(),
    };
    let word_order = cx.one_of(
        &raw.modbus.float_word_order,
        "float_word_order",
        &[
            ("high_first", WordOrder::HighFirst),
            ("low_first", WordOrder::LowFirst),
        ],
    )?;
    let m = &raw.metering;
    let combos = [
        ("import+export", Combination::ImportPlusExport),
        ("import-export", Combination::ImportMinusExport),
        ("import", Combination::ImportOnly),
    ];
    let history = [
        ("consumption", HistoryMode::Consumption),
        ("cumulative", HistoryMode::Cumulative),
    ];
    for (v, name) in [
        (&m.pulses_per_kwh, "pulses_per_kwh"),
        (&m.demand_period_min, "demand_period_min"),
    ] {
        if *v.get_ref() == 0 {
            return Err(cx.err(v, format!("{name} must be at least 1")));
        }
    }
    if !m
        .demand_window_min
        .get_ref()
        .is_multiple_of(*m.demand_period_min.get_ref())
        || *m.demand_window_min.get_ref() == 0
    {
        return Err(cx.err(
            &m.demand_window_min,
            "demand_window_min must be a positive multiple of demand_period_min",
        ));
    }
    let refresh = match &m.refresh_s {
        None => SimDuration::from_secs(1),
        Some(v) if (0.1..=60.0).contains(v.get_ref()) => {
            SimDuration::from_millis((v.get_ref() * 1000.0).round() as i64)
        }
        Some(v) => {
            return Err(cx.err(
                v,
                format!("refresh_s = {} must be 0.1–60 (seconds)", v.get_ref()),
            ))
        }
    };
    let t = &raw.tariff;
    if !(1..=MAX_DAY_TABLES).contains(t.day_tables.get_ref()) {
        return Err(cx.err(
            &t.day_tables,
            format!("day_tables must be 1–{MAX_DAY_TABLES}"),
        ));
    }
    let day_table = parse_day_table(&cx, &t.default_day_table)?;
    let d = &raw.defaults;
    if *d.password.get_ref() > 9999 {
        return Err(cx.err(&d.password, "password must be 0–9999"));
    }
    if !(1..=247).contains(d.address.get_ref()) {
        return Err(cx.err(&d.address, "address must be 1–247"));
    }
    for (v, name) in [
        (&d.overdraft_limit_kwh, "overdraft_limit_kwh"),
        (&d.load_threshold_kw, "load_threshold_kw"),
    ] {
        if !(0.0..=65535.0).contains(v.get_ref()) {
            return Err(cx.err(v, format!("{name} must be 0–65535")));
        }
    }
    let meter = MeterConfig {
        model: raw.model.name.clone(),
        firmware: raw.model.firmware.clone(),
        combination_active: cx.one_of(&m.combination_active, "combination_active", &combos)?,
        combination_reactive: cx.one_of(
            &m.combination_reactive,
            "combination_reactive",
            &combos,
        )?,
        history_mode: cx.one_of(&m.history, "history", &history)?,
        pulses_per_kwh: *m.pulses_per_kwh.get_ref(),
        day_tables: *t.day_tables.get_ref(),
        time_zones: t.time_zones,
        default_day_table: day_table,
        default_settings: Settings {
            password: *d.password.get_ref(),
            address: *d.address.get_ref() as u8,
            baud: serial.baud,
            parity: serial.parity,
            ..Settings::default()
        },
        default_overdraft_kwh: *d.overdraft_limit_kwh.get_ref(),
        default_load_threshold_kw: *d.load_threshold_kw.get_ref(),
        demand_window_min: *m.demand_window_min.get_ref(),
        demand_period_min: *m.demand_period_min.get_ref(),
        refresh,
        frontend: FrontendConfig {
            rated_voltage_v: ratings.rated_voltage_v,
            max_current_a: ratings.max_current_a,
            starting_current_a: ratings.starting_current_a,
            no_load_power_w: ratings.no_load_power_w,
            accuracy: accuracy.limits,
            ..Default::default()
        },
    };
    let map = build_map(&cx, &raw, word_order, meter.day_tables, meter.time_zones)?;
    Ok(Profile {
        source: file.to_string(),
        name: raw.model.name,
        manufacturer: raw.model.manufacturer,
        description: raw.model.description,
        meter,
        map,
        serial,
        ratings,
        accuracy,
    })
}

/// The key whose value holds byte `at` of `text`, when the `key =` is on
/// the same line before it: `address` for an error inside `address = 0x00G2`.
fn key_at(text: &str, at: usize) -> Option<&str> {
    let before = text.get(..at)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let key = line[..line.rfind('=')?].trim_end();
    // Past the last character that cannot be in a bare key (which may be
    // several bytes long: `+1` would land inside it).
    let start = key
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    key.get(start..).filter(|k| !k.is_empty())
}

#[cfg(test)]
pub(super) fn key_at_for_tests(text: &str, at: usize) -> Option<&str> {
    key_at(text, at)
}

fn parse_day_table(cx: &Ctx, raw: &Spanned<Vec<RawSlot>>) -> Result<DayTable, ProfileError> {
    if raw.get_ref().len() > MAX_SLOTS {
        return Err(cx.err(raw, format!("a day table has at most {MAX_SLOTS} slots")));
    }
    let mut slots = Vec::new();
    for s in raw.get_ref() {
        let (h, m) = s
            .start
            .get_ref()
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u8>().ok()?, m.parse::<u8>().ok()?)))
            .filter(|&(h, m)| h < 24 && m < 60)
            .ok_or_else(|| {
                cx.err(
                    &s.start,
                    format!(
                        "start = \"{}\" is not a time hh:mm (00:00–23:59)",
                        s.start.get_ref()
                    ),
                )
            })?;
        let rate = Rate::from_number(*s.rate.get_ref())
            .ok_or_else(|| cx.err(&s.rate, format!("rate = {} is not 1–4", s.rate.get_ref())))?;
        slots.push(Slot {
            hour: h,
            minute: m,
            rate,
        });
    }
    DayTable::new(slots).map_err(|e| cx.err(raw, e.to_string()))
}

fn build_map(
    cx: &Ctx,
    raw: &RawProfile,
    word_order: WordOrder,
    day_tables: usize,
    time_zones: bool,
) -> Result<RegisterMap, ProfileError> {
    let mut blocks: Vec<Block> = Vec::new();
    for b in &raw.blocks {
        let (start, end) = (*b.start.get_ref(), *b.end.get_ref());
        if end < start {
            return Err(cx.err(
                &b.end,
                format!("block \"{}\" ends before it starts", b.name),
            ));
        }
        if let Some(o) = blocks.iter().find(|o| start <= o.end && o.start <= end) {
            return Err(cx.err(
                &b.start,
                format!("block \"{}\" overlaps block \"{}\"", b.name, o.name),
            ));
        }
        blocks.push(Block {
            name: b.name.clone(),
            start,
            end,
        });
    }
    let mut fields: Vec<Field> = Vec::new();
    for r in &raw.registers {
        let key = r.value.get_ref();
        let quantity = Quantity::parse(key)
            .ok_or_else(|| cx.err(&r.value, format!("value = \"{key}\" is not a quantity the twin knows (see `metertwin registers --help`)")))?;
        let kind = FieldType::parse(r.kind.get_ref()).ok_or_else(|| {
            cx.err(&r.kind, format!("type = \"{}\" is not one of \"u16\", \"u32\", \"f32\", \"datetime\", \"day_table\", \"time_zones\"", r.kind.get_ref()))
        })?;
        if kind != quantity.field_type() {
            return Err(cx.err(
                &r.kind,
                format!(
                    "\"{key}\" is encoded as type \"{}\"",
                    quantity.field_type().name()
                ),
            ));
        }
        let access = Access::parse(r.access.get_ref()).ok_or_else(|| {
            cx.err(
                &r.access,
                format!(
                    "access = \"{}\" is not \"r\", \"w\" or \"rw\"",
                    r.access.get_ref()
                ),
            )
        })?;
        if !quantity.allowed_access().contains(&access) {
            let allowed: Vec<_> = quantity
                .allowed_access()
                .iter()
                .map(|a| a.name().to_lowercase())
                .collect();
            return Err(cx.err(
                &r.access,
                format!("\"{key}\" allows access {}", allowed.join(" or ")),
            ));
        }
        match quantity {
            Quantity::DayTable(n) if usize::from(n) >= day_tables => {
                return Err(cx.err(
                    &r.value,
                    format!("the profile has {day_tables} day table(s) ([tariff] day_tables)"),
                ));
            }
            Quantity::TimeZones if !time_zones => {
                return Err(cx.err(&r.value, "time zones need [tariff] time_zones = true"));
            }
            _ => {}
        }
        let count = match (&r.count, quantity.is_series()) {
            (None, false) => 1,
            (Some(c), true) if *c.get_ref() == 13 => 13,
            (Some(c), true) => {
                return Err(cx.err(
                    c,
                    "a history series has count = 13 (this month and 12 previous)",
                ))
            }
            (None, true) => return Err(cx.err(&r.value, "a history series needs count = 13")),
            (Some(c), false) => return Err(cx.err(c, "count is only for history series")),
        };
        for k in 0..count {
            let q = match quantity {
                Quantity::History(series, _) => Quantity::History(series, k as u8),
                q => q,
            };
            let address = u32::from(*r.address.get_ref()) + u32::from(k) * u32::from(kind.width());
            let last = address + u32::from(kind.width()) - 1;
            let (Ok(address), Ok(last)) = (u16::try_from(address), u16::try_from(last)) else {
                return Err(cx.err(&r.address, "register runs past FFFFH"));
            };
            let Some(block) = blocks.iter().find(|b| b.start <= address && last <= b.end) else {
                return Err(cx.err(
                    &r.address,
                    format!(
                        "address: register \"{}\" at {address:04X}H–{last:04X}H is not inside one block",
                        r.name
                    ),
                ));
            };
            let _ = block;
            if let Some(o) = fields
                .iter()
                .find(|f| address <= f.last() && f.address <= last)
            {
                return Err(cx.err(
                    &r.address,
                    format!(
                        "address: register \"{}\" at {address:04X}H overlaps \"{}\" at {:04X}H",
                        r.name, o.name, o.address
                    ),
                ));
            }
            let name = if count > 1 {
                format!("{} [{}]", r.name, month_label(k))
            } else {
                r.name.clone()
            };
            fields.push(Field {
                address,
                kind,
                quantity: q,
                access,
                name,
                unit: r.unit.clone(),
                description: r.description.clone(),
            });
        }
    }
    let mut coils = Vec::new();
    for c in &raw.coils {
        if c.value.get_ref() != "relay" {
            return Err(cx.err(
                &c.value,
                format!("coil value = \"{}\" is not \"relay\"", c.value.get_ref()),
            ));
        }
        let access = Access::parse(c.access.get_ref())
            .ok_or_else(|| cx.err(&c.access, "access must be \"r\", \"w\" or \"rw\""))?;
        if coils
            .iter()
            .any(|o: &Coil| o.address == *c.address.get_ref())
        {
            return Err(cx.err(&c.address, "two coils at the same address"));
        }
        coils.push(Coil {
            address: *c.address.get_ref(),
            name: c.name.clone(),
            access,
            description: c.description.clone(),
        });
    }
    Ok(RegisterMap::new(blocks, fields, coils, word_order))
}

fn month_label(k: u16) -> String {
    if k == 0 {
        "this month".into()
    } else {
        format!("previous {k}")
    }
}
