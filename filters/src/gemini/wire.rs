//! Gemini's wire types (Google AI Studio `v1beta` and Vertex AI `v1` share them): what we send
//! (`GenerateContentRequest`, `BatchEmbedContentsRequest`) and what we read back (`GenerateContentResponse`,
//! the embeddings answers, Google's error body).
//!
//! Reference: <https://ai.google.dev/api/generate-content> and
//! <https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference>. Field names are the
//! proto JSON names (lowerCamelCase); Google's JSON parser also accepts the snake_case proto names, which is
//! what `inline_data`/`file_data` use (as LiteLLM and Google's own REST samples write them).
//! Read side: every struct ignores unknown members and borrows strings from the body when they have no
//! escapes; what we do not read (safety ratings, citations, grounding, model version) is dropped.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::json;
use super::schema::Schema;

// ---------------------------------------------------------------------------------------------------------
// Request side (written by hand into the output buffer, as the OpenAI answers are: no serde `Serializer`
// state machine per member, keys written as literals, raw client values copied byte for byte)
// ---------------------------------------------------------------------------------------------------------

/// `GenerateContentRequest` (the model is in the URL, not the body).
#[derive(Debug)]
pub(crate) struct ChatRequest<'a> {
    pub contents: Vec<Content<'a>>,
    pub system_instruction: Option<SystemInstruction<'a>>,
    pub tools: Vec<Tool<'a>>,
    pub tool_config: Option<ToolConfig<'a>>,
    pub safety_settings: Option<&'a RawValue>,
    pub generation_config: GenerationConfig<'a>,
    pub cached_content: Option<Cow<'a, str>>,
}

impl ChatRequest<'_> {
    /// Writes the body as Gemini's JSON: members in this order, absent ones (and an empty
    /// `generationConfig` or `tools`) left out.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"contents\":[");
        for (i, content) in self.contents.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"role\":");
            json::write_str(out, content.role);
            out.extend_from_slice(b",\"parts\":");
            write_parts(out, &content.parts);
            out.push(b'}');
        }
        out.push(b']');
        if let Some(system) = &self.system_instruction {
            out.extend_from_slice(b",\"systemInstruction\":{\"parts\":");
            write_parts(out, &system.parts);
            out.push(b'}');
        }
        if !self.tools.is_empty() {
            out.extend_from_slice(b",\"tools\":[");
            for (i, tool) in self.tools.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                tool.write(out);
            }
            out.push(b']');
        }
        if let Some(config) = &self.tool_config {
            let calling = &config.function_calling_config;
            out.extend_from_slice(b",\"toolConfig\":{\"functionCallingConfig\":{\"mode\":");
            json::write_str(out, calling.mode);
            if let Some([name]) = &calling.allowed_function_names {
                out.extend_from_slice(b",\"allowedFunctionNames\":[");
                json::write_str(out, name);
                out.push(b']');
            }
            out.extend_from_slice(b"}}");
        }
        if let Some(raw) = self.safety_settings {
            out.extend_from_slice(b",\"safetySettings\":");
            out.extend_from_slice(raw.get().as_bytes());
        }
        if !self.generation_config.is_empty() {
            out.extend_from_slice(b",\"generationConfig\":");
            self.generation_config.write(out);
        }
        if let Some(cached) = &self.cached_content {
            out.extend_from_slice(b",\"cachedContent\":");
            json::write_str(out, cached);
        }
        out.push(b'}');
    }
}

/// A JSON array of parts.
fn write_parts(out: &mut Vec<u8>, parts: &[Part<'_>]) {
    out.push(b'[');
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        part.write(out);
    }
    out.push(b']');
}

/// One turn: `user` or `model`, consecutive turns of one role merged.
#[derive(Debug)]
pub(crate) struct Content<'a> {
    pub role: &'static str,
    pub parts: Vec<Part<'a>>,
}

/// `systemInstruction`: text parts only (its role is ignored by both APIs, so none is sent).
#[derive(Debug)]
pub(crate) struct SystemInstruction<'a> {
    pub parts: Vec<Part<'a>>,
}

