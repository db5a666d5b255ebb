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

/// Garbage from a failed CI run of the server's property test. Its CRC
/// register ends at FFFFH (`crc16(G) == 0xFFFF`), so garbage + any valid
/// frame is CRC-valid as a whole: here one 191-byte "frame" for unit 75H with
/// the unknown function code 3CH, which used to swallow the poll behind it.
pub(in crate::modbus::rtu) const CRC_FFFF_GARBAGE: [u8; 183] = [
    117, 60, 120, 228, 154, 216, 25, 226, 157, 127, 242, 254, 125, 73, 200, 3, 192, 210, 209, 89,
    119, 18, 183, 132, 224, 145, 76, 60, 99, 191, 37, 244, 138, 7, 194, 240, 26, 27, 57, 201, 238,
    186, 218, 186, 162, 144, 180, 246, 170, 19, 48, 249, 248, 94, 190, 194, 162, 139, 142, 36, 121,
    36, 147, 226, 213, 242, 178, 149, 222, 176, 109, 141, 181, 72, 219, 145, 136, 146, 22, 139, 60,
    167, 168, 38, 125, 49, 57, 126, 184, 77, 187, 29, 135, 249, 144, 166, 62, 248, 89, 202, 145,
    255, 46, 101, 12, 236, 37, 99, 50, 10, 102, 25, 128, 163, 10, 33, 177, 137, 195, 27, 240, 1,
    54, 212, 130, 227, 223, 16, 119, 96, 141, 168, 25, 165, 133, 105, 51, 6, 239, 129, 204, 104,
    201, 192, 27, 11, 57, 87, 51, 105, 88, 133, 203, 174, 4, 237, 178, 56, 202, 103, 13, 108, 59,
    159, 210, 156, 164, 71, 155, 77, 223, 197, 180, 144, 22, 202, 101, 102, 242, 10, 253, 84, 209,
];

#[test]
fn garbage_that_is_crc_valid_with_the_poll_behind_it_does_not_swallow_the_poll() {
    let poll = crc::append(&[0x01, 0x03, 0x00, 0x01, 0x00, 0x01]);
    assert_eq!(crc::crc16(&CRC_FFFF_GARBAGE), 0xFFFF);
    let whole = [CRC_FFFF_GARBAGE.as_slice(), &poll].concat();
    assert!(crc::check(&whole), "the coincidence this test is about");
    // In one read, in two, and with stray bytes in front (then the
    // CRC-valid "frame" starts after bytes already dropped as garbage).
    for (what, chunks) in [
        ("one read", vec![whole.clone()]),
        ("two reads", vec![CRC_FFFF_GARBAGE.to_vec(), poll.clone()]),
        ("stray in front", vec![vec![0x00, 0x2A], whole.clone()]),
    ] {
        let mut d = Decoder::new();
        let mut frames = Vec::new();
        for c in &chunks {
            d.push(c);
            frames.extend(all(&mut d));
        }
        frames.extend(std::iter::from_fn(|| d.silence()));
        assert!(
            frames
                .iter()
                .any(|f| f.bytes == poll && f.kind == FrameKind::Request),
            "{what}: {frames:02X?}"
        );
        assert_eq!(frames.last().map(|f| &f.bytes), Some(&poll), "{what}");
        assert_eq!(d.buffered(), 0, "{what}");
    }
    // What the property test shrank to without the fix: 00 09 are dropped
    // as garbage, then A8 EA (CRC register at FFFFH) + poll checks as one
    // unsized frame for unit A8H.
    let small = [0x00, 0x09, 0xA8, 0xEA];
    assert_eq!(crc::crc16(&small[2..]), 0xFFFF);
    let mut d = Decoder::new();
    d.push(&[small.as_slice(), &poll].concat());
    assert_eq!(all(&mut d), []);
    assert_eq!(d.silence().map(|f| f.bytes), Some(poll));
    assert_eq!(d.silence(), None);
}

/// What `--frame-end length` relies on: every request the twin serves is
/// complete, without a silence, the moment its last byte is in: FC01–06
/// at 8 bytes, FC0F/FC10 at 9 + their byte count; not one byte sooner.
#[test]
fn served_requests_are_complete_at_their_length_and_not_before() {
    let requests = [
        crc::append(&[0x01, 0x01, 0x00, 0x01, 0x00, 0x01]),
        crc::append(&[0x01, 0x03, 0x00, 0x30, 0x00, 0x0E]),
        crc::append(&[0x01, 0x05, 0x00, 0x01, 0xFF, 0x00]),
        crc::append(&[0x01, 0x06, 0x00, 0x00, 0x04, 0xD2]),
        crc::append(&[0x01, 0x0F, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01]),
        crc::append(&[
            0x01, 0x10, 0x04, 0x10, 0x00, 0x06, 0x0C, 0x07, 0xEA, 0x00, 0x0C, 0x00, 0x1F, 0x00,
            0x17, 0x00, 0x3B, 0x00, 0x1E,
        ]),
    ];
    for r in &requests {
        let mut d = Decoder::new();
        let (last, head) = r.split_last().expect("bytes");
        d.push(head);
        assert_eq!(d.decode(), None, "complete before its last byte: {r:02X?}");
        d.push(&[*last]);
        let f = d.decode().expect("complete at its length");
        assert_eq!(
            (f.bytes.as_slice(), f.kind),
            (r.as_slice(), FrameKind::Request)
        );
    }
}

/// A wrong CRC at the request's length is not a frame: its bytes are
/// dropped as garbage (at the latest when the silence ends them) and the
/// next request is found.
#[test]
fn a_wrong_crc_at_the_length_is_garbage_not_a_frame() {
    let mut bad = POLL;
    bad[6] ^= 0x10;
    let mut d = Decoder::new();
    d.push(&bad);
    assert_eq!(d.decode(), None);
    d.push(&POLL);
    let frames = after_silence(&mut d);
    assert_eq!(
        frames.iter().map(|f| &f.bytes[..]).collect::<Vec<_>>(),
        [&POLL[..]]
    );
    assert_eq!(d.discarded(), 8);
}
