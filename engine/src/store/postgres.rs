//! The shared journal: PostgreSQL, for several switch nodes.
//!
//! Same tables and guarantees as [`super::sqlite`]: every [`Store::commit`]
//! goes to ONE writer task, which takes everything queued (up to
//! `max_batch` commits) and commits it in one transaction on one connection,
//! the statements pipelined (sent together, answers read together), then
//! answers every waiter. Sessions run with `synchronous_commit = on`: a
//! commit resolves only once PostgreSQL has flushed its WAL record.
//!
//! Per commit semantics match SQLite's exactly: the writes of one commit are
//! atomic and in order; a leading [`Write::NewTrade`] that meets an existing
//! (app_id, out_trade_no) skips that commit alone ([`StoreError::Exists`]),
//! and a commit that fails (a reconciliation run number already used, a
//! smid already registered) fails alone, while the other commits of the
//! batch apply. The fast path pipelines the whole batch; when one of its
//! commits skips or fails, the batch is rolled back and replayed with one
//! SAVEPOINT per commit.
//!
//! The trait's reads are synchronous: each runs on the store's own small
//! tokio runtime (its own threads) and the caller waits on a std channel,
//! so a read never calls `block_on` inside the caller's runtime.
//!
//! The schema is versioned ([`MIGRATIONS`], table `payswitch_schema`):
//! each migration runs in its own transaction under an advisory lock
//! (several nodes may start at once); a database newer than the binary is
//! refused ([`StoreError::SchemaTooNew`]). The event log, the incidents and
//! the reconciliation runs are append-only: triggers refuse UPDATE, DELETE
//! and TRUNCATE.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::future::join_all;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;

use super::{
    Bounded, Claimed, Commit, Event, Incident, MerchantRecord, PoolState, ReconRunRecord,
    RegistryRecords, RegistryStatus, Relay, StatusCounts, Store, StoreError, StoreRecord,
    TerminalRecord, WorkQueue, Write,
};
use crate::config::{mask_url, PgConfig, StoreConfig};
use crate::metrics::Metrics;
use crate::trade::{Refund, RefundStatus, Status, Trade};

/// The schema, one entry per version (version = index + 1): the
/// migration's name and its SQL. Never edit an entry that has shipped:
/// append a new one.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("initial", SCHEMA_V1),
    ("several nodes", SCHEMA_V2),
    ("console search", SCHEMA_V3),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock key that serialises migrations ("payswitc").
const MIGRATION_LOCK: i64 = 0x7061_7973_7769_7463;

const SCHEMA_V1: &str = r#"
CREATE TABLE trades (
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    status TEXT NOT NULL,
    phase TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    doc TEXT NOT NULL,
    paid_day TEXT,
    PRIMARY KEY (app_id, out_trade_no)
);
CREATE INDEX trades_unfinished ON trades(status, phase)
    WHERE status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY') OR phase IN ('cancel_pending', 'watching');
