//! The only way to get a [`Config`]: parse LiteLLM's config.yaml, resolve `os.environ/NAME`, validate.
//!
//! One boundary, three steps (style rule 3), each in its own file:
//! 1. `litellm.rs`: YAML -> a serde mirror, one section (one `model_list` entry) at a time. Keys we do not read
//!    are warned about with their path and dropped; a wrong type is an error naming its path.
//! 2. `env.rs`: every `os.environ/NAME` string is replaced by the variable (the file's `environment_variables`
//!    first, then the process environment).
//! 3. `validate.rs`: mirror -> the immutable [`model`]: ranges, providers, deployment ids, groups, fallbacks.
//!
//! Every problem is collected, not just the first, as `key.path[2].sub: message`. Nothing here panics, so a
//! SIGHUP reload can refuse a bad file and keep serving the config it has.

mod env;
mod litellm;
pub mod model;
mod validate;
pub mod wildcard;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

use serde_yaml::Value;

pub use model::*;

use env::{Environment, Resolution};
use litellm::{GENERAL_SETTINGS, LITELLM_SETTINGS, ROUTER_SETTINGS};
use validate::{Entry, Report, Typed};

/// Why a config was refused: every problem found, each naming its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One entry per problem, `key.path[2].sub: message`.
    pub errors: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(error)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads and parses a config file; `os.environ/NAME` reads the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let yaml = std::fs::read_to_string(path)
        .map_err(|e| ConfigError { errors: vec![format!("{}: cannot read the config file: {e}", path.display())] })?;
    parse_document(&yaml, &path.display().to_string(), &process_env)
}

/// Parses a config; `os.environ/NAME` reads the process environment.
pub fn parse(yaml: &str) -> Result<Config, ConfigError> {
    parse_with_env(yaml, &process_env)
}

/// Parses a config; `os.environ/NAME` reads `env` (after the file's own `environment_variables`).
pub fn parse_with_env(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    parse_document(yaml, "config", env)
}

/// The process environment, as `parse` and `load` see it.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses a document; `origin` names it in errors that have no key path (YAML syntax).
fn parse_document(yaml: &str, origin: &str, process: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut root: Value =
        serde_yaml::from_str(yaml).map_err(|e| ConfigError { errors: vec![format!("{origin}: invalid YAML: {e}")] })?;
    // PyYAML applies `<<: *anchor` merge keys, so LiteLLM configs use them; serde_yaml only on request.
    root.apply_merge()
        .map_err(|e| ConfigError { errors: vec![format!("{origin}: invalid YAML merge key (<<): {e}")] })?;

    let mut report = Report::default();
    let sections = litellm::sections(root, origin, &mut report.errors, &mut report.warnings);
    if sections.model_list.is_empty() && report.errors.is_empty() {
        // An empty file would otherwise load as "no models, no master key": a gateway open to anyone
        // that serves nothing. LiteLLM can add models from its database; Tollgate reads only the file.
        report
            .errors
            .push(format!("model_list: required: {origin} has no model_list entries, so it would serve no model"));
    }
    let variables = env::file_variables(&sections.environment_variables, &mut report.errors, &mut report.warnings);
    let environment = Environment::new(variables, process);
    let mut resolution = Resolution::default();

    let mut entries = Vec::new();
    for (index, mut value) in sections.model_list.into_iter().enumerate() {
        let path = index_path("model_list", index);
        let raw_params = value.get("litellm_params").cloned().unwrap_or(Value::Null);
        litellm::prune_entry(&mut value, index, &mut report.warnings);
        env::resolve(&mut value, &path, &environment, &mut resolution);
        report.errors.append(&mut resolution.errors);
        match litellm::typed::<litellm::ModelEntry>(value, &path) {
            Ok(entry) => entries.push(Entry { index, entry, raw_params }),
            Err(error) => report.errors.push(error),
        }
    }
    let router = section(
        sections.router_settings,
        "router_settings",
        &ROUTER_SETTINGS,
        &environment,
        &mut resolution,
        &mut report,
    );
    let litellm = section(
        sections.litellm_settings,
        "litellm_settings",
        &LITELLM_SETTINGS,
        &environment,
        &mut resolution,
        &mut report,
    );
    let general = section(
        sections.general_settings,
        "general_settings",
        &GENERAL_SETTINGS,
        &environment,
        &mut resolution,
        &mut report,
    );

    let mut config = validate::build(Typed { entries, router, litellm, general }, &environment, &mut report);
    if !report.errors.is_empty() {
        let errors = report.errors.into_iter().map(|e| redact(e, &resolution.substituted)).collect();
        return Err(ConfigError { errors });
    }
    config.warnings = report.warnings;
    Ok(config)
}

/// Prunes, resolves and types one settings section; on a wrong type the error is reported and defaults apply.
fn section<T: serde::de::DeserializeOwned + Default>(
    mut value: Value,
    path: &str,
    table: &litellm::KeyTable,
    environment: &Environment<'_>,
    resolution: &mut Resolution,
    report: &mut Report,
) -> T {
    litellm::prune(&mut value, path, table, &mut report.warnings);
    env::resolve(&mut value, path, environment, resolution);
    report.errors.append(&mut resolution.errors);
    litellm::typed_section(value, path).unwrap_or_else(|error| {
        report.errors.push(error);
        T::default()
    })
}

/// Hides substituted environment values in the message part of an error (after its key path).
fn redact(error: String, substituted: &[String]) -> String {
    match error.split_once(": ") {
        Some((path, message)) => format!("{path}: {}", env::redact(message.to_owned(), substituted)),
        None => env::redact(error, substituted),
    }
}

/// `parent.key` (just `key` at the top level).
pub(crate) fn key_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}
