//! Modbus TCP: MBAP framing (Modbus Messaging on TCP/IP Implementation Guide
//! v1.0b §3.1.3) on top of the shared [`Station`] request path.
//!
//! MBAP header: transaction id (2), protocol id (2, must be 0), length (2,
//! unit id + PDU), unit id (1). A malformed header closes that connection;
//! other connections are unaffected.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::pdu::MAX_PDU;
use super::station::{Reply, Station};

/// MBAP header length [bytes].
pub const MBAP_LEN: usize = 7;

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("protocol id {0} is not 0 (Modbus)")]
    ProtocolId(u16),
    #[error("MBAP length {0} is outside 2–{max}", max = MAX_PDU + 1)]
    Length(u16),
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
    out.extend_from_slice(&req.transaction.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    out.push(req.unit);
    out.extend_from_slice(pdu);
    out
}

/// Serve one connection until the peer closes it or sends a bad frame.
pub async fn serve_connection<S>(mut stream: S, station: &Station) -> Result<(), FrameError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut header = [0u8; MBAP_LEN];
    let mut pdu = [0u8; MAX_PDU];
    loop {
        match stream.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let mbap = parse_mbap(&header)?;
        let body = &mut pdu[..mbap.pdu_len];
        stream.read_exact(body).await?;
        if let Reply::Pdu(resp) = station.handle(mbap.unit, body).await {
            stream.write_all(&frame_response(&mbap, &resp)).await?;
        }
    }
}

/// Accept connections on `listener` forever, one task each.
pub async fn serve(listener: TcpListener, station: Arc<Station>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of ending the server.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let station = Arc::clone(&station);
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, &station).await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
        });
    }
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
