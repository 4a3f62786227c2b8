//! One usage type for every provider: what a customer is billed on.
//!
//! | provider | prompt | completion | cache read | cache write | reasoning |
//! |---|---|---|---|---|---|
//! | OpenAI-compatible | `prompt_tokens` | `completion_tokens` | `prompt_tokens_details.cached_tokens` | - | `completion_tokens_details.reasoning_tokens` |
//! | Anthropic | `input_tokens` + cache read + cache write | `output_tokens` | `cache_read_input_tokens` | `cache_creation_input_tokens` | (inside `output_tokens`) |
//! | Gemini / Vertex | `promptTokenCount` | `candidatesTokenCount` + `thoughtsTokenCount` | `cachedContentTokenCount` | - | `thoughtsTokenCount` |
//! | Bedrock Converse | `inputTokens` + cache read + cache write | `outputTokens` | `cacheReadInputTokens` | `cacheWriteInputTokens` | - |
//! | Cohere v2 | `tokens.input_tokens` (billed: `billed_units.input_tokens`) | `tokens.output_tokens` | `cached_tokens` | - | - |
//!
//! `None` means the provider did not say; `Some(0)` means it said zero. Cached and reasoning tokens are
//! parts of `prompt_tokens` / `completion_tokens`, never added on top, so nothing is counted twice.
//!
//! Also here: the estimates budgets need before a provider has said its usage ([`estimate_prompt_tokens`]
//! before a call, [`Produced`] for a stream cut short). They are estimates, never what a provider said.

use crate::openai::RequestView;

/// Token counts of one call, in OpenAI's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every input token, cached or not (OpenAI's `prompt_tokens`).
    pub prompt_tokens: u64,
    /// Every output token, reasoning included (OpenAI's `completion_tokens`).
    pub completion_tokens: u64,
    /// Input tokens read from the provider's prompt cache (part of `prompt_tokens`).
    pub cached_tokens: Option<u64>,
    /// Input tokens written to the provider's prompt cache (part of `prompt_tokens`).
    pub cache_creation_tokens: Option<u64>,
    /// Output tokens spent on reasoning (part of `completion_tokens`).
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// `prompt_tokens + completion_tokens` (saturating: the counts come from the provider).
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// OpenAI's `usage` object for this usage (with `prompt_tokens_details`/`completion_tokens_details`
    /// when the provider gave those numbers).
    pub fn to_openai(&self) -> serde_json::Value {
        let mut u = serde_json::json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens(),
        });
        if self.cached_tokens.is_some() || self.cache_creation_tokens.is_some() {
            u["prompt_tokens_details"] = serde_json::json!({"cached_tokens": self.cached_tokens.unwrap_or(0)});
        }
        if let Some(c) = self.cache_creation_tokens {
            // LiteLLM's name for Anthropic's cache writes.
            u["cache_creation_input_tokens"] = serde_json::json!(c);
        }
        if let Some(c) = self.cached_tokens {
            u["cache_read_input_tokens"] = serde_json::json!(c);
        }
        if let Some(r) = self.reasoning_tokens {
            u["completion_tokens_details"] = serde_json::json!({"reasoning_tokens": r});
        }
        u
    }
}

/// Bytes of text per token assumed by every estimate here (a rough average for English text and JSON with
/// OpenAI's and Anthropic's tokenizers; other languages and code differ, which is why it is an estimate).
pub const BYTES_PER_TOKEN: u64 = 4;

/// Tokens every chat message costs beyond its text (role, separators), as OpenAI's cookbook counts them.
pub const TOKENS_PER_MESSAGE: u64 = 4;

/// `ceil(bytes / BYTES_PER_TOKEN)`: a token estimate of a text's byte length.
pub fn tokens_of_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN)
}

/// An estimate (lossy, never a bill) of a request's prompt tokens, for reserving budget before the call.
///
/// The byte length of the raw JSON of `messages`, `prompt`, `input`, `tools` and `functions` divided by
/// [`BYTES_PER_TOKEN`], plus [`TOKENS_PER_MESSAGE`] per chat message. Messages are counted by the `"role"`
/// keys in the raw `messages` (a byte search, no parse; a content that is exactly the string `"role"` counts
/// too, which an estimate can afford). JSON punctuation and escapes are counted as text, so JSON-heavy
/// prompts are overestimated a little; images and audio are counted by the bytes of their URL or base64
/// data, which overestimates them a lot. Nothing is parsed: the view already holds the raw values.
pub fn estimate_prompt_tokens(view: &RequestView<'_>) -> u64 {
    let mut bytes = 0u64;
    for key in ["messages", "prompt", "input", "tools", "functions"] {
        if let Some(raw) = view.get(key).filter(|r| r.get() != "null") {
            bytes += raw.get().len() as u64;
        }
    }
    let messages = view.get("messages").map_or(0, |m| m.get().matches("\"role\"").count() as u64);
    tokens_of_bytes(bytes) + messages * TOKENS_PER_MESSAGE
}

/// Counts the generated text a stream has passed on (content, reasoning, tool-call arguments), so a stream
/// cut short before the provider said its usage can still be charged for what it produced. No allocation:
/// one counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Produced {
    bytes: u64,
}

