//! The journal as the crash and partition tests read it (SQLite, read
//! only) and their check of one trade, journal against ledger.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// The statuses that end a trade.
pub const DEFINITE: [&str; 3] = ["SUCCESS", "FAILED", "CLOSED"];

/// A ledger answer saying the trade is not booked yet but will land (a
/// 9003 payment waiting to be booked).
pub fn pending_landing(l: &(u16, Value)) -> bool {
    l.0 == 404
        && l.1
            .get("pending_late_landing")
            .is_some_and(|v| !v.is_null())
}

#[derive(Debug, Clone)]
pub struct JTrade {
    pub status: String,
    pub phase: String,
    pub total: Option<i64>,
    pub refunded: i64,
}

#[derive(Debug, Clone)]
pub struct JRefund {
    pub req: String,
    pub status: String,
    pub amount: Option<i64>,
}

/// "12.34" (or 12.34) in cents.
pub fn cents(v: &Value) -> Option<i64> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => format!("{:.2}", n.as_f64()?),
        _ => return None,
    };
    let (a, b) = s.split_once('.').unwrap_or((&s, "0"));
    let b = format!("{b:0<2}");
    Some(a.parse::<i64>().ok()? * 100 + b[..2].parse::<i64>().ok()?)
}

pub fn open_ro(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// Trades and refunds (by out_trade_no) of a journal.
pub fn read_journal(path: &Path) -> (BTreeMap<String, JTrade>, BTreeMap<String, Vec<JRefund>>) {
    let c = open_ro(path);
    let mut st = c
        .prepare("SELECT out_trade_no, status, phase, doc FROM trades")
        .unwrap();
    let trades = st
        .query_map([], |r| {
            let doc: String = r.get(3)?;
            let doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            Ok((
                r.get::<_, String>(0)?,
                JTrade {
                    status: r.get(1)?,
                    phase: r.get(2)?,
                    total: cents(&doc["total_amount"]),
                    refunded: cents(&doc["refunded_amount"]).unwrap_or(0),
                },
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut st = c
        .prepare("SELECT out_trade_no, out_request_no, status, doc FROM refunds")
        .unwrap();
    let mut refunds: BTreeMap<String, Vec<JRefund>> = BTreeMap::new();
    for r in st
        .query_map([], |r| {
            let doc: String = r.get(3)?;
            let doc: Value = serde_json::from_str(&doc).unwrap_or(Value::Null);
            Ok((
                r.get::<_, String>(0)?,
                JRefund {
                    req: r.get(1)?,
                    status: r.get(2)?,
                    amount: cents(&doc["refund_amount"]),
                },
            ))
        })
        .unwrap()
    {
        let (no, r) = r.unwrap();
        refunds.entry(no).or_default().push(r);
    }
    (trades, refunds)
}

/// Trades not yet definite (or still watched / cancel in doubt), and refunds
/// still UNKNOWN.
pub fn unsettled(path: &Path) -> Vec<String> {
    if !path.exists() {
        return vec![];
    }
    let c = open_ro(path);
    let mut st = c
        .prepare(
            "SELECT out_trade_no || ' ' || status || ' ' || phase FROM trades
             WHERE status IN ('PAYING', 'UNKNOWN', 'WAIT_BUYER_PAY') OR phase IN ('cancel_pending', 'watching')
             UNION ALL
             SELECT out_trade_no || ' refund ' || out_request_no || ' ' || status FROM refunds WHERE status = 'UNKNOWN'",
        )
        .unwrap();
    let rows = st.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// Journal vs ledger for one trade, stricter than `common::agrees`:
/// statuses, totals, refunded amounts, each SUCCESS refund booked once, no
/// double payment, and never money held by the gateway for a trade the
/// switch calls CLOSED or FAILED.
pub fn check_trade(
    no: &str,
    j: Option<&JTrade>,
    jrefunds: &[JRefund],
    l: &(u16, Value),
    d: &mut Vec<String>,
) {
    let lstatus = if l.0 == 200 {
        l.1["status"].as_str().unwrap_or("?")
    } else {
        "NONE"
    };
    let pay_count = l.1["pay_count"].as_u64().unwrap_or(0);
    let ltotal = cents(&l.1["total_amount"]);
    let lref = cents(&l.1["refunded_amount"]).unwrap_or(0);
    if pay_count > 1 {
        d.push(format!("{no}: paid {pay_count} times at the gateway"));
    }
    if pending_landing(l) {
        d.push(format!("{no}: a late landing is still pending: {}", l.1));
    }
    let holds_money =
        matches!(lstatus, "TRADE_SUCCESS" | "TRADE_FINISHED") && ltotal.is_some_and(|t| lref < t);
    let Some(j) = j else {
        if l.0 != 404 {
            d.push(format!(
                "{no}: not in the journal, ledger {lstatus} {}",
                l.1
            ));
        }
        return;
    };
    if !DEFINITE.contains(&j.status.as_str())
        || matches!(j.phase.as_str(), "cancel_pending" | "watching")
    {
        d.push(format!("{no}: not definite: {} / {}", j.status, j.phase));
    }
    if holds_money && j.status != "SUCCESS" {
        d.push(format!(
            "{no}: MONEY HELD: the gateway holds the buyer's money ({lstatus}, refunded {lref} of {ltotal:?} cents) but the switch says {} ({})",
            j.status, j.phase
        ));
    }
    let lrefunds: Vec<&Value> = l.1["refunds"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    match j.status.as_str() {
        "SUCCESS" => {
            if l.0 != 200 {
                d.push(format!("{no}: journal SUCCESS, no trade at the gateway"));
            } else {
                if ltotal != j.total {
                    d.push(format!(
                        "{no}: total journal {:?}, ledger {ltotal:?}",
                        j.total
                    ));
                }
                if lref != j.refunded {
                    d.push(format!(
                        "{no}: refunded journal {}, ledger {lref}",
                        j.refunded
                    ));
                }
                let want_ok = if Some(j.refunded) == j.total {
                    lstatus == "TRADE_CLOSED"
                } else {
                    matches!(lstatus, "TRADE_SUCCESS" | "TRADE_FINISHED")
                };
                if !want_ok {
                    d.push(format!(
                        "{no}: journal SUCCESS (refunded {}), ledger {lstatus}",
                        j.refunded
                    ));
                }
                if pay_count != 1 {
                    d.push(format!("{no}: journal SUCCESS, pay_count {pay_count}"));
                }
                let booked_ok = jrefunds.iter().filter(|r| r.status == "SUCCESS").count();
                if lrefunds.len() != booked_ok {
                    d.push(format!(
                        "{no}: {} refunds at the gateway, {booked_ok} SUCCESS refunds in the journal",
                        lrefunds.len()
                    ));
                }
            }
        }
        "CLOSED" | "FAILED" => {
            if l.0 == 200 {
                if lstatus != "TRADE_CLOSED" {
                    d.push(format!("{no}: journal {}, ledger {lstatus}", j.status));
                }
                if pay_count > 0 && Some(lref) != ltotal {
                    d.push(format!(
                        "{no}: journal {}, gateway took money and returned {lref} of {ltotal:?}",
                        j.status
                    ));
                }
            }
            if j.refunded != 0 {
                d.push(format!(
                    "{no}: journal {} with refunded {}",
                    j.status, j.refunded
                ));
            }
        }
        _ => {}
    }
    let mut sum = 0;
    for r in jrefunds {
        match r.status.as_str() {
            "SUCCESS" => {
                sum += r.amount.unwrap_or(0);
                let at_gw: Vec<_> = lrefunds
                    .iter()
                    .filter(|x| x["out_request_no"].as_str() == Some(r.req.as_str()))
                    .collect();
                if at_gw.len() != 1 || cents(&at_gw[0]["refund_amount"]) != r.amount {
                    d.push(format!(
                        "{no}: refund {} SUCCESS ({:?}) in the journal, at the gateway {at_gw:?}",
                        r.req, r.amount
                    ));
                }
            }
            "FAILED" => {}
            other => d.push(format!("{no}: refund {} is {other}", r.req)),
        }
    }
    if sum != j.refunded {
        d.push(format!(
            "{no}: SUCCESS refunds add up to {sum}, the trade says refunded {}",
            j.refunded
        ));
    }
}
