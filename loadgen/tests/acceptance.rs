//! `loadgen acceptance` against the real switch (in-process) and the real
//! simulator (the demo app indirect): all five points pass against a switch
//! that onboards through its admin API (point 5 reconciles and settles the
//! run's gateway day with the engine's library); a terminal declared in the
//! switch's TOML without a store_id fails point 2, naming store_id; an
//! unreachable switch is an error (exit 1). No secret reaches the files.
#![cfg(feature = "demo")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loadgen::demo;

async fn loadgen(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(&args)
            .env_remove("PAYSWITCH_ADMIN_TOKEN")
            .env_remove("LOADGEN_TERMINAL_SECRET_HEX")
            .output()
            .expect("loadgen runs")
    })
    .await
    .expect("the child finished")
}

/// A switch with an admin API on a free port (and `extra` TOML appended);
/// its terminal URL, admin URL and token file.
async fn switch(
    dir: &Path,
    sim_port: u16,
    extra: &str,
) -> (engine::server::Running, String, String, PathBuf) {
    demo::write_demo_keys(dir).unwrap();
    let admin_port = demo::free_port().unwrap();
    let admin_url = format!("http://127.0.0.1:{admin_port}");
    let admin = demo::write_admin_files(dir, &admin_url).unwrap();
    let mut text = demo::demo_switch_config(0, admin_port, sim_port, &admin.token_sha256());
    text.push_str(extra);
    std::fs::write(dir.join("payswitch.toml"), &text).unwrap();
    let cfg = engine::Config::from_toml_str(&text, dir).expect("switch config");
    let sw = engine::start(cfg).await.expect("switch starts");
    let url = format!("http://{}", sw.local_addrs()[0]);
    (sw, url, admin_url, dir.join("admin.token"))
}

