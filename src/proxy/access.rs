//! Virtual keys on the request path: who calls (the master key, a virtual key, or anyone on an open
//! gateway), whether the key may use the model it asks for, and the reserve-then-settle of every budget
//! and limit in its chain (key, team, user, end-user).
//!
//! Everything here reads the keys cache ([`crate::keys::Keys::lookup`]): no database round trip on the
//! hot path. Counters live in [`crate::spend::Limits`] (memory, or Redis shared by every instance).

use std::sync::Arc;

use pingora_proxy::Session;
use subtle::ConstantTimeEq;

use super::ctx::RequestCtx;
use super::Gateway;
use crate::error::Error;
use crate::keys::{Principal, TeamRecord};
use crate::spend::{Budget, Parallel, Rate, RateKind, Refusal, Reservation, Scope, Ticket, Window};

/// Who is calling.
#[derive(Clone)]
pub enum Caller {
    /// No master key is configured and no virtual key was presented: the gateway is open.
    Open,
    /// The master key.
    Master,
    /// A virtual key, with its team and user as the cache holds them.
    Key(Arc<Principal>),
}

impl Caller {
    /// The key's principal, if a virtual key is calling.
    pub fn principal(&self) -> Option<&Arc<Principal>> {
        match self {
            Caller::Key(p) => Some(p),
            _ => None,
        }
    }
}

pub use crate::keys::{unix_now as now_unix, unix_now_ms as now_unix_ms};

/// The key the client presented: `Authorization: Bearer`, else `x-api-key`, else `api-key`.
fn presented(session: &Session) -> Option<&[u8]> {
    let req = session.req_header();
    req.headers
        .get("authorization")
        .map(|v| {
            let v = v.as_bytes();
            match v.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"bearer ") => v.get(7..).unwrap_or_default(),
                _ => v,
            }
        })
        .or_else(|| req.headers.get("x-api-key").map(|v| v.as_bytes()))
        .or_else(|| req.headers.get("api-key").map(|v| v.as_bytes()))
        .map(<[u8]>::trim_ascii)
        .filter(|v| !v.is_empty())
}

/// Finds the caller: the master key (compared in constant time), else a virtual key from the cache that
/// is neither blocked nor expired (401 otherwise). Without a master key the gateway is open, but a
/// virtual key that is presented still carries its limits.
///
/// A key the cache does not have yet (made on another instance since the last poll) is looked up in the
/// database ([`crate::keys::Keys::lookup_missing`]): it works on every instance the moment it exists.
pub async fn authenticate(gw: &Gateway, session: &Session, ctx: &RequestCtx, now: i64) -> Result<Caller, Error> {
    let master = ctx.snapshot.master_key.as_deref();
    let Some(presented) = presented(session) else {
        return match master {
            None => Ok(Caller::Open),
            Some(_) => Err(Error::Unauthorized("No api key passed in.".into())),
        };
    };
    if let Some(master) = master {
        if bool::from(presented.ct_eq(master)) {
            return Ok(Caller::Master);
        }
    }
    let text = std::str::from_utf8(presented).ok();
    let mut principal = text.and_then(|k| gw.keys.lookup(k));
    if let (None, Some(k)) = (&principal, text) {
        // Boxed: a database round trip's future is large, and only a miss needs one.
        principal = Box::pin(gw.keys.lookup_missing(k)).await;
    }
    let Some(principal) = principal else {
        return match master {
            None => Ok(Caller::Open),
            Some(_) => Err(Error::Unauthorized("Invalid proxy server token passed. Received API Key = sk-...".into())),
        };
    };
    let key = &principal.key;
    if key.blocked {
        return Err(Error::Unauthorized(format!(
            "Key is blocked. Update via `/key/unblock` if you're admin. key_name={}",
            key.key_name
        )));
    }
    if let Some(expires) = key.expires.filter(|e| *e <= now) {
        return Err(Error::Unauthorized(format!(
            "Expired Key. Key Expiry time {} and current time {}",
            crate::keys::iso8601(expires),
            crate::keys::iso8601(now)
        )));
    }
    if principal.team.as_ref().is_some_and(|t| t.blocked) {
        return Err(Error::Unauthorized("Team is blocked. Update via `/team/unblock` if you're admin.".into()));
    }
    Ok(Caller::Key(principal))
}

/// The model group a key's `aliases`, else its team's `model_aliases`, map `requested` to (LiteLLM's key
/// and team model aliases).
pub fn alias<'a>(caller: &'a Caller, requested: &'a str) -> &'a str {
    match caller {
        Caller::Key(p) => p
            .key
            .aliases
            .get(requested)
            .or_else(|| p.team.as_ref().and_then(|t| t.model_aliases.get(requested)))
            .map_or(requested, String::as_str),
        _ => requested,
    }
}

