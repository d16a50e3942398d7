//! `loadgen demo`, short: the simulator and the switch start as child
//! processes, the load runs, the audit matches every trade, the report is
//! written, and both children are gone afterwards.
#![cfg(feature = "demo")]

use std::process::Command;

#[test]
fn demo_runs_end_to_end_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "demo",
            "--duration",
            "3s",
            "--rate",
            "30",
            "--threshold",
            "errors<=1%",
            // This machine is shared: do not let a busy scheduler turn the
            // test into an "invalid run"; the lag check has its own tests.
            "--max-lag",
            "1s",
        ])
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .expect("loadgen demo runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("report.html"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["target"]["kind"], "switch", "the switch was measured");
    assert_eq!(r["audit"]["passed"], true, "{}", r["audit"]);
    assert_eq!(r["total"]["requests"], 90);
    let procs = r["processes"].as_array().unwrap();
    let names: Vec<&str> = procs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"switch") && names.contains(&"simulator"),
        "{names:?}"
    );
    for p in procs {
        assert!(p["peak_rss_bytes"].as_u64().unwrap() > 0, "{p}");
        let pid = p["pid"].as_u64().unwrap();
        if p["name"] != "loadgen" {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .map(|s| s.contains(") Z "))
                        .unwrap_or(true),
                "{} (pid {pid}) still running",
                p["name"]
            );
        }
    }
    // The temporary directory (journal, keys) is gone.
    let tmp = stderr
        .lines()
        .find_map(|l| l.strip_prefix("loadgen demo: working directory "))
        .expect("the demo names its directory");
    assert!(!std::path::Path::new(tmp).exists(), "{tmp} left behind");
}
