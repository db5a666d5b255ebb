//! Serial endpoints for the RTU server: a real serial device, and a
//! pseudo-terminal the twin creates so that mbpoll, pymodbus or a SCADA can
//! open it like a port (Modbus over Serial Line v1.02 §2.5: 8 data bits,
//! parity, 1 stop bit; SPEC §4 "Serial line").

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_serial::{DataBits, SerialPortBuilderExt, SerialStream, StopBits};

use super::rtu::{Ended, LineSettings, RtuOptions, RtuServer};
use super::station::Station;
use crate::meter::settings::Parity;

/// How long to wait before trying a pty again while no client has it open.
const NO_CLIENT_BACKOFF: Duration = Duration::from_millis(20);
/// How long to wait before re-opening a serial device that failed.
const DEVICE_RETRY: Duration = Duration::from_secs(1);

/// Open a serial device with these line settings: 8 data bits, 1 stop bit.
pub fn open_device(path: &Path, line: LineSettings) -> io::Result<SerialStream> {
    let parity = match line.parity {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    };
    tokio_serial::new(path.to_string_lossy(), line.baud)
        .data_bits(DataBits::Eight)
        .stop_bits(StopBits::One)
        .parity(parity)
        .open_native_async()
        .map_err(io::Error::from)
}

/// Serve a real serial device until shutdown. A baud rate or parity change
/// written over the line re-opens it with the new settings after the reply
/// went out; a device that fails (unplugged) is re-opened every second.
pub async fn serve_device(
    path: PathBuf,
    mut port: SerialStream,
    line: LineSettings,
    station: Arc<Station>,
    opts: RtuOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let opts = RtuOptions {
        line: true,
        reopen_on_change: true,
        ..opts
    };
    let mut server = RtuServer::new(station, line, opts);
    loop {
        match server.serve(&mut port, &mut shutdown).await {
            Ok(Ended::Closed) => return,
            Ok(Ended::LineChanged(new)) => {
                tracing::info!(path = %path.display(), line = %new, "re-opening serial port");
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "serial port failed");
                tokio::time::sleep(DEVICE_RETRY).await;
            }
        }
        if *shutdown.borrow() {
            return;
        }
        let line = server.line();
        loop {
            match open_device(&path, line) {
                Ok(p) => {
                    port = p;
                    break;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot re-open serial port");
                    tokio::select! {
                        _ = tokio::time::sleep(DEVICE_RETRY) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }
}

/// A pseudo-terminal: the twin serves the master side; clients open
/// [`Pty::path`] (or the symlink) as a serial port.
///
/// While no client has the pty open, the master reports a hang-up. Tokio
/// keeps "read closed" readiness once seen, so a master registered with the
/// reactor while nobody had the pty open would stay "readable" for good and
/// every read would spin on `EAGAIN`. So the master itself is never
/// registered: the twin checks for a client with a zero-timeout `poll`, and
/// serves each client on a fresh registration of a copy of the master.
#[derive(Debug)]
pub struct Pty {
    master: serialport::TTYPort,
    path: PathBuf,
    link: Option<PathBuf>,
}

impl Pty {
    /// Create a pty; with `link`, make it a symlink to the pty's path
    /// (replacing an older symlink, never a regular file).
    pub fn create(link: Option<&Path>) -> io::Result<Self> {
        let (mut master, slave) = serialport::TTYPort::pair().map_err(io::Error::from)?;
        let path = tokio_serial::SerialPort::name(&slave)
            .map(PathBuf::from)
            .ok_or_else(|| io::Error::other("the pty has no name"))?;
        // Keeping the slave open would queue replies for the next client;
        // without it the master reports a hang-up until a client opens it.
        drop(slave);
        // Reads of the master (only to look for a client) never wait.
        tokio_serial::SerialPort::set_timeout(&mut master, Duration::ZERO)
            .map_err(io::Error::from)?;
        if let Some(link) = link {
            if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
                std::fs::remove_file(link)?;
            }
            std::os::unix::fs::symlink(&path, link).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot link {}: {e}", link.display()))
            })?;
        }
        Ok(Self {
            master,
            path,
            link: link.map(Path::to_path_buf),
        })
    }

    /// The path clients open (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The symlink, if one was asked for.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// Whether a client has the pty open: a zero-length read after a
    /// zero-timeout `poll`, which says "hang-up" (broken pipe) while nobody
    /// has it open, "timed out" or "readable" otherwise; no byte is taken.
    fn has_client(&mut self) -> io::Result<bool> {
        match io::Read::read(&mut self.master, &mut []) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The master, registered anew with the reactor, for one client.
    fn session(&self) -> io::Result<SerialStream> {
        let copy = self.master.try_clone_native().map_err(io::Error::from)?;
        SerialStream::try_from(copy).map_err(io::Error::from)
    }

    /// Serve the pty until shutdown. Clients may come and go: with nobody
    /// there the twin looks again every 20 ms; EIO on the master means the
    /// client left. Linux ptys carry neither baud rate nor parity, so a
    /// settings change only changes the timing (gaps, pacing).
    pub async fn serve(
        mut self,
        line: LineSettings,
        station: Arc<Station>,
        opts: RtuOptions,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let opts = RtuOptions {
            line: true,
            reopen_on_change: false,
            ..opts
        };
        let mut server = RtuServer::new(station, line, opts);
        loop {
            let backoff = match self
                .has_client()
                .and_then(|there| there.then(|| self.session()).transpose())
            {
                Ok(None) => NO_CLIENT_BACKOFF,
                Ok(Some(mut stream)) => match server.serve(&mut stream, &mut shutdown).await {
                    Ok(_) => break,
                    // EIO: the client left.
                    Err(e) if e.raw_os_error() == Some(5) => Duration::ZERO,
                    Err(e) => {
                        tracing::warn!(pty = %self.path.display(), error = %e, "pty error");
                        NO_CLIENT_BACKOFF * 10
                    }
                },
                Err(e) => {
                    tracing::warn!(pty = %self.path.display(), error = %e, "pty error");
                    NO_CLIENT_BACKOFF * 10
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => break,
            }
        }
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }
}
