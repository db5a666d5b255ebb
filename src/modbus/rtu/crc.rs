//! CRC-16/MODBUS (Modbus over Serial Line v1.02 §2.5.1.2 and Appendix B):
//! polynomial A001H (reflected 8005H), initial value FFFFH, sent low byte
//! first.

/// The CRC of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Whether `frame` ends with the correct CRC of what precedes it (low byte
/// first). Frames shorter than 3 bytes are never valid.
pub fn check(frame: &[u8]) -> bool {
    let Some(split) = frame.len().checked_sub(2) else {
        return false;
    };
    if split == 0 {
        return false;
    }
    let (body, tail) = frame.split_at(split);
    crc16(body).to_le_bytes() == [tail[0], tail[1]]
}

/// `body` with its CRC appended (low byte first).
pub fn append(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    out.extend_from_slice(body);
    out.extend_from_slice(&crc16(body).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_frames() {
        // Slave 1, read 10 holding registers at 0000H: CRC CDC5H, sent C5 CD.
        assert_eq!(crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A]), 0xCDC5);
        assert!(check(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD]));
        // CRC-16/MODBUS check value of "123456789" is 4B37H.
        assert_eq!(crc16(b"123456789"), 0x4B37);
    }

    #[test]
    fn short_or_corrupt_frames_fail() {
        assert!(!check(&[]));
        assert!(!check(&[0xFF, 0xFF]));
        assert!(!check(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCE]));
    }

    #[test]
    fn append_then_check() {
        let f = append(&[0x11, 0x05, 0x00, 0x01, 0xFF, 0x00]);
        assert!(check(&f));
        assert_eq!(f.len(), 8);
    }
}
