//! The register image: a pure mapping between a meter [`Snapshot`] and
//! Modbus register words, driven entirely by the profile's [`RegisterMap`]
//! (SPEC §4 "Register map").
//!
//! * [`read_registers`]: any requested range → words, or why not (the range
//!   must lie inside one block; reserved words read 0; write-only registers
//!   read 0).
//! * [`write_registers`]: words → meter [`Command`]s, or why not (every word
//!   must belong to a writable register, multi-word values written whole).
//! * [`read_coils`] / [`write_coil`]: the relay coil.
//!
//! No Modbus here: the errors say what is wrong; `modbus/` turns them into
//! exception codes.

use chrono::{Datelike, NaiveDate, Timelike};

use crate::meter::settings::{baud_code, baud_from_code, Parity, RelayMode, WirelessMode};
use crate::meter::tariff::DayTable;
use crate::meter::{Command, Snapshot};
use crate::profile::quantity::{Access, EnergyQty, FieldType, Measure, Quantity, Series, Setting};
use crate::profile::{Field, RegisterMap, WordOrder};

/// The command word of "clear energy" and "clear residual energy".
pub const CLEAR_WORD: u16 = 0x55AA;
/// FC05 value that closes the relay.
pub const COIL_ON: u16 = 0xFF00;
/// FC05 value that opens the relay.
pub const COIL_OFF: u16 = 0x0000;

/// Why a request cannot be served from the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Unmapped, outside every block, crossing a block end, read-only, or
    /// splitting a multi-word value.
    #[error("illegal address {address:04X}H: {why}")]
    Address { address: u16, why: &'static str },
    /// A value that does not decode (bad command word, bad code, bad date).
    #[error("illegal value at {address:04X}H: {why}")]
    Value { address: u16, why: String },
}

fn addr_err(address: u16, why: &'static str) -> ImageError {
    ImageError::Address { address, why }
}

/// Read `count` registers from `start`.
pub fn read_registers(
    map: &RegisterMap,
    snap: &Snapshot,
    start: u16,
    count: u16,
) -> Result<Vec<u16>, ImageError> {
    let mut out = vec![0u16; usize::from(count)];
    read_into(map, snap, start, &mut out)?;
    Ok(out)
}

/// Read `out.len()` registers from `start` into `out`.
pub fn read_into(
    map: &RegisterMap,
    snap: &Snapshot,
    start: u16,
    out: &mut [u16],
) -> Result<(), ImageError> {
    let count = u16::try_from(out.len()).map_err(|_| addr_err(start, "too many registers"))?;
    map.block_for(start, count)
        .ok_or_else(|| addr_err(start, "range is not inside one block of the map"))?;
    out.fill(0);
    // Nothing to read (Modbus refuses quantity 0 before it gets here).
    let Some(last) = count.checked_sub(1).map(|n| start + n) else {
        return Ok(());
    };
    let mut buf = [0u16; 24];
    for f in map.fields_overlapping(start, last) {
        if !f.access.readable() {
            continue;
        }
        let words = encode(f, snap, map.word_order, &mut buf);
        for (i, w) in words.iter().enumerate() {
            let a = f.address + i as u16;
            if (start..=last).contains(&a) {
                out[usize::from(a - start)] = *w;
            }
        }
    }
    Ok(())
}

fn split32(v: u32, order: WordOrder) -> [u16; 2] {
    let (hi, lo) = ((v >> 16) as u16, v as u16);
    match order {
        WordOrder::HighFirst => [hi, lo],
        WordOrder::LowFirst => [lo, hi],
    }
}

fn join32(w: &[u16], order: WordOrder) -> u32 {
    let (a, b) = (u32::from(w[0]), u32::from(w[1]));
    match order {
        WordOrder::HighFirst => (a << 16) | b,
        WordOrder::LowFirst => (b << 16) | a,
    }
}

/// The field's words for `snap`, written into `buf`.
fn encode<'b>(f: &Field, snap: &Snapshot, order: WordOrder, buf: &'b mut [u16; 24]) -> &'b [u16] {
    let n = usize::from(f.kind.width());
    match f.kind {
        FieldType::U16 => buf[0] = u16_value(f.quantity, snap),
        FieldType::U32 => buf[..2].copy_from_slice(&split32(snap.pulses as u32, order)),
        FieldType::F32 => buf[..2].copy_from_slice(&split32(
            (f32_value(f.quantity, snap) as f32).to_bits(),
            order,
        )),
        FieldType::DateTime => {
            let c = snap.clock;
            let year = u16::try_from(c.year()).unwrap_or(0);
            buf[..6].copy_from_slice(&[
                year,
                c.month() as u16,
                c.day() as u16,
                c.hour() as u16,
                c.minute() as u16,
                c.second() as u16,
            ]);
        }
        FieldType::DayTable => {
            let i = match f.quantity {
                Quantity::DayTable(i) => usize::from(i),
                _ => 0,
            };
            buf.copy_from_slice(
                &snap
                    .tariff
                    .tables()
                    .get(i)
                    .map(DayTable::to_words)
                    .unwrap_or([0; 24]),
            );
        }
        FieldType::TimeZones => buf[..12].copy_from_slice(&snap.tariff.zones_to_words()),
    }
    &buf[..n]
}