/// One `Part` of a turn; exactly one kind of data each.
#[derive(Debug)]
pub(crate) enum Part<'a> {
    /// `{"text": ...}`.
    Text { text: Cow<'a, str> },
    /// `{"inline_data": {...}}`.
    InlineData { inline_data: Blob<'a> },
    /// `{"file_data": {...}}`.
    FileData { file_data: FileData<'a> },
    /// `{"functionCall": {...}, "thoughtSignature": ...}`.
    FunctionCall {
        function_call: FunctionCallOut<'a>,
        /// The signature Gemini attached to this call, carried back inside the tool-call id (see `ids`).
        thought_signature: Option<Cow<'a, str>>,
    },
    /// `{"functionResponse": {...}}`.
    FunctionResponse { function_response: FunctionResponseOut<'a> },
}

impl Part<'_> {
    /// Writes the part as a JSON object.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Part::Text { text } => {
                out.extend_from_slice(b"{\"text\":");
                json::write_str(out, text);
            }
            Part::InlineData { inline_data } => {
                out.extend_from_slice(b"{\"inline_data\":{\"mime_type\":");
                json::write_str(out, &inline_data.mime_type);
                out.extend_from_slice(b",\"data\":");
                json::write_str(out, &inline_data.data);
                out.push(b'}');
            }
            Part::FileData { file_data } => {
                out.extend_from_slice(b"{\"file_data\":{\"mime_type\":");
                json::write_str(out, &file_data.mime_type);
                out.extend_from_slice(b",\"file_uri\":");
                json::write_str(out, &file_data.file_uri);
                out.push(b'}');
            }
            Part::FunctionCall { function_call, thought_signature } => {
                out.extend_from_slice(b"{\"functionCall\":{\"name\":");
                json::write_str(out, &function_call.name);
                out.extend_from_slice(b",\"args\":");
                out.extend_from_slice(function_call.args.as_bytes());
                out.push(b'}');
                if let Some(signature) = thought_signature {
                    out.extend_from_slice(b",\"thoughtSignature\":");
                    json::write_str(out, signature);
                }
            }
            Part::FunctionResponse { function_response } => {
                out.extend_from_slice(b"{\"functionResponse\":{\"name\":");
                json::write_str(out, &function_response.name);
                out.extend_from_slice(b",\"response\":");
                match &function_response.response {
                    FunctionResult::Object(object) => out.extend_from_slice(object.as_bytes()),
                    FunctionResult::Text { content } => {
                        out.extend_from_slice(b"{\"content\":");
                        json::write_str(out, content);
                        out.push(b'}');
                    }
                }
                out.push(b'}');
            }
        }
        out.push(b'}');
    }
}

/// `inline_data`: base64 bytes with their MIME type.
#[derive(Debug)]
pub(crate) struct Blob<'a> {
    pub mime_type: Cow<'a, str>,
    pub data: Cow<'a, str>,
}

/// `file_data`: a `gs://` or `https://` URI with its MIME type.
#[derive(Debug)]
pub(crate) struct FileData<'a> {
    pub mime_type: Cow<'a, str>,
    pub file_uri: Cow<'a, str>,
}

/// `functionCall` in a `model` turn we replay.
#[derive(Debug)]
pub(crate) struct FunctionCallOut<'a> {
    pub name: Cow<'a, str>,
    /// The arguments' JSON object text, checked to be JSON, without surrounding whitespace.
    pub args: Cow<'a, str>,
}

/// `functionResponse` in a `user` turn.
#[derive(Debug)]
pub(crate) struct FunctionResponseOut<'a> {
    pub name: Cow<'a, str>,
    pub response: FunctionResult<'a>,
}

/// What a tool answered: a JSON object as is, anything else wrapped as `{"content": "..."}` (LiteLLM's
/// `convert_to_gemini_tool_call_result`).
#[derive(Debug)]
pub(crate) enum FunctionResult<'a> {
    /// The answer's JSON object text, checked to be JSON, without surrounding whitespace.
    Object(Cow<'a, str>),
    Text {
        content: Cow<'a, str>,
    },
}

