//! Bedrock Converse answer -> OpenAI `chat.completion`.
//! Reference: <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax>.
//!
//! `output.message.content[]` blocks: `text` blocks are joined into `content` (`null` when there is none, as
//! OpenAI answers a tool-only turn); `toolUse` blocks become `tool_calls` with Bedrock's `toolUseId` as the
//! id and the `input` object, byte for byte, as the `arguments` string; `reasoningContent.reasoningText`
//! becomes `reasoning_content` (LiteLLM's name; the signature and redacted reasoning are dropped, lossy:
//! a client cannot hand them back for a later thinking turn). Any other block (citations, images, guard
//! content) has no OpenAI form and is skipped, lossy.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{ResponseMeta, TranslateError, Usage};

use super::mapping::{finish_reason, TokenUsage};
use super::request::JSON_TOOL_NAME;

/// The Converse answer, borrowed from the body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse<'a> {
    #[serde(borrow)]
    output: Output<'a>,
    #[serde(borrow)]
    stop_reason: Cow<'a, str>,
    #[serde(default)]
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Output<'a> {
    #[serde(borrow, default)]
    message: Option<OutMessage<'a>>,
}

#[derive(Deserialize)]
struct OutMessage<'a> {
    #[serde(borrow, default)]
    content: Vec<OutBlock<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutBlock<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_use: Option<OutToolUse<'a>>,
    #[serde(borrow, default)]
    reasoning_content: Option<OutReasoning<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutToolUse<'a> {
    #[serde(borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    input: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutReasoning<'a> {
    #[serde(borrow, default)]
    reasoning_text: Option<ReasoningText<'a>>,
}

#[derive(Deserialize)]
struct ReasoningText<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// The OpenAI answer and its usage for a Converse answer body.
pub fn chat(body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    let answer: ConverseResponse<'_> =
        serde_json::from_slice(body).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in answer.output.message.map(|m| m.content).unwrap_or_default() {
        if let Some(t) = block.text {
            text.get_or_insert_with(String::new).push_str(&t);
        }
        if let Some(tool) = block.tool_use {
            tool_calls.push(ToolCall {
                id: tool.tool_use_id,
                kind: "function",
                function: FunctionCall { name: tool.name, arguments: tool.input.get() },
            });
        }
        if let Some(t) = block.reasoning_content.and_then(|r| r.reasoning_text).and_then(|r| r.text) {
            reasoning.get_or_insert_with(String::new).push_str(&t);
        }
    }
    let mut finish = finish_reason(&answer.stop_reason);
    if let [only] = tool_calls.as_slice() {
        if only.function.name == JSON_TOOL_NAME {
            // LiteLLM's JSON mode: the forced tool's input is the JSON answer the client asked for.
            text = Some(only.function.arguments.to_owned());
            tool_calls.clear();
            if finish == "tool_calls" {
                finish = "stop";
            }
        }
    }
    let usage = answer.usage.unwrap_or_default().to_usage();
    let completion = ChatCompletion {
        id: meta.id,
        object: "chat.completion",
        created: meta.created,
        model: meta.model,
        system_fingerprint: None,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                refusal: None,
                content: text,
                reasoning_content: reasoning,
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish,
        }],
        usage: usage.to_openai(),
    };
    let out = serde_json::to_vec(&completion).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    Ok((out, usage))
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    /// Omitted: OpenAI's schema types it a string, and Bedrock has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: Option<&'static str>,
    choices: [Choice<'a>; 1],
    usage: serde_json::Value,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    /// Required by OpenAI's schema; Bedrock has no refusal of its own, so always `null`.
    refusal: Option<()>,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: Cow<'a, str>,
    arguments: &'a str,
}
