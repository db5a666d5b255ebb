//! Decoder tests over annotated byte fixtures: byte-by-byte arrival, frames
//! back to back, stray bytes, bad CRCs, foreign replies, truncated frames.

use super::*;
use crate::modbus::rtu::crc;

/// Slave 1, FC03, start 0000H, quantity 10. CRC CDC5H (low byte first).
const POLL: [u8; 8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD];

fn all(d: &mut Decoder) -> Vec<Frame> {
    std::iter::from_fn(|| d.decode()).collect()
}

fn after_silence(d: &mut Decoder) -> Vec<Frame> {
    let mut v = all(d);
    v.extend(std::iter::from_fn(|| d.silence()));
    v
}

#[test]
fn a_request_is_recognised_by_length_without_silence() {
    let mut d = Decoder::new();
    d.push(&POLL);
    let f = d.decode().expect("frame");
    assert_eq!(f.bytes, POLL);
    assert_eq!(f.kind, FrameKind::Request);
    assert_eq!(f.address(), 1);
    assert_eq!(f.pdu(), &[0x03, 0x00, 0x00, 0x00, 0x0A]);
    assert_eq!(d.buffered(), 0);
}

#[test]
fn byte_by_byte_arrival() {
    let mut d = Decoder::new();
    for (i, b) in POLL.iter().enumerate() {
        assert_eq!(d.decode(), None, "frame before byte {i}");
        d.push(&[*b]);
    }
    assert_eq!(d.decode().map(|f| f.bytes), Some(POLL.to_vec()));
}

#[test]
fn two_frames_in_one_read() {
    let second = crc::append(&[0x02, 0x01, 0x00, 0x01, 0x00, 0x01]);
    let mut d = Decoder::new();
    d.push(&[POLL.as_slice(), &second].concat());
    let frames = all(&mut d);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].bytes, second);
}

#[test]
fn stray_leading_bytes_are_dropped() {
    for junk in [
        &[0x00][..],
        &[0xFF, 0x13],
        &[0x01],
        &[0x01, 0x03],
        &[0x55; 7],
    ] {
        let mut d = Decoder::new();
        d.push(junk);
        d.push(&POLL);
        let frames = after_silence(&mut d);
        assert_eq!(frames.len(), 1, "junk {junk:02X?}");
        assert_eq!(frames[0].bytes, POLL);
    }
}

#[test]
fn bad_crc_is_dropped_and_the_next_frame_found() {
    let mut bad = POLL;
    bad[7] ^= 0x01;
    let mut d = Decoder::new();
    d.push(&bad);
    d.push(&POLL);
    let frames = after_silence(&mut d);
    assert_eq!(
        frames.iter().map(|f| &f.bytes[..]).collect::<Vec<_>>(),
        [&POLL[..]]
    );
}

#[test]
fn a_foreign_slaves_long_reply_is_one_frame() {
    // Slave 5 answers 125 registers: 05 03 FA <250 bytes> CRC = 255 bytes.
    let mut body = vec![0x05, 0x03, 0xFA];
    body.extend((0..250).map(|i| (i * 7) as u8));
    let reply = crc::append(&body);
    let mut d = Decoder::new();
    for chunk in reply.chunks(16) {
        d.push(chunk);
    }
    d.push(&POLL);
    let frames = all(&mut d);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].kind, FrameKind::Reply);
    assert_eq!(frames[0].bytes.len(), 255);
    assert_eq!(frames[1].bytes, POLL);
}

#[test]
fn a_truncated_fc10_is_ended_by_silence() {
    // Slave 1, FC10 at 0000H, 120 registers, byte count F0H (240), then only
    // four data bytes: the master gave up. The silence ends it; the polls that
    // follow are answered.
    let truncated = [0x01, 0x10, 0x00, 0x00, 0x00, 0x78, 0xF0, 0, 1, 0, 2];
    let mut d = Decoder::new();
    d.push(&truncated);
    assert_eq!(d.decode(), None);
    assert_eq!(d.silence(), None);
    assert_eq!(d.buffered(), 0);
    for _ in 0..3 {
        d.push(&POLL);
        assert_eq!(d.decode().map(|f| f.bytes), Some(POLL.to_vec()));
    }
}

#[test]
fn a_truncated_fc10_without_silence_still_gives_up_the_poll_at_the_gap() {
    let truncated = [0x01, 0x10, 0x00, 0x00, 0x00, 0x78, 0xF0, 0, 1, 0, 2];
    let mut d = Decoder::new();
    d.push(&truncated);
    d.push(&POLL);
    let frames = after_silence(&mut d);
    assert_eq!(
        frames.iter().map(|f| &f.bytes[..]).collect::<Vec<_>>(),
        [&POLL[..]]
    );
}

#[test]
fn unknown_function_codes_are_framed_by_silence() {
    // Slave 1, FC41H with two data bytes: length unknown to the decoder.
    let frame = crc::append(&[0x01, 0x41, 0x12, 0x34]);
    let mut d = Decoder::new();
    d.push(&frame);
    assert_eq!(d.decode(), None);
    let f = d.silence().expect("frame");
    assert_eq!(f.kind, FrameKind::Unsized);
    assert_eq!(f.pdu(), &[0x41, 0x12, 0x34]);
}

#[test]
fn exception_replies_of_other_slaves_are_replies() {
    // Slave 7: exception 02 to FC03.
    let frame = crc::append(&[0x07, 0x83, 0x02]);
    let mut d = Decoder::new();
    d.push(&frame);
    assert_eq!(d.decode().map(|f| f.kind), Some(FrameKind::Reply));
}

#[test]
fn garbage_never_grows_the_buffer_without_bound() {
    let mut d = Decoder::new();
    for i in 0..10_000u32 {
        d.push(&[(i.wrapping_mul(2_654_435_761) >> 24) as u8]);
        while d.decode().is_some() {}
        assert!(d.buffered() <= MAX_ADU);
    }
}
