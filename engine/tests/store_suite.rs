//! One store test suite, two stores: every case runs against the SQLite
//! journal and against PostgreSQL (a fresh database per test; see
//! common/pg.rs for where the server comes from and when a test skips).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pg::PgDb;
use engine::config::{PgConfig, PgUrl, StoreConfig, StoreKind, SyncMode};
use engine::metrics::Metrics;
use engine::store::{
    Event, Incident, MerchantRecord, ReconRunRecord, RegistryStatus, Relay, RelayStatus,
    StoreRecord, TerminalRecord, Write,
};
use engine::trade::{Kind, Phase, Refund, RefundStatus, Status, Trade};
use engine::{Store, StoreError};
use protocol::Money;

enum Backend {
    Sqlite(tempfile::TempDir),
    Pg(PgDb),
}

/// A store under test and the means to look past it.
struct H {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    cfg: StoreConfig,
    backend: Backend,
}

fn sqlite_cfg(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        kind: StoreKind::Sqlite,
        path: dir.join("journal.db"),
        postgres: None,
        synchronous: SyncMode::Full,
        max_batch: 64,
        max_pages: None,
    }
}

fn pg_cfg(url: &str) -> StoreConfig {
    StoreConfig {
        kind: StoreKind::Postgres,
        path: Default::default(),
        postgres: Some(PgConfig {
            url: PgUrl::new(url),
            pool_size: 4,
            tls: false,
            ca_file: None,
            node_id: "node-a".into(),
            lease_ms: 1_000,
        }),
        synchronous: SyncMode::Full,
        max_batch: 64,
        max_pages: None,
    }
}

impl H {
    fn sqlite() -> H {
        let dir = tempfile::tempdir().unwrap();
        let cfg = sqlite_cfg(dir.path());
        let metrics = Arc::new(Metrics::default());
        let store = engine::store::open(&cfg, metrics.clone()).unwrap();
        H {
            store,
            metrics,
            cfg,
            backend: Backend::Sqlite(dir),
        }
    }

    async fn pg(test: &str) -> Option<H> {
        let db = PgDb::fresh(test).await?;
        let cfg = pg_cfg(&db.url);
        let metrics = Arc::new(Metrics::default());
        let store = engine::store::open(&cfg, metrics.clone()).unwrap();
        Some(H {
            store,
            metrics,
            cfg,
            backend: Backend::Pg(db),
        })
    }

    /// Closes the store and opens it again (a restart).
    fn reopen(&mut self) {
        self.store.close();
        self.metrics = Arc::new(Metrics::default());
        self.store = engine::store::open(&self.cfg, self.metrics.clone()).unwrap();
    }

    /// Raw SQL on another connection, past the store: Err carries the
    /// database's refusal.
    async fn raw(&self, sql: &str) -> Result<(), String> {
        match &self.backend {
            Backend::Sqlite(dir) => {
                let c = rusqlite::Connection::open(dir.path().join("journal.db"))
                    .map_err(|e| e.to_string())?;
                c.execute_batch(sql).map_err(|e| e.to_string())
            }
            Backend::Pg(db) => db.client().await.batch_execute(sql).await.map_err(|e| {
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned())
            }),
        }
    }
}

/// Runs a case against both stores.
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case(super::H::sqlite()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(h) = super::H::pg(stringify!($case)).await {
                    super::$case(h).await;
                }
            }
        }
    };
}

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

fn event(no: &str, kind: &str) -> Event {
    Event {
        app_id: "A".into(),
        out_trade_no: no.into(),
        at_ms: 2,
        kind: kind.into(),
        detail: "{}".into(),
    }
}

fn refund(no: &str, req: &str, status: RefundStatus, created_ms: i64) -> Refund {
    Refund {
        app_id: "A".into(),
        out_trade_no: no.into(),
        out_request_no: req.into(),
        refund_amount: Money::from_fen(10),
        refund_reason: None,
        status,
        fingerprint: "rf".into(),
        code: None,
        sub_code: None,
        sub_msg: None,
        gmt_refund_pay: Some("2024-05-02 10:00:00".into()),
        created_ms,
        updated_ms: created_ms,
    }
}

fn recon(date: &str, run: u32) -> ReconRunRecord {
    ReconRunRecord {
        bill_date: date.into(),
        run,
        at_ms: i64::from(run) * 1000,
        exit_code: 0,
        open: 0,
        report: format!("{{\"run\":{run}}}"),
    }
}

fn merchant(id: &str, smid: &str, created_ms: i64) -> MerchantRecord {
    MerchantRecord {
        external_id: id.into(),
        name: format!("shop {id}"),
        alias_name: "alias".into(),
        service_phone: "0571-1234".into(),
        category_id: "2015050700000000".into(),
        source: None,
        smid: Some(smid.into()),
        status: RegistryStatus::Active,
        gateway_fee_bps: 60,
        merchant_fee_bps: 38,
        relay_url: Some("http://127.0.0.1:1/relay".into()),
        contact_info: serde_json::json!([{"name": "Li", "type": "LEGAL_PERSON"}]),
        address_info: serde_json::json!([]),
        bankcard_info: serde_json::json!([{"bank_branch_name": "X"}]),
        service_codes: serde_json::json!(["F2FPAY"]),
        created_ms,
        updated_ms: created_ms,
    }
}

async fn group_commit_and_reads(h: H) {
    let s = &h.store;
    let mut commits = Vec::new();
    for i in 0..200 {
        let st = if i % 2 == 0 {
            Status::Success
        } else {
            Status::Paying
        };
        commits.push(s.commit(vec![
            Write::Trade(Box::new(trade(&format!("o{i}"), st))),
            Write::Event(event(&format!("o{i}"), "state")),
        ]));
    }
    for c in commits {
        c.await.unwrap();
    }
    assert_eq!(s.all_trades().unwrap().len(), 200);
    assert_eq!(s.unfinished().unwrap().0.len(), 100);
    assert_eq!(s.events("A", "o3").unwrap().len(), 1);
    assert_eq!(s.trade("A", "o4").unwrap().unwrap().status, Status::Success);
    assert!(s.trade("A", "nope").unwrap().is_none());
    assert!(s.trade("B", "o4").unwrap().is_none());
    // Fewer transactions than commits: the writer grouped them.
    let batches = h.metrics.journal_batches();
    assert!(batches.0 < 200 && batches.1 == 200, "{batches:?}");
    // A Trade write replaces the row; events keep their order.
    let mut t = trade("o4", Status::Success);
    t.refunded_amount = Money::from_fen(30);
    s.commit(vec![
        Write::Trade(Box::new(t)),
        Write::Event(event("o4", "refund")),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.trade("A", "o4").unwrap().unwrap().refunded_amount,
        Money::from_fen(30)
    );
    let kinds: Vec<String> = s
        .events("A", "o4")
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["state", "refund"]);
}
both!(group_commit_and_reads);