CREATE INDEX trades_paid_day ON trades(app_id, paid_day, out_trade_no) WHERE paid_day IS NOT NULL;
CREATE TABLE refunds (
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    out_request_no TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    done_day TEXT,
    PRIMARY KEY (app_id, out_trade_no, out_request_no)
);
CREATE INDEX refunds_unknown ON refunds(status) WHERE status = 'UNKNOWN';
CREATE INDEX refunds_done_day ON refunds(app_id, done_day) WHERE done_day IS NOT NULL;
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_trade ON events(app_id, out_trade_no, id);
CREATE TABLE incidents (
    id BIGSERIAL PRIMARY KEY,
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX incidents_trade ON incidents(out_trade_no, id);
CREATE TABLE relays (
    app_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, out_trade_no)
);
CREATE INDEX relays_pending ON relays(status) WHERE status = 'pending';
CREATE TABLE merchants (
    external_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    alias_name TEXT NOT NULL,
    service_phone TEXT NOT NULL,
    category_id TEXT NOT NULL,
    source TEXT,
    smid TEXT UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    gateway_fee_bps BIGINT NOT NULL,
    merchant_fee_bps BIGINT NOT NULL,
    relay_url TEXT,
    contact_info TEXT NOT NULL,
    address_info TEXT NOT NULL,
    bankcard_info TEXT NOT NULL,
    service_codes TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE stores (
    external_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (external_id, store_id)
);
CREATE TABLE terminals (
    key_id TEXT PRIMARY KEY,
    external_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    equipment_type TEXT,
    rate_per_sec DOUBLE PRECISION NOT NULL,
    burst DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    secret_sealed TEXT NOT NULL,
    previous_sealed TEXT,
    previous_until_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX terminals_merchant ON terminals(external_id);
CREATE TABLE recon_runs (
    id BIGSERIAL PRIMARY KEY,
    bill_date TEXT NOT NULL,
    run BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    exit_code INTEGER NOT NULL,
    open BIGINT NOT NULL,
    report TEXT NOT NULL,
    UNIQUE (bill_date, run)
);
CREATE FUNCTION payswitch_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION payswitch_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION payswitch_append_only();
CREATE TRIGGER incidents_append_only BEFORE UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION payswitch_append_only();
CREATE TRIGGER incidents_no_truncate BEFORE TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION payswitch_append_only();
CREATE TRIGGER recon_runs_append_only BEFORE UPDATE OR DELETE ON recon_runs
    FOR EACH ROW EXECUTE FUNCTION payswitch_append_only();
CREATE TRIGGER recon_runs_no_truncate BEFORE TRUNCATE ON recon_runs
    FOR EACH STATEMENT EXECUTE FUNCTION payswitch_append_only();
"#;

/// Version 2, several nodes: trade versions (compare-and-set writes),
/// leases on background work (trades and relays), named leases, shared
/// nonces. Work owed by a journal from before is claimable at once.
const SCHEMA_V2: &str = r#"
ALTER TABLE trades ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE trades ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
UPDATE trades SET lease_until_ms = 1
    WHERE status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY') OR phase IN ('cancel_pending', 'watching')
       OR (doc::jsonb ? 'refunding_amount');
CREATE INDEX trades_leased ON trades(lease_until_ms) WHERE lease_until_ms > 0;
CREATE INDEX trades_owned ON trades(owner) WHERE lease_until_ms > 0;
ALTER TABLE relays ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE relays ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
UPDATE relays SET lease_until_ms = 1 WHERE status = 'pending';
CREATE INDEX relays_leased ON relays(lease_until_ms) WHERE lease_until_ms > 0;
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
CREATE TABLE nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX nonces_expiry ON nonces(expires_ms);
"#;

/// Version 3, the operator console's trade search
/// ([`Store::search_trades`]): the gateway's out_trade_no alone, the
/// terminal's out_trade_no, the trade_no, the creation time, the status
/// with the creation time, the terminal with the creation time; expressions over the row's document, spelled as
/// the search spells them.
const SCHEMA_V3: &str = r#"
CREATE INDEX trades_gw_no ON trades(out_trade_no);
CREATE INDEX trades_trade_no ON trades(((doc::jsonb)->>'trade_no'))
    WHERE ((doc::jsonb)->>'trade_no') IS NOT NULL;
CREATE INDEX trades_terminal_no ON trades(((doc::jsonb)->>'terminal_no'))
    WHERE ((doc::jsonb)->>'terminal_no') IS NOT NULL;
CREATE INDEX trades_created ON trades((((doc::jsonb)->>'created_ms')::bigint));
CREATE INDEX trades_status_created ON trades(status, (((doc::jsonb)->>'created_ms')::bigint));
CREATE INDEX trades_terminal_created
    ON trades(((doc::jsonb)->>'terminal'), (((doc::jsonb)->>'created_ms')::bigint));
"#;

/// The console's trade search over PostgreSQL: the SQL and its parameters
/// (the same plan as SQLite's: the number indexes for a text search, else
/// newest first along the creation index).
fn search_sql(q: &super::TradeQuery) -> (String, Vec<Param>) {
    let mut sql = String::from("SELECT doc FROM trades WHERE TRUE");
    let mut args: Vec<Param> = Vec::new();
    let arg = |v: Param, args: &mut Vec<Param>| {
        args.push(v);
        args.len()
    };
    if let Some(t) = &q.text {
        let i = arg(p(t.clone()), &mut args);
        sql += &format!(
            " AND (out_trade_no = ${i} OR ((doc::jsonb)->>'terminal_no') = ${i} OR ((doc::jsonb)->>'trade_no') = ${i})"
        );
    }
    if let Some(ts) = &q.terminals {
        let i = arg(p(ts.clone()), &mut args);
        sql += &format!(" AND ((doc::jsonb)->>'terminal') = ANY(${i})");
    }
    if let Some(st) = &q.status {
        let i = arg(p(st.clone()), &mut args);
        sql += &format!(" AND status = ${i}");
    }
    if let Some(f) = q.created_from_ms {
        let i = arg(p(f), &mut args);
        sql += &format!(" AND (((doc::jsonb)->>'created_ms')::bigint) >= ${i}");
    }
    if let Some(t) = q.created_to_ms {
        let i = arg(p(t), &mut args);
        sql += &format!(" AND (((doc::jsonb)->>'created_ms')::bigint) < ${i}");
    }
    if let Some(a) = q.amount {
        let i = arg(p(a.to_string()), &mut args);
        sql += &format!(" AND ((doc::jsonb)->>'total_amount') = ${i}");
    }
    if q.text.is_none() {
        sql += " ORDER BY (((doc::jsonb)->>'created_ms')::bigint) DESC";
    }
    let i = arg(p(i64::try_from(q.capped_limit()).unwrap_or(500)), &mut args);
    sql += &format!(" LIMIT ${i}");
    (sql, args)
}

const INSERT_EVENT: &str =
    "INSERT INTO events (app_id, out_trade_no, at_ms, kind, detail) VALUES ($1, $2, $3, $4, $5)";

/// A statement parameter owned by the writer's batch.
type Param = Box<dyn ToSql + Sync + Send>;

/// What a statement of a commit must do for the commit to stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Anything,
    /// A NewTrade insert: no row inserted means the trade exists.
    Inserted,
    /// A TradeNext: no row updated means another version is there.
    Version(u64),
}

impl Expect {
    /// The commit's outcome for `rows` rows touched.
    fn check(self, rows: u64) -> Result<(), StoreError> {
        match self {
            Expect::Inserted if rows == 0 => Err(StoreError::Exists),
            Expect::Version(expected) if rows == 0 => Err(StoreError::Stale { expected }),
            _ => Ok(()),
        }
    }
}

/// One statement of a commit.
struct Op {
    sql: &'static str,
    params: Vec<Param>,
    expect: Expect,
}

impl Op {
    fn new(sql: &'static str, params: Vec<Param>) -> Op {
        Op {
            sql,
            params,
            expect: Expect::Anything,
        }
    }
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

fn p<T: ToSql + Sync + Send + 'static>(v: T) -> Param {
    Box::new(v)
}

fn doc<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn phase_str(t: &Trade) -> String {
    serde_json::to_value(t.phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Who writes: this node's lease on the work it touches.
#[derive(Debug, Clone)]
struct Lessee {
    node: String,
    lease_ms: i64,
}

impl Lessee {
    /// (now, the end of a lease taken now).
    fn window(&self) -> (i64, i64) {
        let now = now_ms();
        (now, now.saturating_add(self.lease_ms))
    }
}

/// $1..$7 the row, $8 the version, $9 whether work is owed, $10 this node,
/// $11 now, $12 the end of a lease taken now.
fn trade_params(t: &Trade, who: &Lessee) -> Result<Vec<Param>, StoreError> {
    let (now, until) = who.window();
    Ok(vec![
        p(t.app_id.clone()),
        p(t.out_trade_no.clone()),
        p(t.status.as_str().to_owned()),
        p(phase_str(t)),
        p(t.updated_ms),
        p(doc(t)?),
        p((t.status == Status::Success).then(|| t.book_day())),
        p(big(t.version, "trade version")?),
        p(t.needs_work()),
        p(who.node.clone()),
        p(now),
        p(until),
    ])
}

/// A trade row written whole (the lease: this node's while work is owed,
/// none otherwise; `$11` is unused here).
macro_rules! trade_insert {
    ($tail:literal) => {
        concat!(
            "INSERT INTO trades (app_id, out_trade_no, status, phase, updated_ms, doc, paid_day,
             version, owner, lease_until_ms)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $10, CASE WHEN $9 THEN $12::BIGINT ELSE 0::BIGINT END
             WHERE $11::BIGINT IS NOT NULL ",
            $tail
        )
    };
}

fn big(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is out of range")))
}

/// The statements of one write.
fn ops_of(w: &Write, who: &Lessee, out: &mut Vec<Op>) -> Result<(), StoreError> {
    match w {
        Write::NewTrade(t) => out.push(Op {
            sql: trade_insert!("ON CONFLICT (app_id, out_trade_no) DO NOTHING"),
            params: trade_params(t, who)?,
            expect: Expect::Inserted,
        }),
        Write::Trade(t) => out.push(Op::new(
            trade_insert!(
                "ON CONFLICT (app_id, out_trade_no) DO UPDATE SET status = excluded.status, phase = excluded.phase,
                 updated_ms = excluded.updated_ms, doc = excluded.doc, paid_day = excluded.paid_day,
                 version = excluded.version, owner = excluded.owner, lease_until_ms = excluded.lease_until_ms"
            ),
            trade_params(t, who)?,
        )),
        Write::TradeNext(t) => out.push(Op {
            // The lease: released when no work is owed; kept while this
            // node holds it; taken when it lapsed (a node that picks up a
            // trade whose owner died, or work owed again on a final trade).
            sql: "UPDATE trades SET status = $3, phase = $4, updated_ms = $5, doc = $6, paid_day = $7,
                  version = $8::BIGINT,
                  owner = CASE WHEN $9::BOOLEAN AND (owner = $10::TEXT OR lease_until_ms < $11::BIGINT)
                               THEN $10::TEXT ELSE owner END,
                  lease_until_ms = CASE WHEN NOT $9::BOOLEAN THEN 0::BIGINT
                                        WHEN owner = $10::TEXT OR lease_until_ms < $11::BIGINT THEN $12::BIGINT
                                        ELSE lease_until_ms END
                  WHERE app_id = $1 AND out_trade_no = $2 AND version = $8::BIGINT - 1",
            params: trade_params(t, who)?,
            expect: Expect::Version(t.version.saturating_sub(1)),
        }),
        Write::Refund(r) => out.push(Op::new(
            "INSERT INTO refunds (app_id, out_trade_no, out_request_no, status, doc, done_day)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (app_id, out_trade_no, out_request_no) DO UPDATE SET status = excluded.status,
             doc = excluded.doc, done_day = excluded.done_day",
            vec![
                p(r.app_id.clone()),
                p(r.out_trade_no.clone()),
                p(r.out_request_no.clone()),
                p(r.status.as_str().to_owned()),
                p(doc(r)?),
                p((r.status == RefundStatus::Success).then(|| r.book_day())),
            ],
        )),
        Write::Event(e) => out.push(Op::new(
            INSERT_EVENT,
            vec![
                p(e.app_id.clone()),
                p(e.out_trade_no.clone()),
                p(e.at_ms),
                p(e.kind.clone()),
                p(e.detail.clone()),
            ],
        )),
        Write::Incident(i) => {
            out.push(Op::new(
                "INSERT INTO incidents (app_id, out_trade_no, at_ms, kind, detail) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    p(i.app_id.clone()),
                    p(i.out_trade_no.clone()),
                    p(i.at_ms),
                    p(i.kind.clone()),
                    p(i.detail.clone()),
                ],
            ));
            out.push(Op::new(
                INSERT_EVENT,
                vec![
                    p(i.app_id.clone()),
                    p(i.out_trade_no.clone()),
                    p(i.at_ms),
                    p(format!("incident_{}", i.kind)),
                    p(i.detail.clone()),
                ],
            ));
        }
        Write::Relay(r) => {
            let (_, until) = who.window();
            let pending = r.status == super::RelayStatus::Pending;
            out.push(Op::new(
                "INSERT INTO relays (app_id, out_trade_no, status, doc, owner, lease_until_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (app_id, out_trade_no) DO UPDATE SET status = excluded.status, doc = excluded.doc,
                 owner = excluded.owner, lease_until_ms = excluded.lease_until_ms",
                vec![
                    p(r.app_id.clone()),
                    p(r.out_trade_no.clone()),
                    p(r.status.as_str().to_owned()),
                    p(doc(&**r)?),
                    p(who.node.clone()),
                    p(if pending { until } else { 0 }),
                ],
            ))
        }
        Write::Merchant(m) => out.push(Op::new(
            "INSERT INTO merchants (external_id, name, alias_name, service_phone, category_id, source, smid,
             status, gateway_fee_bps, merchant_fee_bps, relay_url, contact_info, address_info, bankcard_info,
             service_codes, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, alias_name = excluded.alias_name,
             service_phone = excluded.service_phone, category_id = excluded.category_id, source = excluded.source,
             smid = excluded.smid, status = excluded.status, gateway_fee_bps = excluded.gateway_fee_bps,
             merchant_fee_bps = excluded.merchant_fee_bps, relay_url = excluded.relay_url,
             contact_info = excluded.contact_info, address_info = excluded.address_info,
             bankcard_info = excluded.bankcard_info, service_codes = excluded.service_codes,
             updated_ms = excluded.updated_ms",
            vec![
                p(m.external_id.clone()),
                p(m.name.clone()),
                p(m.alias_name.clone()),
                p(m.service_phone.clone()),
                p(m.category_id.clone()),
                p(m.source.clone()),
                p(m.smid.clone()),
                p(m.status.as_str().to_owned()),
                p(i64::from(m.gateway_fee_bps)),
                p(i64::from(m.merchant_fee_bps)),
                p(m.relay_url.clone()),
                p(m.contact_info.to_string()),
                p(m.address_info.to_string()),
                p(m.bankcard_info.to_string()),
                p(m.service_codes.to_string()),
                p(m.created_ms),
                p(m.updated_ms),
            ],
        )),
        Write::MerchantStore(st) => out.push(Op::new(
            "INSERT INTO stores (external_id, store_id, name, address, created_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (external_id, store_id) DO UPDATE SET name = excluded.name, address = excluded.address",
            vec![
                p(st.external_id.clone()),
                p(st.store_id.clone()),
                p(st.name.clone()),
                p(st.address.clone()),
                p(st.created_ms),
            ],
        )),
        Write::ReconRun(r) => out.push(Op::new(
            "INSERT INTO recon_runs (bill_date, run, at_ms, exit_code, open, report)
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                p(r.bill_date.clone()),
                p(i64::from(r.run)),
                p(r.at_ms),
                p(r.exit_code),
                p(big(r.open, "recon_runs.open")?),
                p(r.report.clone()),
            ],
        )),
        Write::Terminal(t) => out.push(Op::new(
            "INSERT INTO terminals (key_id, external_id, store_id, terminal_id, equipment_type, rate_per_sec,
             burst, status, secret_sealed, previous_sealed, previous_until_ms, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (key_id) DO UPDATE SET external_id = excluded.external_id, store_id = excluded.store_id,
             terminal_id = excluded.terminal_id, equipment_type = excluded.equipment_type,
             rate_per_sec = excluded.rate_per_sec, burst = excluded.burst, status = excluded.status,
             secret_sealed = excluded.secret_sealed, previous_sealed = excluded.previous_sealed,
             previous_until_ms = excluded.previous_until_ms, updated_ms = excluded.updated_ms",
            vec![
                p(t.key_id.clone()),
                p(t.external_id.clone()),
                p(t.store_id.clone()),
                p(t.terminal_id.clone()),
                p(t.equipment_type.clone()),
                p(t.rate_per_sec),
                p(t.burst),
                p(t.status.as_str().to_owned()),
                p(t.secret_sealed.clone()),
                p(t.previous_sealed.clone()),
                p(t.previous_until_ms),
                p(t.created_ms),
                p(t.updated_ms),
            ],
        )),
    }
    Ok(())
}

