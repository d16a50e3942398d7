//! A central switch's registry at scale: 10,000 merchants with 100,000
//! terminals written into a journal (as the admin API would have, secrets
//! sealed), then the real `payswitch` binary started on it. Measures the
//! time from spawn to a healthy listener, the switch's RSS after start and
//! after payments from terminals spread over the registry, and checks that
//! those payments succeed (authentication looks the terminal up in memory).
//!
//! Run: `cargo bench -p payswitch-engine --bench registry_scale` (env
//! `REG_MERCHANTS`, default 10000; `REG_TERMINALS_PER_MERCHANT`, default 10).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use engine::merchants::seal::Sealer;
use engine::metrics::Metrics;
use engine::store::sqlite::SqliteStore;
use engine::store::{MerchantRecord, RegistryStatus, Store, StoreRecord, TerminalRecord, Write};
use sha2::{Digest, Sha256};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// (VmRSS, VmHWM) of a process in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |k: &str| -> f64 {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// The secret of terminal `i` (derived, so the bench can sign with it).
fn secret(i: usize) -> [u8; 32] {
    Sha256::digest(format!("registry-scale-{i}").as_bytes()).into()
}

fn main() {
    let merchants = env_usize("REG_MERCHANTS", 10_000);
    let per = env_usize("REG_TERMINALS_PER_MERCHANT", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sim = sim().await;
        let dir = tempfile::tempdir().unwrap();
        let (port, admin_port) = (free_port(), free_port());
        let base = format!("http://127.0.0.1:{port}");
        let reg_key = [0x42u8; 32];
        {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join("registry.key");
            std::fs::write(&p, hex::encode(reg_key)).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let text = config_text(
            &format!("127.0.0.1:{port}"),
            &sim.gateway_url(),
            &format!("{base}/notify/alipay"),
            "\n[heartbeat]\nenabled = false\n",
        ) + &format!(
            "\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"registry.key\"\n",
            hex::encode(Sha256::digest(b"registry-scale-token"))
        );
        let cfg = write_config(dir.path(), &text);

        // The registry, written as the admin API writes it.
        let t0 = Instant::now();
        let store = SqliteStore::open_path(
            &dir.path().join("journal.db"),
            engine::config::SyncMode::Off,
            4096,
            Arc::new(Metrics::default()),
        )
        .unwrap();
        let sealer = Sealer::new(&reg_key).unwrap();
        let now = engine::trade::now_ms();
        let mut writes = Vec::new();
        let mut n = 0usize;
        for m in 0..merchants {
            let ext = format!("M{m:06}");
            writes.push(Write::Merchant(Box::new(MerchantRecord {
                external_id: ext.clone(),
                name: format!("商户{m}"),
                alias_name: format!("店{m}"),
                service_phone: "021-12345678".into(),
                category_id: "2015050700000000".into(),
                source: None,
                smid: Some(format!("2089{m:012}")),
                status: RegistryStatus::Active,
                gateway_fee_bps: 38,
                merchant_fee_bps: 60,
                relay_url: None,
                contact_info: serde_json::json!([]),
                address_info: serde_json::json!([]),
                bankcard_info: serde_json::json!([]),
                service_codes: serde_json::json!(["F2F"]),
                created_ms: now,
                updated_ms: now,
            })));
            writes.push(Write::MerchantStore(Box::new(StoreRecord {
                external_id: ext.clone(),
                store_id: format!("S{m:06}"),
                name: "store".into(),
                address: None,
                created_ms: now,
            })));
            for _ in 0..per {
                let key_id = format!("PT{n:016x}");
                writes.push(Write::Terminal(Box::new(TerminalRecord {
                    secret_sealed: sealer.seal(&key_id, &secret(n)).unwrap(),
                    key_id,
                    external_id: ext.clone(),
                    store_id: format!("S{m:06}"),
                    terminal_id: format!("POS_{n}"),
                    equipment_type: Some("CR".into()),
                    rate_per_sec: 100.0,
                    burst: 200.0,
                    status: RegistryStatus::Active,
                    previous_sealed: None,
                    previous_until_ms: None,
                    created_ms: now,
                    updated_ms: now,
                })));
                n += 1;
            }
            if writes.len() >= 5_000 {
                store.commit(std::mem::take(&mut writes)).await.unwrap();
            }
        }
        store.commit(writes).await.unwrap();
        store.close();
        println!(
            "registry: {merchants} merchants, {n} terminals written in {:.1} s",
            t0.elapsed().as_secs_f64()
        );

        let log = std::fs::File::create(dir.path().join("switch.log")).unwrap();
        let t1 = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_payswitch"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let probe = Term::new(&base);
        let mut up = false;
        for _ in 0..2_000 {
            if let Ok((200, _)) = probe.raw("GET", "/healthz", vec![], None).await {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(up, "the switch did not come up");
        let start_s = t1.elapsed().as_secs_f64();
        let (rss0, _) = rss_mib(child.id());
        // Payments from terminals spread over the registry.
        let mut ok = 0;
        let pays = 200;
        for k in 0..pays {
            let i = (k * 7919) % n;
            let mut t = Term::new(&base);
            t.key = format!("PT{i:016x}");
            t.secret = secret(i);
            let (s, v) = t.pay(&format!("RS_{k}"), &auth_code("0000"), "1.00", 10).await;
            if s == 200 && v["status"] == "SUCCESS" {
                ok += 1;
            } else {
                eprintln!("pay {k}: {s} {v}");
            }
        }
        let (rss1, hwm) = rss_mib(child.id());
        let _ = child.kill();
        let _ = child.wait();
        println!("start-up to a healthy listener: {start_s:.2} s (goal < 5 s)");
        println!("switch RSS after start: {rss0:.1} MiB; after {pays} pays: {rss1:.1} MiB; peak {hwm:.1} MiB (goal < 150 MB)");
        println!("pays from terminals across the registry: {ok} of {pays} SUCCESS");
        assert_eq!(ok, pays, "every pay succeeds");
        sim.shutdown().await;
    });
}
