//! Keys, teams, users and customers against a real SQLite file and the real PostgreSQL: every admin
//! route round trip, two instances sharing PostgreSQL, the database going away, spend and windows.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use super::*;

const NOW: i64 = 1_780_000_000;
/// The test PostgreSQL's port: `TOLLGATE_TEST_PGPORT` (set by tests/run when it started a cluster of its
/// own), else 5432.
fn pg_port() -> u16 {
    std::env::var("TOLLGATE_TEST_PGPORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5432)
}

/// The test database: 127.0.0.1, user postgres (trust), database `test`.
fn pg() -> String {
    format!("host=127.0.0.1 port={} user=postgres dbname=test", pg_port())
}

async fn call(keys: &Keys, method: &str, path: &str, body: Value, caller: Caller) -> Result<Value, AdminError> {
    call_at(keys, method, path, body, caller, NOW).await
}

async fn call_at(
    keys: &Keys,
    method: &str,
    path: &str,
    body: Value,
    caller: Caller,
    now_unix: i64,
) -> Result<Value, AdminError> {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).unwrap() };
    let answer = keys.admin(AdminRequest { method, path, query, body: &body, caller, now_unix }).await?;
    assert_eq!(answer.status, 200);
    Ok(serde_json::from_slice(&answer.body).unwrap())
}

async fn master(keys: &Keys, method: &str, path: &str, body: Value) -> Value {
    match call(keys, method, path, body, Caller::Master).await {
        Ok(v) => v,
        Err(e) => panic!("{method} {path}: {e:?}"),
    }
}

async fn refused(keys: &Keys, method: &str, path: &str, body: Value) -> AdminError {
    match call(keys, method, path, body, Caller::Master).await {
        Ok(v) => panic!("{method} {path} should fail, answered {v}"),
        Err(e) => e,
    }
}

/// A fresh PostgreSQL schema for one test, dropped when the test ends (even by a panic).
struct Schema {
    name: String,
}

impl Schema {
    /// None (and a note) when PostgreSQL is not there; a panic under CI=true.
    async fn create() -> Option<Schema> {
        let connected = tokio_postgres::connect(&pg(), tokio_postgres::NoTls).await;
        let (client, connection) = match connected {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL at 127.0.0.1:{} is required under CI: {e}",
                    pg_port()
                );
                eprintln!("SKIPPED: PostgreSQL at 127.0.0.1:{} is not reachable: {e}", pg_port());
                return None;
            }
        };
        tokio::spawn(connection);
        let name = format!("tg_test_{}", uuid::Uuid::new_v4().simple());
        client.batch_execute(&format!("CREATE SCHEMA {name}")).await.unwrap();
        Some(Schema { name })
    }

    fn url(&self) -> String {
        format!("{} options='-c search_path={}'", pg(), self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // Drop runs inside the test's runtime: a thread of its own may block on its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(&pg(), tokio_postgres::NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&sql).await;
                }
            });
        })
        .join();
    }
}

async fn sqlite() -> (tempfile::TempDir, Arc<Keys>) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::open(dir.path(), None).await.unwrap();
    (dir, keys)
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    done()
}

