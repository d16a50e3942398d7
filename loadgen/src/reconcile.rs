//! The end of `loadgen demo`: the switch's reconciliation of the run's
//! gateway days against the simulator's bill (issue item 6).
//!
//! The simulator's clock is moved one day forward (so the run's day is
//! "yesterday" and its bill exists), `engine::recon::reconcile_blocking`
//! runs for each gateway day the load touched (on a thread of its own: it
//! starts its own runtime), and the clock is set back, whatever happened.
//! Each day becomes a [`ReconDay`] of the pressure-test report.
//!
//! Guarantees: never panics and never fails the caller: a day that could
//! not be reconciled is a `ReconDay` with `error` set (and fails the
//! report's verdict); the reconciliation's own files go to `out`.

use std::collections::BTreeSet;
use std::path::Path;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::http::Http;
use crate::report::{ReconDay, SettlementCheck};

/// The simulator's clock (`GET /_sim/clock`): (offset from the wall clock in
/// seconds, gateway day `yyyy-MM-dd`); `None` when it cannot be read.
pub async fn sim_clock(http: &Http, sim_base: &str) -> Option<(i64, String)> {
    let url = format!("{}/_sim/clock", sim_base.trim_end_matches('/'));
    let a = http.get(&url).await.ok()?;
    let v: Value = serde_json::from_slice(&a.body).ok()?;
    let offset = v.get("offset_secs").and_then(Value::as_i64)?;
    let day = v
        .get("gateway_time")
        .and_then(Value::as_str)
        .filter(|t| t.len() >= 10)?[..10]
        .to_string();
    Some((offset, day))
}

async fn set_clock(http: &Http, sim_base: &str, offset: i64) -> Result<(), String> {
    let url = format!("{}/_sim/clock", sim_base.trim_end_matches('/'));
    let body = Bytes::from(format!("{{\"offset_secs\": {offset}}}"));
    match http
        .send(
            Method::POST,
            &url,
            &[("content-type", "application/json")],
            body,
        )
        .await
    {
        Ok(a) if a.status.is_success() => Ok(()),
        Ok(a) => Err(format!("POST /_sim/clock: HTTP {}", a.status.as_u16())),
        Err(e) => Err(format!("POST /_sim/clock: {e}")),
    }
}

fn failed(date: &str, e: String) -> ReconDay {
    ReconDay {
        date: date.to_string(),
        error: Some(e),
        ..Default::default()
    }
}

async fn one_day(config: &Path, date: &str, out: &Path) -> ReconDay {
    let req = engine::recon::ReconRequest {
        config: config.to_path_buf(),
        date: date.to_string(),
        out: Some(out.to_path_buf()),
        lang: engine::recon::Lang::En,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(engine::recon::reconcile_blocking(&req).map_err(|e| e.to_string()));
    });
    let o = match rx.await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return failed(date, e),
        Err(_) => return failed(date, "the reconciliation thread panicked".into()),
    };
    let v = std::fs::read_to_string(&o.json_path)
        .map_err(|e| format!("{}: {e}", o.json_path.display()))
        .and_then(|t| {
            serde_json::from_str::<Value>(&t).map_err(|e| format!("{}: {e}", o.json_path.display()))
        });
    match v {
        Ok(v) => {
            let mut day = ReconDay::from_json(date, o.exit_code, &v);
            if day.passed() {
                day.settlement = Some(settle(config, date, out, &v).await);
            }
            day
        }
        Err(e) => failed(date, e),
    }
}

/// `payswitch settlement` of a clean day, checked against the bill's totals
/// in the reconciliation report `recon`.
async fn settle(config: &Path, date: &str, out: &Path, recon: &Value) -> SettlementCheck {
    let req = engine::settlement::SettleRequest {
        config: config.to_path_buf(),
        date: date.to_string(),
        out: Some(out.to_path_buf()),
        unreconciled: false,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(engine::settlement::settle_blocking(&req).map_err(|e| e.to_string()));
    });
    let s = match rx.await {
        Ok(Ok(o)) => o.settlement,
        Ok(Err(e)) => {
            return SettlementCheck {
                note: Some(e),
                ..Default::default()
            }
        }
        Err(_) => {
            return SettlementCheck {
                note: Some("the settlement thread panicked".into()),
                ..Default::default()
            }
        }
    };
    let t = &s.totals;
    let bill = &recon["bill"];
    let pairs = [
        (
            "trade_count",
            Value::from(t.trade_count),
            bill["trade_count"].clone(),
        ),
        (
            "trade_amount",
            Value::from(t.trade_amount.clone()),
            bill["trade_amount"].clone(),
        ),
        (
            "refund_count",
            Value::from(t.refund_count),
            bill["refund_count"].clone(),
        ),
        (
            "refund_amount",
            Value::from(t.refund_amount.clone()),
            bill["refund_amount"].clone(),
        ),
        (
            "gateway_fee",
            Value::from(t.gateway_fee.clone()),
            bill["service_fee"].clone(),
        ),
    ];
    let off: Vec<String> = pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(k, a, b)| format!("{k}: settlement {a}, bill {b}"))
        .collect();
    SettlementCheck {
        merchants: s.merchants.len() as u64,
        trade_amount: t.trade_amount.clone(),
        refund_amount: t.refund_amount.clone(),
        gateway_fee: t.gateway_fee.clone(),
        merchant_fee: t.merchant_fee.clone(),
        net_amount: t.net_amount.clone(),
        equals_bill: off.is_empty(),
        note: (!off.is_empty()).then(|| off.join("; ")),
    }
}

/// Moves the simulator's clock one day forward, reconciles each of `days`
/// with the switch's configuration `config` (the journal must not be in use
/// by a running switch), writes the reconciliation's files into `out`, and
/// sets the clock back (a failure to set it back is printed on stderr).
/// Returns one [`ReconDay`] per day, in order; if the clock cannot be moved,
/// every day is one with `error` set.
pub async fn reconcile_days(
    http: &Http,
    sim_base: &str,
    config: &Path,
    days: &BTreeSet<String>,
    out: &Path,
) -> Vec<ReconDay> {
    let offset = sim_clock(http, sim_base).await.map_or(0, |c| c.0);
    if let Err(e) = set_clock(http, sim_base, offset + 86_400).await {
        return days.iter().map(|d| failed(d, e.clone())).collect();
    }
    let mut out_days = Vec::new();
    for d in days {
        out_days.push(one_day(config, d, out).await);
    }
    if let Err(e) = set_clock(http, sim_base, offset).await {
        eprintln!("loadgen: could not set the simulator's clock back: {e}");
    }
    out_days
}
