//! The journal: a [`Store`] trait and its two implementations, the
//! embedded SQLite journal ([`sqlite::SqliteStore`], one node, the default)
//! and PostgreSQL ([`postgres::PgStore`], shared by several nodes).
//! [`open`] opens the one `[store] kind` names.
//!
//! Guarantees of every implementation: a [`Commit`] resolves `Ok` only once
//! all of its writes are durable (for SQLite with `synchronous = full`: after
//! the fsync of the transaction holding them; for PostgreSQL: after the
//! COMMIT of that transaction with `synchronous_commit = on`); the writes of one
//! [`Store::commit`] call are applied atomically and in order; trades are
//! unique per (app_id, out_trade_no) and refunds per (app_id, out_trade_no,
//! out_request_no); the event log is append-only.

pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::config::{StoreConfig, StoreKind};
use crate::metrics::Metrics;
use crate::trade::{Refund, Trade};

/// Why the journal failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed (I/O, a full disk or page cap, a constraint, a
    /// lost connection); the database's message.
    #[error("journal database error: {0}")]
    Db(String),
    /// The journal was closed ([`Store::close`]) or its writer stopped: the
    /// commit was not applied.
    #[error("journal writer has stopped")]
    Closed,
    /// A row does not parse back into its record (what is wrong).
    #[error("journal record is corrupt: {0}")]
    Corrupt(String),
    /// A [`Write::NewTrade`] met an existing trade: the commit applied nothing.
    #[error("the trade already exists in the journal")]
    Exists,
    /// A [`Write::TradeNext`] met another version of the trade: the commit
    /// applied nothing.
    #[error(
        "the trade was changed by another writer (this change expected journal version {expected})"
    )]
    Stale {
        /// The version the change expected the journal to hold.
        expected: u64,
    },
    /// The writer's queue holds [`MAX_QUEUED_COMMITS`]: nothing was queued
    /// (backpressure: the journal is behind, not broken).
    #[error("the journal's queue is full ({MAX_QUEUED_COMMITS} commits waiting)")]
    Busy,
    /// A transient conflict with another node's transaction (PostgreSQL
    /// deadlock or serialization failure): the writer retries the batch;
    /// a caller sees it only when the retries ran out.
    #[error("journal conflict with another node, retry: {0}")]
    Retry(String),
    /// The database was migrated by a newer payswitch: refuse to start.
    #[error(
        "the journal database has schema version {database}, newer than this binary's {binary}: run a payswitch that knows version {database}"
    )]
    SchemaTooNew {
        /// The database's schema version.
        database: i64,
        /// The newest version this binary knows.
        binary: i64,
    },
}

/// An open journal; `sqlite` is set when it is the SQLite one (its page
/// cap can be changed at run time).
pub struct Opened {
    /// The journal, whichever kind.
    pub store: Arc<dyn Store>,
    /// The same journal as its SQLite type (for
    /// [`sqlite::SqliteStore::set_max_pages`]); None for PostgreSQL.
    pub sqlite: Option<Arc<sqlite::SqliteStore>>,
}

/// Opens the journal `[store] kind` names (PostgreSQL: connects and applies
/// the migrations first; SQLite: creates the file and migrates).
///
/// # Errors
/// [`StoreError::Db`] when the database cannot be opened, connected to or
/// migrated; [`StoreError::SchemaTooNew`] when a PostgreSQL database was
/// migrated by a newer payswitch.
pub fn open(cfg: &StoreConfig, metrics: Arc<Metrics>) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open_parts(cfg, metrics)?.store)
}

/// As [`open`], keeping the SQLite handle when it is SQLite.
///
/// # Errors
/// As [`open`].
pub fn open_parts(cfg: &StoreConfig, metrics: Arc<Metrics>) -> Result<Opened, StoreError> {
    match cfg.kind {
        StoreKind::Sqlite => {
            let s = sqlite::SqliteStore::open(cfg, metrics)?;
            Ok(Opened {
                store: s.clone(),
                sqlite: Some(s),
            })
        }
        StoreKind::Postgres => Ok(Opened {
            store: postgres::PgStore::open(cfg, metrics)?,
            sqlite: None,
        }),
    }
}