#[test]
fn durations_parse_like_litellm() {
    assert_eq!(parse_duration("30s"), Some(30));
    assert_eq!(parse_duration("30m"), Some(1_800));
    assert_eq!(parse_duration("1h"), Some(3_600));
    assert_eq!(parse_duration("1d"), Some(86_400));
    assert_eq!(parse_duration("30d"), Some(2_592_000));
    assert_eq!(parse_duration("2w"), Some(1_209_600));
    assert_eq!(parse_duration("1mo"), Some(2_592_000));
    assert_eq!(parse_duration("daily"), Some(86_400));
    for bad in ["", "30", "d", "1x", "0d", "-1d", "1.5h", "1 h", "99999999999999999999d"] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn windows_are_fixed_from_creation() {
    assert_eq!(window_index(100, 10, 99), 0);
    assert_eq!(window_index(100, 10, 109), 0);
    assert_eq!(window_index(100, 10, 110), 1);
    let key = KeyRecord {
        token: "t".into(),
        key_name: "sk-...abcd".into(),
        key_alias: None,
        models: vec![],
        max_budget: Some(1.0),
        budget_duration: Some("1h".into()),
        spend: 0.7,
        spend_window: 2,
        rpm_limit: None,
        tpm_limit: None,
        max_parallel_requests: None,
        expires: None,
        blocked: false,
        team_id: None,
        user_id: None,
        aliases: Default::default(),
        metadata: json!({}),
        created_at: 1_000,
        updated_at: 1_000,
        created_by: None,
    };
    assert_eq!(key.budget_window_secs(), Some(3_600));
    let in_window_2 = 1_000 + 2 * 3_600 + 5;
    assert_eq!(key.current_spend(in_window_2), 0.7);
    assert_eq!(key.budget_reset_at(in_window_2), Some(1_000 + 3 * 3_600));
    assert_eq!(key.current_spend(1_000 + 3 * 3_600), 0.0, "a past window's spend does not count");
    let forever = KeyRecord { budget_duration: None, spend_window: 0, ..key };
    assert_eq!(forever.current_spend(i64::MAX / 2), 0.7);
    assert_eq!(forever.budget_reset_at(NOW), None);
}

#[test]
fn datetimes_and_hashes_match_litellm() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00+00:00");
    assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20+00:00");
    assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00+00:00");
    // sha256("sk-1234"), as LiteLLM's hash_token gives it.
    assert_eq!(hash_key("sk-1234"), "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b");
}

#[test]
fn admin_paths_are_recognised() {
    for path in
        ["/key/generate", "/key/info", "/key/sk-abc/regenerate", "/team/member_add", "/end_user/new", "/customer/info"]
    {
        assert!(is_admin_path(path), "{path}");
    }
    for path in ["/chat/completions", "/key/", "/key//regenerate", "/keys/generate", "/team"] {
        assert!(!is_admin_path(path), "{path}");
    }
}

