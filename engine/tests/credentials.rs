//! No payment credential at rest: a buyer's auth code never reaches the
//! journal in clear, even when the gateway echoes it back (a signature
//! error's sub_msg carries the whole string it verified, biz_content and
//! auth_code included), and the idempotency fingerprint is keyed.

mod common;

use std::path::Path;

use common::*;

/// Every byte of the journal (the database and its WAL).
fn journal_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["journal.db", "journal.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(f)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_auth_code_is_not_journaled() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    // The switch signs with a key the simulator does not know: every answer
    // is 40002 isv.invalid-signature with the sign string echoed.
    let other = dir.path().join("other-key");
    engine::keygen::keygen(&other).unwrap();
    let key = other.join("app-private.pem");
    let (sw, base) = switch_with(dir.path(), &sim, "", |s| {
        s.replace("demo-app-private.pem", key.to_str().unwrap())
    })
    .await;
    let t = Term::new(&base);
    let code = "281111222233334444";
    let (s, v) = t.pay("ECHO1", code, "1.00", 5).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["sub_code"], "isv.invalid-signature", "{v}");
    let msg = v["sub_msg"].as_str().unwrap_or_default();
    assert!(!msg.contains(code), "the terminal sees no auth code: {msg}");
    assert!(msg.contains("removed"), "{msg}");
    sw.shutdown().await.unwrap();
    let bytes = journal_bytes(dir.path());
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, code), "the auth code is in the journal");
    assert!(
        !contains(&bytes, &code[..14]),
        "a long part of the auth code is in the journal"
    );

    // The journaled fingerprint is the keyed one.
    let c = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
    let doc: String = c
        .query_row(
            "SELECT doc FROM trades WHERE out_trade_no = 'ECHO1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert!(v["fingerprint"].as_str().unwrap().starts_with("h1:"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_restart_still_matches_its_fingerprint() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let code = auth_code("0000");
    let (_, v) = t.pay("FP1", &code, "2.00", 10).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    sw.shutdown().await.unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    // The same request: the same trade, no second payment.
    let (s, v2) = t.pay("FP1", &code, "2.00", 10).await;
    assert_eq!(
        (s, v2["trade_no"].clone()),
        (200, v["trade_no"].clone()),
        "{v2}"
    );
    // Another content under the same number: 409.
    let (s, v3) = t.pay("FP1", &code, "3.00", 10).await;
    assert_eq!(s, 409, "{v3}");
    sw.shutdown().await.unwrap();
}