/// What `payswitch migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// PostgreSQL: the schema version before and after.
    Postgres {
        /// The schema version before.
        from: i64,
        /// The schema version after ([`postgres::SCHEMA_VERSION`]).
        to: i64,
    },
    /// SQLite migrates at every open (additive columns): done.
    Sqlite,
}

/// Applies the journal's migrations and returns what was done
/// (`payswitch migrate`).
///
/// # Errors
/// As [`open`].
pub fn migrate(cfg: &StoreConfig) -> Result<Migrated, StoreError> {
    match (&cfg.kind, &cfg.postgres) {
        (StoreKind::Postgres, Some(p)) => {
            let (from, to) = postgres::migrate_database(p)?;
            Ok(Migrated::Postgres { from, to })
        }
        _ => {
            let s = sqlite::SqliteStore::open(cfg, Arc::new(Metrics::default()))?;
            s.close();
            Ok(Migrated::Sqlite)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Commits waiting for the journal's writer at most; past it a commit is
/// refused at once with [`StoreError::Busy`] instead of growing memory.
pub const MAX_QUEUED_COMMITS: usize = 65_536;

/// One entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The app of the trade the event belongs to.
    pub app_id: String,
    /// The trade's out_trade_no (the gateway's).
    pub out_trade_no: String,
    /// When it happened (Unix milliseconds).
    pub at_ms: i64,
    /// e.g. `pay_sending`, `gateway_answer`, `state`, `notification`.
    pub kind: String,
    /// JSON text with the details (never a secret, never an auth code).
    pub detail: String,
}

/// A notification (or gateway answer) that did not match what the switch
/// holds, or that names a trade the switch never saw (kind `orphan`).
/// Reconciliation and the operators look at these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// The switch's app (the one the notification or answer should have
    /// named; a `wrong_app_id` detail holds the one it did name).
    pub app_id: String,
    /// The out_trade_no it named.
    pub out_trade_no: String,
    /// When it was recorded (Unix milliseconds).
    pub at_ms: i64,
    /// `orphan`, `wrong_app_id`, `wrong_seller_id`, `amount_mismatch`,
    /// `paid_while_closed`, `answer_mismatch`.
    pub kind: String,
    /// JSON text: what was expected, what came, and the raw form (never a
    /// secret or an auth code: notifications carry neither).
    pub detail: String,
}

/// Where a relay of a final QR result to the merchant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayStatus {
    /// Not delivered yet: being (or to be) retried.
    Pending,
    /// The merchant's URL answered 2xx.
    Delivered,
    /// No more tries: the attempts ran out, the URL was refused, or the
    /// terminal that made the trade is no longer registered.
    GaveUp,
}

impl RelayStatus {
    /// `pending`, `delivered` or `gave_up`, as the journal stores it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RelayStatus::Pending => "pending",
            RelayStatus::Delivered => "delivered",
            RelayStatus::GaveUp => "gave_up",
        }
    }
}

/// A relay of a trade's final result to the merchant's URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relay {
    /// The trade's app.
    pub app_id: String,
    /// The trade's out_trade_no (the gateway's).
    pub out_trade_no: String,
    /// Where the result is posted (the merchant's registered URL, or one
    /// under it).
    pub url: String,
    /// Where the relay stands.
    pub status: RelayStatus,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When the row last changed (Unix milliseconds).
    pub updated_ms: i64,
}

