//! Stream framing: turning a provider's byte stream into events and events back into bytes, independent of
//! what the events mean. `sse` is Server-Sent Events (OpenAI, Anthropic, Gemini, and our own output).

pub mod eventstream;
pub mod sse;

#[cfg(test)]
mod tests;

pub use sse::{SseDecoder, SseEvent};

/// A stream that cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// an event exceeded {0} bytes without an event boundary
    #[error("an event exceeded {0} bytes without an event boundary")]
    EventTooLarge(usize),
}
