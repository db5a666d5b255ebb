//! The subcommands of the binary.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use metertwin::cli::{CheckArgs, Format, MeterSpec, RegistersArgs, RunArgs, ScenarioArgs};
use metertwin::meter::Meter;
use metertwin::modbus::rtu::{LineSettings, RtuOptions};
use metertwin::modbus::serial::{self, Pty};
use metertwin::modbus::tcp::{self, Protocol, TcpOptions};
use metertwin::modbus::{Station, UnknownUnit};
use metertwin::profile::Profile;
use metertwin::runtime::state::{self, StateError, StateStore};
use metertwin::runtime::{DefaultHousehold, MeterHandle, Runner, ScenarioRunner, SimClock};
use metertwin::scenario::{detect_kind, Engine, FileKind, Scenario};
use metertwin::time::SimTime;

/// `metertwin run`: meters with the default household load (or a scenario's
/// meters with `--scenario`), on every endpoint asked for (TCP, RTU over TCP,
/// a pty, a serial device).
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = match &args.scenario {
        Some(path) => match Scenario::load(path) {
            Ok(sc) => Some(sc),
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    // One worker thread runs every endpoint's tasks; the runner (this
    // function's `block_on` future) runs on the main thread. A request costs
    // microseconds, so one worker carries far more than any master asks, and
    // with one worker no wake-ups pass between workers, which cost measurable
    // CPU per request (BENCHMARKS.md). Meter work (a new reading can take
    // 0.3–0.6 ms) stays off the request thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match scenario {
        Some(sc) => rt.block_on(serve_scenario(args, sc))?,
        None => {
            let profile = Profile::resolve(&args.profile)?;
            rt.block_on(serve(args, profile))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// `metertwin run --scenario FILE`: the scenario's meters on every endpoint.
async fn serve_scenario(args: RunArgs, sc: Scenario) -> anyhow::Result<()> {
    let speed = match args.speed {
        Some(s) => Some(s),
        None => sc.speed.factor(),
    };
    let listed: Vec<_> = sc
        .meters
        .iter()
        .map(|m| serde_json::json!({ "name": m.name, "address": m.address, "profile": m.profile.name }))
        .collect();
    let name = sc.name.clone();
    let (runner, handles) = ScenarioRunner::new(Engine::new(sc), speed);
    let mut extra = serde_json::Map::new();
    extra.insert("scenario".into(), name.clone().into());
    let drained = start_endpoints(&args, handles, listed, extra).await?;
    tracing::info!(scenario = %name, speed = ?speed, "serving a scenario");
    runner.run(drained).await;
    tracing::info!("shut down");
    Ok(())
}

async fn serve(args: RunArgs, profile: Profile) -> anyhow::Result<()> {
    // The only wall-clock reads of the program's simulated world: where the
    // meter's clock starts when the user gives no --start, and how long a
    // twin with --state was down.
    #[allow(clippy::disallowed_methods)]
    let start = args
        .start
        .unwrap_or_else(|| chrono::Local::now().naive_local());
    #[allow(clippy::disallowed_methods)]
    let now_unix_ms = chrono::Utc::now().timestamp_millis();
    let start = start.with_nanosecond(0).unwrap_or(start);
    let store = args.state.as_deref().map(StateStore::open).transpose()?;
    let saved = match &store {
        Some(store) => store.load()?,
        None => None,
    };
    let sim_start = match (&store, &saved) {
        (None, _) => {
            tracing::info!("no --state: the meters' state is kept in memory only and lost at exit");
            SimTime::from_datetime(start)
        }
        (Some(store), None) => {
            tracing::info!(file = %store.path().display(), "no saved state yet: starting factory-fresh");
            SimTime::from_datetime(start)
        }
        (Some(store), Some(file)) => {
            let resume = state::resume_at(file, now_unix_ms);
            tracing::info!(
                file = %store.path().display(),
                down_s = (resume - file.sim_at).as_secs_f64(),
                "restoring the saved state (the downtime counts as a power outage)"
            );
            if args.start.is_some() {
                tracing::warn!("--start is ignored: the saved clock runs on");
            }
            if args.baud.is_some() || args.parity.is_some() {
                tracing::warn!("--baud and --parity apply only to meters not in the saved state: saved settings win");
            }
            resume
        }
    };
    let specs = if args.meter.is_empty() {
        vec![MeterSpec {
            address: args
                .address
                .unwrap_or(profile.meter.default_settings.address),
            profile: None,
        }]
    } else {
        args.meter.clone()
    };
    if let (Some(store), Some(file)) = (&store, &saved) {
        if let Some(m) = file
            .meters
            .iter()
            .find(|m| !specs.iter().any(|s| s.address == m.slot))
        {
            return Err(StateError::new(
                store.path(),
                state::Problem::Mismatch(format!(
                    "it holds meter {} ({}), which this run does not have: give --meter {}, or another --state DIR",
                    m.slot, m.profile, m.slot
                )),
            )
            .into());
        }
    }
    let mut runner = Runner::new(SimClock::new(sim_start, args.speed.unwrap_or(1.0)));
    let mut handles = Vec::new();
    let mut listed = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if specs[..i].iter().any(|s| s.address == spec.address) {
            anyhow::bail!(
                "two meters at address {}: give each --meter its own",
                spec.address
            );
        }
        let profile_name = spec.profile.clone().unwrap_or_else(|| args.profile.clone());
        let profile = match &spec.profile {
            Some(p) => Profile::resolve(p)?,
            None => profile.clone(),
        };
        let mut config = profile.meter.clone();
        let settings = &mut config.default_settings;
        settings.address = spec.address;
        if let Some(b) = args.baud {
            settings.baud = b;
        }
        if let Some(p) = args.parity {
            settings.parity = p.into();
        }
        let saved_meter = saved
            .as_ref()
            .and_then(|f| f.meters.iter().find(|m| m.slot == spec.address));
        let meter = match (saved_meter, &store) {
            (Some(m), Some(store)) => {
                state::revive(config, m, sim_start).map_err(|p| p.in_file(store.path()))?
            }
            _ => Meter::new(config, args.seed.wrapping_add(i as u64), sim_start, start),
        };
        handles.push(runner.add_keyed(
            (spec.address, profile_name),
            meter,
            Arc::new(profile.map.clone()),
            Box::new(DefaultHousehold::default()),
        ));
        listed.push(serde_json::json!({ "address": spec.address, "profile": profile.name }));
    }
    let mut extra = serde_json::Map::new();
    if let Some(store) = store {
        extra.insert("state".into(), store.path().display().to_string().into());
        runner.persist_to(store, Duration::from_secs_f64(args.save_interval));
        // The state file exists from the first instant on.
        runner.save().context("cannot save the state (--state)")?;
    }
    let drained = start_endpoints(&args, handles, listed, extra).await?;
    tracing::info!(
        speed = args.speed.unwrap_or(1.0),
        meters = specs.len(),
        "serving"
    );
    runner.run(drained).await;
    tracing::info!("shut down");
    Ok(())
}

/// Start every endpoint asked for on one station of `handles`, print the
/// ready line, and return the future that resolves once a shutdown signal
/// came and the endpoints drained (the runner keeps serving until then).
async fn start_endpoints(
    args: &RunArgs,
    handles: Vec<MeterHandle>,
    listed: Vec<serde_json::Value>,
    extra: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<impl Future<Output = ()>> {
    let line = handles
        .first()
        .map(|h| LineSettings::of(&h.snapshot()))
        .context("no meter to serve")?;
    let station = Arc::new(Station::new(handles, UnknownUnit::GatewayException));
    let (stop, stopped) = watch::channel(false);
    let tcp_opts = TcpOptions {
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        idle: Duration::from_secs(args.idle_timeout),
    };
    let rtu_opts = RtuOptions {
        pace: args.pace,
        turnaround: Duration::from_millis(args.turnaround_ms),
        frame_end: args.frame_end.into(),
        // The runtime's clock runs here: time the line to the microsecond.
        precise_timer: true,
        ..RtuOptions::default()
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut ready = serde_json::Map::new();
    ready.insert("event".into(), "ready".into());
    ready.extend(extra);
    if !args.no_tcp {
        let listener = tcp::bind(args.tcp)
            .await
            .with_context(|| format!("cannot listen on {} (--tcp)", args.tcp))?;
        ready.insert("tcp".into(), listener.local_addr()?.to_string().into());
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(tcp::serve(
            listener,
            station,
            tcp_opts,
            Protocol::Mbap,
            stopped,
        ));
    }
    if let Some(addr) = args.rtu_tcp {
        let listener = tcp::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--rtu-tcp)"))?;
        ready.insert("rtu_tcp".into(), listener.local_addr()?.to_string().into());
        let protocol = Protocol::RtuOverTcp(line, rtu_opts);
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(tcp::serve(listener, station, tcp_opts, protocol, stopped));
    }
    if let Some(link) = &args.pty {
        let pty =
            Pty::create(link.as_deref()).context("cannot create a pseudo-terminal (--pty)")?;
        ready.insert("pty".into(), pty.path().display().to_string().into());
        if let Some(link) = pty.link() {
            ready.insert("pty_link".into(), link.display().to_string().into());
        }
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(pty.serve(line, station, rtu_opts, stopped));
    }
    if let Some(path) = &args.rtu {
        let port = serial::open_device(path, line)
            .with_context(|| format!("cannot open {} at {line} (--rtu)", path.display()))?;
        ready.insert("rtu".into(), path.display().to_string().into());
        let (station, stopped) = (Arc::clone(&station), stopped.clone());
        tasks.spawn(serial::serve_device(
            path.clone(),
            port,
            line,
            station,
            rtu_opts,
            stopped,
        ));
    }
    if tasks.is_empty() {
        anyhow::bail!(
            "no endpoint to serve: give --tcp, --rtu, --pty or --rtu-tcp (or drop --no-tcp)"
        );
    }
    ready.insert("meters".into(), listed.into());
    let signalled = shutdown_signal();
    println!("{}", serde_json::Value::Object(ready));
    tracing::info!(line = %line, "endpoints ready");
    // Shutdown: stop accepting, let in-flight requests finish (the runner
    // keeps running for them), then stop the meters.
    let drained = async move {
        signalled.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, all).await.is_err() {
            tracing::warn!("endpoints did not finish in time");
        }
    };
    Ok(drained)
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when the future is first polled, so that a signal sent right
/// after the ready line is printed cannot kill the process uncleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
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