/// One `Tool`: function declarations grouped together, every other kind in a tool of its own.
#[derive(Debug)]
pub(crate) enum Tool<'a> {
    /// `{"functionDeclarations": [...]}`.
    Functions { function_declarations: Vec<FunctionDeclaration<'a>> },
    /// `{"googleSearch": {}}`.
    GoogleSearch { google_search: Empty },
    /// A Gemini-native tool the client sent as is (`{"codeExecution": {}}`, `{"urlContext": {}}`, ...).
    Native(&'a RawValue),
}

impl Tool<'_> {
    /// Writes the tool as a JSON object.
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Tool::Functions { function_declarations } => {
                out.extend_from_slice(b"{\"functionDeclarations\":[");
                for (i, declaration) in function_declarations.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"name\":");
                    json::write_str(out, &declaration.name);
                    if let Some(description) = &declaration.description {
                        out.extend_from_slice(b",\"description\":");
                        json::write_str(out, description);
                    }
                    if let Some(parameters) = &declaration.parameters {
                        out.extend_from_slice(b",\"parameters\":");
                        parameters.write(out);
                    }
                    out.push(b'}');
                }
                out.extend_from_slice(b"]}");
            }
            Tool::GoogleSearch { google_search: Empty {} } => out.extend_from_slice(b"{\"googleSearch\":{}}"),
            Tool::Native(raw) => out.extend_from_slice(raw.get().as_bytes()),
        }
    }
}

/// `{}`.
#[derive(Debug)]
pub(crate) struct Empty {}

/// One `FunctionDeclaration`.
#[derive(Debug)]
pub(crate) struct FunctionDeclaration<'a> {
    pub name: Cow<'a, str>,
    pub description: Option<Cow<'a, str>>,
    pub parameters: Option<Schema<'a>>,
}

/// `toolConfig`.
#[derive(Debug)]
pub(crate) struct ToolConfig<'a> {
    pub function_calling_config: FunctionCallingConfig<'a>,
}

/// `functionCallingConfig`: `AUTO`, `NONE` or `ANY` (optionally limited to named functions).
#[derive(Debug)]
pub(crate) struct FunctionCallingConfig<'a> {
    pub mode: &'static str,
    pub allowed_function_names: Option<[Cow<'a, str>; 1]>,
}