async fn new_trade_exists_alone(h: H) {
    let s = &h.store;
    s.commit(vec![
        Write::NewTrade(Box::new(trade("x", Status::Success))),
        Write::Event(event("x", "created")),
    ])
    .await
    .unwrap();
    // A NewTrade over an existing trade applies nothing and says so.
    let r = s
        .commit(vec![
            Write::NewTrade(Box::new(trade("x", Status::Paying))),
            Write::Event(event("x", "created_again")),
        ])
        .await;
    assert!(matches!(r, Err(StoreError::Exists)), "{r:?}");
    assert_eq!(s.trade("A", "x").unwrap().unwrap().status, Status::Success);
    assert_eq!(s.events("A", "x").unwrap().len(), 1);
    // The same out_trade_no under another app_id is another trade.
    let mut other = trade("x", Status::Paying);
    other.app_id = "B".into();
    s.commit(vec![Write::NewTrade(Box::new(other))])
        .await
        .unwrap();
    assert_eq!(s.all_trades().unwrap().len(), 2);
}
both!(new_trade_exists_alone);

async fn new_trade_exists_within_a_batch(h: H) {
    let s = &h.store;
    s.commit(vec![Write::NewTrade(Box::new(trade(
        "old",
        Status::Success,
    )))])
    .await
    .unwrap();
    // Many commits queued at once: the writer takes them in few batches;
    // the ones that meet an existing trade skip alone, the others apply.
    let mut commits = Vec::new();
    for i in 0..60 {
        let no = match i % 3 {
            0 => "old".to_owned(),
            1 => format!("new{i}"),
            // A second NewTrade of a trade created earlier in the same batch.
            _ => format!("new{}", i - 1),
        };
        commits.push((
            i,
            s.commit(vec![
                Write::NewTrade(Box::new(trade(&no, Status::Paying))),
                Write::Event(event(&no, &format!("created{i}"))),
            ]),
        ));
        if i == 30 {
            commits.push((
                -1,
                s.commit(vec![
                    Write::Trade(Box::new(trade("plain", Status::Closed))),
                    Write::Event(event("plain", "closed")),
                ]),
            ));
        }
    }
    for (i, c) in commits {
        let r = c.await;
        if i < 0 || i % 3 == 1 {
            r.unwrap();
        } else {
            assert!(matches!(r, Err(StoreError::Exists)), "commit {i}: {r:?}");
        }
    }
    assert_eq!(
        s.trade("A", "old").unwrap().unwrap().status,
        Status::Success
    );
    assert!(s.events("A", "old").unwrap().is_empty());
    for i in (1..60).step_by(3) {
        let ev = s.events("A", &format!("new{i}")).unwrap();
        assert_eq!(ev.len(), 1, "new{i}: {ev:?}");
        assert_eq!(ev[0].kind, format!("created{i}"));
    }
    assert_eq!(
        s.trade("A", "plain").unwrap().unwrap().status,
        Status::Closed
    );
    assert_eq!(s.all_trades().unwrap().len(), 1 + 20 + 1);
}
both!(new_trade_exists_within_a_batch);

async fn failed_commit_fails_alone(h: H) {
    let s = &h.store;
    s.commit(vec![Write::ReconRun(Box::new(recon("2024-05-01", 1)))])
        .await
        .unwrap();
    // A used (bill_date, run) fails that commit; the rest of the batch applies.
    let dup = s.commit(vec![
        Write::Event(event("r", "before_dup")),
        Write::ReconRun(Box::new(recon("2024-05-01", 1))),
    ]);
    let next = s.commit(vec![Write::ReconRun(Box::new(recon("2024-05-01", 2)))]);
    let ev = s.commit(vec![Write::Event(event("r", "after"))]);
    let smid_taken = {
        s.commit(vec![Write::Merchant(Box::new(merchant(
            "M1", "2088001", 5,
        )))])
        .await
        .unwrap();
        s.commit(vec![Write::Merchant(Box::new(merchant(
            "M2", "2088001", 6,
        )))])
    };
    let r = dup.await;
    assert!(matches!(r, Err(StoreError::Db(_))), "{r:?}");
    next.await.unwrap();
    ev.await.unwrap();
    let r = smid_taken.await;
    assert!(matches!(r, Err(StoreError::Db(_))), "{r:?}");
    let runs: Vec<u32> = s
        .recon_runs("2024-05-01")
        .unwrap()
        .into_iter()
        .map(|r| r.run)
        .collect();
    assert_eq!(runs, [1, 2]);
    assert_eq!(s.last_recon_run().unwrap().unwrap(), recon("2024-05-01", 2));
    // The failed commit applied none of its writes (its event neither).
    let kinds: Vec<String> = s
        .events("A", "r")
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["after"]);
    assert_eq!(s.registry().unwrap().merchants.len(), 1);
    assert!(s.recon_runs("2024-05-02").unwrap().is_empty());
}
both!(failed_commit_fails_alone);

