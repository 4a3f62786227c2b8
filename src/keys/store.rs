//! Where records live: one SQLite file (embedded default) or a PostgreSQL database shared by every
//! instance, behind one [`Store`] enum with the same tables and SQL on both.
//!
//! Each table is `(id, data, spend, spend_window)`: `data` is the record as JSON without its spend,
//! so an admin write never overwrites spend that the spend writer added meanwhile. The row
//! `tollgate_state.version` is bumped by every admin write (never by spend) and polled by every
//! instance to know when to reload its cache.
//!
//! SQLite runs inside `spawn_blocking` with a std `Mutex` held only in the blocking closure.
//! PostgreSQL keeps one connection behind an async mutex, opened again on the next call once it has
//! dropped, and bounds every call with [`CALL_TIMEOUT`].

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest a database call may take before it counts as failed (and a PostgreSQL connection is dropped).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a PostgreSQL connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A database failure, with the driver's message.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct StoreError(pub String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// The four record tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Virtual keys, by token hash.
    Keys,
    /// Teams, by team_id.
    Teams,
    /// Internal users, by user_id.
    Users,
    /// End users (customers), by user_id.
    Customers,
}

impl Table {
    /// Every table, in load order.
    pub const ALL: [Table; 4] = [Table::Keys, Table::Teams, Table::Users, Table::Customers];

    fn name(self) -> &'static str {
        match self {
            Table::Keys => "tollgate_keys",
            Table::Teams => "tollgate_teams",
            Table::Users => "tollgate_users",
            Table::Customers => "tollgate_customers",
        }
    }

    fn index(self) -> usize {
        match self {
            Table::Keys => 0,
            Table::Teams => 1,
            Table::Users => 2,
            Table::Customers => 3,
        }
    }
}

/// One stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Primary key (token hash or id).
    pub id: String,
    /// The record as JSON, spend excluded.
    pub data: String,
    /// Spend of the window `spend_window`.
    pub spend: f64,
    /// The budget window `spend` belongs to.
    pub spend_window: i64,
}

/// One change inside an admin write.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert the row, or replace its `data` (and its spend too when `set_spend`).
    Put { table: Table, row: Row, set_spend: bool },
    /// Delete a row by id.
    Delete { table: Table, id: String },
}

/// Spend to add to one row, counted in the window `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Which table.
    pub table: Table,
    /// Which row.
    pub id: String,
    /// USD.
    pub amount: f64,
    /// The budget window the spend happened in.
    pub window: i64,
}

/// Everything, as read by a reload.
#[derive(Debug, Default)]
pub struct Dump {
    /// The change counter read before the rows.
    pub version: i64,
    /// Rows per table, indexed like [`Table::ALL`].
    pub tables: [Vec<Row>; 4],
}

impl Dump {
    /// The rows of one table.
    pub fn rows(&self, table: Table) -> &[Row] {
        &self.tables[table.index()]
    }
}

