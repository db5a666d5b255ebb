//! A sans-IO RTU frame decoder (Modbus over Serial Line v1.02 §2.5.1
//! "RTU transmission mode", §2.5.1.1 "Modbus message RTU framing").
//!
//! Bytes go in with [`Decoder::push`]; frames come out of
//! [`Decoder::decode`] (`None` = need more bytes). The decoder never reads a
//! clock: the driver tells it when the line has been silent for 3.5
//! character times by calling [`Decoder::silence`], which ends whatever is
//! buffered.
//!
//! How a frame is found, at the start of the buffer:
//! * **By length**, without waiting for the silence: the function code gives
//!   the length of a request *and* of a reply (another slave answering on a
//!   shared bus), and a candidate whose CRC checks is a frame.
//! * **By silence**: after a gap, a buffered frame whose length the decoder
//!   could not tell (an unknown function code, a malformed request) is a
//!   frame if its CRC checks over everything received, and no request
//!   recognised by length lies inside it (that would be garbage in front of
//!   a request whose CRC checks as a whole by chance).
//! * Otherwise the first byte is garbage: it is dropped and the scan starts
//!   again one byte later. So stray bytes, bad CRCs, truncated frames and
//!   foreign replies never cost the next valid frame its answer.

use super::crc;

/// Largest RTU frame [bytes]: address + 253-byte PDU + CRC (§2.5.1.1).
pub const MAX_ADU: usize = 256;
/// Smallest RTU frame [bytes]: address, function code, CRC.
pub const MIN_ADU: usize = 4;

/// What a frame looked like on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Its length is that of a request of its function code.
    Request,
    /// Its length is that of a response (another slave talking); a slave
    /// never answers it.
    Reply,
    /// Its length was only known from the silence that ended it.
    Unsized,
}

/// One CRC-valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Address, PDU and CRC, as received.
    pub bytes: Vec<u8>,
    pub kind: FrameKind,
}

impl Frame {
    /// The slave address (0 = broadcast).
    pub fn address(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    /// The PDU: function code and data, without address and CRC.
    pub fn pdu(&self) -> &[u8] {
        let end = self.bytes.len().saturating_sub(2);
        self.bytes.get(1..end).unwrap_or(&[])
    }
}

/// A frame length that a function code allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Len {
    /// This many bytes, CRC included.
    Known(usize),
    /// Not known until the buffer holds more bytes.
    Pending,
}

/// The request and reply lengths of a frame starting with `b` (address and
/// function code present). The length fields are read where the Modbus
/// Application Protocol v1.1b3 §6 puts them.
pub(super) fn lengths(b: &[u8]) -> [Option<Len>; 2] {
    let at = |i: usize, extra: usize| {
        b.get(i)
            .map_or(Len::Pending, |&n| Len::Known(extra + usize::from(n)))
    };
    let fixed = |n: usize| Some(Len::Known(n));
    match b.get(1).copied().unwrap_or(0) {
        // Read coils / discrete inputs / holding / input registers.
        0x01..=0x04 => [fixed(8), Some(at(2, 5))],
        // Write single coil / register, diagnostics: the reply echoes.
        0x05 | 0x06 | 0x08 => [fixed(8), None],
        // Read exception status; get comm event counter; get comm event log;
        // report server id.
        0x07 => [fixed(4), fixed(5)],
        0x0B => [fixed(4), fixed(8)],
        0x0C | 0x11 => [fixed(4), Some(at(2, 5))],
        // Write multiple coils / registers: byte count at offset 6.
        0x0F | 0x10 => [Some(at(6, 9)), fixed(8)],
        // Read / write file record: byte count at offset 2.
        0x14 | 0x15 => [Some(at(2, 5)), None],
        // Mask write register: the reply echoes.
        0x16 => [fixed(10), None],
        // Read/write multiple registers: write byte count at offset 10.
        0x17 => [Some(at(10, 13)), Some(at(2, 5))],
        // Read FIFO queue: the reply's byte count is a 16-bit field.
        0x18 => {
            let reply = match (b.get(2), b.get(3)) {
                (Some(&hi), Some(&lo)) => Len::Known(6 + usize::from(u16::from_be_bytes([hi, lo]))),
                _ => Len::Pending,
            };
            [fixed(6), Some(reply)]
        }
        // Read device identification (MEI type 0EH).
        0x2B if b.get(2) == Some(&0x0E) => [fixed(7), None],
        // An exception response of any function.
        0x81..=0xFF => [None, fixed(5)],
        _ => [None, None],
    }
}