/// Every admin route once, against whichever store `keys` has.
async fn every_route_round_trips(keys: Arc<Keys>) {
    // Teams.
    let team = master(
        &keys,
        "POST",
        "/team/new",
        json!({"team_id": "t1", "team_alias": "core", "models": ["gpt-4o", "gpt-4o-mini"], "max_budget": 10.0,
               "budget_duration": "30d", "members_with_roles": [{"role": "admin", "user_id": "alice"}]}),
    )
    .await;
    assert_eq!(team["team_id"], "t1");
    assert_eq!(team["admins"], json!(["alice"]));
    assert_eq!(team["members_with_roles"][0], json!({"user_id": "alice", "user_email": null, "role": "admin"}));
    assert_eq!(team["created_at"], iso8601(NOW));
    assert_eq!(team["budget_reset_at"], iso8601(NOW + 30 * 86_400));
    let e = refused(&keys, "POST", "/team/new", json!({"team_id": "t1"})).await;
    assert_eq!((e.status, e.param.as_deref()), (400, Some("team_id")));
    let e = refused(&keys, "POST", "/team/new", json!({"budget_duration": "soon"})).await;
    assert_eq!((e.status, e.param.as_deref()), (400, Some("budget_duration")));

    // Users.
    let user = master(
        &keys,
        "POST",
        "/user/new",
        json!({"user_id": "bob", "user_email": "bob@example.com", "max_budget": 5.0, "auto_create_key": false}),
    )
    .await;
    assert_eq!((user["user_id"].as_str(), user["key"].as_str()), (Some("bob"), Some("")));
    let e = refused(&keys, "POST", "/user/new", json!({"user_id": "bob"})).await;
    assert_eq!((e.status, e.param.as_deref()), (409, Some("user_id")));
    let with_key = master(&keys, "POST", "/user/new", json!({"user_id": "dave", "models": ["gpt-4o"]})).await;
    let dave_key = with_key["key"].as_str().unwrap().to_string();
    assert_eq!(keys.lookup(&dave_key).unwrap().key.user_id.as_deref(), Some("dave"));
    assert_eq!(keys.lookup(&dave_key).unwrap().key.models, vec!["gpt-4o".to_string()]);

    // Keys.
    let generated = master(
        &keys,
        "POST",
        "/key/generate",
        json!({"models": ["gpt-4o"], "team_id": "t1", "user_id": "bob", "max_budget": 1.5, "budget_duration": "1d",
               "rpm_limit": 10, "tpm_limit": 1000, "max_parallel_requests": 2, "duration": "30d", "key_alias": "k1",
               "metadata": {"app": "x"}, "aliases": {"fast": "gpt-4o-mini"}}),
    )
    .await;
    let raw = generated["key"].as_str().unwrap().to_string();
    assert!(raw.starts_with("sk-") && raw.len() >= 25, "{raw}");
    assert!(raw[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(generated["token"], hash_key(&raw));
    assert_eq!(generated["token_id"], hash_key(&raw));
    assert_eq!(generated["key_name"], format!("sk-...{}", &raw[raw.len() - 4..]));
    assert_eq!(generated["expires"], iso8601(NOW + 30 * 86_400));
    assert_eq!(generated["budget_reset_at"], iso8601(NOW + 86_400));
    assert_eq!(generated["created_by"], "default_user_id");
    let principal = keys.lookup(&raw).unwrap();
    assert_eq!(principal.key.token, hash_key(&raw));
    assert_eq!(principal.key.rpm_limit, Some(10));
    assert_eq!(principal.key.aliases.get("fast").map(String::as_str), Some("gpt-4o-mini"));
    assert_eq!(principal.team.as_ref().unwrap().team_id, "t1");
    assert_eq!(principal.user.as_ref().unwrap().user_email.as_deref(), Some("bob@example.com"));
    assert!(keys.lookup(&hash_key(&raw)).is_none(), "the hash itself must not authenticate");

    for (body, param) in [
        (json!({"team_id": "nope"}), "team_id"),
        (json!({"team_id": "t1", "models": ["claude-3"]}), "models"),
        (json!({"budget_duration": "1x"}), "budget_duration"),
        (json!({"duration": "forever"}), "duration"),
        (json!({"key_alias": "k1"}), "key_alias"),
        (json!({"rpm_limit": -1}), "rpm_limit"),
        (json!({"max_budget": -2.0}), "max_budget"),
        (json!({"key": "not-sk"}), "key"),
    ] {
        let e = refused(&keys, "POST", "/key/generate", body.clone()).await;
        assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{body}: {e:?}");
    }
    let custom = master(&keys, "POST", "/key/generate", json!({"key": "sk-my-own-key-123"})).await;
    assert_eq!(custom["key"], "sk-my-own-key-123");
    assert!(keys.lookup("sk-my-own-key-123").is_some());

    // /key/info: by key, by hash, own key, someone else's.
    let info = master(&keys, "GET", &format!("/key/info?key={raw}"), Value::Null).await;
    assert_eq!(info["key"], raw.as_str());
    assert!(info["info"].get("token").is_none(), "the hash is removed from /key/info");
    assert_eq!(info["info"]["key_alias"], "k1");
    assert_eq!(info["info"]["status"], "active");
    assert_eq!(info["info"]["metadata"], json!({"app": "x"}));
    let by_hash = master(&keys, "GET", &format!("/key/info?key={}", hash_key(&raw)), Value::Null).await;
    assert_eq!(by_hash["info"], info["info"]);
    let own = call(&keys, "GET", "/key/info", Value::Null, Caller::Key(principal.clone())).await.unwrap();
    assert_eq!(own["info"]["key_alias"], "k1");
    let other =
        call(&keys, "GET", "/key/info?key=sk-my-own-key-123", Value::Null, Caller::Key(principal.clone())).await;
    assert_eq!(other.unwrap_err().status, 403);
    let e = call(&keys, "POST", "/key/generate", json!({}), Caller::Key(principal.clone())).await.unwrap_err();
    assert_eq!((e.status, e.kind), (401, "auth_error"));
    let e = refused(&keys, "GET", "/key/info?key=sk-nothing-here", Value::Null).await;
    assert_eq!((e.status, e.param.as_deref()), (404, Some("key")));

    // /key/update, /key/block, /key/unblock.
    let updated =
        master(&keys, "POST", "/key/update", json!({"key": raw, "max_budget": 3.0, "key_alias": "k1b"})).await;
    assert_eq!((updated["key"].as_str(), updated["max_budget"].as_f64()), (Some(raw.as_str()), Some(3.0)));
    assert_eq!(keys.lookup(&raw).unwrap().key.key_alias.as_deref(), Some("k1b"));
    let e = refused(&keys, "POST", "/key/update", json!({"key": "sk-unknown-key-000"})).await;
    assert_eq!(e.status, 404);
    let e = refused(&keys, "POST", "/key/update", json!({"key": raw, "team_id": "nope"})).await;
    assert_eq!((e.status, e.param.as_deref()), (400, Some("team_id")));
    let blocked = master(&keys, "POST", "/key/block", json!({"key": raw})).await;
    assert_eq!(blocked["blocked"], true);
    assert!(keys.lookup(&raw).unwrap().key.blocked);
    let info = master(&keys, "GET", &format!("/key/info?key={raw}"), Value::Null).await;
    assert_eq!(info["info"]["status"], "revoked");
    master(&keys, "POST", "/key/unblock", json!({"key": raw})).await;
    assert!(!keys.lookup(&raw).unwrap().key.blocked);
    assert_eq!(refused(&keys, "POST", "/key/block", json!({"key": "sk-unknown-key-000"})).await.status, 404);

    // /key/list.
    let listed = master(&keys, "GET", "/key/list?team_id=t1", Value::Null).await;
    assert_eq!(listed, json!({"keys": [hash_key(&raw)], "total_count": 1, "current_page": 1, "total_pages": 1}));
    let full = master(&keys, "GET", "/key/list?return_full_object=true&size=2&page=1", Value::Null).await;
    assert_eq!((full["total_count"].as_u64(), full["total_pages"].as_u64()), (Some(3), Some(2)));
    assert_eq!(full["keys"].as_array().unwrap().len(), 2);
    assert!(full["keys"][0]["token"].is_string());
    assert_eq!(refused(&keys, "GET", "/key/list?size=0", Value::Null).await.param.as_deref(), Some("size"));

    // /key/regenerate in both spellings: the old key stops, the new one works with the same settings.
    let regenerated = master(&keys, "POST", "/key/regenerate", json!({"key": raw, "max_budget": 4.0})).await;
    let raw2 = regenerated["key"].as_str().unwrap().to_string();
    assert_ne!(raw2, raw);
    assert_eq!(regenerated["token"], hash_key(&raw2));
    assert!(keys.lookup(&raw).is_none());
    let p2 = keys.lookup(&raw2).unwrap();
    assert_eq!((p2.key.key_alias.as_deref(), p2.key.max_budget), (Some("k1b"), Some(4.0)));
    let again = master(&keys, "POST", &format!("/key/{raw2}/regenerate"), Value::Null).await;
    let raw3 = again["key"].as_str().unwrap().to_string();
    assert!(keys.lookup(&raw2).is_none() && keys.lookup(&raw3).is_some());
    assert_eq!(refused(&keys, "POST", "/key/regenerate", json!({"key": raw})).await.status, 404);

    // /team/update, /team/info, /team/list, members.
    let updated =
        master(&keys, "POST", "/team/update", json!({"team_id": "t1", "max_budget": 20.0, "tpm_limit": 5})).await;
    assert_eq!((updated["team_id"].as_str(), updated["data"]["max_budget"].as_f64()), (Some("t1"), Some(20.0)));
    assert_eq!(keys.lookup(&raw3).unwrap().team.as_ref().unwrap().tpm_limit, Some(5));
    assert_eq!(refused(&keys, "POST", "/team/update", json!({"team_id": "nope"})).await.status, 404);
    let info = master(&keys, "GET", "/team/info?team_id=t1", Value::Null).await;
    assert_eq!(info["team_info"]["team_alias"], "core");
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    assert_eq!(refused(&keys, "GET", "/team/info?team_id=nope", Value::Null).await.status, 404);
    let listed = master(&keys, "GET", "/team/list", Value::Null).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["team_id"], "t1");
    let added = master(
        &keys,
        "POST",
        "/team/member_add",
        json!({"team_id": "t1", "member": {"role": "user", "user_id": "carol"}}),
    )
    .await;
    assert_eq!(added["updated_users"][0]["user_id"], "carol");
    assert_eq!(added["updated_users"][0]["teams"], json!(["t1"]));
    assert!(added["members_with_roles"].as_array().unwrap().iter().any(|m| m["user_id"] == "carol"));
    let e = refused(
        &keys,
        "POST",
        "/team/member_add",
        json!({"team_id": "t1", "member": {"role": "user", "user_id": "carol"}}),
    )
    .await;
    assert_eq!((e.status, e.kind), (400, "team_member_already_in_team"));
    assert_eq!(
        refused(
            &keys,
            "POST",
            "/team/member_add",
            json!({"team_id": "nope", "member": {"role": "user", "user_id": "x"}})
        )
        .await
        .status,
        404
    );
    let listed = master(&keys, "GET", "/team/list?user_id=carol", Value::Null).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let removed = master(&keys, "POST", "/team/member_delete", json!({"team_id": "t1", "user_id": "carol"})).await;
    assert!(!removed["members_with_roles"].as_array().unwrap().iter().any(|m| m["user_id"] == "carol"));
    assert_eq!(
        refused(&keys, "POST", "/team/member_delete", json!({"team_id": "t1", "user_id": "carol"})).await.status,
        400
    );
    let carol = master(&keys, "GET", "/user/info?user_id=carol", Value::Null).await;
    assert_eq!(carol["user_info"]["teams"], json!([]));

    // /user/info, /user/update.
    let info = master(&keys, "GET", "/user/info?user_id=bob", Value::Null).await;
    assert_eq!(info["user_info"]["user_email"], "bob@example.com");
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    let updated = master(
        &keys,
        "POST",
        "/user/update",
        json!({"user_id": "bob", "max_budget": 9.0, "user_role": "internal_user"}),
    )
    .await;
    assert_eq!((updated["user_id"].as_str(), updated["data"]["max_budget"].as_f64()), (Some("bob"), Some(9.0)));
    assert_eq!(keys.lookup(&raw3).unwrap().user.as_ref().unwrap().max_budget, Some(9.0));
    assert_eq!(refused(&keys, "GET", "/user/info?user_id=nobody", Value::Null).await.status, 404);
    assert_eq!(
        refused(&keys, "POST", "/user/update", json!({"user_id": "bob", "user_role": "king"})).await.param.as_deref(),
        Some("user_role")
    );

    // Customers (and the /end_user aliases).
    let customer = master(
        &keys,
        "POST",
        "/customer/new",
        json!({"user_id": "end-1", "max_budget": 2.0, "budget_duration": "1h", "alias": "Acme"}),
    )
    .await;
    assert_eq!(customer["litellm_budget_table"]["max_budget"], 2.0);
    assert_eq!(customer["litellm_budget_table"]["budget_duration"], "1h");
    assert_eq!((customer["blocked"].as_bool(), customer["spend"].as_f64()), (Some(false), Some(0.0)));
    assert_eq!(
        refused(&keys, "POST", "/end_user/new", json!({"user_id": "end-1"})).await.param.as_deref(),
        Some("user_id")
    );
    let info = master(&keys, "GET", "/end_user/info?end_user_id=end-1", Value::Null).await;
    assert_eq!(info["alias"], "Acme");
    let e = refused(&keys, "GET", "/customer/info?end_user_id=end-2", Value::Null).await;
    assert_eq!((e.status, e.param.as_deref()), (404, Some("end_user_id")));
    assert_eq!(keys.customer("end-1").unwrap().max_budget, Some(2.0));

    // A key whose user is a proxy_admin may use the admin routes; a plain key may not.
    master(
        &keys,
        "POST",
        "/user/new",
        json!({"user_id": "root", "user_role": "proxy_admin", "auto_create_key": false}),
    )
    .await;
    let admin_key = master(&keys, "POST", "/key/generate", json!({"user_id": "root", "key_alias": "ops"})).await;
    let admin = keys.lookup(admin_key["key"].as_str().unwrap()).unwrap();
    let teams = call(&keys, "GET", "/team/list", Value::Null, Caller::Key(admin)).await.unwrap();
    assert_eq!(teams.as_array().unwrap().len(), 1);
    let e = call(&keys, "GET", "/team/list", Value::Null, Caller::Key(principal.clone())).await.unwrap_err();
    assert_eq!((e.status, e.kind), (401, "auth_error"));
    let deleted = master(&keys, "POST", "/key/delete", json!({"key_aliases": ["ops"]})).await;
    assert_eq!(deleted, json!({"deleted_keys": ["ops"]}));
    assert!(master(&keys, "GET", "/key/list?key_alias=ops", Value::Null).await["keys"].as_array().unwrap().is_empty());

    // Deletes.
    let deleted = master(&keys, "POST", "/key/delete", json!({"keys": ["sk-my-own-key-123"]})).await;
    assert_eq!(deleted, json!({"deleted_keys": ["sk-my-own-key-123"]}));
    assert!(keys.lookup("sk-my-own-key-123").is_none());
    assert_eq!(refused(&keys, "POST", "/key/delete", json!({"keys": ["sk-my-own-key-123"]})).await.status, 404);
    assert_eq!(refused(&keys, "POST", "/key/delete", json!({})).await.status, 400);
    let deleted = master(&keys, "POST", "/user/delete", json!({"user_ids": ["bob"]})).await;
    assert_eq!(deleted, json!(1));
    assert!(keys.lookup(&raw3).is_none(), "a deleted user's keys go with it");
    assert_eq!(refused(&keys, "GET", "/user/info?user_id=bob", Value::Null).await.status, 404);
    let deleted = master(&keys, "POST", "/team/delete", json!({"team_ids": ["t1"]})).await;
    assert_eq!(deleted, json!({"deleted_teams": ["t1"]}));
    assert_eq!(refused(&keys, "GET", "/team/info?team_id=t1", Value::Null).await.status, 404);
    assert_eq!(refused(&keys, "POST", "/team/delete", json!({"team_ids": ["t1"]})).await.status, 404);

    // Methods and shapes.
    assert_eq!(refused(&keys, "GET", "/key/generate", Value::Null).await.status, 405);
    let e = refused(&keys, "POST", "/key/generate", json!({"models": "gpt-4o"})).await;
    assert_eq!((e.status, e.param.as_deref()), (400, Some("models")));
}

#[tokio::test]
async fn sqlite_every_route_round_trips() {
    let (_dir, keys) = sqlite().await;
    every_route_round_trips(keys).await;
}

#[tokio::test]
async fn postgres_every_route_round_trips() {
    let Some(schema) = Schema::create().await else { return };
    let keys = Keys::open(Path::new("/nonexistent"), Some(&schema.url())).await.unwrap();
    every_route_round_trips(keys).await;
}

#[tokio::test]
async fn admin_calls_and_the_store_can_run_on_any_worker_thread() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let (_dir, keys) = sqlite().await;
    send_sync(&keys);
    let request = AdminRequest {
        method: "GET",
        path: "/key/list",
        query: None,
        body: b"",
        caller: Caller::Master,
        now_unix: NOW,
    };
    let answer = keys.admin(request);
    send(&answer);
    assert_eq!(answer.await.unwrap().status, 200);
    let flush = keys.flush_spend(NOW);
    send(&flush);
    flush.await.unwrap();
}