async fn refunds(h: H) {
    let s = &h.store;
    s.commit(vec![
        Write::Trade(Box::new(trade("t", Status::Success))),
        Write::Refund(Box::new(refund("t", "r2", RefundStatus::Success, 20))),
        Write::Refund(Box::new(refund("t", "r1", RefundStatus::Unknown, 10))),
        Write::Refund(Box::new(refund("t", "r3", RefundStatus::Failed, 20))),
    ])
    .await
    .unwrap();
    let of: Vec<String> = s
        .refunds_of("A", "t")
        .unwrap()
        .into_iter()
        .map(|r| r.out_request_no)
        .collect();
    assert_eq!(of, ["r1", "r2", "r3"]);
    assert_eq!(
        s.refund("A", "t", "r1").unwrap().unwrap().status,
        RefundStatus::Unknown
    );
    assert!(s.refund("A", "t", "r9").unwrap().is_none());
    let (_, unknown) = s.unfinished().unwrap();
    assert_eq!(unknown.len(), 1);
    let done: Vec<String> = s
        .refunds_done_on("A", "2024-05-02")
        .unwrap()
        .into_iter()
        .map(|r| r.out_request_no)
        .collect();
    assert_eq!(done, ["r2"]);
    // The unknown one resolves: it leaves unfinished() and joins the day.
    s.commit(vec![Write::Refund(Box::new(refund(
        "t",
        "r1",
        RefundStatus::Success,
        10,
    )))])
    .await
    .unwrap();
    assert!(s.unfinished().unwrap().1.is_empty());
    assert_eq!(s.refunds_done_on("A", "2024-05-02").unwrap().len(), 2);
    assert!(s.refunds_done_on("A", "2024-05-03").unwrap().is_empty());
    assert!(s.refunds_done_on("B", "2024-05-02").unwrap().is_empty());
}
both!(refunds);

async fn append_only(h: H) {
    let s = &h.store;
    s.commit(vec![
        Write::Trade(Box::new(trade("t", Status::Success))),
        Write::Event(event("t", "state")),
        Write::Incident(Incident {
            app_id: "A".into(),
            out_trade_no: "t".into(),
            at_ms: 3,
            kind: "orphan".into(),
            detail: "{}".into(),
        }),
        Write::ReconRun(Box::new(recon("2024-05-01", 1))),
    ])
    .await
    .unwrap();
    // The raw channel works (a trade row may change)...
    h.raw("UPDATE trades SET updated_ms = updated_ms WHERE out_trade_no = 't'")
        .await
        .unwrap();
    // ...but the database itself refuses to change the logs.
    for sql in [
        "UPDATE events SET kind = 'forged'",
        "DELETE FROM events",
        "UPDATE incidents SET kind = 'forged'",
        "DELETE FROM incidents",
        "UPDATE recon_runs SET open = 7",
        "DELETE FROM recon_runs",
    ] {
        let e = h.raw(sql).await.expect_err(sql);
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(s.events("A", "t").unwrap().len(), 2);
    assert_eq!(s.incidents(None).unwrap().len(), 1);
    assert_eq!(s.recon_runs("2024-05-01").unwrap().len(), 1);
}
both!(append_only);

async fn incidents(h: H) {
    let s = &h.store;
    for (no, kind) in [
        ("a", "orphan"),
        ("b", "amount_mismatch"),
        ("a", "wrong_app_id"),
    ] {
        s.commit(vec![Write::Incident(Incident {
            app_id: "A".into(),
            out_trade_no: no.into(),
            at_ms: 3,
            kind: kind.into(),
            detail: format!("{{\"kind\":\"{kind}\"}}"),
        })])
        .await
        .unwrap();
    }
    let all: Vec<String> = s
        .incidents(None)
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect();
    assert_eq!(all, ["orphan", "amount_mismatch", "wrong_app_id"]);
    let of_a: Vec<String> = s
        .incidents(Some("a"))
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect();
    assert_eq!(of_a, ["orphan", "wrong_app_id"]);
    assert!(s.incidents(Some("zz")).unwrap().is_empty());
    // Each incident is also an event of the trade's timeline.
    let ev: Vec<String> = s
        .events("A", "a")
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(ev, ["incident_orphan", "incident_wrong_app_id"]);
}
both!(incidents);

async fn relays(h: H) {
    let s = &h.store;
    let relay = |no: &str, status: RelayStatus, attempts: u32| Relay {
        app_id: "A".into(),
        out_trade_no: no.into(),
        url: "http://127.0.0.1:1/r".into(),
        status,
        attempts,
        updated_ms: 5,
    };
    s.commit(vec![
        Write::Relay(Box::new(relay("a", RelayStatus::Pending, 0))),
        Write::Relay(Box::new(relay("b", RelayStatus::Pending, 1))),
        Write::Relay(Box::new(relay("c", RelayStatus::GaveUp, 8))),
    ])
    .await
    .unwrap();
    let mut p = s.pending_relays().unwrap();
    p.sort_by(|x, y| x.out_trade_no.cmp(&y.out_trade_no));
    assert_eq!(
        p,
        [
            relay("a", RelayStatus::Pending, 0),
            relay("b", RelayStatus::Pending, 1)
        ]
    );
    s.commit(vec![Write::Relay(Box::new(relay(
        "a",
        RelayStatus::Delivered,
        2,
    )))])
    .await
    .unwrap();
    assert_eq!(
        s.pending_relays().unwrap(),
        [relay("b", RelayStatus::Pending, 1)]
    );
}
both!(relays);

async fn registry(h: H) {
    let s = &h.store;
    assert!(s.registry().unwrap().merchants.is_empty());
    let term = |key: &str, ext: &str| TerminalRecord {
        key_id: key.into(),
        external_id: ext.into(),
        store_id: "S1".into(),
        terminal_id: "POS1".into(),
        equipment_type: Some("02".into()),
        rate_per_sec: 12.5,
        burst: 25.0,
        status: RegistryStatus::Active,
        secret_sealed: "00aa".into(),
        previous_sealed: None,
        previous_until_ms: None,
        created_ms: 7,
        updated_ms: 7,
    };
    s.commit(vec![
        Write::Merchant(Box::new(merchant("M2", "2088002", 20))),
        Write::Merchant(Box::new(merchant("M1", "2088001", 10))),
        Write::MerchantStore(Box::new(StoreRecord {
            external_id: "M1".into(),
            store_id: "S1".into(),
            name: "first".into(),
            address: None,
            created_ms: 11,
        })),
        Write::MerchantStore(Box::new(StoreRecord {
            external_id: "M1".into(),
            store_id: "S0".into(),
            name: "zero".into(),
            address: Some("Hangzhou".into()),
            created_ms: 12,
        })),
        Write::Terminal(Box::new(term("k2", "M1"))),
        Write::Terminal(Box::new(term("K1", "M2"))),
    ])
    .await
    .unwrap();
    // Upserts: a suspension, a rotation.
    let mut m1 = merchant("M1", "2088001", 10);
    m1.status = RegistryStatus::Suspended;
    m1.updated_ms = 30;
    let mut k2 = term("k2", "M1");
    k2.previous_sealed = Some("00aa".into());
    k2.previous_until_ms = Some(99);
    k2.secret_sealed = "00bb".into();
    k2.status = RegistryStatus::Suspended;
    s.commit(vec![
        Write::Merchant(Box::new(m1.clone())),
        Write::Terminal(Box::new(k2.clone())),
    ])
    .await
    .unwrap();
    let r = s.registry().unwrap();
    assert_eq!(r.merchants, [m1, merchant("M2", "2088002", 20)]);
    let stores: Vec<(&str, &str, Option<&str>)> = r
        .stores
        .iter()
        .map(|x| {
            (
                x.external_id.as_str(),
                x.store_id.as_str(),
                x.address.as_deref(),
            )
        })
        .collect();
    assert_eq!(stores, [("M1", "S0", Some("Hangzhou")), ("M1", "S1", None)]);
    // key_id order is byte order (uppercase first).
    assert_eq!(r.terminals, [term("K1", "M2"), k2]);
}
both!(registry);

async fn unfinished(h: H) {
    let s = &h.store;
    let mut writes = Vec::new();
    for (no, st, ph) in [
        ("paying", Status::Paying, Phase::Sending),
        ("unknown", Status::Unknown, Phase::Resolving),
        ("qr", Status::WaitBuyerPay, Phase::Idle),
        ("cancel", Status::Paying, Phase::CancelPending),
        ("watch", Status::Closed, Phase::Watching),
        ("paid", Status::Success, Phase::Idle),
        ("failed", Status::Failed, Phase::Idle),
        ("closed", Status::Closed, Phase::Idle),
    ] {
        let mut t = trade(no, st);
        t.phase = ph;
        writes.push(Write::Trade(Box::new(t)));
    }
    s.commit(writes).await.unwrap();
    let mut open: Vec<String> = s
        .unfinished()
        .unwrap()
        .0
        .into_iter()
        .map(|t| t.out_trade_no)
        .collect();
    open.sort();
    assert_eq!(open, ["cancel", "paying", "qr", "unknown", "watch"]);
    let mut counts = s.status_counts().unwrap();
    counts.sort();
    let want: Vec<(String, u64)> = [
        ("CLOSED", 2),
        ("FAILED", 1),
        ("PAYING", 2),
        ("SUCCESS", 1),
        ("UNKNOWN", 1),
        ("WAIT_BUYER_PAY", 1),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_owned(), n))
    .collect();
    assert_eq!(counts, want);
}
both!(unfinished);

