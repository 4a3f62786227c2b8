//! Cost of a call from its usage, the price table and its lookups, overrides and the worst case.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use tollgate_filters::usage::Usage;

use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

const P: Prices = Prices {
    input: 3e-6,
    output: 15e-6,
    cache_read: Some(3e-7),
    cache_creation: Some(3.75e-6),
    reasoning: Some(20e-6),
    max_output_tokens: Some(8_192),
};

#[test]
fn plain_usage_is_prompt_at_input_plus_completion_at_output() {
    let u = Usage { prompt_tokens: 1_000, completion_tokens: 200, ..Usage::default() };
    assert!(close(cost_of(&P, &u), 1_000.0 * 3e-6 + 200.0 * 15e-6));
}

#[test]
fn cached_and_cache_written_tokens_are_priced_once_at_their_own_rates() {
    let u = Usage {
        prompt_tokens: 1_000,
        completion_tokens: 0,
        cached_tokens: Some(600),
        cache_creation_tokens: Some(300),
        reasoning_tokens: None,
    };
    // 100 uncached + 600 read + 300 written: 1,000 tokens, each priced once.
    let want = 100.0 * 3e-6 + 600.0 * 3e-7 + 300.0 * 3.75e-6;
    assert!(close(cost_of(&P, &u), want), "{} != {want}", cost_of(&P, &u));
    // Without cache rates, cached tokens cost what input does: never more than the uncached call.
    let plain = Prices { cache_read: None, cache_creation: None, ..P };
    assert!(close(cost_of(&plain, &u), 1_000.0 * 3e-6));
}

#[test]
fn reasoning_tokens_are_part_of_completion_not_added_on_top() {
    let u = Usage { prompt_tokens: 0, completion_tokens: 500, reasoning_tokens: Some(400), ..Usage::default() };
    assert!(close(cost_of(&P, &u), 100.0 * 15e-6 + 400.0 * 20e-6));
    let no_rate = Prices { reasoning: None, ..P };
    assert!(close(cost_of(&no_rate, &u), 500.0 * 15e-6));
}

#[test]
fn inconsistent_counts_are_clamped_not_double_counted() {
    let u = Usage {
        prompt_tokens: 100,
        completion_tokens: 10,
        cached_tokens: Some(150),
        cache_creation_tokens: Some(50),
        reasoning_tokens: Some(30),
    };
    assert!(close(cost_of(&P, &u), 100.0 * 3e-7 + 10.0 * 20e-6));
}

#[test]
fn worst_case_holds_prompt_and_max_tokens_at_the_dearest_rates() {
    let w = worst_case(&P, 1_000, Some(100), 4_096);
    assert!(close(w, 1_000.0 * 3.75e-6 + 100.0 * 20e-6));
    // No max_tokens: the default, capped at the model's max_output_tokens.
    let w = worst_case(&P, 0, None, 100_000);
    assert!(close(w, 8_192.0 * 20e-6));
    let uncapped = Prices { max_output_tokens: None, cache_creation: None, reasoning: None, ..P };
    assert!(close(worst_case(&uncapped, 10, None, 1_000), 10.0 * 3e-6 + 1_000.0 * 15e-6));
    // Whatever the call does, it never costs more than its worst case.
    let u = Usage {
        prompt_tokens: 1_000,
        completion_tokens: 100,
        cached_tokens: Some(10),
        cache_creation_tokens: Some(990),
        reasoning_tokens: Some(100),
    };
    assert!(cost_of(&P, &u) <= worst_case(&P, 1_000, Some(100), 0) + 1e-15);
}

#[test]
fn overrides_win_over_the_table() {
    let table = PriceTable::embedded().lookup("gpt-4o").unwrap();
    let o =
        PriceOverrides { input_cost_per_token: Some(1e-6), output_cost_per_token: Some(2e-6), ..Default::default() };
    let p = prices_for("openai/gpt-4o", &o).unwrap();
    assert_eq!((p.input, p.output), (1e-6, 2e-6));
    // Fields the override leaves out come from the table.
    assert_eq!(p.cache_read, table.cache_read);
    assert_eq!(p.max_output_tokens, table.max_output_tokens);
    let o = PriceOverrides { cache_read_input_token_cost: Some(0.0), ..Default::default() };
    assert_eq!(prices_for("gpt-4o", &o).unwrap().cache_read, Some(0.0));
}

#[test]
fn an_unknown_model_is_priced_only_by_complete_overrides() {
    assert_eq!(prices_for("openai/my-finetune", &PriceOverrides::default()), None);
    let half = PriceOverrides { input_cost_per_token: Some(1e-6), ..Default::default() };
    assert_eq!(prices_for("openai/my-finetune", &half), None);
    let full = PriceOverrides { output_cost_per_token: Some(3e-6), ..half };
    let p = prices_for("openai/my-finetune", &full).unwrap();
    assert_eq!((p.input, p.output, p.cache_read), (1e-6, 3e-6, None));
}

