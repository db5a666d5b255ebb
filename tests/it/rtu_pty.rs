//! RTU on the twin's own pseudo-terminal, three meters on one line: each
//! answers its own address; garbage, bad CRCs, foreign replies and
//! truncated frames never cost a valid poll its answer.

use crate::clients::open_pty;
use crate::support::{rtu, Twin};

fn poll(unit: u8) -> Vec<u8> {
    // FC03, register 0001H (the meter's address), quantity 1.
    rtu(&[unit, 0x03, 0x00, 0x01, 0x00, 0x01])
}

fn answer(unit: u8) -> Vec<u8> {
    rtu(&[unit, 0x03, 0x02, 0x00, unit])
}

#[tokio::test]
async fn three_meters_on_one_pty_survive_a_noisy_bus() {
    let twin = Twin::start(&[
        "--no-tcp", "--pty", "--parity", "none", "--meter", "1", "--meter", "2", "--meter", "3",
    ]);
    assert!(twin.ready.get("tcp").is_none(), "--no-tcp: {}", twin.ready);
    let meters: Vec<u64> = twin.ready["meters"]
        .as_array()
        .expect("meters")
        .iter()
        .map(|m| m["address"].as_u64().expect("address"))
        .collect();
    assert_eq!(meters, [1, 2, 3]);
    let mut m = open_pty(&twin.endpoint("pty"));
    for unit in [1, 2, 3] {
        assert_eq!(m.raw(&poll(unit)).await, answer(unit), "unit {unit}");
    }
    // Not ours: silence.
    assert_eq!(m.raw(&poll(4)).await, Vec::<u8>::new());
    // Bad CRC: silence, then the next poll is answered.
    let mut bad = poll(2);
    bad[7] ^= 0xFF;
    assert_eq!(m.raw(&bad).await, Vec::<u8>::new());
    assert_eq!(m.raw(&poll(2)).await, answer(2));
    // Garbage in front of a poll.
    let noisy = [&[0x00, 0xFF, 0x10, 0x03, 0x7E][..], &poll(3)].concat();
    assert_eq!(m.raw(&noisy).await, answer(3));
    // A foreign slave's 125-register reply, then our poll.
    let mut foreign = vec![0x09, 0x03, 0xFA];
    foreign.extend((0..250u32).map(|i| (i * 31 + 7) as u8));
    let foreign = rtu(&foreign);
    assert_eq!(
        m.raw(&[foreign.as_slice(), &poll(1)].concat()).await,
        answer(1)
    );
    // A truncated FC10 announcing 240 bytes, then polls: all answered.
    let truncated = [0x01, 0x10, 0x00, 0x00, 0x00, 0x78, 0xF0, 0x00, 0x01, 0x00];
    assert_eq!(m.raw(&truncated).await, Vec::<u8>::new());
    for unit in [1, 2, 3, 1, 2, 3] {
        assert_eq!(
            m.raw(&poll(unit)).await,
            answer(unit),
            "after truncation, unit {unit}"
        );
    }
    // Broadcast FC10 password ← 5678: no reply, every meter changed.
    let broadcast = rtu(&[0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x16, 0x2E]);
    assert_eq!(m.raw(&broadcast).await, Vec::<u8>::new());
    for unit in [1, 2, 3] {
        let read = rtu(&[unit, 0x03, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(m.raw(&read).await, rtu(&[unit, 0x03, 0x02, 0x16, 0x2E]));
    }
}

#[tokio::test]
async fn clients_may_come_and_go_on_the_pty() {
    let twin = Twin::start(&["--pty", "--parity", "none"]);
    let path = twin.endpoint("pty");
    for _ in 0..3 {
        let mut m = open_pty(&path);
        assert_eq!(m.raw(&poll(1)).await, answer(1));
        drop(m);
    }
}

#[tokio::test]
async fn a_new_address_over_the_pty_applies_after_the_reply() {
    let twin = Twin::start(&["--pty", "--parity", "none", "--pace"]);
    let mut m = open_pty(&twin.endpoint("pty"));
    let set = rtu(&[0x01, 0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x07]);
    assert_eq!(
        m.raw(&set).await,
        rtu(&[0x01, 0x10, 0x00, 0x01, 0x00, 0x01])
    );
    assert_eq!(m.raw(&poll(1)).await, Vec::<u8>::new());
    assert_eq!(m.raw(&poll(7)).await, answer(7));
}

/// Regression: a client that keeps the pty open without polling cost the
/// twin most of a core. The pty master reports a hang-up until the first
/// client opens it, and the reactor kept that "read closed" readiness, so
/// every read returned EAGAIN and was retried at once. Idle now means idle.
#[tokio::test]
async fn an_idle_client_on_the_pty_costs_no_cpu() {
    let twin = Twin::start(&["--no-tcp", "--pty", "--parity", "none"]);
    let mut m = open_pty(&twin.endpoint("pty"));
    assert_eq!(m.raw(&poll(1)).await, answer(1));
    let (Some(before), t0) = (twin.cpu_time(), std::time::Instant::now()) else {
        return;
    };
    // A measurement window, not a wait for the server.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let used = twin.cpu_time().expect("cpu time") - before;
    let window = t0.elapsed();
    assert!(
        used < window / 5,
        "the twin used {used:?} of CPU in {window:?} with an idle client"
    );
    assert_eq!(m.raw(&poll(1)).await, answer(1));
}

/// `--frame-end length` answers a complete request at once; the default
/// (`silence`, the spec's framing) never answers sooner than t3.5 after it.
/// Over 20 polls the fastest is compared: a busy machine can delay some
/// replies, not make the default's fastest one early.
#[tokio::test]
async fn frame_end_length_answers_without_the_gap_and_silence_keeps_it() {
    // t3.5 at 9600 baud.
    let t35 = std::time::Duration::from_micros(4010);
    for (extra, fast) in [(&["--frame-end", "length"][..], true), (&[][..], false)] {
        let mut args = vec!["--no-tcp", "--pty", "--parity", "none"];
        args.extend_from_slice(extra);
        let twin = Twin::start(&args);
        let mut m = open_pty(&twin.endpoint("pty"));
        let mut fastest = std::time::Duration::MAX;
        for _ in 0..20 {
            let (reply, took) = m.timed(&poll(1), 7).await.expect("a reply");
            assert_eq!(reply, answer(1), "{extra:?}");
            fastest = fastest.min(took);
        }
        if fast {
            assert!(fastest < t35, "{extra:?}: fastest reply after {fastest:?}");
        } else {
            assert!(fastest >= t35, "{extra:?}: a reply after {fastest:?}");
        }
        // A wrong CRC at the request's length: silence; the next poll is
        // answered (the line resynchronises).
        let mut bad = poll(1);
        bad[6] ^= 0x5A;
        assert_eq!(m.raw(&bad).await, Vec::<u8>::new(), "{extra:?}");
        assert_eq!(m.raw(&poll(1)).await, answer(1), "{extra:?}");
        // FC10, its length from the byte count: password ← 4321 (10E1H).
        let set = rtu(&[0x01, 0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x10, 0xE1]);
        let (reply, _) = m.timed(&set, 8).await.expect("FC10 reply");
        assert_eq!(reply, rtu(&[0x01, 0x10, 0x00, 0x00, 0x00, 0x01]));
    }
}

/// `--rtu PATH` on a serial device the twin did not create: one end of a
/// socat pty pair stands in for a USB-RS485 adapter, the master opens the
/// other end. Exercises the real device path (open with line settings,
/// serve, answer), not the twin's own pty.
#[tokio::test]
async fn rtu_serves_an_existing_serial_device() {
    use std::io::BufRead;
    if !crate::support::have("socat", &["-V"]) {
        return;
    }
    let mut socat = std::process::Command::new("socat")
        .args(["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start socat");
    // socat names each pty on stderr ("PTY is /dev/pts/N") before it
    // starts relaying: that is its readiness signal.
    let mut lines = std::io::BufReader::new(socat.stderr.take().expect("stderr")).lines();
    let mut ptys = Vec::new();
    while ptys.len() < 2 {
        let line = lines
            .next()
            .expect("socat stderr")
            .expect("read socat stderr");
        if let Some(path) = line.split("PTY is ").nth(1) {
            ptys.push(path.trim().to_string());
        }
    }
    let twin = Twin::start(&[
        "--no-tcp", "--rtu", &ptys[0], "--parity", "none", "--meter", "7",
    ]);
    assert_eq!(twin.endpoint("rtu"), ptys[0]);
    let mut m = open_pty(&ptys[1]);
    assert_eq!(m.raw(&poll(7)).await, answer(7));
    assert_eq!(m.raw(&poll(1)).await, Vec::<u8>::new(), "not ours: silence");
    assert_eq!(m.raw(&poll(7)).await, answer(7));
    drop(twin);
    let _ = socat.kill();
    let _ = socat.wait();
}
