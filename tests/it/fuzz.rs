//! Fuzz targets on stable Rust: each parser that reads outside input gets
//! mutated inputs (from a seed corpus of valid ones) for a bounded time and
//! must never panic — overflow checks are on in test builds, so arithmetic
//! slips count too.
//!
//! `cargo test` gives every target a short run; CI gives them longer:
//! `METERTWIN_FUZZ_SECS=50 cargo test --test it fuzz::` splits 50 s between
//! the targets. A panicking input is written to `target/fuzz-failures/`
//! and the test fails naming it and the seed (`METERTWIN_FUZZ_SEED` replays
//! a run).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use metertwin::meter::Meter;
use metertwin::modbus::pdu::{self, Request};
use metertwin::modbus::rtu::decoder::Decoder;
use metertwin::modbus::tcp::{parse_mbap, MBAP_LEN};
use metertwin::profile::Profile;
use metertwin::scenario::Scenario;

use crate::support::rtu;

const TARGETS: u32 = 5;

/// This target's share of the time budget.
fn budget() -> Duration {
    let total: f64 = std::env::var("METERTWIN_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    Duration::from_secs_f64((total / f64::from(TARGETS)).clamp(0.1, 60.0))
}

fn seed() -> u64 {
    std::env::var("METERTWIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

/// Pieces that tend to break text parsers.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e309",
    "-1e309",
    "nan",
    "inf",
    "4294967296",
    "18446744073709551616",
    "-9223372036854775809",
    "\"\"",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "\n[[events]]\n",
    "\n[[meters]]\n",
    "\n[[loads]]\n",
    "\"+1d\"",
    "\"99999999d\"",
    "\"-5s\"",
    "\u{0}",
    "0x10000",
    "'",
    "\"2024-02-30 25:61:61\"",
    "\"9999-12-31 23:59:59\"",
    "65535",
    "255",
    "0.0",
    "true",
    "\"\u{202e}\"",
    "[[",
    "]]",
    "\"65536\"",
    "1e-320",
];

fn mutate(rng: &mut ChaCha8Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..rng.random_range(1..8) {
        let len = input.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..8) {
            0 if len > 0 => input[at] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => input[at] = rng.random(),
            2 => {
                let mut bytes = vec![0u8; rng.random_range(1..16)];
                rng.fill_bytes(&mut bytes);
                input.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let end = (at + rng.random_range(1..64)).min(len);
                input.drain(at..end);
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..64)).min(len);
                let piece = input[at..end].to_vec();
                input.splice(at..at, piece);
            }
            5 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                input.splice(at..at, t.bytes());
            }
            6 => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let end = (from + rng.random_range(1..128)).min(other.len());
                    input.splice(at..at, other[from..end].iter().copied());
                }
            }
            _ if len > 1 => input.truncate(at),
            _ => {}
        }
    }
}

/// Run `target` on mutated corpus inputs for this target's time budget.
fn fuzz(name: &str, corpus: Vec<Vec<u8>>, target: impl Fn(&[u8])) {
    let seed = seed();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let until = Instant::now() + budget();
    let mut runs = 0u64;
    while Instant::now() < until {
        let mut input = corpus[rng.random_range(0..corpus.len())].clone();
        mutate(&mut rng, &mut input, &corpus);
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{seed}-{runs}.bin"));
            let _ = std::fs::write(&file, &input);
            panic!(
                "fuzz target {name} panicked (METERTWIN_FUZZ_SEED={seed}, run {runs}); input in {}",
                file.display()
            );
        }
        runs += 1;
    }
    eprintln!("fuzz {name}: {runs} inputs in {:?}, seed {seed}", budget());
}

fn files(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect();
    out.sort();
    out
}

#[test]
fn rtu_decoder() {
    let corpus = vec![
        rtu(&[1, 0x03, 0, 0, 0, 1]),
        rtu(&[1, 0x01, 0, 1, 0, 1]),
        rtu(&[1, 0x05, 0, 1, 0xFF, 0]),
        rtu(&[1, 0x10, 0, 0, 0, 2, 4, 0, 1, 0, 2]),
        rtu(&[1, 0x03, 4, 0, 1, 0, 2]),
        rtu(&[1, 0x83, 2]),
        rtu(&[7, 0x2B, 0x0E, 1, 0]),
        [rtu(&[1, 0x03, 0, 0, 0, 1]), rtu(&[2, 0x03, 0, 1, 0, 1])].concat(),
    ];
    fuzz("rtu_decoder", corpus, |bytes| {
        let mut d = Decoder::new();
        // Arrival in pieces, as a line delivers it, with silences between.
        for (k, piece) in bytes.chunks(1 + bytes.len() % 7).enumerate() {
            d.push(piece);
            while let Some(f) = d.decode() {
                let _ = (f.address(), f.pdu());
            }
            if k % 3 == 2 {
                while d.silence().is_some() {}
                assert_eq!(d.buffered(), 0, "a silence empties the buffer");
            }
        }
        while d.silence().is_some() {}
    });
}

