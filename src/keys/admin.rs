//! LiteLLM's admin API for keys, teams, users and customers: the routes, their request fields, their
//! answers and their errors, as LiteLLM's `key_management_endpoints.py`, `team_endpoints.py`,
//! `internal_user_endpoints.py` and `customer_endpoints.py` define them.
//!
//! Every write reads the records it depends on from the database (not the cache, which another
//! instance may not have reloaded yet), writes in one transaction that bumps the change counter,
//! and reloads this instance's cache at once. Writes on one instance are serialised.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::record::{hash_key, iso8601, key_name, parse_duration};
use super::store::{Row, Table, Write};
use super::{
    AdminAnswer, AdminError, AdminRequest, Caller, CustomerRecord, KeyRecord, Keys, Member, TeamRecord, UserRecord,
};

/// LiteLLM's name for the master key's user (`litellm_proxy_admin_name`), recorded as `created_by`.
const PROXY_ADMIN_NAME: &str = "default_user_id";

/// Model names meaning "every model" in a team's list.
const ALL_PROXY_MODELS: &str = "all-proxy-models";
/// A key model meaning "whatever the team allows".
const ALL_TEAM_MODELS: &str = "all-team-models";

/// Largest `/key/list` page, as LiteLLM's `size` (le=100).
const MAX_PAGE_SIZE: usize = 100;

/// The user roles LiteLLM knows.
const USER_ROLES: [&str; 6] =
    ["proxy_admin", "proxy_admin_viewer", "internal_user", "internal_user_viewer", "team", "customer"];

/// The admin routes served here.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    KeyGenerate,
    KeyInfo,
    KeyUpdate,
    KeyDelete,
    KeyList,
    /// `/key/regenerate` (key in the body) or `/key/{key}/regenerate`.
    KeyRegenerate(Option<String>),
    KeyBlock(bool),
    TeamNew,
    TeamInfo,
    TeamUpdate,
    TeamDelete,
    TeamList,
    TeamMemberAdd,
    TeamMemberDelete,
    UserNew,
    UserInfo,
    UserUpdate,
    UserDelete,
    CustomerNew,
    CustomerInfo,
}

/// The route and its method for a path (already stripped of a leading `/v1` and of the query).
fn route_of(path: &str) -> Option<(Route, &'static str)> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let found = match path {
        "/key/generate" => (Route::KeyGenerate, "POST"),
        "/key/info" => (Route::KeyInfo, "GET"),
        "/key/update" => (Route::KeyUpdate, "POST"),
        "/key/delete" => (Route::KeyDelete, "POST"),
        "/key/list" => (Route::KeyList, "GET"),
        "/key/regenerate" => (Route::KeyRegenerate(None), "POST"),
        "/key/block" => (Route::KeyBlock(true), "POST"),
        "/key/unblock" => (Route::KeyBlock(false), "POST"),
        "/team/new" => (Route::TeamNew, "POST"),
        "/team/info" => (Route::TeamInfo, "GET"),
        "/team/update" => (Route::TeamUpdate, "POST"),
        "/team/delete" => (Route::TeamDelete, "POST"),
        "/team/list" => (Route::TeamList, "GET"),
        "/team/member_add" => (Route::TeamMemberAdd, "POST"),
        "/team/member_delete" => (Route::TeamMemberDelete, "POST"),
        "/user/new" => (Route::UserNew, "POST"),
        "/user/info" => (Route::UserInfo, "GET"),
        "/user/update" => (Route::UserUpdate, "POST"),
        "/user/delete" => (Route::UserDelete, "POST"),
        "/customer/new" | "/end_user/new" => (Route::CustomerNew, "POST"),
        "/customer/info" | "/end_user/info" => (Route::CustomerInfo, "GET"),
        _ => {
            let key = path.strip_prefix("/key/")?.strip_suffix("/regenerate")?;
            if key.is_empty() {
                return None;
            }
            (Route::KeyRegenerate(Some(percent_decode(key))), "POST")
        }
    };
    Some(found)
}

/// True for the admin routes of keys, teams, users and customers (path already stripped of a leading /v1).
pub fn is_admin_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    route_of(path).is_some()
}

/// Answers one admin call.
pub(super) async fn handle(keys: &Keys, req: AdminRequest<'_>) -> Result<AdminAnswer, AdminError> {
    let path = req.path.split('?').next().unwrap_or(req.path);
    let Some((route, method)) = route_of(path) else {
        return Err(error(404, "not_found_error", format!("Not Found: {path}"), None));
    };
    if !req.method.eq_ignore_ascii_case(method) {
        return Err(error(405, "invalid_request_error", format!("Method Not Allowed: {} {path}", req.method), None));
    }
    let is_admin = match &req.caller {
        Caller::Master => true,
        Caller::Key(principal) => principal.is_proxy_admin(),
    };
    let query = Query::parse(req.query.unwrap_or(""));
    // A key may read its own key, its own team and its own user (LiteLLM's non-admin info routes); another
    // team's or user's info is 403.
    let own_info = match (&req.caller, &route) {
        (_, Route::KeyInfo) => true,
        (Caller::Key(p), Route::TeamInfo) => {
            if p.key.team_id.is_some() && query.get("team_id") == p.key.team_id.as_deref() {
                true
            } else {
                return Err(not_yours("team", &req.caller));
            }
        }
        (Caller::Key(p), Route::UserInfo) => {
            if p.key.user_id.is_some() && query.get("user_id") == p.key.user_id.as_deref() {
                true
            } else {
                return Err(not_yours("user", &req.caller));
            }
        }
        _ => false,
    };
    if !is_admin && !own_info {
        return Err(non_admin(path, &req.caller));
    }
    if let Some(field) = nul_field(req.body, &query) {
        // PostgreSQL cannot store a NUL in text and SQLite would cut the value there: the client's mistake,
        // named, never a "database not reachable".
        return Err(bad_request(format!("{field} must not contain a NUL character (\\u0000)"), &field));
    }
    let call = Call { keys, body: req.body, query: &query, caller: &req.caller, now: req.now_unix };
    let value = match route {
        Route::KeyGenerate => call.key_generate().await,
        Route::KeyInfo => call.key_info().await,
        Route::KeyUpdate => call.key_update().await,
        Route::KeyDelete => call.key_delete().await,
        Route::KeyList => call.key_list().await,
        Route::KeyRegenerate(key) => call.key_regenerate(key).await,
        Route::KeyBlock(blocked) => call.key_block(blocked).await,
        Route::TeamNew => call.team_new().await,
        Route::TeamInfo => call.team_info().await,
        Route::TeamUpdate => call.team_update().await,
        Route::TeamDelete => call.team_delete().await,
        Route::TeamList => call.team_list().await,
        Route::TeamMemberAdd => call.team_member_add().await,
        Route::TeamMemberDelete => call.team_member_delete().await,
        Route::UserNew => call.user_new().await,
        Route::UserInfo => call.user_info().await,
        Route::UserUpdate => call.user_update().await,
        Route::UserDelete => call.user_delete().await,
        Route::CustomerNew => call.customer_new().await,
        Route::CustomerInfo => call.customer_info().await,
    }?;
    let body = serde_json::to_vec(&value)
        .map_err(|e| error(500, "internal_server_error", format!("answer does not serialise: {e}"), None))?;
    Ok(AdminAnswer { status: 200, body: bytes::Bytes::from(body) })
}

/// The first field of the body (as a path, `metadata.tag`, `models[2]`) or query parameter that holds a
/// NUL character, in a key or a value.
fn nul_field(body: &[u8], query: &Query) -> Option<String> {
    if let Some((name, _)) = query.0.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Some(name.replace('\0', "\\u0000"));
    }
    // A raw NUL is not valid JSON (the parse refuses it); only the escape can carry one.
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        let here = || if path.is_empty() { "body".to_string() } else { path.to_string() };
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(here()),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(i, x)| walk(x, &format!("{}[{i}]", here())))
            }
            serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
                let name = k.replace('\0', "\\u0000");
                let path = if path.is_empty() { name } else { format!("{path}.{name}") };
                if k.contains('\0') {
                    return Some(path);
                }
                walk(x, &path)
            }),
            _ => None,
        }
    }
    walk(&value, "")
}