/// The console's work queues, read bounded: the undecided (PAYING,
/// UNKNOWN) and the watched trades oldest first, the incidents newest
/// first, each cut at the limit and with the whole list's length.
async fn work_queues(h: H) {
    use engine::store::{WorkQueue, MAX_QUEUE_ROWS};
    let s = &h.store;
    let empty = s.work_queue(WorkQueue::Undecided, 10).unwrap();
    assert_eq!((empty.rows.len(), empty.total), (0, 0));
    assert_eq!(s.latest_incidents(10).unwrap().total, 0);
    let mut writes = Vec::new();
    for (no, st, ph, created) in [
        ("p30", Status::Paying, Phase::Sending, 30),
        ("p10", Status::Paying, Phase::Polling, 10),
        ("p20", Status::Paying, Phase::CancelPending, 20),
        ("u15", Status::Unknown, Phase::Resolving, 15),
        ("u05", Status::Unknown, Phase::Resolving, 5),
        ("qr01", Status::WaitBuyerPay, Phase::Idle, 1),
        ("w07", Status::Closed, Phase::Watching, 7),
        ("w03", Status::Closed, Phase::Watching, 3),
        ("w09", Status::Closed, Phase::Watching, 9),
        ("w08", Status::Success, Phase::Watching, 8),
        ("ok02", Status::Success, Phase::Idle, 2),
        ("closed04", Status::Closed, Phase::Idle, 4),
    ] {
        let mut t = trade(no, st);
        t.phase = ph;
        t.created_ms = created;
        writes.push(Write::Trade(Box::new(t)));
    }
    for i in 0..5 {
        writes.push(Write::Incident(Incident {
            app_id: "A".into(),
            out_trade_no: format!("i{i}"),
            at_ms: 10 + i,
            kind: format!("k{i}"),
            detail: "{}".into(),
        }));
    }
    s.commit(writes).await.unwrap();
    let nos = |b: &engine::store::Bounded<Trade>| -> Vec<String> {
        b.rows.iter().map(|t| t.out_trade_no.clone()).collect()
    };

    let first3 = s.work_queue(WorkQueue::Undecided, 3).unwrap();
    assert_eq!(
        nos(&first3),
        ["u05", "p10", "u15"],
        "oldest first, both statuses"
    );
    assert_eq!(first3.total, 5);
    assert!(first3.is_cut());
    let all = s.work_queue(WorkQueue::Undecided, 100).unwrap();
    assert_eq!(nos(&all), ["u05", "p10", "u15", "p20", "p30"]);
    assert_eq!(all.total, 5);
    assert!(!all.is_cut());
    // A limit of 0 reads one row; the cap holds.
    assert_eq!(s.work_queue(WorkQueue::Undecided, 0).unwrap().rows.len(), 1);
    assert_eq!(
        s.work_queue(WorkQueue::Undecided, usize::MAX)
            .unwrap()
            .rows
            .len(),
        5.min(MAX_QUEUE_ROWS)
    );

    let watched = s.work_queue(WorkQueue::Watching, 2).unwrap();
    assert_eq!(nos(&watched), ["w03", "w07"]);
    assert_eq!(watched.total, 4, "any status in the watch");
    let watched = s.work_queue(WorkQueue::Watching, 10).unwrap();
    assert_eq!(nos(&watched), ["w03", "w07", "w08", "w09"]);

    let inc = s.latest_incidents(2).unwrap();
    let kinds: Vec<&str> = inc.rows.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["k4", "k3"], "newest first");
    assert_eq!(inc.total, 5);
    assert!(inc.is_cut());
    assert_eq!(s.latest_incidents(10).unwrap().rows.len(), 5);
    // The unbounded reads still see the same.
    assert_eq!(s.unfinished().unwrap().0.len(), 10);
    assert_eq!(s.incidents(None).unwrap().len(), 5);
}
both!(work_queues);

