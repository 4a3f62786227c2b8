//! LiteLLM's `mock_response` answers: the bodies a deployment with `mock_response` set returns instead of
//! calling a provider. Pure: the response id and `created` time are passed in.
//!
//! Usage is fixed like LiteLLM's `mock_completion` (10 prompt, 20 completion, 30 total tokens), so spend and
//! budget accounting can be tested end to end without a provider. Where we differ from LiteLLM, it is said
//! at the function; everywhere, `system_fingerprint` is left out where LiteLLM writes `null` (OpenAI's
//! schema types it a string) and the message carries `refusal: null` (the schema requires it).

use serde_json::{json, Value};

/// What a mock response says about itself; the caller makes the id and reads the clock.
#[derive(Debug, Clone, Copy)]
pub struct MockMeta<'a> {
    /// The response id (`chatcmpl-...`, `cmpl-...`).
    pub id: &'a str,
    /// Unix seconds.
    pub created: u64,
    /// The model name the client sees.
    pub model: &'a str,
}

/// Prompt tokens a mock response reports (LiteLLM's fixed value).
pub const PROMPT_TOKENS: u64 = 10;
/// Completion tokens a mock response reports (LiteLLM's fixed value).
pub const COMPLETION_TOKENS: u64 = 20;

/// The usage every mock completion reports, for spend accounting.
pub const USAGE: crate::usage::Usage = crate::usage::Usage {
    prompt_tokens: PROMPT_TOKENS,
    completion_tokens: COMPLETION_TOKENS,
    cached_tokens: None,
    cache_creation_tokens: None,
    reasoning_tokens: None,
};

/// The `usage` object every mock completion reports.
fn usage() -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    })
}

/// A `chat.completion` body whose assistant message is `content`.
pub fn chat_completion(meta: &MockMeta<'_>, content: &str) -> Vec<u8> {
    let body = json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": content,
                "refusal": null,
            },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(),
    });
    body.to_string().into_bytes()
}

/// A whole `text/event-stream` body streaming `content`, ending with exactly one `data: [DONE]`.
///
/// Chunks: one with the role, one per word (with the whitespace before it), one with `finish_reason`
/// `"stop"`, and with `include_usage` a last one with `choices: []` and the usage (every other chunk then
/// carries `"usage": null`, as OpenAI's do). LiteLLM cuts the text into 3-character pieces instead; the
/// concatenated content is the same.
pub fn chat_stream(meta: &MockMeta<'_>, content: &str, include_usage: bool) -> Vec<u8> {
    let chunk = |choices: Value, usage: Value| {
        let mut chunk = json!({
            "id": meta.id,
            "object": "chat.completion.chunk",
            "created": meta.created,
            "model": meta.model,
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = usage;
        }
        chunk.to_string()
    };
    let delta = |delta: Value, finish_reason: Value| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }]);

    let mut out = Vec::with_capacity(content.len() * 4 + 1024);
    let mut write = |json: String| crate::framing::sse::write_data(&mut out, json.as_bytes());
    write(chunk(delta(json!({ "role": "assistant", "content": "" }), Value::Null), Value::Null));
    for piece in words(content) {
        write(chunk(delta(json!({ "content": piece }), Value::Null), Value::Null));
    }
    write(chunk(delta(json!({}), json!("stop")), Value::Null));
    if include_usage {
        write(chunk(json!([]), usage()));
    }
    out.extend_from_slice(crate::framing::sse::DONE);
    out
}

/// Cuts `content` before every run of whitespace that follows a word: `"Hi  there"` -> `["Hi", "  there"]`.
/// Concatenated, the pieces are `content` again.
fn words(content: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut after_word = false;
    for (i, c) in content.char_indices() {
        let space = c.is_whitespace();
        if space && after_word {
            pieces.push(&content[start..i]);
            start = i;
        }
        after_word = !space;
    }
    if start < content.len() {
        pieces.push(&content[start..]);
    }
    pieces
}

