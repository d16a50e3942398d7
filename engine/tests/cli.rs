//! The admin commands (`payswitch merchants|stores|terminals ...`) of the
//! real binary against the switch in-process (with its admin listener, as
//! tests/admin.rs configures it) and the real simulator: onboarding, stores,
//! a terminal whose printed secret signs a pay, suspension, rotation,
//! `--json`, and the exit codes (0 ok, 1 error answer / no answer / unusable
//! token file, 2 usage) with the token never in any output.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

const TOKEN: &str = "cli-admin-token-for-tests-0001";

fn admin_section(port: u16) -> String {
    format!(
        "\n[admin]\nlisten = \"127.0.0.1:{port}\"\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"registry.key\"\n",
        hex::encode(Sha256::digest(TOKEN.as_bytes()))
    )
}

fn write_registry_key(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("registry.key");
    std::fs::write(&p, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The switch in-process with an admin listener; returns it, the terminal
/// API's base URL and the admin API's base URL.
async fn switch_with_admin(
    dir: &Path,
    sim: &simulator::SimHandle,
) -> (engine::Running, String, String) {
    write_registry_key(dir);
    let admin_port = free_port();
    let (sw, base) = switch_with(dir, sim, "", |t| t + &admin_section(admin_port)).await;
    let ab = format!("http://{}", sw.admin_addr().expect("admin listener"));
    (sw, base, ab)
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output does not parse ({e}): {}", self.stdout))
    }

    fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// The value after `label` at the start of a line of stdout.
    fn labelled(&self, label: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} line in: {}", self.stdout))
            .trim()
            .to_owned()
    }

    fn assert_no_token(&self) {
        assert!(!self.stdout.contains(TOKEN), "token in stdout");
        assert!(!self.stderr.contains(TOKEN), "token in stderr");
    }
}

