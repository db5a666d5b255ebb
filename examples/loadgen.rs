//! The load generator of the benchmark suite (`bench/run` drives it; see
//! `BENCHMARKS.md`). Not a test: it prints one JSON line of numbers.
//!
//! ```text
//! loadgen tcp ADDR [--conns N] [--spin] [--start A] [--count N] [--secs S] [--pid PID]
//! loadgen rtu DEVICE [--start A] [--count N] [--secs S] [--pace-baud B] [--pid PID]
//! loadgen startup [--runs N] -- PROGRAM ARGS...
//! ```
//!
//! * `tcp`: N connections, each a task with exactly one FC03 request
//!   outstanding (raw MBAP frames, no Modbus library in the way), on a
//!   single-threaded tokio runtime so it takes at most one core. Reports
//!   requests per second, latency p50/p99 over a window after a warm-up, and,
//!   with `--pid`, the server's CPU time (utime + stime from `/proc/PID/stat`)
//!   per request over the same window. With `--spin` the load generator
//!   never sleeps: its runtime polls the sockets in a loop (a task that only
//!   yields keeps it from parking), so a reply is taken in without the
//!   wake-up of an idle CPU, which on a VM costs more than a whole request.
//!   It then spends its core in full whatever the server does.
//! * `rtu`: one master polling FC03 over a serial device or pty (8N1), one
//!   request at a time. With `--pace-baud B` the master behaves as on a real
//!   line at B baud: the request arrives when its 8 characters would have
//!   been sent, and the master keeps t3.5 of silence after the last reply
//!   character has ended.
//! * `startup`: wall time from spawning PROGRAM to its first stdout line
//!   containing `"ready"`, over N launches.
//!
//! Built with `cargo build --release --example loadgen`.
#![allow(clippy::disallowed_methods)] // a load generator reads the wall clock

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use metertwin::modbus::rtu::{crc, LineTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Parser)]
#[command(about = "metertwin benchmark load generator (raw Modbus frames)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Modbus TCP: N connections, one FC03 outstanding each.
    Tcp {
        addr: SocketAddr,
        /// Concurrent connections.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Modbus RTU on a serial device or pty, 8N1.
    Rtu {
        device: String,
        /// Behave as a master on a real line at this baud rate (0: write at
        /// once, poll again at once).
        #[arg(long, default_value_t = 0)]
        pace_baud: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Time from launch to the ready line.
    Startup {
        #[arg(long, default_value_t = 50)]
        runs: usize,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// First register (accepts 0x…).
    #[arg(long, default_value = "0x30", value_parser = parse_u16)]
    start: u16,
    /// Registers per request.
    #[arg(long, default_value_t = 14)]
    count: u16,
    /// Unit id.
    #[arg(long, default_value_t = 1)]
    unit: u8,
    /// Measurement window [s].
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Warm-up before the window [s].
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    /// Server process whose CPU time to measure over the window.
    #[arg(long)]
    pid: Option<u32>,
    /// Never sleep: poll the sockets in a loop (TCP only).
    #[arg(long)]
    spin: bool,
}

fn parse_u16(s: &str) -> Result<u16, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| e.to_string())
}

/// CPU time of a process, all threads: (user, system) [s].
type CpuTime = (f64, f64);

/// The CPU time of a process; `None` if it is gone.
fn cpu_seconds(pid: &str) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here, in
    // ticks of USER_HZ, which is 100 on every Linux architecture this runs on.
    let ticks = |i: usize| Some(f.get(i)?.parse::<f64>().ok()? / 100.0);
    Some((ticks(11)?, ticks(12)?))
}

/// The `q`-quantile of sorted latencies [µs].
fn quantile_us(sorted_ns: &[u64], q: f64) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_ns.len() as f64 - 1.0) * q).round() as usize;
    sorted_ns[i] as f64 / 1000.0
}

/// What one connection or master saw: (completed at, latency) [ns from t0].
type Samples = Vec<(u64, u64)>;

fn report(
    samples: Vec<Samples>,
    errors: u64,
    window: (u64, u64),
    server_cpu: Option<CpuTime>,
    client_cpu: Option<CpuTime>,
) -> serde_json::Value {
    let mut lat: Vec<u64> = samples
        .into_iter()
        .flatten()
        .filter(|(at, _)| (window.0..window.1).contains(at))
        .map(|(_, l)| l)
        .collect();
    lat.sort_unstable();
    let secs = (window.1 - window.0) as f64 / 1e9;
    let n = lat.len() as f64;
    serde_json::json!({
        "requests": lat.len(),
        "errors": errors,
        "secs": secs,
        "rps": n / secs,
        "p50_us": quantile_us(&lat, 0.50),
        "p99_us": quantile_us(&lat, 0.99),
        "server_cpu_s": server_cpu.map(|(u, s)| u + s),
        "server_cpu_us_per_req": server_cpu.map(|(u, s)| (u + s) * 1e6 / n),
        // The server's own code (user time) and the kernel working for it
        // (system time: for TCP mostly the loopback send path).
        "server_user_us_per_req": server_cpu.map(|(u, _)| u * 1e6 / n),
        "server_sys_us_per_req": server_cpu.map(|(_, s)| s * 1e6 / n),
        "client_cpu_s": client_cpu.map(|(u, s)| u + s),
    })
}