#[tokio::test]
async fn sqlite_records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let raw = {
        let keys = Keys::open(dir.path(), None).await.unwrap();
        let k = master(&keys, "POST", "/key/generate", json!({"key_alias": "persist"})).await;
        k["key"].as_str().unwrap().to_string()
    };
    assert!(dir.path().join("tollgate.db").exists());
    let keys = Keys::open(dir.path(), None).await.unwrap();
    assert_eq!(keys.lookup(&raw).unwrap().key.key_alias.as_deref(), Some("persist"));
}

/// Spend lands in the key, team, user and customer rows, and restarts at 0 in a new window.
async fn spend_lands_and_windows_reset(keys: Arc<Keys>) {
    master(&keys, "POST", "/team/new", json!({"team_id": "st", "budget_duration": "1h", "max_budget": 5.0})).await;
    master(&keys, "POST", "/user/new", json!({"user_id": "su", "auto_create_key": false})).await;
    master(&keys, "POST", "/customer/new", json!({"user_id": "sc", "max_budget": 1.0, "budget_duration": "1h"})).await;
    let k = master(&keys, "POST", "/key/generate", json!({"team_id": "st", "user_id": "su", "budget_duration": "1h"}))
        .await;
    let raw = k["key"].as_str().unwrap().to_string();
    let token = hash_key(&raw);

    keys.record_spend(&token, Some("st"), Some("su"), Some("sc"), 0.25);
    keys.record_spend(&token, Some("st"), Some("su"), Some("sc"), 0.5);
    keys.record_spend(&token, Some("st"), Some("su"), Some("unknown-end-user"), 0.125);
    keys.flush_spend(NOW + 10).await.unwrap();
    let info =
        call_at(&keys, "GET", &format!("/key/info?key={raw}"), Value::Null, Caller::Master, NOW + 10).await.unwrap();
    assert_eq!(info["info"]["spend"], 0.875);
    let team = master(&keys, "GET", "/team/info?team_id=st", Value::Null).await;
    assert_eq!(team["team_info"]["spend"], 0.875);
    let user = master(&keys, "GET", "/user/info?user_id=su", Value::Null).await;
    assert_eq!(user["user_info"]["spend"], 0.875);
    let customer = master(&keys, "GET", "/customer/info?end_user_id=sc", Value::Null).await;
    assert_eq!(customer["spend"], 0.75);
    assert!(keys.customer("unknown-end-user").is_none(), "no row is made for an unknown end user");

    // The cache picks the spend up on its next reload.
    keys.reload().await.unwrap();
    let p = keys.lookup(&raw).unwrap();
    assert_eq!(p.key.current_spend(NOW + 10), 0.875);
    assert_eq!(p.key.current_spend(NOW + 3_600), 0.0, "the next window starts at 0");
    assert_eq!(keys.customer("sc").unwrap().current_spend(NOW + 10), 0.75);

    // A delta in the next window replaces the old window's spend instead of adding to it.
    keys.record_spend(&token, Some("st"), Some("su"), Some("sc"), 0.0625);
    keys.flush_spend(NOW + 3_600 + 1).await.unwrap();
    let at = NOW + 3_601;
    let info = call_at(&keys, "GET", &format!("/key/info?key={raw}"), Value::Null, Caller::Master, at).await.unwrap();
    assert_eq!(info["info"]["spend"], 0.0625);
    assert_eq!(info["info"]["budget_reset_at"], iso8601(NOW + 7_200));
    let team = call_at(&keys, "GET", "/team/info?team_id=st", Value::Null, Caller::Master, at).await.unwrap();
    assert_eq!(team["team_info"]["spend"], 0.0625);
    // The user has no budget_duration: its spend keeps adding up.
    let user = call_at(&keys, "GET", "/user/info?user_id=su", Value::Null, Caller::Master, at).await.unwrap();
    assert_eq!(user["user_info"]["spend"], 0.9375);
    // Read two windows later, without any new spend: 0.
    let later = call_at(&keys, "GET", &format!("/key/info?key={raw}"), Value::Null, Caller::Master, NOW + 3 * 3_600)
        .await
        .unwrap();
    assert_eq!(later["info"]["spend"], 0.0);
}

