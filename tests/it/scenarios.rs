//! Scenarios as tests: every shipped scenario passes its expectations and
//! matches its golden file (final registers and event log); runs are
//! deterministic and independent of speed; invalid scenarios are refused
//! with file:line:column.
//!
//! `UPDATE_GOLDEN=1 cargo test --test it` rewrites the golden files; review
//! the diff like code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use metertwin::scenario::report::golden_text;
use metertwin::scenario::{Engine, Pacer, Scenario};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Scenario {
    let path = root().join("scenarios").join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run_max(sc: Scenario) -> Engine {
    let mut e = Engine::new(sc);
    e.run_to_end();
    e
}

/// Drive the engine as the real-time runner does, with a simulated wall
/// clock: every `tick` of wall time, advance to the simulated time it maps to.
fn run_paced(sc: Scenario, speed: f64, tick: Duration) -> Engine {
    let pacer = Pacer {
        start: sc.start,
        speed,
    };
    let mut e = Engine::new(sc);
    let mut wall = Duration::ZERO;
    while !e.finished() {
        wall += tick;
        e.advance_to(pacer.sim_at(wall));
    }
    e
}

fn check_golden(stem: &str, text: &str) {
    let path = root().join("tests/golden").join(format!("{stem}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden file {}; run with UPDATE_GOLDEN=1 and review it",
            path.display()
        )
    });
    if want != text {
        let diff: Vec<String> = want
            .lines()
            .zip(text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  actual: {b}", i + 1))
            .collect();
        panic!(
            "{} differs from the run ({} vs {} lines):\n{}",
            path.display(),
            want.lines().count(),
            text.lines().count(),
            diff.join("\n")
        );
    }
}

fn shipped() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml")
                .then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_scenario_passes_and_matches_its_golden_file() {
    let names = shipped();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        let e = run_max(load(&name));
        let outcomes: Vec<_> = e.outcomes().into_iter().collect();
        assert!(!outcomes.is_empty(), "{name} has no expectations");
        for o in outcomes {
            let o = o.unwrap_or_else(|| panic!("{name}: an expectation was never checked"));
            assert!(o.passed, "{name}: {o}");
        }
        let stem = Path::new(&name)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        check_golden(&stem, &golden_text(&e));
    }
}