/// The console's search: by each number, terminal, status, time, amount;
/// newest first; the limit; an empty terminal list matches nothing.
async fn search_trades(h: H) {
    use engine::store::TradeQuery;
    let s = &h.store;
    let mut writes = Vec::new();
    for i in 0..30i64 {
        let st = if i % 3 == 0 {
            Status::Failed
        } else {
            Status::Success
        };
        let mut t = trade(&format!("GW{i:02}"), st);
        t.terminal = if i % 2 == 0 { "TA" } else { "TB" }.into();
        t.trade_no = Some(format!("2024{i:06}"));
        t.terminal_no = (i == 7).then(|| "MINE_7".to_owned());
        t.total_amount = Money::from_fen(100 + u64::try_from(i).unwrap());
        t.created_ms = 1_000 + i;
        writes.push(Write::Trade(Box::new(t)));
    }
    s.commit(writes).await.unwrap();
    let nos = |q: TradeQuery| -> Vec<String> {
        s.search_trades(&q)
            .unwrap()
            .into_iter()
            .map(|t| t.out_trade_no)
            .collect()
    };
    let q = |f: &dyn Fn(&mut TradeQuery)| {
        let mut q = TradeQuery {
            limit: 100,
            ..TradeQuery::default()
        };
        f(&mut q);
        q
    };
    assert_eq!(nos(q(&|q| q.text = Some("GW05".into()))), ["GW05"]);
    assert_eq!(nos(q(&|q| q.text = Some("2024000006".into()))), ["GW06"]);
    assert_eq!(nos(q(&|q| q.text = Some("MINE_7".into()))), ["GW07"]);
    assert!(nos(q(&|q| q.text = Some("NOPE".into()))).is_empty());
    let all = nos(q(&|_| {}));
    assert_eq!(all.len(), 30);
    assert_eq!(all[0], "GW29", "newest first");
    let ta = nos(q(&|q| q.terminals = Some(vec!["TA".into()])));
    assert_eq!(ta.len(), 15);
    assert!(ta.iter().all(|n| n[2..].parse::<u32>().unwrap() % 2 == 0));
    assert!(nos(q(&|q| q.terminals = Some(vec![]))).is_empty());
    let failed_tb = nos(q(&|q| {
        q.terminals = Some(vec!["TB".into(), "TX".into()]);
        q.status = Some("FAILED".into());
    }));
    assert_eq!(failed_tb, ["GW27", "GW21", "GW15", "GW09", "GW03"]);
    let window = nos(q(&|q| {
        q.created_from_ms = Some(1_010);
        q.created_to_ms = Some(1_013);
    }));
    assert_eq!(window, ["GW12", "GW11", "GW10"]);
    assert_eq!(nos(q(&|q| q.amount = Some(Money::from_fen(104)))), ["GW04"]);
    let limited = nos(q(&|q| q.limit = 4));
    assert_eq!(limited, ["GW29", "GW28", "GW27", "GW26"]);
}
both!(search_trades);

async fn visit_paid_on(h: H) {
    let s = &h.store;
    // More than one page (PostgreSQL reads 1000 at a time).
    let mut writes = Vec::new();
    for i in 0..1203 {
        let mut t = trade(&format!("p{i:05}"), Status::Success);
        t.gmt_payment = Some(if i % 4 == 3 {
            "2024-05-02 00:00:01".into()
        } else {
            "2024-05-01 23:59:59".into()
        });
        writes.push(Write::Trade(Box::new(t)));
    }
    // Not paid, or another app: never visited.
    writes.push(Write::Trade(Box::new(trade("unpaid", Status::Paying))));
    let mut other = trade("p00000", Status::Success);
    other.app_id = "B".into();
    other.gmt_payment = Some("2024-05-01 10:00:00".into());
    writes.push(Write::Trade(Box::new(other)));
    s.commit(writes).await.unwrap();
    let mut seen = Vec::new();
    s.visit_paid_on("A", "2024-05-01", &mut |t| {
        seen.push(t.out_trade_no);
        Ok(())
    })
    .unwrap();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 1203 - 300);
    assert!(seen.iter().all(|n| n.starts_with('p')));
    let mut n2 = 0;
    s.visit_paid_on("A", "2024-05-02", &mut |_| {
        n2 += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n2, 300);
    // The book's lean lines: the same trades, with their amounts and terminal.
    let mut full = std::collections::BTreeMap::new();
    s.visit_paid_on("A", "2024-05-01", &mut |t| {
        let receipt = t.receipt_amount.unwrap_or(t.total_amount).fen();
        full.insert(
            t.out_trade_no.clone(),
            (t.terminal.clone(), t.total_amount.fen(), receipt),
        );
        Ok(())
    })
    .unwrap();
    let mut lean = std::collections::BTreeMap::new();
    s.visit_book_on("A", "2024-05-01", &mut |l| {
        lean.insert(
            l.out_trade_no.to_owned(),
            (l.terminal.to_owned(), l.total_fen, l.receipt_fen),
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(lean, full);
    // The visitor's error stops the visit and comes back.
    let mut calls = 0;
    let r = s.visit_paid_on("A", "2024-05-01", &mut |_| {
        calls += 1;
        Err(StoreError::Corrupt("stop".into()))
    });
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert_eq!(calls, 1);
    // A trade that is refunded back to CLOSED leaves its day.
    s.commit(vec![Write::Trade(Box::new(trade(
        "p00000",
        Status::Closed,
    )))])
    .await
    .unwrap();
    let mut n = 0;
    s.visit_paid_on("A", "2024-05-01", &mut |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 1203 - 300 - 1);
}
both!(visit_paid_on);

async fn recon_runs(h: H) {
    let s = &h.store;
    assert!(s.last_recon_run().unwrap().is_none());
    for (d, r) in [("2024-05-02", 1), ("2024-05-01", 1), ("2024-05-01", 2)] {
        let mut rec = recon(d, r);
        rec.exit_code = 2;
        rec.open = 3;
        s.commit(vec![Write::ReconRun(Box::new(rec))])
            .await
            .unwrap();
    }
    let runs = s.recon_runs("2024-05-01").unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].run, runs[1].run), (1, 2));
    assert_eq!((runs[1].exit_code, runs[1].open), (2, 3));
    assert_eq!(runs[1].report, "{\"run\":2}");
    // The one recorded last, whatever its date.
    let last = s.last_recon_run().unwrap().unwrap();
    assert_eq!((last.bill_date.as_str(), last.run), ("2024-05-01", 2));
}
both!(recon_runs);

