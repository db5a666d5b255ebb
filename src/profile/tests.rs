//! Profile tests: the built-in profiles load and map every SPEC §4 address
//! as specified; invalid profiles fail with file:line:column and the field.

use super::quantity::{Access, EnergyQty, FieldType, Measure, Quantity, Series, Setting};
use super::*;
use crate::meter::tariff::Rate;

fn kpm31() -> Profile {
    Profile::builtin("kpm31").unwrap()
}

fn field(p: &Profile, address: u16) -> &Field {
    p.map
        .fields()
        .iter()
        .find(|f| f.address == address)
        .unwrap_or_else(|| panic!("{}: nothing at {address:04X}H", p.name))
}

#[test]
fn both_builtin_profiles_load() {
    let a = kpm31();
    assert_eq!(a.name, "KPM31");
    assert_eq!(a.meter.pulses_per_kwh, 1600);
    assert_eq!(a.meter.day_tables, 1);
    assert!(!a.meter.time_zones);
    let c = Profile::builtin("KPM31C").unwrap();
    assert_eq!(c.name, "KPM31C");
    assert_eq!(c.meter.day_tables, 4);
    assert!(c.meter.time_zones);
    assert_eq!(c.ratings.basic_current_a, 1.0);
    assert_eq!(c.accuracy.limits.reactive_power_pct, 2.0);
    assert!(Profile::builtin("kpm99").is_none());
    let err = Profile::resolve("kpm99").unwrap_err();
    assert!(err.message.contains("kpm31"), "{err}");
}

#[test]
fn defaults_follow_the_manual() {
    let p = kpm31();
    let m = &p.meter;
    assert_eq!(m.default_settings.password, 6666);
    assert_eq!(m.default_settings.address, 1);
    assert_eq!(m.default_settings.baud, 9600);
    assert_eq!(m.default_overdraft_kwh, 5.0);
    assert_eq!(m.default_load_threshold_kw, 65535.0);
    assert_eq!((m.demand_window_min, m.demand_period_min), (15, 1));
    assert_eq!(
        m.default_day_table,
        crate::meter::tariff::DayTable::manual_example()
    );
    assert_eq!(p.map.word_order, WordOrder::HighFirst);
}

#[test]
fn blocks_are_as_in_the_spec() {
    for p in [kpm31(), Profile::builtin("kpm31c").unwrap()] {
        let blocks: Vec<_> = p.map.blocks().iter().map(|b| (b.start, b.end)).collect();
        assert_eq!(
            blocks,
            vec![
                (0x0000, 0x000C),
                (0x0030, 0x003D),
                (0x0070, 0x0071),
                (0x0080, 0x019F),
                (0x0400, 0x04FF),
            ]
        );
        let coils: Vec<_> = p
            .map
            .coils()
            .iter()
            .map(|c| (c.address, c.access))
            .collect();
        assert_eq!(coils, vec![(0x0001, Access::ReadWrite)]);
    }
}