/// `generationConfig`; numbers are passed through exactly as the client wrote them.
#[derive(Debug, Default)]
pub(crate) struct GenerationConfig<'a> {
    pub temperature: Option<&'a RawValue>,
    pub top_p: Option<&'a RawValue>,
    pub top_k: Option<&'a RawValue>,
    pub max_output_tokens: Option<&'a RawValue>,
    pub candidate_count: Option<&'a RawValue>,
    pub stop_sequences: Option<StopSequences<'a>>,
    pub seed: Option<&'a RawValue>,
    pub presence_penalty: Option<&'a RawValue>,
    pub frequency_penalty: Option<&'a RawValue>,
    pub response_logprobs: Option<bool>,
    pub logprobs: Option<&'a RawValue>,
    pub response_mime_type: Option<&'static str>,
    pub response_schema: Option<Schema<'a>>,
    pub response_json_schema: Option<&'a RawValue>,
    pub thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig<'_> {
    /// Nothing set: the member is left out of the request.
    pub fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.candidate_count.is_none()
            && self.stop_sequences.is_none()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.response_logprobs.is_none()
            && self.logprobs.is_none()
            && self.response_mime_type.is_none()
            && self.response_schema.is_none()
            && self.response_json_schema.is_none()
            && self.thinking_config.is_none()
    }

    /// Writes the set members as a JSON object, in the order of the fields.
    fn write(&self, out: &mut Vec<u8>) {
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &[u8]| {
            out.extend_from_slice(if first { b"{\"" } else { b",\"" });
            first = false;
            out.extend_from_slice(name);
            out.extend_from_slice(b"\":");
        };
        let raws = [
            (&b"temperature"[..], self.temperature),
            (b"topP", self.top_p),
            (b"topK", self.top_k),
            (b"maxOutputTokens", self.max_output_tokens),
            (b"candidateCount", self.candidate_count),
        ];
        for (name, raw) in raws {
            if let Some(raw) = raw {
                key(out, name);
                out.extend_from_slice(raw.get().as_bytes());
            }
        }
        match &self.stop_sequences {
            Some(StopSequences::One([one])) => {
                key(out, b"stopSequences");
                out.push(b'[');
                json::write_str(out, one);
                out.push(b']');
            }
            Some(StopSequences::Many(raw)) => {
                key(out, b"stopSequences");
                out.extend_from_slice(raw.get().as_bytes());
            }
            None => {}
        }
        let raws = [
            (&b"seed"[..], self.seed),
            (b"presencePenalty", self.presence_penalty),
            (b"frequencyPenalty", self.frequency_penalty),
        ];
        for (name, raw) in raws {
            if let Some(raw) = raw {
                key(out, name);
                out.extend_from_slice(raw.get().as_bytes());
            }
        }
        if let Some(on) = self.response_logprobs {
            key(out, b"responseLogprobs");
            out.extend_from_slice(if on { b"true" } else { b"false" });
        }
        if let Some(raw) = self.logprobs {
            key(out, b"logprobs");
            out.extend_from_slice(raw.get().as_bytes());
        }
        if let Some(mime) = self.response_mime_type {
            key(out, b"responseMimeType");
            json::write_str(out, mime);
        }
        if let Some(schema) = &self.response_schema {
            key(out, b"responseSchema");
            schema.write(out);
        }
        if let Some(raw) = self.response_json_schema {
            key(out, b"responseJsonSchema");
            out.extend_from_slice(raw.get().as_bytes());
        }
        if let Some(thinking) = &self.thinking_config {
            key(out, b"thinkingConfig");
            thinking.write(out);
        }
        if first {
            out.push(b'{');
        }
        out.push(b'}');
    }
}

/// `stopSequences`: OpenAI's `stop` string becomes a one-element list.
#[derive(Debug)]
pub(crate) enum StopSequences<'a> {
    One([Cow<'a, str>; 1]),
    Many(&'a RawValue),
}

/// `thinkingConfig`: a token budget (Gemini 2.5) or a level (Gemini 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Tokens the model may think for (`0` turns thinking off where the model allows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// `minimal`, `low`, `medium` or `high` (Gemini 3 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<&'static str>,
    /// Whether thought summaries come back (as `thought: true` parts, our `reasoning_content`).
    pub include_thoughts: bool,
}

impl ThinkingConfig {
    /// Writes the config as JSON, as its `Serialize` does.
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(budget) = self.thinking_budget {
            out.extend_from_slice(b"\"thinkingBudget\":");
            if budget < 0 {
                out.push(b'-');
            }
            json::write_u64(out, budget.unsigned_abs());
            out.push(b',');
        }
        if let Some(level) = self.thinking_level {
            out.extend_from_slice(b"\"thinkingLevel\":");
            json::write_str(out, level);
            out.push(b',');
        }
        out.extend_from_slice(b"\"includeThoughts\":");
        out.extend_from_slice(if self.include_thoughts { b"true}" } else { b"false}" });
    }
}

/// `batchEmbedContents` body.
#[derive(Debug, Serialize)]
pub(crate) struct BatchEmbedRequest<'a> {
    pub requests: Vec<EmbedContentRequest<'a>>,
}

/// One `EmbedContentRequest`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmbedContentRequest<'a> {
    pub model: &'a str,
    pub content: EmbedContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<&'a RawValue>,
}

/// The `content` of an embedding request: one text part.
#[derive(Debug, Serialize)]
pub(crate) struct EmbedContent<'a> {
    pub parts: [TextPart<'a>; 1],
}

