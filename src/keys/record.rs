//! The stored records (virtual key, team, user, customer), LiteLLM's duration strings and the fixed
//! budget windows every record with a `budget_duration` counts its spend in.
//!
//! Budget windows are fixed from the record's `created_at`: window `i` covers
//! `[created_at + i*d, created_at + (i+1)*d)`. `spend` is the spend of the window `spend_window`; a
//! record whose stored window is in the past has spent 0 in the current one. LiteLLM instead snaps
//! resets to calendar boundaries (midnight, the 1st of the month); ours are anchored to creation so
//! every instance computes the same window from the record alone, with no reset job.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Seconds in LiteLLM's `Nmo`: LiteLLM counts calendar months from now; a fixed window needs a fixed
/// length, so a month is 30 days here (lossy: `1mo` from Jan 31 ends Mar 2, not Feb 28).
const MONTH_SECS: u64 = 30 * 86_400;

/// Seconds of a LiteLLM duration string (`30s`, `30m`, `1h`, `1d`, `2w`, `1mo`, or the words
/// `hourly`, `daily`, `weekly`, `monthly`); `None` for anything else, zero included.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = match text.to_ascii_lowercase().as_str() {
        "hourly" => "1h",
        "daily" => "24h",
        "weekly" => "7d",
        "monthly" => "30d",
        _ => text,
    };
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let value: u64 = number.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        "mo" => MONTH_SECS,
        _ => return None,
    };
    value.checked_mul(unit_secs).filter(|secs| *secs > 0)
}

/// Index of the budget window that `now` falls in, counting from `created_at` (0 before it).
pub fn window_index(created_at: i64, window_secs: u64, now: i64) -> i64 {
    let width = i64::try_from(window_secs).unwrap_or(i64::MAX).max(1);
    if now <= created_at {
        return 0;
    }
    (now - created_at) / width
}

/// One member of a team, as LiteLLM's `members_with_roles` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The member's user id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The member's email.
    #[serde(default)]
    pub user_email: Option<String>,
    /// `admin` or `user`.
    pub role: String,
}

/// A virtual key. Only its SHA-256 (`token`) is stored, never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// SHA-256 of the key, lowercase hex (LiteLLM's `token`).
    pub token: String,
    /// `sk-...` and the key's last four characters.
    pub key_name: String,
    /// A unique, human-friendly name.
    #[serde(default)]
    pub key_alias: Option<String>,
    /// Model names the key may call; empty means all the models its team (or the proxy) allows.
    #[serde(default)]
    pub models: Vec<String>,
    /// Budget in USD for each budget window (or for the key's life without `budget_duration`).
    #[serde(default)]
    pub max_budget: Option<f64>,
    /// How long a budget window lasts (LiteLLM's duration string).
    #[serde(default)]
    pub budget_duration: Option<String>,
    /// Spend in the window `spend_window` (a database column, not part of the stored document).
    #[serde(skip)]
    pub spend: f64,
    /// The budget window `spend` belongs to.
    #[serde(skip)]
    pub spend_window: i64,
    /// Requests per minute.
    #[serde(default)]
    pub rpm_limit: Option<u64>,
    /// Tokens per minute.
    #[serde(default)]
    pub tpm_limit: Option<u64>,
    /// Requests in flight at once.
    #[serde(default)]
    pub max_parallel_requests: Option<u64>,
    /// Unix seconds after which the key no longer authenticates.
    #[serde(default)]
    pub expires: Option<i64>,
    /// A blocked key is refused.
    #[serde(default)]
    pub blocked: bool,
    /// The team the key belongs to.
    #[serde(default)]
    pub team_id: Option<String>,
    /// The user the key belongs to.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Model aliases: requested name -> model group.
    #[serde(default)]
    pub aliases: HashMap<String, String>,
    /// Free-form metadata (LiteLLM keeps `tags` in here too).
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// Unix seconds of creation; the anchor of the budget windows.
    pub created_at: i64,
    /// Unix seconds of the last admin change.
    #[serde(default)]
    pub updated_at: i64,
    /// Who created the key (`default_user_id` for the master key, as LiteLLM says).
    #[serde(default)]
    pub created_by: Option<String>,
}

/// A team: shared budget, limits and allowed models for its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamRecord {
    /// The team's id (a UUID unless given).
    pub team_id: String,
    /// A human-friendly name.
    #[serde(default)]
    pub team_alias: Option<String>,
    /// Models the team's keys may call; empty or `all-proxy-models` means every model.
    #[serde(default)]
    pub models: Vec<String>,
    /// Model names the team's keys may send for a group (`{"gpt-4": "gpt-4o-eu"}`), after the key's own
    /// `aliases` (LiteLLM's team `model_aliases`).
    #[serde(default)]
    pub model_aliases: std::collections::HashMap<String, String>,
    /// Budget in USD per window.
    #[serde(default)]
    pub max_budget: Option<f64>,
    /// How long a budget window lasts.
    #[serde(default)]
    pub budget_duration: Option<String>,
    /// Spend in the window `spend_window`.
    #[serde(skip)]
    pub spend: f64,
    /// The budget window `spend` belongs to.
    #[serde(skip)]
    pub spend_window: i64,
    /// Requests per minute for all the team's keys together.
    #[serde(default)]
    pub rpm_limit: Option<u64>,
    /// Tokens per minute for all the team's keys together.
    #[serde(default)]
    pub tpm_limit: Option<u64>,
    /// Requests in flight at once for the team.
    #[serde(default)]
    pub max_parallel_requests: Option<u64>,
    /// A blocked team's keys are refused.
    #[serde(default)]
    pub blocked: bool,
    /// Members and their roles.
    #[serde(default)]
    pub members_with_roles: Vec<Member>,
    /// Free-form metadata.
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last admin change.
    #[serde(default)]
    pub updated_at: i64,
}

