//! Modbus TCP limits: connection limit, idle timeout, malformed MBAP,
//! truncated PDUs, graceful shutdown.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clients::Mbap;
use crate::support::Twin;

/// Whether the server closes `s` within `within`.
async fn closed(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(within, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn connections_above_the_limit_are_closed_at_once() {
    let twin = Twin::start(&["--max-connections", "2"]);
    let addr = twin.socket("tcp");
    let mut a = Mbap::connect(addr).await;
    let mut b = Mbap::connect(addr).await;
    assert!(a.request(1, &[0x03, 0, 1, 0, 1]).await.is_some());
    assert!(b.request(1, &[0x03, 0, 1, 0, 1]).await.is_some());
    let mut c = TcpStream::connect(addr).await.expect("connect");
    assert!(
        closed(&mut c, Duration::from_secs(2)).await,
        "third connection closed"
    );
    drop(a);
    // A slot frees up once the server has seen the close.
    let mut served = false;
    for _ in 0..50 {
        let mut d = Mbap::connect(addr).await;
        if d.request(1, &[0x03, 0, 1, 0, 1]).await.is_some() {
            served = true;
            break;
        }
    }
    assert!(served, "a freed slot is used again");
    assert!(b.request(1, &[0x03, 0, 1, 0, 1]).await.is_some());
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let twin = Twin::start(&["--idle-timeout", "1"]);
    let mut s = TcpStream::connect(twin.socket("tcp"))
        .await
        .expect("connect");
    assert!(closed(&mut s, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn malformed_mbap_closes_that_connection_only() {
    let twin = Twin::start(&[]);
    let addr = twin.socket("tcp");
    let mut good = Mbap::connect(addr).await;
    for bad in [
        &[0, 1, 0, 1, 0, 6, 1, 0x03, 0, 0, 0, 1][..], // protocol id 1
        &[0, 1, 0, 0, 0, 0, 1],                       // length 0
        &[0, 1, 0, 0, 0x01, 0x00, 1],                 // length 256: too long
    ] {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(bad).await.expect("write");
        assert!(closed(&mut s, Duration::from_secs(2)).await, "{bad:02X?}");
    }
    // Truncated PDU: the header announces 6 bytes, 3 come, then EOF.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&[0, 1, 0, 0, 0, 6, 1, 0x03, 0])
        .await
        .expect("write");
    s.shutdown().await.expect("shutdown");
    assert!(closed(&mut s, Duration::from_secs(2)).await);
    // A well-framed but invalid PDU: an exception, and the connection lives.
    assert_eq!(good.request(1, &[0x03, 0, 0]).await, Some(vec![0x83, 0x03]));
    assert_eq!(
        good.request(1, &[0x03, 0, 1, 0, 1]).await,
        Some(vec![0x03, 2, 0, 1])
    );
}

#[tokio::test]
async fn shutdown_lets_connections_go_and_exits_cleanly() {
    let twin = Twin::start(&["--rtu-tcp", "127.0.0.1:0"]);
    let mut c = Mbap::connect(twin.socket("tcp")).await;
    assert!(c.request(1, &[0x03, 0, 1, 0, 1]).await.is_some());
    let status = twin.stop();
    assert!(status.success(), "{status:?}");
    assert!(closed(&mut c.stream, Duration::from_secs(2)).await);
}
