//! Modbus PDUs: request parsing with the spec's limits, response and
//! exception encoding (Modbus Application Protocol v1.1b3 §6, §7; SPEC §4
//! "Function codes").
//!
//! Parsing never panics: every length is checked before it is used.

/// FC01 read coils.
pub const READ_COILS: u8 = 0x01;
/// FC03 read holding registers.
pub const READ_HOLDING_REGISTERS: u8 = 0x03;
/// FC05 write single coil.
pub const WRITE_SINGLE_COIL: u8 = 0x05;
/// FC10 write multiple registers.
pub const WRITE_MULTIPLE_REGISTERS: u8 = 0x10;

/// Most registers one FC03 may read (spec §6.3).
pub const MAX_READ_REGISTERS: u16 = 0x007D;
/// Most coils one FC01 may read (spec §6.1).
pub const MAX_READ_COILS: u16 = 0x07D0;
/// Most registers one FC10 may write (spec §6.12).
pub const MAX_WRITE_REGISTERS: u16 = 0x007B;
/// Largest PDU [bytes] (spec §4.1).
pub const MAX_PDU: usize = 253;

/// Exception codes this slave sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exception {
    IllegalFunction = 0x01,
    IllegalDataAddress = 0x02,
    IllegalDataValue = 0x03,
    /// Refused in the present state (remote relay command in local mode).
    ServerDeviceFailure = 0x04,
    /// No meter answers to this unit id [decision, SPEC §4 "TCP"].
    GatewayTargetFailed = 0x0B,
}

/// A request the twin serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    ReadCoils { start: u16, count: u16 },
    ReadHoldingRegisters { start: u16, count: u16 },
    WriteSingleCoil { address: u16, value: u16 },
    WriteMultipleRegisters { start: u16, values: Vec<u16> },
}

impl Request {
    pub fn function(&self) -> u8 {
        match self {
            Request::ReadCoils { .. } => READ_COILS,
            Request::ReadHoldingRegisters { .. } => READ_HOLDING_REGISTERS,
            Request::WriteSingleCoil { .. } => WRITE_SINGLE_COIL,
            Request::WriteMultipleRegisters { .. } => WRITE_MULTIPLE_REGISTERS,
        }
    }

    /// Whether the request changes state (the only kind a broadcast carries).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::WriteSingleCoil { .. } | Request::WriteMultipleRegisters { .. }
        )
    }
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Parse and validate a request PDU (function code first). `Err` carries the
/// exception to answer; an empty PDU yields `IllegalFunction`.
pub fn parse_request(pdu: &[u8]) -> Result<Request, Exception> {
    let Some(&fc) = pdu.first() else {
        return Err(Exception::IllegalFunction);
    };
    let data = &pdu[1..];
    let value = Exception::IllegalDataValue;
    match fc {
        READ_COILS | READ_HOLDING_REGISTERS => {
            if data.len() != 4 {
                return Err(value);
            }
            let (start, count) = (be16(data, 0).ok_or(value)?, be16(data, 2).ok_or(value)?);
            let max = if fc == READ_COILS {
                MAX_READ_COILS
            } else {
                MAX_READ_REGISTERS
            };
            if count == 0 || count > max {
                return Err(value);
            }
            if u32::from(start) + u32::from(count) > 0x1_0000 {
                return Err(Exception::IllegalDataAddress);
            }
            Ok(if fc == READ_COILS {
                Request::ReadCoils { start, count }
            } else {
                Request::ReadHoldingRegisters { start, count }
            })
        }
        WRITE_SINGLE_COIL => {
            if data.len() != 4 {
                return Err(value);
            }
            let address = be16(data, 0).ok_or(value)?;
            let v = be16(data, 2).ok_or(value)?;
            if v != 0xFF00 && v != 0x0000 {
                return Err(value);
            }
            Ok(Request::WriteSingleCoil { address, value: v })
        }
        WRITE_MULTIPLE_REGISTERS => {
            if data.len() < 5 {
                return Err(value);
            }
            let start = be16(data, 0).ok_or(value)?;
            let count = be16(data, 2).ok_or(value)?;
            let bytes = usize::from(data[4]);
            if count == 0
                || count > MAX_WRITE_REGISTERS
                || bytes != 2 * usize::from(count)
                || data.len() != 5 + bytes
            {
                return Err(value);
            }
            if u32::from(start) + u32::from(count) > 0x1_0000 {
                return Err(Exception::IllegalDataAddress);
            }
            let values = data[5..]
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Ok(Request::WriteMultipleRegisters { start, values })
        }
        _ => Err(Exception::IllegalFunction),
    }
}

