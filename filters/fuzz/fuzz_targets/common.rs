//! What every target shares: how an input is read, how it is cut into chunks, and the checks of a stream
//! translator's output. Included by each target with `#[path = "common.rs"] mod common;`.
//!
//! Input layout: `flags | knob | seed (u16, LE) | body`. `flags` bit 0 picks a small event limit (from
//! `knob`) instead of a large one; bit 1 is `include_usage` (in `eventstream_decoder`: the body describes
//! frames to build); bit 2, in `stream_bedrock`, makes the body text to frame. `seed` drives the chunk split
//! points; `body` is the provider's stream. `seed.sh` writes the fixtures with a 4-byte header in front.
#![allow(dead_code)]

use serde_json::Value;
use tollgate_filters::framing::eventstream::EventStreamDecoder;
use tollgate_filters::framing::{SseDecoder, SseEvent};
use tollgate_filters::{Provider, ResponseMeta, StreamTranslator};

/// An input, read.
pub struct Plan<'a> {
    pub flags: u8,
    pub knob: u8,
    pub seed: u64,
    pub body: &'a [u8],
}

/// Reads the 4-byte header; `None` for shorter inputs.
pub fn plan(data: &[u8]) -> Option<Plan<'_>> {
    let (&[flags, knob, s0, s1], body) = data.split_first_chunk::<4>()?;
    Some(Plan { flags, knob, seed: u64::from(u16::from_le_bytes([s0, s1])) + 1, body })
}

impl Plan<'_> {
    /// Bit 0 of flags: a small limit (`small_base + knob * small_step`, so the fuzzer reaches the "too
    /// large" paths), else `large`.
    pub fn event_limit(&self, small_base: usize, small_step: usize, large: usize) -> usize {
        if self.flags & 1 == 1 {
            small_base + usize::from(self.knob) * small_step
        } else {
            large
        }
    }

    pub fn include_usage(&self) -> bool {
        self.flags & 2 == 2
    }
}

/// `body` cut at pseudo-random points (chunks of 0 to 512 bytes, many tiny ones), seeded by `seed`.
pub fn pieces(body: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = match x % 8 {
            // An empty push now and then: it must change nothing.
            0 if out.len() < 2 * body.len() => 0,
            0..=4 => (x >> 8) % 8 + 1,
            _ => (x >> 8) % 512 + 1,
        };
        let n = usize::try_from(n).unwrap_or(1).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Byte-by-byte feeding too, for bodies up to this size (the cost is one push per byte).
pub const BYTEWISE_MAX: usize = 2048;

/// The length of the longest line of `body` (lines end at CR or LF).
pub fn longest_line(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n' || b == b'\r').map(<[u8]>::len).max().unwrap_or(0)
}

/// SSE-decodes `pieces` in order; the events and how it ended (the first error stops it).
pub fn sse_decode(limit: usize, pieces: &[&[u8]]) -> (Vec<SseEvent>, Result<(), String>) {
    let mut decoder = SseDecoder::new(limit);
    let mut events = Vec::new();
    for piece in pieces {
        if let Err(e) = decoder.push(piece, &mut events) {
            return (events, Err(format!("{e:?}")));
        }
    }
    let end = decoder.finish(&mut events).map_err(|e| format!("{e:?}"));
    (events, end)
}

pub const ID: &str = "chatcmpl-fuzz\"\\\u{1}";
pub const CREATED: u64 = 1_700_000_000;
pub const MODEL: &str = "group/\"model\"\n";

/// Translates `pieces` in order as the gateway does: stop at the first error, else `finish`.
pub fn translate(
    provider: Provider,
    include_usage: bool,
    limit: usize,
    pieces: &[&[u8]],
) -> (Vec<u8>, Result<(), String>) {
    let meta = ResponseMeta { id: ID, created: CREATED, model: MODEL };
    let mut translator = StreamTranslator::new(provider, &meta, include_usage, limit);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = translator.push(piece, &mut out) {
            return (out, Err(format!("{e:?}")));
        }
    }
    let end = translator.finish(&mut out).map_err(|e| format!("{e:?}"));
    (out, end)
}

