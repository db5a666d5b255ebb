//! Register image tests: block and gap rules, reads, writes, word order and
//! coils, against the built-in profiles (SPEC §4 "Register map").

use chrono::NaiveDateTime;

use super::*;
use crate::meter::energy::Direction;
use crate::meter::tariff::{Rate, Slot};
use crate::meter::{Meter, PanelOp};
use crate::physics::Load;
use crate::profile::Profile;
use crate::time::SimTime;

fn dt(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn t(s: &str) -> SimTime {
    SimTime::from_datetime(dt(s))
}

fn kpm31() -> Profile {
    Profile::builtin("kpm31").unwrap()
}

/// A KPM31 at `at` whose clock shows `at`.
fn meter(p: &Profile, at: &str) -> Meter {
    let mut config = p.meter.clone();
    config.frontend.ideal = true;
    Meter::new(config, 1, t(at), dt(at))
}

fn read(p: &Profile, m: &Meter, start: u16, count: u16) -> Result<Vec<u16>, ImageError> {
    read_registers(&p.map, &m.snapshot(), start, count)
}

/// The float at `addr`, high word first.
fn float_at(p: &Profile, m: &Meter, addr: u16) -> f32 {
    let w = read(p, m, addr, 2).unwrap();
    f32::from_bits((u32::from(w[0]) << 16) | u32::from(w[1]))
}

fn words_of(x: f32) -> [u16; 2] {
    let b = x.to_bits();
    [(b >> 16) as u16, b as u16]
}

fn is_address_error(r: &Result<impl std::fmt::Debug, ImageError>) -> bool {
    matches!(r, Err(ImageError::Address { .. }))
}

fn is_value_error(r: &Result<impl std::fmt::Debug, ImageError>) -> bool {
    matches!(r, Err(ImageError::Value { .. }))
}

#[test]
fn the_system_block_reads_settings_and_reserved_zeros() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    let w = read(&p, &m, 0x0000, 13).unwrap();
    // password 6666, address 1, baud code 4 (9600), 0003H–000BH reserved,
    // 000CH (clear energy, write-only) reads 0.
    assert_eq!(w, vec![6666, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(read(&p, &m, 0x0005, 3).unwrap(), vec![0, 0, 0]);
}

#[test]
fn reads_must_stay_inside_one_block() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    let cases: [(u16, u16, bool); 14] = [
        (0x0000, 13, true),
        (0x000C, 2, false), // crosses the end of the system block
        (0x000D, 1, false), // between blocks
        (0x002F, 2, false), // starts before the measurement block
        (0x0030, 14, true),
        (0x003C, 4, false),
        (0x0070, 2, true),
        (0x0070, 3, false),
        (0x0080, 125, true),
        (0x019E, 2, true),
        (0x019F, 2, false),
        (0x04FF, 1, true), // the end of the extension block is reserved
        (0x0500, 1, false),
        (0xFFFF, 1, false),
    ];
    for (start, count, ok) in cases {
        let r = read(&p, &m, start, count);
        if ok {
            assert_eq!(
                r.as_ref().map(Vec::len),
                Ok(usize::from(count)),
                "{start:04X}H ×{count}"
            );
        } else {
            assert!(is_address_error(&r), "{start:04X}H ×{count}: {r:?}");
        }
    }
}

#[test]
fn a_read_of_zero_registers_does_not_panic() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    assert_eq!(read(&p, &m, 0x0030, 0), Ok(vec![]));
}

#[test]
fn floats_are_high_word_first_and_partial_reads_give_one_half() {
    let p = kpm31();
    let mut m = meter(&p, "2025-03-10 12:00:00");
    m.set_load(t("2025-03-10 12:00:00"), Load::power(1200.0, 900.0));
    // 220.0 = 435C0000H, 1200.0 = 44960000H
    assert_eq!(read(&p, &m, 0x0030, 2).unwrap(), vec![0x435C, 0x0000]);
    assert_eq!(read(&p, &m, 0x0034, 2).unwrap(), vec![0x4496, 0x0000]);
    // Start in the middle of U: its low word, then I whole.
    let i = words_of(1500.0 / 220.0);
    assert_eq!(read(&p, &m, 0x0031, 3).unwrap(), vec![0x0000, i[0], i[1]]);
    // End in the middle of P: its high word only.
    assert_eq!(read(&p, &m, 0x0034, 1).unwrap(), vec![0x4496]);
}

