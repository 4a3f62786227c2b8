//! OpenAI <-> Cohere's v2 chat and embed API: request, response, stream and error translation.
//!
//! Not served yet: every entry point refuses with [`TranslateError::Unsupported`] until the translator
//! lands (the gateway then answers 400 naming the provider, as for any provider it does not serve).

use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

/// The provider's request body for an OpenAI request.
pub fn request(
    endpoint: Endpoint,
    _view: &RequestView<'_>,
    _model: &str,
    _opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    Err(unsupported(endpoint))
}

/// The OpenAI answer for the provider's (non-stream) answer.
pub fn response(
    endpoint: Endpoint,
    _body: &[u8],
    _meta: &ResponseMeta<'_>,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    Err(unsupported(endpoint))
}

/// An OpenAI-shaped error (status, body) for the provider's error answer.
pub fn error(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    crate::openai_error_from(status, body)
}

/// The provider's stream, turned into OpenAI `chat.completion.chunk` SSE events.
#[derive(Debug)]
pub struct Stream {
    usage: Option<Usage>,
}

impl Stream {
    /// A translator for one stream.
    pub fn new(_meta: &ResponseMeta<'_>, _include_usage: bool) -> Self {
        Stream { usage: None }
    }

    /// Feeds a chunk of the provider's stream (any boundary); complete OpenAI events go to `out`.
    pub fn push(&mut self, _chunk: &[u8], _out: &mut Vec<u8>) -> Result<(), TranslateError> {
        Err(unsupported(Endpoint::ChatCompletions))
    }

    /// Ends the stream: writes what is left and the final `data: [DONE]`.
    pub fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), TranslateError> {
        Err(unsupported(Endpoint::ChatCompletions))
    }

    /// The stream's usage, once the provider has said it.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

fn unsupported(endpoint: Endpoint) -> TranslateError {
    TranslateError::Unsupported { provider: "cohere", what: format!("{} requests", endpoint.path()) }
}
