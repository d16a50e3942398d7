//! The embedded journal: SQLite in WAL mode with ONE writer thread.
//!
//! Every [`Store::commit`] sends its writes over a crossbeam channel to the
//! writer thread. The writer takes everything queued (up to `max_batch`
//! commits), applies it in one transaction, commits it with one fsync
//! (`synchronous = FULL`), then wakes every waiter. Under load many trades
//! share one fsync (group commit); alone, a commit costs one fsync.
//!
//! Reads use a separate connection (WAL readers never block the writer).
//! The event table is append-only (triggers refuse UPDATE and DELETE).
//!
//! Checkpoints (copying the WAL back into the database file, with its own
//! fsync) run on a third connection, the checkpointer thread, every
//! [`CHECKPOINT_EVERY`]: a commit never waits for one. SQLite's own
//! checkpoint in the writer stays as the backstop, at
//! [`WAL_BACKSTOP_FRAMES`], for when the checkpointer cannot keep up.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{
    BookLine, Bounded, Commit, Event, Incident, MerchantRecord, ReconRunRecord, RegistryRecords,
    RegistryStatus, Relay, StatusCounts, Store, StoreError, StoreRecord, TerminalRecord, WorkQueue,
    Write, UNDECIDED,
};
use crate::config::{StoreConfig, SyncMode};
use crate::metrics::Metrics;
use crate::trade::{Refund, RefundStatus, Status, Trade};

