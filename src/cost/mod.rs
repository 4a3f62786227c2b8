//! What a call costs: the price table (a subset of LiteLLM's `model_prices_and_context_window.json`, kept in
//! `conf/model_prices.json`), the per-deployment overrides from `litellm_params` / `model_info`, the cost of a
//! finished call from its [`Usage`], and the worst case a reservation holds before the call.
//!
//! Pricing of one call (every rate is USD per token):
//!
//! | tokens | rate | fallback |
//! |---|---|---|
//! | prompt − cached − cache creation | `input_cost_per_token` | - |
//! | cached (cache read) | `cache_read_input_token_cost` | input rate |
//! | cache creation (cache write) | `cache_creation_input_token_cost` | input rate |
//! | completion − reasoning | `output_cost_per_token` | - |
//! | reasoning | `output_cost_per_reasoning_token` | output rate |
//!
//! Cached, cache-creation and reasoning tokens are parts of `prompt_tokens` / `completion_tokens` (see
//! [`tollgate_filters::usage`]), so each token is priced exactly once. Counts a provider reports
//! inconsistently (more cached tokens than prompt tokens) are clamped, never priced twice.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;
use tollgate_filters::usage::Usage;

/// The price table shipped with the gateway (see `conf/README.md` for its source and date).
const EMBEDDED_JSON: &str = include_str!("../../conf/model_prices.json");

/// Prices of one model, USD per token.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prices {
    /// Uncached input token.
    pub input: f64,
    /// Output token (reasoning included unless `reasoning` says otherwise).
    pub output: f64,
    /// Input token read from the provider's prompt cache.
    pub cache_read: Option<f64>,
    /// Input token written to the provider's prompt cache.
    pub cache_creation: Option<f64>,
    /// Output token spent on reasoning.
    pub reasoning: Option<f64>,
    /// The most output tokens the model produces in one call.
    pub max_output_tokens: Option<u64>,
}

/// Per-deployment prices from `litellm_params` or `model_info` (LiteLLM's field names); each set field wins
/// over the table.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct PriceOverrides {
    /// `input_cost_per_token`.
    pub input_cost_per_token: Option<f64>,
    /// `output_cost_per_token`.
    pub output_cost_per_token: Option<f64>,
    /// `cache_read_input_token_cost`.
    pub cache_read_input_token_cost: Option<f64>,
    /// `cache_creation_input_token_cost`.
    pub cache_creation_input_token_cost: Option<f64>,
    /// `output_cost_per_reasoning_token`.
    pub output_cost_per_reasoning_token: Option<f64>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u64>,
}

impl PriceOverrides {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == PriceOverrides::default()
    }

    /// `self` where set, `other` elsewhere (litellm_params over model_info, say).
    pub fn or(self, other: PriceOverrides) -> PriceOverrides {
        PriceOverrides {
            input_cost_per_token: self.input_cost_per_token.or(other.input_cost_per_token),
            output_cost_per_token: self.output_cost_per_token.or(other.output_cost_per_token),
            cache_read_input_token_cost: self.cache_read_input_token_cost.or(other.cache_read_input_token_cost),
            cache_creation_input_token_cost: self
                .cache_creation_input_token_cost
                .or(other.cache_creation_input_token_cost),
            output_cost_per_reasoning_token: self
                .output_cost_per_reasoning_token
                .or(other.output_cost_per_reasoning_token),
            max_output_tokens: self.max_output_tokens.or(other.max_output_tokens),
        }
    }
}

/// One entry of LiteLLM's file, the fields the gateway prices with (the others are ignored).
#[derive(Debug, Deserialize)]
struct Entry {
    input_cost_per_token: Option<f64>,
    output_cost_per_token: Option<f64>,
    cache_read_input_token_cost: Option<f64>,
    cache_creation_input_token_cost: Option<f64>,
    output_cost_per_reasoning_token: Option<f64>,
    max_output_tokens: Option<u64>,
    mode: Option<String>,
}

/// Model name (LiteLLM's key) to prices.
#[derive(Debug, Default)]
pub struct PriceTable {
    prices: HashMap<String, Prices>,
}

/// Region prefixes of Bedrock's cross-region inference profiles (`us.anthropic.claude-...`).
const BEDROCK_REGION_PREFIXES: [&str; 5] = ["us.", "eu.", "apac.", "global.", "us-gov."];

