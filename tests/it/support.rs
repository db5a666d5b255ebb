//! Starting the twin and finding external tools.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `metertwin run`, killed when dropped.
pub struct Twin {
    child: Child,
    pub ready: serde_json::Value,
}

impl Twin {
    /// Start `metertwin run --tcp 127.0.0.1:0 ARGS…` and wait for its ready
    /// line.
    pub fn start(args: &[&str]) -> Twin {
        let mut all = vec![
            "run",
            "--tcp",
            "127.0.0.1:0",
            "--start",
            "2024-03-01 12:00:00",
        ];
        all.extend_from_slice(args);
        Self::start_raw(&all)
    }

    /// Start `metertwin ARGS…` exactly as given and wait for its ready line.
    pub fn start_raw(args: &[&str]) -> Twin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_metertwin"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start metertwin");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        let ready: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("ready line {line:?} is not JSON: {e}"));
        assert_eq!(ready["event"], "ready", "{line}");
        Twin { child, ready }
    }

    /// An endpoint from the ready line ("tcp", "rtu_tcp", "pty").
    pub fn endpoint(&self, key: &str) -> String {
        self.ready[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {}", self.ready))
            .to_string()
    }

    pub fn socket(&self, key: &str) -> std::net::SocketAddr {
        self.endpoint(key).parse().expect("socket address")
    }

    /// The Modbus TCP address from the ready line.
    pub fn tcp(&self) -> std::net::SocketAddr {
        self.socket("tcp")
    }

    /// Send SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait")
    }
}

impl Twin {
    /// Kill the process with SIGKILL (a crash) and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// CPU time (user + system, all threads) the process has used so far;
    /// `None` where /proc is not there.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name in parentheses; utime and stime
        // are the 14th and 15th of the line, in ticks of 1/100 s.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(std::time::Duration::from_millis(ticks * 10))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A fresh empty directory under the system's temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("metertwin-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` can be run. Missing tools skip the test with a notice,
/// unless METERTWIN_REQUIRE_TOOLS=1 (CI), where they fail it.
pub fn have(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("METERTWIN_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{program} is required (METERTWIN_REQUIRE_TOOLS=1) but not usable; run .ci/install-tools");
        }
        eprintln!("SKIPPED: {program} is not installed (run .ci/install-tools)");
    }
    ok
}

/// Python with pymodbus and pyserial.
pub fn have_pymodbus() -> bool {
    have("python3", &["-c", "import pymodbus, serial"])
}

/// The CRC-16/MODBUS of `body`, appended low byte first. Written here
/// again on purpose: the integration tests do not take the crate's CRC
/// (`metertwin::modbus::rtu::crc`) on its own word.
pub fn rtu(body: &[u8]) -> Vec<u8> {
    let mut crc: u16 = 0xFFFF;
    for &b in body {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    let mut v = body.to_vec();
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

/// Two registers → f32, high word first.
pub fn f32_at(words: &[u16], i: usize) -> f32 {
    f32::from_bits((u32::from(words[i]) << 16) | u32::from(words[i + 1]))
}
