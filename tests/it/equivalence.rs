//! The same requests give the same answers and exceptions over RTU (pty),
//! TCP and RTU over TCP: every transport goes through one request path.

use crate::clients::{open_pty, Mbap, Rtu};
use crate::support::Twin;

/// (what, unit, request PDU, reply PDU; `None` = silence on every transport).
type Case = (&'static str, u8, &'static [u8], Option<&'static [u8]>);

/// The requests, in order.
/// In order: later requests see the state earlier writes left; each write is
/// undone before the next transport runs the list again.
const CASES: &[Case] = &[
    (
        "FC03 password, address, baud of unit 1",
        1,
        &[0x03, 0x00, 0x00, 0x00, 0x03],
        Some(&[0x03, 0x06, 0x1A, 0x0A, 0x00, 0x01, 0x00, 0x04]),
    ),
    (
        "FC03 address of unit 2",
        2,
        &[0x03, 0x00, 0x01, 0x00, 0x01],
        Some(&[0x03, 0x02, 0x00, 0x02]),
    ),
    (
        "FC01 relay closed",
        3,
        &[0x01, 0x00, 0x01, 0x00, 0x01],
        Some(&[0x01, 0x01, 0x01]),
    ),
    (
        "FC05 open relay",
        3,
        &[0x05, 0x00, 0x01, 0x00, 0x00],
        Some(&[0x05, 0x00, 0x01, 0x00, 0x00]),
    ),
    (
        "FC01 relay open",
        3,
        &[0x01, 0x00, 0x01, 0x00, 0x01],
        Some(&[0x01, 0x01, 0x00]),
    ),
    (
        "FC05 close relay",
        3,
        &[0x05, 0x00, 0x01, 0xFF, 0x00],
        Some(&[0x05, 0x00, 0x01, 0xFF, 0x00]),
    ),
    (
        "FC10 password ← 1234",
        1,
        &[0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x04, 0xD2],
        Some(&[0x10, 0x00, 0x00, 0x00, 0x01]),
    ),
    (
        "FC03 password 1234",
        1,
        &[0x03, 0x00, 0x00, 0x00, 0x01],
        Some(&[0x03, 0x02, 0x04, 0xD2]),
    ),
    (
        "FC10 password ← 6666 again",
        1,
        &[0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x1A, 0x0A],
        Some(&[0x10, 0x00, 0x00, 0x00, 0x01]),
    ),
    (
        "FC02: exception 01",
        1,
        &[0x02, 0x00, 0x00, 0x00, 0x01],
        Some(&[0x82, 0x01]),
    ),
    (
        "FC2B: exception 01",
        1,
        &[0x2B, 0x0E, 0x01, 0x00],
        Some(&[0xAB, 0x01]),
    ),
    (
        "FC03 at 0020H: exception 02",
        2,
        &[0x03, 0x00, 0x20, 0x00, 0x01],
        Some(&[0x83, 0x02]),
    ),
    (
        "FC03 quantity 126: exception 03",
        2,
        &[0x03, 0x00, 0x80, 0x00, 0x7E],
        Some(&[0x83, 0x03]),
    ),
    (
        "FC05 value 1234H: exception 03",
        3,
        &[0x05, 0x00, 0x01, 0x12, 0x34],
        Some(&[0x85, 0x03]),
    ),
    (
        "FC10 byte count ≠ 2 × quantity: exception 03",
        1,
        &[0x10, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x01, 0x00, 0x02],
        Some(&[0x90, 0x03]),
    ),
    (
        "FC10 baud code 7: exception 03",
        1,
        &[0x10, 0x00, 0x02, 0x00, 0x01, 0x02, 0x00, 0x07],
        Some(&[0x90, 0x03]),
    ),
    (
        "broadcast write: no reply",
        0,
        &[0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x1A, 0x0A],
        None,
    ),
];

/// A master that sends one request PDU and returns the reply PDU.
trait Master {
    async fn ask(&mut self, unit: u8, pdu: &[u8]) -> Option<Vec<u8>>;
}

impl Master for Mbap {
    async fn ask(&mut self, unit: u8, pdu: &[u8]) -> Option<Vec<u8>> {
        self.request(unit, pdu).await
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Master for Rtu<S> {
    async fn ask(&mut self, unit: u8, pdu: &[u8]) -> Option<Vec<u8>> {
        self.request(unit, pdu).await
    }
}

async fn run_cases(name: &str, master: &mut impl Master) {
    for (what, unit, pdu, reply) in CASES {
        let got = master.ask(*unit, pdu).await;
        assert_eq!(got.as_deref(), *reply, "{name}: {what}");
    }
}

#[tokio::test]
async fn rtu_tcp_and_rtu_over_tcp_answer_alike() {
    let twin = Twin::start(&[
        "--meter",
        "1",
        "--meter",
        "2",
        "--meter",
        "3=kpm31c",
        "--pty",
        "--parity",
        "none",
        "--rtu-tcp",
        "127.0.0.1:0",
    ]);
    let mut tcp = Mbap::connect(twin.socket("tcp")).await;
    run_cases("tcp", &mut tcp).await;
    // The one deliberate difference: an unknown unit is exception 0BH on
    // TCP and silence on a serial line.
    assert_eq!(
        tcp.request(9, &[0x03, 0, 0, 0, 1]).await,
        Some(vec![0x83, 0x0B])
    );

    let stream = tokio::net::TcpStream::connect(twin.socket("rtu_tcp"))
        .await
        .expect("connect");
    let mut rtu_tcp = Rtu { line: stream };
    run_cases("rtu over tcp", &mut rtu_tcp).await;
    assert_eq!(rtu_tcp.request(9, &[0x03, 0, 0, 0, 1]).await, None);

    let mut pty = open_pty(&twin.endpoint("pty"));
    run_cases("pty", &mut pty).await;
    assert_eq!(pty.request(9, &[0x03, 0, 0, 0, 1]).await, None);
    assert!(twin.stop().success(), "clean exit on SIGTERM");
}