/// Names in a model list that allow every model.
fn allows_all(models: &[String]) -> bool {
    models.is_empty() || models.iter().any(|m| m == "all-proxy-models" || m == "*")
}

/// Whether a key may use `group`: its own `models` (empty, `all-proxy-models` or `*`: every model;
/// `all-team-models`: its team's), and its team's `models` as well.
pub fn may_use(principal: &Principal, group: &str) -> Result<(), Error> {
    let key_models = &principal.key.models;
    let team_models = principal.team.as_ref().map(|t: &TeamRecord| t.models.as_slice()).unwrap_or_default();
    let only_team = key_models.iter().any(|m| m == "all-team-models");
    if !only_team && !allows_all(key_models) && !key_models.iter().any(|m| m == group) {
        return Err(Error::ModelNotAllowed {
            kind: "key_model_access_denied",
            message: format!(
                "key not allowed to access model. This key can only access models={key_models:?}. Tried to access {group}"
            ),
        });
    }
    if !allows_all(team_models) && !team_models.iter().any(|m| m == group) {
        let team = principal.team.as_ref().map_or("", |t| t.team_id.as_str());
        return Err(Error::ModelNotAllowed {
            kind: "team_model_access_denied",
            message: format!(
                "team not allowed to access model. Team={team}, Model={group}. Allowed team models = {team_models:?}"
            ),
        });
    }
    Ok(())
}

/// The keys database as the seed of budget counters Redis does not have ([`crate::spend::SpendSource`]).
pub struct DatabaseSpend(pub std::sync::Arc<crate::keys::Keys>);

impl crate::spend::SpendSource for DatabaseSpend {
    fn spend_now<'a>(
        &'a self,
        budgets: &'a [Budget],
        now_unix: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Option<f64>>> + Send + 'a>> {
        Box::pin(async move {
            let owners: Vec<(&str, &str, i64)> = budgets
                .iter()
                .map(|b| (b.scope.as_str(), b.id.as_str(), b.window.map_or(0, |w| w.index(now_unix))))
                .collect();
            self.0.fresh_spend(&owners).await
        })
    }
}

/// Every budget, rate and parallel limit of the caller's chain, and of the end-user named by the
/// request's `user` field, for a call whose worst case costs `amount`.
pub fn reservation(gw: &Gateway, caller: &Caller, end_user: Option<&str>, amount: f64, now: i64) -> Reservation {
    let mut r = Reservation { budgets: Vec::new(), rates: Vec::new(), parallel: Vec::new(), amount };
    if let Caller::Key(p) = caller {
        let key = &p.key;
        push_budget(&mut r, Scope::Key, &key.token, key.max_budget, key.budget_window_secs(), key.created_at, || {
            key.current_spend(now)
        });
        push_rate(&mut r, Scope::Key, &key.token, key.rpm_limit, key.tpm_limit);
        if let Some(max) = key.max_parallel_requests {
            r.parallel.push(Parallel { scope: Scope::Key, id: key.token.clone(), max });
        }
        if let Some(team) = &p.team {
            push_budget(
                &mut r,
                Scope::Team,
                &team.team_id,
                team.max_budget,
                team.budget_window_secs(),
                team.created_at,
                || team.current_spend(now),
            );
            push_rate(&mut r, Scope::Team, &team.team_id, team.rpm_limit, team.tpm_limit);
        }
        if let Some(user) = &p.user {
            push_budget(
                &mut r,
                Scope::User,
                &user.user_id,
                user.max_budget,
                user.budget_window_secs(),
                user.created_at,
                || user.current_spend(now),
            );
            push_rate(&mut r, Scope::User, &user.user_id, user.rpm_limit, user.tpm_limit);
        }
    }
    if let Some(customer) = end_user.and_then(|id| gw.keys.customer(id)) {
        push_budget(
            &mut r,
            Scope::EndUser,
            &customer.user_id,
            customer.max_budget,
            customer.budget_window_secs(),
            customer.created_at,
            || customer.current_spend(now),
        );
    }
    r
}

fn push_budget(
    r: &mut Reservation,
    scope: Scope,
    id: &str,
    max: Option<f64>,
    window_secs: Option<u64>,
    anchor: i64,
    seed: impl FnOnce() -> f64,
) {
    let Some(max) = max else { return };
    let window = window_secs.map(|secs| Window { anchor_unix: anchor, secs });
    r.budgets.push(Budget { scope, id: id.to_owned(), max, window, seed: seed() });
}

