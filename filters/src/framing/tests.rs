//! Tests of SSE framing: every chunk boundary gives the same events, line endings, limits, the encoder.

use super::sse::{write_data, DONE};
use super::{FramingError, SseDecoder, SseEvent};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const LIMIT: usize = 1024;

/// Mixed line endings, comments, named events, multi-line data, id/retry, an unknown field, a BOM.
const FIXTURE: &[u8] = b"\xEF\xBB\xBF: keep-alive\r\n\
data: {\"a\":1}\r\n\
\r\n\
event: message_start\n\
data: {\"type\":\"message_start\"}\n\
\n\
id: 7\r\
retry: 100\r\
data:first\r\
data:  second\r\
\r\
event: ping\n\
\n\
unknown: x\n\
data\n\
\n\
data: caf\xC3\xA9 \xF0\x9F\x98\x80\n\
data: \n\
event:\n\
\n\
data: [DONE]\n\
\n";

fn event(event: Option<&str>, data: &str) -> SseEvent {
    SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
}

fn fixture_events() -> Vec<SseEvent> {
    vec![
        event(None, "{\"a\":1}"),
        event(Some("message_start"), "{\"type\":\"message_start\"}"),
        event(None, "first\n second"),
        // `event: ping` without data dispatches nothing; a bare `data` line is an empty data field.
        event(None, ""),
        event(None, "café 😀\n"),
        event(None, "[DONE]"),
    ]
}