#[test]
fn the_same_scenario_twice_gives_identical_results() {
    for name in ["household_day.toml", "prepay_overdraft.toml"] {
        let a = golden_text(&run_max(load(name)));
        let b = golden_text(&run_max(load(name)));
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn speed_does_not_change_the_registers() {
    // (scenario, speed [sim s per wall s], wall tick)
    let cases = [
        ("household_day.toml", 3600.0, Duration::from_millis(100)),
        ("household_day.toml", 977.0, Duration::from_millis(37)),
        ("load_cut.toml", 10.0, Duration::from_millis(100)),
        ("prepay_overdraft.toml", 60.0, Duration::from_millis(250)),
        ("pv_export.toml", 1000.0, Duration::from_millis(100)),
        ("year_settlements.toml", 1.0e6, Duration::from_millis(100)),
    ];
    for (name, speed, tick) in cases {
        let fast = golden_text(&run_max(load(name)));
        let paced = golden_text(&run_paced(load(name), speed, tick));
        assert_eq!(fast, paced, "{name} at {speed}x");
    }
}

#[test]
fn random_processes_follow_the_seed() {
    let text = std::fs::read_to_string(root().join("scenarios/household_year.toml")).unwrap();
    let short = text.replace("duration = \"365d\"", "duration = \"3d\"");
    let base = root().join("scenarios");
    let a = Scenario::parse("a.toml", &short, &base).unwrap();
    let b = Scenario::parse("b.toml", &short.replace("seed = 42", "seed = 43"), &base).unwrap();
    let (ea, eb) = (run_max(a), run_max(b));
    let (sa, sb) = (ea.snapshot(0).unwrap(), eb.snapshot(0).unwrap());
    assert_ne!(sa.total_active_kwh(), sb.total_active_kwh());
    // Within the bounds of the random factor (0.8–1.2 of 21.48 kWh/day) + fridge.
    let fridge = 0.12 * 15.0 / 40.0 * 72.0;
    for s in [&sa, &sb] {
        let hh = s.total_active_kwh() - fridge;
        assert!(hh > 0.8 * 3.0 * 21.48 && hh < 1.2 * 3.0 * 21.48, "{hh}");
    }
}

#[test]
fn a_failing_expectation_names_expected_and_actual() {
    let text = std::fs::read_to_string(root().join("scenarios/load_cut.toml")).unwrap();
    let text = text.replace("equals = 99.2222222", "equals = 50.0");
    let sc = Scenario::parse("load_cut.toml", &text, &root().join("scenarios")).unwrap();
    let e = run_max(sc);
    let failed: Vec<_> = e
        .outcomes()
        .into_iter()
        .flatten()
        .filter(|o| !o.passed)
        .collect();
    assert_eq!(failed.len(), 1);
    let msg = failed[0].to_string();
    assert!(
        msg.contains("FAILED") && msg.contains("= 50") && msg.contains("actual 99.22"),
        "{msg}"
    );
}

const HEADER: &str = "[scenario]\nstart = 2024-01-01T00:00:00+08:00\nduration = \"1d\"\n";

/// (scenario text, line, column, part of the message)
fn invalid_cases() -> Vec<(String, usize, usize, &'static str)> {
    let h = HEADER;
    vec![
        (format!("{h}speeed = 3\n"), 4, 1, "unknown field `speeed`"),
        (
            "[scenario]\nstart = 2024-01-01T00:00:00\nduration = \"1 fortnight\"\n".into(),
            3,
            12,
            "not a duration",
        ),
        (format!("{h}speed = \"ludicrous\"\n"), 4, 9, "speed must be"),
        (
            format!("{h}[[meters]]\nprofile = \"kpm99\"\n"),
            5,
            11,
            "neither built in",
        ),
        (
            format!("{h}[[meters]]\nrelay_mode = \"auto\"\n"),
            5,
            14,
            "relay_mode",
        ),
        (
            format!("{h}[[loads]]\nname = \"x\"\ncomponent = {{ kind = \"magic\", power_w = 1.0 }}\n"),
            6,
            22,
            "kind = \"magic\"",
        ),
        (
            format!("{h}[[loads]]\nname = \"x\"\ncomponent = {{ kind = \"inductive\", power_w = 1.0 }}\n"),
            6,
            22,
            "needs power_factor",
        ),
        (
            format!("{h}[[loads]]\nname = \"x\"\ncomponent = {{ kind = \"resistive\", power_w = 1.0 }}\nschedule = [{{ kind = \"duty_cycle\", period = \"1h\", on = \"2h\" }}]\n"),
            7,
            56,
            "on must not be longer",
        ),
        (
            format!("{h}[[loads]]\nname = \"x\"\ncomponent = {{ kind = \"resistive\", power_w = 1.0 }}\nschedule = [{{ kind = \"random\", every = \"1h\", min = 0.5, max = 1.0, on = \"2h\" }}]\n"),
            7,
            73,
            "on is not a field of a \"random\" schedule",
        ),
        (
            format!("{h}[[events]]\nat = \"+2d\"\naction = \"power_off\"\n"),
            5,
            6,
            "outside the scenario",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"top_up\"\n"),
            6,
            10,
            "needs kwh",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"write_registers\"\naddress = 0x0080\nvalues = [1, 2]\n"),
            7,
            11,
            "read-only",
        ),
        (
            format!("{h}[[expect]]\nquantity = \"energy.total_active\"\nequals = 1.0\nmeter = \"nobody\"\n"),
            7,
            9,
            "no meter named \"nobody\"",
        ),
        (
            format!("{h}[[expect]]\nquantity = \"energy.bogus\"\nequals = 1.0\n"),
            5,
            12,
            "not a quantity",
        ),
        (
            format!("{h}[[expect]]\nquantity = \"history.combined_active\"\nequals = 1.0\n"),
            5,
            12,
            "needs month",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"panel\"\nop = \"set\"\nsetting = \"address\"\nvalue = 300\n"),
            9,
            9,
            "1–247",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"panel\"\nop = \"set\"\nsetting = \"colour\"\nvalue = 1\n"),
            8,
            11,
            "setting = \"colour\" is not one of",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"panel\"\nop = \"set\"\nsetting = \"parity\"\nvalue = \"mark\"\n"),
            9,
            9,
            "one of \"none\", \"even\", \"odd\"",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"panel\"\nop = \"set\"\nsetting = \"clear_energy\"\nvalue = 1\n"),
            9,
            9,
            "takes no value",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"panel\"\nop = \"set\"\nsetting = \"baud\"\n"),
            8,
            11,
            "needs a value",
        ),
        (
            format!("{h}[[events]]\nat = \"+1h\"\naction = \"panel\"\nop = \"exit\"\nsetting = \"baud\"\n"),
            7,
            6,
            "go with op = \"set\"",
        ),
        (
            format!("{h}[[loads]]\nname = \"r\"\nreplay = {{ file = \"nowhere.csv\", columns = \"p_q\" }}\n"),
            6,
            19,
            "cannot read",
        ),
    ]
}

