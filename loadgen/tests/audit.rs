//! The audit against the real simulator and the real switch (in-process):
//! a clean run matches trade for trade; a switch restarted on a copy of its
//! journal with one trade deleted is caught (missing), and the run fails.
#![cfg(feature = "demo")]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use loadgen::demo;
use loadgen::http::Http;
use loadgen::run::{self, ModelKind, RunArgs, TargetKind};
use loadgen::target::{Common, SwitchTarget};

fn args(url: &str, sim: &str, out: &std::path::Path) -> RunArgs {
    RunArgs {
        target: TargetKind::Switch,
        url: vec![url.into()],
        sim: Some(sim.into()),
        terminals: None,
        app_id: loadgen::target::demo_keys::APP_ID.into(),
        app_private_key: None,
        alipay_public_key: None,
        model: ModelKind::Open,
        rate: "40".into(),
        duration: "1s".into(),
        ramp: None,
        stages: None,
        staircase: None,
        concurrency: 1,
        mix: "pay=8,pay:2000=1,pay:4004=1".into(),
        requests: 0,
        timeout: None,
        pay_wait: 10,
        cancel_delay: "200ms".into(),
        max_in_flight: 1000,
        max_lag: "10s".into(),
        thresholds: vec![],
        out: out.into(),
        lang: loadgen::report::Lang::En,
        seed: 3,
        no_audit: false,
        settle: "20s".into(),
        pids: vec![],
    }
}

async fn start_switch(
    dir: &std::path::Path,
    sim_port: u16,
    terminals: &[loadgen::target::Terminal],
) -> engine::Running {
    let text = demo::switch_config(0, sim_port, terminals);
    let cfg = engine::Config::from_toml_str(&text, dir).expect("switch config");
    engine::start(cfg).await.expect("switch starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_catches_a_trade_deleted_from_a_journal_copy() {
    let mut sc = simulator::SimConfig::demo();
    sc.time_scale = 100.0;
    let sim = simulator::start(sc).await.expect("simulator starts");
    let sim_base = sim.base_url();
    let sim_port = sim.addr().port();

    let dir = tempfile::tempdir().unwrap();
    demo::write_demo_keys(dir.path()).unwrap();
    let terminals = demo::make_terminals(2);
    let sw = start_switch(dir.path(), sim_port, &terminals).await;
    let sw_url = format!("http://{}", sw.local_addrs()[0]);

    // A clean run: every trade matches.
    let p = run::prepare(
        &args(&sw_url, &sim_base, dir.path()),
        Some(terminals.clone()),
    )
    .unwrap();
    let r = run::execute(&p, Arc::new(AtomicBool::new(false)), vec![]).await;
    let a = r.audit.as_ref().expect("audit ran");
    assert_eq!(r.total.requests, 40);
    assert_eq!(a.checked, 40, "{a:?}");
    assert_eq!(a.matched, 40, "{:?}", a.problems);
    assert!(a.passed);
    sw.shutdown().await.expect("switch stops");

    // Copy the journal, delete one trade from the copy.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in ["journal.sqlite", "journal.sqlite-wal", "journal.sqlite-shm"] {
        let src = dir.path().join(f);
        if src.exists() {
            std::fs::copy(&src, copy.join(f)).unwrap();
        }
    }
    demo::write_demo_keys(&copy).unwrap();
    let trades = p.target.book().snapshot();
    let victim = trades
        .iter()
        .find(|(_, t)| t.last_status == "SUCCESS")
        .map(|(no, _)| no.clone())
        .expect("a paid trade");
    {
        let db = rusqlite::Connection::open(copy.join("journal.sqlite")).unwrap();
        let n = db
            .execute("DELETE FROM trades WHERE out_trade_no = ?1", [&victim])
            .unwrap();
        assert_eq!(n, 1);
    }

    // The switch on the copy: the audit finds the one missing trade.
    let sw2 = start_switch(&copy, sim_port, &terminals).await;
    let url2 = format!("http://{}", sw2.local_addrs()[0]);
    let http = Http::new(Duration::from_secs(10));
    let target = SwitchTarget::new(
        &url2,
        &terminals,
        Common {
            run_id: p.run_id.clone(),
            sim_base: Some(sim_base.clone()),
            http: http.clone(),
        },
        10,
    )
    .unwrap();
    let a2 = loadgen::audit::run(
        trades,
        Some(Arc::new(target)),
        Some(sim_base.clone()),
        http,
        Duration::from_secs(5),
    )
    .await;
    assert!(!a2.passed);
    assert_eq!(a2.checked, 40);
    assert_eq!(a2.missing, 1, "{:?}", a2.problems);
    assert_eq!(a2.matched, 39);
    assert_eq!(a2.problems[0].out_trade_no, victim);
    assert_eq!(a2.problems[0].ledger.as_deref(), Some("TRADE_SUCCESS"));

    sw2.shutdown().await.unwrap();
    sim.shutdown().await;
}