/// The blocks of an SSE body the gateway wrote: it must be whole events (`...\n\n`), LF only, each line a
/// field; returns each block's lines.
pub fn strict_blocks(out: &[u8]) -> Vec<Vec<&[u8]>> {
    assert!(!out.contains(&b'\r'), "CR in the output");
    let mut blocks = Vec::new();
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest.windows(2).position(|w| w == b"\n\n").unwrap_or_else(|| {
            panic!("output ends inside an event: {:?}", String::from_utf8_lossy(rest));
        });
        let lines: Vec<&[u8]> = rest[..end].split(|&b| b == b'\n').collect();
        for line in &lines {
            assert!(
                line.starts_with(b"data: ") || line.starts_with(b"event: "),
                "not a data/event field: {:?}",
                String::from_utf8_lossy(line)
            );
        }
        blocks.push(lines);
        rest = &rest[end + 2..];
    }
    blocks
}

/// The checks of a translated provider's output: every event one `data:` line holding an OpenAI chunk of
/// this answer (id, object, created, model) or `[DONE]`; `[DONE]` at most once and last, and present when
/// the stream ended without error.
pub fn check_translated_output(out: &[u8], end: &Result<(), String>) {
    let blocks = strict_blocks(out);
    let mut done_at = None;
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(block.len(), 1, "one data line per event: {block:?}");
        let data = block[0].strip_prefix(b"data: ").unwrap_or_else(|| panic!("not a data line: {block:?}"));
        if data == b"[DONE]" {
            assert!(done_at.is_none(), "[DONE] twice");
            done_at = Some(i);
            continue;
        }
        let chunk: Value = serde_json::from_slice(data)
            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {:?}", String::from_utf8_lossy(data)));
        assert_eq!(chunk["id"], ID, "{chunk}");
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(chunk["created"], CREATED, "{chunk}");
        assert_eq!(chunk["model"], MODEL, "{chunk}");
        assert!(chunk["choices"].is_array(), "{chunk}");
    }
    if let Some(i) = done_at {
        assert_eq!(i + 1, blocks.len(), "an event after [DONE]");
    }
    if end.is_ok() {
        assert!(done_at.is_some(), "a stream that ended well lacks [DONE]");
    }
}

/// The checks every translator target makes: the same output and outcome at any chunk boundary (random
/// cuts, and byte by byte for small bodies), a limit that is an error rather than growth (`over_limit`:
/// whether the provider's framing alone refuses the body at this limit), and well-formed output.
pub fn check_translator(provider: Provider, data: &[u8], over_limit: impl Fn(&[u8], usize) -> bool) {
    let Some(plan) = plan(data) else { return };
    check_translator_on(provider, &plan, plan.body, over_limit);
}

/// [`check_translator`] on `body` (the plan's body, or a stream made from it).
pub fn check_translator_on(
    provider: Provider,
    plan: &Plan<'_>,
    body: &[u8],
    over_limit: impl Fn(&[u8], usize) -> bool,
) {
    let limit = plan.event_limit(64, 8, 1 << 20);
    let usage = plan.include_usage();
    let whole = translate(provider, usage, limit, &[body]);
    let split = translate(provider, usage, limit, &pieces(body, plan.seed));
    assert_eq!(whole, split, "random chunk boundaries changed the output");
    if body.len() <= BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(whole, translate(provider, usage, limit, &bytes), "byte-by-byte feeding changed the output");
    }
    if over_limit(body, limit) {
        assert!(whole.1.is_err(), "a body the framing refuses at limit {limit} was accepted");
    }
    check_translated_output(&whole.0, &whole.1);
}

/// Whether SSE framing alone refuses `body` at `limit` (for the SSE-based translators).
pub fn sse_over_limit(body: &[u8], limit: usize) -> bool {
    sse_decode(limit, &[body]).1.is_err()
}

/// Whether eventstream framing alone refuses `body` when frames may declare at most `limit` bytes.
pub fn eventstream_refuses(body: &[u8], limit: usize) -> bool {
    let mut decoder = EventStreamDecoder::new(limit);
    let mut frames = Vec::new();
    decoder.push(body, &mut frames).is_err() || decoder.finish().is_err()
}
