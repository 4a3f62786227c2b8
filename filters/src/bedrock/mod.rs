//! OpenAI <-> AWS Bedrock: the Converse API for chat (`/converse`, and `/converse-stream` whose answer is the
//! AWS binary eventstream), and `InvokeModel` for Titan and Cohere embeddings.
//!
//! Files: [`request`] (chat body), [`response`] (chat answer), [`stream`] (ConverseStream -> SSE),
//! [`embeddings`] (both ways), [`error`] (error answers), [`mapping`] (the stop-reason, usage and error
//! tables). The frames of the stream are decoded by [`crate::framing::eventstream`].
//!
//! What the gateway does around these (this crate does no I/O):
//! - URL: `https://bedrock-runtime.{region}.amazonaws.com` + [`path`] (the model id percent-encoded:
//!   `anthropic.claude-3-haiku-20240307-v1:0` -> `anthropic.claude-3-haiku-20240307-v1%3A0`).
//! - Headers: `content-type: application/json`, `accept: application/json` (non-stream) or
//!   `application/vnd.amazon.eventstream` (stream), then SigV4 over the exact bytes sent
//!   (`src/upstream/sigv4.rs`, service `bedrock`).
//! - The stream answer's content type is [`STREAM_CONTENT_TYPE`], not SSE; it is fed to [`Stream`] as is.

pub mod embeddings;
pub mod error;
pub mod mapping;
pub mod request;
pub mod response;
pub mod stream;

#[cfg(test)]
mod tests;

pub use embeddings::{EmbeddingFormat, INPUT_TOKEN_COUNT_HEADER};
pub use error::{error, error_with_type};
pub use stream::Stream;

use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

/// The LiteLLM prefix of this provider, as errors name it.
pub(crate) const PROVIDER: &str = "bedrock";

/// The content type of a ConverseStream answer (AWS binary eventstream).
pub const STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The provider's request body for an OpenAI request.
pub fn request(
    endpoint: Endpoint,
    view: &RequestView<'_>,
    model: &str,
    opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => request::chat(view, model, opts),
        Endpoint::Embeddings => embeddings::request(view, model, opts),
        Endpoint::Completions => Err(unsupported(endpoint)),
    }
}

/// The OpenAI answer for the provider's (non-stream) answer.
///
/// Embeddings come back as float arrays; for `encoding_format: "base64"` the gateway calls
/// [`embeddings_response`] with [`EmbeddingFormat::of`] the client's request instead (the seam does not
/// carry the client's request to the answer).
pub fn response(endpoint: Endpoint, body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => response::chat(body, meta),
        Endpoint::Embeddings => embeddings::response(body, meta, EmbeddingFormat::Float),
        Endpoint::Completions => Err(unsupported(endpoint)),
    }
}

/// The OpenAI embeddings answer with vectors in the format the client asked for.
pub fn embeddings_response(
    body: &[u8],
    meta: &ResponseMeta<'_>,
    format: EmbeddingFormat,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    embeddings::response(body, meta, format)
}

/// The path (under `https://bedrock-runtime.{region}.amazonaws.com`) for one call to `model`:
/// `/model/{id}/converse`, `/model/{id}/converse-stream` or `/model/{id}/invoke` (embeddings).
///
/// The model id (or inference-profile ARN) is percent-encoded as one path segment, every byte outside
/// `A-Z a-z 0-9 - _ . ~` (what the AWS SDKs and LiteLLM send); SigV4 then signs this path as it is.
pub fn path(endpoint: Endpoint, model: &str, stream: bool) -> Result<String, TranslateError> {
    let action = match (endpoint, stream) {
        (Endpoint::ChatCompletions, false) => "converse",
        (Endpoint::ChatCompletions, true) => "converse-stream",
        (Endpoint::Embeddings, _) => "invoke",
        (Endpoint::Completions, _) => return Err(unsupported(endpoint)),
    };
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(model.len() * 3 + 32);
    out.push_str("/model/");
    for &byte in model.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out.push('/');
    out.push_str(action);
    Ok(out)
}

/// The Bedrock Runtime host of a region (`bedrock-runtime.us-east-1.amazonaws.com`).
pub fn host(region: &str) -> String {
    format!("bedrock-runtime.{region}.amazonaws.com")
}

fn unsupported(endpoint: Endpoint) -> TranslateError {
    TranslateError::Unsupported { provider: PROVIDER, what: format!("{} requests", endpoint.path()) }
}