/// Decodes `chunks` in order with a fresh decoder, then finishes.
fn decode(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, FramingError> {
    let mut decoder = SseDecoder::new(LIMIT);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

#[test]
fn whole_fixture_decodes_to_the_expected_events() -> TestResult {
    assert_eq!(decode(&[FIXTURE])?, fixture_events());
    Ok(())
}

#[test]
fn every_split_point_gives_the_same_events() -> TestResult {
    let expected = fixture_events();
    for i in 0..=FIXTURE.len() {
        let (a, b) = FIXTURE.split_at(i);
        assert_eq!(decode(&[a, b])?, expected, "split at {i}");
    }
    Ok(())
}

#[test]
fn every_pair_of_split_points_gives_the_same_events() -> TestResult {
    let expected = fixture_events();
    for i in 0..=FIXTURE.len() {
        for j in i..=FIXTURE.len() {
            let chunks = [&FIXTURE[..i], &FIXTURE[i..j], &FIXTURE[j..]];
            assert_eq!(decode(&chunks)?, expected, "split at {i} and {j}");
        }
    }
    Ok(())
}

#[test]
fn byte_at_a_time_gives_the_same_events() -> TestResult {
    let chunks: Vec<&[u8]> = FIXTURE.chunks(1).collect();
    assert_eq!(decode(&chunks)?, fixture_events());
    Ok(())
}

#[test]
fn crlf_split_across_chunks_is_one_line_ending() -> TestResult {
    // Were the LF after a chunk-final CR taken for a second line ending, it would be a blank line and
    // dispatch `a` alone.
    let events = decode(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])?;
    assert_eq!(events, [event(None, "a\nb")]);
    Ok(())
}

#[test]
fn cr_then_cr_is_two_line_endings() -> TestResult {
    let events = decode(&[b"data: a\r", b"\r", b"data: b\r\r"])?;
    assert_eq!(events, [event(None, "a"), event(None, "b")]);
    Ok(())
}

#[test]
fn events_are_emitted_at_the_blank_line_not_at_finish() -> TestResult {
    let mut decoder = SseDecoder::new(LIMIT);
    let mut out = Vec::new();
    decoder.push(b"data: one\n", &mut out)?;
    assert!(out.is_empty());
    decoder.push(b"\ndata: two", &mut out)?;
    assert_eq!(out, [event(None, "one")]);
    Ok(())
}

#[test]
fn finish_flushes_an_unterminated_event() -> TestResult {
    assert_eq!(decode(&[b"data: [DONE]\n"])?, [event(None, "[DONE]")]);
    assert_eq!(decode(&[b"event: e\ndata: x"])?, [event(Some("e"), "x")]);
    assert_eq!(decode(&[b"data: x\n\n"])?, [event(None, "x")]);
    assert_eq!(decode(&[b": only a comment"])?, []);
    Ok(())
}

#[test]
fn decoder_is_reusable_after_finish() -> TestResult {
    let mut decoder = SseDecoder::new(LIMIT);
    let mut out = Vec::new();
    decoder.push(b"data: a", &mut out)?;
    decoder.finish(&mut out)?;
    decoder.push(b"\xEF\xBB\xBFdata: b\n\n", &mut out)?;
    assert_eq!(out, [event(None, "a"), event(None, "b")]);
    Ok(())
}

#[test]
fn only_one_leading_space_is_stripped() -> TestResult {
    assert_eq!(decode(&[b"data:   x \n\n"])?, [event(None, "  x ")]);
    assert_eq!(decode(&[b"event:  e\ndata:x\n\n"])?, [event(Some(" e"), "x")]);
    Ok(())
}

#[test]
fn a_colon_in_the_value_is_kept() -> TestResult {
    assert_eq!(decode(&[b"data: {\"a\":\"b:c\"}\n\n"])?, [event(None, "{\"a\":\"b:c\"}")]);
    Ok(())
}

#[test]
fn is_done_only_for_the_exact_marker() {
    assert!(event(None, "[DONE]").is_done());
    assert!(!event(None, " [DONE]").is_done());
    assert!(!event(None, "{}").is_done());
}

#[test]
fn limit_is_enforced_on_a_line_straddling_chunks() {
    let mut decoder = SseDecoder::new(16);
    let mut out = Vec::new();
    let result = (|| {
        decoder.push(b"data: 0123456789", &mut out)?;
        // 24 bytes of line: past the limit and the 7 bytes a field name may add.
        decoder.push(b"abcdefgh", &mut out)
    })();
    assert_eq!(result, Err(FramingError::EventTooLarge(16)));
}

#[test]
fn limit_is_enforced_on_many_data_lines() {
    let mut decoder = SseDecoder::new(16);
    let mut out = Vec::new();
    let result = decoder.push(b"data: 0123\ndata: 4567\ndata: 89ab\ndata: cdef\n", &mut out);
    assert_eq!(result, Err(FramingError::EventTooLarge(16)));
    assert!(out.is_empty());
}

#[test]
fn limit_is_enforced_on_one_long_line_in_one_chunk() {
    let mut out = Vec::new();
    let line = [b"data: ".as_slice(), &[b'x'; 64], b"\n"].concat();
    assert_eq!(SseDecoder::new(16).push(&line, &mut out), Err(FramingError::EventTooLarge(16)));
}

/// Found by the `sse_decoder` fuzz target: a line over the limit inside one chunk was read (a comment, or a
/// `data:` line whose field name pushed it over) while the same line across two chunks was refused.
#[test]
fn the_limit_does_not_depend_on_where_chunks_end() {
    let streams: [&[u8]; 4] = [
        b": a comment longer than the limit and its slack\n\ndata: x\n\n",
        b"unknown: a field longer than the limit and its slack\n\ndata: x\n\n",
        b"data: 0123456789\n\n",
        b"data: 0123456789a\n\n",
    ];
    for stream in streams {
        let run = |pieces: &[&[u8]]| {
            let mut decoder = SseDecoder::new(10);
            let mut out = Vec::new();
            let result =
                pieces.iter().try_for_each(|p| decoder.push(p, &mut out)).and_then(|()| decoder.finish(&mut out));
            (out, result)
        };
        let whole = run(&[stream]);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(run(&[a, b]), whole, "{:?} cut at {cut}", String::from_utf8_lossy(stream));
        }
    }
    let refused = |stream: &[u8]| SseDecoder::new(10).push(stream, &mut Vec::new()).is_err();
    assert!(refused(streams[0]) && refused(streams[1]) && refused(streams[3]));
    assert!(!refused(streams[2]));
}

