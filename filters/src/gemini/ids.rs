//! Tool-call ids: Gemini's function calls have none, so they are made here, deterministically.
//!
//! Lossy mapping, said once: Gemini matches a function result to its call by the function's *name*, not by
//! an id. An answer's calls get `call_<response id without "chatcmpl-">_<n>`, `n` counting the calls of the
//! answer from 0 across all its choices, so ids are unique within an answer and across answers (the
//! gateway makes a fresh response id per answer). When the client sends results back, each `tool` message
//! is sent under the name of the earlier call whose id it quotes; the id itself is not sent (Vertex AI and
//! most Gemini models refuse `id` on `functionCall`/`functionResponse`). Two results for calls of the same
//! function stay in call order, which is how Gemini pairs them.
//!
//! Thought signatures: a thinking model signs its function calls (`thoughtSignature`) and, for Gemini 3,
//! refuses a conversation that replays a call without its signature. OpenAI's tool calls have no place for
//! it, so it rides inside the id after [`THOUGHT_SEPARATOR`], exactly as LiteLLM encodes it
//! (`_encode_tool_call_id_with_signature`), and is put back on the `functionCall` part when the client
//! replays the call. Ids made by LiteLLM therefore round-trip through Tollgate and back. A Gemini 3 turn
//! replayed without any signature gets Google's documented dummy one (see `request::convert_messages`).

use std::borrow::Cow;

use super::json;

/// What separates a call id from the thought signature it carries (LiteLLM's `THOUGHT_SIGNATURE_SEPARATOR`).
pub const THOUGHT_SEPARATOR: &str = "__thought__";

/// The prefix of the ids of an answer's calls: `call_<response id without "chatcmpl-">_`.
pub fn call_id_base(response_id: &str) -> String {
    let suffix = response_id.strip_prefix("chatcmpl-").unwrap_or(response_id);
    format!("call_{suffix}_")
}

/// Writes the id of call `n` as a JSON string: the provider's own id when it gave one, else
/// `base` + `n`; the thought signature, if any, appended after [`THOUGHT_SEPARATOR`].
pub(crate) fn write_call_id(out: &mut Vec<u8>, base: &str, n: u64, provider_id: Option<&str>, signature: Option<&str>) {
    out.push(b'"');
    match provider_id {
        Some(id) => json::write_str_body(out, id),
        None => {
            json::write_str_body(out, base);
            json::write_u64(out, n);
        }
    }
    if let Some(signature) = signature {
        out.extend_from_slice(THOUGHT_SEPARATOR.as_bytes());
        json::write_str_body(out, signature);
    }
    out.push(b'"');
}

/// The thought signature carried by a client's tool-call id, if any.
pub(crate) fn signature_of<'a>(id: &Cow<'a, str>) -> Option<Cow<'a, str>> {
    // Ids are short: trying each `_` beats building a substring searcher for every call.
    let sep = THOUGHT_SEPARATOR.as_bytes();
    let bytes = id.as_bytes();
    let at = (0..bytes.len()).find(|&i| bytes[i] == b'_' && bytes[i..].starts_with(sep))? + sep.len();
    let signature = match id {
        Cow::Borrowed(b) => Cow::Borrowed(&b[at..]),
        Cow::Owned(o) => Cow::Owned(o[at..].to_owned()),
    };
    (!signature.is_empty()).then_some(signature)
}