/// A database error as the journal reports it (never the connection URL).
fn pg(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    if let Some(d) = e.as_db_error() {
        if *d.code() == SqlState::T_R_DEADLOCK_DETECTED
            || *d.code() == SqlState::T_R_SERIALIZATION_FAILURE
        {
            return StoreError::Retry(format!("{} (SQLSTATE {})", d.message(), d.code().code()));
        }
    }
    StoreError::Db(match e.as_db_error() {
        Some(d) => format!(
            "postgres {}: {} (SQLSTATE {})",
            d.severity(),
            d.message(),
            d.code().code()
        ),
        None => mask_url(&e.to_string()),
    })
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        e => StoreError::Db(format!(
            "journal database unavailable: {}",
            mask_url(&e.to_string())
        )),
    }
}

/// A commit waiting in the writer's batch.
struct Pending {
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// A commit's statements, prepared.
type Plan = Result<Vec<(Statement, Op)>, StoreError>;

async fn plan(c: &Object, jobs: &[Pending], who: &Lessee) -> Result<Vec<Plan>, StoreError> {
    let mut plans = Vec::with_capacity(jobs.len());
    for j in jobs {
        let mut ops = Vec::with_capacity(j.writes.len());
        let built = j.writes.iter().try_for_each(|w| ops_of(w, who, &mut ops));
        match built {
            Err(e) => plans.push(Err(e)),
            Ok(()) => {
                let mut prepared = Vec::with_capacity(ops.len());
                for op in ops {
                    prepared.push((c.prepare_cached(op.sql).await.map_err(pg)?, op));
                }
                plans.push(Ok(prepared));
            }
        }
    }
    Ok(plans)
}

/// The whole batch pipelined in one transaction. Ok(true): committed;
/// Ok(false): a commit skipped (Exists) or failed, the batch was rolled back.
async fn commit_fast(c: &mut Object, plans: &[Plan]) -> Result<bool, StoreError> {
    let tx = c.transaction().await.map_err(pg)?;
    let ops: Vec<&(Statement, Op)> = plans.iter().flatten().flatten().collect();
    let refs: Vec<Vec<&(dyn ToSql + Sync)>> = ops.iter().map(|(_, op)| op.refs()).collect();
    let results = join_all(
        ops.iter()
            .zip(&refs)
            .map(|((st, _), r)| tx.execute(st, r.as_slice())),
    )
    .await;
    let clean = ops
        .iter()
        .zip(&results)
        .all(|((_, op), r)| matches!(r, Ok(n) if op.expect.check(*n).is_ok()));
    if clean {
        tx.commit().await.map_err(pg)?;
    } else {
        tx.rollback().await.map_err(pg)?;
    }
    Ok(clean)
}

/// The batch in one transaction, one SAVEPOINT per commit: a commit that
/// skips or fails is rolled back alone.
async fn commit_each(
    c: &mut Object,
    plans: &[Plan],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let tx = c.transaction().await.map_err(pg)?;
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let ops = match plan {
            Err(e) => {
                out.push(Err(e.clone()));
                continue;
            }
            Ok(ops) => ops,
        };
        tx.batch_execute("SAVEPOINT payswitch_commit")
            .await
            .map_err(pg)?;
        let mut r = Ok(());
        for (st, op) in ops {
            match tx.execute(st, &op.refs()).await {
                Ok(n) => {
                    if let Err(e) = op.expect.check(n) {
                        r = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    let e = pg(e);
                    if matches!(e, StoreError::Retry(_)) {
                        // The whole batch is retried: this transaction's
                        // locks must go, or the other node waits on them.
                        return Err(e);
                    }
                    r = Err(e);
                    break;
                }
            }
        }
        let end = if r.is_ok() {
            "RELEASE SAVEPOINT payswitch_commit"
        } else {
            "ROLLBACK TO SAVEPOINT payswitch_commit; RELEASE SAVEPOINT payswitch_commit"
        };
        tx.batch_execute(end).await.map_err(pg)?;
        out.push(r);
    }
    tx.commit().await.map_err(pg)?;
    Ok(out)
}

async fn commit_on(
    c: &mut Object,
    jobs: &[Pending],
    who: &Lessee,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let plans = plan(c, jobs, who).await?;
    if plans.iter().all(Result::is_ok) && commit_fast(c, &plans).await? {
        return Ok(jobs.iter().map(|_| Ok(())).collect());
    }
    commit_each(c, &plans).await
}

/// Takes over, in `table` (`trades` or `relays`, keyed by app_id and
/// out_trade_no), up to `limit` rows whose lease lapsed before `now` (and,
/// with `own_too`, those `node` still holds), skipping rows another node
/// has locked; the lease runs to `until`. Returns the rows' docs.
async fn claim_lapsed<T: serde::de::DeserializeOwned>(
    tx: &tokio_postgres::Transaction<'_>,
    table: &'static str,
    node: &str,
    (now, until): (i64, i64),
    own_too: bool,
    limit: i64,
) -> Result<Vec<T>, StoreError> {
    let sql = format!(
        "UPDATE {table} SET owner = $1, lease_until_ms = $2
         WHERE (app_id, out_trade_no) IN (
             SELECT app_id, out_trade_no FROM {table}
             WHERE lease_until_ms > 0 AND (lease_until_ms < $3 OR ($4 AND owner = $1))
             ORDER BY lease_until_ms LIMIT $5 FOR UPDATE SKIP LOCKED)
         RETURNING doc"
    );
    tx.query(sql.as_str(), &[&node, &until, &now, &own_too, &limit])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| parse_doc(&get::<String>(r, 0)?))
        .collect()
}