fn error(status: u16, kind: &'static str, message: impl Into<String>, param: Option<&str>) -> AdminError {
    AdminError { status, kind, message: message.into(), param: param.map(str::to_string) }
}

fn bad_request(message: impl Into<String>, param: &str) -> AdminError {
    error(400, "bad_request_error", message, Some(param))
}

fn not_found(message: impl Into<String>, param: &str) -> AdminError {
    error(404, "not_found_error", message, Some(param))
}

fn db_error(e: impl std::fmt::Display) -> AdminError {
    error(500, "internal_server_error", format!("Database not reachable: {e}"), None)
}

/// LiteLLM's answer to a non-admin key on an admin-only route (`RouteChecks`, 401 `auth_error`).
/// A non-admin key asking for a team or user that is not its own.
fn not_yours(what: &str, caller: &Caller) -> AdminError {
    let role = match caller {
        Caller::Key(p) => p.user.as_ref().and_then(|u| u.user_role.clone()).unwrap_or_else(|| "None".into()),
        Caller::Master => "proxy_admin".into(),
    };
    error(403, "auth_error", format!("You are not allowed to access this {what}'s info. Your role={role}"), None)
}

fn non_admin(route: &str, caller: &Caller) -> AdminError {
    let (role, user_id) = match caller {
        Caller::Master => ("proxy_admin".to_string(), PROXY_ADMIN_NAME.to_string()),
        Caller::Key(p) => (
            p.user.as_ref().and_then(|u| u.user_role.clone()).unwrap_or_else(|| "unknown".into()),
            p.key.user_id.clone().unwrap_or_else(|| "unknown".into()),
        ),
    };
    error(
        401,
        "auth_error",
        format!(
            "Authentication Error, Only proxy admin can be used to generate, delete, update info for new \
             keys/users/teams. Route={route}. Your role={role}. Your user_id={user_id}"
        ),
        None,
    )
}

/// Parses a JSON body (empty means `{}`); a field of the wrong type is a 400 naming it.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let param = if path == "." { "body".to_string() } else { path };
        bad_request(format!("Invalid request body: {param}: {}", e.inner()), &param)
    })
}

/// `%XX` and `+` decoding of a query or path component.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A parsed query string.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// The first non-empty value of a parameter.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
    }

    fn number(&self, name: &str, default: usize, min: usize, max: usize) -> Result<usize, AdminError> {
        let Some(text) = self.get(name) else { return Ok(default) };
        match text.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(bad_request(format!("{name} must be an integer from {min} to {max}, got {text}"), name)),
        }
    }
}

/// A key given as `sk-...` is hashed; anything else is taken as the hash already (LiteLLM's
/// `hash_token_if_needed`).
fn token_of(key: &str) -> String {
    if key.starts_with("sk-") {
        hash_key(key)
    } else {
        key.to_string()
    }
}

/// `sk-` and 22 url-safe random characters (LiteLLM's `secrets.token_urlsafe(16)`).
fn new_key() -> String {
    use rand::Rng;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rng();
    let tail: String = (0..22).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    format!("sk-{tail}")
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn iso(unix: Option<i64>) -> Value {
    unix.map_or(Value::Null, |t| Value::String(iso8601(t)))
}

/// A duration field: absent is fine, a string LiteLLM would not parse is a 400 naming the field.
fn check_duration(value: Option<&str>, field: &str) -> Result<Option<u64>, AdminError> {
    let Some(text) = value else { return Ok(None) };
    match parse_duration(text) {
        Some(secs) => Ok(Some(secs)),
        None => Err(bad_request(
            format!("Invalid {field}: {text:?}. Use <number><unit> with unit s, m, h, d, w or mo, e.g. 30s, 1h, 30d"),
            field,
        )),
    }
}

fn check_budget(value: Option<f64>, field: &str) -> Result<(), AdminError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => {
            Err(bad_request(format!("{field} must be a non-negative finite number. Received: {v}"), field))
        }
        _ => Ok(()),
    }
}

fn metadata_object(value: Option<Value>, field: &str) -> Result<Option<Value>, AdminError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(bad_request(format!("{field} must be a JSON object"), field)),
    }
}

/// An empty id counts as absent, as LiteLLM's `treat_cleared_id_as_unset`.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A stored record: its table, id and spend columns.
trait Stored: DeserializeOwned + serde::Serialize + Clone {
    const TABLE: Table;
    fn id(&self) -> &str;
    fn spend_mut(&mut self) -> (&mut f64, &mut i64);
}

macro_rules! stored {
    ($record:ty, $table:expr, $id:ident) => {
        impl Stored for $record {
            const TABLE: Table = $table;
            fn id(&self) -> &str {
                &self.$id
            }
            fn spend_mut(&mut self) -> (&mut f64, &mut i64) {
                (&mut self.spend, &mut self.spend_window)
            }
        }
    };
}

stored!(KeyRecord, Table::Keys, token);
stored!(TeamRecord, Table::Teams, team_id);
stored!(UserRecord, Table::Users, user_id);
stored!(CustomerRecord, Table::Customers, user_id);

fn from_row<T: Stored>(row: &Row) -> Result<T, AdminError> {
    let mut record: T = serde_json::from_str(&row.data).map_err(|e| {
        error(500, "internal_server_error", format!("stored {:?} {} is corrupt: {e}", T::TABLE, row.id), None)
    })?;
    let (spend, window) = record.spend_mut();
    (*spend, *window) = (row.spend, row.spend_window);
    Ok(record)
}

/// A write of the record; with `set_spend` its spend columns are written too (else only on insert).
fn put<T: Stored>(record: &T, set_spend: bool) -> Result<Write, AdminError> {
    let data = serde_json::to_string(record)
        .map_err(|e| error(500, "internal_server_error", format!("record does not serialise: {e}"), None))?;
    let mut copy = record.clone();
    let (spend, window) = copy.spend_mut();
    let row = Row { id: record.id().to_string(), data, spend: *spend, spend_window: *window };
    Ok(Write::Put { table: T::TABLE, row, set_spend })
}

fn delete<T: Stored>(id: &str) -> Write {
    Write::Delete { table: T::TABLE, id: id.to_string() }
}

// ---------------------------------------------------------------- answers in LiteLLM's shapes

