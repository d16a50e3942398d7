//! deploy/monitoring/ kept true against the switch:
//!
//! - `promtool check rules` and `promtool test rules` pass on alerts.yml and
//!   alerts.test.yml, and every query of dashboard.json parses as PromQL
//!   (promtool, Debian's `prometheus` package: skipped with a reason
//!   without it, a failure under `CI=true`);
//! - every `payswitch_*` metric an alert or a dashboard panel uses is a
//!   family on a live switch's `/metrics` (simulator and switch on
//!   127.0.0.1, after one payment), `_bucket`, `_sum` and `_count` only of
//!   histograms;
//! - every alert has a `for:`, a severity, a summary and a description, and
//!   the alerts and panels cover what docs/ENGINE.md, "Monitoring" says;
//! - the TLS listener's certificate expiry is exported as openssl reads it
//!   (needs the openssl command; skipped without it, as flows.rs does).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring")
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs `cmd` for at most `limit`; its output. Panics when it overruns.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The promtool to use (`PAYSWITCH_PROMTOOL`, else `promtool` on PATH), or
/// None when there is none, after saying that `what` is skipped; under
/// CI=true a missing promtool fails the test.
fn promtool(what: &str) -> Option<PathBuf> {
    let p =
        PathBuf::from(std::env::var("PAYSWITCH_PROMTOOL").unwrap_or_else(|_| "promtool".into()));
    let found = Command::new(&p)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(p);
    }
    assert!(
        !under_ci(),
        "promtool not found ({}) and CI=true: .ci/run installs Debian's `prometheus` package",
        p.display()
    );
    eprintln!(
        "skipping {what}: promtool not found ({}); install Debian's `prometheus` package",
        p.display()
    );
    None
}

fn promtool_ok(promtool: &Path, args: &[&str], dir: &Path) {
    let out = run_bounded(
        Command::new(promtool).args(args).current_dir(dir),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn alerts() -> Value {
    let text = std::fs::read_to_string(monitoring_dir().join("alerts.yml")).unwrap();
    serde_norway::from_str(&text).expect("alerts.yml is YAML")
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(monitoring_dir().join("dashboard.json")).unwrap();
    serde_json::from_str(&text).expect("dashboard.json is JSON")
}

/// Every rule of alerts.yml.
fn rules(alerts: &Value) -> Vec<&Value> {
    let groups = alerts["groups"].as_array().expect("groups");
    assert!(!groups.is_empty());
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules of a group"))
        .collect()
}

/// Every panel of the dashboard, those inside (collapsed) rows too.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut todo: Vec<&Value> = d["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = todo.pop() {
        if let Some(inner) = p["panels"].as_array() {
            todo.extend(inner);
        }
        out.push(p);
    }
    out
}

/// (panel title, expr) of every target of the dashboard.
fn dashboard_exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().expect("a target with an expr");
            out.push((p["title"].as_str().unwrap_or("?").to_owned(), e.to_owned()));
        }
    }
    out
}

/// The `payswitch_*` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut out = BTreeSet::new();
    let mut i = 0;
    while let Some(at) = expr[i..].find("payswitch_") {
        let start = i + at;
        let mut end = start + "payswitch_".len();
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_')
        {
            end += 1;
        }
        let whole = (start == 0 || !ident(b[start - 1])) && (end == b.len() || !ident(b[end]));
        if whole && end > start + "payswitch_".len() {
            out.insert(expr[start..end].to_owned());
        }
        i = end;
    }
    out
}

#[test]
fn metric_names_are_extracted() {
    let n = metric_names(
        r#"histogram_quantile(0.99, sum by (le) (rate(payswitch_journal_commit_seconds_bucket{job="payswitch"}[5m]))) / payswitch_trades{status="UNKNOWN"} or x:payswitch_no or payswitch_"#,
    );
    let want: BTreeSet<String> = [
        "payswitch_journal_commit_seconds_bucket",
        "payswitch_trades",
    ]
    .map(String::from)
    .into();
    assert_eq!(n, want);
}

/// Families of a Prometheus text exposition: name -> type (`untyped` for
/// samples without a TYPE line).
fn families(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            out.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            out.entry(name.to_owned())
                .or_insert_with(|| "untyped".into());
        }
    }
    out
}