#[test]
fn a_low_first_profile_swaps_the_words() {
    let (_, file, text) = crate::profile::BUILTIN[0];
    let text = text.replace(
        "float_word_order = \"high_first\"",
        "float_word_order = \"low_first\"",
    );
    let p = Profile::parse(file, &text).unwrap();
    let mut m = meter(&p, "2025-03-10 12:00:00");
    m.set_load(t("2025-03-10 12:00:00"), Load::power(1200.0, 0.0));
    assert_eq!(read(&p, &m, 0x0030, 2).unwrap(), vec![0x0000, 0x435C]);
    // Written floats are read low word first too: 2.5 = 40200000H.
    let cmds = write_registers(&p.map, &m.snapshot(), 0x040A, &[0x0000, 0x4020]).unwrap();
    assert_eq!(cmds, vec![Command::TopUp(2.5)]);
    // The u32 pulse count follows the same order.
    m.advance_to(t("2025-03-10 13:00:00")); // 1.2 kWh = 1920 pulses
    assert_eq!(read(&p, &m, 0x040E, 2).unwrap(), vec![1920, 0]);
}

#[test]
fn measurements_and_energy_read_consistently() {
    let p = kpm31();
    let mut m = meter(&p, "2025-03-10 15:00:00");
    m.set_load(t("2025-03-10 15:00:00"), Load::power(1200.0, 900.0));
    m.set_load(t("2025-03-10 16:00:00"), Load::power(-600.0, -300.0));
    m.advance_to(t("2025-03-10 17:00:00"));
    let (u, i, s) = (
        float_at(&p, &m, 0x0030),
        float_at(&p, &m, 0x0032),
        float_at(&p, &m, 0x0038),
    );
    assert!((u * i - s).abs() <= 1e-4 * s, "S {s} ≈ U·I {}", u * i);
    assert_eq!(float_at(&p, &m, 0x0034), -600.0);
    assert_eq!(float_at(&p, &m, 0x003C), 50.0);
    let total = float_at(&p, &m, 0x0080);
    let (imp, exp) = (float_at(&p, &m, 0x0082), float_at(&p, &m, 0x0084));
    assert_eq!((imp, exp), (1.2, 0.6));
    assert!((imp + exp - total).abs() < 1e-6, "import + export = total");
    assert_eq!(float_at(&p, &m, 0x0086), 1.2, "reactive 0.9 + 0.3");
    assert_eq!(float_at(&p, &m, 0x0088), 0.9);
    assert_eq!(float_at(&p, &m, 0x008A), 0.3);
    // 15:00–17:00 is all flat.
    assert_eq!(float_at(&p, &m, 0x0090), 1.8, "flat active");
    assert_eq!(float_at(&p, &m, 0x0098), 1.2, "flat reactive");
    for a in [0x008C, 0x008E, 0x0092, 0x0094, 0x0096, 0x009A] {
        assert_eq!(float_at(&p, &m, a), 0.0, "{a:04X}H");
    }
    // 1.8 kWh of flow at 1600 imp/kWh, u32 high word first.
    assert_eq!(read(&p, &m, 0x040E, 2).unwrap(), vec![0, 2880]);
}