fn common_args(url: &str, admin: &str, token: &Path, sim: &str, out: &Path) -> Vec<String> {
    [
        "acceptance",
        "--url",
        url,
        "--admin",
        admin,
        "--token-file",
        &token.display().to_string(),
        "--sim",
        sim,
        "--out",
        &out.display().to_string(),
        "--pay-wait",
        "30",
        "--settle",
        "60s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Every file under `dir` (the reconciliation's too), as text.
fn all_files(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            s.push_str(&all_files(&p));
        } else {
            s.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_passes_points_1_to_4_and_fails_point_2_without_store_id() {
    let mut sc = simulator::SimConfig::demo_indirect();
    sc.time_scale = 100.0;
    let sim = simulator::start(sc).await.expect("simulator starts");
    let sim_base = sim.base_url();
    let tmp = tempfile::tempdir().unwrap();

    // 1. A switch onboarding through its admin API: points 1 to 4 pass.
    let d1 = tmp.path().join("sw1");
    std::fs::create_dir_all(&d1).unwrap();
    let (sw1, url1, admin1, token1) = switch(&d1, sim.addr().port(), "").await;
    let out1 = tmp.path().join("out1");
    let mut args = common_args(&url1, &admin1, &token1, &sim_base, &out1);
    args.extend([
        "--config".into(),
        d1.join("payswitch.toml").display().to_string(),
    ]);
    let o = loadgen(args).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let r = read_json(&out1.join("acceptance.json"));
    assert_eq!(r["schema"], "payswitch-acceptance-report/1");
    assert_eq!(r["passed"], true);
    let points = r["points"].as_array().unwrap();
    assert_eq!(points.len(), 5);
    for p in points {
        assert_eq!(p["status"], "PASS", "{p:#}");
        assert!(!p["evidence"].as_array().unwrap().is_empty(), "{p}");
    }
    // Point 5 reconciled the run's gateway day and settled it.
    let p5 = points[4].to_string();
    assert!(
        p5.contains("every bill row matched") && p5.contains("settlement trades = the bill's"),
        "{p5}"
    );
    // Point 1 compared every gateway field; point 2 read the ledger.
    let labels: Vec<&str> = points[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label_en"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "contact_info",
        "address_info",
        "bankcard_info",
        "service_codes",
    ] {
        assert!(
            labels.contains(&format!("{f} arrived at the gateway unchanged").as_str()),
            "{labels:?}"
        );
    }
    let smid = r["target"]["merchant"][1]
        .as_str()
        .expect("point 1's smid")
        .to_string();
    assert_eq!(r["target"]["terminal"]["smid"], smid.as_str());
    assert!(r["target"]["terminal"]["store_id"].is_string());
    let text = all_files(&out1);
    for f in [
        "acceptance.en.md",
        "acceptance.zh.md",
        "acceptance.en.html",
        "acceptance.zh.html",
    ] {
        assert!(out1.join(f).exists(), "{f}");
    }
    assert!(
        text.contains("当面付用户输入密码时的处理逻辑"),
        "the Chinese checklist"
    );
    // No secret: the admin token, auth codes in full, terminal secrets.
    let token = std::fs::read_to_string(&token1).unwrap();
    assert!(!text.contains(token.trim()), "the admin token leaked");
    assert!(!stdout.contains(token.trim()) && !stderr.contains(token.trim()));
    assert!(
        text.contains("**************1003"),
        "masked auth code shown"
    );
    assert!(
        !text.contains("\"auth_code\": \"28"),
        "an auth code in full"
    );
    assert!(
        text.contains("(not reported)"),
        "the terminal secret is replaced"
    );

    // 2. A terminal declared in the TOML with the merchant's smid but no
    // store_id: point 2 fails and names store_id; exit 2.
    let secret = "5a".repeat(32);
    let extra = format!(
        "\n[[terminals]]\nkey_id = \"ACC-TOML-1\"\nsecret_hex = \"{secret}\"\nsmid = \"{smid}\"\nterminal_id = \"T900\"\nrate_per_sec = 1000.0\n"
    );
    let d2 = tmp.path().join("sw2");
    std::fs::create_dir_all(&d2).unwrap();
    let (sw2, url2, admin2, token2) = switch(&d2, sim.addr().port(), &extra).await;
    let out2 = tmp.path().join("out2");
    let mut args = common_args(&url2, &admin2, &token2, &sim_base, &out2);
    args.extend(
        [
            "--points",
            "2",
            "--key-id",
            "ACC-TOML-1",
            "--secret-hex",
            &secret,
            "--lang",
            "en",
        ]
        .map(String::from),
    );
    let o = loadgen(args).await;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    let r = read_json(&out2.join("acceptance.json"));
    assert_eq!(r["passed"], false);
    let p2 = &r["points"][1];
    assert_eq!(p2["status"], "FAIL", "{p2:#}");
    let summary = p2["summary"].as_str().unwrap();
    assert!(
        summary.contains("store_id on alipay.trade.pay (missing)"),
        "{summary}"
    );
    assert!(!summary.contains("sub_merchant_id on"), "{summary}");
    assert!(!summary.contains("terminal_id on"), "{summary}");
    assert_eq!(r["target"]["terminal"]["origin"], "given");
    assert!(out2.join("acceptance.md").exists() && out2.join("acceptance.html").exists());
    let text = all_files(&out2);
    assert!(!text.contains(&secret), "the terminal secret leaked");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));

    // 3. An unreachable switch is an error, not a failed checklist.
    let out3 = tmp.path().join("out3");
    let dead = format!("http://127.0.0.1:{}", demo::free_port().unwrap());
    let mut args = common_args(&dead, &admin2, &token2, &sim_base, &out3);
    args.extend(["--points".into(), "1".into()]);
    let o = loadgen(args).await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out3.exists());

    // ACCEPTANCE_KEEP=DIR keeps the two checklists for a look.
    if let Ok(keep) = std::env::var("ACCEPTANCE_KEEP") {
        for (from, name) in [(&out1, "pass"), (&out2, "no-store")] {
            let to = Path::new(&keep).join(name);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                if e.path().is_file() {
                    std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
                }
            }
        }
    }

    sw2.shutdown().await.expect("switch 2 stops");
    sw1.shutdown().await.expect("switch 1 stops");
    sim.shutdown().await;
}