/// The incremental decoder. Holds at most about [`MAX_ADU`] bytes plus one
/// read's worth.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes dropped as garbage so far (for logs and tests).
    discarded: u64,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes waiting for the rest of their frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes dropped as garbage so far.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// The next frame recognised by length; `None` = need more bytes (or a
    /// silence). Garbage in front of a frame is dropped on the way.
    pub fn decode(&mut self) -> Option<Frame> {
        self.scan(false)
    }

    /// The line has been silent for 3.5 characters: nothing more belongs to
    /// what is buffered. Returns the next frame found in it; call until
    /// `None`, after which the buffer is empty.
    pub fn silence(&mut self) -> Option<Frame> {
        let frame = self.scan(true);
        if frame.is_none() {
            self.discarded += self.buf.len() as u64;
            self.buf.clear();
        }
        frame
    }

    fn take(&mut self, n: usize, kind: FrameKind) -> Option<Frame> {
        let bytes = self.buf.drain(..n).collect();
        Some(Frame { bytes, kind })
    }

    /// Find a frame at the start of the buffer, dropping garbage bytes until
    /// one is found or more bytes are needed. `ended`: no more bytes will
    /// join what is buffered.
    fn scan(&mut self, ended: bool) -> Option<Frame> {
        // Garbage is skipped by moving `off` and dropped once at the end:
        // a flood of random bytes costs one pass, not a shift of the buffer
        // per dropped byte.
        let mut off = 0;
        let found = loop {
            let b = &self.buf[off..];
            if b.is_empty() || (b.len() < 2 && !ended) {
                break None;
            }
            match candidate(b, ended) {
                Candidate::Frame(n, kind) => break Some((n, kind)),
                Candidate::Wait => break None,
                Candidate::Garbage => off += 1,
            }
        };
        self.discarded += off as u64;
        self.buf.drain(..off);
        found.and_then(|(n, kind)| self.take(n, kind))
    }
}

/// What the bytes at the start of `b` are.
enum Candidate {
    /// A frame of this many bytes.
    Frame(usize, FrameKind),
    /// Possibly a frame: wait for more bytes or the silence.
    Wait,
    /// The first byte cannot start a frame.
    Garbage,
}

fn candidate(b: &[u8], ended: bool) -> Candidate {
    let mut need_more = false;
    let mut known_fc = false;
    let kinds = [FrameKind::Request, FrameKind::Reply];
    for (len, kind) in lengths(b).into_iter().zip(kinds) {
        match len {
            None => {}
            Some(Len::Pending) => {
                known_fc = true;
                need_more = true;
            }
            Some(Len::Known(n)) => {
                known_fc = true;
                if !(MIN_ADU..=MAX_ADU).contains(&n) {
                    continue;
                }
                if b.len() < n {
                    need_more = true;
                } else if crc::check(&b[..n]) {
                    return Candidate::Frame(n, kind);
                }
            }
        }
    }
    if ended {
        // Everything buffered may be one frame of a length the function
        // code did not tell; but that is CRC alone, and a request
        // recognised by length *and* CRC further on is the better reading.
        // Garbage whose CRC register happens to end at FFFFH makes garbage +
        // request CRC-valid as a whole (1 in 65536 per start, and every
        // dropped byte is a new start); preferring the request keeps the
        // poll.
        let n = b.len();
        if (MIN_ADU..=MAX_ADU).contains(&n) && crc::check(b) && !holds_request(&b[1..]) {
            return Candidate::Frame(n, FrameKind::Unsized);
        }
    } else if (need_more || !known_fc) && b.len() < MAX_ADU {
        // Wait for the rest, or for the silence that ends it.
        return Candidate::Wait;
    }
    Candidate::Garbage
}

/// Whether a request recognised by length and CRC starts somewhere in `b`
/// and ends within it. Only called when a whole buffer already checks as
/// one frame, which is rare.
fn holds_request(b: &[u8]) -> bool {
    (0..b.len()).any(|i| {
        let b = &b[i..];
        matches!(lengths(b)[0], Some(Len::Known(n))
            if (MIN_ADU..=MAX_ADU.min(b.len())).contains(&n) && crc::check(&b[..n]))
    })
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
pub(super) mod tests;