/// One journal write.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert a new trade row; when the trade exists, the whole commit is
    /// skipped and resolves to [`StoreError::Exists`] (must come first).
    NewTrade(Box<Trade>),
    /// Insert or replace the trade row, whatever its version (imports and
    /// tests; the flows write [`Write::TradeNext`]).
    Trade(Box<Trade>),
    /// The trade's next version: replaces the row only when the journal
    /// holds version `trade.version - 1`; otherwise the whole commit applies
    /// nothing and resolves to [`StoreError::Stale`] (another writer, on
    /// this node or another, changed the trade first: re-read and decide
    /// again). On a shared journal the row's lease follows
    /// [`Trade::needs_work`]: kept (or taken, when lapsed) by this node while
    /// work is owed, released when none is.
    TradeNext(Box<Trade>),
    /// Insert or replace the refund row.
    Refund(Box<Refund>),
    /// Append an event.
    Event(Event),
    /// Append an incident (and an event of the same kind for the trade's
    /// timeline).
    Incident(Incident),
    /// Insert or replace a relay row.
    Relay(Box<Relay>),
    /// Insert or replace a merchant of the registry (by external_id). A
    /// smid registered to another merchant fails the commit (unique).
    Merchant(Box<MerchantRecord>),
    /// Insert or replace a store of a merchant (by external_id, store_id).
    MerchantStore(Box<StoreRecord>),
    /// Insert or replace a terminal (by key_id); its secrets are encrypted.
    Terminal(Box<TerminalRecord>),
    /// Append a reconciliation run (a run number already used for the
    /// date fails the commit: two runs raced, the later one retries).
    ReconRun(Box<ReconRunRecord>),
}

/// A paid trade as reconciliation's book holds it (borrowed from the
/// store's row: the visitor copies what it keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookLine<'a> {
    /// The gateway's out_trade_no.
    pub out_trade_no: &'a str,
    /// The key_id of the terminal that made it.
    pub terminal: &'a str,
    /// The trade's total amount, fen.
    pub total_fen: u64,
    /// The receipt amount (the total when the gateway gave none).
    pub receipt_fen: u64,
}

/// One reconciliation run of a bill date (table `recon_runs`, append-only):
/// every run is kept, so a re-run can say what changed since the last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconRunRecord {
    /// `yyyy-MM-dd`, the bill's day (gateway time).
    pub bill_date: String,
    /// 1 for the first run of the date, then 2, 3, ...
    pub run: u32,
    /// When the run finished (Unix milliseconds).
    pub at_ms: i64,
    /// The command's exit code: 0 all matched or resolved, 2 open differences.
    pub exit_code: i32,
    /// Differences left open.
    pub open: u64,
    /// The report's JSON (recon-YYYY-MM-DD.json), never a secret.
    pub report: String,
}

/// Whether a merchant or a terminal may start new payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegistryStatus {
    /// May start new payments.
    Active,
    /// No new payments (pay, precreate answer 403); queries, cancels and
    /// refunds still work.
    Suspended,
}

impl RegistryStatus {
    /// `ACTIVE` or `SUSPENDED`, as the journal and the admin API show it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RegistryStatus::Active => "ACTIVE",
            RegistryStatus::Suspended => "SUSPENDED",
        }
    }
    /// The status named by [`RegistryStatus::as_str`]'s text; None for any
    /// other text.
    pub fn parse(s: &str) -> Option<RegistryStatus> {
        match s {
            "ACTIVE" => Some(RegistryStatus::Active),
            "SUSPENDED" => Some(RegistryStatus::Suspended),
            _ => None,
        }
    }
}