impl Produced {
    /// Adds `bytes` counted elsewhere.
    pub fn add_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    /// Adds `text`, decoded.
    pub fn add_text(&mut self, text: &str) {
        self.bytes += text.len() as u64;
    }

    /// Adds a JSON string literal by its raw length without the quotes (escapes count as written: `\n` is two
    /// bytes, `\u00e9` six; lossy, and only ever an overestimate). A value that is not a string adds its
    /// whole raw length.
    pub fn add_raw_json_str(&mut self, raw: &str) {
        let inner = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
        self.bytes += inner.len() as u64;
    }

    /// The bytes counted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The usage to charge a stream for, given the provider's usage so far and whether it is final.
    ///
    /// A final usage (the provider said it at the end of the stream) is returned as it is. Otherwise it is an
    /// estimate (lossy): the prompt and cache counts the provider reported, if any (Anthropic's
    /// `message_start` has them), else 0; completion tokens are the larger of what the provider reported so
    /// far and [`tokens_of_bytes`] of the text counted here.
    pub fn charge(&self, reported: Option<Usage>, reported_final: bool) -> Usage {
        match reported {
            Some(usage) if reported_final => usage,
            Some(usage) => {
                Usage { completion_tokens: usage.completion_tokens.max(tokens_of_bytes(self.bytes)), ..usage }
            }
            None => Usage { completion_tokens: tokens_of_bytes(self.bytes), ..Usage::default() },
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn tokens_of_bytes_rounds_up() {
        assert_eq!([0, 1, 4, 5, 8, 9].map(tokens_of_bytes), [0, 1, 1, 2, 2, 3]);
        assert_eq!(tokens_of_bytes(u64::MAX), u64::MAX / 4 + 1);
    }

    #[test]
    fn prompt_estimate_counts_message_bytes_and_messages() {
        // messages raw: 72 bytes, 2 roles -> ceil(72 / 4) + 2 * 4.
        let messages = r#"[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]"#;
        assert_eq!(messages.len(), 72);
        let body = format!(r#"{{"model":"m","messages":{messages},"temperature":0.5,"user":"a long user id"}}"#);
        let view = RequestView::parse(body.as_bytes()).unwrap();
        assert_eq!(estimate_prompt_tokens(&view), 18 + 8);
        // Tools count by their bytes too.
        let tools = r#"[{"type":"function","function":{"name":"f"}}]"#;
        let body = format!(r#"{{"model":"m","messages":{messages},"tools":{tools}}}"#);
        let view = RequestView::parse(body.as_bytes()).unwrap();
        assert_eq!(estimate_prompt_tokens(&view), (72 + tools.len() as u64).div_ceil(4) + 8);
    }

    #[test]
    fn prompt_estimate_of_completions_and_embeddings_is_their_input_bytes() {
        let view = RequestView::parse(br#"{"model":"m","prompt":"0123456789"}"#).unwrap();
        assert_eq!(estimate_prompt_tokens(&view), 3);
        let view = RequestView::parse(br#"{"model":"m","input":["ab","cd"]}"#).unwrap();
        assert_eq!(estimate_prompt_tokens(&view), 3);
        for body in [&br#"{"model":"m"}"#[..], br#"{"model":"m","messages":null}"#] {
            assert_eq!(estimate_prompt_tokens(&RequestView::parse(body).unwrap()), 0);
        }
    }

    #[test]
    fn produced_counts_raw_strings_without_quotes() {
        let mut produced = Produced::default();
        produced.add_raw_json_str(r#""abc""#);
        produced.add_raw_json_str(r#""a\nb""#);
        produced.add_raw_json_str("\"\"");
        produced.add_text("é");
        produced.add_bytes(1);
        produced.add_raw_json_str("12");
        // "abc", `a\nb` as written, "", é in UTF-8, 1, and a non-string counted whole.
        assert_eq!(produced.bytes(), 12);
    }

    #[test]
    fn charge_is_the_final_usage_or_the_larger_completion() {
        let mut produced = Produced::default();
        produced.add_text("0123456789");
        let said = Usage { prompt_tokens: 9, completion_tokens: 1, cached_tokens: Some(2), ..Usage::default() };
        assert_eq!(produced.charge(Some(said), true), said);
        assert_eq!(produced.charge(Some(said), false), Usage { completion_tokens: 3, ..said });
        let more = Usage { completion_tokens: 30, ..said };
        assert_eq!(produced.charge(Some(more), false), more);
        assert_eq!(produced.charge(None, true), Usage { completion_tokens: 3, ..Usage::default() });
        assert_eq!(Produced::default().charge(None, false), Usage::default());
    }

    /// Found by the `stream_cohere` fuzz target: a provider's count near `u64::MAX` overflowed the total
    /// (a panic with overflow checks, a wrapped, tiny bill without).
    #[test]
    fn huge_provider_counts_saturate_instead_of_wrapping() {
        let usage = Usage { prompt_tokens: u64::MAX, completion_tokens: 12, ..Usage::default() };
        assert_eq!(usage.total_tokens(), u64::MAX);
        assert_eq!(usage.to_openai()["total_tokens"], u64::MAX);
    }
}