#[test]
fn history_blocks_hold_this_month_then_previous_k_at_start_plus_2k() {
    let p = kpm31();
    // One day in each month at 100·k W, k = 1 (Jan) … 3 (Mar); in flat
    // (15:00–23:00) so every series has a known value.
    let mut m = meter(&p, "2025-01-31 15:00:00");
    m.set_load(t("2025-01-31 15:00:00"), Load::power(100.0, 50.0));
    m.set_load(t("2025-01-31 17:00:00"), Load::power(0.0, 0.0));
    m.set_load(t("2025-02-28 15:00:00"), Load::power(200.0, 100.0));
    m.set_load(t("2025-02-28 17:00:00"), Load::power(0.0, 0.0));
    m.set_load(t("2025-03-31 15:00:00"), Load::power(300.0, 150.0));
    m.advance_to(t("2025-03-31 17:00:00"));
    // Active kWh: Mar 0.6 (this month), Feb 0.4 (previous 1), Jan 0.2 (previous 2).
    let active = [0.6f32, 0.4, 0.2];
    let starts = [
        (0x009C, 1.0f32), // combined active
        (0x00B6, 0.5),    // combined reactive
        (0x00D0, 0.0),    // sharp active
        (0x00EA, 0.0),    // sharp reactive
        (0x0104, 0.0),    // peak active
        (0x011E, 0.0),    // peak reactive
        (0x0138, 1.0),    // flat active
        (0x0152, 0.5),    // flat reactive
        (0x016C, 0.0),    // valley active
        (0x0186, 0.0),    // valley reactive
    ];
    for (start, scale) in starts {
        for k in 0..13u16 {
            let expected = active.get(usize::from(k)).map_or(0.0, |a| a * scale);
            let got = float_at(&p, &m, start + 2 * k);
            assert!(
                (got - expected).abs() < 1e-6,
                "{:04X}H (start {start:04X}H, month {k}): {got} ≠ {expected}",
                start + 2 * k
            );
        }
    }
    // The last word of the energy block is valley reactive previous 12.
    assert_eq!(read(&p, &m, 0x0186 + 24, 2).unwrap(), vec![0, 0]);
}

#[test]
fn writes_to_read_only_and_reserved_words_are_address_errors() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    let s = m.snapshot();
    let w = |start: u16, words: &[u16]| write_registers(&p.map, &s, start, words);
    assert!(is_address_error(&w(0x0030, &[0, 0])), "measurement");
    assert!(is_address_error(&w(0x0080, &[0, 0])), "energy");
    assert!(is_address_error(&w(0x0408, &[0, 0])), "residual");
    assert!(is_address_error(&w(0x040D, &[0])), "status");
    assert!(is_address_error(&w(0x0003, &[0])), "reserved");
    assert!(
        is_address_error(&w(0x0000, &[1, 2, 4, 0])),
        "runs into reserved"
    );
    assert!(is_address_error(&w(0x000D, &[0])), "outside every block");
    assert!(is_address_error(&w(0x0500, &[0])), "outside every block");
    assert!(is_address_error(&w(0xFFFF, &[0, 0])), "past FFFFH");
    assert!(is_address_error(&w(0x0000, &[])), "nothing to write");
    // A multi-word value must be written whole.
    assert!(
        is_address_error(&w(0x0404, &[0x4040])),
        "first half of a float"
    );
    assert!(
        is_address_error(&w(0x0405, &[0, 0x4040])),
        "second half + next"
    );
    assert!(is_address_error(&w(0x0410, &[2025, 3, 10])), "half a clock");
    assert!(
        is_address_error(&w(0x0411, &[3, 10, 12, 0, 0, 0])),
        "clock from month"
    );
}

#[test]
fn writes_decode_to_commands() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    let s = m.snapshot();
    let w = |start: u16, words: &[u16]| write_registers(&p.map, &s, start, words);
    assert_eq!(
        w(0x0000, &[1234, 17, 2]),
        Ok(vec![
            Command::SetPassword(1234),
            Command::SetAddress(17),
            Command::SetBaud(2400),
        ])
    );
    assert_eq!(w(0x000C, &[0x55AA]), Ok(vec![Command::ClearEnergy]));
    assert_eq!(w(0x040C, &[0x55AA]), Ok(vec![Command::ClearResidual]));
    assert_eq!(
        w(0x0400, &[0, 1, 60, 1]),
        Ok(vec![
            Command::SetParity(Parity::None),
            Command::SetRelayMode(RelayMode::Local),
            Command::SetFrequency(60),
            Command::SetWireless(WirelessMode::Debug),
        ])
    );
    let three = words_of(3.0);
    let half = words_of(0.5);
    assert_eq!(
        w(0x0404, &[three[0], three[1], half[0], half[1]]),
        Ok(vec![
            Command::SetLoadThreshold(3.0),
            Command::SetOverdraftLimit(0.5),
        ])
    );
    assert_eq!(
        w(0x0410, &[2024, 2, 29, 23, 59, 58]),
        Ok(vec![Command::SetClock(dt("2024-02-29 23:59:58"))])
    );
    // Ranges are the meter's job: the image passes the raw value on.
    assert_eq!(w(0x0001, &[0]), Ok(vec![Command::SetAddress(0)]));
}

