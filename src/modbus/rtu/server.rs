//! The RTU server: reads bytes, frames them with the [`Decoder`], serves each
//! request through the shared [`Station`] path, and puts the reply on the
//! line with the timing of a real slave (Modbus over Serial Line v1.02
//! §2.5.1.1: frames end on 3.5 character times of silence; a reply never
//! starts sooner than that after the request), or, with
//! [`FrameEnd::Length`], as soon as the request is complete.
//!
//! Generic over `AsyncRead + AsyncWrite`, so serial ports, pseudo-terminals,
//! RTU-over-TCP connections and in-memory pipes share it. The line's waits
//! come from a [`LineTimer`]: tokio's by default (so tests on a paused clock
//! control them), a sub-millisecond timerfd with
//! [`RtuOptions::precise_timer`].

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::decoder::{Decoder, Frame, FrameKind};
use super::timer::LineTimer;
use super::{crc, LineSettings};
use crate::modbus::station::{Reply, Station, UnknownUnit, BROADCAST};
use crate::modbus::stopped;

/// How often settings changes made elsewhere (and the idle limit) are
/// looked at.
const SETTINGS_POLL: Duration = Duration::from_millis(250);

/// Bytes read at once; small, so dropping garbage byte by byte stays cheap.
const READ_CHUNK: usize = 512;

/// When a request is complete and may be answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FrameEnd {
    /// As the serial line spec frames it: a request ends with 3.5
    /// character times of silence, and the reply starts no sooner than
    /// that after its last byte (t3.5: 4.01 ms at 9600 baud).
    #[default]
    Silence,
    /// As soon as the request's length (from its function code) is in and
    /// its CRC checks, as pymodbus and libmodbus answer: no wait. A frame
    /// whose length the function code does not tell, or whose CRC fails at
    /// that length, still waits for the silence / resynchronises.
    Length,
}

/// How the server behaves on its medium.
#[derive(Debug, Clone, Copy, Default)]
pub struct RtuOptions {
    /// Put replies on the wire at the line's real speed.
    pub pace: bool,
    /// Extra delay between the end of a request and the reply.
    pub turnaround: Duration,
    /// When a request may be answered.
    pub frame_end: FrameEnd,
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
    /// Time the line (silence, turnaround, pacing) with a sub-millisecond
    /// timerfd instead of tokio's 1 ms timer. Needs a runtime whose clock
    /// runs: leave it off on tokio's paused test clock.
    pub precise_timer: bool,
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
    /// Set up by the first [`RtuServer::serve`] (a timerfd needs the
    /// runtime).
    timer: Option<LineTimer>,
    /// The reply being sent (address, PDU, CRC); reused.
    adu: Vec<u8>,
}

