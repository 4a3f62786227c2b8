//! `os.environ/NAME`: LiteLLM's way to take any string value of the config from the environment.
//!
//! The lookup order is LiteLLM's: the file's `environment_variables` first (LiteLLM copies them into
//! `os.environ` when it starts), then the process environment. The process environment comes in as a function,
//! so tests never touch the real one and nothing here calls `std::env::set_var` (which races with every thread
//! reading the environment).

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::litellm::{key_text, kind_of};
use super::{index_path, key_path};

/// The prefix that makes a string mean "the value of this environment variable".
pub(crate) const PREFIX: &str = "os.environ/";

/// Shortest substituted value that error messages are redacted for: shorter ones are not secrets, and
/// replacing them would garble the message (a variable holding `3` would blank every `3` in it).
const REDACT_MIN_LEN: usize = 4;

/// Where `os.environ/NAME` looks.
pub(crate) struct Environment<'a> {
    /// The file's `environment_variables`.
    file: BTreeMap<String, String>,
    /// The process environment (injected).
    process: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Environment<'a> {
    /// An environment of the file's variables over the process's.
    pub(crate) fn new(file: BTreeMap<String, String>, process: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { file, process }
    }

    /// The value of a variable: the file's first, then the process's.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.file.get(name).cloned().or_else(|| (self.process)(name))
    }
}

/// Reads `environment_variables`: variable names to scalars, each turned into a string as LiteLLM does.
pub(crate) fn file_variables(
    value: &Value,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let map = match value {
        Value::Null => return vars,
        Value::Mapping(map) => map,
        other => {
            errors.push(format!(
                "environment_variables: expected a mapping of variable names to values, found {}",
                kind_of(other)
            ));
            return vars;
        }
    };
    for (key, value) in map {
        let Value::String(name) = key else {
            errors.push(format!("{}: expected a variable name", key_path("environment_variables", &key_text(key))));
            continue;
        };
        let path = key_path("environment_variables", name);
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            // Python's str(bool): what LiteLLM puts into os.environ.
            Value::Bool(true) => "True".to_owned(),
            Value::Bool(false) => "False".to_owned(),
            Value::Null => {
                warnings.push(format!("{path}: has no value, variable not set"));
                continue;
            }
            other => {
                errors.push(format!("{path}: expected a string, a number or a boolean, found {}", kind_of(other)));
                continue;
            }
        };
        vars.insert(name.clone(), text);
    }
    vars
}

/// What resolving found: errors naming path and variable, and the values substituted (for [`redact`]).
#[derive(Default)]
pub(crate) struct Resolution {
    /// `path: environment variable NAME is not set`, ...
    pub errors: Vec<String>,
    /// Values substituted, often secrets.
    pub substituted: Vec<String>,
}

/// Replaces every `os.environ/NAME` string at or below `value` (found at `path`) by the variable's value.
pub(crate) fn resolve(value: &mut Value, path: &str, env: &Environment<'_>, out: &mut Resolution) {
    match value {
        Value::String(text) => {
            let Some(name) = text.strip_prefix(PREFIX) else { return };
            let name = name.to_owned();
            if name.is_empty() {
                out.errors.push(format!("{path}: \"{PREFIX}\" names no environment variable"));
                return;
            }
            let Some(resolved) = env.get(&name) else {
                out.errors.push(format!("{path}: environment variable {name} is not set"));
                return;
            };
            if resolved.len() >= REDACT_MIN_LEN {
                out.substituted.push(resolved.clone());
            }
            *text = resolved;
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                resolve(item, &index_path(path, index), env, out);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                resolve(item, &key_path(path, &key_text(key)), env, out);
            }
        }
        Value::Tagged(tagged) => resolve(&mut tagged.value, path, env, out),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Hides substituted values in an error message (serde quotes the value it could not use).
pub(crate) fn redact(message: String, substituted: &[String]) -> String {
    substituted.iter().fold(message, |message, value| {
        if message.contains(value.as_str()) {
            message.replace(value.as_str(), "<redacted>")
        } else {
            message
        }
    })
}
