//! AWS binary eventstream (`application/vnd.amazon.eventstream`): a bounded incremental frame decoder that
//! accepts any chunk boundary, for Bedrock's ConverseStream.
//!
//! A frame is `total length (u32) | headers length (u32) | prelude CRC32 | headers | payload | message CRC32`,
//! big-endian, CRC-32 (IEEE) over the prelude and over everything before the message CRC. Headers carry
//! `:message-type` (`event`, `exception` or `error`), `:event-type` / `:exception-type`, `:content-type`.
//! Reference: <https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html> (the wire format)
//! and smithy-rs's `aws-smithy-eventstream`, which does the decoding and both CRC checks here.
//!
//! What this file adds to the crate's decoder:
//! - **Bounds.** A frame may not declare more than [`MAX_FRAME_BYTES`] (16 MiB, AWS's limit for one
//!   eventstream message); the prelude and its CRC are checked as soon as its 12 bytes are in, so a corrupt
//!   length is refused at once instead of being waited for. At most one partial frame is ever buffered.
//! - **No copy on the common path.** Frames that lie whole inside a pushed chunk are decoded from the chunk;
//!   only a frame that straddles chunks is copied into the (reused) buffer.
//!
//! The crate's `Message` copies each frame's header names/values and payload into its own small buffers
//! (a few allocations per frame, inside the crate); what is reused here is everything this decoder owns.

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};

/// AWS's maximum size of one eventstream message (prelude, headers, payload and CRCs): 16 MiB.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of the prelude: total length, headers length, prelude CRC.
const PRELUDE_BYTES: usize = 12;
/// Bytes of the smallest frame: a prelude and a message CRC.
const MIN_FRAME_BYTES: usize = PRELUDE_BYTES + 4;

/// A stream that is not a valid eventstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    /// an eventstream frame declares {declared} bytes, more than the {limit}-byte limit
    #[error("an eventstream frame declares {declared} bytes, more than the {limit}-byte limit")]
    FrameTooLarge {
        /// The frame's declared total length.
        declared: usize,
        /// The decoder's limit.
        limit: usize,
    },
    /// an eventstream frame's prelude fails its CRC check
    #[error("an eventstream frame's prelude fails its CRC check")]
    PreludeCrc,
    /// an eventstream frame's prelude is invalid: {0}
    #[error("an eventstream frame's prelude is invalid: {0}")]
    Prelude(&'static str),
    /// an eventstream frame is invalid: {0}
    #[error("an eventstream frame is invalid: {0}")]
    Frame(String),
    /// the eventstream ended inside a frame ({0} bytes of it received)
    #[error("the eventstream ended inside a frame ({0} bytes of it received)")]
    Truncated(usize),
}

/// One decoded frame: its headers and payload, CRCs already checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    message: Message,
}

impl Frame {
    /// The value of a string header (`None` when absent or not a string).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.headers().iter().find(|h| h.name().as_str() == name).and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// `:message-type`: `event`, `exception` or `error`.
    pub fn message_type(&self) -> Option<&str> {
        self.header(":message-type")
    }

    /// `:event-type` of an event frame (`messageStart`, `contentBlockDelta`, ...).
    pub fn event_type(&self) -> Option<&str> {
        self.header(":event-type")
    }

    /// `:exception-type` of an exception frame (`throttlingException`, ...).
    pub fn exception_type(&self) -> Option<&str> {
        self.header(":exception-type")
    }

    /// The payload (JSON for Bedrock).
    pub fn payload(&self) -> &[u8] {
        self.message.payload()
    }
}

/// An incremental eventstream decoder that never buffers more than one frame of at most `max_frame_bytes`.
///
/// After an error the decoder is poisoned: every later call returns the same error.
#[derive(Debug)]
pub struct EventStreamDecoder {
    max_frame_bytes: usize,
    /// The frame straddling chunks, from its first byte (empty when the last chunk ended on a frame boundary).
    partial: Vec<u8>,
    /// The declared length of the frame in `partial`, once its prelude is in and checked.
    partial_len: Option<usize>,
    failed: Option<EventStreamError>,
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        EventStreamDecoder::new(MAX_FRAME_BYTES)
    }
}