async fn close_and_reopen(mut h: H) {
    h.store
        .commit(vec![
            Write::Trade(Box::new(trade("kept", Status::Paying))),
            Write::Event(event("kept", "state")),
        ])
        .await
        .unwrap();
    // Queued commits are drained by close, then later commits fail.
    let queued: Vec<_> = (0..20)
        .map(|i| {
            h.store
                .commit(vec![Write::Event(event("kept", &format!("q{i}")))])
        })
        .collect();
    h.store.close();
    for c in queued {
        c.await.unwrap();
    }
    let r = h.store.commit(vec![]).await;
    assert!(matches!(r, Err(StoreError::Closed)), "{r:?}");
    // A restart finds everything that was acknowledged.
    h.reopen();
    assert_eq!(
        h.store.trade("A", "kept").unwrap().unwrap().status,
        Status::Paying
    );
    assert_eq!(h.store.events("A", "kept").unwrap().len(), 21);
    assert_eq!(h.store.unfinished().unwrap().0.len(), 1);
    h.store.commit(vec![]).await.unwrap();
    h.store.close();
}
both!(close_and_reopen);

// ---------- SQLite only ----------

/// A journal of the first console version (search by expression indexes
/// over the documents, no search columns) opened by this one: the columns are
/// filled from the documents, the expression indexes dropped, the search
/// finds the old rows, and a later write's trade_no is found too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_columns_of_an_earlier_journal() {
    use engine::store::TradeQuery;
    let mut h = H::sqlite();
    let mut t = trade("OLD1", Status::Paying);
    t.terminal = "TOLD".into();
    t.terminal_no = Some("MINE_OLD".into());
    t.created_ms = 5_000;
    h.store
        .commit(vec![Write::NewTrade(Box::new(t.clone()))])
        .await
        .unwrap();
    h.store.close();
    // Back to the earlier layout.
    h.raw(
        "DROP INDEX trades_by_trade_no; DROP INDEX trades_by_terminal_no;
         DROP INDEX trades_by_created; DROP INDEX trades_by_status_created;
         DROP INDEX trades_by_terminal_created;
         ALTER TABLE trades DROP COLUMN created_ms; ALTER TABLE trades DROP COLUMN terminal;
         ALTER TABLE trades DROP COLUMN terminal_no; ALTER TABLE trades DROP COLUMN trade_no;
         CREATE INDEX trades_created ON trades(json_extract(doc, '$.created_ms'));
         CREATE INDEX trades_status_created ON trades(status, json_extract(doc, '$.created_ms'));",
    )
    .await
    .unwrap();
    h.reopen();
    let Backend::Sqlite(dir) = &h.backend else {
        unreachable!()
    };
    let c = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
    let indexes: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'trades'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        !indexes
            .iter()
            .any(|n| n == "trades_created" || n == "trades_status_created"),
        "{indexes:?}"
    );
    assert!(
        indexes.iter().any(|n| n == "trades_by_status_created"),
        "{indexes:?}"
    );
    let row: (i64, String, String) = c
        .query_row(
            "SELECT created_ms, terminal, terminal_no FROM trades WHERE out_trade_no = 'OLD1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(row, (5_000, "TOLD".to_owned(), "MINE_OLD".to_owned()));
    let find = |q: TradeQuery| -> Vec<String> {
        h.store
            .search_trades(&q)
            .unwrap()
            .into_iter()
            .map(|t| t.out_trade_no)
            .collect()
    };
    let by_text = |text: &str| TradeQuery {
        text: Some(text.into()),
        limit: 10,
        ..TradeQuery::default()
    };
    assert_eq!(find(by_text("MINE_OLD")), ["OLD1"]);
    let window = TradeQuery {
        terminals: Some(vec!["TOLD".into()]),
        status: Some("PAYING".into()),
        created_from_ms: Some(4_000),
        created_to_ms: Some(6_000),
        limit: 10,
        ..TradeQuery::default()
    };
    assert_eq!(find(window), ["OLD1"]);
    // The next state brings the gateway's trade_no: searchable at once.
    let mut next = t.clone();
    next.status = Status::Success;
    next.trade_no = Some("2026120322001400001".into());
    next.version = 1;
    h.store
        .commit(vec![Write::TradeNext(Box::new(next))])
        .await
        .unwrap();
    assert_eq!(find(by_text("2026120322001400001")), ["OLD1"]);
    h.store.close();
}

// ---------- PostgreSQL only: migrations, secrets, several nodes ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_migrations_refuse_a_newer_schema() {
    let Some(h) = H::pg("pg_migrations").await else {
        return;
    };
    let p = h.cfg.postgres.clone().unwrap();
    // Applied at open; a second run has nothing to do.
    let again = engine::store::migrate(&h.cfg).unwrap();
    let v = engine::store::postgres::SCHEMA_VERSION;
    assert_eq!(again, engine::store::Migrated::Postgres { from: v, to: v });
    h.store.close();
    h.raw(&format!(
        "INSERT INTO payswitch_schema (version, name, applied_ms) VALUES ({}, 'from the future', 0)",
        v + 41
    ))
    .await
    .unwrap();
    let e = match engine::store::open(&h.cfg, Arc::new(Metrics::default())) {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e,
    };
    assert!(matches!(e, StoreError::SchemaTooNew { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&(v + 41).to_string()) && msg.contains(&v.to_string()),
        "{msg}"
    );
    assert!(engine::store::postgres::migrate_database(&p).is_err());
}