#[test]
fn every_spec_address_is_mapped() {
    use Access::{Read as R, ReadWrite as RW, Write as W};
    use FieldType::{DateTime, DayTable, F32, U16, U32};
    let e = Quantity::Energy;
    let cases: Vec<(u16, Quantity, FieldType, Access)> = vec![
        (0x0000, Quantity::Setting(Setting::Password), U16, RW),
        (0x0001, Quantity::Setting(Setting::Address), U16, RW),
        (0x0002, Quantity::Setting(Setting::BaudCode), U16, RW),
        (0x000C, Quantity::ClearEnergy, U16, W),
        (0x0030, Quantity::Measure(Measure::Voltage), F32, R),
        (0x0032, Quantity::Measure(Measure::Current), F32, R),
        (0x0034, Quantity::Measure(Measure::ActivePower), F32, R),
        (0x0036, Quantity::Measure(Measure::ReactivePower), F32, R),
        (0x0038, Quantity::Measure(Measure::ApparentPower), F32, R),
        (0x003A, Quantity::Measure(Measure::PowerFactor), F32, R),
        (0x003C, Quantity::Measure(Measure::Frequency), F32, R),
        (0x0070, Quantity::Measure(Measure::ApparentDemand), F32, R),
        (0x0080, e(EnergyQty::TotalActive), F32, R),
        (0x0082, e(EnergyQty::ImportActive), F32, R),
        (0x0084, e(EnergyQty::ExportActive), F32, R),
        (0x0086, e(EnergyQty::TotalReactive), F32, R),
        (0x0088, e(EnergyQty::ImportReactive), F32, R),
        (0x008A, e(EnergyQty::ExportReactive), F32, R),
        (0x008C, e(EnergyQty::RateActive(Rate::Sharp)), F32, R),
        (0x008E, e(EnergyQty::RateActive(Rate::Peak)), F32, R),
        (0x0090, e(EnergyQty::RateActive(Rate::Flat)), F32, R),
        (0x0092, e(EnergyQty::RateActive(Rate::Valley)), F32, R),
        (0x0094, e(EnergyQty::RateReactive(Rate::Sharp)), F32, R),
        (0x0096, e(EnergyQty::RateReactive(Rate::Peak)), F32, R),
        (0x0098, e(EnergyQty::RateReactive(Rate::Flat)), F32, R),
        (0x009A, e(EnergyQty::RateReactive(Rate::Valley)), F32, R),
        (0x0400, Quantity::Setting(Setting::Parity), U16, RW),
        (0x0401, Quantity::Setting(Setting::RelayMode), U16, RW),
        (0x0402, Quantity::Setting(Setting::Frequency), U16, RW),
        (0x0403, Quantity::Setting(Setting::WirelessMode), U16, RW),
        (0x0404, Quantity::LoadThreshold, F32, RW),
        (0x0406, Quantity::OverdraftLimit, F32, RW),
        (0x0408, Quantity::Residual, F32, R),
        (0x040A, Quantity::TopUp, F32, W),
        (0x040C, Quantity::ClearResidual, U16, W),
        (0x040D, Quantity::Status, U16, R),
        (0x040E, Quantity::PulseCount, U32, R),
        (0x0410, Quantity::Clock, DateTime, RW),
        (0x0420, Quantity::DayTable(0), DayTable, RW),
    ];
    for p in [kpm31(), Profile::builtin("kpm31c").unwrap()] {
        for (address, quantity, kind, access) in &cases {
            let f = field(&p, *address);
            assert_eq!(
                (f.quantity, f.kind, f.access),
                (*quantity, *kind, *access),
                "{} {address:04X}H",
                p.name
            );
        }
        // 0003H–000BH reserved; nothing else in the system block.
        assert!(p.map.fields_overlapping(0x0003, 0x000B).is_empty());
    }
    let c = Profile::builtin("kpm31c").unwrap();
    assert_eq!(field(&c, 0x0440).quantity, Quantity::TimeZones);
    assert_eq!(field(&c, 0x0440).kind, FieldType::TimeZones);
    assert!(kpm31().map.field_of(Quantity::TimeZones).is_none());
}

#[test]
fn history_is_13_floats_per_series() {
    let series = [
        (0x009C, Series::CombinedActive),
        (0x00B6, Series::CombinedReactive),
        (0x00D0, Series::RateActive(Rate::Sharp)),
        (0x00EA, Series::RateReactive(Rate::Sharp)),
        (0x0104, Series::RateActive(Rate::Peak)),
        (0x011E, Series::RateReactive(Rate::Peak)),
        (0x0138, Series::RateActive(Rate::Flat)),
        (0x0152, Series::RateReactive(Rate::Flat)),
        (0x016C, Series::RateActive(Rate::Valley)),
        (0x0186, Series::RateReactive(Rate::Valley)),
    ];
    let p = kpm31();
    for (start, s) in series {
        for k in 0..13u16 {
            let f = field(&p, start + 2 * k);
            assert_eq!(
                f.quantity,
                Quantity::History(s, k as u8),
                "{:04X}H",
                start + 2 * k
            );
            assert_eq!((f.kind, f.access), (FieldType::F32, Access::Read));
        }
    }
    // The energy block is full: 009CH–019FH is 10 × 26 registers, no gaps.
    let history: Vec<_> = p.map.fields_overlapping(0x009C, 0x019F).to_vec();
    assert_eq!(history.len(), 130);
    assert_eq!(history.last().map(Field::last), Some(0x019F));
}