/// Sample the server's and our own CPU time at the window's start and end.
struct CpuWindow {
    pid: Option<String>,
    server0: Option<CpuTime>,
    client0: Option<CpuTime>,
}

impl CpuWindow {
    fn open(pid: Option<u32>) -> Self {
        let pid = pid.map(|p| p.to_string());
        Self {
            server0: pid.as_deref().and_then(cpu_seconds),
            client0: cpu_seconds("self"),
            pid,
        }
    }

    fn close(self) -> (Option<CpuTime>, Option<CpuTime>) {
        let used = |now: Option<CpuTime>, then: Option<CpuTime>| {
            let ((u1, s1), (u0, s0)) = (now?, then?);
            Some((u1 - u0, s1 - s0))
        };
        let server = used(self.pid.as_deref().and_then(cpu_seconds), self.server0);
        let client = used(cpu_seconds("self"), self.client0);
        (server, client)
    }
}

async fn tcp_connection(
    addr: SocketAddr,
    c: &Common,
    t0: Instant,
    end: Duration,
) -> std::io::Result<(Samples, u64)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut req = [0u8; 12];
    req[2..7].copy_from_slice(&[0, 0, 0, 6, c.unit]);
    req[7] = 0x03;
    req[8..10].copy_from_slice(&c.start.to_be_bytes());
    req[10..12].copy_from_slice(&c.count.to_be_bytes());
    // Room for any FC03 reply (byte count ≤ 255) and more, so that a read
    // returning a whole reply leaves the buffer part-empty.
    let mut resp = vec![0u8; 9 + 256 + 64];
    let mut samples = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    let mut tid: u16 = 0;
    loop {
        let sent = Instant::now();
        if sent - t0 >= end {
            break;
        }
        tid = tid.wrapping_add(1);
        req[0..2].copy_from_slice(&tid.to_be_bytes());
        s.write_all(&req).await?;
        // One read normally takes the whole reply; an exception reply is 9
        // bytes, so the expected length is only known from the header.
        let mut got = 0;
        while got < 9 || got < 9 + usize::from(resp[8]) && resp[7] == 0x03 {
            let n = s.read(&mut resp[got..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            got += n;
        }
        if resp[7] != 0x03 || usize::from(resp[8]) != 2 * usize::from(c.count) {
            errors += 1;
            continue;
        }
        let done = Instant::now();
        if resp[0..2] != tid.to_be_bytes() {
            errors += 1;
        }
        samples.push((
            (done - t0).as_nanos() as u64,
            (done - sent).as_nanos() as u64,
        ));
    }
    Ok((samples, errors))
}

fn run_tcp(addr: SocketAddr, conns: usize, c: Common) -> anyhow::Result<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let c = std::sync::Arc::new(c);
        let t0 = Instant::now();
        let warm = Duration::from_secs_f64(c.warmup);
        let end = warm + Duration::from_secs_f64(c.secs);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..conns {
            let c = std::sync::Arc::clone(&c);
            tasks.spawn(async move { tcp_connection(addr, &c, t0, end).await });
        }
        if c.spin {
            // `yield_now` defers the task until the runtime has polled its
            // sockets without blocking, so this loop is a busy poll.
            tokio::spawn(async move {
                while t0.elapsed() < end {
                    tokio::task::yield_now().await;
                }
            });
        }
        tokio::time::sleep_until((t0 + warm).into()).await;
        let cpu = CpuWindow::open(c.pid);
        let w0 = (Instant::now() - t0).as_nanos() as u64;
        tokio::time::sleep_until((t0 + end).into()).await;
        let w1 = (Instant::now() - t0).as_nanos() as u64;
        let (server, client) = cpu.close();
        let mut all = Vec::new();
        let mut errors = 0;
        while let Some(r) = tasks.join_next().await {
            let (s, e) = r??;
            all.push(s);
            errors += e;
        }
        let mut out = report(all, errors, (w0, w1), server, client);
        out["mode"] = "tcp".into();
        out["conns"] = conns.into();
        out["count"] = c.count.into();
        Ok(out)
    })
}

/// Waits of the paced master: the same sub-millisecond timerfd as the
/// twin's line (`LineTimer`), so that the benchmark measures the twin, not
/// the master's sleep (`thread::sleep` is 50 µs or more late, tokio's timer
/// up to 1 ms).
struct MasterClock {
    rt: tokio::runtime::Runtime,
    timer: LineTimer,
}

impl MasterClock {
    fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let timer = rt.block_on(async { LineTimer::precise() });
        Ok(Self { rt, timer })
    }

    fn sleep_until(&mut self, t: Instant) {
        if t > Instant::now() {
            self.rt.block_on(self.timer.sleep_until(t.into()));
        }
    }
}