enum Job {
    Commit {
        writes: Vec<Write>,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Sets the connection's `max_page_count` (0: no cap); answers the cap in force.
    PageCap {
        pages: u64,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// How much of the journal file each connection maps. Mapped pages count in
/// the process's resident memory, so the map is kept small: with 1 GiB the
/// switch's RSS grew with the journal (675 MiB of file pages after 180,000
/// trades); past the map, pages are read through the kernel's page cache,
/// which holds the same data without charging it to the process. Both
/// connections map it (the pages count twice), so 8 MiB each.
const MMAP_BYTES: i64 = 8 << 20;

/// How often the checkpointer copies committed WAL frames back into the
/// database file. Inline in the writer (SQLite's default), a checkpoint of a
/// 16 MiB WAL held every commit queued behind it for its writes and fsync:
/// the terminal's p99 carried it.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The WAL length, in frames (2 KiB pages), at which the writer checkpoints
/// inline: only when the checkpointer falls behind (a WAL that readers or a
/// busy disk keep from being reset), so that the WAL stays bounded (about
/// 64 MiB).
pub const WAL_BACKSTOP_FRAMES: i64 = 32_768;

/// The SQLite journal: one writer thread (group commit), one read
/// connection. [`Store::close`] drains the writer's queue and waits for it.
pub struct SqliteStore {
    tx: RwLock<Option<Sender<Job>>>,
    reader: Mutex<Connection>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Dropping the sender stops the checkpointer; then it is joined.
    checkpointer: Mutex<Option<(Sender<()>, std::thread::JoinHandle<()>)>>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS trades (
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, out_trade_no)
) WITHOUT ROWID;
DROP INDEX IF EXISTS trades_open;
CREATE INDEX IF NOT EXISTS trades_unfinished ON trades(status, phase)
    WHERE status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY') OR phase IN ('cancel_pending', 'watching');
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_trade ON incidents(out_trade_no, id);
CREATE TRIGGER IF NOT EXISTS incidents_no_update BEFORE UPDATE ON incidents
    BEGIN SELECT RAISE(ABORT, 'incidents are append-only'); END;
CREATE TRIGGER IF NOT EXISTS incidents_no_delete BEFORE DELETE ON incidents
    BEGIN SELECT RAISE(ABORT, 'incidents are append-only'); END;
CREATE TABLE IF NOT EXISTS relays (
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, out_trade_no)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refunds (
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    out_request_no TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, out_trade_no, out_request_no)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_trade ON events(app_id, out_trade_no, id);
CREATE TABLE IF NOT EXISTS merchants (
    external_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    service_phone TEXT NOT NULL,
    category_id TEXT NOT NULL,
    source TEXT,
    smid TEXT UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    gateway_fee_bps INTEGER NOT NULL,
    merchant_fee_bps INTEGER NOT NULL,
    relay_url TEXT,
    contact_info TEXT NOT NULL,
    address_info TEXT NOT NULL,
    bankcard_info TEXT NOT NULL,
    service_codes TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stores (
    external_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (external_id, store_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS terminals (
    key_id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    equipment_type TEXT,
    rate_per_sec REAL NOT NULL,
    burst REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    secret_sealed TEXT NOT NULL,
    previous_sealed TEXT,
    previous_until_ms INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS terminals_merchant ON terminals(external_id);
CREATE TABLE IF NOT EXISTS recon_runs (
    id INTEGER PRIMARY KEY,
    bill_date TEXT NOT NULL,
    run INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    exit_code INTEGER NOT NULL,
    open INTEGER NOT NULL,
    report TEXT NOT NULL,
    UNIQUE (bill_date, run)
);
CREATE TRIGGER IF NOT EXISTS recon_runs_no_update BEFORE UPDATE ON recon_runs
    BEGIN SELECT RAISE(ABORT, 'reconciliation runs are append-only'); END;
CREATE TRIGGER IF NOT EXISTS recon_runs_no_delete BEFORE DELETE ON recon_runs
    BEGIN SELECT RAISE(ABORT, 'reconciliation runs are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"#;

fn phase_str(t: &Trade) -> String {
    serde_json::to_value(t.phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The gateway day a trade is on the bill, for the `paid_day` index: set
/// while the trade is SUCCESS (refunded or not), NULL otherwise.
fn version(t: &Trade) -> Result<i64, StoreError> {
    i64::try_from(t.version)
        .map_err(|_| StoreError::Corrupt(format!("trade version {} is out of range", t.version)))
}

fn paid_day(t: &Trade) -> Option<String> {
    (t.status == Status::Success).then(|| t.book_day())
}

/// The indexes of the console's trade search ([`Store::search_trades`]):
/// the gateway's out_trade_no alone (the key leads with app_id), the
/// terminal's out_trade_no and the trade_no, the creation time, the status
/// with the creation time (a rare status is not found by reading the newest
/// trades until enough match), and the terminal with the creation time.
///
/// They are over plain columns that every write fills from the trade
/// (`created_ms`, `terminal`, `terminal_no`, `trade_no`), not over
/// expressions on the row's document: an expression index parses the JSON
/// document for each index on every write, old row and new (108,000
/// instructions a pay, the pay_cpu bench under callgrind, docs/PERFORMANCE.md);
/// a column index is only touched when its column changes. The first
/// version of these indexes was over expressions
/// ([`EXPRESSION_INDEXES`], dropped at open).
const SEARCH_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS trades_gw_no ON trades(out_trade_no);
CREATE INDEX IF NOT EXISTS trades_by_trade_no ON trades(trade_no) WHERE trade_no IS NOT NULL;
CREATE INDEX IF NOT EXISTS trades_by_terminal_no ON trades(terminal_no) WHERE terminal_no IS NOT NULL;
CREATE INDEX IF NOT EXISTS trades_by_created ON trades(created_ms);
CREATE INDEX IF NOT EXISTS trades_by_status_created ON trades(status, created_ms);
CREATE INDEX IF NOT EXISTS trades_by_terminal_created ON trades(terminal, created_ms);
";

/// The expression indexes an earlier version kept for the search (dropped).
const EXPRESSION_INDEXES: &str = "
DROP INDEX IF EXISTS trades_trade_no;
DROP INDEX IF EXISTS trades_terminal_no;
DROP INDEX IF EXISTS trades_created;
DROP INDEX IF EXISTS trades_status_created;
DROP INDEX IF EXISTS trades_terminal_created;
";

/// The console's trade search over the SQLite journal: the SQL and its
/// arguments. A text search is answered by the three number indexes (an
/// OR of indexed terms; sorted after, it finds a handful of rows);
/// otherwise rows are read newest first along the creation index (or the
/// terminal's), filtered, up to the limit.
fn search_sql(q: &super::TradeQuery) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut sql = String::from("SELECT doc FROM trades WHERE 1 = 1");
    let mut args: Vec<V> = Vec::new();
    let arg = |v: V, args: &mut Vec<V>| {
        args.push(v);
        args.len()
    };
    if let Some(t) = &q.text {
        let i = arg(V::Text(t.clone()), &mut args);
        sql += &format!(" AND (out_trade_no = ?{i} OR terminal_no = ?{i} OR trade_no = ?{i})");
    }
    if let Some(ts) = &q.terminals {
        let list = serde_json::to_string(ts).unwrap_or_else(|_| "[]".into());
        let i = arg(V::Text(list), &mut args);
        sql += &format!(" AND terminal IN (SELECT value FROM json_each(?{i}))");
    }
    if let Some(st) = &q.status {
        let i = arg(V::Text(st.clone()), &mut args);
        sql += &format!(" AND status = ?{i}");
    }
    if let Some(f) = q.created_from_ms {
        let i = arg(V::Integer(f), &mut args);
        sql += &format!(" AND created_ms >= ?{i}");
    }
    if let Some(t) = q.created_to_ms {
        let i = arg(V::Integer(t), &mut args);
        sql += &format!(" AND created_ms < ?{i}");
    }
    if let Some(a) = q.amount {
        let i = arg(V::Text(a.to_string()), &mut args);
        sql += &format!(" AND json_extract(doc, '$.total_amount') = ?{i}");
    }
    if q.text.is_none() {
        sql += " ORDER BY created_ms DESC";
    }
    let i = arg(
        V::Integer(i64::try_from(q.capped_limit()).unwrap_or(500)),
        &mut args,
    );
    sql += &format!(" LIMIT ?{i}");
    (sql, args)
}

/// Brings a journal written by an earlier version up to this one's columns
/// and indexes (additive only: a column added with its back-fill).
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has = |table: &str, col: &str| -> Result<bool, StoreError> {
        let n: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            params![col],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    };
    if !has("trades", "paid_day")? {
        conn.execute_batch(
            "ALTER TABLE trades ADD COLUMN paid_day TEXT;
             UPDATE trades SET paid_day = COALESCE(substr(json_extract(doc, '$.gmt_payment'), 1, 10),
                 date(updated_ms / 1000, 'unixepoch', '+8 hours')) WHERE status = 'SUCCESS';",
        )?;
    }
    if !has("refunds", "done_day")? {
        conn.execute_batch(
            "ALTER TABLE refunds ADD COLUMN done_day TEXT;
             UPDATE refunds SET done_day = COALESCE(substr(json_extract(doc, '$.gmt_refund_pay'), 1, 10),
                 date(json_extract(doc, '$.updated_ms') / 1000, 'unixepoch', '+8 hours')) WHERE status = 'SUCCESS';",
        )?;
    }
    if !has("trades", "version")? {
        conn.execute_batch("ALTER TABLE trades ADD COLUMN version INTEGER NOT NULL DEFAULT 0;")?;
    }
    if !has("trades", "created_ms")? {
        // The search's columns, filled from the documents (they were
        // expression indexes over the documents before).
        conn.execute_batch(
            "ALTER TABLE trades ADD COLUMN created_ms INTEGER;
             ALTER TABLE trades ADD COLUMN terminal TEXT;
             ALTER TABLE trades ADD COLUMN terminal_no TEXT;
             ALTER TABLE trades ADD COLUMN trade_no TEXT;
             UPDATE trades SET created_ms = json_extract(doc, '$.created_ms'),
                 terminal = json_extract(doc, '$.terminal'),
                 terminal_no = json_extract(doc, '$.terminal_no'),
                 trade_no = json_extract(doc, '$.trade_no');",
        )?;
    }
    conn.execute_batch(EXPRESSION_INDEXES)?;
    conn.execute_batch(SEARCH_INDEXES)?;
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS trades_paid_day ON trades(app_id, paid_day) WHERE paid_day IS NOT NULL;
         CREATE INDEX IF NOT EXISTS refunds_done_day ON refunds(app_id, done_day) WHERE done_day IS NOT NULL;",
    )?;
    Ok(())
}

/// An incident from a row whose first five columns are `app_id`,
/// `out_trade_no`, `at_ms`, `kind`, `detail`.
fn incident_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        app_id: r.get(0)?,
        out_trade_no: r.get(1)?,
        at_ms: r.get(2)?,
        kind: r.get(3)?,
        detail: r.get(4)?,
    })
}

fn apply(tx: &Connection, w: &Write) -> Result<(), StoreError> {
    match w {
        Write::NewTrade(t) => {
            let doc = serde_json::to_string(t).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let n = tx
                .prepare_cached(
                    "INSERT INTO trades (app_id, out_trade_no, status, phase, updated_ms, doc, paid_day, version,
                     created_ms, terminal, terminal_no, trade_no)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT(app_id, out_trade_no) DO NOTHING",
                )?
                .execute(params![
                    t.app_id,
                    t.out_trade_no,
                    t.status.as_str(),
                    phase_str(t),
                    t.updated_ms,
                    doc,
                    paid_day(t),
                    version(t)?,
                    t.created_ms,
                    t.terminal,
                    t.terminal_no,
                    t.trade_no
                ])?;
            if n == 0 {
                return Err(StoreError::Exists);
            }
        }
        Write::Trade(t) => {
            let doc = serde_json::to_string(t).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.prepare_cached(
                "INSERT INTO trades (app_id, out_trade_no, status, phase, updated_ms, doc, paid_day, version,
                 created_ms, terminal, terminal_no, trade_no)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(app_id, out_trade_no) DO UPDATE SET status = excluded.status, phase = excluded.phase,
                 updated_ms = excluded.updated_ms, doc = excluded.doc, paid_day = excluded.paid_day,
                 version = excluded.version, created_ms = excluded.created_ms, terminal = excluded.terminal,
                 terminal_no = excluded.terminal_no, trade_no = excluded.trade_no",
            )?
            .execute(params![
                t.app_id,
                t.out_trade_no,
                t.status.as_str(),
                phase_str(t),
                t.updated_ms,
                doc,
                paid_day(t),
                version(t)?,
                t.created_ms,
                t.terminal,
                t.terminal_no,
                t.trade_no
            ])?;
        }
        Write::TradeNext(t) => {
            let doc = serde_json::to_string(t).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let n = tx
                .prepare_cached(
                    "UPDATE trades SET status = ?3, phase = ?4, updated_ms = ?5, doc = ?6, paid_day = ?7,
                     version = ?8, trade_no = ?9 WHERE app_id = ?1 AND out_trade_no = ?2 AND version = ?8 - 1",
                )?
                .execute(params![
                    t.app_id,
                    t.out_trade_no,
                    t.status.as_str(),
                    phase_str(t),
                    t.updated_ms,
                    doc,
                    paid_day(t),
                    version(t)?,
                    t.trade_no
                ])?;
            if n == 0 {
                return Err(StoreError::Stale {
                    expected: t.version.saturating_sub(1),
                });
            }
        }
        Write::Refund(r) => {
            let doc = serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.prepare_cached(
                "INSERT INTO refunds (app_id, out_trade_no, out_request_no, status, doc, done_day)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(app_id, out_trade_no, out_request_no) DO UPDATE SET status = excluded.status,
                 doc = excluded.doc, done_day = excluded.done_day",
            )?
            .execute(params![
                r.app_id,
                r.out_trade_no,
                r.out_request_no,
                r.status.as_str(),
                doc,
                (r.status == RefundStatus::Success).then(|| r.book_day())
            ])?;
        }
        Write::Event(e) => {
            tx.prepare_cached(
                "INSERT INTO events (app_id, out_trade_no, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![e.app_id, e.out_trade_no, e.at_ms, e.kind, e.detail])?;
        }
        Write::Incident(i) => {
            tx.prepare_cached(
                "INSERT INTO incidents (app_id, out_trade_no, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![i.app_id, i.out_trade_no, i.at_ms, i.kind, i.detail])?;
            tx.prepare_cached(
                "INSERT INTO events (app_id, out_trade_no, at_ms, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                i.app_id,
                i.out_trade_no,
                i.at_ms,
                format!("incident_{}", i.kind),
                i.detail
            ])?;
        }
        Write::Relay(r) => {
            let doc = serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.prepare_cached(
                "INSERT INTO relays (app_id, out_trade_no, status, doc) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(app_id, out_trade_no) DO UPDATE SET status = excluded.status, doc = excluded.doc",
            )?
            .execute(params![r.app_id, r.out_trade_no, r.status.as_str(), doc])?;
        }
        Write::Merchant(m) => {
            let j = |v: &serde_json::Value| v.to_string();
            tx.prepare_cached(
                "INSERT INTO merchants (external_id, name, alias_name, service_phone, category_id, source, smid,
                 status, gateway_fee_bps, merchant_fee_bps, relay_url, contact_info, address_info, bankcard_info,
                 service_codes, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                 ON CONFLICT(external_id) DO UPDATE SET name = excluded.name, alias_name = excluded.alias_name,
                 service_phone = excluded.service_phone, category_id = excluded.category_id, source = excluded.source,
                 smid = excluded.smid, status = excluded.status, gateway_fee_bps = excluded.gateway_fee_bps,
                 merchant_fee_bps = excluded.merchant_fee_bps, relay_url = excluded.relay_url,
                 contact_info = excluded.contact_info, address_info = excluded.address_info,
                 bankcard_info = excluded.bankcard_info, service_codes = excluded.service_codes,
                 updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                m.external_id,
                m.name,
                m.alias_name,
                m.service_phone,
                m.category_id,
                m.source,
                m.smid,
                m.status.as_str(),
                m.gateway_fee_bps,
                m.merchant_fee_bps,
                m.relay_url,
                j(&m.contact_info),
                j(&m.address_info),
                j(&m.bankcard_info),
                j(&m.service_codes),
                m.created_ms,
                m.updated_ms
            ])?;
        }
        Write::MerchantStore(st) => {
            tx.prepare_cached(
                "INSERT INTO stores (external_id, store_id, name, address, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(external_id, store_id) DO UPDATE SET name = excluded.name, address = excluded.address",
            )?
            .execute(params![
                st.external_id,
                st.store_id,
                st.name,
                st.address,
                st.created_ms
            ])?;
        }
        Write::ReconRun(r) => {
            tx.prepare_cached(
                "INSERT INTO recon_runs (bill_date, run, at_ms, exit_code, open, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![r.bill_date, r.run, r.at_ms, r.exit_code, r.open, r.report])?;
        }
        Write::Terminal(t) => {
            tx.prepare_cached(
                "INSERT INTO terminals (key_id, external_id, store_id, terminal_id, equipment_type, rate_per_sec,
                 burst, status, secret_sealed, previous_sealed, previous_until_ms, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(key_id) DO UPDATE SET external_id = excluded.external_id, store_id = excluded.store_id,
                 terminal_id = excluded.terminal_id, equipment_type = excluded.equipment_type,
                 rate_per_sec = excluded.rate_per_sec, burst = excluded.burst, status = excluded.status,
                 secret_sealed = excluded.secret_sealed, previous_sealed = excluded.previous_sealed,
                 previous_until_ms = excluded.previous_until_ms, updated_ms = excluded.updated_ms",
            )?
            .execute(params![
                t.key_id,
                t.external_id,
                t.store_id,
                t.terminal_id,
                t.equipment_type,
                t.rate_per_sec,
                t.burst,
                t.status.as_str(),
                t.secret_sealed,
                t.previous_sealed,
                t.previous_until_ms,
                t.created_ms,
                t.updated_ms
            ])?;
        }
    }
    Ok(())
}

/// Applies the jobs in one transaction, one savepoint each; returns each
/// job's outcome: a job that met an existing trade ([`StoreError::Exists`])
/// or another version of one ([`StoreError::Stale`]) applied nothing, the
/// others stand. Any other error fails the whole batch.
fn commit_jobs(
    conn: &mut Connection,
    jobs: &[Pending],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut tx = conn.transaction()?;
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let sp = tx.savepoint()?;
        let mut r = Ok(());
        for w in &j.writes {
            match apply(&sp, w) {
                Ok(()) => {}
                Err(e @ (StoreError::Exists | StoreError::Stale { .. })) => {
                    r = Err(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if r.is_ok() {
            sp.commit()?;
        }
        // A savepoint dropped uncommitted rolls back to where it began.
        out.push(r);
    }
    tx.commit()?;
    Ok(out)
}

/// A commit waiting in the writer's batch.
struct Pending {
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

fn set_page_cap(conn: &Connection, pages: u64) -> Result<u64, StoreError> {
    // SQLite takes 0 as "no change"; the largest value is its own maximum.
    let want = if pages == 0 { 4_294_967_294 } else { pages };
    let now: i64 = conn.query_row(&format!("PRAGMA max_page_count = {want}"), [], |r| r.get(0))?;
    Ok(u64::try_from(now).unwrap_or(0))
}

fn writer_loop(mut conn: Connection, rx: Receiver<Job>, max_batch: usize, metrics: Arc<Metrics>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Commit { writes, done } => jobs.push(Pending { writes, done }),
                Job::PageCap { pages, done } => {
                    let _ = done.send(set_page_cap(&conn, pages));
                }
            }
            if jobs.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let t0 = Instant::now();
        let res = commit_jobs(&mut conn, &jobs);
        match res {
            Ok(results) => {
                metrics.journal_batch(jobs.len(), t0.elapsed());
                for (j, r) in jobs.into_iter().zip(results) {
                    let _ = j.done.send(r);
                }
            }
            Err(e) => {
                // Isolate the faulty commit: retry each one on its own.
                tracing::error!(error = %e, "journal batch failed; retrying its commits one by one");
                for j in jobs {
                    let r = commit_jobs(&mut conn, std::slice::from_ref(&j))
                        .and_then(|mut x| x.pop().unwrap_or(Ok(())));
                    let _ = j.done.send(r);
                }
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
}

/// The checkpointer: a PASSIVE checkpoint (it never waits for, nor blocks,
/// the writer or a reader) every [`CHECKPOINT_EVERY`] until `stop` is
/// dropped. A checkpoint that has nothing to copy costs a few reads.
fn checkpointer_loop(conn: Connection, stop: Receiver<()>) {
    use crossbeam_channel::RecvTimeoutError;
    let mut failing = false;
    loop {
        match stop.recv_timeout(CHECKPOINT_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => failing = false,
            Err(e) => {
                // Once per failing streak: the writer's backstop checkpoint
                // still bounds the WAL meanwhile.
                if !failing {
                    tracing::warn!(error = %e, "journal checkpoint failed; the writer's own checkpoint bounds the WAL meanwhile");
                }
                failing = true;
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the journal at `cfg.path`, migrates it and
    /// starts its writer thread.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the folder cannot be created, the file cannot
    /// be opened or migrated, or the writer thread cannot start.
    pub fn open(cfg: &StoreConfig, metrics: Arc<Metrics>) -> Result<Arc<SqliteStore>, StoreError> {
        Self::open_capped(
            &cfg.path,
            cfg.synchronous,
            cfg.max_batch,
            cfg.max_pages,
            metrics,
        )
    }

    /// Caps the journal at `pages` pages (0: no cap), as `[store] max_pages`
    /// does at start: past the cap every commit fails with SQLITE_FULL
    /// ("database or disk is full"), exactly as a full disk does. Returns
    /// the cap in force. Operators use it to bound the journal; the tests use
    /// it to make the journal fail for real and recover.
    ///
    /// # Errors
    /// [`StoreError::Busy`] when the writer's queue is full,
    /// [`StoreError::Closed`] when the journal is closed,
    /// [`StoreError::Db`] when SQLite refuses the pragma.
    pub async fn set_max_pages(&self, pages: u64) -> Result<u64, StoreError> {
        let (done, rx) = oneshot::channel();
        self.send(Job::PageCap { pages, done })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let guard = self.tx.read();
        let tx = guard.as_ref().ok_or(StoreError::Closed)?;
        tx.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => StoreError::Busy,
            crossbeam_channel::TrySendError::Disconnected(_) => StoreError::Closed,
        })
    }

    /// As [`SqliteStore::open`] with explicit settings.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_path(
        path: &Path,
        sync: SyncMode,
        max_batch: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        Self::open_capped(path, sync, max_batch, None, metrics)
    }

    /// As [`SqliteStore::open_path`], with a cap on the journal's pages.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_capped(
        path: &Path,
        sync: SyncMode,
        max_batch: usize,
        max_pages: Option<u64>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        Self::open_queued(
            path,
            sync,
            max_batch,
            max_pages,
            super::MAX_QUEUED_COMMITS,
            metrics,
        )
    }

    /// As [`SqliteStore::open_capped`], with `queue` commits waiting at most.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_queued(
        path: &Path,
        sync: SyncMode,
        max_batch: usize,
        max_pages: Option<u64>,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        let conn = Connection::open(path)?;
        // Before the first table exists: 2 KiB pages halve the bytes each
        // dirty page costs in the WAL (rows are well under 1 KiB).
        conn.pragma_update(None, "page_size", 2048)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = match sync {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
            SyncMode::Off => "OFF",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Checkpoints run on the checkpointer's connection; the writer's
        // own is the backstop. The first pages are read through mmap
        // instead of read() calls.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_FRAMES)?;
        conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        if let Some(pages) = max_pages {
            set_page_cap(&conn, pages)?;
        }
        let reader = Connection::open(path)?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        reader.pragma_update(None, "mmap_size", MMAP_BYTES)?;
        reader.pragma_update(None, "query_only", "ON")?;
        // The checkpointer syncs the database file as the writer syncs the
        // WAL: a WAL reset never precedes the pages' fsync.
        let ckpt = Connection::open(path)?;
        ckpt.pragma_update(None, "synchronous", sync)?;
        let (stop, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let checkpointer = std::thread::Builder::new()
            .name("journal-checkpointer".into())
            .spawn(move || checkpointer_loop(ckpt, stop_rx))
            .map_err(|e| StoreError::Db(format!("cannot start the journal checkpointer: {e}")))?;
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue.max(1));
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch.max(1), metrics))
            .map_err(|e| StoreError::Db(format!("cannot start the journal writer: {e}")))?;
        Ok(Arc::new(SqliteStore {
            tx: RwLock::new(Some(tx)),
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(handle)),
            checkpointer: Mutex::new(Some((stop, checkpointer))),
        }))
    }
}

/// A `recon_runs` row selected as `bill_date, run, at_ms, exit_code, open, report`.
fn recon_run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReconRunRecord> {
    Ok(ReconRunRecord {
        bill_date: r.get(0)?,
        run: r.get(1)?,
        at_ms: r.get(2)?,
        exit_code: r.get(3)?,
        open: r.get(4)?,
        report: r.get(5)?,
    })
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store for SqliteStore {
    fn commit(&self, writes: Vec<Write>) -> Commit {
        let (done, rx) = oneshot::channel();
        match self.send(Job::Commit { writes, done }) {
            Ok(()) => Commit::pending(rx),
            Err(e) => Commit::done(Err(e)),
        }
    }

    fn trade(&self, app_id: &str, out_trade_no: &str) -> Result<Option<Trade>, StoreError> {
        let conn = self.reader.lock();
        let doc: Option<String> = conn
            .prepare_cached("SELECT doc FROM trades WHERE app_id = ?1 AND out_trade_no = ?2")?
            .query_row(params![app_id, out_trade_no], |r| r.get(0))
            .optional()?;
        doc.map(|d| parse_doc(&d)).transpose()
    }

    fn refund(
        &self,
        app_id: &str,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<Option<Refund>, StoreError> {
        let conn = self.reader.lock();
        let doc: Option<String> = conn
            .prepare_cached(
                "SELECT doc FROM refunds WHERE app_id = ?1 AND out_trade_no = ?2 AND out_request_no = ?3",
            )?
            .query_row(params![app_id, out_trade_no, out_request_no], |r| r.get(0))
            .optional()?;
        doc.map(|d| parse_doc(&d)).transpose()
    }

    fn unfinished(&self) -> Result<(Vec<Trade>, Vec<Refund>), StoreError> {
        let conn = self.reader.lock();
        let mut trades = Vec::new();
        let mut st = conn.prepare(
            "SELECT doc FROM trades WHERE status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY')
             OR phase IN ('cancel_pending', 'watching')",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        for d in rows {
            trades.push(parse_doc(&d?)?);
        }
        let mut refunds = Vec::new();
        let mut st = conn.prepare("SELECT doc FROM refunds WHERE status = 'UNKNOWN'")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        for d in rows {
            refunds.push(parse_doc(&d?)?);
        }
        Ok((trades, refunds))
    }

    fn pending_relays(&self) -> Result<Vec<Relay>, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare("SELECT doc FROM relays WHERE status = 'pending'")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for d in rows {
            out.push(parse_doc(&d?)?);
        }
        Ok(out)
    }

    fn incidents(&self, out_trade_no: Option<&str>) -> Result<Vec<Incident>, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT app_id, out_trade_no, at_ms, kind, detail FROM incidents
             WHERE ?1 IS NULL OR out_trade_no = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![out_trade_no], incident_of)?;
        let mut out = Vec::new();
        for i in rows {
            out.push(i?);
        }
        Ok(out)
    }

    fn work_queue(&self, which: WorkQueue, limit: usize) -> Result<Bounded<Trade>, StoreError> {
        let limit = super::queue_limit(limit);
        let n = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.reader.lock();
        let mut rows: Vec<Trade> = Vec::new();
        let total: i64 = match which {
            WorkQueue::Undecided => {
                // One index range per status (trades_by_status_created), each
                // in creation order and cut at the limit; merged below.
                let mut st = conn.prepare_cached(
                    "SELECT doc FROM trades WHERE status = ?1
                     ORDER BY created_ms LIMIT ?2",
                )?;
                for status in UNDECIDED {
                    let docs = st.query_map(params![status, n], |r| r.get::<_, String>(0))?;
                    for d in docs {
                        rows.push(parse_doc(&d?)?);
                    }
                }
                conn.prepare_cached(
                    "SELECT COUNT(*) FROM trades WHERE status IN ('PAYING', 'UNKNOWN')",
                )?
                .query_row([], |r| r.get(0))?
            }
            WorkQueue::Watching => {
                // The partial index trades_unfinished holds the watched rows
                // (its condition spelled out, so that SQLite uses it).
                let mut st = conn.prepare_cached(
                    "SELECT doc FROM trades WHERE (status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY')
                     OR phase IN ('cancel_pending', 'watching')) AND phase = 'watching'
                     ORDER BY created_ms LIMIT ?1",
                )?;
                let docs = st.query_map(params![n], |r| r.get::<_, String>(0))?;
                for d in docs {
                    rows.push(parse_doc(&d?)?);
                }
                conn.prepare_cached(
                    "SELECT COUNT(*) FROM trades WHERE (status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY')
                     OR phase IN ('cancel_pending', 'watching')) AND phase = 'watching'",
                )?
                .query_row([], |r| r.get(0))?
            }
        };
        Ok(super::oldest_first(rows, limit, total))
    }

    fn latest_incidents(&self, limit: usize) -> Result<Bounded<Incident>, StoreError> {
        let n = i64::try_from(super::queue_limit(limit)).unwrap_or(i64::MAX);
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT app_id, out_trade_no, at_ms, kind, detail FROM incidents ORDER BY id DESC LIMIT ?1",
        )?;
        let found = st.query_map(params![n], incident_of)?;
        let mut rows = Vec::new();
        for i in found {
            rows.push(i?);
        }
        let total: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM incidents")?
            .query_row([], |r| r.get(0))?;
        let total = u64::try_from(total).unwrap_or(0).max(rows.len() as u64);
        Ok(Bounded { rows, total })
    }