const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS tollgate_state (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO tollgate_state (name, value) VALUES ('version', 0) ON CONFLICT (name) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS tollgate_keys (id TEXT PRIMARY KEY, data TEXT NOT NULL, \
     spend DOUBLE PRECISION NOT NULL DEFAULT 0, spend_window BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS tollgate_teams (id TEXT PRIMARY KEY, data TEXT NOT NULL, \
     spend DOUBLE PRECISION NOT NULL DEFAULT 0, spend_window BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS tollgate_users (id TEXT PRIMARY KEY, data TEXT NOT NULL, \
     spend DOUBLE PRECISION NOT NULL DEFAULT 0, spend_window BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS tollgate_customers (id TEXT PRIMARY KEY, data TEXT NOT NULL, \
     spend DOUBLE PRECISION NOT NULL DEFAULT 0, spend_window BIGINT NOT NULL DEFAULT 0)",
];

const SELECT_VERSION: &str = "SELECT value FROM tollgate_state WHERE name = 'version'";
const BUMP_VERSION: &str = "UPDATE tollgate_state SET value = value + 1 WHERE name = 'version'";

fn select_all(table: Table) -> String {
    format!("SELECT id, data, spend, spend_window FROM {} ORDER BY id", table.name())
}

fn select_one(table: Table) -> String {
    format!("SELECT id, data, spend, spend_window FROM {} WHERE id = $1", table.name())
}

fn upsert(table: Table, set_spend: bool) -> String {
    let spend = if set_spend { ", spend = excluded.spend, spend_window = excluded.spend_window" } else { "" };
    format!(
        "INSERT INTO {} (id, data, spend, spend_window) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET data = excluded.data{spend}",
        table.name()
    )
}

fn delete(table: Table) -> String {
    format!("DELETE FROM {} WHERE id = $1", table.name())
}

/// Spend of a newer window replaces the stored one; of the same window adds; of an older one (a late
/// delta after the window turned) is dropped, since a past window no longer counts.
fn add_spend(table: Table) -> String {
    format!(
        "UPDATE {} SET \
         spend = CASE WHEN spend_window < $2 THEN CAST($1 AS DOUBLE PRECISION) \
                      WHEN spend_window = $2 THEN spend + CAST($1 AS DOUBLE PRECISION) ELSE spend END, \
         spend_window = CASE WHEN spend_window < $2 THEN $2 ELSE spend_window END \
         WHERE id = $3",
        table.name()
    )
}

/// SQLite numbers its parameters `?1`, PostgreSQL `$1`: the SQL above is written once with `$`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

/// The records' database.
pub enum Store {
    /// One SQLite file, the embedded default.
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    /// A PostgreSQL database shared by every instance.
    Postgres(Box<Postgres>),
}

/// A PostgreSQL connection, opened again on the next call once it has dropped.
pub struct Postgres {
    config: tokio_postgres::Config,
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl Store {
    /// Opens (creating the file and the tables) `<state_dir>/tollgate.db` in WAL mode.
    pub async fn open_sqlite(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join("tollgate.db");
        let dir = state_dir.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> Result<rusqlite::Connection, StoreError> {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError(format!("{}: {e}", dir.display())))?;
            let conn = rusqlite::Connection::open(&path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
            conn.busy_timeout(CALL_TIMEOUT)?;
            let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                log::warn!("keys database {} runs in journal mode {mode}, not WAL", path.display());
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            for sql in SCHEMA {
                conn.execute(sql, [])?;
            }
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError(e.to_string()))??;
        Ok(Store::Sqlite(Arc::new(Mutex::new(conn))))
    }

    /// Connects to PostgreSQL at `url` (NoTls) and creates the tables.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError(format!("database_url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let pg = Postgres { config, client: tokio::sync::Mutex::new(None) };
        let mut guard = pg.client.lock().await;
        let client = pg.connected(&mut guard).await?;
        let tx = client.transaction().await?;
        // Two instances starting at once would race on CREATE TABLE IF NOT EXISTS; one lock orders them.
        tx.execute("SELECT pg_advisory_xact_lock(7461746)", &[]).await?;
        for sql in SCHEMA {
            tx.execute(sql, &[]).await?;
        }
        tx.commit().await?;
        drop(guard);
        Ok(Store::Postgres(Box::new(pg)))
    }

    /// The change counter.
    pub async fn version(&self) -> Result<i64, StoreError> {
        match self.call(Call::Version).await? {
            Done::Version(v) => Ok(v),
            _ => Err(StoreError("unexpected answer".into())),
        }
    }

    /// The change counter, then every row of every table.
    pub async fn dump(&self) -> Result<Dump, StoreError> {
        match self.call(Call::Dump).await? {
            Done::Dump(d) => Ok(d),
            _ => Err(StoreError("unexpected answer".into())),
        }
    }

    /// One row by id.
    pub async fn get(&self, table: Table, id: &str) -> Result<Option<Row>, StoreError> {
        match self.call(Call::Get(table, id.to_string())).await? {
            Done::Row(r) => Ok(r),
            _ => Err(StoreError("unexpected answer".into())),
        }
    }

    /// Every row of one table.
    pub async fn list(&self, table: Table) -> Result<Vec<Row>, StoreError> {
        match self.call(Call::List(table)).await? {
            Done::Rows(r) => Ok(r),
            _ => Err(StoreError("unexpected answer".into())),
        }
    }

    /// Applies the changes in one transaction and bumps the change counter; returns how many rows
    /// the deletes removed.
    pub async fn write(&self, writes: Vec<Write>) -> Result<u64, StoreError> {
        match self.call(Call::Write(writes)).await? {
            Done::Count(n) => Ok(n),
            _ => Err(StoreError("unexpected answer".into())),
        }
    }

    /// Adds spend deltas in one transaction (the change counter is left alone).
    pub async fn add_spend(&self, deltas: Vec<Delta>) -> Result<(), StoreError> {
        match self.call(Call::AddSpend(deltas)).await? {
            Done::Count(_) => Ok(()),
            _ => Err(StoreError("unexpected answer".into())),
        }
    }

    async fn call(&self, call: Call) -> Result<Done, StoreError> {
        match self {
            Store::Sqlite(conn) => {
                let conn = Arc::clone(conn);
                let job = tokio::task::spawn_blocking(move || {
                    let mut guard = conn.lock().map_err(|_| StoreError("sqlite connection poisoned".into()))?;
                    run_sqlite(&mut guard, call)
                });
                match tokio::time::timeout(CALL_TIMEOUT * 2, job).await {
                    Ok(Ok(done)) => done,
                    Ok(Err(e)) => Err(StoreError(e.to_string())),
                    Err(_) => Err(StoreError("sqlite call timed out".into())),
                }
            }
            Store::Postgres(pg) => pg.call(call).await,
        }
    }
}

impl Postgres {
    async fn connected<'g>(
        &self,
        guard: &'g mut Option<tokio_postgres::Client>,
    ) -> Result<&'g mut tokio_postgres::Client, StoreError> {
        if guard.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
            *guard = None;
            let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    log::debug!("keys database connection ended: {e}");
                }
            });
            *guard = Some(client);
        }
        guard.as_mut().ok_or_else(|| StoreError("not connected".into()))
    }

    async fn call(&self, call: Call) -> Result<Done, StoreError> {
        let mut guard = self.client.lock().await;
        let outcome = tokio::time::timeout(CALL_TIMEOUT, async {
            let client = self.connected(&mut guard).await?;
            run_postgres(client, call).await
        })
        .await;
        match outcome {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => {
                if guard.as_ref().is_some_and(tokio_postgres::Client::is_closed) {
                    *guard = None;
                }
                Err(e)
            }
            Err(_) => {
                // The connection may be stuck mid-answer: never reuse it.
                *guard = None;
                Err(StoreError("postgres call timed out".into()))
            }
        }
    }
}