fn push_rate(r: &mut Reservation, scope: Scope, id: &str, rpm: Option<u64>, tpm: Option<u64>) {
    if rpm.is_some() || tpm.is_some() {
        r.rates.push(Rate { scope, id: id.to_owned(), rpm, tpm });
    }
}

/// Whether a reservation has anything to check (most calls by the master key have not).
pub fn is_empty(r: &Reservation) -> bool {
    r.budgets.is_empty() && r.rates.is_empty() && r.parallel.is_empty()
}

/// The client's error for a refused reservation: which budget or limit. A budget refusal is LiteLLM's
/// (`auth_checks.py`): its wording per scope, with the spend and the budget, and `budget_status`.
pub fn refused(refusal: Refusal, caller: &Caller, budget_status: u16) -> Error {
    match refusal {
        Refusal::Budget { scope, id, max, spent, .. } => {
            let (spent, max) = (py_float(spent), py_float(max));
            let message = match scope {
                Scope::Key => {
                    let alias = caller.principal().and_then(|p| p.key.key_alias.clone());
                    let name = alias.unwrap_or_else(|| "key".to_string());
                    format!("Budget has been exceeded! Key={name} Current cost: {spent}, Max budget: {max}")
                }
                Scope::Team => format!("Budget has been exceeded! Team={id} Current cost: {spent}, Max budget: {max}"),
                Scope::User => format!("ExceededBudget: User={id} over budget. Spend={spent}, Budget={max}"),
                Scope::EndUser => format!("ExceededBudget: End User={id} over budget. Spend={spent}, Budget={max}"),
                Scope::Deployment => format!("Budget has been exceeded! Current cost: {spent}, Max budget: {max}"),
            };
            Error::BudgetExceeded { scope: scope.as_str(), message, status: budget_status }
        }
        Refusal::Rate { scope, kind, limit, retry_after_secs, .. } => Error::RateLimited {
            scope: scope.as_str(),
            kind: match kind {
                RateKind::Requests => "requests",
                RateKind::Tokens => "tokens",
            },
            limit,
            retry_after_secs: retry_after_secs.max(1),
        },
        Refusal::Parallel { scope, limit, .. } => {
            Error::RateLimited { scope: scope.as_str(), kind: "parallel requests", limit, retry_after_secs: 1 }
        }
        Refusal::Unavailable(why) => Error::LimitsUnavailable(why),
    }
}

/// A USD amount as Python prints a float (LiteLLM's messages are f-strings): `1.0`, not `1`.
fn py_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// After the call (from the logging hook, whatever happened): settle the reservation with what the call
/// really cost (nothing when it failed before producing anything) and queue the spend for the database.
pub fn settle(gw: &Gateway, ctx: &mut RequestCtx) {
    let cost = ctx.cost.unwrap_or(0.0);
    let tokens = ctx.usage.map_or(0, |u| u.total_tokens());
    let now = now_unix_ms();
    if let Some(ticket) = ctx.ticket.take() {
        settle_ticket(gw, ticket, cost, tokens, now);
    }
    if let Some(ticket) = ctx.deployment_ticket.take() {
        settle_ticket(gw, ticket, 0.0, tokens, now);
    }
    if cost <= 0.0 {
        return;
    }
    if let Some(Caller::Key(p)) = &ctx.caller {
        let key = &p.key;
        gw.keys.record_spend(&key.token, key.team_id.as_deref(), key.user_id.as_deref(), ctx.end_user.as_deref(), cost);
    } else if let Some(end_user) = ctx.end_user.as_deref() {
        gw.keys.record_spend("", None, None, Some(end_user), cost);
    }
}

/// After a failed attempt: its deployment reservation is settled at once with no tokens (the request still
/// counts against the deployment's rpm), so the next attempt can take its own.
pub fn settle_deployment(gw: &Gateway, ctx: &mut RequestCtx) {
    if let Some(ticket) = ctx.deployment_ticket.take() {
        settle_ticket(gw, ticket, 0.0, 0, now_unix_ms());
    }
}

/// Settles in place when the ticket was reserved in memory. A Redis settle is spawned, off the connection's
/// way: it is a round trip the next request on this keep-alive connection need not wait for. The
/// reservation holds the worst case until then, so a settle that lands a moment later can only have refused
/// more, never let more through. (Spawning the memory settle too cost a task and a wake-up of another
/// worker on every call.)
fn settle_ticket(gw: &Gateway, ticket: Ticket, cost: f64, tokens: u64, now: i64) {
    if let Some(ticket) = gw.limits.settle_local(ticket, cost, tokens, now) {
        let limits = gw.limits.clone();
        tokio::spawn(async move { limits.settle(ticket, cost, tokens, now).await });
    }
}
