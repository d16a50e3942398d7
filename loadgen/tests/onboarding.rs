//! The demo's onboarding against the real switch (in-process) and the real
//! simulator with the demo app indirect: the switch's config has an
//! `[admin]` section and no `[[terminals]]`; the merchants, stores and
//! terminals come from the admin API; the simulator lists the merchants; a
//! load signed with the returned secrets is accepted (an indirect app
//! refuses trades without an onboarded smid) and the audit's attribution
//! check finds every ledger trade carrying its terminal's sub-merchant,
//! store and terminal. Audited again with one terminal's registration
//! changed, the check reports that terminal's trades as misattributed.
#![cfg(feature = "demo")]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use loadgen::audit::Judgement;
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
        mix: "pay=6,pay:2000=1,pay:4004=1,precreate=1,refund=1".into(),
        requests: 0,
        timeout: None,
        pay_wait: 10,
        cancel_delay: "200ms".into(),
        max_in_flight: 1000,
        max_lag: "10s".into(),
        thresholds: vec![],
        out: out.into(),
        lang: loadgen::report::Lang::En,
        seed: 5,
        no_audit: false,
        settle: "20s".into(),
        pids: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_onboards_through_the_admin_api_and_the_audit_checks_attribution() {
    let mut sc = simulator::SimConfig::demo_indirect();
    sc.time_scale = 100.0;
    let sim = simulator::start(sc).await.expect("simulator starts");
    let sim_base = sim.base_url();
    let http = Http::new(Duration::from_secs(10));
    assert!(demo::sim_merchants(&http, &sim_base)
        .await
        .unwrap()
        .is_empty());

    let dir = tempfile::tempdir().unwrap();
    demo::write_demo_keys(dir.path()).unwrap();
    let admin_port = demo::free_port().unwrap();
    let admin =
        demo::write_admin_files(dir.path(), &format!("http://127.0.0.1:{admin_port}")).unwrap();
    for f in ["admin.token", "registry.key"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f} is private");
    }
    let text = demo::demo_switch_config(0, admin_port, sim.addr().port(), &admin.token_sha256());
    assert!(
        text.contains("[admin]") && !text.contains("[[terminals]]"),
        "{text}"
    );
    let cfg = engine::Config::from_toml_str(&text, dir.path()).expect("switch config");
    let sw = engine::start(cfg).await.expect("switch starts");
    assert_eq!(
        sw.admin_addr().map(|a| a.port()),
        Some(admin_port),
        "the admin API listens"
    );
    let sw_url = format!("http://{}", sw.local_addrs()[0]);

    // Onboarding: two merchants with distinct smids, three stores each,
    // five terminals over the stores, both merchants used.
    let on = demo::onboard(&http, &admin, 5).await.expect("onboarding");
    assert_eq!(on.merchants.len(), demo::DEMO_MERCHANTS);
    assert!(on.merchants.len() >= 2);
    assert_eq!(
        on.stores.len(),
        demo::DEMO_MERCHANTS * demo::STORES_PER_MERCHANT
    );
    assert_eq!(on.terminals.len(), 5);
    let smids: BTreeSet<&str> = on.merchants.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(smids.len(), on.merchants.len(), "{:?}", on.merchants);
    let used: BTreeSet<&str> = on
        .terminals
        .iter()
        .map(|t| t.smid.as_deref().expect("registration known"))
        .collect();
    assert_eq!(used, smids, "terminals of every merchant");
    let stores: BTreeSet<&str> = on
        .terminals
        .iter()
        .map(|t| t.store_id.as_deref().unwrap())
        .collect();
    assert_eq!(stores.len(), 5, "one store per terminal here");
    let listed = demo::sim_merchants(&http, &sim_base).await.unwrap();
    for (ext, smid) in &on.merchants {
        assert!(listed.contains(smid), "{ext} {smid} not in {listed:?}");
    }
    // The same merchants and stores again: the same smids, nothing new at the gateway.
    let again = demo::onboard(&http, &admin, 0).await;
    assert!(
        again.is_err(),
        "terminal T001 exists already: its secret is not shown twice"
    );
    assert_eq!(
        demo::sim_merchants(&http, &sim_base).await.unwrap().len(),
        listed.len()
    );

    // A load with the onboarded terminals: no errors, a clean audit, and the
    // attribution check ran on every trade of the ledger.
    let p = run::prepare(
        &args(&sw_url, &sim_base, dir.path()),
        Some(on.terminals.clone()),
    )
    .unwrap();
    let r = run::execute(&p, Arc::new(AtomicBool::new(false)), vec![]).await;
    assert_eq!(r.total.requests, 40);
    assert_eq!(r.total.errors, 0, "{:?}", r.total.outcomes);
    let a = r.audit.as_ref().expect("audit ran");
    assert!(a.passed, "{a:?}");
    assert_eq!(a.matched, a.checked);
    assert_eq!(a.misattributed, 0);
    let check = a.attribution.as_ref().expect("the attribution check ran");
    assert_eq!(check.mismatched, 0, "{:?}", a.problems);
    assert!(
        check.checked >= 30 && check.checked <= a.checked,
        "{check:?} of {}",
        a.checked
    );

    // The same trades, audited with terminal 0 registered to another store:
    // exactly its trades in the ledger are misattributed.
    let trades = p.target.book().snapshot();
    let mut wrong = on.terminals.clone();
    wrong[0].store_id = Some("ELSEWHERE".into());
    let target = SwitchTarget::new(
        &sw_url,
        &wrong,
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
        http.clone(),
        Duration::from_secs(5),
    )
    .await;
    assert!(!a2.passed);
    let c2 = a2.attribution.as_ref().unwrap();
    assert_eq!(c2.checked, check.checked);
    assert!(c2.mismatched > 0 && c2.mismatched < c2.checked, "{c2:?}");
    assert_eq!(a2.misattributed, c2.mismatched, "{:?}", a2.problems);
    assert!(a2
        .problems
        .iter()
        .all(|p| p.judgement == Judgement::Misattributed
            && p.detail.contains("store_id: ledger")
            && p.detail.contains("ELSEWHERE")));

    sw.shutdown().await.expect("switch stops");
    sim.shutdown().await;
}