/// A key as LiteLLM's `LiteLLM_VerificationToken` row renders it.
fn key_json(k: &KeyRecord, now: i64) -> Map<String, Value> {
    let value = json!({
        "token": k.token,
        "key_name": k.key_name,
        "key_alias": k.key_alias,
        "spend": k.current_spend(now),
        "max_budget": k.max_budget,
        "expires": iso(k.expires),
        "models": k.models,
        "aliases": k.aliases,
        "config": {},
        "user_id": k.user_id,
        "team_id": k.team_id,
        "max_parallel_requests": k.max_parallel_requests,
        "metadata": k.metadata,
        "tpm_limit": k.tpm_limit,
        "rpm_limit": k.rpm_limit,
        "budget_duration": k.budget_duration,
        "budget_reset_at": iso(k.budget_reset_at(now)),
        "allowed_cache_controls": [],
        "permissions": {},
        "model_spend": {},
        "model_max_budget": {},
        "soft_budget_cooldown": false,
        "blocked": k.blocked,
        "litellm_budget_table": null,
        "org_id": null,
        "created_at": iso8601(k.created_at),
        "created_by": k.created_by,
        "updated_at": iso8601(k.updated_at),
        "updated_by": k.created_by,
        "last_active": null,
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// LiteLLM's `GenerateKeyResponse`: the row, the key itself, and its hash as `token` and `token_id`.
fn generated_json(k: &KeyRecord, raw_key: &str, duration: Option<&str>, now: i64) -> Value {
    let mut map = key_json(k, now);
    map.insert("key".into(), json!(raw_key));
    map.insert("token_id".into(), json!(k.token));
    map.insert("duration".into(), json!(duration));
    map.insert("tags".into(), k.metadata.get("tags").cloned().unwrap_or(Value::Null));
    Value::Object(map)
}

fn key_status(k: &KeyRecord, now: i64) -> &'static str {
    if k.blocked {
        "revoked"
    } else if k.is_expired(now) {
        "expired"
    } else {
        "active"
    }
}

fn member_json(m: &Member) -> Value {
    json!({"user_id": m.user_id, "user_email": m.user_email, "role": m.role})
}

/// A team as LiteLLM's `LiteLLM_TeamTable` renders it.
fn team_json(t: &TeamRecord, now: i64) -> Map<String, Value> {
    let admins: Vec<&str> =
        t.members_with_roles.iter().filter(|m| m.role == "admin").filter_map(|m| m.user_id.as_deref()).collect();
    let members: Vec<&str> =
        t.members_with_roles.iter().filter(|m| m.role != "admin").filter_map(|m| m.user_id.as_deref()).collect();
    let value = json!({
        "team_id": t.team_id,
        "team_alias": t.team_alias,
        "organization_id": null,
        "admins": admins,
        "members": members,
        "members_with_roles": t.members_with_roles.iter().map(member_json).collect::<Vec<_>>(),
        "metadata": t.metadata,
        "tpm_limit": t.tpm_limit,
        "rpm_limit": t.rpm_limit,
        "max_budget": t.max_budget,
        "budget_duration": t.budget_duration,
        "models": t.models,
        "model_aliases": t.model_aliases,
        "blocked": t.blocked,
        "spend": t.current_spend(now),
        "max_parallel_requests": t.max_parallel_requests,
        "budget_reset_at": iso(t.budget_reset_at(now)),
        "model_id": null,
        "model_spend": {},
        "model_max_budget": {},
        "created_at": iso8601(t.created_at),
        "updated_at": iso8601(t.updated_at),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A user as LiteLLM's `LiteLLM_UserTable` renders it.
fn user_json(u: &UserRecord, now: i64) -> Map<String, Value> {
    let value = json!({
        "user_id": u.user_id,
        "user_alias": u.user_alias,
        "team_id": null,
        "teams": u.teams,
        "user_role": u.user_role,
        "max_budget": u.max_budget,
        "spend": u.current_spend(now),
        "user_email": u.user_email,
        "models": u.models,
        "metadata": u.metadata,
        "max_parallel_requests": u.max_parallel_requests,
        "tpm_limit": u.tpm_limit,
        "rpm_limit": u.rpm_limit,
        "budget_duration": u.budget_duration,
        "budget_reset_at": iso(u.budget_reset_at(now)),
        "allowed_cache_controls": [],
        "model_spend": {},
        "model_max_budget": {},
        "created_at": iso8601(u.created_at),
        "updated_at": iso8601(u.updated_at),
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A customer as LiteLLM's `CustomerResponse` renders it (budget fields in `litellm_budget_table`).
fn customer_json(c: &CustomerRecord, now: i64) -> Value {
    let budget = c.budget_id.as_ref().map(|budget_id| {
        json!({
            "budget_id": budget_id,
            "soft_budget": null,
            "max_budget": c.max_budget,
            "max_parallel_requests": null,
            "tpm_limit": c.tpm_limit,
            "rpm_limit": c.rpm_limit,
            "model_max_budget": null,
            "budget_duration": c.budget_duration,
            "budget_reset_at": iso(c.budget_reset_at(now)),
            "created_at": iso8601(c.created_at),
        })
    });
    json!({
        "user_id": c.user_id,
        "blocked": c.blocked,
        "alias": c.alias,
        "spend": c.current_spend(now),
        "allowed_model_region": c.allowed_model_region,
        "default_model": c.default_model,
        "models": c.models,
        "budget_id": c.budget_id,
        "litellm_budget_table": budget,
        "object_permission_id": null,
        "object_permission": null,
    })
}

// ---------------------------------------------------------------- request bodies

/// The fields `/key/generate`, `/key/update` and `/key/regenerate` share (LiteLLM's `KeyRequestBase`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyFields {
    key: Option<String>,
    key_alias: Option<String>,
    duration: Option<String>,
    models: Option<Vec<String>>,
    spend: Option<f64>,
    max_budget: Option<f64>,
    user_id: Option<String>,
    team_id: Option<String>,
    max_parallel_requests: Option<u64>,
    metadata: Option<Value>,
    tpm_limit: Option<u64>,
    rpm_limit: Option<u64>,
    budget_duration: Option<String>,
    blocked: Option<bool>,
    aliases: Option<HashMap<String, String>>,
    tags: Option<Vec<String>>,
    /// `/key/regenerate` only: the new key's value instead of a random one.
    new_key: Option<String>,
}

impl KeyFields {
    fn validate(&self) -> Result<(), AdminError> {
        check_duration(self.duration.as_deref(), "duration")?;
        check_duration(self.budget_duration.as_deref(), "budget_duration")?;
        check_budget(self.max_budget, "max_budget")?;
        check_budget(self.spend, "spend")?;
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyList {
    keys: Option<Vec<String>>,
    key_aliases: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyOnly {
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MemberIn {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_email: Option<String>,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "user".to_string()
}

impl MemberIn {
    fn check(&self, param: &str) -> Result<(), AdminError> {
        if self.user_id.is_none() && self.user_email.is_none() {
            return Err(bad_request("Either user id or user email must be provided", param));
        }
        if self.role != "admin" && self.role != "user" {
            return Err(bad_request(format!("role must be 'admin' or 'user', got {:?}", self.role), param));
        }
        Ok(())
    }
}

/// The fields of `/team/new` and `/team/update` (LiteLLM's `TeamBase`, `UpdateTeamRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TeamFields {
    team_id: Option<String>,
    team_alias: Option<String>,
    models: Option<Vec<String>>,
    model_aliases: Option<std::collections::HashMap<String, String>>,
    max_budget: Option<f64>,
    budget_duration: Option<String>,
    tpm_limit: Option<u64>,
    rpm_limit: Option<u64>,
    max_parallel_requests: Option<u64>,
    blocked: Option<bool>,
    metadata: Option<Value>,
    members_with_roles: Option<Vec<MemberIn>>,
    spend: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TeamIds {
    team_ids: Option<Vec<String>>,
}

/// `/team/member_add`: one member or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<MemberIn>),
    One(MemberIn),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MemberAdd {
    team_id: Option<String>,
    member: Option<OneOrMany>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MemberDelete {
    team_id: Option<String>,
    user_id: Option<String>,
    user_email: Option<String>,
}

/// The fields of `/user/new` and `/user/update` (LiteLLM's `NewUserRequest`, `UpdateUserRequest`).
#[derive(Debug, Deserialize)]
#[serde(default)]
struct UserFields {
    user_id: Option<String>,
    user_email: Option<String>,
    user_alias: Option<String>,
    user_role: Option<String>,
    teams: Option<Vec<String>>,
    team_id: Option<String>,
    models: Option<Vec<String>>,
    max_budget: Option<f64>,
    budget_duration: Option<String>,
    tpm_limit: Option<u64>,
    rpm_limit: Option<u64>,
    max_parallel_requests: Option<u64>,
    metadata: Option<Value>,
    spend: Option<f64>,
    auto_create_key: bool,
    key_alias: Option<String>,
    duration: Option<String>,
    aliases: Option<HashMap<String, String>>,
}

impl Default for UserFields {
    fn default() -> Self {
        UserFields {
            user_id: None,
            user_email: None,
            user_alias: None,
            user_role: None,
            teams: None,
            team_id: None,
            models: None,
            max_budget: None,
            budget_duration: None,
            tpm_limit: None,
            rpm_limit: None,
            max_parallel_requests: None,
            metadata: None,
            spend: None,
            auto_create_key: true,
            key_alias: None,
            duration: None,
            aliases: None,
        }
    }
}

impl UserFields {
    fn validate(&self) -> Result<(), AdminError> {
        check_duration(self.budget_duration.as_deref(), "budget_duration")?;
        check_duration(self.duration.as_deref(), "duration")?;
        check_budget(self.max_budget, "max_budget")?;
        check_budget(self.spend, "spend")?;
        if let Some(role) = &self.user_role {
            if !USER_ROLES.contains(&role.as_str()) {
                return Err(bad_request(
                    format!("Invalid user_role {role:?}; one of {}", USER_ROLES.join(", ")),
                    "user_role",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UserIds {
    user_ids: Option<Vec<String>>,
}

/// `/customer/new` (LiteLLM's `NewCustomerRequest`: budget fields flat in the body).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomerFields {
    user_id: Option<String>,
    alias: Option<String>,
    blocked: Option<bool>,
    max_budget: Option<f64>,
    budget_id: Option<String>,
    budget_duration: Option<String>,
    tpm_limit: Option<u64>,
    rpm_limit: Option<u64>,
    allowed_model_region: Option<String>,
    default_model: Option<String>,
    models: Option<Vec<String>>,
    spend: Option<f64>,
}

// ---------------------------------------------------------------- the calls

/// One admin call's context.
struct Call<'a> {
    keys: &'a Keys,
    body: &'a [u8],
    query: &'a Query,
    caller: &'a Caller,
    now: i64,
}

impl Call<'_> {
    async fn get<T: Stored>(&self, id: &str) -> Result<Option<T>, AdminError> {
        let row = self.keys.store.get(T::TABLE, id).await.map_err(db_error)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn list<T: Stored>(&self) -> Result<Vec<T>, AdminError> {
        let rows = self.keys.store.list(T::TABLE).await.map_err(db_error)?;
        rows.iter().map(from_row).collect()
    }

    /// Writes in one transaction, then reloads this instance's cache at once.
    async fn write(&self, writes: Vec<Write>) -> Result<u64, AdminError> {
        let deleted = self.keys.store.write(writes).await.map_err(db_error)?;
        if let Err(e) = self.keys.reload().await {
            log::warn!("keys: reload after an admin write failed, the poller will retry: {e}");
        }
        Ok(deleted)
    }

    fn created_by(&self) -> Option<String> {
        match self.caller {
            Caller::Master => Some(PROXY_ADMIN_NAME.to_string()),
            Caller::Key(p) => p.key.user_id.clone(),
        }
    }

    /// A team that must exist for a key (400, as `/key/generate` answers), and the key's models
    /// within the team's.
    async fn team_for_key(&self, team_id: &str, models: &[String]) -> Result<TeamRecord, AdminError> {
        let Some(team) = self.get::<TeamRecord>(team_id).await? else {
            return Err(bad_request(format!("Team not found for team_id={team_id}"), "team_id"));
        };
        let open = team.models.is_empty() || team.models.iter().any(|m| m == ALL_PROXY_MODELS);
        if !open {
            if let Some(m) = models.iter().find(|m| m.as_str() != ALL_TEAM_MODELS && !team.models.contains(m)) {
                return Err(bad_request(
                    format!("Model={m} not in team's allowed models. Team={team_id}, team models={:?}", team.models),
                    "models",
                ));
            }
        }
        Ok(team)
    }

    async fn check_alias_free(&self, alias: Option<&str>, except_token: Option<&str>) -> Result<(), AdminError> {
        let Some(alias) = alias else { return Ok(()) };
        let taken = self
            .list::<KeyRecord>()
            .await?
            .iter()
            .any(|k| k.key_alias.as_deref() == Some(alias) && Some(k.token.as_str()) != except_token);
        if taken {
            return Err(bad_request(
                format!("Key with alias '{alias}' already exists. Unique key aliases across all keys are required."),
                "key_alias",
            ));
        }
        Ok(())
    }

    /// Applies the fields of `/key/update` (and `/key/regenerate`) to a key; true when the budget
    /// window length changed.
    async fn apply_key_fields(&self, key: &mut KeyRecord, f: KeyFields) -> Result<bool, AdminError> {
        if let Some(alias) = non_empty(f.key_alias) {
            self.check_alias_free(Some(&alias), Some(&key.token)).await?;
            key.key_alias = Some(alias);
        }
        if let Some(secs) = check_duration(f.duration.as_deref(), "duration")? {
            key.expires = Some(self.now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)));
        }
        if let Some(models) = f.models {
            key.models = models;
        }
        if let Some(team_id) = non_empty(f.team_id) {
            self.team_for_key(&team_id, &key.models).await?;
            key.team_id = Some(team_id);
        } else if let Some(team_id) = key.team_id.clone() {
            self.team_for_key(&team_id, &key.models).await?;
        }
        if let Some(user_id) = non_empty(f.user_id) {
            key.user_id = Some(user_id);
        }
        if f.max_budget.is_some() {
            key.max_budget = f.max_budget;
        }
        let window_changed = f.budget_duration.is_some() && f.budget_duration != key.budget_duration;
        if f.budget_duration.is_some() {
            key.budget_duration = f.budget_duration;
        }
        if f.tpm_limit.is_some() {
            key.tpm_limit = f.tpm_limit;
        }
        if f.rpm_limit.is_some() {
            key.rpm_limit = f.rpm_limit;
        }
        if f.max_parallel_requests.is_some() {
            key.max_parallel_requests = f.max_parallel_requests;
        }
        if let Some(metadata) = metadata_object(f.metadata, "metadata")? {
            key.metadata = metadata;
        }
        if let Some(tags) = f.tags {
            if let Value::Object(map) = &mut key.metadata {
                map.insert("tags".into(), json!(tags));
            }
        }
        if let Some(blocked) = f.blocked {
            key.blocked = blocked;
        }
        if let Some(aliases) = f.aliases {
            key.aliases = aliases;
        }
        key.updated_at = self.now;
        Ok(window_changed)
    }

    async fn key_generate(&self) -> Result<Value, AdminError> {
        let f: KeyFields = parse_body(self.body)?;
        f.validate()?;
        let raw = match &f.key {
            Some(k) if !k.starts_with("sk-") => {
                return Err(bad_request(
                    "Invalid key format. LiteLLM Virtual Key must start with 'sk-'.".to_string(),
                    "key",
                ))
            }
            Some(k) => k.clone(),
            None => new_key(),
        };
        let _guard = self.keys.admin_lock.lock().await;
        let mut models = f.models.clone().unwrap_or_default();
        let team_id = non_empty(f.team_id.clone());
        if let Some(team_id) = &team_id {
            self.team_for_key(team_id, &models).await?;
        }
        let key_alias = non_empty(f.key_alias.clone());
        self.check_alias_free(key_alias.as_deref(), None).await?;
        let token = hash_key(&raw);
        if self.get::<KeyRecord>(&token).await?.is_some() {
            return Err(bad_request("A key with this value already exists", "key"));
        }
        let user_id = non_empty(f.user_id.clone());
        // LiteLLM: a key without models takes its user's models.
        if let Some(user_id) = &user_id {
            if let Some(user) = self.get::<UserRecord>(user_id).await? {
                if models.is_empty() {
                    models.clone_from(&user.models);
                }
            }
        }
        let expires = check_duration(f.duration.as_deref(), "duration")?
            .map(|secs| self.now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)));
        let mut metadata = metadata_object(f.metadata.clone(), "metadata")?.unwrap_or_else(|| json!({}));
        if let (Some(tags), Value::Object(map)) = (&f.tags, &mut metadata) {
            map.insert("tags".into(), json!(tags));
        }
        let mut key = KeyRecord {
            token,
            key_name: key_name(&raw),
            key_alias,
            models,
            max_budget: f.max_budget,
            budget_duration: f.budget_duration.clone(),
            spend: f.spend.unwrap_or(0.0),
            spend_window: 0,
            rpm_limit: f.rpm_limit,
            tpm_limit: f.tpm_limit,
            max_parallel_requests: f.max_parallel_requests,
            expires,
            blocked: f.blocked.unwrap_or(false),
            team_id,
            user_id,
            aliases: f.aliases.clone().unwrap_or_default(),
            metadata,
            created_at: self.now,
            updated_at: self.now,
            created_by: self.created_by(),
        };
        key.spend_window = key.window_at(self.now);
        self.write(vec![put(&key, true)?]).await?;
        Ok(generated_json(&key, &raw, f.duration.as_deref(), self.now))
    }

    async fn key_info(&self) -> Result<Value, AdminError> {
        let (asked, token) = match (self.query.get("key"), self.caller) {
            (Some(key), _) => (key.to_string(), token_of(key)),
            (None, Caller::Key(p)) => (p.key.token.clone(), p.key.token.clone()),
            (None, Caller::Master) => {
                return Err(bad_request("No key passed in. Pass ?key= or authenticate with a virtual key.", "key"))
            }
        };
        if let Caller::Key(p) = self.caller {
            if !p.is_proxy_admin() && p.key.token != token {
                let role = p.user.as_ref().and_then(|u| u.user_role.clone()).unwrap_or_else(|| "None".into());
                return Err(error(
                    403,
                    "auth_error",
                    format!("You are not allowed to access this key's info. Your role={role}"),
                    None,
                ));
            }
        }
        let Some(key) = self.get::<KeyRecord>(&token).await? else {
            return Err(not_found("Key not found in database", "key"));
        };
        let mut info = key_json(&key, self.now);
        info.remove("token");
        info.insert("status".into(), json!(key_status(&key, self.now)));
        Ok(json!({"key": asked, "info": info}))
    }

    /// The key a `key` (raw or hash) or `key_alias` names.
    async fn find_key(&self, key: Option<&str>, alias: Option<&str>) -> Result<KeyRecord, AdminError> {
        if let Some(key) = key {
            return self.get::<KeyRecord>(&token_of(key)).await?.ok_or_else(|| not_found("Key not found", "key"));
        }
        if let Some(alias) = alias {
            let keys = self.list::<KeyRecord>().await?;
            return keys
                .into_iter()
                .find(|k| k.key_alias.as_deref() == Some(alias))
                .ok_or_else(|| not_found(format!("Key with alias '{alias}' not found"), "key_alias"));
        }
        Err(bad_request("either key or key_alias must be provided", "key"))
    }

    async fn key_update(&self) -> Result<Value, AdminError> {
        let mut f: KeyFields = parse_body(self.body)?;
        f.validate()?;
        let asked = f.key.take();
        let _guard = self.keys.admin_lock.lock().await;
        let by_alias = if asked.is_none() { f.key_alias.clone() } else { None };
        let mut key = self.find_key(asked.as_deref(), by_alias.as_deref()).await?;
        let spend = f.spend.take();
        let spend_before = key.current_spend(self.now);
        let window_changed = self.apply_key_fields(&mut key, f).await?;
        let set_spend = spend.is_some() || window_changed;
        if set_spend {
            // A new window length renumbers the windows: keep the current spend in the current one.
            key.spend = spend.unwrap_or(spend_before);
            key.spend_window = key.window_at(self.now);
        }
        self.write(vec![put(&key, set_spend)?]).await?;
        let mut answer = key_json(&key, self.now);
        answer.insert("key".into(), json!(asked.unwrap_or_else(|| key.token.clone())));
        Ok(Value::Object(answer))
    }

    async fn key_delete(&self) -> Result<Value, AdminError> {
        let f: KeyList = parse_body(self.body)?;
        let _guard = self.keys.admin_lock.lock().await;
        let (asked, tokens): (Vec<String>, Vec<String>) = match (f.keys, f.key_aliases) {
            (Some(keys), _) if !keys.is_empty() => {
                let tokens = keys.iter().map(|k| token_of(k)).collect();
                (keys, tokens)
            }
            (_, Some(aliases)) if !aliases.is_empty() => {
                let all = self.list::<KeyRecord>().await?;
                let tokens = all
                    .iter()
                    .filter(|k| k.key_alias.as_ref().is_some_and(|a| aliases.contains(a)))
                    .map(|k| k.token.clone())
                    .collect();
                (aliases, tokens)
            }
            _ => return Err(bad_request("At least one of 'keys' or 'key_aliases' must be provided.", "keys")),
        };
        let mut existing = Vec::new();
        for token in &tokens {
            if self.get::<KeyRecord>(token).await?.is_some() {
                existing.push(delete::<KeyRecord>(token));
            }
        }
        if existing.is_empty() {
            return Err(not_found("No keys found", "keys"));
        }
        self.write(existing).await?;
        Ok(json!({"deleted_keys": asked}))
    }

    async fn key_list(&self) -> Result<Value, AdminError> {
        let page = self.query.number("page", 1, 1, usize::MAX)?;
        let size = self.query.number("size", 10, 1, MAX_PAGE_SIZE)?;
        let full = self.query.flag("return_full_object");
        let mut keys = self.list::<KeyRecord>().await?;
        keys.retain(|k| {
            self.query.get("user_id").is_none_or(|v| k.user_id.as_deref() == Some(v))
                && self.query.get("team_id").is_none_or(|v| k.team_id.as_deref() == Some(v))
                && self.query.get("key_alias").is_none_or(|v| k.key_alias.as_deref() == Some(v))
                && self.query.get("key_hash").is_none_or(|v| k.token == v)
        });
        // LiteLLM's default order: newest first.
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.token.cmp(&b.token)));
        let total = keys.len();
        let total_pages = total.div_ceil(size);
        let start = (page - 1).saturating_mul(size);
        let listed: Vec<Value> = keys
            .iter()
            .skip(start)
            .take(size)
            .map(|k| if full { Value::Object(key_json(k, self.now)) } else { json!(k.token) })
            .collect();
        Ok(json!({"keys": listed, "total_count": total, "current_page": page, "total_pages": total_pages}))
    }

    async fn key_regenerate(&self, path_key: Option<String>) -> Result<Value, AdminError> {
        let mut f: KeyFields = parse_body(self.body)?;
        f.validate()?;
        let Some(asked) = path_key.or(f.key.take()) else {
            return Err(bad_request("No key passed in.", "key"));
        };
        let raw = match f.new_key.take() {
            Some(k) if !k.starts_with("sk-") => {
                return Err(bad_request("Invalid key format. New key must start with 'sk-'.", "new_key"))
            }
            Some(k) => k,
            None => new_key(),
        };
        let _guard = self.keys.admin_lock.lock().await;
        let Some(old) = self.get::<KeyRecord>(&token_of(&asked)).await? else {
            return Err(not_found(format!("Key {asked} not found."), "key"));
        };
        let duration = f.duration.clone();
        let spend = f.spend.take();
        let mut key = old.clone();
        let spend_before = key.current_spend(self.now);
        let window_changed = self.apply_key_fields(&mut key, f).await?;
        key.token = hash_key(&raw);
        key.key_name = key_name(&raw);
        if spend.is_some() || window_changed {
            key.spend = spend.unwrap_or(spend_before);
            key.spend_window = key.window_at(self.now);
        }
        if self.get::<KeyRecord>(&key.token).await?.is_some() {
            return Err(bad_request("A key with this value already exists", "new_key"));
        }
        // The new hash replaces the old one in one transaction: the old key stops working at once.
        self.write(vec![delete::<KeyRecord>(&old.token), put(&key, true)?]).await?;
        Ok(generated_json(&key, &raw, duration.as_deref(), self.now))
    }

    async fn key_block(&self, blocked: bool) -> Result<Value, AdminError> {
        let f: KeyOnly = parse_body(self.body)?;
        let Some(asked) = f.key else {
            return Err(bad_request("No key passed in.", "key"));
        };
        let _guard = self.keys.admin_lock.lock().await;
        let Some(mut key) = self.get::<KeyRecord>(&token_of(&asked)).await? else {
            return Err(not_found(format!("Key not found. Passed key={asked}"), "key"));
        };
        key.blocked = blocked;
        key.updated_at = self.now;
        self.write(vec![put(&key, false)?]).await?;
        Ok(Value::Object(key_json(&key, self.now)))
    }

    /// Adds members to a team's list and the team to each member's user (created when missing);
    /// returns the users written.
    async fn add_members(
        &self,
        team: &mut TeamRecord,
        members: Vec<MemberIn>,
        writes: &mut Vec<Write>,
    ) -> Result<Vec<UserRecord>, AdminError> {
        let mut users = Vec::new();
        for m in members {
            let mut user = match (&m.user_id, &m.user_email) {
                (Some(id), _) => self.get::<UserRecord>(id).await?,
                (None, Some(email)) => {
                    self.list::<UserRecord>().await?.into_iter().find(|u| u.user_email.as_deref() == Some(email))
                }
                (None, None) => None,
            }
            .unwrap_or_else(|| UserRecord {
                user_id: m.user_id.clone().unwrap_or_else(new_id),
                user_email: m.user_email.clone(),
                user_alias: None,
                user_role: Some("internal_user".into()),
                models: Vec::new(),
                max_budget: None,
                budget_duration: None,
                spend: 0.0,
                spend_window: 0,
                rpm_limit: None,
                tpm_limit: None,
                max_parallel_requests: None,
                teams: Vec::new(),
                metadata: json!({}),
                created_at: self.now,
                updated_at: self.now,
            });
            if !user.teams.contains(&team.team_id) {
                user.teams.push(team.team_id.clone());
                user.updated_at = self.now;
            }
            team.members_with_roles.retain(|existing| existing.user_id.as_deref() != Some(user.user_id.as_str()));
            team.members_with_roles.push(Member {
                user_id: Some(user.user_id.clone()),
                user_email: user.user_email.clone().or(m.user_email),
                role: m.role,
            });
            writes.push(put(&user, false)?);
            users.push(user);
        }
        Ok(users)
    }

    async fn team_new(&self) -> Result<Value, AdminError> {
        let f: TeamFields = parse_body(self.body)?;
        check_duration(f.budget_duration.as_deref(), "budget_duration")?;
        check_budget(f.max_budget, "max_budget")?;
        let members = f.members_with_roles.unwrap_or_default();
        for m in &members {
            m.check("members_with_roles")?;
        }
        let _guard = self.keys.admin_lock.lock().await;
        let team_id = non_empty(f.team_id).unwrap_or_else(new_id);
        if self.get::<TeamRecord>(&team_id).await?.is_some() {
            return Err(bad_request(
                format!("Team id = {team_id} already exists. Please use a different team id."),
                "team_id",
            ));
        }
        let mut team = TeamRecord {
            team_id,
            team_alias: f.team_alias,
            models: f.models.unwrap_or_default(),
            model_aliases: f.model_aliases.unwrap_or_default(),
            max_budget: f.max_budget,
            budget_duration: f.budget_duration,
            spend: f.spend.unwrap_or(0.0),
            spend_window: 0,
            rpm_limit: f.rpm_limit,
            tpm_limit: f.tpm_limit,
            max_parallel_requests: f.max_parallel_requests,
            blocked: f.blocked.unwrap_or(false),
            members_with_roles: Vec::new(),
            metadata: metadata_object(f.metadata, "metadata")?.unwrap_or_else(|| json!({})),
            created_at: self.now,
            updated_at: self.now,
        };
        team.spend_window = team.window_at(self.now);
        let mut writes = Vec::new();
        self.add_members(&mut team, members, &mut writes).await?;
        writes.push(put(&team, true)?);
        self.write(writes).await?;
        Ok(Value::Object(team_json(&team, self.now)))
    }

    async fn team_info(&self) -> Result<Value, AdminError> {
        let Some(team_id) = self.query.get("team_id") else {
            return Err(bad_request("Malformed request. No team id passed in.", "team_id"));
        };
        let Some(team) = self.get::<TeamRecord>(team_id).await? else {
            return Err(not_found(format!("Team not found, passed team id: {team_id}."), "team_id"));
        };
        let keys: Vec<Value> = self
            .list::<KeyRecord>()
            .await?
            .iter()
            .filter(|k| k.team_id.as_deref() == Some(team_id))
            .map(|k| Value::Object(key_json(k, self.now)))
            .collect();
        let memberships: Vec<Value> = team
            .members_with_roles
            .iter()
            .filter_map(|m| m.user_id.as_ref())
            .map(|user_id| json!({"user_id": user_id, "team_id": team.team_id, "budget_id": null, "spend": 0.0, "litellm_budget_table": null}))
            .collect();
        Ok(json!({
            "team_id": team.team_id,
            "team_info": team_json(&team, self.now),
            "keys": keys,
            "team_memberships": memberships,
        }))
    }

    async fn team_update(&self) -> Result<Value, AdminError> {
        let f: TeamFields = parse_body(self.body)?;
        check_duration(f.budget_duration.as_deref(), "budget_duration")?;
        check_budget(f.max_budget, "max_budget")?;
        let Some(team_id) = non_empty(f.team_id) else {
            return Err(bad_request("team_id is required", "team_id"));
        };
        let _guard = self.keys.admin_lock.lock().await;
        let Some(mut team) = self.get::<TeamRecord>(&team_id).await? else {
            return Err(not_found(format!("Team not found, passed team_id={team_id}"), "team_id"));
        };
        if f.team_alias.is_some() {
            team.team_alias = f.team_alias;
        }
        if let Some(aliases) = f.model_aliases {
            team.model_aliases = aliases;
        }
        if let Some(models) = f.models {
            team.models = models;
        }
        if f.max_budget.is_some() {
            team.max_budget = f.max_budget;
        }
        let spend_before = team.current_spend(self.now);
        let window_changed = f.budget_duration.is_some() && f.budget_duration != team.budget_duration;
        if f.budget_duration.is_some() {
            team.budget_duration = f.budget_duration;
        }
        if f.tpm_limit.is_some() {
            team.tpm_limit = f.tpm_limit;
        }
        if f.rpm_limit.is_some() {
            team.rpm_limit = f.rpm_limit;
        }
        if f.max_parallel_requests.is_some() {
            team.max_parallel_requests = f.max_parallel_requests;
        }
        if let Some(blocked) = f.blocked {
            team.blocked = blocked;
        }
        if let Some(metadata) = metadata_object(f.metadata, "metadata")? {
            team.metadata = metadata;
        }
        if f.spend.is_some() || window_changed {
            team.spend = f.spend.unwrap_or(spend_before);
            team.spend_window = team.window_at(self.now);
        }
        team.updated_at = self.now;
        self.write(vec![put(&team, f.spend.is_some() || window_changed)?]).await?;
        Ok(json!({"team_id": team.team_id, "data": team_json(&team, self.now)}))
    }

    async fn team_delete(&self) -> Result<Value, AdminError> {
        let f: TeamIds = parse_body(self.body)?;
        let team_ids = f.team_ids.unwrap_or_default();
        if team_ids.is_empty() {
            return Err(bad_request("team_ids is required", "team_ids"));
        }
        let _guard = self.keys.admin_lock.lock().await;
        let mut writes = Vec::new();
        for team_id in &team_ids {
            if self.get::<TeamRecord>(team_id).await?.is_none() {
                return Err(not_found(format!("Team not found, passed team_id={team_id}"), "team_ids"));
            }
            writes.push(delete::<TeamRecord>(team_id));
        }
        // LiteLLM deletes the teams' keys with them and takes the teams off their members.
        for key in self.list::<KeyRecord>().await? {
            if key.team_id.as_ref().is_some_and(|t| team_ids.contains(t)) {
                writes.push(delete::<KeyRecord>(&key.token));
            }
        }
        for mut user in self.list::<UserRecord>().await? {
            let before = user.teams.len();
            user.teams.retain(|t| !team_ids.contains(t));
            if user.teams.len() != before {
                user.updated_at = self.now;
                writes.push(put(&user, false)?);
            }
        }
        self.write(writes).await?;
        Ok(json!({"deleted_teams": team_ids}))
    }

    async fn team_list(&self) -> Result<Value, AdminError> {
        let user_id = self.query.get("user_id");
        let mut teams = self.list::<TeamRecord>().await?;
        if let Some(user_id) = user_id {
            teams.retain(|t| t.members_with_roles.iter().any(|m| m.user_id.as_deref() == Some(user_id)));
        }
        teams.sort_by(|a, b| {
            a.team_alias.as_deref().unwrap_or_default().cmp(b.team_alias.as_deref().unwrap_or_default())
        });
        let keys = self.list::<KeyRecord>().await?;
        let listed: Vec<Value> = teams
            .iter()
            .map(|t| {
                let mut map = team_json(t, self.now);
                let team_keys: Vec<Value> = keys
                    .iter()
                    .filter(|k| k.team_id.as_deref() == Some(t.team_id.as_str()))
                    .map(|k| Value::Object(key_json(k, self.now)))
                    .collect();
                map.insert("keys".into(), Value::Array(team_keys));
                map.insert("team_memberships".into(), json!([]));
                Value::Object(map)
            })
            .collect();
        Ok(Value::Array(listed))
    }

    async fn team_member_add(&self) -> Result<Value, AdminError> {
        let f: MemberAdd = parse_body(self.body)?;
        let Some(team_id) = non_empty(f.team_id) else {
            return Err(bad_request("team_id is required", "team_id"));
        };
        let (members, single) = match f.member {
            Some(OneOrMany::One(m)) => (vec![m], true),
            Some(OneOrMany::Many(ms)) if !ms.is_empty() => (ms, false),
            _ => return Err(bad_request("member is required", "member")),
        };
        for m in &members {
            m.check("member")?;
        }
        let _guard = self.keys.admin_lock.lock().await;
        let Some(mut team) = self.get::<TeamRecord>(&team_id).await? else {
            return Err(not_found(format!("Team not found for team_id={team_id}"), "team_id"));
        };
        let is_member = |m: &MemberIn| {
            team.members_with_roles.iter().any(|e| {
                (m.user_id.is_some() && e.user_id == m.user_id)
                    || (m.user_email.is_some() && e.user_email == m.user_email)
            })
        };
        let (already, new): (Vec<MemberIn>, Vec<MemberIn>) = members.into_iter().partition(is_member);
        if new.is_empty() {
            let message = if let Some(m) = already.first().filter(|_| single) {
                format!(
                    "User already in team. Member: user_id={}, user_email={}",
                    m.user_id.as_deref().unwrap_or("None"),
                    m.user_email.as_deref().unwrap_or("None")
                )
            } else {
                "All users are already in team.".to_string()
            };
            return Err(error(400, "team_member_already_in_team", message, Some("member")));
        }
        let mut writes = Vec::new();
        let users = self.add_members(&mut team, new, &mut writes).await?;
        team.updated_at = self.now;
        writes.push(put(&team, false)?);
        self.write(writes).await?;
        let mut answer = team_json(&team, self.now);
        answer.insert(
            "updated_users".into(),
            Value::Array(users.iter().map(|u| Value::Object(user_json(u, self.now))).collect()),
        );
        answer.insert(
            "updated_team_memberships".into(),
            Value::Array(
                users
                    .iter()
                    .map(|u| json!({"user_id": u.user_id, "team_id": team.team_id, "budget_id": null, "spend": 0.0, "litellm_budget_table": null}))
                    .collect(),
            ),
        );
        Ok(Value::Object(answer))
    }

    async fn team_member_delete(&self) -> Result<Value, AdminError> {
        let f: MemberDelete = parse_body(self.body)?;
        let Some(team_id) = non_empty(f.team_id) else {
            return Err(bad_request("team_id is required", "team_id"));
        };
        if f.user_id.is_none() && f.user_email.is_none() {
            return Err(bad_request("Either user_id or user_email needs to be passed in", "user_id"));
        }
        let _guard = self.keys.admin_lock.lock().await;
        let Some(mut team) = self.get::<TeamRecord>(&team_id).await? else {
            return Err(bad_request(format!("Team id={team_id} does not exist in db"), "team_id"));
        };
        let matches = |m: &Member| {
            (f.user_id.is_some() && m.user_id == f.user_id) || (f.user_email.is_some() && m.user_email == f.user_email)
        };
        let removed: Vec<Member> = team.members_with_roles.iter().filter(|m| matches(m)).cloned().collect();
        if removed.is_empty() {
            return Err(bad_request("User not found in team", "user_id"));
        }
        team.members_with_roles.retain(|m| !matches(m));
        team.updated_at = self.now;
        let mut writes = vec![put(&team, false)?];
        for user_id in removed.iter().filter_map(|m| m.user_id.as_ref()) {
            if let Some(mut user) = self.get::<UserRecord>(user_id).await? {
                user.teams.retain(|t| t != &team_id);
                user.updated_at = self.now;
                writes.push(put(&user, false)?);
            }
        }
        self.write(writes).await?;
        Ok(Value::Object(team_json(&team, self.now)))
    }

    async fn user_new(&self) -> Result<Value, AdminError> {
        let f: UserFields = parse_body(self.body)?;
        f.validate()?;
        let _guard = self.keys.admin_lock.lock().await;
        let user_id = non_empty(f.user_id.clone()).unwrap_or_else(new_id);
        if self.get::<UserRecord>(&user_id).await?.is_some() {
            return Err(error(
                409,
                "bad_request_error",
                format!("User with id {user_id} already exists"),
                Some("user_id"),
            ));
        }
        if let Some(email) = &f.user_email {
            if self.list::<UserRecord>().await?.iter().any(|u| u.user_email.as_ref() == Some(email)) {
                return Err(error(
                    409,
                    "bad_request_error",
                    format!("User with email {email} already exists"),
                    Some("user_email"),
                ));
            }
        }
        let mut user = UserRecord {
            user_id,
            user_email: f.user_email.clone(),
            user_alias: f.user_alias.clone(),
            user_role: f.user_role.clone(),
            models: f.models.clone().unwrap_or_default(),
            max_budget: f.max_budget,
            budget_duration: f.budget_duration.clone(),
            spend: f.spend.unwrap_or(0.0),
            spend_window: 0,
            rpm_limit: f.rpm_limit,
            tpm_limit: f.tpm_limit,
            max_parallel_requests: f.max_parallel_requests,
            teams: Vec::new(),
            metadata: metadata_object(f.metadata.clone(), "metadata")?.unwrap_or_else(|| json!({})),
            created_at: self.now,
            updated_at: self.now,
        };
        user.spend_window = user.window_at(self.now);
        let mut writes = Vec::new();
        let mut team_ids: Vec<String> = f.teams.clone().unwrap_or_default();
        if let Some(team_id) = non_empty(f.team_id.clone()) {
            team_ids.push(team_id);
        }
        for team_id in &team_ids {
            let Some(mut team) = self.get::<TeamRecord>(team_id).await? else {
                return Err(bad_request(format!("Team not found, passed team_id={team_id}"), "teams"));
            };
            if !user.teams.contains(team_id) {
                user.teams.push(team_id.clone());
            }
            team.members_with_roles.retain(|m| m.user_id.as_deref() != Some(user.user_id.as_str()));
            team.members_with_roles.push(Member {
                user_id: Some(user.user_id.clone()),
                user_email: user.user_email.clone(),
                role: "user".into(),
            });
            team.updated_at = self.now;
            writes.push(put(&team, false)?);
        }
        writes.push(put(&user, true)?);
        // LiteLLM's /user/new makes a key for the user unless auto_create_key is false; the key
        // carries the user's models and limits but not its budget (that stays on the user).
        let mut answer = Map::new();
        if f.auto_create_key {
            let raw = new_key();
            let key_alias = non_empty(f.key_alias.clone());
            self.check_alias_free(key_alias.as_deref(), None).await?;
            let expires = check_duration(f.duration.as_deref(), "duration")?
                .map(|secs| self.now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)));
            let key = KeyRecord {
                token: hash_key(&raw),
                key_name: key_name(&raw),
                key_alias,
                models: user.models.clone(),
                max_budget: None,
                budget_duration: None,
                spend: 0.0,
                spend_window: 0,
                rpm_limit: user.rpm_limit,
                tpm_limit: user.tpm_limit,
                max_parallel_requests: user.max_parallel_requests,
                expires,
                blocked: false,
                team_id: non_empty(f.team_id.clone()),
                user_id: Some(user.user_id.clone()),
                aliases: f.aliases.clone().unwrap_or_default(),
                metadata: user.metadata.clone(),
                created_at: self.now,
                updated_at: self.now,
                created_by: self.created_by(),
            };
            writes.push(put(&key, true)?);
            answer = key_json(&key, self.now);
            answer.remove("token");
            answer.insert("key".into(), json!(raw));
            answer.insert("duration".into(), json!(f.duration));
        } else {
            answer.insert("key".into(), json!(""));
        }
        self.write(writes).await?;
        for (field, value) in user_json(&user, self.now) {
            answer.insert(field, value);
        }
        Ok(Value::Object(answer))
    }

    async fn user_info(&self) -> Result<Value, AdminError> {
        let Some(user_id) = self.query.get("user_id") else {
            return Err(not_found("User None not found", "user_id"));
        };
        let Some(user) = self.get::<UserRecord>(user_id).await? else {
            return Err(not_found(format!("User {user_id} not found"), "user_id"));
        };
        let keys: Vec<Value> = self
            .list::<KeyRecord>()
            .await?
            .iter()
            .filter(|k| k.user_id.as_deref() == Some(user_id))
            .map(|k| Value::Object(key_json(k, self.now)))
            .collect();
        let mut teams = Vec::new();
        for team_id in &user.teams {
            if let Some(team) = self.get::<TeamRecord>(team_id).await? {
                teams.push(Value::Object(team_json(&team, self.now)));
            }
        }
        Ok(json!({"user_id": user.user_id, "user_info": user_json(&user, self.now), "keys": keys, "teams": teams}))
    }

    async fn user_update(&self) -> Result<Value, AdminError> {
        let f: UserFields = parse_body(self.body)?;
        f.validate()?;
        let _guard = self.keys.admin_lock.lock().await;
        let user = match (non_empty(f.user_id.clone()), &f.user_email) {
            (Some(id), _) => self.get::<UserRecord>(&id).await?,
            (None, Some(email)) => {
                self.list::<UserRecord>().await?.into_iter().find(|u| u.user_email.as_ref() == Some(email))
            }
            (None, None) => return Err(bad_request("user_id or user_email is required", "user_id")),
        };
        let Some(mut user) = user else {
            return Err(not_found("User not found", "user_id"));
        };
        if f.user_email.is_some() && f.user_id.is_some() {
            user.user_email.clone_from(&f.user_email);
        }
        if f.user_alias.is_some() {
            user.user_alias = f.user_alias;
        }
        if f.user_role.is_some() {
            user.user_role = f.user_role;
        }
        if let Some(models) = f.models {
            user.models = models;
        }
        if f.max_budget.is_some() {
            user.max_budget = f.max_budget;
        }
        let spend_before = user.current_spend(self.now);
        let window_changed = f.budget_duration.is_some() && f.budget_duration != user.budget_duration;
        if f.budget_duration.is_some() {
            user.budget_duration = f.budget_duration;
        }
        if f.tpm_limit.is_some() {
            user.tpm_limit = f.tpm_limit;
        }
        if f.rpm_limit.is_some() {
            user.rpm_limit = f.rpm_limit;
        }
        if f.max_parallel_requests.is_some() {
            user.max_parallel_requests = f.max_parallel_requests;
        }
        if let Some(metadata) = metadata_object(f.metadata, "metadata")? {
            user.metadata = metadata;
        }
        if f.spend.is_some() || window_changed {
            user.spend = f.spend.unwrap_or(spend_before);
            user.spend_window = user.window_at(self.now);
        }
        user.updated_at = self.now;
        self.write(vec![put(&user, f.spend.is_some() || window_changed)?]).await?;
        Ok(json!({"user_id": user.user_id, "data": user_json(&user, self.now)}))
    }

    async fn user_delete(&self) -> Result<Value, AdminError> {
        let f: UserIds = parse_body(self.body)?;
        let user_ids = f.user_ids.unwrap_or_default();
        if user_ids.is_empty() {
            return Err(bad_request("No user id passed in", "user_ids"));
        }
        let _guard = self.keys.admin_lock.lock().await;
        let mut writes = Vec::new();
        for user_id in &user_ids {
            if self.get::<UserRecord>(user_id).await?.is_none() {
                return Err(not_found(format!("User not found, passed user_id={user_id}"), "user_ids"));
            }
            writes.push(delete::<UserRecord>(user_id));
        }
        // LiteLLM deletes the users' keys and takes them off their teams.
        for key in self.list::<KeyRecord>().await? {
            if key.user_id.as_ref().is_some_and(|u| user_ids.contains(u)) {
                writes.push(delete::<KeyRecord>(&key.token));
            }
        }
        for mut team in self.list::<TeamRecord>().await? {
            let before = team.members_with_roles.len();
            team.members_with_roles.retain(|m| !m.user_id.as_ref().is_some_and(|u| user_ids.contains(u)));
            if team.members_with_roles.len() != before {
                team.updated_at = self.now;
                writes.push(put(&team, false)?);
            }
        }
        self.write(writes).await?;
        // LiteLLM answers with the number of users deleted.
        Ok(json!(user_ids.len()))
    }

    async fn customer_new(&self) -> Result<Value, AdminError> {
        let f: CustomerFields = parse_body(self.body)?;
        let Some(user_id) = non_empty(f.user_id) else {
            return Err(bad_request("user_id is required", "user_id"));
        };
        if f.max_budget.is_some() && f.budget_id.is_some() {
            return Err(bad_request("Set either 'max_budget' or 'budget_id', not both.", "max_budget"));
        }
        check_duration(f.budget_duration.as_deref(), "budget_duration")?;
        check_budget(f.max_budget, "max_budget")?;
        if let Some(region) = &f.allowed_model_region {
            if region != "eu" && region != "us" {
                return Err(bad_request("allowed_model_region must be 'eu' or 'us'", "allowed_model_region"));
            }
        }
        let _guard = self.keys.admin_lock.lock().await;
        if self.get::<CustomerRecord>(&user_id).await?.is_some() {
            return Err(bad_request(
                format!("Customer already exists, passed user_id={user_id}. Please pass a new user_id."),
                "user_id",
            ));
        }
        let has_budget =
            f.max_budget.is_some() || f.budget_duration.is_some() || f.tpm_limit.is_some() || f.rpm_limit.is_some();
        let budget_id = f.budget_id.or_else(|| has_budget.then(new_id));
        let mut customer = CustomerRecord {
            user_id,
            alias: f.alias,
            max_budget: f.max_budget,
            budget_duration: f.budget_duration,
            spend: f.spend.unwrap_or(0.0),
            spend_window: 0,
            rpm_limit: f.rpm_limit,
            tpm_limit: f.tpm_limit,
            blocked: f.blocked.unwrap_or(false),
            allowed_model_region: f.allowed_model_region,
            default_model: f.default_model,
            models: f.models.unwrap_or_default(),
            budget_id,
            created_at: self.now,
            updated_at: self.now,
        };
        customer.spend_window = customer.window_at(self.now);
        self.write(vec![put(&customer, true)?]).await?;
        Ok(customer_json(&customer, self.now))
    }

    async fn customer_info(&self) -> Result<Value, AdminError> {
        let Some(id) = self.query.get("end_user_id") else {
            return Err(bad_request("end_user_id is required", "end_user_id"));
        };
        let Some(customer) = self.get::<CustomerRecord>(id).await? else {
            return Err(error(404, "not_found", format!("End User Id={id} does not exist in db"), Some("end_user_id")));
        };
        Ok(customer_json(&customer, self.now))
    }
}
