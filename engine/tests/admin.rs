//! The admin API (docs/API.md §1.4) of the real `payswitch` binary against the
//! real simulator: bearer tokens, merchant onboarding through
//! `ant.merchant.expand.indirect.create` (idempotent on external_id),
//! stores, terminals that authenticate at once, suspension, rotation with a
//! grace period, a restart on the same journal, and no terminal secret in
//! the journal file, the switch's log or any GET answer.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use bytes::Bytes;
use common::console::merchant_body;
use common::*;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TOKEN: &str = "admin-token-for-tests-0001";

fn admin_section(port: u16, with_key: bool) -> String {
    let key = if with_key {
        "secret_key_file = \"registry.key\"\n"
    } else {
        ""
    };
    format!(
        "\n[admin]\nlisten = \"127.0.0.1:{port}\"\ntoken_sha256 = [\"{}\"]\n{key}",
        hex::encode(Sha256::digest(TOKEN.as_bytes()))
    )
}

fn write_registry_key(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("registry.key");
    std::fs::write(&p, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// One admin request; the token is `token` (None: no Authorization header).
async fn admin(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value, String) {
    let c = http_client();
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let bytes = body.map(|v| v.to_string()).unwrap_or_default();
    let req = b.body(Full::new(Bytes::from(bytes))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), c.request(req))
        .await
        .expect("admin answers in time")
        .expect("admin answers");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, v, text)
}

async fn call(base: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value, String) {
    admin(base, method, path, body, Some(TOKEN)).await
}

