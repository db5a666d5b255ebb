//! The subcommands of the binary.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use metertwin::cli::{CheckArgs, Format, RegistersArgs, RunArgs, ScenarioArgs};
use metertwin::meter::Meter;
use metertwin::modbus::{tcp, Station, UnknownUnit};
use metertwin::profile::Profile;
use metertwin::runtime::{DefaultHousehold, Runner, ScenarioRunner, SimClock};
use metertwin::scenario::{detect_kind, Engine, FileKind, Scenario};
use metertwin::time::SimTime;

/// `metertwin run`: one meter with the default household load on TCP.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = args.scenario.clone() {
        let sc = match Scenario::load(&path) {
            Ok(sc) => sc,
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        rt.block_on(serve_scenario(args, sc))?;
        return Ok(ExitCode::SUCCESS);
    }
    let profile = Profile::resolve(&args.profile)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(args, profile))?;
    Ok(ExitCode::SUCCESS)
}

/// `metertwin run --scenario FILE`: the scenario's meters on TCP.
async fn serve_scenario(args: RunArgs, sc: Scenario) -> anyhow::Result<()> {
    let speed = match args.speed {
        Some(s) => Some(s),
        None => sc.speed.factor(),
    };
    let meters: Vec<_> = sc
        .meters
        .iter()
        .map(|m| serde_json::json!({ "name": m.name, "address": m.address, "profile": m.profile.name, "transport": "tcp" }))
        .collect();
    let name = sc.name.clone();
    let (runner, handles) = ScenarioRunner::new(Engine::new(sc), speed);
    let station = Arc::new(Station::new(handles, UnknownUnit::GatewayException));
    let listener = tcp::bind(args.tcp)
        .await
        .with_context(|| format!("cannot listen on {}", args.tcp))?;
    let local = listener.local_addr()?;
    tokio::spawn(tcp::serve(listener, station));
    let ready = serde_json::json!({
        "event": "ready",
        "tcp": local.to_string(),
        "scenario": name,
        "meters": meters,
    });
    println!("{ready}");
    tracing::info!(tcp = %local, scenario = %name, speed = ?speed, "serving a scenario");
    runner.run(shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

async fn serve(args: RunArgs, profile: Profile) -> anyhow::Result<()> {
    // The only wall-clock read of the program's simulated world: where the
    // meter's clock starts when the user gives no --start.
    #[allow(clippy::disallowed_methods)]
    let start = args
        .start
        .unwrap_or_else(|| chrono::Local::now().naive_local());
    let start = start.with_nanosecond(0).unwrap_or(start);
    let sim_start = SimTime::from_datetime(start);
    let mut config = profile.meter.clone();
    if let Some(a) = args.address {
        config.default_settings.address = a;
    }
    let address = config.default_settings.address;
    let meter = Meter::new(config, args.seed, sim_start, start);
    let mut runner = Runner::new(SimClock::new(sim_start, args.speed.unwrap_or(1.0)));
    let handle = runner.add(
        meter,
        Arc::new(profile.map.clone()),
        Box::new(DefaultHousehold::default()),
    );
    let station = Arc::new(Station::new(vec![handle], UnknownUnit::GatewayException));
    let listener = tcp::bind(args.tcp)
        .await
        .with_context(|| format!("cannot listen on {}", args.tcp))?;
    let local = listener.local_addr()?;
    tokio::spawn(tcp::serve(listener, station));
    let ready = serde_json::json!({
        "event": "ready",
        "tcp": local.to_string(),
        "meters": [{ "address": address, "profile": profile.name, "transport": "tcp" }],
    });
    println!("{ready}");
    tracing::info!(tcp = %local, profile = %profile.name, address, speed = args.speed.unwrap_or(1.0), "serving");
    runner.run(shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

use chrono::Timelike;

/// `metertwin registers`: the register map of a profile.
pub fn registers(args: RegistersArgs) -> anyhow::Result<ExitCode> {
    let profile = Profile::resolve(&args.profile)?;
    let text = match args.format {
        Format::Markdown => metertwin::profile::doc::markdown(&profile),
        Format::Csv => metertwin::profile::doc::csv(&profile),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `metertwin check`: validate files; report every problem, not just the first.
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for path in &args.files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if detect_kind(&text) == FileKind::Scenario {
            match Scenario::load(path) {
                Ok(s) => println!("{}: ok (scenario {})", path.display(), s.name),
                Err(e) => {
                    eprintln!("{e}");
                    ok = false;
                }
            }
            continue;
        }
        match Profile::load(path) {
            Ok(p) => println!("{}: ok (profile {})", path.display(), p.name),
            Err(e) => {
                eprintln!("{e}");
                ok = false;
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `metertwin scenario FILE...`: run each scenario headless, as fast as
/// possible. Exit 2 if any is invalid, else 1 if any expectation fails.
pub fn scenario(args: ScenarioArgs) -> anyhow::Result<ExitCode> {
    let mut invalid = false;
    let mut failed = false;
    for path in &args.files {
        let sc = match Scenario::load(path) {
            Ok(sc) => sc,
            Err(e) => {
                eprintln!("{e}");
                invalid = true;
                continue;
            }
        };
        let mut engine = Engine::new(sc);
        if args.report.is_some() {
            let every = engine.scenario().report_every;
            engine.sample_every(every);
        }
        let elapsed = run_with_progress(&mut engine);
        let sc = engine.scenario();
        let outcomes: Vec<_> = engine.outcomes().into_iter().flatten().collect();
        let passed = outcomes.iter().filter(|o| o.passed).count();
        let span = (sc.end - sc.start).as_secs_f64();
        println!(
            "scenario {} ({}): {} to {} ({}), {} meter(s), seed {}",
            sc.name,
            path.display(),
            sc.start,
            sc.end,
            sc.time_zone,
            sc.meters.len(),
            sc.seed
        );
        println!(
            "  simulated {:.0} s in {:.3} s of wall time ({:.3e}x real time), {} steps, {} log entries",
            span,
            elapsed,
            span / elapsed.max(1e-9),
            engine.steps(),
            engine.log().len()
        );
        for (i, m) in sc.meters.iter().enumerate() {
            if let Some(s) = engine.snapshot(i) {
                println!(
                    "  meter {}: total active {:.3} kWh (import {:.3}, export {:.3}), relay {}, residual {:.3} kWh",
                    m.name,
                    s.total_active_kwh(),
                    s.import_active_kwh(),
                    s.export_active_kwh(),
                    if s.relay_closed { "closed" } else { "open" },
                    s.residual_kwh
                );
            }
        }
        if args.events {
            print!("{}", metertwin::scenario::report::log_text(&engine));
        }
        for o in &outcomes {
            println!("  {o}");
        }
        println!(
            "  result: {passed} passed, {} failed",
            outcomes.len() - passed
        );
        if passed != outcomes.len() {
            failed = true;
        }
        if let Some(dir) = &args.report {
            let dir = dir.join(&sc.name);
            metertwin::scenario::report::write_report(&engine, &dir)
                .with_context(|| format!("writing the report to {}", dir.display()))?;
            println!("  report: {}", dir.display());
        }
    }
    Ok(if invalid {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Run `engine` to its end, drawing a progress bar on stderr when it is a
/// terminal. Returns the wall time taken [s].
fn run_with_progress(engine: &mut Engine) -> f64 {
    use std::io::{IsTerminal, Write};
    // Wall time is measured only to report the speed; it never steers the run.
    #[allow(clippy::disallowed_methods)]
    let t0 = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let (start, end) = (engine.scenario().start, engine.scenario().end);
    let chunks = 200i64;
    let span = (end - start).as_millis();
    let mut last_draw = 0.0f64;
    for k in 1..=chunks {
        let to = start + metertwin::time::SimDuration::from_millis(span * k / chunks);
        engine.advance_to(to);
        let now = t0.elapsed().as_secs_f64();
        if tty && (now - last_draw > 0.1 || k == chunks) {
            last_draw = now;
            let p = engine.progress();
            let filled = (p * 40.0).round() as usize;
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r[{}{}] {:5.1}% {}",
                "#".repeat(filled),
                "-".repeat(40 - filled.min(40)),
                p * 100.0,
                engine.now()
            );
            let _ = err.flush();
        }
    }
    engine.run_to_end();
    if tty {
        let _ = write!(std::io::stderr(), "\r{}\r", " ".repeat(80));
    }
    t0.elapsed().as_secs_f64()
}