/// The exception response PDU for function `fc`.
pub fn exception_pdu(fc: u8, ex: Exception) -> Vec<u8> {
    vec![fc | 0x80, ex as u8]
}

/// FC03 response PDU.
pub fn registers_pdu(words: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 2 * words.len());
    out.push(READ_HOLDING_REGISTERS);
    out.push((2 * words.len()) as u8);
    for w in words {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out
}

/// FC01 response PDU: bits packed LSB first.
pub fn coils_pdu(bits: &[bool]) -> Vec<u8> {
    let n = bits.len().div_ceil(8);
    let mut out = vec![0u8; 2 + n];
    out[0] = READ_COILS;
    out[1] = n as u8;
    for (i, &b) in bits.iter().enumerate() {
        if b {
            out[2 + i / 8] |= 1 << (i % 8);
        }
    }
    out
}

/// FC05 response: an echo of the request.
pub fn write_coil_pdu(address: u16, value: u16) -> Vec<u8> {
    let mut out = vec![WRITE_SINGLE_COIL];
    out.extend_from_slice(&address.to_be_bytes());
    out.extend_from_slice(&value.to_be_bytes());
    out
}

/// FC10 response: start and quantity.
pub fn write_registers_pdu(start: u16, count: u16) -> Vec<u8> {
    let mut out = vec![WRITE_MULTIPLE_REGISTERS];
    out.extend_from_slice(&start.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_holding_registers_parses() {
        // fc 03, start 0030H, quantity 14
        assert_eq!(
            parse_request(&[0x03, 0x00, 0x30, 0x00, 0x0E]),
            Ok(Request::ReadHoldingRegisters {
                start: 0x30,
                count: 14
            })
        );
    }

    #[test]
    fn quantity_limits_give_illegal_data_value() {
        let cases: &[&[u8]] = &[
            &[0x03, 0x00, 0x00, 0x00, 0x00],                   // quantity 0
            &[0x03, 0x00, 0x00, 0x00, 0x7E],                   // 126 registers
            &[0x01, 0x00, 0x01, 0x07, 0xD1],                   // 2001 coils
            &[0x03, 0x00, 0x00, 0x00],                         // truncated
            &[0x05, 0x00, 0x01, 0x12, 0x34],                   // coil value neither FF00 nor 0000
            &[0x10, 0x00, 0x00, 0x00, 0x01, 0x04, 0, 1, 0, 2], // byte count ≠ 2 × quantity
            &[0x10, 0x00, 0x00, 0x00, 0x7C, 0xF8],             // 124 registers
            &[0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0, 1],       // fewer bytes than announced
        ];
        for pdu in cases {
            assert_eq!(
                parse_request(pdu),
                Err(Exception::IllegalDataValue),
                "{pdu:02X?}"
            );
        }
    }

    #[test]
    fn other_function_codes_are_illegal() {
        for fc in [0x00, 0x02, 0x04, 0x06, 0x0F, 0x17, 0x2B, 0x41, 0xFF] {
            assert_eq!(
                parse_request(&[fc, 0, 0, 0, 1]),
                Err(Exception::IllegalFunction),
                "fc {fc:02X}"
            );
        }
        assert_eq!(parse_request(&[]), Err(Exception::IllegalFunction));
    }

    #[test]
    fn ranges_past_ffff_are_illegal_addresses() {
        assert_eq!(
            parse_request(&[0x03, 0xFF, 0xFF, 0x00, 0x02]),
            Err(Exception::IllegalDataAddress)
        );
    }

    #[test]
    fn responses_encode_as_in_the_spec() {
        assert_eq!(
            registers_pdu(&[0x4359, 0x0000]),
            vec![0x03, 0x04, 0x43, 0x59, 0x00, 0x00]
        );
        assert_eq!(coils_pdu(&[true]), vec![0x01, 0x01, 0x01]);
        assert_eq!(
            exception_pdu(0x03, Exception::IllegalDataAddress),
            vec![0x83, 0x02]
        );
        assert_eq!(
            write_coil_pdu(1, 0xFF00),
            vec![0x05, 0x00, 0x01, 0xFF, 0x00]
        );
        assert_eq!(
            write_registers_pdu(0x0410, 6),
            vec![0x10, 0x04, 0x10, 0x00, 0x06]
        );
    }
}