/// A trade's next version replaces only the version before it: a writer
/// holding an older copy (another node's change came first) gets Stale and
/// nothing of its commit is applied.
async fn next_version_or_stale(h: H) {
    let s = &h.store;
    let t0 = trade("cas", Status::Paying);
    s.commit(vec![Write::NewTrade(Box::new(t0.clone()))])
        .await
        .unwrap();
    let mut a = t0.clone();
    a.version = 1;
    a.status = Status::Success;
    let mut b = t0.clone();
    b.version = 1;
    b.status = Status::Closed;
    // Both writers read version 0; the first to commit wins.
    s.commit(vec![
        Write::TradeNext(Box::new(a)),
        Write::Event(event("cas", "a")),
    ])
    .await
    .unwrap();
    let lost = s
        .commit(vec![
            Write::TradeNext(Box::new(b)),
            Write::Event(event("cas", "b")),
        ])
        .await;
    assert!(
        matches!(lost, Err(StoreError::Stale { expected: 0 })),
        "{lost:?}"
    );
    let now = s.trade("A", "cas").unwrap().unwrap();
    assert_eq!((now.status, now.version), (Status::Success, 1));
    let kinds: Vec<String> = s
        .events("A", "cas")
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec!["a".to_string()],
        "the stale commit left nothing"
    );
    // Within one batch: the stale commit alone is skipped.
    let mut c = now.clone();
    c.version = 2;
    let mut stale = now.clone();
    stale.version = 1;
    let (r1, r2) = tokio::join!(
        s.commit(vec![Write::TradeNext(Box::new(c))]),
        s.commit(vec![
            Write::Event(event("cas", "c")),
            Write::TradeNext(Box::new(stale))
        ])
    );
    r1.unwrap();
    assert!(matches!(r2, Err(StoreError::Stale { .. })), "{r2:?}");
    assert_eq!(s.trade("A", "cas").unwrap().unwrap().version, 2);
    assert_eq!(s.events("A", "cas").unwrap().len(), 1);
    // A next version of a trade that does not exist is stale too.
    let mut ghost = trade("ghost", Status::Paying);
    ghost.version = 1;
    assert!(matches!(
        s.commit(vec![Write::TradeNext(Box::new(ghost))]).await,
        Err(StoreError::Stale { .. })
    ));
}
both!(next_version_or_stale);

