//! The switch in-process on a PostgreSQL journal against the simulator:
//! pay, query, refund, restart (in another folder: nothing local is kept)
//! and find every trade again. Skips (printing why) only when no
//! PostgreSQL server can be had, and never under CI=true.

mod common;

use std::time::Duration;

use common::pg::PgDb;
use common::*;
use serde_json::json;

fn on_postgres(url: &str) -> impl FnOnce(String) -> String + '_ {
    move |text: String| {
        text.replace(
            "[store]\npath = \"journal.db\"",
            &format!("[store]\nkind = \"postgres\"\nurl = \"{url}\"\npool_size = 4"),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pay_query_refund_restart_on_postgres() {
    let Some(db) = PgDb::fresh("pg_flows").await else {
        return;
    };
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, "", on_postgres(&db.url)).await;
    assert!(sw.set_journal_max_pages(10).await.is_err());
    let t = Term::new(&base);
    let code = auth_code("0000");
    let (s, v) = t.pay("PG_1", &code, "100.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (s, v) = t.get("PG_1").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // The same out_trade_no again: the same trade, no second charge.
    let (_, again) = t.pay("PG_1", &code, "100.00", 10).await;
    assert_eq!(again["status"], "SUCCESS", "{again}");
    let r1 = json!({"out_request_no": "R1", "refund_amount": "30.00", "refund_reason": "damaged"});
    let (s, v) = t.call("POST", "/v1/trades/PG_1/refunds", Some(&r1)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // A 10003 payment left to the background (the buyer types a password).
    let (s, v) = t.pay("PG_2", &auth_code("1003"), "5.00", 0).await;
    assert!(s == 200 || s == 202, "{s} {v}");
    let (_, v) = t.pay("PG_3", &auth_code("4004"), "1.00", 10).await;
    assert_eq!(v["status"], "FAILED", "{v}");
    // The journal is the database: the trades are there.
    let store = sw.store();
    let rows = tokio::task::spawn_blocking(move || store.all_trades())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), 3);
    sw.shutdown().await.unwrap();

    // Restart in another folder: only PostgreSQL carries the state.
    let dir2 = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir2.path(), &sim, "", on_postgres(&db.url)).await;
    assert!(!dir.path().join("journal.db").exists());
    let t = Term::new(&base);
    let (s, v) = t.get("PG_1").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    assert_eq!(v["refunded_amount"], "30.00", "{v}");
    let (s, v) = t.call("GET", "/v1/trades/PG_1/refunds/R1", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let v = t.until_final("PG_2", Duration::from_secs(30)).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    assert!(agrees("SUCCESS", &sim_trade(&sim, "PG_2").await));
    let (_, v) = t.get("PG_3").await;
    assert_eq!(v["status"], "FAILED", "{v}");
    // The event log came along too.
    let store = sw.store();
    let events = tokio::task::spawn_blocking(move || store.events("2021000000000001", "PG_1"))
        .await
        .unwrap()
        .unwrap();
    assert!(events.len() >= 2, "{events:?}");
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}
