//! Wildcard model groups, as LiteLLM's pattern router reads them (`pattern_match_deployments.py`): a
//! `model_name` with `*` (`"*"`, `"anthropic/*"`) serves every requested model it matches that no group
//! names exactly, and a deployment whose `litellm_params.model` has `*` gets the matched parts in their place.
//!
//! - A pattern is LiteLLM's `re.match(re.escape(pattern).replace("\\*", "(.*)"), model)`: anchored at the
//!   start only, each `*` a greedy capture ([`captures`]).
//! - Patterns are tried most specific first (longer patterns, then more `*`), the first match wins; exact
//!   group names always win over patterns.
//! - The model sent: each `*` of `litellm_params.model` replaced by the captures in order (more captures
//!   than `*` leaves the requested name whole); a bare `*` (no provider prefix) takes the provider from the
//!   requested name (`groq/llama-3` goes to Groq) and OpenAI for a bare name (`gpt-4o`), as LiteLLM infers.

use std::sync::Arc;

use tollgate_filters::Provider;

use super::model::{Config, Deployment, ModelGroup, ProviderChoice};

/// The captures of `pattern` (a `model_name` with `*`) on `text`, LiteLLM's way; `None` when it does not
/// match.
pub fn captures(pattern: &str, text: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first()?;
    let tail = text.strip_prefix(first)?;
    let mut out = Vec::with_capacity(rest.len());
    matches_from(rest, tail, &mut out).then_some(out)
}

/// Greedy, with backtracking, as a regex engine: each capture takes as much as lets the rest match; the
/// last literal need not reach the end (the match is anchored at the start only).
fn matches_from(parts: &[&str], text: &str, out: &mut Vec<String>) -> bool {
    let Some((literal, rest)) = parts.split_first() else {
        return true;
    };
    // Longest capture first: every end position from the end of the text back to here.
    let mut ends: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
    ends.reverse();
    for end in ends {
        let (captured, after) = text.split_at(end);
        if let Some(next) = after.strip_prefix(literal) {
            out.push(captured.to_string());
            if matches_from(rest, next, out) {
                return true;
            }
            out.pop();
        }
    }
    false
}

/// The longest model name a wildcard serves.
pub const MAX_SERVED_NAME: usize = 256;

/// Whether a wildcard may serve `name`: up to [`MAX_SERVED_NAME`] bytes of letters, digits and `._:/@+-`, no
/// `..` (it becomes a path segment of a provider URL, a header value and a log field).
pub fn servable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVED_NAME
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'@' | b'+' | b'-'))
}

/// How specific a pattern is: LiteLLM sorts by the regex's length, then by its metacharacters, both
/// descending.
pub fn specificity(pattern: &str) -> (usize, usize) {
    let stars = pattern.matches('*').count();
    (pattern.len() + stars * 3, stars)
}

impl Config {
    /// The group serving `requested`: the group of that name, else the most specific wildcard group that
    /// matches, with its captures.
    pub fn resolve(&self, requested: &str) -> Option<(&Arc<ModelGroup>, Option<Vec<String>>)> {
        if let Some(group) = self.group(requested) {
            return Some((group, None));
        }
        // A name a wildcard serves goes into headers, logs and provider URLs: model-name characters only.
        if !servable_name(requested) {
            return None;
        }
        self.wildcards.iter().filter_map(|i| self.groups.get(*i)).find_map(|g| {
            let caps = captures(&g.name, requested)?;
            Some((g, Some(caps)))
        })
    }
}

impl Deployment {
    /// This wildcard deployment serving `requested` (with the `captures` of its group's pattern): the model
    /// sent, its provider when the deployment names none (`*`), and that provider's default `api_base` when
    /// the config gave none. Answers carry the requested name as their model.
    pub fn for_request(&self, requested: &str, captures: &[String]) -> Deployment {
        let stars = self.litellm_model.matches('*').count();
        let litellm_model = if stars == 0 {
            self.litellm_model.clone()
        } else if captures.len() > stars {
            requested.to_string()
        } else {
            let mut out = String::with_capacity(self.litellm_model.len() + requested.len());
            let mut caps = captures.iter();
            for (i, part) in self.litellm_model.split('*').enumerate() {
                if i > 0 {
                    out.push_str(caps.next().map_or("", String::as_str));
                }
                out.push_str(part);
            }
            out
        };
        let mut d = self.clone();
        d.from_wildcard = true;
        d.model_name = requested.to_string();
        if self.litellm_model.contains('/') {
            // `openai/*`: the provider is the deployment's; the model sent is what follows the prefix.
            let prefix_len = self.litellm_model.find('/').map_or(0, |i| i + 1);
            d.upstream_model = litellm_model.get(prefix_len..).unwrap_or(&litellm_model).to_string();
        } else {
            // A bare `*`: the requested name says the provider, OpenAI when it names none.
            let (provider, upstream) = match tollgate_filters::split_model(&litellm_model) {
                Ok((p, m)) => (p, m.to_string()),
                Err(_) => (Provider::OpenAI, litellm_model.clone()),
            };
            if !self.api_base_given {
                d.api_base = provider.default_api_base().map(str::to_owned);
            }
            if !self.api_key_given {
                // No key of its own: the served provider's usual one, never OpenAI's sent to another provider.
                d.api_key = self.wildcard_keys.iter().find(|(p, _)| *p == provider).map(|(_, k)| k.clone());
            }
            d.provider = ProviderChoice::Served(provider);
            d.provider_from_request = true;
            d.upstream_model = upstream;
        }
        d.litellm_model = litellm_model;
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_litellms_regexes_do() {
        assert_eq!(captures("*", "gpt-4o"), Some(vec!["gpt-4o".to_string()]));
        assert_eq!(captures("anthropic/*", "anthropic/claude-x"), Some(vec!["claude-x".to_string()]));
        assert_eq!(captures("anthropic/*", "claude-x"), None);
        assert_eq!(captures("*-mini", "gpt-4o-mini"), Some(vec!["gpt-4o".to_string()]));
        // Anchored at the start only: the last literal need not reach the end.
        assert_eq!(captures("*-mini", "gpt-4o-mini-2024"), Some(vec!["gpt-4o".to_string()]));
        assert_eq!(captures("a/*/b/*", "a/x/b/y/b/z"), Some(vec!["x/b/y".to_string(), "z".to_string()]));
        assert_eq!(captures("gpt-*", "claude"), None);
        assert!(specificity("anthropic/*") > specificity("*"));
        for bad in ["a\nb", "x?y=1", "../etc", "a b", &"m".repeat(300), ""] {
            assert!(!servable_name(bad), "{bad:?}");
        }
        assert!(servable_name("groq/llama-3.1-8b@v2:latest"));
    }
}