#[test]
fn overrides_parse_from_litellm_params() {
    let o: PriceOverrides = serde_json::from_str(
        r#"{"model": "openai/x", "input_cost_per_token": 0.000001, "output_cost_per_token": 2e-6, "rpm": 10}"#,
    )
    .unwrap();
    assert_eq!(o.input_cost_per_token, Some(1e-6));
    assert_eq!(o.output_cost_per_token, Some(2e-6));
    assert!(!o.is_empty());
    let params = PriceOverrides { input_cost_per_token: Some(5e-6), ..Default::default() };
    let merged = params.or(o);
    assert_eq!((merged.input_cost_per_token, merged.output_cost_per_token), (Some(5e-6), Some(2e-6)));
}

#[test]
fn the_shipped_table_parses_and_covers_the_common_models() {
    let t = PriceTable::from_json(EMBEDDED_JSON).unwrap();
    assert!(t.len() >= 40, "only {} models priced", t.len());
    assert_eq!(t.len(), PriceTable::embedded().len());
    for model in [
        "gpt-4o",
        "openai/gpt-4o-mini",
        "azure/gpt-4.1",
        "o1",
        "o3-mini",
        "o4-mini",
        "text-embedding-3-small",
        "anthropic/claude-3-7-sonnet-20250219",
        "anthropic/claude-sonnet-4-5",
        "claude-3-haiku-20240307",
        "claude-opus-4-1",
        "gemini/gemini-2.0-flash",
        "gemini/gemini-2.5-pro",
        "vertex_ai/gemini-3-pro-preview",
        "vertex_ai/claude-3-5-sonnet@20240620",
        "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
        "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "bedrock/amazon.titan-embed-text-v2:0",
        "bedrock/cohere.embed-english-v3",
        "cohere/command-r-plus",
        "cohere_chat/command-r",
        "mistral/mistral-large-latest",
        "mistral/mistral-embed",
        "groq/llama-3.3-70b-versatile",
        "deepseek/deepseek-chat",
        "xai/grok-3",
    ] {
        let p = t.lookup(model);
        assert!(p.is_some_and(|p| p.input > 0.0), "{model}: {p:?}");
    }
}

#[test]
fn the_shipped_table_keeps_litellm_prices() {
    let t = PriceTable::embedded();
    let p = t.lookup("openai/gpt-4o").unwrap();
    assert_eq!((p.input, p.output, p.cache_read, p.max_output_tokens), (2.5e-6, 1e-5, Some(1.25e-6), Some(16_384)));
    let p = t.lookup("anthropic/claude-3-7-sonnet-20250219").unwrap();
    assert_eq!((p.input, p.cache_read, p.cache_creation), (3e-6, Some(3e-7), Some(3.75e-6)));
    assert_eq!(t.lookup("gemini/gemini-2.5-flash").unwrap().reasoning, Some(2.5e-6));
    // A region's own price wins over the global one (Bedrock charges us.* profiles 10% more).
    assert_eq!(t.lookup("bedrock/us.anthropic.claude-sonnet-5").unwrap().input, 2.2e-6);
    assert_eq!(t.lookup("bedrock/anthropic.claude-sonnet-5").unwrap().input, 2e-6);
    // An embedding without an output rate in LiteLLM's file costs nothing for output.
    assert_eq!(t.lookup("mistral/mistral-embed").unwrap().output, 0.0);
}

#[test]
fn lookup_follows_litellm_key_conventions() {
    let t = PriceTable::from_json(
        r#"{
            "_comment": "not a model",
            "sample_spec": {"input_cost_per_token": "x"},
            "dall-e-3": {"output_cost_per_image": 0.04},
            "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06},
            "gemini/gemini-1.5-pro": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 5e-06},
            "gemini-1.5-pro": {"input_cost_per_token": 2e-06, "output_cost_per_token": 6e-06},
            "anthropic.claude-3-haiku-20240307-v1:0": {"input_cost_per_token": 2.5e-07, "output_cost_per_token": 1.25e-06}
        }"#,
    )
    .unwrap();
    assert_eq!(t.len(), 4);
    assert_eq!(t.lookup("openai/gpt-4o").unwrap().cache_read, Some(1.25e-6));
    assert_eq!(t.lookup("azure/gpt-4o").unwrap().input, 2.5e-6);
    // The provider's own key wins over the bare name (Gemini API and Vertex price differently).
    assert_eq!(t.lookup("gemini/gemini-1.5-pro").unwrap().input, 1.25e-6);
    assert_eq!(t.lookup("vertex_ai/gemini-1.5-pro").unwrap().input, 2e-6);
    for m in [
        "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
        "bedrock/us-east-1/anthropic.claude-3-haiku-20240307-v1:0",
        "bedrock/converse/eu.anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-3-haiku-20240307-v1:0",
    ] {
        assert_eq!(t.lookup(m).map(|p| p.output), Some(1.25e-6), "{m}");
    }
    assert_eq!(t.lookup("openai/gpt-5-unknown"), None);
    assert_eq!(t.lookup(""), None);
}