#[test]
fn invalid_scenarios_give_located_errors() {
    let base = root().join("scenarios");
    let mut wrong = Vec::new();
    for (text, line, column, msg) in invalid_cases() {
        let e = Scenario::parse("bad.toml", &text, &base)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        assert_eq!(e.file, "bad.toml");
        if !e.message.contains(msg) || (e.line, e.column) != (line, column) {
            wrong.push(format!("want {line}:{column} {msg:?}, got {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Settings changed from the front panel: only inside a password session,
/// and read back through the register map like any other setting.
#[test]
fn front_panel_settings_need_the_password_and_show_in_the_registers() {
    let text = format!(
        r#"{HEADER}
[[meters]]
name = "m"
ideal = true

[[events]]
at = "+1h"
action = "panel"
op = "set"
setting = "address"
value = 7

[[events]]
at = "+2h"
action = "panel"
op = "password"
password = 6666

[[events]]
at = "+2h 10s"
action = "panel"
op = "set"
setting = "address"
value = 9

[[events]]
at = "+2h 20s"
action = "panel"
op = "set"
setting = "parity"
value = "odd"

[[events]]
at = "+2h 30s"
action = "panel"
op = "set"
setting = "relay_mode"
value = "local"

[[events]]
at = "+3h"
action = "panel"
op = "set"
setting = "baud"
value = 2400

[[expect]]
name = "no session: refused"
event = "command_refused"
count = 2

[[expect]]
quantity = "setting.address"
at = "+1h 1s"
equals = 1

[[expect]]
quantity = "setting.address"
equals = 9

[[expect]]
quantity = "setting.parity"
equals = 2

[[expect]]
quantity = "setting.relay_mode"
equals = 1

[[expect]]
name = "the session timed out after 30 s: baud unchanged (code 4 = 9600)"
quantity = "setting.baud"
equals = 4

[[expect]]
event = "panel_timeout"
count = 1
"#
    );
    let sc = Scenario::parse("panel.toml", &text, &root().join("scenarios")).unwrap();
    let e = run_max(sc);
    let failed: Vec<String> = e
        .outcomes()
        .into_iter()
        .flatten()
        .filter(|o| !o.passed)
        .map(|o| o.to_string())
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn replay_csv_errors_name_the_csv_file() {
    let dir = std::env::temp_dir().join(format!("metertwin-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r.csv"), "time,p_w,q_var\n0,1,2\n10,x,3\n").unwrap();
    let text = format!(
        "{HEADER}[[loads]]\nname = \"r\"\nreplay = {{ file = \"r.csv\", columns = \"p_q\" }}\n"
    );
    let e = Scenario::parse("s.toml", &text, &dir).unwrap_err();
    assert!(e.file.ends_with("r.csv"), "{e}");
    assert_eq!((e.line, e.column), (3, 4), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run --scenario` plays the scenario and serves its meters over Modbus:
/// at speed `max` it runs to the end first, so a client then reads the
/// scenario's final registers.
#[tokio::test]
async fn run_scenario_serves_the_scenario_meters_over_modbus() {
    use tokio_modbus::client::{tcp, Reader};
    let path = root().join("scenarios/load_cut.toml");
    let twin = crate::support::Twin::start_raw(&[
        "run",
        "--scenario",
        path.to_str().unwrap(),
        "--tcp",
        "127.0.0.1:0",
    ]);
    assert_eq!(twin.ready["scenario"], "load-cut", "{}", twin.ready);
    let address = twin.ready["meters"][0]["address"].as_u64().unwrap() as u8;
    let mut ctx = tcp::connect_slave(twin.tcp(), tokio_modbus::Slave(address))
        .await
        .unwrap();
    let e = ctx
        .read_holding_registers(0x0082, 2)
        .await
        .unwrap()
        .unwrap();
    let import = crate::support::f32_at(&e, 0);
    assert!(
        (import - 0.777_777_8).abs() < 1e-6,
        "import active {import} kWh"
    );
    assert_eq!(
        ctx.read_coils(0x0001, 1).await.unwrap().unwrap(),
        vec![true],
        "closed from the panel"
    );
    let reason = ctx
        .read_holding_registers(0x0416, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reason, vec![4], "last opened by load control");
}