/// A sub-merchant of the registry (table `merchants`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantRecord {
    /// The acquirer's own merchant number (primary key).
    pub external_id: String,
    /// The merchant's name at the gateway (`name`).
    pub name: String,
    /// The short name buyers see (`alias_name`).
    pub alias_name: String,
    /// The customer service phone (`service_phone`).
    pub service_phone: String,
    /// The gateway's business category (`category_id`).
    pub category_id: String,
    /// The `source` sent at onboarding, if any.
    pub source: Option<String>,
    /// The gateway's sub_merchant_id (unique); None only for a merchant
    /// declared in the config without one.
    pub smid: Option<String>,
    /// Whether the merchant's terminals may start new payments.
    pub status: RegistryStatus,
    /// What Alipay charges the acquirer on its trades, bps
    /// ([`crate::fees`]); the switch's own field.
    pub gateway_fee_bps: u32,
    /// What the acquirer charges the merchant, bps; the switch's own field.
    pub merchant_fee_bps: u32,
    /// Where its QR results are relayed, if anywhere.
    pub relay_url: Option<String>,
    /// JSON arrays as the operator gave them (`[]` when absent), sent to the
    /// gateway as they are: the contacts.
    pub contact_info: serde_json::Value,
    /// The addresses (JSON array).
    pub address_info: serde_json::Value,
    /// The bank cards (JSON array); the first one's `bank_branch_name`
    /// decides the payout rule ([`crate::settlement::payout_date`]).
    pub bankcard_info: serde_json::Value,
    /// The service codes (JSON array of strings).
    pub service_codes: serde_json::Value,
    /// When it was onboarded (Unix milliseconds).
    pub created_ms: i64,
    /// When it last changed (Unix milliseconds).
    pub updated_ms: i64,
}

/// A store of a merchant (table `stores`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreRecord {
    /// The merchant the store belongs to.
    pub external_id: String,
    /// The store's id, unique within its merchant; sent to the gateway as
    /// `store_id` with its terminals' trades.
    pub store_id: String,
    /// The store's name.
    pub name: String,
    /// Its address, if given.
    pub address: Option<String>,
    /// When it was created (Unix milliseconds).
    pub created_ms: i64,
}

/// A terminal (table `terminals`). The secrets are AES-256-GCM sealed
/// under the registry key (hex of nonce, ciphertext and tag; the key_id is
/// the associated data), never in clear.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminalRecord {
    /// The key id the terminal signs with (primary key).
    pub key_id: String,
    /// The merchant it belongs to.
    pub external_id: String,
    /// Its store (sent as `store_id`).
    pub store_id: String,
    /// Its terminal id (sent as `terminal_id`).
    pub terminal_id: String,
    /// The equipment type given at registration, if any.
    pub equipment_type: Option<String>,
    /// Its token bucket's refill rate, requests a second.
    pub rate_per_sec: f64,
    /// Its token bucket's size, requests.
    pub burst: f64,
    /// Whether it may start new payments.
    pub status: RegistryStatus,
    /// The current secret, sealed.
    pub secret_sealed: String,
    /// The secret before the last rotation, valid until `previous_until_ms`.
    pub previous_sealed: Option<String>,
    /// Until when (Unix milliseconds) the previous secret verifies.
    pub previous_until_ms: Option<i64>,
    /// When it was registered (Unix milliseconds).
    pub created_ms: i64,
    /// When it last changed (rotation, suspension; Unix milliseconds).
    pub updated_ms: i64,
}

