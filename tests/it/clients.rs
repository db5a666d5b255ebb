//! Raw Modbus clients that show the bytes: MBAP over TCP, and RTU over any
//! byte stream (a pty opened as a serial port, or RTU over TCP).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::rtu;

/// How long a master waits for a reply. Generous: tests run in parallel on
/// small, busy machines, and a late reply must not read as silence.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(2000);

/// After a complete reply, how long to listen for anything more.
const AFTER_REPLY: Duration = Duration::from_millis(100);

/// Whether `out` holds at least one complete RTU reply frame.
fn complete(out: &[u8]) -> bool {
    let need = match out.get(1) {
        Some(fc) if fc & 0x80 != 0 => 5,
        Some(0x01 | 0x03) => match out.get(2) {
            Some(&n) => 5 + usize::from(n),
            None => return false,
        },
        Some(0x05 | 0x10) => 8,
        Some(_) => return true,
        None => return false,
    };
    out.len() >= need
}

/// A Modbus TCP client that sends PDUs and returns reply PDUs.
pub struct Mbap {
    pub stream: TcpStream,
    transaction: u16,
}

impl Mbap {
    pub async fn connect(addr: std::net::SocketAddr) -> Mbap {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Mbap {
            stream,
            transaction: 0,
        }
    }

    /// The reply PDU, or `None` when nothing comes back in time.
    pub async fn request(&mut self, unit: u8, pdu: &[u8]) -> Option<Vec<u8>> {
        self.transaction = self.transaction.wrapping_add(1);
        let mut frame = self.transaction.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
        frame.push(unit);
        frame.extend_from_slice(pdu);
        self.stream.write_all(&frame).await.expect("write");
        let mut header = [0u8; 7];
        tokio::time::timeout(REPLY_TIMEOUT, self.stream.read_exact(&mut header))
            .await
            .ok()?
            .ok()?;
        assert_eq!(
            &header[..2],
            &self.transaction.to_be_bytes(),
            "transaction id"
        );
        assert_eq!(&header[2..4], &[0, 0], "protocol id");
        assert_eq!(header[6], unit, "unit id");
        let len = usize::from(u16::from_be_bytes([header[4], header[5]])) - 1;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await.expect("body");
        Some(body)
    }
}

/// An RTU master on any stream.
pub struct Rtu<S> {
    pub line: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Rtu<S> {
    /// Send raw bytes; collect what comes back until a complete reply frame
    /// is followed by a short silence, or [`REPLY_TIMEOUT`] passes.
    pub async fn raw(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.line.write_all(bytes).await.expect("write");
        self.line.flush().await.expect("flush");
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        let mut wait = REPLY_TIMEOUT;
        while let Ok(Ok(n)) = tokio::time::timeout(wait, self.line.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            wait = if complete(&out) {
                AFTER_REPLY
            } else {
                REPLY_TIMEOUT
            };
        }
        out
    }

    /// Send raw bytes and read exactly `len` bytes back: the reply and the
    /// time from the start of the write to its last byte (`None` when it
    /// does not come within [`REPLY_TIMEOUT`]).
    pub async fn timed(&mut self, bytes: &[u8], len: usize) -> Option<(Vec<u8>, Duration)> {
        let t0 = std::time::Instant::now();
        self.line.write_all(bytes).await.expect("write");
        let mut reply = vec![0u8; len];
        tokio::time::timeout(REPLY_TIMEOUT, self.line.read_exact(&mut reply))
            .await
            .ok()?
            .ok()?;
        Some((reply, t0.elapsed()))
    }

    /// The reply PDU to `pdu` for `unit`, or `None` on silence.
    pub async fn request(&mut self, unit: u8, pdu: &[u8]) -> Option<Vec<u8>> {
        let mut body = vec![unit];
        body.extend_from_slice(pdu);
        let reply = self.raw(&rtu(&body)).await;
        if reply.is_empty() {
            return None;
        }
        assert!(reply.len() >= 4, "short reply {reply:02X?}");
        assert_eq!(reply[0], unit, "address of {reply:02X?}");
        assert_eq!(rtu(&reply[..reply.len() - 2]), reply, "CRC of {reply:02X?}");
        Some(reply[1..reply.len() - 2].to_vec())
    }
}

/// Open a pty (or any serial device) as a master, 9600 8N1.
pub fn open_pty(path: &str) -> Rtu<tokio_serial::SerialStream> {
    use tokio_serial::SerialPortBuilderExt;
    let line = tokio_serial::new(path, 9600)
        .open_native_async()
        .expect("open the pty");
    Rtu { line }
}