fn u16_value(q: Quantity, s: &Snapshot) -> u16 {
    match q {
        Quantity::Setting(Setting::Password) => s.settings.password,
        Quantity::Setting(Setting::Address) => s.settings.address.into(),
        Quantity::Setting(Setting::BaudCode) => baud_code(s.settings.baud),
        Quantity::Setting(Setting::Parity) => s.settings.parity.code(),
        Quantity::Setting(Setting::RelayMode) => u16::from(s.relay_mode == RelayMode::Local),
        Quantity::Setting(Setting::Frequency) => s.settings.frequency_hz,
        Quantity::Setting(Setting::WirelessMode) => {
            u16::from(s.settings.wireless == WirelessMode::Debug)
        }
        Quantity::Status => s.status,
        Quantity::RelayReason => s.open_reason.map_or(0, |r| r.code()),
        _ => 0,
    }
}

fn f32_value(q: Quantity, s: &Snapshot) -> f64 {
    let r = &s.readings;
    match q {
        Quantity::Measure(m) => match m {
            Measure::Voltage => r.voltage_v,
            Measure::Current => r.current_a,
            Measure::ActivePower => r.active_w,
            Measure::ReactivePower => r.reactive_var,
            Measure::ApparentPower => r.apparent_va,
            Measure::PowerFactor => r.power_factor,
            Measure::Frequency => r.frequency_hz,
            Measure::ApparentDemand => s.demand_va,
        },
        Quantity::Energy(e) => match e {
            EnergyQty::TotalActive => s.total_active_kwh(),
            EnergyQty::ImportActive => s.import_active_kwh(),
            EnergyQty::ExportActive => s.export_active_kwh(),
            EnergyQty::TotalReactive => s.total_reactive_kvarh(),
            EnergyQty::ImportReactive => s.import_reactive_kvarh(),
            EnergyQty::ExportReactive => s.export_reactive_kvarh(),
            EnergyQty::RateActive(rate) => s.rate_active_kwh(rate),
            EnergyQty::RateReactive(rate) => s.rate_reactive_kvarh(rate),
        },
        Quantity::History(series, k) => {
            let Some(b) = s.months.get(usize::from(k)) else {
                return 0.0;
            };
            let wh = match series {
                Series::CombinedActive => b.active_total(s.combination_active),
                Series::CombinedReactive => b.reactive_total(s.combination_reactive),
                Series::RateActive(rate) => b.active_rate(rate, s.combination_active),
                Series::RateReactive(rate) => b.reactive_rate(rate, s.combination_reactive),
            };
            wh / 1000.0
        }
        Quantity::LoadThreshold => s.load_threshold_kw,
        Quantity::OverdraftLimit => s.overdraft_limit_kwh,
        Quantity::Residual => s.residual_kwh,
        _ => 0.0,
    }
}

/// Decode a write of `words` at `start` into commands, in address order.
/// Nothing is carried out here; the caller validates and applies them.
pub fn write_registers(
    map: &RegisterMap,
    snap: &Snapshot,
    start: u16,
    words: &[u16],
) -> Result<Vec<Command>, ImageError> {
    let count = u16::try_from(words.len()).map_err(|_| addr_err(start, "too many registers"))?;
    if count == 0 || u32::from(start) + u32::from(count) > 0x1_0000 {
        return Err(addr_err(start, "range runs past the end of the map"));
    }
    let last = start + (count - 1);
    let fields = map.fields_overlapping(start, last);
    // Every written word must belong to a writable field, written whole.
    let mut covered = u32::from(start);
    let mut commands = Vec::with_capacity(fields.len());
    for f in fields {
        if u32::from(f.address) != covered {
            return Err(addr_err(covered as u16, "no writable register here"));
        }
        if !f.access.writable() {
            return Err(addr_err(f.address, "register is read-only"));
        }
        if f.last() > last {
            return Err(addr_err(
                f.address,
                "a multi-register value must be written whole",
            ));
        }
        let w = &words[usize::from(f.address - start)..=usize::from(f.last() - start)];
        commands.push(decode(f, w, snap, map.word_order)?);
        covered = u32::from(f.last()) + 1;
    }
    if covered != u32::from(last) + 1 {
        return Err(addr_err(covered as u16, "no writable register here"));
    }
    Ok(commands)
}