/// Batches that conflict with another node's (deadlock, serialization
/// failure) are retried this many times before their commits fail.
const MAX_CONFLICT_RETRIES: u32 = 8;

/// The trade a commit locks first (its first trade or refund write); commits
/// that lock none come first.
fn lock_key(j: &Pending) -> (&str, &str) {
    j.writes
        .iter()
        .find_map(|w| match w {
            Write::NewTrade(t) | Write::Trade(t) | Write::TradeNext(t) => {
                Some((t.app_id.as_str(), t.out_trade_no.as_str()))
            }
            Write::Refund(r) => Some((r.app_id.as_str(), r.out_trade_no.as_str())),
            Write::Relay(r) => Some((r.app_id.as_str(), r.out_trade_no.as_str())),
            _ => None,
        })
        .unwrap_or(("", ""))
}

async fn writer(
    pool: Pool,
    mut rx: mpsc::Receiver<Pending>,
    max_batch: usize,
    metrics: Arc<Metrics>,
    who: Lessee,
) {
    let mut conn: Option<Object> = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // Every node's batches lock trade rows in the same order (by key;
        // one trade's commits keep their order): two nodes writing the same
        // trades at once wait for each other, they do not deadlock.
        jobs.sort_by(|a, b| lock_key(a).cmp(&lock_key(b)));
        let t0 = Instant::now();
        let mut attempt = 0;
        let res = loop {
            let r = async {
                let c = match conn.take() {
                    Some(c) if !c.is_closed() => conn.insert(c),
                    _ => conn.insert(pool.get().await.map_err(pool_err)?),
                };
                let r = commit_on(c, &jobs, &who).await;
                if c.is_closed() {
                    conn = None;
                }
                r
            }
            .await;
            match r {
                Err(StoreError::Retry(e)) if attempt < MAX_CONFLICT_RETRIES => {
                    attempt += 1;
                    metrics.inc("payswitch_journal_conflict_retries_total", &[]);
                    tracing::debug!(error = %e, attempt, "journal batch conflicted with another node; retrying");
                    let ms = rand::random::<u64>() % (2 << attempt.min(6));
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                other => break other,
            }
        };
        match res {
            Ok(results) => {
                metrics.journal_batch(jobs.len(), t0.elapsed());
                for (j, r) in jobs.into_iter().zip(results) {
                    let _ = j.done.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, commits = jobs.len(), "journal batch failed");
                for j in jobs {
                    let _ = j.done.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Applies the migrations this database lacks; returns (version before,
/// version after). Each runs in its own transaction under the advisory lock.
async fn migrate(c: &mut Object) -> Result<(i64, i64), StoreError> {
    let mut before = None;
    loop {
        let tx = c.transaction().await.map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS payswitch_schema (
                 version BIGINT PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_ms BIGINT NOT NULL
             )",
        )
        .await
        .map_err(pg)?;
        let v: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM payswitch_schema",
                &[],
            )
            .await
            .map_err(pg)?
            .try_get(0)
            .map_err(pg)?;
        let from = *before.get_or_insert(v);
        if v > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                database: v,
                binary: SCHEMA_VERSION,
            });
        }
        let idx = usize::try_from(v).unwrap_or(0);
        let Some((name, sql)) = MIGRATIONS.get(idx).filter(|_| v < SCHEMA_VERSION) else {
            tx.commit().await.map_err(pg)?;
            return Ok((from, v));
        };
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute(
            "INSERT INTO payswitch_schema (version, name, applied_ms) VALUES ($1, $2, $3)",
            &[&(v + 1), name, &now_ms()],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        tracing::info!(version = v + 1, name, "journal schema migrated");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn tls_connector(p: &PgConfig) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let tls_err = |e: String| StoreError::Db(format!("store.tls: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    match &p.ca_file {
        Some(ca) => {
            let pem = std::fs::read(ca)
                .map_err(|e| tls_err(format!("store.ca_file {}: {e}", ca.display())))?;
            for c in rustls_pemfile::certs(&mut pem.as_slice()) {
                let c = c.map_err(|e| tls_err(format!("store.ca_file: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| tls_err(format!("store.ca_file: {e}")))?;
            }
            if roots.is_empty() {
                return Err(tls_err("store.ca_file: no certificate in the file".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(tls_err(
                    "no system CA certificates found; set store.ca_file".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(cfg))
}

/// The journal's pool: every session commits with `synchronous_commit =
/// on` (a commit is acknowledged only once flushed to disk).
fn make_pool(p: &PgConfig) -> Result<Pool, StoreError> {
    make_pool_with(p, "on", p.pool_size)
}

/// A pool of `size` sessions with the given `synchronous_commit`.
fn make_pool_with(p: &PgConfig, synchronous_commit: &str, size: usize) -> Result<Pool, StoreError> {
    let mut pc: tokio_postgres::Config =
        p.url.expose().parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Db(format!(
                "store.url {} is not valid: {}",
                p.url.masked(),
                mask_url(&e.to_string())
            ))
        })?;
    let opts = pc.get_options().unwrap_or_default().to_owned();
    pc.options(format!("{opts} -c synchronous_commit={synchronous_commit}").trim());
    if pc.get_application_name().is_none() {
        pc.application_name("payswitch");
    }
    if pc.get_connect_timeout().is_none() {
        pc.connect_timeout(Duration::from_secs(10));
    }
    let mc = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let mgr = if p.tls {
        pc.ssl_mode(tokio_postgres::config::SslMode::Require);
        Manager::from_config(pc, tls_connector(p)?, mc)
    } else {
        Manager::from_config(pc, tokio_postgres::NoTls, mc)
    };
    Pool::builder(mgr)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(15)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Db(format!("journal pool: {e}")))
}

/// The store's own runtime; shut down without blocking (a store may be
/// dropped inside another runtime).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn new() -> Result<OwnRuntime, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("journal-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Db(format!("cannot start the journal runtime: {e}")))?;
        Ok(OwnRuntime(Some(rt)))
    }
    fn handle(&self) -> Option<tokio::runtime::Handle> {
        self.0.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on `handle` and waits for its answer on a std channel.
fn wait_on<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| StoreError::Closed)?
}

/// Applies the migrations (`payswitch migrate`): returns (version before,
/// version after).
///
/// # Errors
/// [`StoreError::Db`] when the database cannot be reached or a migration
/// fails (that migration is rolled back); [`StoreError::SchemaTooNew`] when
/// the database is newer than this binary; [`StoreError::Closed`] when the
/// store's own runtime stopped.
pub fn migrate_database(p: &PgConfig) -> Result<(i64, i64), StoreError> {
    let rt = OwnRuntime::new()?;
    let handle = rt.handle().ok_or(StoreError::Closed)?;
    let pool = make_pool(p)?;
    let r = wait_on(&handle, async move {
        let mut c = pool.get().await.map_err(pool_err)?;
        migrate(&mut c).await
    });
    drop(rt);
    r
}

/// The PostgreSQL journal: one writer task (pipelined group commit) and a
/// connection pool for reads, on a small runtime of its own.
pub struct PgStore {
    tx: RwLock<Option<mpsc::Sender<Pending>>>,
    writer_done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// Sessions for the shared nonces, with `synchronous_commit = off`: a
    /// nonce is a guard against replays within its window, not a record;
    /// the few last ones a database crash could lose reopen a replay that
    /// the trade's own idempotency (one trade per out_trade_no, same
    /// content) makes harmless.
    nonces: Pool,
    who: Lessee,
    /// Last: dropped after the pool.
    _rt: OwnRuntime,
}

/// An incident from a row whose first five columns are `app_id`,
/// `out_trade_no`, `at_ms`, `kind`, `detail`.
fn incident_of(r: &tokio_postgres::Row) -> Result<Incident, StoreError> {
    Ok(Incident {
        app_id: get(r, 0)?,
        out_trade_no: get(r, 1)?,
        at_ms: get(r, 2)?,
        kind: get(r, 3)?,
        detail: get(r, 4)?,
    })
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

type Row = tokio_postgres::Row;

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> Result<T, StoreError> {
    r.try_get(i).map_err(pg)
}

fn to_u32(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} is out of range")))
}

fn registry_status(s: String) -> Result<RegistryStatus, StoreError> {
    RegistryStatus::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("registry status {s}")))
}

impl PgStore {
    /// Connects, applies the migrations and starts the writer task.
    ///
    /// # Errors
    /// [`StoreError::Db`] when `cfg` is not PostgreSQL's, the TLS setup or
    /// the connection fails, or a migration fails;
    /// [`StoreError::SchemaTooNew`] when the database is newer than this
    /// binary.
    pub fn open(cfg: &StoreConfig, metrics: Arc<Metrics>) -> Result<Arc<PgStore>, StoreError> {
        let p = cfg
            .postgres
            .as_ref()
            .ok_or_else(|| StoreError::Db("store.kind is not postgres".into()))?;
        let rt = OwnRuntime::new()?;
        let handle = rt.handle().ok_or(StoreError::Closed)?;
        let pool = make_pool(p)?;
        let pool2 = pool.clone();
        let (from, to) = wait_on(&handle, async move {
            let mut c = pool2.get().await.map_err(pool_err)?;
            migrate(&mut c).await
        })?;
        tracing::info!(
            url = %p.url,
            schema_version = to,
            migrated_from = from,
            "PostgreSQL journal open"
        );
        let (tx, rx) = mpsc::channel(super::MAX_QUEUED_COMMITS);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let max_batch = cfg.max_batch.max(1);
        let pool3 = pool.clone();
        let who = Lessee {
            node: p.node_id.clone(),
            lease_ms: i64::try_from(p.lease_ms).unwrap_or(15_000),
        };
        let who2 = who.clone();
        handle.spawn(async move {
            writer(pool3, rx, max_batch, metrics, who2).await;
            let _ = done_tx.send(());
        });
        Ok(Arc::new(PgStore {
            tx: RwLock::new(Some(tx)),
            writer_done: Mutex::new(Some(done_rx)),
            handle,
            pool,
            nonces: make_pool_with(p, "off", 4)?,
            who,
            _rt: rt,
        }))
    }

    /// The schema version of the database (tests, `payswitch migrate`).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database cannot be queried,
    /// [`StoreError::Closed`] when the store's runtime stopped.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let pool = self.pool.clone();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let r = c
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM payswitch_schema",
                    &[],
                )
                .await
                .map_err(pg)?;
            get(&r, 0)
        })
    }

    fn wait<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        wait_on(&self.handle, fut)
    }

    /// Runs one query with owned parameters; returns its rows.
    fn rows(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        let pool = self.pool.clone();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let st = c.prepare_cached(sql).await.map_err(pg)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            c.query(&st, &refs).await.map_err(pg)
        })
    }

    /// As [`PgStore::rows`], for a statement built at run time (the
    /// console's search: a few shapes, each prepared once per connection).
    fn rows_built(&self, sql: String, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        let pool = self.pool.clone();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let st = c.prepare_cached(&sql).await.map_err(pg)?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            c.query(&st, &refs).await.map_err(pg)
        })
    }

    fn docs<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params)?
            .iter()
            .map(|r| parse_doc(&get::<String>(r, 0)?))
            .collect()
    }

    fn recon_row(r: &Row) -> Result<ReconRunRecord, StoreError> {
        Ok(ReconRunRecord {
            bill_date: get(r, 0)?,
            run: to_u32(get(r, 1)?, "recon_runs.run")?,
            at_ms: get(r, 2)?,
            exit_code: get(r, 3)?,
            open: u64::try_from(get::<i64>(r, 4)?).unwrap_or(0),
            report: get(r, 5)?,
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.tx.write().take();
    }
}

impl Store for PgStore {
    fn commit(&self, writes: Vec<Write>) -> Commit {
        let (done, rx) = oneshot::channel();
        let guard = self.tx.read();
        match guard
            .as_ref()
            .map(|tx| tx.try_send(Pending { writes, done }))
        {
            Some(Ok(())) => Commit::pending(rx),
            Some(Err(mpsc::error::TrySendError::Full(_))) => Commit::done(Err(StoreError::Busy)),
            _ => Commit::done(Err(StoreError::Closed)),
        }
    }

    fn trade(&self, app_id: &str, out_trade_no: &str) -> Result<Option<Trade>, StoreError> {
        let mut v = self.docs(
            "SELECT doc FROM trades WHERE app_id = $1 AND out_trade_no = $2",
            vec![p(app_id.to_owned()), p(out_trade_no.to_owned())],
        )?;
        Ok(v.pop())
    }

    fn refund(
        &self,
        app_id: &str,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<Option<Refund>, StoreError> {
        let mut v = self.docs(
            "SELECT doc FROM refunds WHERE app_id = $1 AND out_trade_no = $2 AND out_request_no = $3",
            vec![
                p(app_id.to_owned()),
                p(out_trade_no.to_owned()),
                p(out_request_no.to_owned()),
            ],
        )?;
        Ok(v.pop())
    }

    fn unfinished(&self) -> Result<(Vec<Trade>, Vec<Refund>), StoreError> {
        let trades = self.docs(
            "SELECT doc FROM trades WHERE status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY')
             OR phase IN ('cancel_pending', 'watching')",
            vec![],
        )?;
        let refunds = self.docs("SELECT doc FROM refunds WHERE status = 'UNKNOWN'", vec![])?;
        Ok((trades, refunds))
    }

    fn pending_relays(&self) -> Result<Vec<Relay>, StoreError> {
        self.docs("SELECT doc FROM relays WHERE status = 'pending'", vec![])
    }

    fn search_trades(&self, q: &super::TradeQuery) -> Result<Vec<Trade>, StoreError> {
        if q.terminals.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (sql, args) = search_sql(q);
        let mut out: Vec<Trade> = self
            .rows_built(sql, args)?
            .iter()
            .map(|r| parse_doc(&get::<String>(r, 0)?))
            .collect::<Result<_, _>>()?;
        out.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
        Ok(out)
    }

    fn incidents(&self, out_trade_no: Option<&str>) -> Result<Vec<Incident>, StoreError> {
        self.rows(
            "SELECT app_id, out_trade_no, at_ms, kind, detail FROM incidents
             WHERE $1::TEXT IS NULL OR out_trade_no = $1 ORDER BY id",
            vec![p(out_trade_no.map(str::to_owned))],
        )?
        .iter()
        .map(incident_of)
        .collect()
    }

    fn work_queue(&self, which: WorkQueue, limit: usize) -> Result<Bounded<Trade>, StoreError> {
        let limit = super::queue_limit(limit);
        // One statement, one snapshot: the rows and the queue's length.
        let sql = match which {
            // One index range per status (trades_status_created), each in
            // creation order and cut at the limit; merged by the caller.
            WorkQueue::Undecided => {
                "SELECT u.doc, (SELECT COUNT(*) FROM trades WHERE status IN ('PAYING', 'UNKNOWN'))::BIGINT
                 FROM ((SELECT doc FROM trades WHERE status = 'PAYING'
                        ORDER BY (((doc::jsonb)->>'created_ms')::bigint) LIMIT $1)
                       UNION ALL
                       (SELECT doc FROM trades WHERE status = 'UNKNOWN'
                        ORDER BY (((doc::jsonb)->>'created_ms')::bigint) LIMIT $1)) u"
            }
            // Through the partial index trades_unfinished (the watched rows).
            WorkQueue::Watching => {
                "SELECT doc, (SELECT COUNT(*) FROM trades WHERE phase = 'watching'
                     AND (status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY') OR phase IN ('cancel_pending', 'watching')))::BIGINT
                 FROM trades WHERE phase = 'watching'
                     AND (status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY') OR phase IN ('cancel_pending', 'watching'))
                 ORDER BY (((doc::jsonb)->>'created_ms')::bigint) LIMIT $1"
            }
        };
        let found = self.rows(sql, vec![p(i64::try_from(limit).unwrap_or(i64::MAX))])?;
        let total = match found.first() {
            Some(r) => get::<i64>(r, 1)?,
            None => 0,
        };
        let rows = found
            .iter()
            .map(|r| parse_doc(&get::<String>(r, 0)?))
            .collect::<Result<Vec<Trade>, _>>()?;
        Ok(super::oldest_first(rows, limit, total))
    }

    fn latest_incidents(&self, limit: usize) -> Result<Bounded<Incident>, StoreError> {
        let n = i64::try_from(super::queue_limit(limit)).unwrap_or(i64::MAX);
        let found = self.rows(
            "SELECT app_id, out_trade_no, at_ms, kind, detail, (SELECT COUNT(*) FROM incidents)::BIGINT
             FROM incidents ORDER BY id DESC LIMIT $1",
            vec![p(n)],
        )?;
        let total = match found.first() {
            Some(r) => get::<i64>(r, 5)?,
            None => 0,
        };
        let rows = found
            .iter()
            .map(incident_of)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let total = u64::try_from(total).unwrap_or(0).max(rows.len() as u64);
        Ok(Bounded { rows, total })
    }

    fn all_trades(&self) -> Result<Vec<Trade>, StoreError> {
        self.docs("SELECT doc FROM trades", vec![])
    }

    fn events(&self, app_id: &str, out_trade_no: &str) -> Result<Vec<Event>, StoreError> {
        self.rows(
            "SELECT at_ms, kind, detail FROM events WHERE app_id = $1 AND out_trade_no = $2 ORDER BY id",
            vec![p(app_id.to_owned()), p(out_trade_no.to_owned())],
        )?
        .iter()
        .map(|r| {
            Ok(Event {
                app_id: app_id.to_owned(),
                out_trade_no: out_trade_no.to_owned(),
                at_ms: get(r, 0)?,
                kind: get(r, 1)?,
                detail: get(r, 2)?,
            })
        })
        .collect()
    }

    fn registry(&self) -> Result<RegistryRecords, StoreError> {
        let mut out = RegistryRecords::default();
        for r in self.rows(
            "SELECT external_id, name, alias_name, service_phone, category_id, source, smid, status,
             gateway_fee_bps, merchant_fee_bps, relay_url, contact_info, address_info, bankcard_info,
             service_codes, created_ms, updated_ms FROM merchants
             ORDER BY created_ms, external_id COLLATE \"C\"",
            vec![],
        )? {
            out.merchants.push(MerchantRecord {
                external_id: get(&r, 0)?,
                name: get(&r, 1)?,
                alias_name: get(&r, 2)?,
                service_phone: get(&r, 3)?,
                category_id: get(&r, 4)?,
                source: get(&r, 5)?,
                smid: get(&r, 6)?,
                status: registry_status(get(&r, 7)?)?,
                gateway_fee_bps: to_u32(get(&r, 8)?, "merchants.gateway_fee_bps")?,
                merchant_fee_bps: to_u32(get(&r, 9)?, "merchants.merchant_fee_bps")?,
                relay_url: get(&r, 10)?,
                contact_info: parse_doc(&get::<String>(&r, 11)?)?,
                address_info: parse_doc(&get::<String>(&r, 12)?)?,
                bankcard_info: parse_doc(&get::<String>(&r, 13)?)?,
                service_codes: parse_doc(&get::<String>(&r, 14)?)?,
                created_ms: get(&r, 15)?,
                updated_ms: get(&r, 16)?,
            });
        }
        for r in self.rows(
            "SELECT external_id, store_id, name, address, created_ms FROM stores
             ORDER BY external_id COLLATE \"C\", store_id COLLATE \"C\"",
            vec![],
        )? {
            out.stores.push(StoreRecord {
                external_id: get(&r, 0)?,
                store_id: get(&r, 1)?,
                name: get(&r, 2)?,
                address: get(&r, 3)?,
                created_ms: get(&r, 4)?,
            });
        }
        for r in self.rows(
            "SELECT key_id, external_id, store_id, terminal_id, equipment_type, rate_per_sec, burst, status,
             secret_sealed, previous_sealed, previous_until_ms, created_ms, updated_ms FROM terminals
             ORDER BY key_id COLLATE \"C\"",
            vec![],
        )? {
            out.terminals.push(TerminalRecord {
                key_id: get(&r, 0)?,
                external_id: get(&r, 1)?,
                store_id: get(&r, 2)?,
                terminal_id: get(&r, 3)?,
                equipment_type: get(&r, 4)?,
                rate_per_sec: get(&r, 5)?,
                burst: get(&r, 6)?,
                status: registry_status(get(&r, 7)?)?,
                secret_sealed: get(&r, 8)?,
                previous_sealed: get(&r, 9)?,
                previous_until_ms: get(&r, 10)?,
                created_ms: get(&r, 11)?,
                updated_ms: get(&r, 12)?,
            });
        }
        Ok(out)
    }

    fn visit_paid_on(
        &self,
        app_id: &str,
        day: &str,
        f: &mut dyn FnMut(Trade) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Pages of 1000 in key order (the index trades_paid_day holds it):
        // a day of any size never sits in memory at once.
        let mut after = String::new();
        loop {
            let rows = self.rows(
                "SELECT out_trade_no, doc FROM trades
                 WHERE app_id = $1 AND paid_day = $2 AND paid_day IS NOT NULL AND out_trade_no > $3
                 ORDER BY out_trade_no LIMIT 1000",
                vec![p(app_id.to_owned()), p(day.to_owned()), p(after.clone())],
            )?;
            let n = rows.len();
            for r in &rows {
                after = get(r, 0)?;
                f(parse_doc(&get::<String>(r, 1)?)?)?;
            }
            if n < 1000 {
                return Ok(());
            }
        }
    }

    fn refunds_done_on(&self, app_id: &str, day: &str) -> Result<Vec<Refund>, StoreError> {
        self.docs(
            "SELECT doc FROM refunds WHERE app_id = $1 AND done_day = $2 AND done_day IS NOT NULL",
            vec![p(app_id.to_owned()), p(day.to_owned())],
        )
    }

    fn refunds_of(&self, app_id: &str, out_trade_no: &str) -> Result<Vec<Refund>, StoreError> {
        let mut out: Vec<Refund> = self.docs(
            "SELECT doc FROM refunds WHERE app_id = $1 AND out_trade_no = $2",
            vec![p(app_id.to_owned()), p(out_trade_no.to_owned())],
        )?;
        out.sort_by(|a, b| {
            (a.created_ms, &a.out_request_no).cmp(&(b.created_ms, &b.out_request_no))
        });
        Ok(out)
    }

    fn recon_runs(&self, bill_date: &str) -> Result<Vec<ReconRunRecord>, StoreError> {
        self.rows(
            "SELECT bill_date, run, at_ms, exit_code, open, report FROM recon_runs
             WHERE bill_date = $1 ORDER BY run",
            vec![p(bill_date.to_owned())],
        )?
        .iter()
        .map(Self::recon_row)
        .collect()
    }

    fn last_recon_run(&self) -> Result<Option<ReconRunRecord>, StoreError> {
        self.rows(
            "SELECT bill_date, run, at_ms, exit_code, open, report FROM recon_runs ORDER BY id DESC LIMIT 1",
            vec![],
        )?
        .first()
        .map(Self::recon_row)
        .transpose()
    }

    fn status_counts(&self) -> Result<StatusCounts, StoreError> {
        self.rows(
            "SELECT status, COUNT(*)::BIGINT FROM trades GROUP BY status",
            vec![],
        )?
        .iter()
        .map(|r| Ok((get(r, 0)?, u64::try_from(get::<i64>(r, 1)?).unwrap_or(0))))
        .collect()
    }

    fn shared(&self) -> bool {
        true
    }

    fn node_id(&self) -> &str {
        &self.who.node
    }

    fn claim_work(&self, own_too: bool, limit: usize) -> Result<Claimed, StoreError> {
        let pool = self.pool.clone();
        let who = self.who.clone();
        let limit = i64::try_from(limit).unwrap_or(1_000);
        self.wait(async move {
            let mut c = pool.get().await.map_err(pool_err)?;
            let (now, until) = who.window();
            let tx = c.transaction().await.map_err(pg)?;
            let trades: Vec<Trade> =
                claim_lapsed(&tx, "trades", &who.node, (now, until), own_too, limit).await?;
            let mut refunds = Vec::new();
            if !trades.is_empty() {
                let keys: Vec<String> = trades.iter().map(|t| t.out_trade_no.clone()).collect();
                let apps: Vec<String> = trades.iter().map(|t| t.app_id.clone()).collect();
                for r in tx
                    .query(
                        "SELECT r.doc FROM refunds r
                         JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS k(app_id, out_trade_no)
                           ON r.app_id = k.app_id AND r.out_trade_no = k.out_trade_no
                         WHERE r.status = 'UNKNOWN'",
                        &[&apps, &keys],
                    )
                    .await
                    .map_err(pg)?
                {
                    refunds.push(parse_doc(&get::<String>(&r, 0)?)?);
                }
            }
            let relays =
                claim_lapsed(&tx, "relays", &who.node, (now, until), own_too, limit).await?;
            tx.commit().await.map_err(pg)?;
            Ok(Claimed {
                trades,
                refunds,
                relays,
            })
        })
    }

    fn renew_leases(&self) -> Result<u64, StoreError> {
        let pool = self.pool.clone();
        let who = self.who.clone();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let (_, until) = who.window();
            let a = c
                .execute(
                    "UPDATE trades SET lease_until_ms = $2 WHERE owner = $1 AND lease_until_ms > 0",
                    &[&who.node, &until],
                )
                .await
                .map_err(pg)?;
            let b = c
                .execute(
                    "UPDATE relays SET lease_until_ms = $2 WHERE owner = $1 AND lease_until_ms > 0",
                    &[&who.node, &until],
                )
                .await
                .map_err(pg)?;
            c.execute(
                "UPDATE leases SET until_ms = $2 WHERE owner = $1 AND until_ms > 0",
                &[&who.node, &until],
            )
            .await
            .map_err(pg)?;
            Ok(a + b)
        })
    }

    fn try_lease(&self, name: &str) -> Result<bool, StoreError> {
        let pool = self.pool.clone();
        let who = self.who.clone();
        let name = name.to_owned();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            let (now, until) = who.window();
            let rows = c
                .query(
                    "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
                     WHERE leases.owner = excluded.owner OR leases.until_ms < $4
                     RETURNING owner",
                    &[&name, &who.node, &until, &now],
                )
                .await
                .map_err(pg)?;
            Ok(!rows.is_empty())
        })
    }

    fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let who = self.who.clone();
        let name = name.to_owned();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            c.execute(
                "UPDATE leases SET until_ms = 0 WHERE name = $1 AND owner = $2",
                &[&name, &who.node],
            )
            .await
            .map_err(pg)?;
            Ok(())
        })
    }

    fn claim_nonce(&self, key_id: &str, nonce: &str, expires_ms: i64) -> Commit {
        let (done, rx) = oneshot::channel();
        let pool = self.nonces.clone();
        let (key_id, nonce) = (key_id.to_owned(), nonce.to_owned());
        self.handle.spawn(async move {
            let r = async {
                let c = pool.get().await.map_err(pool_err)?;
                let st = c
                    .prepare_cached(
                        "INSERT INTO nonces (key_id, nonce, expires_ms) VALUES ($1, $2, $3)
                         ON CONFLICT (key_id, nonce) DO UPDATE SET expires_ms = excluded.expires_ms
                         WHERE nonces.expires_ms < $4",
                    )
                    .await
                    .map_err(pg)?;
                let n = c
                    .execute(&st, &[&key_id, &nonce, &expires_ms, &now_ms()])
                    .await
                    .map_err(pg)?;
                if n == 0 {
                    Err(StoreError::Exists)
                } else {
                    Ok(())
                }
            }
            .await;
            let _ = done.send(r);
        });
        Commit::pending(rx)
    }

    fn forget_expired_nonces(&self, now_ms: i64) -> Result<u64, StoreError> {
        let pool = self.nonces.clone();
        self.wait(async move {
            let c = pool.get().await.map_err(pool_err)?;
            c.execute("DELETE FROM nonces WHERE expires_ms < $1", &[&now_ms])
                .await
                .map_err(pg)
        })
    }

    fn pool_state(&self) -> Option<PoolState> {
        let s = self.pool.status();
        Some(PoolState {
            size: s.size,
            max_size: s.max_size,
            available: s.available,
            waiting: s.waiting,
        })
    }

    fn close(&self) {
        self.tx.write().take();
        if let Some(done) = self.writer_done.lock().take() {
            // The writer drains its queue, then ends.
            let _ = done.recv();
        }
    }
}