fn spawn_switch(dir: &Path, config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("switch.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_payswitch"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("payswitch starts")
}

async fn wait_up(admin_base: &str) {
    for _ in 0..400 {
        if try_up(admin_base).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the switch did not come up");
}

async fn try_up(admin_base: &str) -> bool {
    let c = http_client();
    let req = http::Request::get(format!("{admin_base}/healthz"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    matches!(
        tokio::time::timeout(Duration::from_millis(500), c.request(req)).await,
        Ok(Ok(r)) if r.status() == 200
    )
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the switch did not stop on SIGTERM");
}

fn terminal(base: &str, key: &str, secret_hex: &str) -> Term {
    let mut t = Term::new(base);
    t.key = key.to_owned();
    t.secret = hex::decode(secret_hex).unwrap().try_into().unwrap();
    t
}

/// Every byte of the files under `dir` whose name starts with `prefix`.
fn files_text(dir: &Path, prefix: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(prefix) {
            out.extend(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The whole operator story on the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_onboards_merchants_and_terminals() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    ) + &admin_section(admin_port, true);
    write_registry_key(dir.path());
    let cfg = write_config(dir.path(), &text);
    let mut child = spawn_switch(dir.path(), &cfg);
    let base = format!("http://127.0.0.1:{port}");
    let ab = format!("http://127.0.0.1:{admin_port}");
    wait_up(&ab).await;
    let mut gets: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();

    // Tokens: missing, wrong, not Bearer.
    for tok in [None, Some("wrong-token-wrong-token")] {
        let (s, v, _) = admin(&ab, "GET", "/admin/v1/merchants", None, tok).await;
        assert_eq!(s, 401, "{v}");
        assert_eq!(v["error"]["code"], "auth_token");
    }
    // The admin API and the operator endpoints are on the operator listener
    // only; the terminal listener serves /v1 and /healthz.
    let (s, _, _) = admin(&base, "GET", "/admin/v1/merchants", None, Some(TOKEN)).await;
    assert_eq!(s, 404);
    for p in ["/metrics", "/readyz"] {
        let (s, _, _) = admin(&ab, "GET", p, None, None).await;
        assert_eq!(s, 200, "{p} on the admin listener");
        let (s, _, _) = admin(&base, "GET", p, None, None).await;
        assert_eq!(s, 404, "{p} on the terminal listener");
    }

    // A missing required field: 400 naming it, nothing stored, nothing onboarded.
    let mut bad = merchant_body("M001");
    bad.as_object_mut().unwrap().remove("alias_name");
    let (s, v, _) = call(&ab, "POST", "/admin/v1/merchants", Some(&bad)).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("alias_name")),
        "{v}"
    );
    let (s, _, _) = call(&ab, "GET", "/admin/v1/merchants/M001", None).await;
    assert_eq!(s, 404);
    let (_, onboarded) = sim_get(&sim.base_url(), "/_sim/merchants").await;
    assert_eq!(onboarded["merchants"].as_array().map(Vec::len), Some(0));

    // Create, then the same external_id again: the same smid, one onboarding.
    let (s, m, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants",
        Some(&merchant_body("M001")),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let smid = m["smid"].as_str().expect("smid").to_owned();
    assert!(smid.starts_with("2088") && smid.len() == 16, "{smid}");
    assert_eq!(m["status"], "ACTIVE");
    let (s, again, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants",
        Some(&merchant_body("M001")),
    )
    .await;
    assert_eq!((s, again["smid"].as_str()), (200, Some(smid.as_str())));
    let (_, onboarded) = sim_get(&sim.base_url(), "/_sim/merchants").await;
    let list = onboarded["merchants"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{onboarded}");
    assert_eq!(list[0]["sub_merchant_id"], smid.as_str());

    // Stores; a terminal needs one of the merchant's stores.
    let store = json!({"store_id": "SH_001", "name": "漕溪北路店"});
    let (s, v, _) = call(&ab, "POST", "/admin/v1/merchants/M001/stores", Some(&store)).await;
    assert_eq!(s, 201, "{v}");
    let (s, _, _) = call(&ab, "POST", "/admin/v1/merchants/M001/stores", Some(&store)).await;
    assert_eq!(s, 200, "the same store again");
    let (s, v, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants/M001/terminals",
        Some(&json!({"store_id": "NOPE", "terminal_id": "POS_01"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("store_id")),
        "{v}"
    );

    // A terminal: the secret once, and a pay signed with it works at once.
    let (s, t, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants/M001/terminals",
        Some(&json!({"store_id": "SH_001", "terminal_id": "POS_01", "equipment_type": "CR", "rate_per_sec": 1000})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let key = t["key_id"].as_str().unwrap().to_owned();
    let secret1 = t["secret_hex"].as_str().unwrap().to_owned();
    assert_eq!(secret1.len(), 64);
    secrets.push(secret1.clone());
    let term = terminal(&base, &key, &secret1);
    let (s, v) = term.pay("ADM_1", &auth_code("0000"), "8.80", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // The terminal keeps its number; the gateway's is the merchant's own.
    assert_eq!(v["out_trade_no"], "ADM_1", "{v}");
    let gw1 = v["gateway_out_trade_no"]
        .as_str()
        .expect("an onboarded merchant's number space is its own")
        .to_owned();
    let (_, ledger) = sim_trade(&sim, &gw1).await;
    assert_eq!(ledger["sub_merchant_id"], smid.as_str(), "{ledger}");
    assert_eq!(ledger["store_id"], "SH_001");
    assert_eq!(ledger["terminal_id"], "POS_01");

    let (s, _, g) = call(&ab, "GET", &format!("/admin/v1/terminals/{key}"), None).await;
    assert_eq!(s, 200);
    assert!(!g.contains("secret_hex"), "{g}");
    gets.push(g);
    let (s, v, g) = call(&ab, "GET", "/admin/v1/merchants/M001", None).await;
    assert_eq!((s, v["terminal_count"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["stores"][0]["store_id"], "SH_001");
    gets.push(g);

    // Suspend the terminal: new payments 403, queries and refunds still work.
    let (s, v, _) = call(
        &ab,
        "POST",
        &format!("/admin/v1/terminals/{key}/suspend"),
        None,
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUSPENDED")), "{v}");
    let (s, v) = term.pay("ADM_2", &auth_code("0000"), "1.00", 10).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("terminal_suspended")),
        "{v}"
    );
    let (s, v) = term.get("ADM_1").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")));
    let (s, v) = term
        .call(
            "POST",
            "/v1/trades/ADM_1/refunds",
            Some(&json!({"out_request_no": "R1", "refund_amount": "1.00"})),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (s, _, _) = call(
        &ab,
        "POST",
        &format!("/admin/v1/terminals/{key}/resume"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = term.pay("ADM_2", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");

    // Suspend the merchant: pay and precreate 403, the query still works.
    let (s, v, _) = call(&ab, "POST", "/admin/v1/merchants/M001/suspend", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUSPENDED")), "{v}");
    let (s, v) = term.pay("ADM_3", &auth_code("0000"), "1.00", 10).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("merchant_suspended")),
        "{v}"
    );
    let (s, v) = term
        .call(
            "POST",
            "/v1/precreate",
            Some(&json!({"out_trade_no": "ADM_Q", "total_amount": "1.00", "subject": "x"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("merchant_suspended")),
        "{v}"
    );
    let (s, _) = term.get("ADM_2").await;
    assert_eq!(s, 200);
    let (s, _, _) = call(&ab, "POST", "/admin/v1/merchants/M001/resume", None).await;
    assert_eq!(s, 200);

    // PATCH: the gateway's fields through .modify, the switch's own locally.
    let (s, v, _) = call(
        &ab,
        "PATCH",
        "/admin/v1/merchants/M001",
        Some(&json!({"alias_name": "新测试店", "merchant_fee_bps": 55})),
    )
    .await;
    assert_eq!(
        (s, v["alias_name"].as_str(), v["merchant_fee_bps"].as_u64()),
        (200, Some("新测试店"), Some(55)),
        "{v}"
    );
    let (_, sm) = sim_get(&sim.base_url(), &format!("/_sim/merchants/{smid}")).await;
    assert_eq!(sm["alias_name"], "新测试店", "{sm}");
    let (s, v, _) = call(
        &ab,
        "PATCH",
        "/admin/v1/merchants/M001",
        Some(&json!({"smid": "2088000000000001"})),
    )
    .await;
    assert_eq!((s, v["error"]["field"].as_str()), (400, Some("smid")));

    // Rotation: both secrets during the grace, only the new one after it.
    let (s, r, _) = call(
        &ab,
        "POST",
        &format!("/admin/v1/terminals/{key}/rotate"),
        Some(&json!({"grace_secs": 2})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let secret2 = r["secret_hex"].as_str().unwrap().to_owned();
    assert_ne!(secret1, secret2);
    secrets.push(secret2.clone());
    let new_term = terminal(&base, &key, &secret2);
    let (s, _) = term.get("ADM_1").await;
    assert_eq!(s, 200, "the old secret during the grace");
    let (s, _) = new_term.get("ADM_1").await;
    assert_eq!(s, 200, "the new secret at once");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (s, v) = term.get("ADM_1").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("auth_bad_signature")),
        "{v}"
    );
    let (s, _) = new_term.get("ADM_1").await;
    assert_eq!(s, 200);
    let (s, _, g) = call(&ab, "GET", "/admin/v1/merchants", None).await;
    assert_eq!(s, 200);
    gets.push(g);

    // A restart on the same journal: the registry comes back (secrets unsealed).
    stop(child);
    child = spawn_switch(dir.path(), &cfg);
    wait_up(&ab).await;
    let (s, v) = new_term.pay("ADM_4", &auth_code("0000"), "2.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (s, _, g) = call(&ab, "GET", &format!("/admin/v1/terminals/{key}"), None).await;
    assert_eq!(s, 200);
    gets.push(g);
    stop(child);
    assert!(!try_up(&ab).await);

    // No secret anywhere: journal (with its WAL), log, GET answers.
    let journal = files_text(dir.path(), "journal.db");
    let log = std::fs::read(dir.path().join("switch.log")).unwrap();
    assert!(!log.is_empty());
    for s in &secrets {
        let raw = hex::decode(s).unwrap();
        for (what, hay) in [("journal", &journal), ("log", &log)] {
            assert!(!contains(hay, s.as_bytes()), "secret_hex in the {what}");
            assert!(
                !contains(hay, s.to_uppercase().as_bytes()),
                "secret hex in the {what}"
            );
            assert!(!contains(hay, &raw), "raw secret in the {what}");
        }
        for g in &gets {
            assert!(!g.contains(s.as_str()), "secret in a GET answer: {g}");
        }
    }
    // Every change is an admin event naming the token, never a secret.
    let m = std::sync::Arc::new(engine::metrics::Metrics::default());
    let store = engine::store::sqlite::SqliteStore::open_path(
        &dir.path().join("journal.db"),
        engine::config::SyncMode::Full,
        16,
        m,
    )
    .unwrap();
    use engine::Store as _;
    let token_id = &hex::encode(Sha256::digest(TOKEN.as_bytes()))[..8];
    let kinds: Vec<String> = store
        .events("admin", "merchant/M001")
        .unwrap()
        .into_iter()
        .map(|e| {
            assert!(e.detail.contains(token_id), "{}", e.detail);
            e.kind
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "admin_merchant_created",
            "admin_store_created",
            "admin_merchant_suspended",
            "admin_merchant_resumed",
            "admin_merchant_modified"
        ]
    );
    let tkinds: Vec<String> = store
        .events("admin", &format!("terminal/{key}"))
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        tkinds,
        [
            "admin_terminal_created",
            "admin_terminal_suspended",
            "admin_terminal_resumed",
            "admin_terminal_rotated"
        ]
    );
    store.close();
    sim.shutdown().await;
}

/// Without `admin.secret_key_file` terminals cannot be created through the
/// admin API (the error names the field), while the TOML terminals keep
/// working; a terminal of a TOML `[[merchants]]` entry carries its smid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_registry_key_toml_terminals_still_work() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let admin_port = free_port();
    let (sw, base) = switch_with(dir.path(), &sim, "", |t| {
        t.replace(
            "store_id = \"SH_001\"",
            "store_id = \"SH_001\"\nmerchant = \"shop2\"",
        ) + "\n[[merchants]]\nexternal_id = \"shop2\"\nsmid = \"2088000000000002\"\n"
            + &admin_section(admin_port, false)
    })
    .await;
    let ab = format!("http://{}", sw.admin_addr().unwrap());
    let (s, m, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants",
        Some(&merchant_body("M002")),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let (s, _, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants/M002/stores",
        Some(&json!({"store_id": "S1", "name": "one"})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants/M002/terminals",
        Some(&json!({"store_id": "S1", "terminal_id": "T1"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (409, Some("admin.secret_key_file")),
        "{v}"
    );
    let (s, v) = Term::new(&base)
        .pay("TOML_1", &auth_code("0000"), "1.00", 10)
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // The config's terminals and merchants are shown, and changed only in the file.
    let (s, v, _) = call(&ab, "GET", "/admin/v1/terminals/T2", None).await;
    assert_eq!(
        (s, v["smid"].as_str(), v["external_id"].as_str()),
        (200, Some("2088000000000002"), Some("shop2")),
        "{v}"
    );
    assert_eq!(v["origin"], "config");
    let (s, v, _) = call(&ab, "POST", "/admin/v1/terminals/T2/suspend", None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("declared_in_config"))
    );
    let (s, v, _) = call(&ab, "GET", "/admin/v1/merchants/lab", None).await;
    assert_eq!((s, v["terminal_count"].as_u64()), (200, Some(1)), "{v}");
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Two merchants, one terminal number: two separate paid trades at the
/// gateway; a number of merchant A is not found for merchant B (404, never
/// 409); a lab terminal may not use a number of the onboarded shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_merchant_owns_its_out_trade_nos() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    ) + &admin_section(admin_port, true);
    write_registry_key(dir.path());
    let cfg = write_config(dir.path(), &text);
    let child = spawn_switch(dir.path(), &cfg);
    let base = format!("http://127.0.0.1:{port}");
    let ab = format!("http://127.0.0.1:{admin_port}");
    wait_up(&ab).await;
    let mut terms = Vec::new();
    let mut smids = Vec::new();
    for (m, store) in [("MA", "A_001"), ("MB", "B_001")] {
        let (s, v, _) = call(&ab, "POST", "/admin/v1/merchants", Some(&merchant_body(m))).await;
        assert_eq!(s, 201, "{v}");
        smids.push(v["smid"].as_str().unwrap().to_owned());
        let path = format!("/admin/v1/merchants/{m}/stores");
        let (s, v, _) = call(
            &ab,
            "POST",
            &path,
            Some(&json!({"store_id": store, "name": store})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let path = format!("/admin/v1/merchants/{m}/terminals");
        let body = json!({"store_id": store, "terminal_id": "POS_01", "rate_per_sec": 1000});
        let (s, t, _) = call(&ab, "POST", &path, Some(&body)).await;
        assert_eq!(s, 201, "{t}");
        terms.push(terminal(
            &base,
            t["key_id"].as_str().unwrap(),
            t["secret_hex"].as_str().unwrap(),
        ));
    }
    // The same number at both merchants: two paid trades.
    let mut gw = Vec::new();
    for (i, t) in terms.iter().enumerate() {
        let amount = ["1.00", "2.00"][i];
        let (s, v) = t.pay("SAME_1", &auth_code("0000"), amount, 10).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
        assert_eq!(v["out_trade_no"], "SAME_1");
        gw.push(v["gateway_out_trade_no"].as_str().unwrap().to_owned());
    }
    assert_ne!(gw[0], gw[1]);
    for (i, g) in gw.iter().enumerate() {
        assert!(g.len() <= 64 && g.ends_with("SAME_1"), "{g}");
        let (s, l) = sim_trade(&sim, g).await;
        assert_eq!(s, 200, "{l}");
        assert_eq!(l["status"], "TRADE_SUCCESS");
        assert_eq!(l["sub_merchant_id"], smids[i].as_str(), "{l}");
        assert_eq!(l["total_amount"], ["1.00", "2.00"][i], "{l}");
    }
    // A refund carries the terminal's store_id and terminal_id to the gateway.
    let (s, v) = terms[0]
        .call(
            "POST",
            "/v1/trades/SAME_1/refunds",
            Some(&json!({"out_request_no": "R1", "refund_amount": "0.50"})),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (_, l) = sim_trade(&sim, &gw[0]).await;
    assert_eq!(l["refunds"][0]["store_id"], "A_001", "{l}");
    assert_eq!(l["refunds"][0]["terminal_id"], "POS_01", "{l}");
    // A's trade is not B's: 404 for reads and cancels, a fresh trade on pay.
    let (s, v) = terms[0].pay("ONLY_A", &auth_code("0000"), "3.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (s, v) = terms[1].get("ONLY_A").await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = terms[1]
        .call("POST", "/v1/trades/ONLY_A/cancel", None)
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = terms[1]
        .call(
            "POST",
            "/v1/trades/ONLY_A/refunds",
            Some(&json!({"out_request_no": "R1", "refund_amount": "1.00"})),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    // A lab terminal (the TOML's T1) may not use the onboarded shape.
    let lab = Term::new(&base);
    let (s, v) = lab.pay(&gw[0], &auth_code("0000"), "1.00", 10).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("out_trade_no")),
        "{v}"
    );
    stop(child);
    sim.shutdown().await;
}

/// A smid the registry holds for one merchant is refused for another (the
/// configuration declares a merchant with the smid the simulator hands out
/// first, so onboarding a second merchant meets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_smid_is_registered_to_one_merchant_only() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let first = simulator::merchants::smid_of(1);
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    ) + &admin_section(admin_port, true)
        + &format!("\n[[merchants]]\nexternal_id = \"CFG\"\nsmid = \"{first}\"\n");
    write_registry_key(dir.path());
    let cfg = write_config(dir.path(), &text);
    let child = spawn_switch(dir.path(), &cfg);
    let ab = format!("http://127.0.0.1:{admin_port}");
    wait_up(&ab).await;
    let (s, v, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants",
        Some(&merchant_body("MX")),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("smid_taken")),
        "{v}"
    );
    let (s, _, _) = call(&ab, "GET", "/admin/v1/merchants/MX", None).await;
    assert_eq!(s, 404, "nothing stored for MX");
    // The next onboarding gets another smid and is stored.
    let (s, v, _) = call(
        &ab,
        "POST",
        "/admin/v1/merchants",
        Some(&merchant_body("MY")),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_ne!(v["smid"].as_str(), Some(first.as_str()));
    stop(child);
    sim.shutdown().await;
}