#[tokio::test]
async fn sqlite_spend_lands_and_windows_reset() {
    let (_dir, keys) = sqlite().await;
    spend_lands_and_windows_reset(keys).await;
}

#[tokio::test]
async fn postgres_spend_lands_and_windows_reset() {
    let Some(schema) = Schema::create().await else { return };
    let keys = Keys::open(Path::new("/nonexistent"), Some(&schema.url())).await.unwrap();
    spend_lands_and_windows_reset(keys).await;
}

#[tokio::test]
async fn postgres_instances_see_each_others_changes_within_a_second() {
    let Some(schema) = Schema::create().await else { return };
    let a = Keys::open(Path::new("/nonexistent"), Some(&schema.url())).await.unwrap();
    let b = Keys::open(Path::new("/nonexistent"), Some(&schema.url())).await.unwrap();
    a.start();
    b.start();
    let k = master(&a, "POST", "/key/generate", json!({"key_alias": "shared"})).await;
    let raw = k["key"].as_str().unwrap().to_string();
    assert!(a.lookup(&raw).is_some(), "the writing instance reloads at once");
    assert!(wait_until(Duration::from_millis(1_500), || b.lookup(&raw).is_some()).await, "b never saw the new key");

    master(&a, "POST", "/key/block", json!({"key": raw})).await;
    assert!(
        wait_until(Duration::from_millis(1_500), || b.lookup(&raw).is_some_and(|p| p.key.blocked)).await,
        "b never saw the block"
    );
    master(&b, "POST", "/key/delete", json!({"keys": [raw]})).await;
    assert!(wait_until(Duration::from_millis(1_500), || a.lookup(&raw).is_none()).await, "a never saw the delete");
}

