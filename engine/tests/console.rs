//! The operator console (docs/ENGINE.md, "The operator console") of an
//! in-process switch against the real simulator, on loopback: login by
//! token (cookie) and by the Authorization header; a wrong or missing
//! token shows the login page and no data; no console on the terminal
//! listener; CSRF and cross-site POSTs refused; trade search and the trade
//! page with the gateway's answers (a paid trade, a 1004 trade polled 12
//! times and cancelled); a reconciliation difference injected in the
//! simulator's bill, marked explained, the note journaled; a terminal
//! suspended from the console refuses its next pay; a rotation shows the
//! new secret once.

mod common;

use std::time::Duration;

use common::console::*;
use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refusals_terminal_listener_and_csrf() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, admin) = console_switch(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (s, v) = t
        .pay("CONSOLE_SECRET_1", &auth_code("0000"), "12.34", 10)
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let trade_no = v["trade_no"].as_str().unwrap().to_owned();

    // No token, a wrong token, a forged cookie: the login page, no data.
    for auth in [
        Auth::None,
        Auth::Bearer("not-the-token"),
        Auth::Cookie(
            "psw_console=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
    ] {
        for path in [
            "/console/",
            "/console/trades?q=CONSOLE_SECRET_1",
            "/console/trades/CONSOLE_SECRET_1",
            "/console/queues",
            "/console/terminals",
            "/console/merchants",
            "/console/recon",
        ] {
            let a = get(&admin, path, auth).await;
            assert!(is_login_page(&a), "{path}: {} {}", a.status, a.body);
            assert!(!a.body.contains("CONSOLE_SECRET_1"), "{path}");
            assert!(!a.body.contains(&trade_no), "{path}");
            assert!(!a.body.contains("T1"), "{path}: {}", a.body);
        }
    }
    // A POST without a session changes nothing either.
    let a = console(
        &admin,
        "POST",
        "/console/terminals/T1/suspend",
        Auth::None,
        Some(&[]),
        &[],
    )
    .await;
    assert!(is_login_page(&a), "{} {}", a.status, a.body);

    // Not on the terminal listener.
    for path in [
        "/console/",
        "/console/login",
        "/console/trades?q=CONSOLE_SECRET_1",
    ] {
        let a = get(&base, path, Auth::Bearer(OPS_TOKEN)).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert!(
            !a.body.contains("CONSOLE_SECRET_1") && !a.body.contains("<form"),
            "{}",
            a.body
        );
    }

    // A wrong token at the login form: the login page again.
    let login = get(&admin, "/console/login", Auth::None).await;
    assert!(login.body.contains("name=\"token\""), "{}", login.body);
    let a = login_form(&admin, "wrong", &[]).await;
    assert!(is_login_page(&a), "{} {}", a.status, a.body);
    assert!(a.headers.get("set-cookie").is_none());
    // A login from another site is refused.
    let a = login_form(&admin, OPS_TOKEN, &[("origin", "http://evil.example")]).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.headers.get("set-cookie").is_none());

    // The right token: a session cookie (HttpOnly, SameSite=Strict), never the token.
    let a = login_form(&admin, OPS_TOKEN, &[]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    let cookie = a.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("psw_console="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/console"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(
        !cookie.contains(OPS_TOKEN)
            && !cookie.contains(&hex::encode(Sha256::digest(OPS_TOKEN.as_bytes()))),
        "{cookie}"
    );
    let session = session_of(&a);
    let me = Auth::Cookie(&session);

    let a = get(&admin, "/console/trades?q=CONSOLE_SECRET_1", me).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("CONSOLE_SECRET_1") && a.body.contains(&trade_no),
        "{}",
        a.body
    );
    assert_eq!(a.headers["cache-control"], "no-store");
    assert!(a.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    // The same with the Authorization header.
    let a = get(
        &admin,
        "/console/trades?q=CONSOLE_SECRET_1",
        Auth::Bearer(OPS_TOKEN),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains(&trade_no));
    // Chinese on ?lang=zh (and the choice kept in a cookie) or Accept-Language.
    let a = get(&admin, "/console/trades?lang=zh", me).await;
    assert!(
        a.body.contains("交易") && a.body.contains("lang=\"zh-CN\""),
        "{}",
        a.body
    );
    assert!(a.headers["set-cookie"]
        .to_str()
        .unwrap()
        .starts_with("psw_lang=zh"));
    let a = console(
        &admin,
        "GET",
        "/console/",
        me,
        None,
        &[("accept-language", "zh-CN,zh;q=0.9")],
    )
    .await;
    assert!(a.body.contains("总览"), "{}", a.body);

    // CSRF: a POST without the form's token, or with another form's, or
    // from another site, is refused and changes nothing.
    let page = get(&admin, "/console/terminals", me).await.body;
    let logout_csrf = csrf_of(&page, "/console/logout");
    for form in [
        vec![],
        vec![("csrf", "00")],
        vec![("csrf", logout_csrf.as_str())],
    ] {
        let a = console(
            &admin,
            "POST",
            "/console/trades/CONSOLE_SECRET_1/query",
            me,
            Some(&form),
            &[],
        )
        .await;
        assert_eq!(a.status, 403, "{}", a.body);
    }
    let page = get(&admin, "/console/trades/CONSOLE_SECRET_1", me).await;
    assert_eq!(page.status, 200);
    let a = console(
        &admin,
        "POST",
        "/console/logout",
        me,
        Some(&[("csrf", logout_csrf.as_str())]),
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // A bearer caller's tokens do not work for the session, nor the reverse.
    let bearer_page = get(&admin, "/console/terminals", Auth::Bearer(OPS_TOKEN))
        .await
        .body;
    assert_ne!(csrf_of(&bearer_page, "/console/logout"), logout_csrf);

    // Log out: the session is gone.
    let a = console(
        &admin,
        "POST",
        "/console/logout",
        me,
        Some(&[("csrf", logout_csrf.as_str())]),
        &[],
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(a.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let a = get(&admin, "/console/trades?q=CONSOLE_SECRET_1", me).await;
    assert!(is_login_page(&a), "{} {}", a.status, a.body);
    sw.shutdown().await.unwrap();
}

/// How many timeline rows name `method`.
fn rows_with(page: &str, method: &str) -> usize {
    page.matches(&format!("<td>{method}</td>")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_the_trade_page_show_the_gateway_answers() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, admin) = console_switch(dir.path(), &sim).await;
    let t = Term::new(&base);
    let me = Auth::Bearer(OPS_TOKEN);

    let code = auth_code("0000");
    let (s, v) = t.pay("CON_PAID_1", &code, "66.60", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let trade_no = v["trade_no"].as_str().unwrap().to_owned();
    let (s, v) = t.pay("CON_FAIL_1", &auth_code("4004"), "5.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("FAILED")), "{v}");

    // Search by each number, and by the other criteria.
    for q in ["CON_PAID_1", trade_no.as_str()] {
        let a = get(&admin, &format!("/console/trades?q={q}"), me).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(
            a.body.contains("/console/trades/CON_PAID_1"),
            "{q}: {}",
            a.body
        );
        assert!(!a.body.contains("CON_FAIL_1"), "{q}");
    }
    for (query, paid, failed) in [
        ("status=SUCCESS", true, false),
        ("status=FAILED", false, true),
        ("amount=66.60", true, false),
        ("amount=66.61", false, false),
        ("terminal=POS_01", true, true),
        ("terminal=T2", false, false),
        ("store=NJ_001&status=FAILED", false, true),
        ("from=2000-01-01&to=2000-01-02", false, false),
        ("from=2000-01-01", true, true),
        ("", true, true),
    ] {
        let a = get(&admin, &format!("/console/trades?{query}"), me).await;
        assert_eq!(a.status, 200, "{query}: {}", a.body);
        assert_eq!(
            a.body.contains("/console/trades/CON_PAID_1\""),
            paid,
            "{query}: {}",
            a.body
        );
        assert_eq!(
            a.body.contains("/console/trades/CON_FAIL_1\""),
            failed,
            "{query}"
        );
    }
    let a = get(&admin, "/console/trades?status=NOPE", me).await;
    assert_eq!(a.status, 400);

    // The trade page: the pay with the gateway's 10000, no auth code.
    let a = get(&admin, "/console/trades/CON_PAID_1", me).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(rows_with(&a.body, "alipay.trade.pay") >= 1, "{}", a.body);
    assert!(a.body.contains("<td>10000</td>"), "{}", a.body);
    assert!(a.body.contains(&trade_no) && a.body.contains("SUCCESS"));
    assert!(
        !a.body.contains(&code) && !a.body.contains(&code[..12]),
        "the auth code shows"
    );
    // The refused one: its code, sub_code and sub_msg.
    let a = get(&admin, "/console/trades/CON_FAIL_1", me).await;
    assert!(
        a.body.contains("<td>40004</td>") && a.body.contains("ACQ.PAYMENT_AUTH_CODE_INVALID"),
        "{}",
        a.body
    );

    // 1004: the buyer never pays; 12 queries, then the cancel.
    let code = auth_code("1004");
    let (s, v) = t.pay("CON_1004", &code, "20.00", 30).await;
    assert_eq!(s, 200, "{v}");
    let v = t.until_final("CON_1004", Duration::from_secs(30)).await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    let a = eventually(
        Duration::from_secs(10),
        "the cancel is journaled",
        || async {
            let a = get(&admin, "/console/trades/CON_1004", me).await;
            (rows_with(&a.body, "alipay.trade.cancel") >= 1).then_some(a)
        },
    )
    .await;
    assert_eq!(rows_with(&a.body, "alipay.trade.query"), 12, "{}", a.body);
    assert!(rows_with(&a.body, "alipay.trade.pay") >= 1);
    assert!(a.body.contains("<td>10003</td>"), "{}", a.body);
    assert!(
        !a.body.contains(&code) && !a.body.contains(&code[..12]),
        "the auth code shows"
    );
    // The step times: every row has its "+N ms".
    assert!(a.body.matches("<td>+").count() >= 14, "{}", a.body);

    // The overview reads the switch's metrics.
    let a = get(&admin, "/console/", me).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("SUCCESS: ") && a.body.contains("closed"),
        "{}",
        a.body
    );
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconciliation_difference_is_explained_and_journaled() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, admin) = console_switch(dir.path(), &sim).await;
    let t = Term::new(&base);
    let me = Auth::Bearer(OPS_TOKEN);
    let (s, v) = t.pay("CON_R1", &auth_code("0000"), "30.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let date = v["gmt_payment"].as_str().unwrap()[..10].to_owned();
    let (s, v) = post_json(
        &format!("{}/_sim/bills/{date}/inject", sim.base_url()),
        &json!({"kind": "add_row", "out_trade_no": "CON_NEVER_SEEN"}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_json(
        &format!("{}/_sim/clock", sim.base_url()),
        &json!({"offset_secs": 86_400}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // Reconcile the day from the console.
    let page = get(&admin, &format!("/console/recon?date={date}"), me).await;
    assert!(page.body.contains("not been reconciled"), "{}", page.body);
    let action = format!("/console/recon/{date}/rerun");
    let a = post_form(&admin, &page.body, &action, me, &[]).await;
    assert_eq!(a.status, 303, "{}", a.body);

    // The work queue shows it open, with what the bill says.
    let q = get(&admin, "/console/queues", me).await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert!(
        q.body.contains("CON_NEVER_SEEN") && q.body.contains("bill_only"),
        "{}",
        q.body
    );
    let key = "bill_only|trade|CON_NEVER_SEEN|";
    assert!(
        q.body.contains(&format!("name=\"key\" value=\"{key}\"")),
        "{}",
        q.body
    );
    // The trade the switch knows matched.
    let a = get(&admin, "/console/trades/CON_R1", me).await;
    assert!(a.body.contains("matched the bill"), "{}", a.body);

    // Mark it explained: a note is required.
    let explain = format!("/console/recon/{date}/explain");
    let a = post_form(
        &admin,
        &q.body,
        &explain,
        me,
        &[("key", key), ("note", "  ")],
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let note = "Alipay confirmed: <test row> from the bill injector";
    let a = post_form(
        &admin,
        &q.body,
        &explain,
        me,
        &[("key", key), ("note", note)],
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);

    // The note is shown (escaped) and journaled with who and when.
    let r = get(&admin, &format!("/console/recon?date={date}"), me).await;
    assert!(
        r.body.contains("Alipay confirmed: &lt;test row&gt;"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<test row>"));
    let q = get(&admin, "/console/queues", me).await;
    assert!(
        !q.body.contains(&format!("name=\"key\" value=\"{key}\"")),
        "still open: {}",
        q.body
    );
    let (d, at_ms) = explained_note(&sw, &date).await;
    assert_eq!(d["note"], note);
    assert_eq!(d["out_trade_no"], "CON_NEVER_SEEN");
    assert_eq!(
        d["token"],
        hex::encode(&Sha256::digest(OPS_TOKEN.as_bytes())[..4])
    );
    assert!(at_ms > 0);
    sw.shutdown().await.unwrap();
}

/// The work queues page reads each list bounded: with more than 200 rows
/// it shows the first 200 and says of how many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_work_queues_show_the_first_200_and_how_many() {
    use engine::store::{Incident, Write};
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, admin) = console_switch(dir.path(), &sim).await;
    let me = Auth::Bearer(OPS_TOKEN);
    let t = Term::new(&base);
    let (s, v) = t.pay("CON_Q_MODEL", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let store = sw.store();
    let model = store
        .trade("2021000000000001", "CON_Q_MODEL")
        .unwrap()
        .expect("the trade is journaled");
    // 205 trades left UNKNOWN and 203 incidents, written straight into the
    // journal (nothing drives them: recovery ran at start).
    let mut writes = Vec::new();
    for i in 0..205i64 {
        let mut t = model.clone();
        t.out_trade_no = format!("CON_Q_{i:03}");
        t.status = engine::Status::Unknown;
        t.phase = engine::trade::Phase::Resolving;
        t.created_ms = 1_700_000_000_000 + i;
        writes.push(Write::Trade(Box::new(t)));
    }
    for i in 0..203i64 {
        writes.push(Write::Incident(Incident {
            app_id: "2021000000000001".into(),
            out_trade_no: format!("CON_I_{i:03}"),
            at_ms: 1_700_000_000_000 + i,
            kind: "orphan".into(),
            detail: "{}".into(),
        }));
    }
    store.commit(writes).await.unwrap();

    let q = get(&admin, "/console/queues", me).await;
    assert_eq!(q.status, 200, "{}", q.body);
    assert!(q.body.contains("(first 200 of 205)"), "{}", q.body);
    assert!(q.body.contains("(first 200 of 203)"), "{}", q.body);
    // Oldest trades first, newest incidents first.
    assert!(q.body.contains("CON_Q_000") && q.body.contains("CON_Q_199"));
    assert!(!q.body.contains("CON_Q_200") && !q.body.contains("CON_Q_204"));
    assert!(q.body.contains("CON_I_202") && q.body.contains("CON_I_003"));
    assert!(!q.body.contains("CON_I_002") && !q.body.contains("CON_I_000"));
    let q = get(&admin, "/console/queues?lang=zh", me).await;
    assert!(q.body.contains("共 205 条，显示前 200 条"), "{}", q.body);
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_suspended_from_the_console_refuses_its_next_pay() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, admin) = console_switch(dir.path(), &sim).await;
    let mut term = onboard_terminal(&admin, &base, "CM01", "SH_009", "POS_09").await;
    let key = term.key.clone();
    let (s, v) = term.pay("CON_T_1", &auth_code("0000"), "9.90", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");

    // Log in with the form, find the terminal, suspend it.
    let cookie = login(&admin).await;
    let me = Auth::Cookie(&cookie);
    let list = get(&admin, &format!("/console/terminals?q={key}"), me).await;
    assert!(
        list.body.contains(&key) && list.body.contains("ACTIVE"),
        "{}",
        list.body
    );
    let m = get(&admin, "/console/merchants?q=CM01", me).await;
    assert!(
        m.body.contains("CM01") && m.body.contains("/console/merchants/CM01/suspend"),
        "{}",
        m.body
    );
    let a = post_form(
        &admin,
        &list.body,
        &format!("/console/terminals/{key}/suspend"),
        me,
        &[],
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let list = get(&admin, &format!("/console/terminals?q={key}"), me).await;
    assert!(list.body.contains("SUSPENDED"), "{}", list.body);
    let (s, v) = term.pay("CON_T_2", &auth_code("0000"), "9.90", 10).await;
    assert_eq!(s, 403, "{v}");
    // Journaled by the admin API's own code, with the token's id.
    let events = admin_events(&sw, &format!("terminal/{key}")).await;
    assert!(
        events.iter().any(|e| e.kind == "admin_terminal_suspended"),
        "{events:?}"
    );

    // Resume, rotate with no grace: the new secret is shown once and works;
    // the old one no longer does.
    let a = post_form(
        &admin,
        &list.body,
        &format!("/console/terminals/{key}/resume"),
        me,
        &[],
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let list = get(&admin, &format!("/console/terminals?q={key}"), me).await;
    let a = post_form(
        &admin,
        &list.body,
        &format!("/console/terminals/{key}/rotate"),
        me,
        &[("grace_secs", "0")],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let i = a.body.find("secret_hex <code>").expect("the new secret") + "secret_hex <code>".len();
    let secret: String = a.body[i..].chars().take(64).collect();
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    let list = get(&admin, &format!("/console/terminals?q={key}"), me).await;
    assert!(!list.body.contains(&secret), "the secret is shown again");
    let (s, _) = term.pay("CON_T_3", &auth_code("0000"), "9.90", 10).await;
    assert_eq!(s, 401, "the old secret still works");
    term.secret = hex::decode(&secret).unwrap().try_into().unwrap();
    let (s, v) = term.pay("CON_T_4", &auth_code("0000"), "9.90", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // Its trades are found by merchant.
    let a = get(&admin, "/console/trades?merchant=CM01", me).await;
    assert!(
        a.body.contains("CON_T_4") && a.body.contains("CON_T_1"),
        "{}",
        a.body
    );
    sw.shutdown().await.unwrap();
}

/// The console's search over 1,000,000 journaled trades (SQLite, the
/// default journal): 1000 terminals, 30 days, the usual mix of outcomes;
/// each kind of search the console makes, timed through `Store::search_trades`.
/// Ignored by default (it builds a ~1 GB journal): run it with
/// `cargo test -p payswitch-engine --test console -- --ignored --nocapture`;
/// the figures are in docs/ENGINE.md ("The operator console").
#[test]
#[ignore]
fn search_over_a_million_journaled_trades() {
    use engine::config::{StoreConfig, StoreKind, SyncMode};
    use rand::{Rng, SeedableRng};
    use std::time::Instant;

    const TRADES: u64 = 1_000_000;
    const TERMINALS: u64 = 1_000;
    const DAY_MS: i64 = 86_400_000;
    let start_ms: i64 = 1_780_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        kind: StoreKind::Sqlite,
        path: dir.path().join("journal.db"),
        postgres: None,
        synchronous: SyncMode::Full,
        max_batch: 64,
        max_pages: None,
    };
    let m = std::sync::Arc::new(engine::metrics::Metrics::default());
    engine::store::open(&cfg, m.clone()).unwrap().close();

    // Rows written straight into the journal's table (the store's own
    // writer would take as long per row, with an fsync per batch).
    let t0 = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let no = |i: u64| format!("CB{i:08}");
    {
        let mut c = rusqlite::Connection::open(&cfg.path).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;")
            .unwrap();
        let tx = c.transaction().unwrap();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO trades (app_id, out_trade_no, status, phase, updated_ms, doc, paid_day, version,
                     created_ms, terminal, terminal_no, trade_no)
                     VALUES ('2021000000000001', ?1, ?2, 'idle', ?3, ?4, ?5, 0, ?3, ?6, ?7, ?8)",
                )
                .unwrap();
            for i in 0..TRADES {
                let created = start_ms + (i as i64) * (30 * DAY_MS / TRADES as i64);
                let term = format!("PT{:04}", rng.gen_range(0..TERMINALS));
                let status = match rng.gen_range(0..100) {
                    0..=89 => "SUCCESS",
                    90..=94 => "FAILED",
                    95..=97 => "CLOSED",
                    98 => "PAYING",
                    _ => "UNKNOWN",
                };
                let fen: u64 = rng.gen_range(1..100_000);
                let amount = format!("{}.{:02}", fen / 100, fen % 100);
                let terminal_no = if i % 5 == 0 {
                    format!(",\"terminal_no\":\"T{i:08}\"")
                } else {
                    String::new()
                };
                let doc = format!(
                    "{{\"app_id\":\"2021000000000001\",\"out_trade_no\":\"{}\",\"kind\":\"pay\",\"status\":\"{status}\",\"phase\":\"idle\",\"fingerprint\":\"f\",\"terminal\":\"{term}\",\"total_amount\":\"{amount}\",\"subject\":\"goods\",\"trade_no\":\"2026{i:016}\",\"receipt_amount\":null,\"buyer_logon_id\":null,\"gmt_payment\":null,\"refunded_amount\":\"0.00\",\"code\":\"10000\",\"sub_code\":null,\"sub_msg\":null,\"qr_code\":null{terminal_no},\"created_ms\":{created},\"updated_ms\":{created},\"version\":0}}",
                    no(i)
                );
                let paid_day = (status == "SUCCESS").then(|| "2026-05-30".to_owned());
                let terminal_no_col = (i % 5 == 0).then(|| format!("T{i:08}"));
                st.execute(rusqlite::params![
                    no(i),
                    status,
                    created,
                    doc,
                    paid_day,
                    term,
                    terminal_no_col,
                    format!("2026{i:016}")
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let load_s = t0.elapsed().as_secs_f64();
    let store = engine::store::open(&cfg, m).unwrap();
    let q0 = engine::store::TradeQuery {
        limit: 200,
        ..Default::default()
    };
    let mut by_kind: Vec<(&str, Vec<f64>)> = Vec::new();
    let mut all: Vec<f64> = Vec::new();
    let kinds: [&str; 10] = [
        "gateway out_trade_no",
        "terminal out_trade_no",
        "trade_no",
        "merchant (10 terminals), newest",
        "terminal, newest",
        "status FAILED, newest",
        "status PAYING, newest",
        "one hour",
        "terminal + amount",
        "newest 50, no criterion",
    ];
    for k in kinds {
        let mut times = Vec::new();
        for _ in 0..100 {
            let i = rng.gen_range(0..TRADES);
            let mut q = q0.clone();
            match k {
                "gateway out_trade_no" => q.text = Some(no(i)),
                "terminal out_trade_no" => q.text = Some(format!("T{:08}", i - i % 5)),
                "trade_no" => q.text = Some(format!("2026{i:016}")),
                "merchant (10 terminals), newest" => {
                    let base = rng.gen_range(0..TERMINALS - 10);
                    q.terminals = Some((base..base + 10).map(|t| format!("PT{t:04}")).collect());
                }
                "terminal, newest" => {
                    q.terminals = Some(vec![format!("PT{:04}", rng.gen_range(0..TERMINALS))]);
                }
                "status FAILED, newest" => q.status = Some("FAILED".into()),
                "status PAYING, newest" => q.status = Some("PAYING".into()),
                "one hour" => {
                    let from = start_ms + rng.gen_range(0..29 * DAY_MS);
                    q.created_from_ms = Some(from);
                    q.created_to_ms = Some(from + 3_600_000);
                }
                "terminal + amount" => {
                    q.terminals = Some(vec![format!("PT{:04}", rng.gen_range(0..TERMINALS))]);
                    q.amount = Some(protocol::Money::from_fen(rng.gen_range(1..100_000)));
                }
                _ => q.limit = 50,
            }
            let t = Instant::now();
            let found = store.search_trades(&q).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if q.text.is_some() {
                assert_eq!(found.len(), 1, "{k}: {q:?}");
            }
            times.push(ms);
            all.push(ms);
        }
        by_kind.push((k, times));
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    };
    println!("{TRADES} trades loaded in {load_s:.0} s");
    println!("| search (100 each) | p50 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- |");
    for (k, mut v) in by_kind {
        let (p50, p99) = (pct(&mut v, 0.5), pct(&mut v, 0.99));
        println!("| {k} | {p50:.1} | {p99:.1} | {:.1} |", v[v.len() - 1]);
    }
    let p99 = pct(&mut all, 0.99);
    println!(
        "| all {} searches | {:.1} | {p99:.1} | {:.1} |",
        all.len(),
        pct(&mut all, 0.5),
        all[all.len() - 1]
    );
    store.close();
    assert!(p99 < 200.0, "search p99 {p99:.1} ms over {TRADES} trades");
}
