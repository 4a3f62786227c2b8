//! The AWS eventstream decoder. Raw bytes: the same frames and outcome at any chunk boundary, never more
//! buffered than one frame within the limit, poisoned after an error. Frames built by smithy's encoder
//! (flags bit 1): decoded back exactly at any chunk boundary, and a stream cut inside a frame is
//! `Truncated` by exactly the bytes received of that frame.
#![no_main]

#[path = "common.rs"]
mod common;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use libfuzzer_sys::fuzz_target;
use tollgate_filters::framing::eventstream::{EventStreamDecoder, EventStreamError, Frame, MAX_FRAME_BYTES};

/// Decodes `pieces` in order; checks the buffer bound after every push and the poisoning after an error.
fn decode(limit: usize, pieces: &[&[u8]]) -> (Vec<Frame>, Result<(), EventStreamError>) {
    let mut decoder = EventStreamDecoder::new(limit);
    let mut frames = Vec::new();
    for piece in pieces {
        let pushed = decoder.push(piece, &mut frames);
        assert!(decoder.buffered() < limit.max(12), "{} bytes buffered at limit {limit}", decoder.buffered());
        if let Err(e) = pushed {
            let before = (frames.len(), decoder.buffered());
            assert_eq!(decoder.push(b"\0\0\0\x10\0\0\0\0", &mut frames), Err(e.clone()), "not poisoned");
            assert_eq!(decoder.finish(), Err(e.clone()), "not poisoned");
            assert_eq!(before, (frames.len(), decoder.buffered()), "a poisoned decoder changed");
            return (frames, Err(e));
        }
    }
    let end = decoder.finish();
    (frames, end)
}

/// Frames made from the body: per frame a length byte, then an event type and a payload cut from the body.
fn build(body: &[u8]) -> (Vec<u8>, Vec<(String, Vec<u8>)>, Vec<usize>) {
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    let mut ends = Vec::new();
    let mut rest = body;
    while let Some((&len, tail)) = rest.split_first() {
        let name_len = usize::from(len & 0x0f).min(tail.len());
        let (name, tail) = tail.split_at(name_len);
        let payload_len = (usize::from(len >> 4) * 17).min(tail.len());
        let (payload, tail) = tail.split_at(payload_len);
        rest = tail;
        let name = String::from_utf8_lossy(name).into_owned();
        let message = Message::new(payload.to_vec())
            .add_header(Header::new(":event-type", HeaderValue::String(name.clone().into())))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
            .add_header(Header::new("n", HeaderValue::Int32(i32::from(len))));
        if write_message_to(&message, &mut stream).is_err() {
            return (stream, expected, ends);
        }
        expected.push((name, payload.to_vec()));
        ends.push(stream.len());
    }
    (stream, expected, ends)
}

fuzz_target!(|data: &[u8]| {
    let Some(plan) = common::plan(data) else { return };
    if plan.flags & 2 == 2 {
        let (stream, expected, ends) = build(plan.body);
        let (frames, end) = decode(MAX_FRAME_BYTES, &common::pieces(&stream, plan.seed));
        assert_eq!(end, Ok(()), "smithy's own frames were refused");
        let got: Vec<(String, Vec<u8>)> =
            frames.iter().map(|f| (f.event_type().unwrap_or("?").to_owned(), f.payload().to_vec())).collect();
        assert_eq!(got, expected);
        assert!(frames.iter().all(|f| f.message_type() == Some("event")));
        if !stream.is_empty() {
            let cut = usize::try_from(plan.seed).unwrap_or(0) % stream.len();
            let start = ends.iter().copied().filter(|&e| e <= cut).max().unwrap_or(0);
            let (frames, end) = decode(MAX_FRAME_BYTES, &[&stream[..cut]]);
            let whole_frames = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(frames.len(), whole_frames);
            let want = if cut == start { Ok(()) } else { Err(EventStreamError::Truncated(cut - start)) };
            assert_eq!(end, want, "cut at {cut}");
        }
        return;
    }
    let limit = if plan.flags & 1 == 1 { 16 + usize::from(plan.knob) * 4 } else { MAX_FRAME_BYTES };
    let whole = decode(limit, &[plan.body]);
    let split = decode(limit, &common::pieces(plan.body, plan.seed));
    assert_eq!(whole, split, "random chunk boundaries changed the frames");
    if plan.body.len() <= common::BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = plan.body.chunks(1).collect();
        assert_eq!(whole, decode(limit, &bytes), "byte-by-byte feeding changed the frames");
    }
    for frame in &whole.0 {
        assert!(frame.payload().len() + 16 <= limit, "a frame over the {limit}-byte limit was accepted");
    }
    if whole.1.is_ok() {
        // Nothing is lost or made up: the frames account for every byte.
        let consumed: usize = whole.0.iter().map(|f| f.payload().len()).sum();
        assert!(consumed + 16 * whole.0.len() <= plan.body.len());
        assert_eq!(whole.0.is_empty(), plan.body.is_empty());
    }
});