/// `{"text": ...}`.
#[derive(Debug, Serialize)]
pub(crate) struct TextPart<'a> {
    pub text: Cow<'a, str>,
}

/// Vertex AI's `:predict` body for text-embedding models.
#[derive(Debug, Serialize)]
pub(crate) struct VertexPredictRequest<'a> {
    pub instances: Vec<VertexInstance<'a>>,
    #[serde(skip_serializing_if = "VertexParameters::is_empty")]
    pub parameters: VertexParameters<'a>,
}

/// One instance: the text, and the task type when the client gave one.
#[derive(Debug, Serialize)]
pub(crate) struct VertexInstance<'a> {
    pub content: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<Cow<'a, str>>,
}

/// `parameters` of a `:predict` call.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VertexParameters<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<&'a RawValue>,
}

impl VertexParameters<'_> {
    /// Nothing set: the member is left out.
    pub fn is_empty(&self) -> bool {
        self.output_dimensionality.is_none()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Client side (what we read from the OpenAI request)
// ---------------------------------------------------------------------------------------------------------

/// One OpenAI chat message; `content` is kept raw (a string, an array of parts, or null).
#[derive(Debug, Deserialize)]
pub(crate) struct Message<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow, default)]
    pub content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub tool_calls: Option<Vec<ToolCallIn<'a>>>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub tool_call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function_call: Option<FunctionIn<'a>>,
}

/// One `tool_calls` entry of an assistant message.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallIn<'a> {
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub function: FunctionIn<'a>,
}

/// A called function: its name and its arguments as a JSON text.
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionIn<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub arguments: Option<Cow<'a, str>>,
}

/// One element of an array `content`.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentPartIn<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub text: Option<Cow<'a, str>>,
    /// A string URL or `{"url", "detail", "format"}`.
    #[serde(borrow, default)]
    pub image_url: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub input_audio: Option<InputAudio<'a>>,
    #[serde(borrow, default)]
    pub file: Option<FileIn<'a>>,
}

/// `image_url` in its object form.
#[derive(Debug, Deserialize)]
pub(crate) struct ImageUrlIn<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    /// LiteLLM's extension: the MIME type, for URLs without a telling extension.
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub format: Option<Cow<'a, str>>,
}

/// `input_audio`: base64 data and its format (`wav`, `mp3`).
#[derive(Debug, Deserialize)]
pub(crate) struct InputAudio<'a> {
    #[serde(borrow)]
    pub data: Cow<'a, str>,
    #[serde(borrow)]
    pub format: Cow<'a, str>,
}

/// `file`: a data URL (`file_data`) or a URI (`file_id`), with LiteLLM's optional `format`.
#[derive(Debug, Deserialize)]
pub(crate) struct FileIn<'a> {
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub file_data: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub file_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub format: Option<Cow<'a, str>>,
}

/// One entry of `tools`.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolIn<'a> {
    #[serde(borrow, default, rename = "type", deserialize_with = "crate::openai::opt_str")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionDefIn<'a>>,
}

/// A function definition (`tools[].function`, or an entry of legacy `functions`); the parameters' schema
/// is read into a tree in the same pass, since it is rewritten anyway (see `schema`).
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionDefIn<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub parameters: Option<Schema<'a>>,
}

// ---------------------------------------------------------------------------------------------------------
// Response side (deserialized)
// ---------------------------------------------------------------------------------------------------------

/// `GenerateContentResponse`: a whole answer, or one chunk of a stream. Stream error events carry `error`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse<'a> {
    #[serde(borrow, default)]
    pub candidates: Vec<Candidate<'a>>,
    #[serde(borrow, default)]
    pub prompt_feedback: Option<PromptFeedback<'a>>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(borrow, default)]
    pub error: Option<GoogleError<'a>>,
}