#[test]
fn mbap_and_pdu() {
    let profile = Profile::resolve("kpm31").expect("profile");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("date");
    let at = metertwin::time::SimTime::from_datetime(start);
    let meter = Meter::new(profile.meter.clone(), 1, at, start);
    let snapshot = meter.snapshot();
    let frame = |pdu: &[u8]| {
        let mut f = vec![0, 1, 0, 0];
        f.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        f.push(1);
        f.extend_from_slice(pdu);
        f
    };
    let corpus = vec![
        frame(&[0x03, 0, 0x30, 0, 14]),
        frame(&[0x01, 0, 1, 0, 1]),
        frame(&[0x05, 0, 1, 0xFF, 0]),
        frame(&[0x10, 0, 0, 0, 1, 2, 0x04, 0xD2]),
        frame(&[
            0x10, 0x04, 0x10, 0, 6, 12, 7, 0xE8, 0, 12, 0, 31, 0, 23, 0, 59, 0, 30,
        ]),
        frame(&[0x10, 0x04, 0x0A, 0, 2, 4, 0x41, 0xA0, 0, 0]),
        frame(&[
            0x10, 0x04, 0x20, 0, 6, 12, 0, 0, 0, 4, 8, 0, 0, 2, 0, 0, 0, 0,
        ]),
        frame(&[0x10, 0, 0x0C, 0, 1, 2, 0x55, 0xAA]),
    ];
    fuzz("mbap_and_pdu", corpus, |bytes| {
        let Some(header) = bytes.first_chunk::<MBAP_LEN>() else {
            return;
        };
        let _ = parse_mbap(header);
        let body = &bytes[MBAP_LEN..];
        // The PDU all the way to the meter: parse, image, validate, apply.
        let Ok(req) = pdu::parse_request(body) else {
            return;
        };
        let map = &profile.map;
        let commands = match req {
            Request::ReadHoldingRegisters { start, count } => {
                let _ = metertwin::image::read_registers(map, &snapshot, start, count);
                return;
            }
            Request::ReadCoils { start, count } => {
                let _ = metertwin::image::read_coils(map, &snapshot, start, count);
                return;
            }
            Request::WriteSingleCoil { address, value } => {
                metertwin::image::write_coil(map, address, value).map(|c| vec![c])
            }
            Request::WriteMultipleRegisters { start, ref values } => {
                metertwin::image::write_registers(map, &snapshot, start, values)
            }
        };
        if let Ok(commands) = commands {
            let mut m = meter.clone();
            for c in commands {
                if m.validate(&c).is_ok() {
                    let _ = m.apply(at, c);
                }
            }
            let _ = m.snapshot();
        }
    });
}

#[test]
fn profile_parser() {
    fuzz("profile_parser", files("profiles", "toml"), |bytes| {
        let _ = Profile::parse("fuzz.toml", &String::from_utf8_lossy(bytes));
    });
}

#[test]
fn scenario_parser() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    fuzz("scenario_parser", files("scenarios", "toml"), |bytes| {
        let _ = Scenario::parse("fuzz.toml", &String::from_utf8_lossy(bytes), &base);
    });
}

#[test]
fn state_file_parser() {
    let profile = Profile::resolve("kpm31").expect("profile");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 3, 31)
        .and_then(|d| d.and_hms_opt(23, 0, 0))
        .expect("date");
    let at = metertwin::time::SimTime::from_datetime(start);
    let mut meter = Meter::new(profile.meter.clone(), 1, at, start);
    meter.set_load(at, metertwin::physics::Load::power(2000.0, 300.0));
    meter.advance_to(at + metertwin::time::SimDuration::from_hours(3));
    let file = metertwin::runtime::StateFile {
        format: metertwin::runtime::state::FORMAT.into(),
        version: metertwin::runtime::state::VERSION,
        saved_unix_ms: 1_700_000_000_000,
        sim_at: meter.now(),
        meters: vec![metertwin::runtime::SavedMeter {
            slot: 1,
            profile: "kpm31".into(),
            state: meter.export_state(),
        }],
    };
    let corpus = vec![
        serde_json::to_vec_pretty(&file).expect("json"),
        serde_json::to_vec(&file).expect("json"),
    ];
    let path = Path::new("state.json");
    fuzz("state_file_parser", corpus, |bytes| {
        state_target(&profile, path, bytes)
    });
}

/// Parse a state file, revive its meters and run them for an hour.
fn state_target(profile: &Profile, path: &Path, bytes: &[u8]) {
    let Ok(f) = metertwin::runtime::state::parse(path, &String::from_utf8_lossy(bytes)) else {
        return;
    };
    let resume = metertwin::runtime::state::resume_at(&f, 1_700_000_100_000);
    for m in &f.meters {
        if let Ok(mut m) = metertwin::runtime::state::revive(profile.meter.clone(), m, resume) {
            m.advance_to(resume + metertwin::time::SimDuration::from_hours(1));
            let _ = m.snapshot();
        }
    }
}

/// Inputs the fuzzers once found a panic with (`tests/fuzz-regressions/`),
/// replayed on every run.
#[test]
fn fuzz_regressions_stay_fixed() {
    let profile = Profile::resolve("kpm31").expect("profile");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fuzz-regressions") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let bytes = std::fs::read(&path).expect("read");
        if name.starts_with("state_file_parser") {
            // A meter clock at the end of chrono's calendar made the tariff's
            // next boundary overflow.
            state_target(&profile, Path::new("state.json"), &bytes);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no regression inputs found in {}",
        dir.display()
    );
}