#[test]
fn limit_is_per_event_not_per_stream() -> TestResult {
    let mut decoder = SseDecoder::new(16);
    let mut out = Vec::new();
    for _ in 0..100 {
        decoder.push(b"data: 0123456789\n\n", &mut out)?;
    }
    assert_eq!(out.len(), 100);
    Ok(())
}

#[test]
fn event_of_exactly_the_limit_passes() -> TestResult {
    let mut decoder = SseDecoder::new(10);
    let mut out = Vec::new();
    decoder.push(b"data: 0123456789\n\n", &mut out)?;
    assert_eq!(out, [event(None, "0123456789")]);
    Ok(())
}

#[test]
fn decoder_stays_failed_after_the_limit() {
    let mut decoder = SseDecoder::new(4);
    let mut out = Vec::new();
    assert!(decoder.push(b"data: 0123456789", &mut out).is_err());
    assert_eq!(decoder.push(b"\n\n", &mut out), Err(FramingError::EventTooLarge(4)));
    assert_eq!(decoder.finish(&mut out), Err(FramingError::EventTooLarge(4)));
    assert!(out.is_empty());
}

#[test]
fn write_data_frames_one_event() {
    let mut out = Vec::new();
    write_data(&mut out, br#"{"a":1}"#);
    assert_eq!(out, b"data: {\"a\":1}\n\n");
    assert_eq!(DONE, b"data: [DONE]\n\n");
}

#[test]
fn write_data_splits_line_breaks_into_fields() {
    let mut out = Vec::new();
    write_data(&mut out, b"a\nb\r\nc\rd");
    assert_eq!(out, b"data: a\ndata: b\ndata: c\ndata: d\n\n");
}

#[test]
fn written_events_decode_back() -> TestResult {
    let payloads: [&[u8]; 6] = [b"{\"x\":\"y\"}", b"", b"two\nlines", b"trailing\n", b"\n", b"[DONE]"];
    let mut stream = Vec::new();
    for payload in payloads {
        write_data(&mut stream, payload);
    }
    let expected: Vec<SseEvent> = payloads.iter().map(|p| event(None, &String::from_utf8_lossy(p))).collect();
    for i in 0..=stream.len() {
        let (a, b) = stream.split_at(i);
        assert_eq!(decode(&[a, b])?, expected, "split at {i}");
    }
    Ok(())
}

#[test]
fn a_large_straddling_event_leaves_no_large_buffer_behind() -> TestResult {
    let big = "x".repeat(1024 * 1024);
    let mut decoder = SseDecoder::new(4 * 1024 * 1024);
    let mut out = Vec::new();
    let line = format!("data: {big}\n\n");
    let (a, b) = line.as_bytes().split_at(line.len() / 2);
    decoder.push(a, &mut out)?;
    decoder.push(b, &mut out)?;
    // A small line that straddles chunks still reuses the buffer.
    decoder.push(b"data: sm", &mut out)?;
    decoder.push(b"all\n\n", &mut out)?;
    assert_eq!(out, vec![event(None, &big), event(None, "small")]);
    assert!(decoder.line_capacity() <= super::KEEP_CAPACITY, "kept {} bytes", decoder.line_capacity());
    Ok(())
}

#[test]
fn recycle_keeps_small_buffers_and_frees_large_ones() {
    let mut small = Vec::with_capacity(1024);
    small.extend_from_slice(b"abc");
    super::recycle(&mut small);
    assert!(small.is_empty() && small.capacity() >= 1024);
    let mut large = vec![0u8; super::KEEP_CAPACITY + 1];
    super::recycle(&mut large);
    assert!(large.is_empty() && large.capacity() <= super::KEEP_CAPACITY);
}
