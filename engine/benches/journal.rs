//! Group commit of the journal: commits per second with `synchronous = FULL`
//! on disk, the same with the grouping disabled (`max_batch = 1`), and on
//! tmpfs (/dev/shm, where fsync costs nothing).
//!
//! Run: `cargo bench -p payswitch-engine --bench journal` (env
//! `JOURNAL_BENCH_SECS`, default 3 s per run).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::config::SyncMode;
use engine::metrics::Metrics;
use engine::store::sqlite::SqliteStore;
use engine::store::{Event, Store, Write};
use engine::trade::{Kind, Phase, Status, Trade};
use protocol::Money;

fn trade(no: String) -> Trade {
    Trade {
        app_id: "2021000000000001".into(),
        out_trade_no: no,
        kind: Kind::Pay,
        status: Status::Success,
        phase: Phase::Idle,
        fingerprint: "0".repeat(64),
        terminal: "T1".into(),
        total_amount: Money::from_fen(999),
        subject: "bench".into(),
        trade_no: Some("2026112222001400000000000001".into()),
        receipt_amount: Some(Money::from_fen(999)),
        buyer_logon_id: Some("abc***@x.com".into()),
        gmt_payment: Some("2026-11-22 10:00:00".into()),
        refunded_amount: Money::ZERO,
        code: Some("10000".into()),
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

async fn run(dir: &Path, max_batch: usize, writers: usize, secs: f64) -> (f64, f64) {
    let m = Arc::new(Metrics::default());
    let store = SqliteStore::open_path(&dir.join("bench.db"), SyncMode::Full, max_batch, m.clone())
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, done) = (store.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let t = trade(format!("B{w}_{i}"));
                let e = Event {
                    app_id: t.app_id.clone(),
                    out_trade_no: t.out_trade_no.clone(),
                    at_ms: 1,
                    kind: "state".into(),
                    detail: r#"{"from":"PAYING","to":"SUCCESS"}"#.into(),
                };
                store
                    .commit(vec![Write::Trade(Box::new(t)), Write::Event(e)])
                    .await
                    .unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t0 = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    let el = t0.elapsed().as_secs_f64();
    store.close();
    let (batches, commits) = m.journal_batches();
    (
        done.load(Ordering::Relaxed) as f64 / el,
        commits as f64 / batches.max(1) as f64,
    )
}

fn main() {
    let secs: f64 = std::env::var("JOURNAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("journal group commit, SQLite WAL synchronous=FULL, one trade row + one event per commit, {secs} s per run");
    println!(
        "{:<28} {:>8} {:>14} {:>16}",
        "journal on", "writers", "commits/s", "commits/fsync"
    );
    for writers in [1usize, 64, 512] {
        for (label, base, batch) in [
            ("disk, group commit", std::env::temp_dir(), 1024),
            ("disk, max_batch=1", std::env::temp_dir(), 1),
            ("tmpfs /dev/shm", std::path::PathBuf::from("/dev/shm"), 1024),
        ] {
            let dir = tempfile::tempdir_in(&base).unwrap();
            let (tps, per) = rt.block_on(run(dir.path(), batch, writers, secs));
            println!("{label:<28} {writers:>8} {tps:>14.0} {per:>16.1}");
        }
    }
}
