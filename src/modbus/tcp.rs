//! Modbus TCP: MBAP framing (Modbus Messaging on TCP/IP Implementation Guide
//! v1.0b §3.1.3) on top of the shared [`Station`] request path.
//!
//! MBAP header: transaction id (2), protocol id (2, must be 0), length (2,
//! unit id + PDU), unit id (1). A malformed header (protocol id not 0,
//! length 0, 1 or over 254) or a truncated PDU closes that connection; other
//! connections are unaffected. A well-framed PDU that is not a valid request
//! gets an exception, never more.
//!
//! The same accept loop serves RTU over TCP: RTU frames carried on a TCP
//! stream, as serial-to-Ethernet gateways forward them.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant, Sleep};

use super::pdu::MAX_PDU;
use super::rtu::{LineSettings, RtuOptions, RtuServer};
use super::station::{Reply, Station, UnknownUnit};
use super::stopped;

/// The silence that ends an RTU frame carried over TCP [decision]: TCP
/// segments arrive with jitter that has nothing to do with the line's
/// character time, so a wider gap than t3.5 is used. Frames are normally
/// recognised by length long before it.
pub const RTU_OVER_TCP_GAP: Duration = Duration::from_millis(20);

/// MBAP header length [bytes].
pub const MBAP_LEN: usize = 7;

/// Read buffer of a Modbus TCP connection [bytes]: a few maximal frames.
const READ_BUFFER: usize = 4 * (MBAP_LEN + MAX_PDU);

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("protocol id {0} is not 0 (Modbus)")]
    ProtocolId(u16),
    #[error("MBAP length {0} is outside 2–{max}", max = MAX_PDU + 1)]
    Length(u16),
    #[error("the peer closed the connection inside a {0}-byte PDU")]
    Truncated(usize),
    #[error("idle for too long")]
    Idle,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A parsed MBAP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mbap {
    pub transaction: u16,
    pub unit: u8,
    /// PDU length [bytes]
    pub pdu_len: usize,
}

/// Parse and check a 7-byte MBAP header.
pub fn parse_mbap(h: &[u8; MBAP_LEN]) -> Result<Mbap, FrameError> {
    let transaction = u16::from_be_bytes([h[0], h[1]]);
    let protocol = u16::from_be_bytes([h[2], h[3]]);
    let length = u16::from_be_bytes([h[4], h[5]]);
    if protocol != 0 {
        return Err(FrameError::ProtocolId(protocol));
    }
    if !(2..=(MAX_PDU as u16 + 1)).contains(&length) {
        return Err(FrameError::Length(length));
    }
    Ok(Mbap {
        transaction,
        unit: h[6],
        pdu_len: usize::from(length) - 1,
    })
}

/// The MBAP frame of a response.
pub fn frame_response(req: &Mbap, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MBAP_LEN + pdu.len());
    frame_response_into(req, pdu, &mut out);
    out
}

/// The MBAP frame of a response, in `out` (cleared first).
pub fn frame_response_into(req: &Mbap, pdu: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&req.transaction.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    out.push(req.unit);
    out.extend_from_slice(pdu);
}

/// Limits of a TCP listener.
#[derive(Debug, Clone, Copy)]
pub struct TcpOptions {
    /// Connections served at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// A connection with no request for this long is closed.
    pub idle: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            max_connections: 64,
            idle: Duration::from_secs(60),
        }
    }
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// Modbus TCP (MBAP header); unknown units get exception 0BH.
    Mbap,
    /// RTU frames over the stream, as a serial-to-Ethernet gateway forwards
    /// them; unknown units get silence, as on the line.
    RtuOverTcp(LineSettings, RtuOptions),
}