impl EventStreamDecoder {
    /// A decoder refusing frames that declare more than `max_frame_bytes` (use [`MAX_FRAME_BYTES`]).
    pub fn new(max_frame_bytes: usize) -> Self {
        EventStreamDecoder { max_frame_bytes, partial: Vec::new(), partial_len: None, failed: None }
    }

    /// Feeds the next chunk; every frame completed by it is appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_inner(chunk, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Ends the stream: fails with `Truncated` when it stopped inside a frame.
    pub fn finish(&mut self) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.partial.is_empty() {
            let e = EventStreamError::Truncated(self.partial.len());
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Bytes held for a frame that straddles chunks.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    fn push_inner(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), EventStreamError> {
        let mut rest = chunk;
        // First finish the frame that straddles the previous chunk, copying only what it still needs.
        while !self.partial.is_empty() {
            let need = self.partial_len.unwrap_or(PRELUDE_BYTES);
            let take = (need - self.partial.len()).min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.partial.len() < need {
                return Ok(());
            }
            match self.partial_len {
                None => {
                    let len = frame_len(&self.partial, self.max_frame_bytes)?;
                    self.partial_len = Some(len);
                }
                Some(_) => {
                    out.push(decode(&self.partial)?);
                    // Keep the buffer's capacity for the next straddling frame (a small one only).
                    super::recycle(&mut self.partial);
                    self.partial_len = None;
                }
            }
        }
        // Then every frame that lies whole in the chunk, straight from the chunk.
        while rest.len() >= PRELUDE_BYTES {
            let len = frame_len(rest, self.max_frame_bytes)?;
            if rest.len() < len {
                self.partial_len = Some(len);
                break;
            }
            out.push(decode(&rest[..len])?);
            rest = &rest[len..];
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }
}

/// The total length a frame's prelude declares, after checking it: bounds, headers length and prelude CRC.
fn frame_len(frame: &[u8], max_frame_bytes: usize) -> Result<usize, EventStreamError> {
    let Some(prelude) = frame.get(..PRELUDE_BYTES) else {
        return Err(EventStreamError::Prelude("shorter than 12 bytes"));
    };
    let word = |i: usize| u32::from_be_bytes([prelude[i], prelude[i + 1], prelude[i + 2], prelude[i + 3]]);
    let (total, headers, crc) = (word(0) as usize, word(4) as usize, word(8));
    if crc32fast_hash(&prelude[..8]) != crc {
        return Err(EventStreamError::PreludeCrc);
    }
    if total > max_frame_bytes {
        return Err(EventStreamError::FrameTooLarge { declared: total, limit: max_frame_bytes });
    }
    if total < MIN_FRAME_BYTES {
        return Err(EventStreamError::Prelude("total length below 16 bytes"));
    }
    if headers > total - MIN_FRAME_BYTES {
        return Err(EventStreamError::Prelude("headers longer than the frame"));
    }
    Ok(total)
}

/// Decodes one whole frame with the crate (which checks both CRCs again and parses the headers).
fn decode(mut frame: &[u8]) -> Result<Frame, EventStreamError> {
    let message = read_message_from(&mut frame).map_err(|e| EventStreamError::Frame(e.to_string()))?;
    Ok(Frame { message })
}

/// CRC-32 (IEEE), as the eventstream prelude uses.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "test code")]

    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

    use super::{EventStreamDecoder, EventStreamError, Frame, MAX_FRAME_BYTES};

    /// AWS's documented example frame, from an independent encoder (the Elixir `event_stream` package's
    /// doc test, which follows <https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html>):
    /// `{"foo": "bar"}` with `content-type: application/json`.
    const KNOWN: &[u8] = &[
        0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0,
        16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, 123, 34, 102, 111, 111, 34, 58,
        32, 34, 98, 97, 114, 34, 125, 111, 162, 191, 59,
    ];

    fn frame(event: &str, payload: &str) -> Vec<u8> {
        let message = Message::new(payload.as_bytes().to_vec())
            .add_header(Header::new(":event-type", HeaderValue::String(event.to_owned().into())))
            .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
            .add_header(Header::new(":message-type", HeaderValue::String("event".into())));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    fn decode_all(pieces: &[&[u8]]) -> Result<Vec<Frame>, EventStreamError> {
        let mut decoder = EventStreamDecoder::default();
        let mut frames = Vec::new();
        for piece in pieces {
            decoder.push(piece, &mut frames)?;
        }
        decoder.finish()?;
        Ok(frames)
    }

    #[test]
    fn decodes_the_documented_example_frame() {
        let frames = decode_all(&[KNOWN]).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].header("content-type"), Some("application/json"));
        assert_eq!(frames[0].payload(), br#"{"foo": "bar"}"#);
        assert_eq!(frames[0].event_type(), None);
    }

    #[test]
    fn every_split_gives_the_same_frames() {
        let mut stream = frame("messageStart", r#"{"role":"assistant"}"#);
        stream.extend(frame("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"hi"}}"#));
        stream.extend_from_slice(KNOWN);
        let whole = decode_all(&[&stream]).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].event_type(), Some("contentBlockDelta"));
        assert_eq!(whole[1].message_type(), Some("event"));
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(decode_all(&[a, b]).unwrap(), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_all(&bytes).unwrap(), whole);
    }

    #[test]
    fn a_bad_prelude_crc_is_refused_as_soon_as_the_prelude_is_in() {
        let mut bad = KNOWN.to_vec();
        bad[9] ^= 1;
        let mut decoder = EventStreamDecoder::default();
        assert_eq!(decoder.push(&bad[..12], &mut Vec::new()), Err(EventStreamError::PreludeCrc));
        // Poisoned: the same error again, whatever comes next.
        assert_eq!(decoder.push(&bad[12..], &mut Vec::new()), Err(EventStreamError::PreludeCrc));
    }

    #[test]
    fn a_bad_message_crc_is_refused() {
        let mut bad = KNOWN.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(decode_all(&[&bad]), Err(EventStreamError::Frame(_))));
        let mut bad = KNOWN.to_vec();
        bad[50] ^= 1; // a payload byte
        assert!(matches!(decode_all(&[&bad]), Err(EventStreamError::Frame(_))));
    }

    #[test]
    fn a_frame_declaring_more_than_the_limit_is_refused_before_it_is_buffered() {
        let total = (MAX_FRAME_BYTES + 1) as u32;
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&total.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = super::crc32fast_hash(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let mut decoder = EventStreamDecoder::default();
        let err = decoder.push(&prelude, &mut Vec::new());
        assert_eq!(err, Err(EventStreamError::FrameTooLarge { declared: MAX_FRAME_BYTES + 1, limit: MAX_FRAME_BYTES }));
        assert_eq!(decoder.buffered(), 0);
        // A smaller limit applies the same way to a real frame.
        let mut small = EventStreamDecoder::new(32);
        assert!(matches!(small.push(KNOWN, &mut Vec::new()), Err(EventStreamError::FrameTooLarge { .. })));
    }

    #[test]
    fn buffering_never_exceeds_one_frame() {
        let big = frame("contentBlockDelta", &"x".repeat(10_000));
        let mut decoder = EventStreamDecoder::default();
        let mut frames = Vec::new();
        for piece in big.chunks(100) {
            decoder.push(piece, &mut frames).unwrap();
            assert!(decoder.buffered() < big.len());
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn a_stream_cut_inside_a_frame_is_truncated() {
        let mut decoder = EventStreamDecoder::default();
        decoder.push(&KNOWN[..20], &mut Vec::new()).unwrap();
        assert_eq!(decoder.finish(), Err(EventStreamError::Truncated(20)));
        let mut decoder = EventStreamDecoder::default();
        decoder.push(&KNOWN[..5], &mut Vec::new()).unwrap();
        assert_eq!(decoder.finish(), Err(EventStreamError::Truncated(5)));
    }

    #[test]
    fn impossible_lengths_are_refused() {
        for (total, headers) in [(15u32, 0u32), (20, 5)] {
            let mut prelude = Vec::new();
            prelude.extend_from_slice(&total.to_be_bytes());
            prelude.extend_from_slice(&headers.to_be_bytes());
            let crc = super::crc32fast_hash(&prelude);
            prelude.extend_from_slice(&crc.to_be_bytes());
            let err = EventStreamDecoder::default().push(&prelude, &mut Vec::new());
            assert!(matches!(err, Err(EventStreamError::Prelude(_))), "{total}/{headers}: {err:?}");
        }
    }
}
