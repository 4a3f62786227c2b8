//! OpenAI `/embeddings` <-> Bedrock `InvokeModel` (`POST /model/{modelId}/invoke`) for Amazon Titan and
//! Cohere embedding models, answered in OpenAI's shape with float or base64 vectors.
//!
//! | model | request | answer | note |
//! |---|---|---|---|
//! | `amazon.titan-embed-text-v1`, `amazon.titan-embed-g1-text-02` | `{"inputText"}` | `{"embedding", "inputTextTokenCount"}` | no `dimensions` |
//! | `amazon.titan-embed-text-v2:0` | `{"inputText", "dimensions"}` | the same | `dimensions`: 256, 512 or 1024 |
//! | `amazon.titan-embed-image-v1` | `{"inputText", "embeddingConfig": {"outputEmbeddingLength"}}` | the same | text input only |
//! | `cohere.embed-*` | `{"texts", "input_type", "output_dimension"}` | `{"embeddings": [[...]]}` or `{"embeddings": {"float": [[...]]}}` | `input_type` defaults to `search_document` (LiteLLM) |
//!
//! References: <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html>,
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html>; parameters follow
//! LiteLLM's `litellm/llms/bedrock/embed/{amazon_titan_v2,cohere}_transformation.py`.
//!
//! **One input per Titan call.** Titan embeds one text per `InvokeModel` call; LiteLLM makes N calls for a
//! batch of N. A translator maps one request to one request, so a Titan batch of more than one input is
//! refused with a 400 that says so; send one request per input, or use a Cohere model, which takes up to
//! 96 texts per call.
//!
//! **Float or base64.** Floats are always requested and the numbers are passed on byte for byte; base64
//! is made here as OpenAI defines it (the little-endian `f32` bytes, base64-encoded), rounding each number
//! to `f32` (lossy only beyond `f32` precision, exactly as OpenAI's own base64 is). LiteLLM instead asks
//! Titan for `binary` embeddings for `base64`, which are packed bits, not the same vector.
//!
//! **Usage.** Titan says `inputTextTokenCount`; Cohere's body carries no token count (Bedrock sends it in
//! the `x-amzn-bedrock-input-token-count` header, [`INPUT_TOKEN_COUNT_HEADER`]), so its usage here is 0
//! and the gateway should take the header's number.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::openai::RequestView;
use crate::{RequestOptions, ResponseMeta, TranslateError, Usage};

use super::PROVIDER;

/// The response header in which Bedrock reports the input tokens of an `InvokeModel` call.
pub const INPUT_TOKEN_COUNT_HEADER: &str = "x-amzn-bedrock-input-token-count";

/// How the client asked for its vectors (`encoding_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EmbeddingFormat {
    /// JSON arrays of numbers (OpenAI's default).
    #[default]
    Float,
    /// Base64 of the little-endian `f32` bytes.
    Base64,
}

impl EmbeddingFormat {
    /// The format a client's request asks for (`encoding_format`, absent or null = float).
    pub fn of(view: &RequestView<'_>) -> Result<EmbeddingFormat, TranslateError> {
        let Some(raw) = view.get("encoding_format") else {
            return Ok(EmbeddingFormat::Float);
        };
        match raw.get() {
            "null" | "\"float\"" => Ok(EmbeddingFormat::Float),
            "\"base64\"" => Ok(EmbeddingFormat::Base64),
            _ => Err(TranslateError::WrongType { field: "encoding_format", expected: "`float` or `base64`" }),
        }
    }
}

/// The embedding model families served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    TitanV1,
    TitanV2,
    TitanImage,
    Cohere,
}

fn family(model: &str) -> Option<Family> {
    if model.contains("cohere.embed") {
        Some(Family::Cohere)
    } else if model.contains("titan-embed-text-v2") {
        Some(Family::TitanV2)
    } else if model.contains("titan-embed-image") {
        Some(Family::TitanImage)
    } else if model.contains("titan-embed") {
        Some(Family::TitanV1)
    } else {
        None
    }
}

/// A JSON string, borrowed from the body when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

const INPUT_EXPECTED: &str = "a string or an array of strings (Bedrock embeddings take text, not token arrays)";