fn run_rtu(device: &str, pace_baud: u32, c: Common) -> anyhow::Result<serde_json::Value> {
    let mut port = tokio_serial::new(device, 9600)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        // A lost poll costs this much (a 26-register reply takes 80 ms on
        // the line at 9600 baud).
        .timeout(Duration::from_millis(300))
        .open()?;
    let mut body = vec![c.unit, 0x03];
    body.extend_from_slice(&c.start.to_be_bytes());
    body.extend_from_slice(&c.count.to_be_bytes());
    let req = crc::append(&body);
    let want = 5 + 2 * usize::from(c.count);
    let mut resp = vec![0u8; want];
    // Character time at 11 bits per character, and t3.5 [ns].
    let char_ns = if pace_baud > 0 {
        11_000_000_000 / u64::from(pace_baud)
    } else {
        0
    };
    let char_t = Duration::from_nanos(char_ns);
    let gap = char_t * 7 / 2;
    let t0 = Instant::now();
    let warm = Duration::from_secs_f64(c.warmup);
    let end = warm + Duration::from_secs_f64(c.secs);
    let mut cpu = None;
    let mut w0 = 0;
    let w1;
    let mut samples = Vec::new();
    let mut errors = 0;
    // Bytes received by each failed poll (for a report of what went wrong).
    let mut failures: Vec<usize> = Vec::new();
    let mut clock = MasterClock::new()?;
    let mut line_free = Instant::now();
    let _ = port.clear(tokio_serial::ClearBuffer::All);
    loop {
        // The request's first character goes out when the line is free
        // (or now, if the master is late): on the master's schedule, so
        // that its own wake-ups do not add up from poll to poll.
        let sent = line_free.max(Instant::now());
        if cpu.is_none() && sent - t0 >= warm {
            cpu = Some(CpuWindow::open(c.pid));
            w0 = (sent - t0).as_nanos() as u64;
        }
        if sent - t0 >= end {
            // The window ends where the next poll would start: a whole
            // number of poll cycles.
            w1 = (sent - t0).as_nanos() as u64;
            break;
        }
        // On a line the request reaches the slave's receiver when its last
        // character ends: hold it for its line time, then write it at once
        // (bytes written one by one would let a scheduling delay of the
        // master open a gap longer than t3.5 inside the frame).
        clock.sleep_until(sent + char_t * req.len() as u32);
        port.write_all(&req)?;
        let mut got = 0;
        let mut failed = false;
        while got < want {
            match port.read(&mut resp[got..]) {
                Ok(0) => {}
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    failed = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let done = Instant::now();
        if failed || !crc::check(&resp) || resp[1] != 0x03 {
            errors += 1;
            failures.push(got);
            let _ = port.clear(tokio_serial::ClearBuffer::All);
            line_free = done + Duration::from_millis(50);
            continue;
        }
        // The last character ends one character time after it arrives,
        // then the line stays silent for t3.5.
        line_free = done + char_t + gap;
        samples.push((
            (done - t0).as_nanos() as u64,
            (done - sent).as_nanos() as u64,
        ));
    }
    let (server, client) = cpu.map(CpuWindow::close).unwrap_or((None, None));
    let mut out = report(vec![samples], errors, (w0, w1), server, client);
    out["mode"] = "rtu".into();
    out["failed_polls_bytes_received"] = failures.into();
    out["count"] = c.count.into();
    out["pace_baud"] = pace_baud.into();
    if pace_baud > 0 {
        // The line's limit: request 8 + reply 5 + 2n characters, two t3.5.
        let chars = 8.0 + 5.0 + 2.0 * f64::from(c.count) + 7.0;
        let limit = f64::from(pace_baud) / 11.0 / chars;
        out["line_limit_pps"] = limit.into();
        out["fraction_of_limit"] = (out["rps"].as_f64().unwrap_or(0.0) / limit).into();
    }
    Ok(out)
}

fn run_startup(runs: usize, command: &[String]) -> anyhow::Result<serde_json::Value> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no program to launch"))?;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("\"ready\"") => break true,
                Some(Ok(_)) => {}
                _ => break false,
            }
        };
        let elapsed = t0.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        anyhow::ensure!(ready, "{program} exited without a ready line");
        ms.push(elapsed.as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let q = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    Ok(serde_json::json!({
        "mode": "startup",
        "runs": runs,
        "median_ms": q(0.5),
        "min_ms": ms[0],
        "p90_ms": q(0.9),
    }))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Tcp {
            addr,
            conns,
            common,
        } => run_tcp(addr, conns, common),
        Mode::Rtu {
            device,
            pace_baud,
            common,
        } => run_rtu(&device, pace_baud, common),
        Mode::Startup { runs, command } => run_startup(runs, &command),
    };
    match result {
        Ok(v) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(1)
        }
    }
}