#[test]
fn bad_values_are_value_errors() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    let s = m.snapshot();
    let w = |start: u16, words: &[u16]| write_registers(&p.map, &s, start, words);
    let cases: [(u16, &[u16], &str); 11] = [
        (0x000C, &[0x1234], "clear energy word"),
        (0x000C, &[0xAA55], "clear energy word, bytes swapped"),
        (0x040C, &[0x0001], "clear residual word"),
        (0x0002, &[0], "baud code 0"),
        (0x0002, &[5], "baud code 5"),
        (0x0400, &[3], "parity 3"),
        (0x0401, &[2], "relay mode 2"),
        (0x0403, &[2], "wireless 2"),
        (0x0410, &[2025, 2, 29, 0, 0, 0], "not a leap year"),
        (0x0410, &[2025, 13, 1, 0, 0, 0], "month 13"),
        (0x0410, &[2025, 1, 1, 24, 0, 0], "hour 24"),
    ];
    for (start, words, what) in cases {
        let r = w(start, words);
        assert!(is_value_error(&r), "{what}: {r:?}");
    }
    // A day table with a bad rate or time.
    let mut table = [0u16; 24];
    table[..3].copy_from_slice(&[6, 0, 5]);
    assert!(is_value_error(&w(0x0420, &table)), "rate 5");
    table[..3].copy_from_slice(&[6, 60, 1]);
    assert!(is_value_error(&w(0x0420, &table)), "minute 60");
}

#[test]
fn the_clock_reads_as_six_words_and_writes_back() {
    let p = kpm31();
    let mut m = meter(&p, "2025-03-10 12:34:56");
    assert_eq!(
        read(&p, &m, 0x0410, 6).unwrap(),
        vec![2025, 3, 10, 12, 34, 56]
    );
    let cmds = write_registers(&p.map, &m.snapshot(), 0x0410, &[2026, 12, 31, 23, 59, 59]).unwrap();
    for c in cmds {
        m.apply(t("2025-03-10 12:34:56"), c).unwrap();
    }
    m.advance_to(t("2025-03-10 12:34:57"));
    assert_eq!(read(&p, &m, 0x0410, 6).unwrap(), vec![2027, 1, 1, 0, 0, 0]);
}

