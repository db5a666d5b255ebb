//! The request path shared by every transport (SPEC §4): validation → meter
//! lookup by unit id → register image → reply, exception or silence.
//!
//! A [`Station`] is the set of meters behind one port or bus line.

use crate::image::{self, ImageError};
use crate::meter::{CommandError, Snapshot};
use crate::runtime::MeterHandle;

use super::pdu::{self, Exception, Request};

/// What the transport sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A response PDU (function code first).
    Pdu(Vec<u8>),
    /// Nothing: broadcast, meter off, or (on a serial line) not for us.
    Silence,
}

/// What to do with a unit id no meter answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownUnit {
    /// Exception 0BH, as a gateway would (TCP) [decision].
    GatewayException,
    /// Stay silent, as a device on a shared serial line must.
    Silence,
}

/// The broadcast unit id: writes go to every meter, nobody answers.
pub const BROADCAST: u8 = 0;

/// The meters behind one port.
#[derive(Debug, Clone)]
pub struct Station {
    meters: Vec<MeterHandle>,
    unknown: UnknownUnit,
}

fn image_exception(e: &ImageError) -> Exception {
    match e {
        ImageError::Address { .. } => Exception::IllegalDataAddress,
        ImageError::Value { .. } => Exception::IllegalDataValue,
    }
}

fn command_exception(e: &CommandError) -> Exception {
    match e {
        CommandError::OutOfRange { .. } | CommandError::Tariff(_) => Exception::IllegalDataValue,
        CommandError::NotSupported(_) => Exception::IllegalDataAddress,
        _ => Exception::ServerDeviceFailure,
    }
}

impl Station {
    pub fn new(meters: Vec<MeterHandle>, unknown: UnknownUnit) -> Self {
        Self { meters, unknown }
    }

    pub fn meters(&self) -> &[MeterHandle] {
        &self.meters
    }

    /// The meter answering to `unit` now (its address may change with a
    /// write; the new one applies from the next request).
    pub fn find(&self, unit: u8) -> Option<&MeterHandle> {
        self.meters
            .iter()
            .find(|m| m.snapshot().settings.address == unit)
    }

    /// Handle one request PDU addressed to `unit`.
    pub async fn handle(&self, unit: u8, pdu: &[u8]) -> Reply {
        self.handle_as(unit, pdu, self.unknown).await
    }

    /// Handle one request PDU, treating unknown units as `unknown` says:
    /// one station serves TCP (exception 0BH) and serial lines (silence).
    pub async fn handle_as(&self, unit: u8, pdu: &[u8], unknown: UnknownUnit) -> Reply {
        let fc = pdu.first().copied().unwrap_or(0);
        if unit == BROADCAST {
            if let Ok(req) = pdu::parse_request(pdu) {
                if req.is_write() {
                    for m in &self.meters {
                        let snap = m.snapshot();
                        if snap.powered {
                            let _ = serve(m, &snap, &req).await;
                        }
                    }
                }
            }
            return Reply::Silence;
        }
        // One look at each meter's snapshot per request: it names the meter,
        // says whether it is powered, and is what a read returns.
        let found = self.meters.iter().find_map(|m| {
            let snap = m.snapshot();
            (snap.settings.address == unit).then_some((m, snap))
        });
        let Some((meter, snap)) = found else {
            return match unknown {
                UnknownUnit::GatewayException => {
                    Reply::Pdu(pdu::exception_pdu(fc, Exception::GatewayTargetFailed))
                }
                UnknownUnit::Silence => Reply::Silence,
            };
        };
        if !snap.powered {
            return Reply::Silence;
        }
        let reply = match pdu::parse_request(pdu) {
            Ok(req) => serve(meter, &snap, &req).await,
            Err(ex) => Err(ex),
        };
        Reply::Pdu(reply.unwrap_or_else(|ex| pdu::exception_pdu(fc, ex)))
    }
}

/// Serve a valid request on one meter whose latest snapshot is `snap`.
async fn serve(meter: &MeterHandle, snap: &Snapshot, req: &Request) -> Result<Vec<u8>, Exception> {
    match *req {
        Request::ReadHoldingRegisters { start, count } => {
            // `parse_request` has bounded `count` by the spec's limit.
            let mut words = [0u16; pdu::MAX_READ_REGISTERS as usize];
            let words = words
                .get_mut(..usize::from(count))
                .ok_or(Exception::IllegalDataValue)?;
            image::read_into(meter.map(), snap, start, words).map_err(|e| image_exception(&e))?;
            Ok(pdu::registers_pdu(words))
        }
        Request::ReadCoils { start, count } => {
            let bits = image::read_coils(meter.map(), snap, start, count)
                .map_err(|e| image_exception(&e))?;
            Ok(pdu::coils_pdu(&bits))
        }
        Request::WriteSingleCoil { address, value } => {
            let cmd =
                image::write_coil(meter.map(), address, value).map_err(|e| image_exception(&e))?;
            meter
                .execute(vec![cmd])
                .await
                .map_err(|e| command_exception(&e))?;
            Ok(pdu::write_coil_pdu(address, value))
        }
        Request::WriteMultipleRegisters { start, ref values } => {
            let cmds = image::write_registers(meter.map(), snap, start, values)
                .map_err(|e| image_exception(&e))?;
            meter
                .execute(cmds)
                .await
                .map_err(|e| command_exception(&e))?;
            Ok(pdu::write_registers_pdu(start, values.len() as u16))
        }
    }
}