/// Runs `payswitch ARGS`; the token from `PAYSWITCH_ADMIN_TOKEN` when `token` is Some.
async fn ps(args: &[&str], token: Option<&str>) -> Out {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_payswitch"));
    c.args(args).env_remove("PAYSWITCH_ADMIN_TOKEN");
    if let Some(t) = token {
        c.env("PAYSWITCH_ADMIN_TOKEN", t);
    }
    let o = tokio::time::timeout(std::time::Duration::from_secs(60), c.output())
        .await
        .expect("payswitch ends in time")
        .expect("payswitch runs");
    Out {
        code: o.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `payswitch GROUP --admin AB REST...` with the test token.
async fn admin(ab: &str, group: &str, rest: &[&str]) -> Out {
    let mut args = vec![group, "--admin", ab];
    args.extend_from_slice(rest);
    ps(&args, Some(TOKEN)).await
}

fn merchant_flags(external_id: &str) -> Vec<&str> {
    vec![
        "add",
        "--external-id",
        external_id,
        "--name",
        "上海测试便利店",
        "--alias-name",
        "测试店",
        "--service-phone",
        "021-12345678",
        "--category-id",
        "2015050700000000",
        "--contact-name",
        "张三",
        "--contact-mobile",
        "13800000000",
        "--address",
        "漕溪北路1号",
        "--province-code",
        "310000",
        "--city-code",
        "310100",
        "--district-code",
        "310104",
        "--service-code",
        "F2F",
        "--gateway-fee-bps",
        "38",
        "--merchant-fee-bps",
        "60",
    ]
}

/// The display column of `needle` in `line` (CJK characters are two wide).
fn column(line: &str, needle: &str) -> Option<usize> {
    let at = line.find(needle)?;
    Some(
        line[..at]
            .chars()
            .map(|c| if u32::from(c) >= 0x2E80 { 2 } else { 1 })
            .sum(),
    )
}

fn terminal(base: &str, key: &str, secret_hex: &str) -> Term {
    let mut t = Term::new(base);
    t.key = key.to_owned();
    t.secret = hex::decode(secret_hex).unwrap().try_into().unwrap();
    t
}

/// The operator story through the commands: merchant, store, terminal (its
/// printed secret signs a pay), show/list, suspend/resume, modify, rotate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_onboards_a_merchant_a_store_and_a_terminal() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, ab) = switch_with_admin(dir.path(), &sim).await;

    // merchants add: onboarded, with the smid; the same again: the existing one.
    let out = admin(&ab, "merchants", &merchant_flags("M001")).await.ok();
    assert!(
        out.stdout.contains("merchant M001 onboarded, smid 2088"),
        "{}",
        out.stdout
    );
    let smid = out.labelled("smid");
    assert!(smid.starts_with("2088") && smid.len() == 16, "{smid}");
    assert_eq!(out.labelled("status"), "ACTIVE");
    assert_eq!(out.labelled("merchant_fee_bps"), "60");
    out.assert_no_token();
    let again = admin(&ab, "merchants", &merchant_flags("M001")).await.ok();
    assert!(again.stdout.contains("already exists"), "{}", again.stdout);
    assert_eq!(again.labelled("smid"), smid);
    let (_, onboarded) = sim_get(&sim.base_url(), "/_sim/merchants").await;
    assert_eq!(
        onboarded["merchants"].as_array().map(Vec::len),
        Some(1),
        "{onboarded}"
    );

    // merchants list: an aligned table; --json (before or after the subcommand) parses.
    let list = admin(&ab, "merchants", &["list"]).await.ok();
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines[0].starts_with("EXTERNAL_ID  NAME"), "{}", list.stdout);
    let row = lines
        .iter()
        .find(|l| l.starts_with("M001 "))
        .expect("M001 row");
    assert_eq!(
        column(row, &smid),
        column(lines[0], "SMID"),
        "the smid under its header: {}",
        list.stdout
    );
    for args in [
        ["merchants", "--admin", &ab, "list", "--json"],
        ["merchants", "--json", "--admin", &ab, "list"],
    ] {
        let v = ps(&args, Some(TOKEN)).await.ok().json();
        let ms = v["merchants"].as_array().expect("merchants[]");
        assert!(
            ms.iter()
                .any(|m| m["external_id"] == "M001" && m["smid"] == smid.as_str()),
            "{v}"
        );
    }

    // merchants show.
    let show = admin(&ab, "merchants", &["show", "M001"]).await.ok();
    assert_eq!(show.labelled("external_id"), "M001");
    assert_eq!(show.labelled("alias_name"), "测试店");
    assert!(
        show.stdout.contains("merchant M001 has no stores"),
        "{}",
        show.stdout
    );

    // stores add, list.
    let st = admin(
        &ab,
        "stores",
        &[
            "add",
            "M001",
            "--store-id",
            "SH_001",
            "--name",
            "漕溪北路店",
            "--address",
            "漕溪北路1号",
        ],
    )
    .await
    .ok();
    assert!(st.stdout.starts_with("store created"), "{}", st.stdout);
    let st = admin(&ab, "stores", &["list", "M001"]).await.ok();
    assert!(st.stdout.starts_with("STORE_ID"), "{}", st.stdout);
    assert!(st.stdout.contains("SH_001"), "{}", st.stdout);
    let v = admin(&ab, "stores", &["list", "M001", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["stores"][0]["store_id"], "SH_001", "{v}");

    // terminals add: the key id and the secret, shown once; a pay signed with it works.
    let t = admin(
        &ab,
        "terminals",
        &[
            "add",
            "M001",
            "--store-id",
            "SH_001",
            "--terminal-id",
            "POS_01",
            "--equipment-type",
            "CR",
            "--rate-per-sec",
            "1000",
        ],
    )
    .await
    .ok();
    assert!(t.stdout.contains("shown once"), "{}", t.stdout);
    let key = t.labelled("key_id:");
    let secret1 = t.labelled("secret_hex:");
    assert_eq!(secret1.len(), 64, "{}", t.stdout);
    assert_eq!(t.labelled("store_id"), "SH_001");
    assert_eq!(t.labelled("equipment_type"), "CR");
    let term = terminal(&base, &key, &secret1);
    let (s, v) = term.pay("CLI_1", &auth_code("0000"), "8.80", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // An onboarded merchant's numbers are its own at the gateway.
    let gw_no = v["gateway_out_trade_no"]
        .as_str()
        .unwrap_or("CLI_1")
        .to_owned();
    let (_, ledger) = sim_trade(&sim, &gw_no).await;
    assert_eq!(ledger["sub_merchant_id"], smid.as_str(), "{ledger}");
    assert_eq!(ledger["terminal_id"], "POS_01");

    // terminals show (table and --json), never the secret; list says what it can.
    let sh = admin(&ab, "terminals", &["show", &key]).await.ok();
    assert_eq!(sh.labelled("key_id"), key);
    assert_eq!(sh.labelled("status"), "ACTIVE");
    assert!(
        !sh.stdout.contains(&secret1) && !sh.stdout.contains("secret_hex"),
        "{}",
        sh.stdout
    );
    let v = admin(&ab, "terminals", &["show", &key, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (v["key_id"].as_str(), v["terminal_id"].as_str()),
        (Some(key.as_str()), Some("POS_01"))
    );
    assert!(v.get("secret_hex").is_none(), "{v}");
    let ls = admin(&ab, "terminals", &["list", "M001"]).await.ok();
    assert!(ls.stdout.contains("has 1 terminal(s)"), "{}", ls.stdout);
    assert!(ls.stdout.contains("no endpoint listing"), "{}", ls.stdout);
    let v = admin(&ab, "terminals", &["list", "M001", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(v["terminal_count"], 1, "{v}");

    // terminals suspend / resume.
    let o = admin(&ab, "terminals", &["suspend", &key]).await.ok();
    assert_eq!(o.labelled("status"), "SUSPENDED");
    let (s, v) = term.pay("CLI_2", &auth_code("0000"), "1.00", 10).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("terminal_suspended")),
        "{v}"
    );
    let o = admin(&ab, "terminals", &["resume", &key]).await.ok();
    assert_eq!(o.labelled("status"), "ACTIVE");
    let (s, v) = term.pay("CLI_2", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");

    // merchants suspend / resume.
    let o = admin(&ab, "merchants", &["suspend", "M001"]).await.ok();
    assert_eq!(o.labelled("status"), "SUSPENDED");
    let (s, v) = term.pay("CLI_3", &auth_code("0000"), "1.00", 10).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("merchant_suspended")),
        "{v}"
    );
    let o = admin(&ab, "merchants", &["resume", "M001"]).await.ok();
    assert_eq!(o.labelled("status"), "ACTIVE");

    // merchants modify: the gateway's field through .modify, the switch's own locally.
    let o = admin(
        &ab,
        "merchants",
        &[
            "modify",
            "M001",
            "--alias-name",
            "新测试店",
            "--merchant-fee-bps",
            "55",
        ],
    )
    .await
    .ok();
    assert_eq!(o.labelled("alias_name"), "新测试店");
    assert_eq!(o.labelled("merchant_fee_bps"), "55");
    let (_, sm) = sim_get(&sim.base_url(), &format!("/_sim/merchants/{smid}")).await;
    assert_eq!(sm["alias_name"], "新测试店", "{sm}");

    // terminals rotate: the table names the grace; with no grace only the new secret works.
    let o = admin(&ab, "terminals", &["rotate", &key, "--grace-secs", "3600"])
        .await
        .ok();
    assert!(
        o.stdout.contains("keeps working for 3600 s"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("shown once"), "{}", o.stdout);
    let secret2 = o.labelled("secret_hex:");
    assert_ne!(secret2, secret1);
    let (s, _) = term.get("CLI_1").await;
    assert_eq!(s, 200, "the old secret during the grace");
    let v = admin(
        &ab,
        "terminals",
        &["rotate", &key, "--grace-secs", "0", "--json"],
    )
    .await
    .ok()
    .json();
    let secret3 = v["secret_hex"].as_str().expect("secret_hex").to_owned();
    assert_eq!(v["grace_secs"], 0, "{v}");
    let (s, v) = terminal(&base, &key, &secret2).get("CLI_1").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("auth_bad_signature")),
        "{v}"
    );
    let (s, v) = terminal(&base, &key, &secret3)
        .pay("CLI_4", &auth_code("0000"), "2.00", 10)
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");

    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Error answers and no answer exit 1 with one readable line (the field and
/// its flag named), never the token; --json still prints the error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_exit_1_without_the_token() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, _base, ab) = switch_with_admin(dir.path(), &sim).await;

    // A wrong token: 401, exit 1, neither token in the output.
    let wrong = "wrong-token-wrong-token-0002";
    let o = ps(&["merchants", "--admin", &ab, "list"], Some(wrong)).await;
    assert_eq!(o.code, 1, "{} {}", o.stdout, o.stderr);
    assert!(o.stderr.contains("401 auth_token"), "{}", o.stderr);
    assert!(
        !o.stderr.contains(wrong) && !o.stdout.contains(wrong),
        "{}",
        o.stderr
    );
    o.assert_no_token();
    let o = ps(
        &["merchants", "--admin", &ab, "list", "--json"],
        Some(wrong),
    )
    .await;
    assert_eq!(o.code, 1);
    assert_eq!(o.json()["error"]["code"], "auth_token");

    // A field the admin API refuses: the field and the flag named.
    let mut flags = merchant_flags("M009");
    let i = flags.iter().position(|f| *f == "021-12345678").unwrap();
    flags[i] = "phone?";
    let o = admin(&ab, "merchants", &flags).await;
    assert_eq!(o.code, 1, "{} {}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .starts_with("error: 400 invalid_field (field service_phone, flag --service-phone): "),
        "{}",
        o.stderr
    );
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    o.assert_no_token();

    // Not found.
    let o = admin(&ab, "merchants", &["show", "NOPE"]).await;
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("404 not_found"), "{}", o.stderr);
    let o = admin(&ab, "terminals", &["suspend", "PTNOPE"]).await;
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no such terminal PTNOPE"), "{}", o.stderr);

    // No admin API at that address: exit 1, the address named.
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let o = admin(&nobody, "merchants", &["list"]).await;
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains(&format!("cannot reach the admin API at {nobody}")),
        "{}",
        o.stderr
    );
    o.assert_no_token();

    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// The token file: used when mode 0600, refused when readable by group or
/// others (exit 1) unless --allow-insecure-key-permissions; it wins over the
/// environment; no token at all is a usage error (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_token_file_and_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, _base, ab) = switch_with_admin(dir.path(), &sim).await;
    let tf = dir.path().join("admin.token");
    std::fs::write(&tf, format!("\n  {TOKEN}  \n")).unwrap();
    let tfs = tf.to_str().unwrap();

    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = ps(
        &["merchants", "list", "--admin", &ab, "--token-file", tfs],
        Some("ignored-env-token-0003"),
    )
    .await
    .ok();
    assert!(o.stdout.starts_with("EXTERNAL_ID"), "{}", o.stdout);

    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = ps(
        &["merchants", "list", "--admin", &ab, "--token-file", tfs],
        None,
    )
    .await;
    assert_eq!(o.code, 1, "{} {}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("readable by group or others; chmod 600"),
        "{}",
        o.stderr
    );
    o.assert_no_token();
    let o = ps(
        &[
            "merchants",
            "list",
            "--admin",
            &ab,
            "--token-file",
            tfs,
            "--allow-insecure-key-permissions",
        ],
        None,
    )
    .await
    .ok();
    assert!(o.stdout.starts_with("EXTERNAL_ID"), "{}", o.stdout);

    let o = ps(&["merchants", "list", "--admin", &ab], None).await;
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("--token-file") && o.stderr.contains("PAYSWITCH_ADMIN_TOKEN"),
        "{}",
        o.stderr
    );

    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Bad command lines exit 2 before anything is sent.