#[test]
fn a_day_table_writes_and_reads_back() {
    let p = kpm31();
    let mut m = meter(&p, "2025-03-10 12:00:00");
    // The manual's table reads back as 5 slots and 3 unused.
    let w = read(&p, &m, 0x0420, 24).unwrap();
    assert_eq!(
        w,
        vec![6, 0, 1, 10, 0, 2, 12, 0, 1, 15, 0, 3, 23, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    // Written out of order with a gap: stored sorted.
    let mut table = [0u16; 24];
    table[..9].copy_from_slice(&[22, 0, 4, 0, 0, 0, 8, 30, 2]);
    let cmds = write_registers(&p.map, &m.snapshot(), 0x0420, &table).unwrap();
    assert_eq!(cmds.len(), 1);
    let Command::SetDayTable(0, ref dt_) = cmds[0] else {
        panic!("{cmds:?}");
    };
    assert_eq!(
        dt_.slots(),
        &[
            Slot {
                hour: 8,
                minute: 30,
                rate: Rate::Peak
            },
            Slot {
                hour: 22,
                minute: 0,
                rate: Rate::Valley
            },
        ]
    );
    for c in cmds {
        m.apply(t("2025-03-10 12:00:00"), c).unwrap();
    }
    let mut expected = vec![0u16; 24];
    expected[..6].copy_from_slice(&[8, 30, 2, 22, 0, 4]);
    assert_eq!(read(&p, &m, 0x0420, 24).unwrap(), expected);
    assert_eq!(m.snapshot().rate, Rate::Peak);
}

#[test]
fn kpm31c_time_zones_write_and_read_back() {
    let p = Profile::builtin("kpm31c").unwrap();
    let mut m = meter(&p, "2025-03-10 12:00:00");
    let words = [4, 1, 1, 10, 1, 2, 0, 0, 0, 0, 0, 0];
    let cmds = write_registers(&p.map, &m.snapshot(), 0x0440, &words).unwrap();
    for c in cmds {
        m.apply(t("2025-03-10 12:00:00"), c).unwrap();
    }
    assert_eq!(read(&p, &m, 0x0440, 12).unwrap(), words.to_vec());
    let bad = [4, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(is_value_error(&write_registers(
        &p.map,
        &m.snapshot(),
        0x0440,
        &bad
    )));
    // The KPM31 has no time-zone registers.
    let k = kpm31();
    let m31 = meter(&k, "2025-03-10 12:00:00");
    assert!(is_address_error(&write_registers(
        &k.map,
        &m31.snapshot(),
        0x0440,
        &words
    )));
}

#[test]
fn status_reason_and_residual_registers() {
    let p = kpm31();
    let mut m = meter(&p, "2025-03-10 08:00:00");
    let at = t("2025-03-10 08:00:00");
    m.apply(at, Command::SetRelayMode(RelayMode::Local))
        .unwrap();
    m.apply(at, Command::TopUp(1.0)).unwrap();
    m.set_load(at, Load::power(2000.0, 0.0));
    assert_eq!(
        read(&p, &m, 0x040D, 1).unwrap(),
        vec![0b1],
        "relay closed only"
    );
    assert_eq!(float_at(&p, &m, 0x0408), 1.0);
    assert_eq!(
        read(&p, &m, 0x040A, 2).unwrap(),
        vec![0, 0],
        "top-up reads 0"
    );
    m.advance_to(t("2025-03-10 08:30:00"));
    // bit 1 prepay alarm, bit 4 reminder cut; reason 2 = prepay reminder.
    assert_eq!(read(&p, &m, 0x040D, 1).unwrap(), vec![0b1_0010]);
    assert_eq!(read(&p, &m, 0x0416, 1).unwrap(), vec![2]);
    assert_eq!(read(&p, &m, 0x0401, 1).unwrap(), vec![1], "local mode");
    assert_eq!(
        read_coils(&p.map, &m.snapshot(), 0x0001, 1),
        Ok(vec![false])
    );
    m.panel(t("2025-03-10 08:30:01"), PanelOp::EnterPassword(6666))
        .unwrap();
    m.panel(t("2025-03-10 08:30:02"), PanelOp::Relay(true))
        .unwrap();
    assert_eq!(read_coils(&p.map, &m.snapshot(), 0x0001, 1), Ok(vec![true]));
    assert!(m.lifetime().active_dir(Direction::Import) > 0.0);
}

#[test]
fn the_relay_coil() {
    let p = kpm31();
    let m = meter(&p, "2025-03-10 12:00:00");
    let s = m.snapshot();
    assert_eq!(read_coils(&p.map, &s, 0x0001, 1), Ok(vec![true]));
    assert!(is_address_error(&read_coils(&p.map, &s, 0x0000, 1)));
    assert!(is_address_error(&read_coils(&p.map, &s, 0x0001, 2)));
    assert!(is_address_error(&read_coils(&p.map, &s, 0xFFFF, 2)));
    assert_eq!(write_coil(&p.map, 0x0001, 0xFF00), Ok(Command::Relay(true)));
    assert_eq!(
        write_coil(&p.map, 0x0001, 0x0000),
        Ok(Command::Relay(false))
    );
    assert!(is_value_error(&write_coil(&p.map, 0x0001, 0x0001)));
    assert!(is_value_error(&write_coil(&p.map, 0x0001, 0x00FF)));
    assert!(is_address_error(&write_coil(&p.map, 0x0002, 0xFF00)));
}
