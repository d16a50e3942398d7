//! The command line: thresholds turn into exit codes, bad arguments are
//! refused with a message naming them, `compare` flags regressions, and
//! `report` re-renders a JSON report in another language.

mod common;

use std::process::Command;

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

fn run_http(url: &str, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    loadgen()
        .args([
            "run",
            "--target",
            "http",
            "--url",
            url,
            "--rate",
            "100",
            "--duration",
            "1s",
        ])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("loadgen runs")
}

#[test]
fn thresholds_turn_into_exit_codes() {
    let addr = common::serve_in_thread(common::Behaviour::Fast);
    let url = format!("http://{addr}/");
    let dir = tempfile::tempdir().unwrap();

    // Generous thresholds (and a generous lag limit, this machine is shared): exit 0.
    let pass = dir.path().join("pass");
    let o = run_http(
        &url,
        &pass,
        &[
            "--threshold",
            "p99<10s",
            "--threshold",
            "errors<1%",
            "--threshold",
            "tps>=1",
            "--max-lag",
            "2s",
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("PASSED"), "{stdout}");
    for f in ["report.json", "report.md", "report.html"] {
        assert!(pass.join(f).is_file(), "{f}");
    }

    // An impossible latency threshold: exit 2, and the report says which one failed.
    let fail = dir.path().join("fail");
    let o = run_http(&url, &fail, &["--threshold", "p99<1us", "--max-lag", "2s"]);
    assert_eq!(o.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("FAIL p99<1us"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fail.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "payswitch-loadgen-report/1");
    assert_eq!(json["verdict"]["passed"], false);
    assert_eq!(json["thresholds"][0]["passed"], false);
    assert!(json["total"]["latency_us"]["p99"].as_u64().unwrap() >= 1);

    // compare: B (the failed run) against A; `--tolerance 0` cannot flag a
    // latency regression under 100 us, so only check that it runs and prints.
    let o = loadgen()
        .arg("compare")
        .arg(pass.join("report.json"))
        .arg(fail.join("report.json"))
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0) | Some(2)));
    assert!(String::from_utf8_lossy(&o.stdout).contains("p99_us"));

    // report: re-render in Chinese.
    let zh = dir.path().join("zh");
    let o = loadgen()
        .arg("report")
        .arg(pass.join("report.json"))
        .arg("--out")
        .arg(&zh)
        .args(["--lang", "zh"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = std::fs::read_to_string(zh.join("report.md")).unwrap();
    assert!(md.contains("压力测试报告"), "{md}");
}

#[test]
fn bad_arguments_name_the_argument() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "run",
                "--target",
                "http",
                "--url",
                "http://127.0.0.1:9/",
                "--threshold",
                "p77<5ms",
            ],
            "--threshold",
        ),
        (
            &[
                "run",
                "--target",
                "http",
                "--url",
                "http://127.0.0.1:9/",
                "--rate=-5",
            ],
            "--rate",
        ),
        (
            &[
                "run",
                "--target",
                "http",
                "--url",
                "http://127.0.0.1:9/",
                "--mix",
                "fly=1",
            ],
            "--mix",
        ),
        (&["run", "--target", "http", "--url", "ftp://x/"], "--url"),
        (
            &["run", "--target", "switch", "--url", "http://127.0.0.1:9"],
            "--terminals",
        ),
    ];
    for (args, name) in cases {
        let o = loadgen().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(name), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A file that is not a report.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");
    std::fs::write(&p, "{\"schema\":\"other/9\"}").unwrap();
    let o = loadgen().arg("compare").arg(&p).arg(&p).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("schema"));
}