    fn all_trades(&self) -> Result<Vec<Trade>, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare("SELECT doc FROM trades")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for d in rows {
            out.push(parse_doc(&d?)?);
        }
        Ok(out)
    }

    fn search_trades(&self, q: &super::TradeQuery) -> Result<Vec<Trade>, StoreError> {
        if q.terminals.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (sql, args) = search_sql(q);
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out: Vec<Trade> = Vec::new();
        for d in rows {
            out.push(parse_doc(&d?)?);
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
        Ok(out)
    }

    fn events(&self, app_id: &str, out_trade_no: &str) -> Result<Vec<Event>, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT at_ms, kind, detail FROM events WHERE app_id = ?1 AND out_trade_no = ?2 ORDER BY id",
        )?;
        let rows = st.query_map(params![app_id, out_trade_no], |r| {
            Ok(Event {
                app_id: app_id.to_owned(),
                out_trade_no: out_trade_no.to_owned(),
                at_ms: r.get(0)?,
                kind: r.get(1)?,
                detail: r.get(2)?,
            })
        })?;
        let mut out = Vec::new();
        for e in rows {
            out.push(e?);
        }
        Ok(out)
    }

    fn visit_paid_on(
        &self,
        app_id: &str,
        day: &str,
        f: &mut dyn FnMut(Trade) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT doc FROM trades WHERE app_id = ?1 AND paid_day = ?2 AND paid_day IS NOT NULL",
        )?;
        let mut rows = st.query(params![app_id, day])?;
        while let Some(r) = rows.next()? {
            let d: String = r.get(0)?;
            f(parse_doc(&d)?)?;
        }
        Ok(())
    }

    fn visit_book_on(
        &self,
        app_id: &str,
        day: &str,
        f: &mut dyn FnMut(BookLine<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        /// The three fields of a trade record the book needs; serde skips
        /// the rest without building it, and the record is read in place.
        #[derive(serde::Deserialize)]
        struct Lean<'a> {
            #[serde(borrow)]
            terminal: std::borrow::Cow<'a, str>,
            total_amount: protocol::Money,
            #[serde(default)]
            receipt_amount: Option<protocol::Money>,
        }
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT out_trade_no, doc FROM trades WHERE app_id = ?1 AND paid_day = ?2 AND paid_day IS NOT NULL",
        )?;
        let mut rows = st.query(params![app_id, day])?;
        while let Some(r) = rows.next()? {
            let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
            let no = r.get_ref(0)?.as_str().map_err(|e| corrupt(&e))?;
            let doc = r.get_ref(1)?.as_str().map_err(|e| corrupt(&e))?;
            let l: Lean<'_> = serde_json::from_str(doc)
                .map_err(|e| StoreError::Corrupt(format!("trade {no}: {e}")))?;
            let total = l.total_amount.fen();
            f(BookLine {
                terminal: &l.terminal,
                total_fen: total,
                receipt_fen: l.receipt_amount.map_or(total, protocol::Money::fen),
                out_trade_no: no,
            })?;
        }
        Ok(())
    }

    fn refunds_done_on(&self, app_id: &str, day: &str) -> Result<Vec<Refund>, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT doc FROM refunds WHERE app_id = ?1 AND done_day = ?2 AND done_day IS NOT NULL",
        )?;
        let rows = st.query_map(params![app_id, day], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for d in rows {
            out.push(parse_doc(&d?)?);
        }
        Ok(out)
    }

    fn refunds_of(&self, app_id: &str, out_trade_no: &str) -> Result<Vec<Refund>, StoreError> {
        let conn = self.reader.lock();
        let mut st =
            conn.prepare_cached("SELECT doc FROM refunds WHERE app_id = ?1 AND out_trade_no = ?2")?;
        let rows = st.query_map(params![app_id, out_trade_no], |r| r.get::<_, String>(0))?;
        let mut out: Vec<Refund> = Vec::new();
        for d in rows {
            out.push(parse_doc(&d?)?);
        }
        out.sort_by(|a, b| {
            (a.created_ms, &a.out_request_no).cmp(&(b.created_ms, &b.out_request_no))
        });
        Ok(out)
    }

    fn recon_runs(&self, bill_date: &str) -> Result<Vec<ReconRunRecord>, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached(
            "SELECT bill_date, run, at_ms, exit_code, open, report FROM recon_runs
             WHERE bill_date = ?1 ORDER BY run",
        )?;
        let rows = st.query_map(params![bill_date], recon_run_row)?;
        let mut out = Vec::new();
        for x in rows {
            out.push(x?);
        }
        Ok(out)
    }

    fn last_recon_run(&self) -> Result<Option<ReconRunRecord>, StoreError> {
        let conn = self.reader.lock();
        let r = conn
            .prepare_cached(
                "SELECT bill_date, run, at_ms, exit_code, open, report FROM recon_runs ORDER BY id DESC LIMIT 1",
            )?
            .query_row([], recon_run_row)
            .optional()?;
        Ok(r)
    }

    fn registry(&self) -> Result<RegistryRecords, StoreError> {
        let conn = self.reader.lock();
        let status = |s: String| {
            RegistryStatus::parse(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("registry status {s}")))
        };
        let json = |s: String| -> Result<serde_json::Value, StoreError> { parse_doc(&s) };
        let mut out = RegistryRecords::default();
        let mut st = conn.prepare(
            "SELECT external_id, name, alias_name, service_phone, category_id, source, smid, status,
             gateway_fee_bps, merchant_fee_bps, relay_url, contact_info, address_info, bankcard_info,
             service_codes, created_ms, updated_ms FROM merchants ORDER BY created_ms, external_id",
        )?;
        type MerchantRow = (
            (
                String,
                String,
                String,
                String,
                String,
                Option<String>,
                Option<String>,
                String,
            ),
            (
                u32,
                u32,
                Option<String>,
                String,
                String,
                String,
                String,
                i64,
                i64,
            ),
        );
        let rows = st.query_map([], |r| -> rusqlite::Result<MerchantRow> {
            Ok((
                (
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ),
                (
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                    r.get(15)?,
                    r.get(16)?,
                ),
            ))
        })?;
        for row in rows {
            let (
                (external_id, name, alias_name, service_phone, category_id, source, smid, st),
                rest,
            ) = row?;
            let (gw_bps, m_bps, relay_url, ci, ai, bi, sc, created_ms, updated_ms) = rest;
            out.merchants.push(MerchantRecord {
                external_id,
                name,
                alias_name,
                service_phone,
                category_id,
                source,
                smid,
                status: status(st)?,
                gateway_fee_bps: gw_bps,
                merchant_fee_bps: m_bps,
                relay_url,
                contact_info: json(ci)?,
                address_info: json(ai)?,
                bankcard_info: json(bi)?,
                service_codes: json(sc)?,
                created_ms,
                updated_ms,
            });
        }
        let mut st = conn.prepare(
            "SELECT external_id, store_id, name, address, created_ms FROM stores ORDER BY external_id, store_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(StoreRecord {
                external_id: r.get(0)?,
                store_id: r.get(1)?,
                name: r.get(2)?,
                address: r.get(3)?,
                created_ms: r.get(4)?,
            })
        })?;
        for r in rows {
            out.stores.push(r?);
        }
        let mut st = conn.prepare(
            "SELECT key_id, external_id, store_id, terminal_id, equipment_type, rate_per_sec, burst, status,
             secret_sealed, previous_sealed, previous_until_ms, created_ms, updated_ms FROM terminals ORDER BY key_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                TerminalRecord {
                    key_id: r.get(0)?,
                    external_id: r.get(1)?,
                    store_id: r.get(2)?,
                    terminal_id: r.get(3)?,
                    equipment_type: r.get(4)?,
                    rate_per_sec: r.get(5)?,
                    burst: r.get(6)?,
                    status: RegistryStatus::Active,
                    secret_sealed: r.get(8)?,
                    previous_sealed: r.get(9)?,
                    previous_until_ms: r.get(10)?,
                    created_ms: r.get(11)?,
                    updated_ms: r.get(12)?,
                },
                r.get::<_, String>(7)?,
            ))
        })?;
        for r in rows {
            let (mut t, s) = r?;
            t.status = status(s)?;
            out.terminals.push(t);
        }
        Ok(out)
    }

    fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        let conn = self.reader.lock();
        let mut st = conn.prepare_cached("SELECT status, COUNT(*) FROM trades GROUP BY status")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for r in rows {
            let (s, n) = r?;
            out.push((s, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    fn close(&self) {
        self.tx.write().take();
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
        if let Some((stop, h)) = self.checkpointer.lock().take() {
            drop(stop);
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trade::{Kind, Phase, Status};
    use protocol::Money;

    fn trade(no: &str, status: Status) -> Trade {
        Trade {
            app_id: "A".into(),
            out_trade_no: no.into(),
            kind: Kind::Pay,
            status,
            phase: Phase::Idle,
            fingerprint: "f".into(),
            terminal: "T".into(),
            total_amount: Money::from_fen(100),
            subject: "s".into(),
            trade_no: None,
            receipt_amount: None,
            buyer_logon_id: None,
            gmt_payment: None,
            refunded_amount: Money::ZERO,
            code: None,
            sub_code: None,
            sub_msg: None,
            qr_code: None,
            merchant_notify_url: None,
            terminal_no: None,
            never_sent: false,
            refunding_amount: Money::ZERO,
            watch: None,
            expires_ms: None,
            qr_checks_done: 0,
            created_ms: 1,
            updated_ms: 1,
            version: 0,
        }
    }

    // Everything else a journal guarantees is checked for SQLite and
    // PostgreSQL alike by engine/tests/store_suite.rs.

    /// A full writer queue refuses at once (backpressure), and commits go
    /// through again once the writer catches up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_says_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let s =
            SqliteStore::open_queued(&path, SyncMode::Normal, 1, None, 1, Arc::default()).unwrap();
        // Another connection holds the database: the writer blocks on its first commit.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let first = s.commit(vec![Write::Trade(Box::new(trade("q1", Status::Paying)))]);
        let mut busy = None;
        for i in 0..50 {
            let c = s.commit(vec![Write::Trade(Box::new(trade(
                &format!("q{i}x"),
                Status::Paying,
            )))]);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if let Some(Err(StoreError::Busy)) = futures_now(c) {
                busy = Some(i);
                break;
            }
        }
        assert!(busy.is_some(), "the queue of one never filled");
        other.execute_batch("COMMIT").unwrap();
        first.await.unwrap();
        s.commit(vec![Write::Trade(Box::new(trade("q2", Status::Paying)))])
            .await
            .unwrap();
    }

    /// The result of a commit that is already decided (Busy answers at once).
    fn futures_now(c: Commit) -> Option<Result<(), StoreError>> {
        let mut c = Box::pin(c);
        let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
        match std::future::Future::poll(c.as_mut(), &mut cx) {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => None,
        }
    }
}