/// Whether `name` (as a query writes it) is exported: a family, or a
/// histogram family's `_bucket`, `_sum` or `_count`.
fn exported(name: &str, fams: &BTreeMap<String, String>) -> bool {
    if fams.contains_key(name) {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|s| {
        name.strip_suffix(s)
            .is_some_and(|base| fams.get(base).is_some_and(|k| k == "histogram"))
    })
}

#[test]
fn alerts_and_dashboard_pass_promtool() {
    let Some(promtool) = promtool("promtool check/test rules") else {
        return;
    };
    let dir = monitoring_dir();
    promtool_ok(&promtool, &["check", "rules", "alerts.yml"], &dir);
    promtool_ok(&promtool, &["test", "rules", "alerts.test.yml"], &dir);
    // The dashboard's queries, Grafana's variables replaced, as recording
    // rules: promtool parses every one.
    let tmp = tempfile::tempdir().unwrap();
    let rules: Vec<Value> = dashboard_exprs(&dashboard())
        .into_iter()
        .enumerate()
        .map(|(i, (_, e))| {
            let e = e
                .replace("$__rate_interval", "5m")
                .replace("$__range", "1h")
                .replace("$instance", ".*");
            serde_json::json!({"record": format!("dashboard:query_{i}"), "expr": e})
        })
        .collect();
    assert!(rules.len() > 20, "{}", rules.len());
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(tmp.path().join("dashboard-queries.yml"), file.to_string()).unwrap();
    promtool_ok(
        &promtool,
        &["check", "rules", "dashboard-queries.yml"],
        tmp.path(),
    );
}