impl std::fmt::Debug for TerminalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalRecord")
            .field("key_id", &self.key_id)
            .field("external_id", &self.external_id)
            .field("store_id", &self.store_id)
            .field("terminal_id", &self.terminal_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The whole registry as the journal holds it (loaded once at start).
#[derive(Debug, Clone, Default)]
pub struct RegistryRecords {
    /// Every merchant (table `merchants`).
    pub merchants: Vec<MerchantRecord>,
    /// Every store (table `stores`).
    pub stores: Vec<StoreRecord>,
    /// Every terminal, secrets sealed (table `terminals`).
    pub terminals: Vec<TerminalRecord>,
}

/// A pending commit (a future); resolves `Ok` when its writes are durable,
/// else to the [`StoreError`] that stopped them (then none of them applied).
pub struct Commit {
    rx: Option<oneshot::Receiver<Result<(), StoreError>>>,
    ready: Option<Result<(), StoreError>>,
}

impl Commit {
    pub(crate) fn pending(rx: oneshot::Receiver<Result<(), StoreError>>) -> Commit {
        Commit {
            rx: Some(rx),
            ready: None,
        }
    }
    pub(crate) fn done(r: Result<(), StoreError>) -> Commit {
        Commit {
            rx: None,
            ready: Some(r),
        }
    }
}

impl Future for Commit {
    type Output = Result<(), StoreError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.ready.take() {
            return Poll::Ready(r);
        }
        match self.rx.as_mut() {
            None => Poll::Ready(Err(StoreError::Closed)),
            Some(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Err(StoreError::Closed)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Background work a node took over ([`Store::claim_work`]).
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    /// Trades whose lease this node took.
    pub trades: Vec<Trade>,
    /// UNKNOWN refunds of the claimed trades.
    pub refunds: Vec<Refund>,
    /// Relays whose lease this node took.
    pub relays: Vec<Relay>,
}

impl Claimed {
    /// Whether nothing was taken (no trade, no relay).
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty() && self.relays.is_empty()
    }
}

/// Most trades one [`Store::search_trades`] answers.
pub const MAX_SEARCH_ROWS: usize = 500;

/// A trade search (the operator console's): every criterion given must
/// hold; none given lists the most recent trades.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeQuery {
    /// Exactly the gateway's out_trade_no, the terminal's own
    /// out_trade_no or Alipay's trade_no.
    pub text: Option<String>,
    /// The trade was made by one of these terminals (key_ids): how a
    /// merchant, store or terminal filter reaches the journal. `Some` of an
    /// empty list matches nothing.
    pub terminals: Option<Vec<String>>,
    /// The status as the journal stores it (`SUCCESS`, `PAYING`, ...).
    pub status: Option<String>,
    /// Created at or after (Unix milliseconds).
    pub created_from_ms: Option<i64>,
    /// Created before (Unix milliseconds).
    pub created_to_ms: Option<i64>,
    /// Exactly this total_amount.
    pub amount: Option<protocol::Money>,
    /// At most this many trades (capped at [`MAX_SEARCH_ROWS`]).
    pub limit: usize,
}

impl TradeQuery {
    /// The row limit in force: `limit`, 1 to [`MAX_SEARCH_ROWS`].
    pub fn capped_limit(&self) -> usize {
        self.limit.clamp(1, MAX_SEARCH_ROWS)
    }
}

/// Most rows one bounded read ([`Store::work_queue`],
/// [`Store::latest_incidents`]) answers.
pub const MAX_QUEUE_ROWS: usize = 500;

/// Which trades of the work queues [`Store::work_queue`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkQueue {
    /// Not definite: status `PAYING` or `UNKNOWN`.
    Undecided,
    /// In the late-landing watch ([`crate::trade::Phase::Watching`]), any
    /// status.
    Watching,
}

/// The first rows of a longer list, and how long the whole list is.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounded<T> {
    /// At most the limit asked for, in the list's order.
    pub rows: Vec<T>,
    /// How many rows the whole list has (at least `rows.len()`). PostgreSQL
    /// counts in the statement that reads the rows; SQLite in the next one,
    /// so a write in between may make it differ by that write.
    pub total: u64,
}

