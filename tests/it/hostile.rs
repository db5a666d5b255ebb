//! Hostile input on every transport: random bytes at a high rate, every
//! function code, oversized quantities and byte counts, MBAP lengths 0 and
//! 65535, thousands of connections, slow and idle clients. The twin stays
//! up and keeps answering valid requests on other connections.

use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clients::{Mbap, Rtu};
use crate::support::{rtu, Twin};

/// A valid poll (FC03, password) and its reply.
const POLL: [u8; 5] = [0x03, 0, 0, 0, 1];

/// Spray random bytes at `addr` from `n` connections for `for_`.
async fn spray(addr: std::net::SocketAddr, n: usize, for_: Duration, seed: u64) -> u64 {
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n {
        tasks.spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + k as u64);
            let until = Instant::now() + for_;
            let mut sent = 0u64;
            while Instant::now() < until {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    continue;
                };
                // Drain whatever comes back so the twin never blocks on us.
                let (mut r, mut w) = s.split();
                let drain = async {
                    let mut buf = [0u8; 512];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                };
                let write = async {
                    let mut buf = [0u8; 256];
                    while Instant::now() < until {
                        let len = rng.random_range(1..buf.len());
                        rng.fill_bytes(&mut buf[..len]);
                        if w.write_all(&buf[..len]).await.is_err() {
                            break;
                        }
                        sent += len as u64;
                        tokio::task::yield_now().await;
                    }
                };
                tokio::select! { _ = drain => {}, _ = write => {} }
            }
            sent
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.unwrap_or(0);
    }
    total
}

#[tokio::test]
async fn random_bytes_on_tcp_and_rtu_over_tcp_never_stop_valid_answers() {
    let mut twin = Twin::start(&["--rtu-tcp", "127.0.0.1:0", "--speed", "60"]);
    let (tcp, rtu_tcp) = (twin.socket("tcp"), twin.socket("rtu_tcp"));
    let seed: u64 = rand::rng().random();
    eprintln!("spray seed {seed}");
    let noise = tokio::spawn(async move {
        let a = spray(tcp, 4, Duration::from_secs(2), seed);
        let b = spray(rtu_tcp, 4, Duration::from_secs(2), seed ^ 0xFF);
        let (a, b) = tokio::join!(a, b);
        a + b
    });
    let mut good = Mbap::connect(tcp).await;
    let mut good_rtu = Rtu {
        line: TcpStream::connect(rtu_tcp).await.expect("connect"),
    };
    let mut polls = 0;
    while !noise.is_finished() {
        assert_eq!(
            good.request(1, &POLL).await,
            Some(vec![0x03, 2, 0x1A, 0x0A])
        );
        assert_eq!(
            good_rtu.request(1, &POLL).await,
            Some(vec![0x03, 2, 0x1A, 0x0A])
        );
        polls += 1;
    }
    let sent = noise.await.expect("noise");
    eprintln!("{sent} random bytes sent, {polls} polls answered meanwhile");
    assert!(sent > 10_000, "noise at a high rate: {sent} bytes");
    assert!(twin.alive());
}

#[tokio::test]
async fn every_function_code_is_answered_or_refused() {
    let twin = Twin::start(&["--rtu-tcp", "127.0.0.1:0"]);
    let mut tcp = Mbap::connect(twin.socket("tcp")).await;
    let mut rtu_c = Rtu {
        line: TcpStream::connect(twin.socket("rtu_tcp"))
            .await
            .expect("connect"),
    };
    let mut blast = Vec::new();
    for fc in 0..=255u8 {
        // A short body of plausible length; read-only addresses so no
        // setting changes.
        let pdu = [fc, 0x00, 0x30, 0x00, 0x01];
        let reply = tcp
            .request(1, &pdu)
            .await
            .unwrap_or_else(|| panic!("FC {fc:02X}: no reply"));
        match fc {
            // Served: a reply or a data exception, never "illegal function".
            0x01 | 0x03 | 0x05 | 0x10 => assert!(
                reply[0] == fc || (reply[0] == fc | 0x80 && reply[1] != 0x01),
                "FC {fc:02X}: {reply:02X?}"
            ),
            _ => assert_eq!(
                reply,
                vec![fc | 0x80, 0x01],
                "FC {fc:02X}: illegal function"
            ),
        }
        blast.extend_from_slice(&rtu(&[1, fc, 0x00, 0x30, 0x00, 0x01]));
    }
    // RTU: a sample one by one, then all 256 back to back.
    // (Codes whose request has another fixed length, e.g. 07H, are garbage
    // in this shape and get silence.)
    for fc in [0x00u8, 0x02, 0x04, 0x06, 0x41, 0x64, 0x7F] {
        let r = rtu_c.request(1, &[fc, 0x00, 0x30, 0x00, 0x01]).await;
        assert_eq!(r, Some(vec![fc | 0x80, 0x01]), "RTU FC {fc:02X}");
    }
    let _ = rtu_c.raw(&blast).await;
    // Both connections still serve.
    assert_eq!(tcp.request(1, &POLL).await, Some(vec![0x03, 2, 0x1A, 0x0A]));
    assert_eq!(
        rtu_c.request(1, &POLL).await,
        Some(vec![0x03, 2, 0x1A, 0x0A])
    );
}