#[test]
fn every_alert_can_be_acted_on() {
    let a = alerts();
    let mut names = BTreeSet::new();
    for r in rules(&a) {
        let name = r["alert"].as_str().expect("only alerting rules");
        assert!(names.insert(name.to_owned()), "{name} twice");
        assert!(name.starts_with("Payswitch"), "{name}");
        assert!(
            r["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
            "{name}: expr"
        );
        assert!(
            r["for"].as_str().is_some_and(|f| !f.is_empty()),
            "{name}: for"
        );
        let sev = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning", "info"].contains(&sev),
            "{name}: severity {sev:?}"
        );
        let summary = r["annotations"]["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{name}: summary");
        let desc = r["annotations"]["description"].as_str().unwrap_or_default();
        assert!(
            desc.len() > 120,
            "{name}: a description an on-call can act on"
        );
        assert!(
            desc.contains("First step") || desc.contains("follow") || desc.contains("Renew it"),
            "{name}: the description says what to do first"
        );
    }
    // What the monitoring must cover (the brief of deploy/monitoring/README.md).
    let used: BTreeSet<String> = rules(&a)
        .iter()
        .flat_map(|r| metric_names(r["expr"].as_str().unwrap()))
        .collect();
    for family in [
        "payswitch_trades",
        "payswitch_late_landings_total",
        "payswitch_late_landing_watch_gave_up_total",
        "payswitch_notify_incidents_total",
        "payswitch_recon_differences",
        "payswitch_recon_last_run_timestamp_seconds",
        "payswitch_journal_failures_total",
        "payswitch_journal_commit_seconds_bucket",
        "payswitch_journal_pool_connections",
        "payswitch_gateway_circuit_open",
        "payswitch_heartbeats_total",
        "payswitch_key_expiry_timestamp_seconds",
        "payswitch_leases_taken_over_total",
    ] {
        assert!(used.contains(family), "no alert on {family}");
    }
    let exprs: Vec<&str> = rules(&a)
        .iter()
        .map(|r| r["expr"].as_str().unwrap())
        .collect();
    assert!(exprs
        .iter()
        .any(|e| e.contains(r#"up{job="payswitch"} == 0"#)));
    assert!(
        exprs.iter().any(|e| e.contains("probe_success")),
        "readiness"
    );
}

#[test]
fn the_dashboard_imports_with_a_datasource_input() {
    let d = dashboard();
    let inputs = d["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "{inputs:?}"
    );
    let ds = serde_json::json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"});
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in panels(&d) {
        let title = p["title"].as_str().expect("a title");
        assert!(
            ids.insert(p["id"].as_u64().expect("an id")),
            "{title}: id twice"
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        );
        let (x, y, w, h) = (x.unwrap(), y.unwrap(), w.unwrap(), h.unwrap());
        assert!(x + w <= 24, "{title}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"], ds, "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        for t in targets {
            assert_eq!(t["datasource"], ds, "{title}");
        }
    }
    let used: BTreeSet<String> = dashboard_exprs(&d)
        .iter()
        .flat_map(|(_, e)| metric_names(e))
        .collect();
    for family in [
        "payswitch_requests_total",
        "payswitch_request_seconds_bucket",
        "payswitch_gateway_calls_total",
        "payswitch_gateway_seconds_bucket",
        "payswitch_journal_batch_size_bucket",
        "payswitch_journal_commit_seconds_bucket",
        "payswitch_journal_failures_total",
        "payswitch_journal_pool_connections",
        "payswitch_gateway_circuit_open",
        "payswitch_trades",
        "payswitch_notifications_total",
        "payswitch_recon_differences",
        "payswitch_leases_held",
    ] {
        assert!(used.contains(family), "no panel shows {family}");
    }
}

/// Every metric of the alerts and the dashboard exists on a live switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_used_is_exported() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let sim = sim().await;
        let dir = tempfile::tempdir().unwrap();
        let (sw, base) = switch_in_process(dir.path(), &sim).await;
        let t = Term::new(&base);
        let (s, v) = t.pay("MON_1", &auth_code("0000"), "1.00", 10).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
        let (s, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
        assert_eq!(s, 200, "{v}");
        let text = v.as_str().expect("text").to_owned();
        sw.shutdown().await.unwrap();
        sim.shutdown().await;

        // The scrape is the switch's, after the pay.
        assert!(
            text.contains("payswitch_requests_total{endpoint=\"pay\",status=\"200\"} 1\n"),
            "{text}"
        );
        let fams = families(&text);
        let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in rules(&alerts()) {
            let name = r["alert"].as_str().unwrap();
            for m in metric_names(r["expr"].as_str().unwrap()) {
                used.entry(m).or_default().push(format!("alert {name}"));
            }
        }
        for (title, e) in dashboard_exprs(&dashboard()) {
            for m in metric_names(&e) {
                used.entry(m).or_default().push(format!("panel {title:?}"));
            }
        }
        assert!(used.len() > 25, "{used:?}");
        let missing: Vec<String> = used
            .iter()
            .filter(|(m, _)| !exported(m, &fams))
            .map(|(m, by)| format!("{m} (used by {})", by.join(", ")))
            .collect();
        assert!(
            missing.is_empty(),
            "not on /metrics:\n{}\n\n/metrics:\n{text}",
            missing.join("\n")
        );
        // A histogram's parts only of a histogram.
        for m in used.keys() {
            if let Some(k) = fams.get(m.as_str()) {
                assert_ne!(k, "histogram", "{m}: query its _bucket, _sum or _count");
            }
        }
        if let Some(promtool) = promtool("promtool check metrics of the scrape") {
            // The exposition itself, as Prometheus would parse and lint it.
            let mut child = Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "promtool check metrics:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    })
    .await
    .expect("within 60 s");
}

/// The TLS listener's certificate: its expiry on /metrics is the one
/// openssl reads (`-checkend` on either side of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_certificate_expiry_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_ca, cert, _key)) = make_test_certs(dir.path()) else {
        eprintln!("skipping: the openssl command is not available to make a certificate");
        return;
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        let sim = sim().await;
        let port = free_port();
        let text = tls_config_text(&sim, port);
        let path = write_config(dir.path(), &text);
        let sw = engine::start(engine::Config::load(&path).unwrap())
            .await
            .unwrap();
        let value = metric_sum(&ops(&sw), "payswitch_key_expiry_timestamp_seconds").await;
        let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
        sw.shutdown().await.unwrap();
        sim.shutdown().await;
        let m = v.as_str().unwrap();
        assert!(
            m.contains("payswitch_key_expiry_timestamp_seconds{key=\"server.tls_cert_file\"} "),
            "{m}"
        );
        let left = value as i64 - unix_now();
        // make_test_certs signs for one day.
        assert!((86_000..=86_500).contains(&left), "{left}");
        let checkend = |secs: i64| {
            let out = run_bounded(
                Command::new("openssl").args([
                    "x509",
                    "-noout",
                    "-in",
                    cert.to_str().unwrap(),
                    "-checkend",
                    &secs.to_string(),
                ]),
                Duration::from_secs(20),
            );
            out.status.success() // true: still valid `secs` from now
        };
        assert!(checkend(left - 60), "openssl: expires before {left} s");
        assert!(!checkend(left + 60), "openssl: valid after {left} s");
    })
    .await
    .expect("within 60 s");
}