/// One database call, the same for both backends.
enum Call {
    Version,
    Dump,
    Get(Table, String),
    List(Table),
    Write(Vec<Write>),
    AddSpend(Vec<Delta>),
}

/// What a [`Call`] answers.
enum Done {
    Version(i64),
    Dump(Dump),
    Row(Option<Row>),
    Rows(Vec<Row>),
    Count(u64),
}

fn sqlite_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row { id: row.get(0)?, data: row.get(1)?, spend: row.get(2)?, spend_window: row.get(3)? })
}

fn sqlite_rows(conn: &rusqlite::Connection, table: Table) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(&select_all(table)))?;
    let rows = stmt.query_map([], sqlite_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn run_sqlite(conn: &mut rusqlite::Connection, call: Call) -> Result<Done, StoreError> {
    use rusqlite::params;
    match call {
        Call::Version => Ok(Done::Version(conn.query_row(SELECT_VERSION, [], |r| r.get(0))?)),
        Call::Dump => {
            let tx = conn.transaction()?;
            let version = tx.query_row(SELECT_VERSION, [], |r| r.get(0))?;
            let mut dump = Dump { version, ..Dump::default() };
            for table in Table::ALL {
                dump.tables[table.index()] = sqlite_rows(&tx, table)?;
            }
            tx.commit()?;
            Ok(Done::Dump(dump))
        }
        Call::Get(table, id) => {
            let mut stmt = conn.prepare_cached(&sqlite_sql(&select_one(table)))?;
            let mut rows = stmt.query_map(params![id], sqlite_row)?;
            Ok(Done::Row(rows.next().transpose()?))
        }
        Call::List(table) => Ok(Done::Rows(sqlite_rows(conn, table)?)),
        Call::Write(writes) => {
            let tx = conn.transaction()?;
            let mut deleted = 0u64;
            for write in &writes {
                match write {
                    Write::Put { table, row, set_spend } => {
                        tx.execute(
                            &sqlite_sql(&upsert(*table, *set_spend)),
                            params![row.id, row.data, row.spend, row.spend_window],
                        )?;
                    }
                    Write::Delete { table, id } => {
                        deleted += tx.execute(&sqlite_sql(&delete(*table)), params![id])? as u64;
                    }
                }
            }
            tx.execute(BUMP_VERSION, [])?;
            tx.commit()?;
            Ok(Done::Count(deleted))
        }
        Call::AddSpend(deltas) => {
            let tx = conn.transaction()?;
            for d in &deltas {
                tx.execute(&sqlite_sql(&add_spend(d.table)), params![d.amount, d.window, d.id])?;
            }
            tx.commit()?;
            Ok(Done::Count(0))
        }
    }
}

fn pg_row(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    Ok(Row { id: row.try_get(0)?, data: row.try_get(1)?, spend: row.try_get(2)?, spend_window: row.try_get(3)? })
}

async fn pg_rows(client: &impl tokio_postgres::GenericClient, table: Table) -> Result<Vec<Row>, StoreError> {
    client.query(&select_all(table), &[]).await?.iter().map(pg_row).collect()
}

async fn run_postgres(client: &mut tokio_postgres::Client, call: Call) -> Result<Done, StoreError> {
    match call {
        Call::Version => Ok(Done::Version(client.query_one(SELECT_VERSION, &[]).await?.try_get(0)?)),
        Call::Dump => {
            // One snapshot for the counter and all rows.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let version = tx.query_one(SELECT_VERSION, &[]).await?.try_get(0)?;
            let mut dump = Dump { version, ..Dump::default() };
            for table in Table::ALL {
                dump.tables[table.index()] = pg_rows(&tx, table).await?;
            }
            tx.commit().await?;
            Ok(Done::Dump(dump))
        }
        Call::Get(table, id) => {
            let row = client.query_opt(&select_one(table), &[&id]).await?;
            Ok(Done::Row(row.as_ref().map(pg_row).transpose()?))
        }
        Call::List(table) => Ok(Done::Rows(pg_rows(client, table).await?)),
        Call::Write(writes) => {
            let tx = client.transaction().await?;
            let mut deleted = 0u64;
            for write in &writes {
                match write {
                    Write::Put { table, row, set_spend } => {
                        tx.execute(&upsert(*table, *set_spend), &[&row.id, &row.data, &row.spend, &row.spend_window])
                            .await?;
                    }
                    Write::Delete { table, id } => {
                        deleted += tx.execute(&delete(*table), &[id]).await?;
                    }
                }
            }
            tx.execute(BUMP_VERSION, &[]).await?;
            tx.commit().await?;
            Ok(Done::Count(deleted))
        }
        Call::AddSpend(deltas) => {
            let tx = client.transaction().await?;
            for d in &deltas {
                tx.execute(&add_spend(d.table), &[&d.amount, &d.window, &d.id]).await?;
            }
            tx.commit().await?;
            Ok(Done::Count(0))
        }
    }
}