/// What woke the serve loop.
enum Event {
    Read(usize),
    Silence,
    Poll,
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
            timer: None,
            adu: Vec::with_capacity(super::decoder::MAX_ADU),
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
        let precise = self.opts.precise_timer;
        self.timer.get_or_insert_with(|| {
            if precise {
                LineTimer::precise()
            } else {
                LineTimer::tokio()
            }
        });
        let mut buf = [0u8; READ_CHUNK];
        let mut last_byte = Instant::now();
        // One settings timer and one shutdown watcher for the session,
        // not one registered and dropped per request.
        let poll = sleep(SETTINGS_POLL);
        tokio::pin!(poll);
        let stop = stopped(shutdown.clone());
        tokio::pin!(stop);
        loop {
            if *shutdown.borrow() {
                return Ok(Ended::Closed);
            }
            let event = if self.decoder.buffered() > 0 {
                let silent_at = last_byte + self.gap();
                let timer = self.timer.get_or_insert_with(LineTimer::tokio);
                tokio::select! {
                    biased;
                    r = stream.read(&mut buf) => Event::Read(r?),
                    () = timer.sleep_until(silent_at) => Event::Silence,
                }
            } else {
                tokio::select! {
                    biased;
                    r = stream.read(&mut buf) => Event::Read(r?),
                    () = &mut stop => return Ok(Ended::Closed),
                    () = &mut poll => Event::Poll,
                }
            };
            match event {
                Event::Read(0) => return Ok(Ended::Closed),
                Event::Read(n) => {
                    last_byte = Instant::now();
                    let garbage_before = self.decoder.discarded();
                    self.decoder.push(&buf[..n]);
                    while let Some(frame) = self.decoder.decode() {
                        if let Some(end) = self.answer(stream, frame, last_byte).await? {
                            return Ok(end);
                        }
                    }
                    if self.decoder.discarded() != garbage_before {
                        // A peer sending garbage as fast as it can must not
                        // keep the worker from other connections for a whole
                        // scheduler budget of reads.
                        tokio::task::yield_now().await;
                    }
                }
                Event::Silence => {
                    while let Some(frame) = self.decoder.silence() {
                        if let Some(end) = self.answer(stream, frame, last_byte).await? {
                            return Ok(end);
                        }
                    }
                }
                Event::Poll => {
                    poll.as_mut().reset(Instant::now() + SETTINGS_POLL);
                    if let Some(end) = self.settings_changed() {
                        return Ok(end);
                    }
                    if self
                        .opts
                        .idle
                        .is_some_and(|idle| last_byte.elapsed() >= idle)
                    {
                        return Ok(Ended::Closed);
                    }
                }
            }
        }
    }

    /// Serve one frame whose last byte came in at `ended_at`: silence for
    /// replies of other slaves, for deaf meters and unknown addresses;
    /// otherwise the station's reply, timed from `ended_at`.
    async fn answer<S>(
        &mut self,
        stream: &mut S,
        frame: Frame,
        ended_at: Instant,
    ) -> std::io::Result<Option<Ended>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
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
            self.adu.clear();
            self.adu.push(unit);
            self.adu.extend_from_slice(&pdu);
            let crc = crc::crc16(&self.adu);
            self.adu.extend_from_slice(&crc.to_le_bytes());
            let wait = match self.opts.frame_end {
                // No sooner than t3.5 after the request (§2.5.1.1): the
                // meter's line's t3.5, also behind a gateway (RTU over TCP),
                // where the wider gap only ends frames of unknown length.
                // Such a frame was ended by that gap, so it is answered at
                // once.
                FrameEnd::Silence => self.line.frame_gap().max(self.opts.turnaround),
                FrameEnd::Length => self.opts.turnaround,
            };
            let char_time = self.line.char_time();
            let timer = self.timer.get_or_insert_with(LineTimer::tokio);
            let start = ended_at + wait;
            if start > Instant::now() {
                timer.sleep_until(start).await;
            }
            if self.opts.pace {
                write_paced(stream, &self.adu, start, char_time, timer).await?;
            } else {
                // No flush: on a serial port that is tcdrain, which would
                // block the worker thread until the reply is on the wire.
                stream.write_all(&self.adu).await?;
            }
        }
        let changed = self.settings_changed();
        if changed.is_some() {
            // The reply leaves at the old settings before the port is
            // re-opened at the new ones.
            stream.flush().await?;
        }
        Ok(changed)
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
/// master sees a reply take as long as on the real line. The first
/// character goes out at `due` (when the reply is due to start): the
/// characters follow from then, so that this task's own wake-up delay is
/// not added to the reply, unless it was more than a character late.
async fn write_paced<S>(
    stream: &mut S,
    bytes: &[u8],
    due: Instant,
    char_time: Duration,
    timer: &mut LineTimer,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let now = Instant::now();
    let start = if now.saturating_duration_since(due) < char_time {
        due.min(now)
    } else {
        now
    };
    let mut sent = 0;
    while sent < bytes.len() {
        // Characters whose transmission has started by now.
        let elapsed = start.elapsed().as_nanos();
        let started = (elapsed / char_time.as_nanos().max(1)) as usize + 1;
        let started = started.min(bytes.len());
        if started > sent {
            stream.write_all(&bytes[sent..started]).await?;
            sent = started;
        } else {
            timer.sleep_until(start + char_time * sent as u32).await;
        }
    }
    // The last character leaves the wire one character time later.
    timer
        .sleep_until(start + char_time * bytes.len() as u32)
        .await;
    Ok(())
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
