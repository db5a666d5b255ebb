//! Starting the real binary and waiting for its ready line.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running `metertwin`, killed when dropped.
pub struct Twin {
    pub child: Child,
    pub ready: serde_json::Value,
    #[allow(dead_code)]
    pub stdout: BufReader<ChildStdout>,
}

impl Twin {
    /// Start `metertwin ARGS` and wait for its `{"event":"ready",...}` line.
    pub fn start(args: &[&str]) -> Twin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_metertwin"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start metertwin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read ready line");
        let ready: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        assert_eq!(ready["event"], "ready", "{line}");
        Twin {
            child,
            ready,
            stdout,
        }
    }

    /// The TCP address from the ready line.
    pub fn tcp(&self) -> std::net::SocketAddr {
        self.ready["tcp"]
            .as_str()
            .expect("tcp in ready line")
            .parse()
            .expect("socket address")
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two registers → f32, high word first.
pub fn f32_at(words: &[u16], i: usize) -> f32 {
    f32::from_bits((u32::from(words[i]) << 16) | u32::from(words[i + 1]))
}