/// An internal user: owner of keys, member of teams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The user's id.
    pub user_id: String,
    /// The user's email.
    #[serde(default)]
    pub user_email: Option<String>,
    /// A display name.
    #[serde(default)]
    pub user_alias: Option<String>,
    /// LiteLLM's role (`proxy_admin`, `internal_user`, ...).
    #[serde(default)]
    pub user_role: Option<String>,
    /// Models the user's keys may call; empty means no user-level restriction.
    #[serde(default)]
    pub models: Vec<String>,
    /// Budget in USD per window.
    #[serde(default)]
    pub max_budget: Option<f64>,
    /// How long a budget window lasts.
    #[serde(default)]
    pub budget_duration: Option<String>,
    /// Spend in the window `spend_window`.
    #[serde(skip)]
    pub spend: f64,
    /// The budget window `spend` belongs to.
    #[serde(skip)]
    pub spend_window: i64,
    /// Requests per minute for all the user's keys together.
    #[serde(default)]
    pub rpm_limit: Option<u64>,
    /// Tokens per minute for all the user's keys together.
    #[serde(default)]
    pub tpm_limit: Option<u64>,
    /// Requests in flight at once for the user.
    #[serde(default)]
    pub max_parallel_requests: Option<u64>,
    /// Ids of the teams the user is a member of.
    #[serde(default)]
    pub teams: Vec<String>,
    /// Free-form metadata.
    #[serde(default = "empty_object")]
    pub metadata: Value,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last admin change.
    #[serde(default)]
    pub updated_at: i64,
}

/// An end user (LiteLLM's customer), named by the `user` field of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// The end user's id, as requests send it in `user`.
    pub user_id: String,
    /// A human-friendly name.
    #[serde(default)]
    pub alias: Option<String>,
    /// Budget in USD per window.
    #[serde(default)]
    pub max_budget: Option<f64>,
    /// How long a budget window lasts.
    #[serde(default)]
    pub budget_duration: Option<String>,
    /// Spend in the window `spend_window`.
    #[serde(skip)]
    pub spend: f64,
    /// The budget window `spend` belongs to.
    #[serde(skip)]
    pub spend_window: i64,
    /// Requests per minute for this end user.
    #[serde(default)]
    pub rpm_limit: Option<u64>,
    /// Tokens per minute for this end user.
    #[serde(default)]
    pub tpm_limit: Option<u64>,
    /// A blocked end user's requests are refused.
    #[serde(default)]
    pub blocked: bool,
    /// `eu` or `us`: LiteLLM's region restriction (stored, not enforced here).
    #[serde(default)]
    pub allowed_model_region: Option<String>,
    /// The model to use when no model of the allowed region fits (stored, not enforced here).
    #[serde(default)]
    pub default_model: Option<String>,
    /// Models this end user may call; empty means no restriction.
    #[serde(default)]
    pub models: Vec<String>,
    /// Id of the budget row LiteLLM would create; ours lives in the record.
    #[serde(default)]
    pub budget_id: Option<String>,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the last admin change.
    #[serde(default)]
    pub updated_at: i64,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Budget windows, the same for every record that has a budget.
macro_rules! budget_windows {
    ($($record:ty),*) => {$(
        impl $record {
            /// Length of a budget window in seconds; `None` when the budget never resets.
            pub fn budget_window_secs(&self) -> Option<u64> {
                self.budget_duration.as_deref().and_then(parse_duration)
            }

            /// Index of the budget window `now_unix` falls in (0 when the budget never resets).
            pub fn window_at(&self, now_unix: i64) -> i64 {
                self.budget_window_secs().map_or(0, |secs| window_index(self.created_at, secs, now_unix))
            }

            /// Spend of the window `now_unix` falls in: 0 when the stored spend is of a past window.
            pub fn current_spend(&self, now_unix: i64) -> f64 {
                if self.spend_window < self.window_at(now_unix) {
                    0.0
                } else {
                    self.spend
                }
            }

            /// Unix seconds at which the current budget window ends; `None` without `budget_duration`.
            pub fn budget_reset_at(&self, now_unix: i64) -> Option<i64> {
                let secs = i64::try_from(self.budget_window_secs()?).ok()?;
                let next = self.window_at(now_unix).checked_add(1)?;
                self.created_at.checked_add(next.checked_mul(secs)?)
            }
        }
    )*};
}

budget_windows!(KeyRecord, TeamRecord, UserRecord, CustomerRecord);

impl KeyRecord {
    /// True once `expires` has passed.
    pub fn is_expired(&self, now_unix: i64) -> bool {
        self.expires.is_some_and(|at| at <= now_unix)
    }
}

/// Unix seconds now (the wall clock records, windows and expiry are kept in).
pub fn unix_now() -> i64 {
    unix_now_ms() / 1000
}

/// Unix milliseconds now.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// ISO-8601 in UTC with LiteLLM's (Python's `isoformat`) offset: `2026-11-25T11:07:34+00:00`.
pub fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil: proleptic Gregorian date of a day count from 1970-01-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00", secs / 3_600, secs % 3_600 / 60, secs % 60)
}

/// SHA-256 of a key, lowercase hex: the only form a key is stored or looked up in.
pub fn hash_key(key: &str) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// LiteLLM's abbreviated key name: `sk-...` and the last four characters.
pub fn key_name(key: &str) -> String {
    let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    if key.chars().count() < 8 {
        return "sk-...".to_string();
    }
    format!("sk-...{tail}")
}