/// One candidate answer (`n` > 1 gives several, told apart by `index`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate<'a> {
    #[serde(borrow, default)]
    pub content: Option<ContentOut<'a>>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub index: Option<usize>,
    #[serde(borrow, default)]
    pub logprobs_result: Option<LogprobsResult<'a>>,
}

/// The `content` of a candidate.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentOut<'a> {
    #[serde(borrow, default)]
    pub parts: Vec<PartOut<'a>>,
}

/// One part of a candidate: text (a thought when `thought` is true), or a function call.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartOut<'a> {
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub thought_signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function_call: Option<FunctionCallIn<'a>>,
}

/// `functionCall` in an answer; `id` is only set by some models (Live API, Gemini 3 on AI Studio).
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionCallIn<'a> {
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub args: Option<&'a RawValue>,
}

/// `logprobsResult`: the chosen token at each step and the top alternatives.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogprobsResult<'a> {
    #[serde(borrow, default)]
    pub top_candidates: Vec<TopCandidates<'a>>,
    #[serde(borrow, default)]
    pub chosen_candidates: Vec<LogprobCandidate<'a>>,
}

/// The alternatives at one step.
#[derive(Debug, Deserialize)]
pub(crate) struct TopCandidates<'a> {
    #[serde(borrow, default)]
    pub candidates: Vec<LogprobCandidate<'a>>,
}

/// A token and its log probability (kept as the number's text).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogprobCandidate<'a> {
    #[serde(borrow, default)]
    pub token: Cow<'a, str>,
    #[serde(borrow, default)]
    pub log_probability: Option<&'a RawValue>,
}

/// `promptFeedback`: set when the prompt itself was blocked (then there are no candidates).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback<'a> {
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub block_reason: Option<Cow<'a, str>>,
}

/// `usageMetadata` (every count optional; see the usage table in `usage.rs`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    pub prompt_token_count: Option<u64>,
    pub candidates_token_count: Option<u64>,
    pub total_token_count: Option<u64>,
    pub cached_content_token_count: Option<u64>,
    pub thoughts_token_count: Option<u64>,
}

/// Google's error object (`google.rpc.Status` as JSON): `{"code", "message", "status", "details"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct GoogleError<'a> {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub message: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub details: Vec<ErrorDetail<'a>>,
}

/// One entry of `details`; only `ErrorInfo.reason` is read (`API_KEY_INVALID`).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail<'a> {
    #[serde(borrow, default, deserialize_with = "crate::openai::opt_str")]
    pub reason: Option<Cow<'a, str>>,
}

/// `{"error": {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody<'a> {
    #[serde(borrow)]
    pub error: GoogleError<'a>,
}

/// `batchEmbedContents` answer: one `values` list per request, in order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchEmbedResponse<'a> {
    #[serde(borrow, default)]
    pub embeddings: Vec<EmbeddingValues<'a>>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
}

/// `{"values": [...]}`, kept raw.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingValues<'a> {
    #[serde(borrow)]
    pub values: &'a RawValue,
}

/// Vertex AI `:predict` answer for text-embedding models.
#[derive(Debug, Deserialize)]
pub(crate) struct VertexPredictResponse<'a> {
    #[serde(borrow, default)]
    pub predictions: Vec<VertexPrediction<'a>>,
}

/// One prediction: `{"embeddings": {"values": [...], "statistics": {"token_count": N}}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct VertexPrediction<'a> {
    #[serde(borrow)]
    pub embeddings: VertexEmbedding<'a>,
}

/// Values and statistics of one Vertex embedding.
#[derive(Debug, Deserialize)]
pub(crate) struct VertexEmbedding<'a> {
    #[serde(borrow)]
    pub values: &'a RawValue,
    #[serde(default)]
    pub statistics: Option<VertexStatistics>,
}

/// `statistics.token_count` (a float in Vertex's answers, e.g. `7.0`).
#[derive(Debug, Deserialize)]
pub(crate) struct VertexStatistics {
    #[serde(default)]
    pub token_count: Option<f64>,
}