#[tokio::test]
async fn cli_usage_errors_exit_2() {
    for args in [
        // A required flag missing.
        vec![
            "merchants",
            "add",
            "--name",
            "x",
            "--alias-name",
            "y",
            "--service-phone",
            "1",
            "--category-id",
            "c",
        ],
        vec!["stores", "add", "M001", "--name", "x"],
        vec!["terminals", "add", "M001", "--store-id", "S1"],
        // Nothing to change.
        vec!["merchants", "modify", "M001"],
        // A contact without its mobile; a fee out of range; a bad admin URL.
        vec!["merchants", "modify", "M001", "--contact-name", "x"],
        vec!["merchants", "modify", "M001", "--merchant-fee-bps", "10001"],
        vec!["merchants", "list", "--admin", "127.0.0.1:8081"],
        vec!["terminals", "frobnicate"],
    ] {
        let o = ps(&args, Some(TOKEN)).await;
        assert_eq!(o.code, 2, "{args:?}: {} {}", o.stdout, o.stderr);
        assert!(o.stderr.contains("error"), "{args:?}: {}", o.stderr);
        o.assert_no_token();
    }
}

/// The node configs of deploy/cluster (as setup.sh writes them) load, each
/// with its own node_id on the same database.
#[test]
fn deploy_cluster_node_configs_load() {
    use std::os::unix::fs::PermissionsExt;
    let cluster = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("keys")).unwrap();
    std::fs::create_dir_all(d.join("secrets")).unwrap();
    for f in ["demo-app-private.pem", "demo-alipay-public.pem"] {
        let to = d.join("keys").join(f);
        std::fs::copy(keys_dir().join(f), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for (f, v) in [
        ("admin.token", "a-lab-admin-token-0123456789"),
        ("registry.key", &hex::encode([7u8; 32])),
    ] {
        let p = d.join("secrets").join(f);
        std::fs::write(&p, v).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut urls = Vec::new();
    for n in ["a", "b"] {
        let text = std::fs::read_to_string(cluster.join(format!("node-{n}.toml.in")))
            .unwrap()
            .replace("PG_PASSWORD", "pw");
        let p = d.join(format!("node-{n}.toml"));
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let cfg = engine::Config::load(&p).unwrap_or_else(|e| panic!("node-{n}: {e}"));
        let pg = cfg.store.postgres.expect("postgres");
        assert_eq!(pg.node_id, format!("node-{n}"));
        assert_eq!(pg.lease_ms, 15_000);
        urls.push(pg.url.masked());
    }
    assert_eq!(urls[0], urls[1], "one database");
    let compose = std::fs::read_to_string(cluster.join("compose.yaml")).unwrap();
    for s in ["postgres:", "alipay-sim:", "node-a:", "node-b:", "lb:"] {
        assert!(compose.contains(s), "compose.yaml lacks {s}");
    }
}