/// The `InvokeModel` body for an OpenAI embeddings request to `model`.
pub fn request(view: &RequestView<'_>, model: &str, opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let Some(family) = family(model) else {
        return Err(TranslateError::Unsupported {
            provider: PROVIDER,
            what: format!("/embeddings with model `{model}` (Amazon Titan and Cohere embedding models are)"),
        });
    };
    // Validated here so a bad value is a 400 before the call, not after it.
    EmbeddingFormat::of(view)?;
    let Some(raw) = view.get("input") else {
        return Err(TranslateError::MissingField("input"));
    };
    let inputs: Vec<Cow<'_, str>> = if raw.get().starts_with('[') {
        let list: Vec<Text<'_>> = serde_json::from_str(raw.get())
            .map_err(|_| TranslateError::WrongType { field: "input", expected: INPUT_EXPECTED })?;
        list.into_iter().map(|t| t.0).collect()
    } else {
        let one: Text<'_> = serde_json::from_str(raw.get())
            .map_err(|_| TranslateError::WrongType { field: "input", expected: INPUT_EXPECTED })?;
        vec![one.0]
    };
    if inputs.is_empty() {
        return Err(TranslateError::WrongType { field: "input", expected: "a non-empty string or array of strings" });
    }
    let dimensions = view.get("dimensions").filter(|d| d.get() != "null");
    let mut body = Map::new();
    match family {
        Family::TitanV1 | Family::TitanV2 | Family::TitanImage => {
            let [input] = inputs.as_slice() else {
                return Err(TranslateError::WrongType {
                    field: "input",
                    expected: "a single string: Amazon Titan embeddings take one input per call \
                               (send one request per input, or use a Cohere embedding model for batches)",
                });
            };
            body.insert("inputText".to_owned(), Value::String(input.to_string()));
            if let Some(dimensions) = dimensions {
                let n = number(dimensions, "dimensions")?;
                match family {
                    Family::TitanV2 => _ = body.insert("dimensions".to_owned(), n),
                    Family::TitanImage => {
                        _ = body.insert("embeddingConfig".to_owned(), json!({ "outputEmbeddingLength": n }))
                    }
                    // Titan v1 has a fixed size (1536).
                    _ => refuse_dimensions(opts)?,
                }
            }
        }
        Family::Cohere => {
            body.insert("texts".to_owned(), json!(inputs));
            // Not an OpenAI parameter but LiteLLM's: Cohere needs to know what the vectors are for.
            let input_type = match view.get("input_type").filter(|t| t.get() != "null") {
                Some(t) => {
                    serde_json::from_str::<Value>(t.get()).map_err(|e| TranslateError::InvalidJson(e.to_string()))?
                }
                None => Value::String("search_document".to_owned()),
            };
            body.insert("input_type".to_owned(), input_type);
            if let Some(truncate) = view.get("truncate").filter(|t| t.get() != "null") {
                let truncate = serde_json::from_str::<Value>(truncate.get())
                    .map_err(|e| TranslateError::InvalidJson(e.to_string()))?;
                body.insert("truncate".to_owned(), truncate);
            }
            if let Some(dimensions) = dimensions {
                // LiteLLM maps `dimensions` to `output_dimension` (Embed v4; v3 models answer 400).
                body.insert("output_dimension".to_owned(), number(dimensions, "dimensions")?);
            }
        }
    }
    // `user` and `model` have no Bedrock form and are harmless; `encoding_format` is applied to the answer.
    serde_json::to_vec(&body).map_err(|e| TranslateError::InvalidJson(e.to_string()))
}

fn refuse_dimensions(opts: &RequestOptions) -> Result<(), TranslateError> {
    if opts.drop_params {
        return Ok(());
    }
    Err(TranslateError::UnsupportedParam { provider: PROVIDER, param: "dimensions".to_owned() })
}

fn number(raw: &RawValue, field: &'static str) -> Result<Value, TranslateError> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(n @ Value::Number(_)) => Ok(n),
        _ => Err(TranslateError::WrongType { field, expected: "a number" }),
    }
}

/// The embedding answer of either family, borrowed from the body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    /// Titan: one vector.
    #[serde(borrow, default)]
    embedding: Option<&'a RawValue>,
    /// Titan: the input's tokens.
    #[serde(default)]
    input_text_token_count: Option<u64>,
    /// Cohere: `[[...], ...]`, or `{"float": [[...], ...]}` when `embedding_types` was sent.
    #[serde(borrow, default)]
    embeddings: Option<&'a RawValue>,
}

/// The OpenAI embeddings answer, with vectors in `format`, for a Titan or Cohere answer body.
pub fn response(
    body: &[u8],
    meta: &ResponseMeta<'_>,
    format: EmbeddingFormat,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    let answer: Answer<'_> = serde_json::from_slice(body).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    let vectors: Vec<&RawValue> = match (answer.embedding, answer.embeddings) {
        (Some(one), _) => vec![one],
        (None, Some(many)) if many.get().starts_with('{') => {
            #[derive(Deserialize)]
            struct ByType<'a> {
                #[serde(borrow)]
                float: Vec<&'a RawValue>,
            }
            let by_type: ByType<'_> =
                serde_json::from_str(many.get()).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
            by_type.float
        }
        (None, Some(many)) => {
            serde_json::from_str(many.get()).map_err(|e| TranslateError::ProviderBody(e.to_string()))?
        }
        (None, None) => {
            return Err(TranslateError::ProviderBody("no `embedding` or `embeddings` in the answer".into()))
        }
    };
    let mut data = Vec::with_capacity(vectors.len());
    for (index, vector) in vectors.into_iter().enumerate() {
        let embedding = match format {
            EmbeddingFormat::Float => Vector::Raw(vector),
            EmbeddingFormat::Base64 => Vector::Base64(base64_f32(vector)?),
        };
        data.push(Embedding { object: "embedding", index, embedding });
    }
    let prompt_tokens = answer.input_text_token_count.unwrap_or(0);
    let usage = Usage { prompt_tokens, ..Usage::default() };
    let out = EmbeddingList {
        object: "list",
        data,
        model: meta.model,
        usage: EmbeddingUsage { prompt_tokens, total_tokens: prompt_tokens },
    };
    let out = serde_json::to_vec(&out).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    Ok((out, usage))
}

/// A vector of JSON numbers as OpenAI's base64: little-endian `f32` bytes.
fn base64_f32(vector: &RawValue) -> Result<String, TranslateError> {
    let numbers: Vec<f64> =
        serde_json::from_str(vector.get()).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    let mut bytes = Vec::with_capacity(numbers.len() * 4);
    for n in numbers {
        // Rounded to f32, the precision OpenAI's base64 vectors carry.
        bytes.extend_from_slice(&(n as f32).to_le_bytes());
    }
    Ok(aws_smithy_types::base64::encode(bytes))
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding<'a>>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Raw(&'a RawValue),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}