/// A loopback TCP forwarder to PostgreSQL that can be cut (every connection closed, the port shut)
/// and opened again on the same port.
struct Forwarder {
    port: u16,
    stop: watch::Sender<bool>,
}

impl Forwarder {
    async fn open(port: u16) -> Forwarder {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
        let listener = socket.listen(64).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            let mut until_stop = stopped.clone();
            loop {
                let accepted = tokio::select! {
                    _ = until_stop.changed() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else { return };
                let mut conn_stop = stopped.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", pg_port())).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = conn_stop.changed() => {}
                    }
                });
            }
        });
        Forwarder { port, stop }
    }

    fn cut(&self) {
        let _ = self.stop.send(true);
    }
}

#[tokio::test]
async fn postgres_down_keeps_cached_keys_and_recovers() {
    let Some(schema) = Schema::create().await else { return };
    let forwarder = Forwarder::open(0).await;
    let port = forwarder.port;
    let url = format!("host=127.0.0.1 port={port} user=postgres dbname=test options='-c search_path={}'", schema.name);
    let keys = Keys::open(Path::new("/nonexistent"), Some(&url)).await.unwrap();
    let k = master(&keys, "POST", "/key/generate", json!({"key_alias": "survivor"})).await;
    let raw = k["key"].as_str().unwrap().to_string();
    keys.start();
    assert!(keys.db_healthy());

    forwarder.cut();
    assert!(wait_until(Duration::from_secs(5), || !keys.db_healthy()).await, "db_healthy() stayed true");
    assert_eq!(keys.lookup(&raw).unwrap().key.key_alias.as_deref(), Some("survivor"), "a cached key keeps working");
    let e = refused(&keys, "POST", "/key/generate", json!({})).await;
    assert_eq!(e.status, 500);
    keys.record_spend(&hash_key(&raw), None, None, None, 0.5);
    // Whichever flush takes it (ours or the writer's), it fails and the spend is held.
    let _ = keys.flush_spend(NOW).await;
    assert!(!keys.db_healthy());

    // The database comes back on the same address: health returns and the held spend is written.
    let _back = Forwarder::open(port).await;
    assert!(wait_until(Duration::from_secs(5), || keys.db_healthy()).await, "db_healthy() never recovered");
    let start = Instant::now();
    let mut spend = Value::Null;
    while start.elapsed() < Duration::from_secs(5) {
        keys.flush_spend(NOW).await.unwrap();
        let info = master(&keys, "GET", &format!("/key/info?key={raw}"), Value::Null).await;
        spend = info["info"]["spend"].clone();
        if spend == json!(0.5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spend, json!(0.5), "the spend held while the database was down never landed");
}
