//! Modbus RTU (Modbus over Serial Line Specification and Implementation
//! Guide v1.02, §2.5.1): CRC, a sans-IO frame decoder, line timing, and an
//! async server generic over `AsyncRead + AsyncWrite` that serial ports,
//! pseudo-terminals and RTU-over-TCP connections share.

pub mod crc;
pub mod decoder;
pub mod server;
pub mod timer;

use std::time::Duration;

use crate::meter::settings::Parity;
use crate::meter::Snapshot;

pub use decoder::{Decoder, Frame, FrameKind};
pub use server::{Ended, FrameEnd, RtuOptions, RtuServer};
pub use timer::LineTimer;

/// Bits per character on the line: start, 8 data, parity, stop — 11 in
/// every case, since without parity the spec asks for 2 stop bits
/// (§2.5.1 "The format (11 bits) for each byte in RTU mode").
pub const BITS_PER_CHAR: u32 = 11;

/// Above this rate the gaps are fixed (§2.5.1.1): 1.75 ms for t3.5.
pub const FIXED_TIMING_ABOVE_BAUD: u32 = 19_200;

/// The settings of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    /// [bit/s]
    pub baud: u32,
    pub parity: Parity,
}

impl LineSettings {
    /// The line a meter listens on now.
    pub fn of(snapshot: &Snapshot) -> Self {
        Self {
            baud: snapshot.settings.baud,
            parity: snapshot.settings.parity,
        }
    }

    /// Time one character takes on the wire.
    pub fn char_time(&self) -> Duration {
        let baud = self.baud.max(1);
        Duration::from_nanos(u64::from(BITS_PER_CHAR) * 1_000_000_000 / u64::from(baud))
    }

    /// t3.5: the silence that ends a frame (§2.5.1.1); 1.75 ms above 19200
    /// baud.
    pub fn frame_gap(&self) -> Duration {
        if self.baud > FIXED_TIMING_ABOVE_BAUD {
            Duration::from_micros(1750)
        } else {
            self.char_time() * 7 / 2
        }
    }
}

impl std::fmt::Display for LineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        write!(f, "{} 8{p}1", self.baud)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_follow_the_baud_rate() {
        let l = LineSettings {
            baud: 9600,
            parity: Parity::Even,
        };
        // 11 bits × 3.5 / 9600 = 4.01 ms
        assert_eq!(l.frame_gap().as_micros(), 4010);
        let fast = LineSettings { baud: 115_200, ..l };
        assert_eq!(fast.frame_gap(), Duration::from_micros(1750));
        assert_eq!(l.to_string(), "9600 8E1");
    }
}
