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

#[cfg(test)]
mod tests {
    use super::Usage;

    /// Found by the `stream_cohere` fuzz target: a provider's count near `u64::MAX` overflowed the total
    /// (a panic with overflow checks, a wrapped, tiny bill without).
    #[test]
    fn huge_provider_counts_saturate_instead_of_wrapping() {
        let usage = Usage { prompt_tokens: u64::MAX, completion_tokens: 12, ..Usage::default() };
        assert_eq!(usage.total_tokens(), u64::MAX);
        assert_eq!(usage.to_openai()["total_tokens"], u64::MAX);
    }
}