impl PriceTable {
    /// The table in `conf/model_prices.json`, parsed once.
    pub fn embedded() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| match PriceTable::from_json(EMBEDDED_JSON) {
            Ok(t) => t,
            Err(e) => {
                // Unreachable for the shipped file (a unit test parses it); no prices beats no gateway.
                log::error!("conf/model_prices.json: {e}");
                PriceTable::default()
            }
        })
    }

    /// Parses a file in LiteLLM's format: an object of model name to fields. Entries without both
    /// `input_cost_per_token` and `output_cost_per_token` (images, audio, `sample_spec`, comment keys such as
    /// `_source`) are skipped; an embedding without an output rate produces nothing to price (0).
    pub fn from_json(json: &str) -> Result<PriceTable, serde_json::Error> {
        let raw: HashMap<String, serde_json::Value> = serde_json::from_str(json)?;
        let mut prices = HashMap::with_capacity(raw.len());
        for (name, value) in raw {
            if !value.is_object() {
                continue;
            }
            let Ok(e) = serde_json::from_value::<Entry>(value) else {
                continue;
            };
            // LiteLLM leaves `output_cost_per_token` out of some embedding entries: they produce no tokens.
            let output = match (e.output_cost_per_token, e.mode.as_deref()) {
                (Some(o), _) => Some(o),
                (None, Some("embedding")) => Some(0.0),
                (None, _) => None,
            };
            let (Some(input), Some(output)) = (e.input_cost_per_token, output) else {
                continue;
            };
            prices.insert(
                name,
                Prices {
                    input,
                    output,
                    cache_read: e.cache_read_input_token_cost,
                    cache_creation: e.cache_creation_input_token_cost,
                    reasoning: e.output_cost_per_reasoning_token,
                    max_output_tokens: e.max_output_tokens,
                },
            );
        }
        Ok(PriceTable { prices })
    }

    /// How many models the table prices.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// True when the table prices no model.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// Prices of a `litellm_params.model`, by LiteLLM's key conventions: the whole name first
    /// (`gemini/gemini-1.5-pro`, `groq/llama-3.1-8b-instant`), then without each leading `provider/`
    /// segment (`anthropic/claude-3-5-sonnet-20241022` → `claude-3-5-sonnet-20241022`,
    /// `bedrock/us-east-1/anthropic.claude-...` → `anthropic.claude-...`), then without a Bedrock
    /// cross-region prefix (`us.anthropic.claude-...` → `anthropic.claude-...`).
    pub fn lookup(&self, litellm_model: &str) -> Option<Prices> {
        let mut rest = litellm_model;
        loop {
            if let Some(p) = self.prices.get(rest) {
                return Some(*p);
            }
            for region in BEDROCK_REGION_PREFIXES {
                if let Some(bare) = rest.strip_prefix(region) {
                    if let Some(p) = self.prices.get(bare) {
                        return Some(*p);
                    }
                }
            }
            let (_, tail) = rest.split_once('/')?;
            rest = tail;
        }
    }
}

/// Prices of a deployment: the embedded table's entry for `litellm_model` with every set override on top.
/// A model the table does not know is priced when the overrides give both input and output rates.
pub fn prices_for(litellm_model: &str, overrides: &PriceOverrides) -> Option<Prices> {
    let base = PriceTable::embedded().lookup(litellm_model);
    apply(base, overrides)
}

/// `base` with the set overrides on top (`None` when neither gives an input and an output rate).
pub fn apply(base: Option<Prices>, o: &PriceOverrides) -> Option<Prices> {
    let input = o.input_cost_per_token.or(base.map(|b| b.input))?;
    let output = o.output_cost_per_token.or(base.map(|b| b.output))?;
    Some(Prices {
        input,
        output,
        cache_read: o.cache_read_input_token_cost.or(base.and_then(|b| b.cache_read)),
        cache_creation: o.cache_creation_input_token_cost.or(base.and_then(|b| b.cache_creation)),
        reasoning: o.output_cost_per_reasoning_token.or(base.and_then(|b| b.reasoning)),
        max_output_tokens: o.max_output_tokens.or(base.and_then(|b| b.max_output_tokens)),
    })
}

/// USD cost of one call: each token at its own rate, none counted twice (see the table in the module doc).
pub fn cost_of(p: &Prices, u: &Usage) -> f64 {
    let cached = u.cached_tokens.unwrap_or(0).min(u.prompt_tokens);
    let creation = u.cache_creation_tokens.unwrap_or(0).min(u.prompt_tokens - cached);
    let uncached = u.prompt_tokens - cached - creation;
    let reasoning = u.reasoning_tokens.unwrap_or(0).min(u.completion_tokens);
    let visible = u.completion_tokens - reasoning;
    tokens_f64(uncached) * p.input
        + tokens_f64(cached) * p.cache_read.unwrap_or(p.input)
        + tokens_f64(creation) * p.cache_creation.unwrap_or(p.input)
        + tokens_f64(visible) * p.output
        + tokens_f64(reasoning) * p.reasoning.unwrap_or(p.output)
}

/// The most a call can cost before it runs: the prompt estimate at the dearest input rate (a cache write
/// can cost more than a plain input token) plus `max_tokens` (or `default_max_tokens`), capped at the
/// model's `max_output_tokens`, at the dearest output rate.
pub fn worst_case(p: &Prices, prompt_tokens_estimate: u64, max_tokens: Option<u64>, default_max_tokens: u64) -> f64 {
    let mut out = max_tokens.unwrap_or(default_max_tokens);
    if let Some(cap) = p.max_output_tokens {
        out = out.min(cap);
    }
    let input = p.input.max(p.cache_creation.unwrap_or(0.0));
    let output = p.output.max(p.reasoning.unwrap_or(0.0));
    tokens_f64(prompt_tokens_estimate) * input + tokens_f64(out) * output
}

/// A token count as f64 (exact below 2^53 tokens, far beyond any call).
fn tokens_f64(n: u64) -> f64 {
    n as f64
}
