//! Server-Sent Events: a bounded incremental decoder that accepts any chunk boundary, and the encoder for
//! what the gateway writes to clients.
//!
//! The decoder follows the WHATWG `text/event-stream` parsing rules (LF, CRLF and CR line endings, `:`
//! comments, one optional space after the colon, `data` lines joined by `\n`, a leading BOM ignored,
//! nothing dispatched for an event without `data`), with two deliberate differences:
//! - `id` and `retry` are read and dropped: no provider we translate resumes streams by event id.
//! - [`SseDecoder::finish`] dispatches a last event that is missing its blank line, where WHATWG discards
//!   it, because some OpenAI-compatible servers end with `data: [DONE]\n` and a single newline.
//!
//! Invalid UTF-8 is replaced with U+FFFD line by line, as WHATWG's decoding step does; a line is always
//! decoded whole, so a character split across chunks is never damaged.

use std::mem;

use super::FramingError;

/// What an OpenAI stream's last event carries.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// The UTF-8 byte order mark, ignored at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes of the longest field prefix we keep (`event: `): a raw line may exceed the event limit by this much.
const FIELD_SLACK: usize = 7;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the default `message` type).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl SseEvent {
    /// Whether this is OpenAI's end-of-stream marker (`data: [DONE]`).
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// An incremental `text/event-stream` decoder that never buffers more than `max_event_bytes` for one event
/// (plus the field name of the line being read).
///
/// After an error the decoder is poisoned: every later call returns the same error.
#[derive(Debug)]
pub struct SseDecoder {
    max_event_bytes: usize,
    /// The current line, when it straddles chunks (lines inside one chunk are never copied here).
    line: Vec<u8>,
    /// The last byte seen was a CR: a LF at the start of the next chunk belongs to the same line ending.
    after_cr: bool,
    /// No line has been completed yet, so a BOM may still be stripped.
    at_start: bool,
    event: Option<String>,
    data: String,
    /// At least one `data` field was seen: an empty `data:` still dispatches an event with empty data.
    has_data: bool,
    failed: bool,
}

impl SseDecoder {
    /// A decoder that fails with `EventTooLarge` past `max_event_bytes` buffered for one event.
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            max_event_bytes,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: None,
            data: String::new(),
            has_data: false,
            failed: false,
        }
    }

    /// Feeds the next chunk; every event completed by it is appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FramingError> {
        self.check_poisoned()?;
        let mut rest = chunk;
        while let Some(&first) = rest.first() {
            if mem::take(&mut self.after_cr) && first == b'\n' {
                rest = &rest[1..];
                continue;
            }
            let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                // Checked before it is copied: a line over the limit is refused, never buffered.
                self.check_line(rest.len())?;
                self.line.extend_from_slice(rest);
                return Ok(());
            };
            self.after_cr = rest[end] == b'\r';
            if self.line.is_empty() {
                self.process_line(&rest[..end], out)?;
            } else {
                self.check_line(end)?;
                self.line.extend_from_slice(&rest[..end]);
                let line = mem::take(&mut self.line);
                let result = self.process_line(&line, out);
                // Hand the buffer back to keep its capacity for the next straddling line (a small one only).
                self.line = line;
                super::recycle(&mut self.line);
                result?;
            }
            rest = &rest[end + 1..];
        }
        Ok(())
    }

    /// Ends the stream: dispatches a last event that lacks its blank line; the decoder can then start anew.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FramingError> {
        self.check_poisoned()?;
        if !self.line.is_empty() {
            let line = mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.dispatch(out);
        self.after_cr = false;
        self.at_start = true;
        Ok(())
    }

    /// Interprets one complete line (without its terminator).
    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FramingError> {
        // The same check a line straddling chunks had while it was buffered, so that where chunks end
        // never decides whether a line is refused (a long comment inside one chunk as much as across two).
        self.check_line(line.len())?;
        let line = if mem::take(&mut self.at_start) { line.strip_prefix(BOM).unwrap_or(line) } else { line };
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // `id`, `retry` and unknown fields: nothing we translate uses them (see the module doc).
            _ => {}
        }
        self.check_limit()
    }

    /// Ends the current event at a blank line (or at `finish`).
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take().filter(|e| !e.is_empty());
        if mem::take(&mut self.has_data) {
            out.push(SseEvent { event, data: mem::take(&mut self.data) });
        }
    }

    /// Fails once the current event holds more than the limit.
    fn check_limit(&mut self) -> Result<(), FramingError> {
        let held = self.data.len() + self.event.as_ref().map_or(0, String::len);
        if held > self.max_event_bytes {
            return Err(self.fail());
        }
        Ok(())
    }

    /// Fails when the line being read, with `more` bytes of it still to come, would make the event too large.
    ///
    /// The whole raw line counts, field name included, less [`FIELD_SLACK`]: an event of exactly the limit
    /// passes (`data: ` is not part of the event), and a line is refused at the same point of the stream
    /// whether it arrives in one chunk or in many, since the check only grows with the line.
    fn check_line(&mut self, more: usize) -> Result<(), FramingError> {
        let held = self.line.len() + more + self.data.len() + self.event.as_ref().map_or(0, String::len);
        if held > self.max_event_bytes.saturating_add(FIELD_SLACK) {
            return Err(self.fail());
        }
        Ok(())
    }

    /// The capacity of the straddling-line buffer, for the tests of [`super::recycle`].
    #[cfg(test)]
    pub(crate) fn line_capacity(&self) -> usize {
        self.line.capacity()
    }

    fn fail(&mut self) -> FramingError {
        self.failed = true;
        FramingError::EventTooLarge(self.max_event_bytes)
    }

    /// Repeats the error a poisoned decoder failed with.
    fn check_poisoned(&self) -> Result<(), FramingError> {
        if self.failed {
            return Err(FramingError::EventTooLarge(self.max_event_bytes));
        }
        Ok(())
    }
}

/// Writes one event with `data` as its payload: `data: ...\n\n`.
///
/// A line break inside `data` would end the field early, so each line gets its own `data:` field, which a
/// decoder joins back with `\n`. Lossy only for CR and CRLF inside `data`: they come back as LF.
pub fn write_data(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() + 8);
    let mut rest = data;
    loop {
        let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(rest);
            out.extend_from_slice(b"\n\n");
            return;
        };
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&rest[..end]);
        out.push(b'\n');
        let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
        rest = &rest[end + if crlf { 2 } else { 1 }..];
    }
}