impl<T> Default for Bounded<T> {
    fn default() -> Self {
        Bounded {
            rows: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Bounded<T> {
    /// Whether the list has more rows than `rows` holds.
    pub fn is_cut(&self) -> bool {
        self.total > self.rows.len() as u64
    }
}

/// A read limit in force: `limit`, 1 to [`MAX_QUEUE_ROWS`].
pub fn queue_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_QUEUE_ROWS)
}

/// The statuses of [`WorkQueue::Undecided`], as the journal stores them.
pub(crate) const UNDECIDED: [&str; 2] = ["PAYING", "UNKNOWN"];

/// `rows` (read in creation order per index range) oldest first, ties by
/// out_trade_no, cut at `limit`, with the counted `total`.
pub(crate) fn oldest_first(mut rows: Vec<Trade>, limit: usize, total: i64) -> Bounded<Trade> {
    rows.sort_by(|a, b| (a.created_ms, &a.out_trade_no).cmp(&(b.created_ms, &b.out_trade_no)));
    rows.truncate(limit);
    let total = u64::try_from(total).unwrap_or(0).max(rows.len() as u64);
    Bounded { rows, total }
}

/// The journal database's connection pool, for /metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolState {
    /// Connections open now.
    pub size: usize,
    /// Connections at most (`store.pool_size`).
    pub max_size: usize,
    /// Open connections idle now.
    pub available: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// Counts of trades by status (the status as the journal stores it, the
/// count), for /metrics.
pub type StatusCounts = Vec<(String, u64)>;

/// The journal interface. Reads are synchronous and short (point lookups by
/// primary key); call them from a blocking context when the store may be slow.
pub trait Store: Send + Sync + 'static {
    /// Queues writes for the next group commit; never blocks. The
    /// [`Commit`] resolves `Ok` once they are durable, or to
    /// [`StoreError::Busy`] (queue full, nothing queued),
    /// [`StoreError::Closed`], [`StoreError::Exists`] (a leading
    /// [`Write::NewTrade`] met its trade), [`StoreError::Stale`] (a
    /// [`Write::TradeNext`] met another version), or [`StoreError::Db`] /
    /// [`StoreError::Retry`] (the commit applied nothing).
    fn commit(&self, writes: Vec<Write>) -> Commit;
    /// A trade by its key.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn trade(&self, app_id: &str, out_trade_no: &str) -> Result<Option<Trade>, StoreError>;
    /// A refund by its key.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn refund(
        &self,
        app_id: &str,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<Option<Refund>, StoreError>;
    /// Trades that recovery must drive (PAYING, UNKNOWN, WAIT_BUYER_PAY, a
    /// cancel in doubt, a late-landing watch) and refunds still UNKNOWN.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn unfinished(&self) -> Result<(Vec<Trade>, Vec<Refund>), StoreError>;
    /// Relays not delivered and not given up.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn pending_relays(&self) -> Result<Vec<Relay>, StoreError>;
    /// Incidents, oldest first; of one out_trade_no when given.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn incidents(&self, out_trade_no: Option<&str>) -> Result<Vec<Incident>, StoreError>;
    /// The first trades of a work queue, oldest first (by creation time),
    /// at most [`queue_limit`]`(limit)`, with the queue's length. Reads
    /// [`WorkQueue::Undecided`] along the index on (status, creation time),
    /// at most that many rows per status; [`WorkQueue::Watching`] through
    /// the index of unfinished trades (the watch's rows, not the journal's).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn work_queue(&self, which: WorkQueue, limit: usize) -> Result<Bounded<Trade>, StoreError>;
    /// The newest incidents, newest first, at most [`queue_limit`]`(limit)`,
    /// with how many the journal holds.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails.
    fn latest_incidents(&self, limit: usize) -> Result<Bounded<Incident>, StoreError>;
    /// Every trade (audits and tests).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn all_trades(&self) -> Result<Vec<Trade>, StoreError>;
    /// A trade's events, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn events(&self, app_id: &str, out_trade_no: &str) -> Result<Vec<Event>, StoreError>;
    /// The merchant registry: every merchant, store and terminal (at start).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn registry(&self) -> Result<RegistryRecords, StoreError>;
    /// Visits the SUCCESS trades of an app that the journal dates on `day`
    /// (`yyyy-MM-dd`, gateway time; see [`Trade::book_day`]), in no order.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back; the first error `f` returns stops
    /// the visit and is returned.
    fn visit_paid_on(
        &self,
        app_id: &str,
        day: &str,
        f: &mut dyn FnMut(Trade) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// As [`Store::visit_paid_on`], only what reconciliation's book needs
    /// (an implementation reads it without parsing whole trade records).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back; the first error `f` returns stops
    /// the visit and is returned.
    fn visit_book_on(
        &self,
        app_id: &str,
        day: &str,
        f: &mut dyn FnMut(BookLine<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.visit_paid_on(app_id, day, &mut |t| {
            f(BookLine {
                receipt_fen: t.receipt_amount.unwrap_or(t.total_amount).fen(),
                total_fen: t.total_amount.fen(),
                out_trade_no: &t.out_trade_no,
                terminal: &t.terminal,
            })
        })
    }
    /// The SUCCESS refunds of an app dated on `day` ([`Refund::book_day`]).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn refunds_done_on(&self, app_id: &str, day: &str) -> Result<Vec<Refund>, StoreError>;
    /// Every refund of a trade, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn refunds_of(&self, app_id: &str, out_trade_no: &str) -> Result<Vec<Refund>, StoreError>;
    /// The reconciliation runs of a bill date, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn recon_runs(&self, bill_date: &str) -> Result<Vec<ReconRunRecord>, StoreError>;
    /// The reconciliation run recorded last, of any date.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn last_recon_run(&self) -> Result<Option<ReconRunRecord>, StoreError>;
    /// The trades that match `q`, newest first (by created_ms), at most
    /// [`TradeQuery::capped_limit`]; served by indexes on the gateway's
    /// out_trade_no, the terminal's, the trade_no, the terminal and the
    /// creation time.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn search_trades(&self, q: &TradeQuery) -> Result<Vec<Trade>, StoreError>;
    /// Trade counts by status.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails, [`StoreError::Corrupt`]
    /// when a row does not parse back.
    fn status_counts(&self) -> Result<StatusCounts, StoreError>;
    /// Stops the writer after draining its queue; later commits fail.
    fn close(&self);

    // Several nodes. The defaults are those of a journal that one node has
    // to itself (SQLite): every lease is its own, no nonce is shared.

    /// Whether several nodes may share this journal: then background work
    /// is claimed by lease ([`Store::claim_work`]), nonces are shared
    /// ([`Store::claim_nonce`]) and a trade may change under this node.
    fn shared(&self) -> bool {
        false
    }
    /// This node's name on the journal's leases.
    fn node_id(&self) -> &str {
        "local"
    }
    /// Takes over, up to `limit` rows each, the trades and relays whose
    /// lease lapsed (their node died or lost the database), and with
    /// `own_too` also those this node's name still holds from before a
    /// restart; locked rows are skipped (`FOR UPDATE SKIP LOCKED`), so two
    /// nodes never take the same row. The claimed rows are this node's
    /// until their lease lapses.
    ///
    /// # Errors
    /// [`StoreError::Db`] (or [`StoreError::Retry`]) when the database
    /// fails: nothing is claimed; [`StoreError::Corrupt`] when a claimed
    /// row does not parse back.
    fn claim_work(&self, own_too: bool, limit: usize) -> Result<Claimed, StoreError> {
        let _ = (own_too, limit);
        Ok(Claimed::default())
    }
    /// Renews every lease this node holds; returns how many rows it holds.
    ///
    /// # Errors
    /// [`StoreError::Db`] (or [`StoreError::Retry`]) when the database
    /// fails; leases not renewed lapse after the lease time.
    fn renew_leases(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Takes, or renews when already held, the named lease (a day's
    /// reconciliation, the heartbeats) for one lease time: `true` when this
    /// node holds it.
    ///
    /// # Errors
    /// [`StoreError::Db`] (or [`StoreError::Retry`]) when the database
    /// fails: the lease is then not held.
    fn try_lease(&self, name: &str) -> Result<bool, StoreError> {
        let _ = name;
        Ok(true)
    }
    /// Gives a named lease up (the work is done).
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails (the lease then lapses
    /// by itself).
    fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        let _ = name;
        Ok(())
    }
    /// Records a terminal's nonce for every node: resolves `Ok` when it is
    /// new, [`StoreError::Exists`] when any node saw it before `expires_ms`.
    fn claim_nonce(&self, key_id: &str, nonce: &str, expires_ms: i64) -> Commit {
        let _ = (key_id, nonce, expires_ms);
        Commit::done(Ok(()))
    }
    /// Forgets the shared nonces that expired; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the database fails.
    fn forget_expired_nonces(&self, now_ms: i64) -> Result<u64, StoreError> {
        let _ = now_ms;
        Ok(0)
    }
    /// The connection pool's state, when the journal has one.
    fn pool_state(&self) -> Option<PoolState> {
        None
    }
}
