//! `loadgen demo`, short: the simulator (demo app indirect) and the switch
//! start as child processes, the demo onboards its merchants, stores and
//! terminals through the switch's admin API, the load runs with 0 errors,
//! the audit matches every trade (also each ledger trade's sub-merchant,
//! store and terminal), the report is written, and both children are gone
//! afterwards. The demo ends with the switch's reconciliation of its
//! gateway day: every bill row matched, no difference.
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
    assert_eq!(r["total"]["errors"], 0, "{}", r["total"]["outcomes"]);
    assert_eq!(r["target"]["terminals"], 8, "the demo's 8 terminals");
    // Onboarded through the admin API, listed by GET /_sim/merchants (the
    // demo checks that before the load and says so in the notes).
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("onboarded through the switch's admin API: 2 merchants LGDEMO01")
            && notes.contains("LGDEMO02")
            && notes.contains("8 terminals")
            && notes.contains("lists the merchants in GET /_sim/merchants"),
        "{notes}"
    );
    assert!(
        stderr.contains("admin API at http://127.0.0.1:"),
        "{stderr}"
    );
    // The attribution check ran on the ledger's trades and found nothing.
    let a = &r["audit"];
    assert_eq!(a["misattributed"], 0, "{a}");
    assert_eq!(a["attribution"]["mismatched"], 0, "{a}");
    let checked = a["attribution"]["checked"].as_u64().expect("the check ran");
    assert!(
        checked > 0 && checked <= a["checked"].as_u64().unwrap(),
        "{a}"
    );
    // The switch's reconciliation of the run's gateway day(s): clean.
    let days = r["reconciliation"].as_array().expect("the demo reconciled");
    assert!(!days.is_empty() && days.len() <= 2, "{days:?}");
    for d in days {
        assert_eq!(d["exit_code"], 0, "{d}");
        assert_eq!(d["open"], 0, "{d}");
        assert_eq!(d["differences"], 0, "{d}");
        assert_eq!(d["bill_rows"], d["matched"], "{d}");
        // The day's settlement file adds up to the reconciled bill.
        assert_eq!(d["settlement"]["equals_bill"], true, "{d}");
        assert!(d["settlement"]["merchants"].as_u64().unwrap() >= 2, "{d}");
        for c in [
            "bill_only",
            "journal_only",
            "amount_mismatch",
            "status_mismatch",
            "fee_mismatch",
        ] {
            assert_eq!(d["by_class"][c], 0, "{d}");
        }
    }
    let rows: u64 = days.iter().map(|d| d["bill_rows"].as_u64().unwrap()).sum();
    assert!(
        rows > 50,
        "the run's payments and refunds are in the bill: {rows}"
    );
    assert!(out.join("reconciliation").is_dir());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Reconciliation"), "{md}");
    assert!(
        md.contains(&format!(
            "{checked} trades checked, 0 with another sub-merchant, store or terminal"
        )),
        "{md}"
    );
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

/// Every file of a directory tree.
fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

/// Every payment code the run `run_id` can have sent, by its first 14
/// digits (`28` and the 12 drawn from the trade; the last 4 name the case):
/// loadgen derives each trade's code from (run id, seq)
/// ([`loadgen::target::auth_code_for`]), so the test knows them
/// all without loadgen writing any down.
fn auth_code_heads(run_id: &str, seqs: u64) -> std::collections::HashSet<[u8; 14]> {
    (0..seqs)
        .map(|seq| {
            let c = loadgen::target::auth_code_for(loadgen::spec::PayCase::Normal, run_id, seq);
            c.as_bytes()[..14].try_into().unwrap()
        })
        .collect()
}

/// The codes of `heads` found in `b`: any 14 consecutive digits of a digit
/// run (so a code stored next to other digits, as SQLite packs a row's
/// columns, is found too).
fn auth_codes_in(b: &[u8], heads: &std::collections::HashSet<[u8; 14]>) -> Vec<String> {
    let mut hits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            for w in b[s..i].windows(14) {
                if heads.contains(w) {
                    hits.push(String::from_utf8_lossy(&b[s..i]).into_owned());
                    break;
                }
            }
        } else {
            i += 1;
        }
    }
    hits
}

/// Standalone runs of exactly 64 hex digits (a terminal secret's form).
fn hex64_runs(b: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_hexdigit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            n += usize::from(i - s == 64);
        } else {
            i += 1;
        }
    }
    n
}

/// A full mixed demo (pay, 10003, 20000, declines, QR, query, refund,
/// cancel), then every log line, the whole journal and the reports are
/// scanned: no buyer's payment code, no terminal secret, no private key
/// material.
#[test]
fn nothing_secret_is_at_rest_after_a_mixed_demo() {
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
            "--max-lag",
            "1s",
            "--keep-temp",
        ])
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .output()
        .expect("loadgen demo runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let work = std::path::PathBuf::from(
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("loadgen demo: kept "))
            .expect("the demo kept its directory"),
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let run_id = report["run_id"]
        .as_str()
        .expect("report.json names its run");
    // The load numbers its trades from 0 (out_trade_no = run id + 10-digit
    // seq); the journal shows the highest, and the codes of every seq up to
    // it are looked for.
    let mut journal = Vec::new();
    for e in std::fs::read_dir(&work).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("journal") {
            journal.extend(std::fs::read(e.path()).unwrap());
        }
    }
    let max_seq = journal
        .windows(run_id.len() + 10)
        .filter(|w| w.starts_with(run_id.as_bytes()))
        .filter_map(|w| {
            std::str::from_utf8(&w[run_id.len()..])
                .ok()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .expect("the journal holds the run's trades");
    assert!(max_seq < 1_000_000, "seq {max_seq}");
    let heads = auth_code_heads(run_id, max_seq + 1);
    // The scan finds a code of the run, alone or packed beside other digits.
    let code = loadgen::target::auth_code_for(loadgen::spec::PayCase::Wait1003, run_id, max_seq);
    for probe in [format!("x{code}y"), format!("\"7{code}2026\"")] {
        assert_eq!(auth_codes_in(probe.as_bytes(), &heads).len(), 1, "{probe}");
    }
    let mut files = Vec::new();
    files_under(&work, &mut files);
    files_under(&out, &mut files);
    let key_pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/keys/demo-app-private.pem"),
    )
    .unwrap();
    let key_lines: Vec<&str> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .collect();
    let mut scanned = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // The key files, the admin token, the registry key and the config
        // are secrets by design; everything else must hold none.
        let by_design = name.ends_with(".pem")
            || name.ends_with(".key")
            || name.ends_with(".token")
            || name.ends_with(".toml")
            || name.ends_with(".txt");
        if by_design {
            continue;
        }
        let b = std::fs::read(f).unwrap();
        let codes = auth_codes_in(&b, &heads);
        assert!(codes.is_empty(), "{}: payment codes {codes:?}", f.display());
        for l in &key_lines {
            assert!(
                !b.windows(l.len()).any(|w| w == l.as_bytes()),
                "{}: private key material",
                f.display()
            );
        }
        let is_journal = name.starts_with("journal");
        if !is_journal {
            assert_eq!(hex64_runs(&b), 0, "{}: a 64-hex-digit secret", f.display());
        }
        scanned.push(name);
    }
    for must in [
        "journal.sqlite",
        "switch.log",
        "simulator.log",
        "report.json",
        "report.html",
    ] {
        assert!(
            scanned.iter().any(|s| s == must),
            "{must} not scanned: {scanned:?}"
        );
    }
    std::fs::remove_dir_all(&work).unwrap();
}
