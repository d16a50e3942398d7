//! The property-based API test: schemathesis generates requests from
//! docs/openapi.yaml (valid ones and invalid ones) against a live switch and
//! simulator, every request signed with PSW1-HMAC-SHA256 as terminal T1 (or
//! carrying the admin token), and fails on any 5xx, any status, content type
//! or body outside the spec, and any 401 to a correctly signed request.
//!
//! schemathesis is a Python package: `PAYSWITCH_SCHEMATHESIS` names its
//! executable (.ci/run installs it into a venv and sets it), else
//! `schemathesis` on PATH. Without it the test is skipped with a reason,
//! except under CI=true, where it fails. `PAYSWITCH_API_PROPERTY_EXAMPLES`
//! (default 30 per operation) and `PAYSWITCH_API_PROPERTY_SEED` (default a
//! fixed seed, so a CI run is reproducible) tune the run. One worker: the
//! machine has two cores, and CPython 3.11's `ast.parse` is not safe under
//! schemathesis' worker threads (hypothesis describes lambdas with it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// The checks: no 5xx; status, content type and body as declared; a
/// method the spec does not name on a path answers 405 with `Allow`; and
/// (hooks.py) a signed request is never refused 401.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,unsupported_method,allow_header_conformance,\
                      signed_requests_authenticate";

fn schemathesis() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("PAYSWITCH_SCHEMATHESIS") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![PathBuf::from("schemathesis")],
    };
    candidates.into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn admin_section(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("registry.key");
    std::fs::write(&key, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"registry.key\"\n",
        free_port(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(OPS_TOKEN.as_bytes()))
    )
}

/// One schemathesis run over the operations tagged `tag`, against `url`.
async fn run(st: &Path, tag: &str, url: &str, dir: &Path) -> (bool, String, Duration) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = manifest.join("../docs/openapi.yaml");
    let hooks = manifest.join("tests/api_property");
    let examples = std::env::var("PAYSWITCH_API_PROPERTY_EXAMPLES").unwrap_or_else(|_| "30".into());
    let seed = std::env::var("PAYSWITCH_API_PROPERTY_SEED").unwrap_or_else(|_| "20261202".into());
    // PAYSWITCH_API_PROPERTY_REPORT_DIR keeps the reports (JUnit, and a HAR
    // of every request and answer) for a look afterwards.
    let (report, formats) = match std::env::var_os("PAYSWITCH_API_PROPERTY_REPORT_DIR") {
        Some(d) => (PathBuf::from(d).join(tag), "junit,har"),
        None => (dir.join(format!("report-{tag}")), "junit"),
    };
    // PAYSWITCH_API_PROPERTY_CHECKS replaces the checks (e.g. `all`, to explore).
    let checks = std::env::var("PAYSWITCH_API_PROPERTY_CHECKS").unwrap_or_else(|_| CHECKS.into());
    let t0 = Instant::now();
    let mut cmd = tokio::process::Command::new(st);
    cmd.arg("run")
        .arg(&spec)
        .args(["--url", url, "--include-tag", tag, "--checks", &checks])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--workers", "1", "--request-timeout", "75", "--no-color"])
        .args(["--report", formats])
        .arg("--report-dir")
        .arg(&report)
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", &hooks)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PAYSWITCH_KEY_ID", "T1")
        .env("PAYSWITCH_SECRET_HEX", hex::encode(SECRET))
        .env("PAYSWITCH_ADMIN_TOKEN", OPS_TOKEN)
        .env(
            "PAYSWITCH_RELAY_URL",
            format!("http://127.0.0.1:{}/relay", free_port()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("schemathesis starts");
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis ({tag}) ran over 300 s"))
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let Some(st) = schemathesis() else {
        let why = "schemathesis is not installed (pip install schemathesis, or set PAYSWITCH_SCHEMATHESIS)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{why}: under CI=true the API property test must run"
        );
        eprintln!("skipped: {why}");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let admin_text = admin_section(dir.path());
    let (sw, base) = switch_with(dir.path(), &sim, "", |t| t + &admin_text).await;
    let admin = ops(&sw).base;
    let mut failures = Vec::new();
    for (tag, url) in [("terminal", &base), ("admin", &admin)] {
        let (ok, text, took) = run(&st, tag, url, dir.path()).await;
        let summary: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("passed") || l.contains("failed") || l.contains("cases"))
            .collect();
        eprintln!(
            "schemathesis {tag}: {} in {:.1} s\n{}",
            if ok { "ok" } else { "FAILED" },
            took.as_secs_f64(),
            summary.join("\n")
        );
        if !ok {
            failures.push(format!("---- schemathesis {tag} ----\n{text}"));
        }
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