/// A legacy `text_completion` body whose only choice's text is `content`.
pub fn text_completion(meta: &MockMeta<'_>, content: &str) -> Vec<u8> {
    let body = json!({
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{ "text": content, "index": 0, "logprobs": null, "finish_reason": "stop" }],
        "usage": usage(),
    });
    body.to_string().into_bytes()
}

/// An embeddings `list` with one deterministic vector of `dims` floats in [-1, 1] per input.
///
/// Usage reports [`PROMPT_TOKENS`] per input and no completion tokens: we do not tokenize, and a fixed
/// count keeps budget tests predictable.
pub fn embeddings(model: &str, inputs: usize, dims: usize) -> Vec<u8> {
    let data: Vec<Value> = (0..inputs)
        .map(|index| json!({ "object": "embedding", "index": index, "embedding": vector(index, dims) }))
        .collect();
    let tokens = PROMPT_TOKENS.saturating_mul(u64::try_from(inputs).unwrap_or(u64::MAX));
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    });
    body.to_string().into_bytes()
}

/// The mock vector for input `index`: thousandths in [-1, 1], different per input, short to print.
fn vector(index: usize, dims: usize) -> Vec<f64> {
    (0..dims)
        .map(|j| {
            let k = index.wrapping_mul(7919).wrapping_add(j.wrapping_mul(104_729)).wrapping_add(1) % 2001;
            // k < 2001, so the conversion is exact.
            (k as f64 - 1000.0) / 1000.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Mock bodies compared as JSON values; streams decoded with the crate's own SSE decoder.

    use serde_json::{json, Value};

    use super::{chat_completion, chat_stream, embeddings, text_completion, words, MockMeta};
    use crate::framing::SseDecoder;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const META: MockMeta<'static> = MockMeta { id: "chatcmpl-123", created: 1_700_000_000, model: "gpt-4o" };

    /// The JSON payloads of a stream, and how many `[DONE]` events it had.
    fn stream_chunks(body: &[u8]) -> Result<(Vec<Value>, usize), Box<dyn std::error::Error>> {
        let mut decoder = SseDecoder::new(1 << 20);
        let mut events = Vec::new();
        decoder.push(body, &mut events)?;
        decoder.finish(&mut events)?;
        let done = events.iter().filter(|e| e.is_done()).count();
        assert!(events.last().is_some_and(|e| e.is_done()), "[DONE] is not last");
        let chunks: Result<Vec<Value>, _> =
            events.iter().filter(|e| !e.is_done()).map(|e| serde_json::from_str(&e.data)).collect();
        Ok((chunks?, done))
    }

    #[test]
    fn chat_completion_matches_litellm_mock() -> TestResult {
        let body: Value = serde_json::from_slice(&chat_completion(&META, "Hi \"there\"\n"))?;
        assert_eq!(
            body,
            json!({
                "id": "chatcmpl-123",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "gpt-4o",
                "choices": [{
                    "index": 0,
                    "message": { "role": "assistant", "content": "Hi \"there\"\n", "refusal": null },
                    "logprobs": null,
                    "finish_reason": "stop",
                }],
                "usage": { "prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30 },
            })
        );
        Ok(())
    }

    #[test]
    fn chat_stream_content_concatenates_back() -> TestResult {
        let content = "  It's simple to use\nand  easy é😀 ";
        let (chunks, done) = stream_chunks(&chat_stream(&META, content, false))?;
        assert_eq!(done, 1);
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert_eq!(text, content);
        for chunk in &chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["id"], "chatcmpl-123");
            assert_eq!(chunk["created"], 1_700_000_000);
            assert_eq!(chunk["model"], "gpt-4o");
            assert!(chunk.get("usage").is_none(), "usage without include_usage: {chunk}");
        }
        Ok(())
    }

    #[test]
    fn chat_stream_starts_with_the_role_and_ends_with_stop() -> TestResult {
        let (chunks, _) = stream_chunks(&chat_stream(&META, "Hello world", false))?;
        let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]).collect();
        assert_eq!(deltas.len(), 4);
        assert_eq!(deltas[0]["delta"], json!({ "role": "assistant", "content": "" }));
        assert_eq!(deltas[1]["delta"], json!({ "content": "Hello" }));
        assert_eq!(deltas[2]["delta"], json!({ "content": " world" }));
        assert_eq!(deltas[3]["delta"], json!({}));
        assert_eq!(deltas[3]["finish_reason"], "stop");
        assert!(deltas[..3].iter().all(|d| d["finish_reason"].is_null()));
        Ok(())
    }

    #[test]
    fn chat_stream_with_include_usage_ends_with_a_usage_chunk() -> TestResult {
        let (chunks, done) = stream_chunks(&chat_stream(&META, "Hello world", true))?;
        assert_eq!(done, 1);
        let Some((last, rest)) = chunks.split_last() else {
            return Err("no chunks".into());
        };
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"], json!({ "prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30 }));
        assert!(rest.iter().all(|c| c.get("usage") == Some(&Value::Null)), "OpenAI sends usage: null before");
        Ok(())
    }

    #[test]
    fn chat_stream_of_empty_content_has_no_content_chunks() -> TestResult {
        let (chunks, done) = stream_chunks(&chat_stream(&META, "", false))?;
        assert_eq!((chunks.len(), done), (2, 1));
        Ok(())
    }

    #[test]
    fn chat_stream_ends_with_exactly_one_done() {
        let body = chat_stream(&META, "a b c", true);
        assert!(body.ends_with(b"\n\ndata: [DONE]\n\n"));
        assert_eq!(body.windows(6).filter(|w| w == b"[DONE]").count(), 1);
    }

    #[test]
    fn words_keep_whitespace_before_each_word() {
        assert_eq!(words("Hello world"), ["Hello", " world"]);
        assert_eq!(words("  a\n\nb  "), ["  a", "\n\nb", "  "]);
        assert_eq!(words("one"), ["one"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn text_completion_has_openai_shape() -> TestResult {
        let meta = MockMeta { id: "cmpl-1", created: 5, model: "gpt-3.5-turbo-instruct" };
        let body: Value = serde_json::from_slice(&text_completion(&meta, "done"))?;
        assert_eq!(
            body,
            json!({
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 5,
                "model": "gpt-3.5-turbo-instruct",
                "choices": [{ "text": "done", "index": 0, "logprobs": null, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30 },
            })
        );
        Ok(())
    }

    #[test]
    fn embeddings_are_deterministic_and_shaped() -> TestResult {
        let bytes = embeddings("text-embedding-3-small", 3, 8);
        assert_eq!(bytes, embeddings("text-embedding-3-small", 3, 8));
        let body: Value = serde_json::from_slice(&bytes)?;
        assert_eq!(body["object"], "list");
        assert_eq!(body["model"], "text-embedding-3-small");
        assert_eq!(body["usage"], json!({ "prompt_tokens": 30, "total_tokens": 30 }));
        let data = body["data"].as_array().ok_or("data is not an array")?;
        assert_eq!(data.len(), 3);
        for (i, item) in data.iter().enumerate() {
            assert_eq!(item["object"], "embedding");
            assert_eq!(item["index"], i);
            let vector = item["embedding"].as_array().ok_or("embedding is not an array")?;
            assert_eq!(vector.len(), 8);
            assert!(vector.iter().all(|x| x.as_f64().is_some_and(|x| (-1.0..=1.0).contains(&x))));
        }
        assert_ne!(data[0]["embedding"], data[1]["embedding"]);
        Ok(())
    }

    #[test]
    fn embeddings_of_no_inputs_is_an_empty_list() -> TestResult {
        let body: Value = serde_json::from_slice(&embeddings("m", 0, 4))?;
        assert_eq!(body["data"], json!([]));
        assert_eq!(body["usage"]["prompt_tokens"], 0);
        Ok(())
    }
}