/// Serve one MBAP connection until the peer closes it, sends a bad header,
/// stays idle for `idle`, or `shutdown` turns true (a request already read
/// is answered first).
///
/// `idle` applies twice per request, as two timeouts would: from the end of
/// the previous request to a complete header, and from the header to a
/// complete PDU. A shutdown is noticed while waiting for a header only.
pub async fn serve_connection<S>(
    mut stream: S,
    station: &Station,
    idle: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Requests are parsed out of this buffer, so one read normally takes in
    // a whole request (or several pipelined ones), and a timer or shutdown
    // firing mid-read never loses bytes (`read` is cancel-safe).
    let mut buf = [0u8; READ_BUFFER];
    let mut filled = 0;
    let mut reply = Vec::with_capacity(MBAP_LEN + MAX_PDU);
    // One timer per connection, moved forward only when it fires early, and
    // one shutdown watcher: nothing to register and deregister per request
    // (BENCHMARKS.md: that was a measurable part of the CPU per request).
    let mut deadline = Instant::now() + idle;
    let timer = sleep_until(deadline);
    tokio::pin!(timer);
    let stop = stopped(shutdown.clone());
    tokio::pin!(stop);
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        deadline = Instant::now() + idle;
        while filled < MBAP_LEN {
            tokio::select! {
                r = stream.read(&mut buf[filled..]) => match r? {
                    0 => return Ok(()),
                    n => filled += n,
                },
                () = &mut timer => idle_expired(timer.as_mut(), deadline)?,
                () = &mut stop => return Ok(()),
            }
        }
        let mut header = [0u8; MBAP_LEN];
        header.copy_from_slice(&buf[..MBAP_LEN]);
        let mbap = parse_mbap(&header)?;
        let len = MBAP_LEN + mbap.pdu_len;
        deadline = Instant::now() + idle;
        while filled < len {
            tokio::select! {
                r = stream.read(&mut buf[filled..]) => match r? {
                    0 => return Err(FrameError::Truncated(mbap.pdu_len)),
                    n => filled += n,
                },
                () = &mut timer => idle_expired(timer.as_mut(), deadline)?,
            }
        }
        if let Reply::Pdu(resp) = station
            .handle_as(
                mbap.unit,
                &buf[MBAP_LEN..len],
                UnknownUnit::GatewayException,
            )
            .await
        {
            frame_response_into(&mbap, &resp, &mut reply);
            stream.write_all(&reply).await?;
        }
        buf.copy_within(len..filled, 0);
        filled -= len;
    }
}

/// The idle timer fired: an error if `deadline` has passed, otherwise set
/// it to `deadline` (it was armed for an earlier one).
fn idle_expired(timer: Pin<&mut Sleep>, deadline: Instant) -> Result<(), FrameError> {
    if Instant::now() >= deadline {
        return Err(FrameError::Idle);
    }
    timer.reset(deadline);
    Ok(())
}

/// Accept connections on `listener` until `shutdown` turns true, one task
/// each; then stop accepting and wait for the connections to finish their
/// request in hand.
pub async fn serve(
    listener: TcpListener,
    station: Arc<Station>,
    opts: TcpOptions,
    protocol: Protocol,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    // Connections refused since the last warning: a flood of connections
    // must not become a flood of log lines.
    let mut refused = 0u64;
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of ending the server.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if connections.len() >= opts.max_connections {
            drop(stream);
            refused += 1;
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(%peer, max = opts.max_connections, refused, "connection limit reached: closing new connections (refused = since the last warning)");
                last_warning = Some(tokio::time::Instant::now());
                refused = 0;
            }
            continue;
        }
        let _ = stream.set_nodelay(true);
        let station = Arc::clone(&station);
        let mut shutdown = shutdown.clone();
        connections.spawn(async move {
            tracing::debug!(%peer, "connection opened");
            let result = match protocol {
                Protocol::Mbap => {
                    serve_connection(stream, &station, opts.idle, &mut shutdown).await
                }
                Protocol::RtuOverTcp(line, rtu) => {
                    let rtu = RtuOptions {
                        idle: Some(opts.idle),
                        line: false,
                        reopen_on_change: false,
                        gap: Some(rtu.gap.unwrap_or(RTU_OVER_TCP_GAP)),
                        ..rtu
                    };
                    let mut stream = stream;
                    RtuServer::new(station, line, rtu)
                        .serve(&mut stream, &mut shutdown)
                        .await
                        .map(|_| ())
                        .map_err(FrameError::from)
                }
            };
            match result {
                Ok(()) => tracing::debug!(%peer, "connection closed"),
                Err(e) => tracing::debug!(%peer, error = %e, "connection closed"),
            }
        });
    }
    while connections.join_next().await.is_some() {}
}

/// Bind `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbap_header_parses_and_rejects() {
        let h = [0x12, 0x34, 0, 0, 0, 6, 1];
        assert_eq!(
            parse_mbap(&h).unwrap(),
            Mbap {
                transaction: 0x1234,
                unit: 1,
                pdu_len: 5
            }
        );
        assert!(matches!(
            parse_mbap(&[0, 1, 0, 1, 0, 6, 1]),
            Err(FrameError::ProtocolId(1))
        ));
        assert!(matches!(
            parse_mbap(&[0, 1, 0, 0, 0, 0, 1]),
            Err(FrameError::Length(0))
        ));
        assert!(matches!(
            parse_mbap(&[0, 1, 0, 0, 0xFF, 0xFF, 1]),
            Err(FrameError::Length(0xFFFF))
        ));
    }

    #[test]
    fn response_frame_echoes_transaction_and_unit() {
        let req = Mbap {
            transaction: 7,
            unit: 3,
            pdu_len: 5,
        };
        assert_eq!(
            frame_response(&req, &[0x83, 0x02]),
            vec![0, 7, 0, 0, 0, 3, 3, 0x83, 0x02]
        );
    }
}
