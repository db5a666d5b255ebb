//! What the twin writes to stderr when it is not a terminal (a log file, a
//! CI job, `docker logs`): plain text, no colour escapes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn logs_to_a_pipe_carry_no_colour_escapes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metertwin"))
        .args(["run", "--tcp", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start metertwin");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("the ready line");
    assert!(ready.contains("\"ready\""), "{ready}");
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("the logs");
    assert!(child.wait().expect("wait").success());
    assert!(logs.contains("endpoints ready"), "{logs}");
    assert!(logs.contains("shut down"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour escapes in: {logs:?}");
}