#[tokio::test]
async fn oversized_quantities_and_byte_counts_get_exception_03() {
    let twin = Twin::start(&[]);
    let mut c = Mbap::connect(twin.tcp()).await;
    let cases: [&[u8]; 9] = [
        &[0x03, 0, 0, 0, 0],                   // 0 registers
        &[0x03, 0, 0, 0, 126],                 // 126 registers
        &[0x03, 0, 0, 0xFF, 0xFF],             // 65535 registers
        &[0x01, 0, 1, 0x07, 0xD1],             // 2001 coils
        &[0x01, 0, 1, 0xFF, 0xFF],             // 65535 coils
        &[0x10, 0, 0, 0, 1, 4, 0, 1, 0, 2],    // byte count 4 for 1 register
        &[0x10, 0, 0, 0, 2, 255, 0, 1, 0, 2],  // byte count 255, 4 bytes follow
        &[0x10, 0, 0, 0xFF, 0xFF, 0xFE, 0, 1], // 65535 registers
        &[0x10, 0, 0, 0, 124, 248, 0, 0],      // 124 registers announced
    ];
    for pdu in cases {
        assert_eq!(
            c.request(1, pdu).await,
            Some(vec![pdu[0] | 0x80, 0x03]),
            "{pdu:02X?}"
        );
    }
    // The password was not touched by any of them.
    assert_eq!(c.request(1, &POLL).await, Some(vec![0x03, 2, 0x1A, 0x0A]));
}

#[tokio::test]
async fn mbap_lengths_0_and_65535_close_only_their_connection() {
    let twin = Twin::start(&[]);
    let mut good = Mbap::connect(twin.tcp()).await;
    for header in [[0, 1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0xFF, 0xFF, 1]] {
        let mut s = TcpStream::connect(twin.tcp()).await.expect("connect");
        s.write_all(&header).await.expect("write");
        // Tail bytes that a 65535-byte PDU would swallow.
        let _ = s.write_all(&[0x03; 64]).await;
        let mut buf = [0u8; 16];
        let r = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "{header:02X?}: closed, got {r:?}"
        );
        assert_eq!(
            good.request(1, &POLL).await,
            Some(vec![0x03, 2, 0x1A, 0x0A])
        );
    }
}

#[tokio::test]
async fn thousands_of_connections_are_refused_cleanly_above_the_limit() {
    let mut twin = Twin::start(&["--max-connections", "32"]);
    let addr = twin.tcp();
    let mut held = Vec::new();
    for _ in 0..32 {
        held.push(Mbap::connect(addr).await);
    }
    // 2000 more, 250 at a time: each is accepted and closed at once.
    let mut closed = 0;
    for _ in 0..8 {
        let mut wave = tokio::task::JoinSet::new();
        for _ in 0..250 {
            wave.spawn(async move {
                let Ok(mut s) = TcpStream::connect(addr).await else {
                    return true; // refused outright is clean too
                };
                let _ = s.write_all(&[0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]).await;
                let mut buf = [0u8; 16];
                matches!(
                    tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
                    Ok(Ok(0)) | Ok(Err(_))
                )
            });
        }
        while let Some(r) = wave.join_next().await {
            closed += usize::from(r.unwrap_or(false));
        }
    }
    assert_eq!(closed, 2000, "every connection above the limit is closed");
    // The ones inside the limit were never disturbed.
    for c in &mut held {
        assert_eq!(c.request(1, &POLL).await, Some(vec![0x03, 2, 0x1A, 0x0A]));
    }
    assert!(twin.alive());
}

#[tokio::test]
async fn slow_and_idle_clients_do_not_hold_up_others() {
    let twin = Twin::start(&["--idle-timeout", "2"]);
    let addr = twin.tcp();
    // Idle: connected, never sends.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    // Slow: one byte every 30 ms (well inside the idle timeout).
    let slow = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        for b in [0, 7, 0, 0, 0, 6, 1, 0x03, 0, 0, 0, 1] {
            s.write_all(&[b]).await.expect("write");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let mut reply = [0u8; 11];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut reply))
            .await
            .expect("in time")
            .expect("read");
        reply
    });
    let mut good = Mbap::connect(addr).await;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        assert_eq!(
            good.request(1, &POLL).await,
            Some(vec![0x03, 2, 0x1A, 0x0A])
        );
    }
    assert_eq!(
        slow.await.expect("slow client"),
        [0, 7, 0, 0, 0, 5, 1, 0x03, 2, 0x1A, 0x0A]
    );
    let mut buf = [0u8; 4];
    let r = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "idle client closed: {r:?}"
    );
    assert_eq!(
        good.request(1, &POLL).await,
        Some(vec![0x03, 2, 0x1A, 0x0A])
    );
}

#[tokio::test]
async fn random_bytes_on_a_pty_never_stop_valid_answers() {
    let mut twin = Twin::start(&["--no-tcp", "--pty", "--parity", "none"]);
    let mut m = crate::clients::open_pty(&twin.endpoint("pty"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rand::rng().random());
    let mut sent = 0;
    for _ in 0..20 {
        // 1 kB of noise at the line's full rate, then a silence and a poll.
        let mut noise = vec![0u8; 1024];
        rng.fill_bytes(&mut noise);
        m.line.write_all(&noise).await.expect("write");
        sent += noise.len();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Drop whatever the noise provoked (it may hold a valid frame).
        let mut buf = [0u8; 512];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(60), m.line.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
        }
        assert_eq!(m.request(1, &POLL).await, Some(vec![0x03, 2, 0x1A, 0x0A]));
    }
    assert!(sent >= 20_000);
    assert!(twin.alive());
}