fn decode(f: &Field, w: &[u16], snap: &Snapshot, order: WordOrder) -> Result<Command, ImageError> {
    let bad = |why: String| ImageError::Value {
        address: f.address,
        why,
    };
    let v = w[0];
    let code = |what: &str| bad(format!("{v} is not a valid {what} code"));
    Ok(match f.quantity {
        Quantity::Setting(Setting::Password) => Command::SetPassword(v),
        Quantity::Setting(Setting::Address) => Command::SetAddress(v),
        Quantity::Setting(Setting::BaudCode) => {
            Command::SetBaud(baud_from_code(v).ok_or_else(|| code("baud (1–4)"))?)
        }
        Quantity::Setting(Setting::Parity) => {
            Command::SetParity(Parity::from_code(v).ok_or_else(|| code("parity (0–2)"))?)
        }
        Quantity::Setting(Setting::RelayMode) => Command::SetRelayMode(match v {
            0 => RelayMode::Remote,
            1 => RelayMode::Local,
            _ => return Err(code("relay mode (0–1)")),
        }),
        Quantity::Setting(Setting::Frequency) => Command::SetFrequency(v),
        Quantity::Setting(Setting::WirelessMode) => Command::SetWireless(match v {
            0 => WirelessMode::Mqtt,
            1 => WirelessMode::Debug,
            _ => return Err(code("wireless mode (0–1)")),
        }),
        Quantity::ClearEnergy | Quantity::ClearResidual if v != CLEAR_WORD => {
            return Err(bad(format!("{v:04X}H is not the command word 55AAH")))
        }
        Quantity::ClearEnergy => Command::ClearEnergy,
        Quantity::ClearResidual => Command::ClearResidual,
        Quantity::TopUp | Quantity::LoadThreshold | Quantity::OverdraftLimit => {
            let x = f64::from(f32::from_bits(join32(w, order)));
            match f.quantity {
                Quantity::TopUp => Command::TopUp(x),
                Quantity::LoadThreshold => Command::SetLoadThreshold(x),
                _ => Command::SetOverdraftLimit(x),
            }
        }
        Quantity::Clock => {
            let dt = NaiveDate::from_ymd_opt(i32::from(w[0]), u32::from(w[1]), u32::from(w[2]))
                .and_then(|d| d.and_hms_opt(u32::from(w[3]), u32::from(w[4]), u32::from(w[5])))
                .ok_or_else(|| bad(format!("{:?} is not a date and time", &w[..6])))?;
            Command::SetClock(dt)
        }
        Quantity::DayTable(i) => Command::SetDayTable(
            usize::from(i),
            DayTable::from_words(w).map_err(|e| bad(e.to_string()))?,
        ),
        Quantity::TimeZones => Command::SetTimeZones(
            snap.tariff
                .zones_from_words(w)
                .map_err(|e| bad(e.to_string()))?,
        ),
        _ => return Err(addr_err(f.address, "register is read-only")),
    })
}

/// Read `count` coils from `start`: every one must be mapped and readable.
pub fn read_coils(
    map: &RegisterMap,
    snap: &Snapshot,
    start: u16,
    count: u16,
) -> Result<Vec<bool>, ImageError> {
    (0..count)
        .map(|i| {
            let a = start
                .checked_add(i)
                .ok_or_else(|| addr_err(start, "range runs past FFFFH"))?;
            match map.coil(a) {
                Some(c) if c.access.readable() => Ok(snap.relay_closed),
                _ => Err(addr_err(a, "no coil here")),
            }
        })
        .collect()
}

/// Decode a single-coil write: FF00H closes, 0000H opens.
pub fn write_coil(map: &RegisterMap, address: u16, value: u16) -> Result<Command, ImageError> {
    match map.coil(address) {
        Some(c) if c.access != Access::Read => {}
        Some(_) => return Err(addr_err(address, "coil is read-only")),
        None => return Err(addr_err(address, "no coil here")),
    }
    match value {
        COIL_ON => Ok(Command::Relay(true)),
        COIL_OFF => Ok(Command::Relay(false)),
        v => Err(ImageError::Value {
            address,
            why: format!("{v:04X}H is neither FF00H nor 0000H"),
        }),
    }
}

#[cfg(test)]
mod tests;