/// Replace the first `from` in the KPM31 profile by `to`, parse, and return
/// the error and the 1-based line and column where `to` was put.
fn broken(from: &str, to: &str, point_at: &str) -> (ProfileError, usize, usize) {
    let (_, file, text) = BUILTIN[0];
    let at = text
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} is not in the profile"));
    let text = format!("{}{}{}", &text[..at], to, &text[at + from.len()..]);
    let offset = at + to.find(point_at).expect("point_at inside `to`");
    // The expected position, counted here independently of the code.
    let line = text[..offset].lines().count() + usize::from(text[..offset].ends_with('\n'));
    let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    let err = Profile::parse(file, &text).expect_err("the broken profile loaded");
    assert_eq!(err.file, "profiles/kpm31.toml");
    (err, line, column)
}

#[track_caller]
fn assert_error(from: &str, to: &str, point_at: &str, mentions: &[&str]) {
    let (err, line, column) = broken(from, to, point_at);
    assert_eq!(
        (err.line, err.column),
        (line, column),
        "position of {err} (expected {line}:{column})"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("profiles/kpm31.toml:{line}:{column}: ")),
        "{text}"
    );
    for m in mentions {
        assert!(text.contains(m), "{text:?} should mention {m:?}");
    }
}

#[test]
fn an_unknown_field_is_named() {
    assert_error(
        "firmware = \"V2.1-20220310\"",
        "firmware = \"V2.1-20220310\"\ncolour = \"grey\"",
        "colour",
        &["colour"],
    );
}

#[test]
fn a_refresh_period_out_of_range_names_the_range() {
    assert_error(
        "refresh_s = 1.0 ",
        "refresh_s = 120.0 ",
        "120.0",
        &["refresh_s", "0.1–60"],
    );
}

#[test]
fn a_bad_hex_number_is_located() {
    assert_error(
        "address = 0x0032\n",
        "address = 0x00G2\n",
        "G2", // toml points at the bad digit
        &["address"],
    );
}

#[test]
fn overlapping_registers_are_refused() {
    // I moved onto the low word of U.
    assert_error(
        "address = 0x0032\n",
        "address = 0x0031\n",
        "0x0031",
        &["address", "\"I\"", "\"U\"", "overlaps"],
    );
}

#[test]
fn a_register_outside_every_block_is_refused() {
    // The demand block is 0070H–0071H: a float at 0071H runs out of it.
    assert_error(
        "address = 0x0070\n",
        "address = 0x0071\n",
        "0x0071",
        &["address", "Apparent demand", "block"],
    );
}

#[test]
fn a_wrong_type_for_a_quantity_is_refused() {
    assert_error(
        "value = \"measure.voltage\"\ntype = \"f32\"",
        "value = \"measure.voltage\"\ntype = \"u16\"",
        "\"u16\"",
        &["type", "measure.voltage", "f32"],
    );
    assert_error(
        "value = \"measure.voltage\"\ntype = \"f32\"",
        "value = \"measure.voltage\"\ntype = \"float\"",
        "\"float\"",
        &["type", "float"],
    );
}

