//! The RTU server: reads bytes, frames them with the [`Decoder`], serves each
//! request through the shared [`Station`] path, and puts the reply on the
//! line with the timing of a real slave (Modbus over Serial Line v1.02
//! §2.5.1.1: frames end on 3.5 character times of silence; a reply never
//! starts sooner than that after the request).
//!
//! Generic over `AsyncRead + AsyncWrite`, so serial ports, pseudo-terminals,
//! RTU-over-TCP connections and in-memory pipes share it.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::decoder::{Decoder, Frame, FrameKind};
use super::{crc, LineSettings};
use crate::modbus::station::{Reply, Station, UnknownUnit, BROADCAST};

/// How long the line may be idle before settings changes made elsewhere
/// are looked at.
const SETTINGS_POLL: Duration = Duration::from_millis(250);

/// Bytes read at once; small, so dropping garbage byte by byte stays cheap.
const READ_CHUNK: usize = 512;

/// How the server behaves on its medium.
#[derive(Debug, Clone, Copy, Default)]
pub struct RtuOptions {
    /// Put replies on the wire at the line's real speed.
    pub pace: bool,
    /// Extra delay between the end of a request and the reply.
    pub turnaround: Duration,
    /// The silence that ends a frame, when the medium's own timing is not
    /// the line's (RTU over TCP); `None`: t3.5 at the line's baud rate.
    pub gap: Option<Duration>,
    /// A serial line: a meter whose baud rate or parity differs from the
    /// line's cannot hear it, and the line follows a settings change.
    pub line: bool,
    /// End the session when the line settings change, so that the caller
    /// re-opens a real serial port with them.
    pub reopen_on_change: bool,
    /// Close after this long without a byte (RTU over TCP).
    pub idle: Option<Duration>,
}

/// Why [`RtuServer::serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// End of stream, idle timeout, or shutdown.
    Closed,
    /// A meter's baud rate or parity changed; the reply went out at the old
    /// settings. Re-open the port with these.
    LineChanged(LineSettings),
}

/// One RTU endpoint's state: the decoder and the line settings.
#[derive(Debug)]
pub struct RtuServer {
    station: std::sync::Arc<Station>,
    opts: RtuOptions,
    line: LineSettings,
    /// Each meter's line settings as last seen, to notice changes.
    seen: Vec<LineSettings>,
    decoder: Decoder,
}

impl RtuServer {
    pub fn new(station: std::sync::Arc<Station>, line: LineSettings, opts: RtuOptions) -> Self {
        let seen = station
            .meters()
            .iter()
            .map(|m| LineSettings::of(&m.snapshot()))
            .collect();
        Self {
            station,
            opts,
            line,
            seen,
            decoder: Decoder::new(),
        }
    }

    /// The line settings now.
    pub fn line(&self) -> LineSettings {
        self.line
    }

    fn gap(&self) -> Duration {
        self.opts.gap.unwrap_or_else(|| self.line.frame_gap())
    }

    /// Serve `stream` until it ends, `shutdown` turns true, or (with
    /// `reopen_on_change`) the line settings change. I/O errors are returned
    /// as they are (a pty master says EIO while no client has it open).
    pub async fn serve<S>(
        &mut self,
        stream: &mut S,
        shutdown: &mut watch::Receiver<bool>,
    ) -> std::io::Result<Ended>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut buf = [0u8; READ_CHUNK];
        let mut last_byte = Instant::now();
        loop {
            if *shutdown.borrow() {
                return Ok(Ended::Closed);
            }
            let n = if self.decoder.buffered() > 0 {
                match timeout(self.gap(), stream.read(&mut buf)).await {
                    Ok(r) => r?,
                    Err(_elapsed) => {
                        while let Some(frame) = self.decoder.silence() {
                            if let Some(end) = self.answer(stream, frame).await? {
                                return Ok(end);
                            }
                        }
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    r = stream.read(&mut buf) => r?,
                    r = shutdown.changed() => {
                        if r.is_err() {
                            return Ok(Ended::Closed);
                        }
                        continue;
                    }
                    _ = sleep(SETTINGS_POLL) => {
                        if let Some(end) = self.settings_changed() {
                            return Ok(end);
                        }
                        if self.opts.idle.is_some_and(|idle| last_byte.elapsed() >= idle) {
                            return Ok(Ended::Closed);
                        }
                        continue;
                    }
                }
            };
            if n == 0 {
                return Ok(Ended::Closed);
            }
            last_byte = Instant::now();
            self.decoder.push(&buf[..n]);
            while let Some(frame) = self.decoder.decode() {
                if let Some(end) = self.answer(stream, frame).await? {
                    return Ok(end);
                }
            }
        }
    }

    /// Serve one frame: silence for replies of other slaves, for deaf meters
    /// and unknown addresses; otherwise the station's reply, timed.
    async fn answer<S>(&mut self, stream: &mut S, frame: Frame) -> std::io::Result<Option<Ended>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ended_at = Instant::now();
        let unit = frame.address();
        if frame.kind == FrameKind::Reply {
            return Ok(None);
        }
        if self.opts.line && unit != BROADCAST {
            let deaf = self
                .station
                .find(unit)
                .is_some_and(|m| LineSettings::of(&m.snapshot()) != self.line);
            if deaf {
                tracing::debug!(unit, line = %self.line, "meter is on other line settings");
                return Ok(None);
            }
        }
        let reply = self
            .station
            .handle_as(unit, frame.pdu(), UnknownUnit::Silence)
            .await;
        if let Reply::Pdu(pdu) = reply {
            let mut adu = Vec::with_capacity(pdu.len() + 3);
            adu.push(unit);
            adu.extend_from_slice(&pdu);
            let adu = crc::append(&adu);
            // No sooner than t3.5 after the request (§2.5.1.1).
            sleep_until(ended_at + self.gap().max(self.opts.turnaround)).await;
            if self.opts.pace {
                write_paced(stream, &adu, self.line.char_time()).await?;
            } else {
                stream.write_all(&adu).await?;
                stream.flush().await?;
            }
        }
        Ok(self.settings_changed())
    }

    /// Notice a baud rate or parity change of any meter (SPEC §4: the new
    /// setting applies from the next frame). On a serial line the line
    /// follows the meter last changed.
    fn settings_changed(&mut self) -> Option<Ended> {
        let mut changed = None;
        for (seen, m) in self.seen.iter_mut().zip(self.station.meters()) {
            let now = LineSettings::of(&m.snapshot());
            if now != *seen {
                *seen = now;
                changed = Some(now);
            }
        }
        let new = changed.filter(|c| *c != self.line)?;
        tracing::info!(from = %self.line, to = %new, "line settings changed");
        self.line = new;
        if self.opts.reopen_on_change {
            Some(Ended::LineChanged(new))
        } else {
            None
        }
    }
}

/// Write `bytes` no faster than one character per `char_time`, so that a
/// master sees a reply take as long as on the real line.
async fn write_paced<S>(stream: &mut S, bytes: &[u8], char_time: Duration) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let start = Instant::now();
    let mut sent = 0;
    while sent < bytes.len() {
        // Characters whose transmission has started by now.
        let elapsed = start.elapsed().as_nanos();
        let due = (elapsed / char_time.as_nanos().max(1)) as usize + 1;
        let due = due.min(bytes.len());
        if due > sent {
            stream.write_all(&bytes[sent..due]).await?;
            stream.flush().await?;
            sent = due;
        } else {
            sleep_until(start + char_time * sent as u32).await;
        }
    }
    // The last character leaves the wire one character time later.
    sleep_until(start + char_time * bytes.len() as u32).await;
    Ok(())
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
