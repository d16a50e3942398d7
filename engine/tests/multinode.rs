//! Two switch nodes in this process sharing one PostgreSQL journal and one
//! simulator: the database decides who owns a trade (the same out_trade_no
//! at both nodes at the same instant pays once), nonces are shared (a
//! request replayed to the other node is refused), a notification or an
//! admin change at one node holds at the other. The SIGKILL test of two
//! node processes under loadgen is loadgen/tests/multinode.rs. Skips
//! (printing why) only when no PostgreSQL server can be had, never under
//! CI=true.

mod common;

use std::time::Duration;

use common::pg::PgDb;
use common::*;
use serde_json::json;

/// The test config on the shared database as node `node`.
fn node_config(url: &str, node: &str) -> impl FnOnce(String) -> String {
    let (url, node) = (url.to_owned(), node.to_owned());
    move |text: String| {
        text.replace(
            "[store]\npath = \"journal.db\"",
            &format!(
                "[store]\nkind = \"postgres\"\nurl = \"{url}\"\npool_size = 8\nnode_id = \"{node}\"\nlease_ms = 2000"
            ),
        )
        .replace("\n[admin]\n", "\n[admin]\nsecret_key_file = \"registry.key\"\n")
    }
}

struct Nodes {
    a: engine::Running,
    b: engine::Running,
    ta: Term,
    tb: Term,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// The registry key, the same at every node (terminal secrets are sealed
/// under it in the shared journal).
fn write_registry_key(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("registry.key");
    std::fs::write(&p, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An admin API call with the operators' token.
async fn admin(
    ops: &Term,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    ops.raw(method, path, bytes, Some(format!("Bearer {OPS_TOKEN}")))
        .await
        .expect("the admin API answers")
}

async fn two_nodes(db: &PgDb, sim: &simulator::SimHandle) -> Nodes {
    let (da, db_) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_registry_key(da.path());
    write_registry_key(db_.path());
    let (a, base_a) = switch_with(da.path(), sim, "", node_config(&db.url, "node-a")).await;
    let (b, base_b) = switch_with(db_.path(), sim, "", node_config(&db.url, "node-b")).await;
    Nodes {
        a,
        b,
        ta: Term::new(&base_a),
        tb: Term::new(&base_b),
        _dirs: (da, db_),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_out_trade_no_at_both_nodes_pays_once() {
    let Some(db) = PgDb::fresh("mn_same_no").await else {
        return;
    };
    let sim = sim().await;
    let n = two_nodes(&db, &sim).await;
    const PAIRS: usize = 1_000;
    const AT_ONCE: usize = 25;
    let code = auth_code("0000");
    let mut both_success = 0;
    for chunk in (0..PAIRS).collect::<Vec<_>>().chunks(AT_ONCE) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let (ta, tb, code) = (n.ta.clone(), n.tb.clone(), code.clone());
            set.spawn(async move {
                let no = format!("MN_{i:04}");
                // The same request at both nodes at the same instant.
                let (ra, rb) = tokio::join!(
                    ta.pay(&no, &code, "1.00", 10),
                    tb.pay(&no, &code, "1.00", 10)
                );
                (no, ra, rb)
            });
        }
        while let Some(r) = set.join_next().await {
            let (no, (sa, va), (sb, vb)) = r.unwrap();
            assert_eq!((sa, sb), (200, 200), "{no}: {va} / {vb}");
            assert_eq!(
                va["status"], vb["status"],
                "{no}: the nodes disagree: {va} / {vb}"
            );
            if va["status"] == "SUCCESS" {
                both_success += 1;
            }
        }
    }
    assert_eq!(
        both_success, PAIRS,
        "every pay settles SUCCESS within its wait"
    );
    // One payment each at the gateway.
    let (s, ledger) = sim_get(&sim.base_url(), "/_sim/trades").await;
    assert_eq!(s, 200);
    let trades = ledger["trades"].as_array().expect("the ledger's trades");
    let ours: Vec<_> = trades
        .iter()
        .filter(|t| {
            t["out_trade_no"]
                .as_str()
                .is_some_and(|o| o.starts_with("MN_"))
        })
        .collect();
    assert_eq!(ours.len(), PAIRS);
    for t in &ours {
        assert_eq!(t["pay_count"], 1, "{t}");
    }
    // The loser of each race answered from the winner's trade: one row each.
    let store = n.a.store();
    let rows = tokio::task::spawn_blocking(move || store.all_trades())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), PAIRS);
    n.a.shutdown().await.unwrap();
    n.b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_replayed_to_the_other_node_is_refused() {
    let Some(db) = PgDb::fresh("mn_replay").await else {
        return;
    };
    let sim = sim().await;
    let n = two_nodes(&db, &sim).await;
    let body = serde_json::to_vec(&json!({
        "out_trade_no": "MN_REPLAY", "auth_code": auth_code("0000"),
        "total_amount": "3.00", "subject": "replay"
    }))
    .unwrap();
    let ts = unix_now();
    let nonce = nonce();
    let header = n.ta.auth_header("POST", "/v1/pay", &body, ts, &nonce);
    let send = |t: &Term| {
        let (t, body, header) = (t.clone(), body.clone(), header.clone());
        async move { t.raw("POST", "/v1/pay", body, Some(header)).await.unwrap() }
    };
    let (s, v) = send(&n.ta).await;
    assert_eq!(s, 200, "{v}");
    // The very same bytes, captured on the wire and sent to the other node.
    let (s, v) = send(&n.tb).await;
    assert_eq!(s, 401, "{v}");
    assert_eq!(v["error"]["code"], "auth_replay", "{v}");
    // And to the first node again.
    let (s, _) = send(&n.ta).await;
    assert_eq!(s, 401);
    n.a.shutdown().await.unwrap();
    n.b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trade_moves_on_at_either_node() {
    let Some(db) = PgDb::fresh("mn_either").await else {
        return;
    };
    let sim = sim().await;
    let n = two_nodes(&db, &sim).await;
    // Paid at node-a, refunded twice at node-b and node-a at once: the
    // refund ceiling holds across nodes (the trade's version decides).
    let (s, v) = n.ta.pay("MN_REF", &auth_code("0000"), "10.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let r1 = json!({"out_request_no": "R1", "refund_amount": "7.00"});
    let r2 = json!({"out_request_no": "R2", "refund_amount": "7.00"});
    let (x, y) = tokio::join!(
        n.tb.call("POST", "/v1/trades/MN_REF/refunds", Some(&r1)),
        n.ta.call("POST", "/v1/trades/MN_REF/refunds", Some(&r2))
    );
    let ok = [&x, &y]
        .iter()
        .filter(|(s, v)| *s == 200 && v["status"] == "SUCCESS")
        .count();
    assert_eq!(ok, 1, "one refund of 7.00 fits in 10.00: {x:?} {y:?}");
    let refused: Vec<_> = [&x, &y].into_iter().filter(|(s, _)| *s == 400).collect();
    assert_eq!(refused.len(), 1, "{x:?} {y:?}");
    assert_eq!(
        refused[0].1["error"]["field"], "refund_amount",
        "{:?}",
        refused[0]
    );
    let (_, l) = sim_trade(&sim, "MN_REF").await;
    assert_eq!(l["refunded_amount"], "7.00", "{l}");
    // Either node answers the trade as it is now.
    for t in [&n.ta, &n.tb] {
        let (_, v) = t.get("MN_REF").await;
        assert_eq!(v["refunded_amount"], "7.00", "{v}");
    }
    // A 10003 pay made at node-a and waited for at node-b: node-b follows
    // the trade in the journal while node-a polls.
    let code = auth_code("1003");
    let (s, v) = n.ta.pay("MN_POLL", &code, "2.00", 0).await;
    assert!(s == 200 || s == 202, "{s} {v}");
    let (s, v) = n.tb.pay("MN_POLL", &code, "2.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // A cancel at node-b of a trade node-a is polling: one decision.
    let (s, v) = n.ta.pay("MN_CANCEL", &auth_code("1003"), "2.00", 0).await;
    assert!(s == 200 || s == 202, "{s} {v}");
    let (s, v) = n.tb.call("POST", "/v1/trades/MN_CANCEL/cancel", None).await;
    assert!(s == 200 || s == 409, "{s} {v}");
    let va = n.ta.until_final("MN_CANCEL", Duration::from_secs(20)).await;
    let vb = n.tb.until_final("MN_CANCEL", Duration::from_secs(20)).await;
    assert_eq!(va["status"], vb["status"], "{va} / {vb}");
    assert!(agrees(
        va["status"].as_str().unwrap(),
        &sim_trade(&sim, "MN_CANCEL").await
    ));
    // The admin API at either node: a merchant and a terminal created at
    // node-a pay at node-b; suspended at node-b, refused at node-a.
    let (ops_a, ops_b) = (ops(&n.a), ops(&n.b));
    let merchant = common::console::merchant_body("MN_M1");
    let (s, v) = admin(&ops_a, "POST", "/admin/v1/merchants", Some(&merchant)).await;
    assert_eq!(s, 201, "{v}");
    let store = json!({"store_id": "SH_001", "name": "漕溪北路店"});
    let (s, v) = admin(
        &ops_a,
        "POST",
        "/admin/v1/merchants/MN_M1/stores",
        Some(&store),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, t) = admin(
        &ops_a,
        "POST",
        "/admin/v1/merchants/MN_M1/terminals",
        Some(&json!({"store_id": "SH_001", "terminal_id": "POS_09", "rate_per_sec": 1000})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let key = t["key_id"].as_str().unwrap().to_owned();
    let secret = hex::decode(t["secret_hex"].as_str().unwrap()).unwrap();
    let mut at_b = Term::new(&n.tb.base);
    at_b.key = key.clone();
    at_b.secret = secret.clone().try_into().unwrap();
    let mut at_a = Term::new(&n.ta.base);
    at_a.key = key.clone();
    at_a.secret = secret.try_into().unwrap();
    let paid = eventually(
        Duration::from_secs(10),
        "the new terminal pays at node-b",
        || {
            let t = at_b.clone();
            async move {
                let (s, v) = t.pay("MN_NEWTERM", &auth_code("0000"), "1.00", 10).await;
                (s == 200).then_some(v)
            }
        },
    )
    .await;
    assert_eq!(paid["status"], "SUCCESS", "{paid}");
    let (s, v) = admin(
        &ops_b,
        "POST",
        &format!("/admin/v1/terminals/{key}/suspend"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let mut i = 0;
    eventually(
        Duration::from_secs(10),
        "the suspension reaches node-a",
        || {
            i += 1;
            let (t, no) = (at_a.clone(), format!("MN_SUSP_{i}"));
            async move {
                let (s, v) = t.pay(&no, &auth_code("0000"), "1.00", 1).await;
                (s == 403).then(|| assert_eq!(v["error"]["code"], "terminal_suspended", "{v}"))
            }
        },
    )
    .await;
    n.a.shutdown().await.unwrap();
    n.b.shutdown().await.unwrap();
}

/// A TCP proxy to PostgreSQL that the test can cut (every connection
/// closed, new ones refused) and restore: the database unreachable from
/// the node without stopping the server other tests share.
struct DbLink {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl DbLink {
    async fn to(target: &str) -> DbLink {
        use std::sync::atomic::Ordering;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (up2, cut2, target) = (up.clone(), cut.clone(), target.to_owned());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                if !up2.load(Ordering::Acquire) {
                    continue; // dropped: refused
                }
                let target = target.clone();
                let mut cut_rx = cut2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut out) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        DbLink { port, up, cut }
    }
    fn set(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::Release);
        if !up {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_away_and_back() {
    let Some(db) = PgDb::fresh("mn_db_away").await else {
        return;
    };
    // host:port of the database, and the URL through the link.
    let after_at = db.url.rsplit_once('@').map(|x| x.1).unwrap();
    let hostport = after_at.split('/').next().unwrap().to_owned();
    let link = DbLink::to(&hostport).await;
    let via = db
        .url
        .replace(&hostport, &format!("127.0.0.1:{}", link.port));
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_registry_key(dir.path());
    let (sw, base) = switch_with(dir.path(), &sim, "", node_config(&via, "node-a")).await;
    let t = Term::new(&base);
    let o = ops(&sw);
    let (s, v) = t.pay("AWAY_0", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // A 10003 trade in flight when the database goes away.
    let (s, v) = t.pay("AWAY_1", &auth_code("1003"), "2.00", 0).await;
    assert!(s == 200 || s == 202, "{s} {v}");
    link.set(false);
    // /readyz: not ready, the journal failing; new payments 503.
    eventually(
        Duration::from_secs(15),
        "readyz says the journal fails",
        || {
            let o = o.clone();
            async move {
                let (s, v) = o.raw("GET", "/readyz", vec![], None).await.ok()?;
                (s == 503 && v["journal"] == "failing").then_some(())
            }
        },
    )
    .await;
    let (s, v) = t.pay("AWAY_2", &auth_code("0000"), "1.00", 5).await;
    assert_eq!(s, 503, "{v}");
    assert!(
        ["journal_unavailable", "journal_busy"]
            .contains(&v["error"]["code"].as_str().unwrap_or("")),
        "{v}"
    );
    // Counted by the first commit that fails (the lease renewal or a trade's
    // poll), which may come a moment after readiness saw the failure.
    eventually(
        Duration::from_secs(10),
        "payswitch_journal_failures_total counts the failure",
        || {
            let o = o.clone();
            async move {
                (metric_sum(&o, "payswitch_journal_failures_total").await >= 1.0).then_some(())
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Back: ready again, the held trade finishes, new payments work.
    link.set(true);
    eventually(Duration::from_secs(30), "readyz is ready again", || {
        let o = o.clone();
        async move {
            let (s, _) = o.raw("GET", "/readyz", vec![], None).await.ok()?;
            (s == 200).then_some(())
        }
    })
    .await;
    let v = t.until_final("AWAY_1", Duration::from_secs(30)).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    assert!(agrees("SUCCESS", &sim_trade(&sim, "AWAY_1").await));
    let (s, v) = t.pay("AWAY_3", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // AWAY_2 was refused before anything was sent: the gateway never saw it.
    assert_eq!(sim_trade(&sim, "AWAY_2").await.0, 404);
    let m = o.raw("GET", "/metrics", vec![], None).await.unwrap().1;
    let m = m.as_str().unwrap_or_default();
    assert!(
        m.contains("payswitch_journal_pool_connections{state=\"max\"} 8"),
        "{m}"
    );
    assert!(
        sample_value(m, "payswitch_journal_commit_seconds_count").is_some_and(|n| n >= 1.0),
        "{m}"
    );
    sw.shutdown().await.unwrap();
}