#[test]
fn a_bad_access_is_refused() {
    // Measurements are read-only.
    assert_error(
        "type = \"f32\"\naccess = \"r\"\nunit = \"V\"",
        "type = \"f32\"\naccess = \"rw\"\nunit = \"V\"",
        "\"rw\"",
        &["access", "measure.voltage"],
    );
    assert_error(
        "type = \"f32\"\naccess = \"r\"\nunit = \"V\"",
        "type = \"f32\"\naccess = \"read\"\nunit = \"V\"",
        "\"read\"",
        &["access", "read"],
    );
}

#[test]
fn other_bad_values_are_located() {
    assert_error(
        "value = \"measure.voltage\"",
        "value = \"measure.volts\"",
        "\"measure.volts\"",
        &["value", "measure.volts"],
    );
    assert_error("count = 13", "count = 12", "12", &["count", "13"]);
    assert_error(
        "float_word_order = \"high_first\"",
        "float_word_order = \"big\"",
        "\"big\"",
        &["float_word_order", "big"],
    );
    assert_error(
        "combination_active = \"import+export\"",
        "combination_active = \"sum\"",
        "\"sum\"",
        &["combination_active"],
    );
    assert_error(
        "password = 6666",
        "password = 10000",
        "10000",
        &["password"],
    );
    assert_error("address = 1\n", "address = 248\n", "248", &["address"]);
    assert_error(
        "{ start = \"10:00\", rate = 2 }",
        "{ start = \"10:60\", rate = 2 }",
        "\"10:60\"",
        &["start", "10:60"],
    );
    assert_error(
        "{ start = \"10:00\", rate = 2 }",
        "{ start = \"10:00\", rate = 5 }",
        "5 }",
        &["rate"],
    );
    assert_error("end = 0x000C", "end = 0x10000", "0x10000", &["end"]);
    assert_error(
        "start = 0x0030\nend = 0x003D",
        "start = 0x0030\nend = 0x002F",
        "0x002F",
        &["end", "measurements"],
    );
    assert_error(
        "value = \"tariff.day_table.1\"",
        "value = \"tariff.day_table.2\"",
        "\"tariff.day_table.2\"",
        &["day_tables"],
    );
}

#[test]
fn an_unreadable_file_is_an_error_not_a_panic() {
    let err = Profile::load(std::path::Path::new("/nonexistent/kpm31.toml")).unwrap_err();
    assert_eq!(err.file, "/nonexistent/kpm31.toml");
    assert!(err.message.contains("cannot read"), "{err}");
}

#[test]
fn line_and_column_count_characters() {
    let text = "a = 1\nbé = \"x\"\n";
    assert_eq!(line_col(text, 0), (1, 1));
    assert_eq!(line_col(text, 6), (2, 1));
    // 'é' is two bytes but one column.
    assert_eq!(line_col(text, text.find('=').unwrap()), (1, 3));
    assert_eq!(line_col(text, text.rfind('"').unwrap()), (2, 8));
}

#[test]
fn an_error_after_a_multibyte_character_names_its_key_without_panicking() {
    // Found by the profile fuzz target: "–" (3 bytes) before the key.
    let text = "description = \"0–6553e = 1";
    assert_eq!(
        super::schema::key_at_for_tests(text, text.len()),
        Some("6553e")
    );
    assert_eq!(super::schema::key_at_for_tests("a–b = 1", 7), Some("b"));
}

#[test]
fn an_error_about_a_whole_file_names_the_file_without_a_position() {
    let missing = Profile::resolve("no/such/profile.toml").unwrap_err();
    assert_eq!(
        missing.to_string(),
        format!("no/such/profile.toml: {}", missing.message)
    );
    assert!(missing.message.starts_with("cannot read"), "{missing}");
    let unknown = Profile::resolve("nope").unwrap_err().to_string();
    assert_eq!(
        unknown,
        "nope: no such profile (built-in profiles: kpm31, kpm31c)"
    );
    let bad = Profile::parse("p.toml", "x = ").unwrap_err();
    assert!(bad.to_string().starts_with("p.toml:1:5: "), "{bad}");
}