/// A second node on the same database: the same config under another name.
fn node(cfg: &StoreConfig, name: &str) -> Arc<dyn Store> {
    let mut cfg = cfg.clone();
    if let Some(p) = cfg.postgres.as_mut() {
        p.node_id = name.into();
    }
    engine::store::open(&cfg, Arc::new(Metrics::default())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_work_is_leased_and_taken_over() {
    let Some(db) = PgDb::fresh("pg_leases").await else {
        return;
    };
    let cfg = pg_cfg(&db.url);
    let a = node(&cfg, "node-a");
    let b = node(&cfg, "node-b");
    assert!(a.shared() && a.node_id() == "node-a");
    // node-a creates a trade in flight, a final one and a pending relay.
    a.commit(vec![Write::NewTrade(Box::new(trade(
        "flying",
        Status::Paying,
    )))])
    .await
    .unwrap();
    a.commit(vec![Write::NewTrade(Box::new(trade(
        "done",
        Status::Paying,
    )))])
    .await
    .unwrap();
    let mut done = trade("done", Status::Success);
    done.version = 1;
    a.commit(vec![
        Write::TradeNext(Box::new(done)),
        Write::Relay(Box::new(Relay {
            app_id: "A".into(),
            out_trade_no: "done".into(),
            url: "http://127.0.0.1:1/r".into(),
            status: RelayStatus::Pending,
            attempts: 0,
            updated_ms: 1,
        })),
    ])
    .await
    .unwrap();
    let mut refund_owed = trade("refunding", Status::Success);
    refund_owed.refunding_amount = Money::from_fen(10);
    a.commit(vec![
        Write::Trade(Box::new(refund_owed)),
        Write::Refund(Box::new(refund(
            "refunding",
            "r1",
            RefundStatus::Unknown,
            3,
        ))),
    ])
    .await
    .unwrap();
    // While node-a renews, node-b takes nothing.
    for _ in 0..3 {
        assert!(a.renew_leases().unwrap() >= 3);
        assert!(b.claim_work(false, 100).unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // node-a stops renewing (it died): after the lease time node-b takes
    // the trade in flight, the refund in doubt and the relay, not the
    // final trade (it owes nothing).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let c = b.claim_work(false, 100).unwrap();
    let mut nos: Vec<&str> = c.trades.iter().map(|t| t.out_trade_no.as_str()).collect();
    nos.sort_unstable();
    assert_eq!(nos, ["flying", "refunding"]);
    assert_eq!(c.refunds.len(), 1);
    assert_eq!(c.relays.len(), 1);
    // Taken: node-a (back) cannot claim it again while node-b renews, and
    // node-b's renewal covers it.
    assert!(b.renew_leases().unwrap() >= 3);
    assert!(a.claim_work(true, 100).unwrap().is_empty());
    // A node restarted under its own name takes back its own work at once.
    let c = b.claim_work(true, 100).unwrap();
    assert_eq!(c.trades.len(), 2);
    // Work that ends releases the lease: node-b closes "flying".
    let mut closed = trade("flying", Status::Closed);
    closed.version = 1;
    b.commit(vec![Write::TradeNext(Box::new(closed))])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let c = a.claim_work(false, 100).unwrap();
    let nos: Vec<&str> = c.trades.iter().map(|t| t.out_trade_no.as_str()).collect();
    assert_eq!(nos, ["refunding"], "the closed trade owes nothing");
    // Two nodes claiming at the same instant never take the same row.
    for i in 0..200 {
        a.commit(vec![Write::NewTrade(Box::new(trade(
            &format!("m{i}"),
            Status::Paying,
        )))])
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (ca, cb) = std::thread::scope(|sc| {
        let ha = sc.spawn(|| a.claim_work(false, 60).unwrap());
        let hb = sc.spawn(|| b.claim_work(false, 60).unwrap());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let mut seen = std::collections::HashSet::new();
    for t in ca.trades.iter().chain(&cb.trades) {
        assert!(
            seen.insert(t.out_trade_no.clone()),
            "{} taken twice",
            t.out_trade_no
        );
    }
    assert_eq!(seen.len(), 120);
    a.close();
    b.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_named_leases_and_shared_nonces() {
    let Some(db) = PgDb::fresh("pg_named").await else {
        return;
    };
    let cfg = pg_cfg(&db.url);
    let a = node(&cfg, "node-a");
    let b = node(&cfg, "node-b");
    assert!(a.try_lease("recon:2026-01-01").unwrap());
    assert!(a.try_lease("recon:2026-01-01").unwrap(), "held: renewed");
    assert!(!b.try_lease("recon:2026-01-01").unwrap(), "one holder");
    assert!(b.try_lease("heartbeats").unwrap());
    a.release_lease("recon:2026-01-01").unwrap();
    assert!(b.try_lease("recon:2026-01-01").unwrap(), "released: free");
    // node-b dies: after the lease time node-a holds it.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(a.try_lease("heartbeats").unwrap());
    // A nonce seen by one node is refused by the other until it expires.
    let far = 4_000_000_000_000;
    a.claim_nonce("T1", "n0000000000000001", far).await.unwrap();
    assert!(matches!(
        b.claim_nonce("T1", "n0000000000000001", far).await,
        Err(StoreError::Exists)
    ));
    b.claim_nonce("T2", "n0000000000000001", far).await.unwrap();
    // An expired one may be used again (it would fail the time check
    // anyway), and expired ones are forgotten.
    a.claim_nonce("T1", "old", 1).await.unwrap();
    b.claim_nonce("T1", "old", 5).await.unwrap();
    assert_eq!(a.forget_expired_nonces(10).unwrap(), 1);
    assert!(a.pool_state().is_some());
    a.close();
    b.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_several_nodes_start_at_once() {
    let Some(db) = PgDb::fresh("pg_several_nodes").await else {
        return;
    };
    let cfg = pg_cfg(&db.url);
    // Four nodes migrate the same empty database at the same moment.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cfg = cfg.clone();
            std::thread::spawn(move || engine::store::open(&cfg, Arc::new(Metrics::default())))
        })
        .collect();
    let stores: Vec<Arc<dyn Store>> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    // One trade, one owner: the database decides.
    let mut results = Vec::new();
    for s in &stores {
        results.push(s.commit(vec![Write::NewTrade(Box::new(trade(
            "same",
            Status::Paying,
        )))]));
    }
    let mut ok = 0;
    for r in results {
        match r.await {
            Ok(()) => ok += 1,
            Err(StoreError::Exists) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 1);
    for s in &stores {
        assert!(s.trade("A", "same").unwrap().is_some());
        s.close();
    }
    let c = db.client().await;
    let n: i64 = c
        .query_one("SELECT COUNT(*) FROM payswitch_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, engine::store::postgres::SCHEMA_VERSION);
    let sc: String = c
        .query_one(
            "SELECT setting FROM pg_settings WHERE name = 'synchronous_commit'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sc, "on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_password_never_in_an_error() {
    let Some(db) = PgDb::fresh("pg_password").await else {
        return;
    };
    let bad = db.url.replacen(":payswitch_test@", ":Wr0ngPassw0rd@", 1);
    if bad == db.url {
        eprintln!("PAYSWITCH_TEST_PG_URL has another password form; case skipped");
        return;
    }
    let cfg = pg_cfg(&bad);
    assert!(!format!("{cfg:?}").contains("Wr0ngPassw0rd"));
    let e = match engine::store::open(&cfg, Arc::new(Metrics::default())) {
        Ok(_) => panic!("a wrong password must fail"),
        Err(e) => e.to_string(),
    };
    assert!(!e.contains("Wr0ngPassw0rd"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_migrate_command() {
    let Some(db) = PgDb::fresh("pg_migrate_command").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let text = common::config_text(
        "127.0.0.1:0",
        "http://127.0.0.1:1/gateway.do",
        "http://127.0.0.1:1/notify/alipay",
        "",
    )
    .replace(
        "[store]\npath = \"journal.db\"",
        &format!("[store]\nkind = \"postgres\"\nurl = \"{}\"", db.url),
    );
    let cfg = common::write_config(dir.path(), &text);
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_payswitch"))
            .args(["migrate", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let v = engine::store::postgres::SCHEMA_VERSION;
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        format!("schema version {v} (migrated from 0)")
    );
    let out = run();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("schema version {v} (up to date)")
    );
    // A newer database: exit 1, both versions named, no password.
    db.client()
        .await
        .batch_execute("INSERT INTO payswitch_schema VALUES (99, 'future', 0)")
        .await
        .unwrap();
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("99") && stderr.contains(&format!("binary's {v}")),
        "{stderr}"
    );
    assert!(!stderr.contains(":payswitch_test@"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_tls_verifies_the_server() {
    let Some(db) = PgDb::fresh("pg_tls").await else {
        return;
    };
    // Debian's cluster serves TLS with its snakeoil certificate (CN localhost).
    let ca = std::path::Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    if !ca.is_file() || !db.url.contains("@127.0.0.1:") {
        eprintln!("no local snakeoil certificate (or a remote server): TLS case skipped");
        return;
    }
    // The certificate names localhost, not 127.0.0.1: refused.
    let mut cfg = pg_cfg(&db.url);
    if let Some(p) = cfg.postgres.as_mut() {
        p.tls = true;
        p.ca_file = Some(ca.to_owned());
    }
    let e = match engine::store::open(&cfg, Arc::new(Metrics::default())) {
        Ok(_) => panic!("a certificate for another name must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(!e.contains(":payswitch_test@"), "{e}");
    // The name it carries, the server's certificate as the CA: TLS.
    let url = db.url.replacen("@127.0.0.1:", "@localhost:", 1);
    let mut cfg = pg_cfg(&url);
    if let Some(p) = cfg.postgres.as_mut() {
        p.tls = true;
        p.ca_file = Some(ca.to_owned());
    }
    let s = engine::store::open(&cfg, Arc::new(Metrics::default())).unwrap();
    s.commit(vec![Write::NewTrade(Box::new(trade(
        "tls",
        Status::Paying,
    )))])
    .await
    .unwrap();
    assert!(s.trade("A", "tls").unwrap().is_some());
    let c = db.client().await;
    let name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'payswitch' AND a.datname = $1 AND s.ssl",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(n >= 1, "no TLS session of the store");
    s.close();
}
