//! OpenAI's `encoding_format: "base64"` for embeddings: each vector as the base64 of its little-endian
//! f32 values, as OpenAI sends it (and as the SDK asks by default). Translators answer with floats; the
//! gateway re-encodes when the client asked for base64, so the rule lives in one place.

use serde_json::Value;

/// The client's `encoding_format` asks for base64.
pub fn wants_base64(view: &super::RequestView<'_>) -> bool {
    view.get("encoding_format").is_some_and(|v| v.get().trim() == "\"base64\"")
}

/// The base64 of `values` as little-endian f32 (precision beyond f32 is lost, as in OpenAI's own format).
pub fn f32_base64(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&(*v as f32).to_le_bytes());
    }
    aws_smithy_types::base64::encode(bytes)
}

/// Rewrites every `data[].embedding` float array of an OpenAI embeddings answer as base64; `None` when
/// the body is not such an answer (then it is passed on as it is).
pub fn embeddings_to_base64(body: &[u8]) -> Option<Vec<u8>> {
    let mut answer: Value = serde_json::from_slice(body).ok()?;
    let data = answer.get_mut("data")?.as_array_mut()?;
    for item in data {
        let Some(embedding) = item.get_mut("embedding") else { continue };
        let Some(values) = embedding.as_array() else { continue }; // already base64
        let floats: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
        *embedding = Value::String(f32_base64(&floats));
    }
    serde_json::to_vec(&answer).ok()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn floats_become_little_endian_f32_base64() {
        // 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0
        assert_eq!(f32_base64(&[1.0, -2.0]), "AACAPwAAAMA=");
        let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0,-2.0]}],"model":"m"}"#;
        let out: Value = serde_json::from_slice(&embeddings_to_base64(body).unwrap()).unwrap();
        assert_eq!(out["data"][0]["embedding"], "AACAPwAAAMA=");
        assert_eq!(out["model"], "m");
    }

    #[test]
    fn only_base64_is_asked_for_by_the_string_base64() {
        let v = super::super::RequestView::parse(br#"{"model":"m","encoding_format":"base64"}"#).unwrap();
        assert!(wants_base64(&v));
        let v = super::super::RequestView::parse(br#"{"model":"m","encoding_format":"float"}"#).unwrap();
        assert!(!wants_base64(&v));
    }
}
