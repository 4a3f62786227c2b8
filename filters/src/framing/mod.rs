//! Stream framing: turning a provider's byte stream into events and events back into bytes, independent of
//! what the events mean. `sse` is Server-Sent Events (OpenAI, Anthropic, Gemini, and our own output).

pub mod eventstream;
pub mod sse;

#[cfg(test)]
mod tests;

pub use sse::{SseDecoder, SseEvent};

/// The most capacity a per-stream buffer keeps between uses. A stream lives for minutes and a gateway
/// holds thousands at once, so one large event (up to the event limit, megabytes) must not leave its
/// allocation behind for the rest of the stream; everyday events are a few hundred bytes.
pub const KEEP_CAPACITY: usize = 64 * 1024;

/// Empties a reused per-stream buffer for its next use, and gives its allocation back when a large
/// event grew it past [`KEEP_CAPACITY`].
pub fn recycle(buf: &mut Vec<u8>) {
    buf.clear();
    if buf.capacity() > KEEP_CAPACITY {
        *buf = Vec::new();
    }
}

/// A stream that cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// an event exceeded {0} bytes without an event boundary
    #[error("an event exceeded {0} bytes without an event boundary")]
    EventTooLarge(usize),
}
