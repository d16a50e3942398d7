//! The `alipay-sim` binary: flags, key files, profile file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use protocol::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_with_files() {
    let dir = tempfile::tempdir().unwrap();
    let pubkey = dir.path().join("app.pem");
    std::fs::write(&pubkey, simulator::DEMO_APP_PUBLIC_KEY).unwrap();
    let privkey = dir.path().join("alipay.pem");
    std::fs::write(&privkey, simulator::DEMO_ALIPAY_PRIVATE_KEY).unwrap();
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/mixed.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_alipay-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "100",
            "--profile",
            profile,
            "--late-landing-ms",
            "100",
        ])
        .arg("--app")
        .arg(format!("{APP_ID}={}", pubkey.display()))
        .arg("--alipay-private-key")
        .arg(&privkey)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).map(|_| l)
    });
    let line = tokio::time::timeout(Duration::from_secs(10), line).await;
    let url = match line {
        Ok(Ok(Ok(l))) => l.trim().rsplit(' ').next().unwrap().to_owned(),
        other => {
            let _ = child.kill();
            panic!("no startup line: {other:?}");
        }
    };
    assert!(url.ends_with("/gateway.do"), "{url}");
    let sim_base = url.trim_end_matches("/gateway.do").to_owned();
    let gw = Gw {
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        url: url.clone(),
        base: sim_base,
        signer: protocol::Signer::from_text(simulator::DEMO_APP_PRIVATE_KEY).unwrap(),
        verifier: protocol::Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).unwrap(),
    };
    let q = gw
        .call(
            Method::TradeQuery,
            &serde_json::json!({"out_trade_no": "BIN_NONE"}),
        )
        .await;
    let (_, p) = gw.ctl_get("/_sim/profile").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(q.node()["sub_code"], "ACQ.TRADE_NOT_EXIST");
    assert_eq!(p["seed"], 20260601);
    assert_eq!(p["latency"]["alipay.trade.pay"]["kind"], "log_normal");
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_alipay-sim"))
        .args(["--listen", "127.0.0.1:0", "--app", "no-equals-sign"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("APP_ID=PUBLIC_KEY_FILE"));
    let out = Command::new(env!("CARGO_BIN_EXE_alipay-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--profile",
            "/nonexistent/profile.toml",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reads_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.pem"), simulator::DEMO_APP_PUBLIC_KEY).unwrap();
    std::fs::write(dir.path().join("p.toml"), "seed = 77\n").unwrap();
    let cfg = dir.path().join("sim.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ntime_scale = 50\nprofile_file = \"p.toml\"\n[[app]]\napp_id = \"{APP_ID}\"\npublic_key_file = \"app.pem\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_alipay-sim"))
        .arg("--config")
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).map(|_| l)
    });
    let line = tokio::time::timeout(Duration::from_secs(10), line).await;
    let url = match line {
        Ok(Ok(Ok(l))) if l.contains("/gateway.do") => {
            l.trim().rsplit(' ').next().unwrap().to_owned()
        }
        other => {
            let _ = child.kill();
            panic!("no startup line: {other:?}");
        }
    };
    let gw = Gw {
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        url: url.clone(),
        base: url.trim_end_matches("/gateway.do").to_owned(),
        signer: protocol::Signer::from_text(simulator::DEMO_APP_PRIVATE_KEY).unwrap(),
        verifier: protocol::Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).unwrap(),
    };
    let (_, p) = gw.ctl_get("/_sim/profile").await;
    let q = gw
        .call(
            Method::TradeQuery,
            &serde_json::json!({"out_trade_no": "CFG_NONE"}),
        )
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(p["seed"], 77);
    assert_eq!(q.node()["sub_code"], "ACQ.TRADE_NOT_EXIST");
}
