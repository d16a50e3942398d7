//! Point 5 (银行账号清算打款的验证以及对账验证): payouts and reconciliation.
//!
//! The simulator's clock is moved one day forward (so that the run's trades
//! are in "yesterday's" bill), the switch's reconciliation runs for every
//! gateway day the run's trades were made on, then its settlement; the clock
//! is set back at the end, whatever happened. PASS when each reconciliation
//! exits 0 with every bill row matched and no open difference, and each
//! settlement's totals equal the bill's totals.
//!
//! The reconciliation and the settlement are the engine's library functions
//! (`engine::recon::reconcile_blocking`, `engine::settlement::settle_blocking`),
//! called in-process on a thread of their own (they block); their JSON files
//! are read as `serde_json::Value`, tolerant of yuan strings or fen integers.
//! The engine is in this binary with the `demo` feature (the default);
//! without it point 5 fails as not available. The report files are
//! described in docs/RECONCILIATION.md, "The report".

use http::Method;
use serde_json::{json, Value};

use super::points::{Case, State};
use super::report::Point;
use super::{note_evidence, Ctx};

/// The fen (0.01 CNY) of a JSON amount: a yuan string with at most two
/// decimals (`"12.34"`, `"-0.01"`, `"5"`) or an integer of fen. `None` when
/// it is missing, of another shape, or does not fit an `i64`.
pub fn fen_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let (neg, t) = match s.trim().strip_prefix('-') {
                Some(t) => (true, t),
                None => (false, s.trim()),
            };
            let (int, frac) = t.split_once('.').unwrap_or((t, ""));
            if int.is_empty() || frac.len() > 2 || !int.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let f: i64 = format!("{frac:0<2}").parse().ok()?;
            let fen = int.parse::<i64>().ok()?.checked_mul(100)?.checked_add(f)?;
            Some(if neg { -fen } else { fen })
        }
        _ => None,
    }
}

/// An amount field `k` of `v` in fen (also `k_fen`), when present.
fn amount(v: &Value, k: &str) -> Option<i64> {
    fen_of(v.get(format!("{k}_fen")).or_else(|| v.get(k)))
}

fn count(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

/// Runs `f` on a thread of its own (the engine's blocking functions start
/// their own runtime) and waits for it without blocking this runtime.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await
        .map_err(|_| "the reconciliation thread panicked".to_string())
}

fn read_json(p: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
}

/// Point 5, called by [`super::points::run_point`]: moves the simulator's
/// clock a day forward, runs the switch's reconciliation and settlement
/// for each of [`State::gateway_days`] (making its own trades first when
/// there are none, [`State::own_trades`]) with the results written under
/// the checklist's directory, checks them, and sets the clock back. Never
/// fails: every problem is a failed check.
pub async fn reconciliation(ctx: &Ctx, st: &mut State) -> Point {
    let out = ctx.out.clone();
    let mut c = Case::default();
    let Some(config) = ctx.config.clone() else {
        c.check(
            "the switch's configuration file is known (--config)",
            "已提供交换系统配置文件（--config）",
            false,
            "no --config",
        );
        return c.into_point(5, String::new(), String::new());
    };
    if st.gateway_days.is_empty() {
        // Points 2 to 4 did not run: one payment and one refund of our own.
        st.own_trades(ctx, &mut c).await;
    }
    let days: Vec<String> = st.gateway_days.iter().cloned().collect();
    if !c.check(
        "the run made trades to reconcile",
        "本次验收产生了可对账的交易",
        !days.is_empty(),
        format!("gateway days {days:?}"),
    ) {
        return c.into_point(5, String::new(), String::new());
    }
    let (e, before) = ctx
        .sim_call(
            "the simulator's clock before",
            Method::GET,
            "/_sim/clock",
            None,
        )
        .await;
    c.ev(e);
    let offset = before
        .body
        .get("offset_secs")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let (e, x) = ctx
        .sim_call(
            "the gateway's clock one day forward (the run's day is now yesterday)",
            Method::POST,
            "/_sim/clock",
            Some(&json!({"offset_secs": offset + 86_400})),
        )
        .await;
    c.ev(e);
    if c.check(
        "the simulator's clock moved one day forward",
        "模拟网关时钟拨快一天",
        x.ok(),
        format!("offset {} s", offset + 86_400),
    ) {
        for day in &days {
            reconcile_day(&mut c, &config, day, &out).await;
        }
    }
    let (e, x) = ctx
        .sim_call(
            "the gateway's clock set back",
            Method::POST,
            "/_sim/clock",
            Some(&json!({"offset_secs": offset})),
        )
        .await;
    c.ev(e);
    c.check(
        "the simulator's clock set back",
        "模拟网关时钟已恢复",
        x.ok(),
        format!("offset {offset} s"),
    );
    let list = days.join(", ");
    c.into_point(
        5,
        format!("gateway day(s) {list}: every bill row matched with no open difference; the settlement totals equal the bill's"),
        format!("网关日 {list}：账单每一行均勾兑一致，无未决差错；清算合计与账单合计一致"),
    )
}

async fn reconcile_day(c: &mut Case, config: &std::path::Path, day: &str, out: &std::path::Path) {
    let dir = out.join(format!("recon-{day}"));
    let req = engine::recon::ReconRequest {
        config: config.to_path_buf(),
        date: day.to_string(),
        out: Some(dir.clone()),
        lang: engine::recon::Lang::En,
    };
    let r = off_runtime(move || engine::recon::reconcile_blocking(&req).map_err(|e| e.to_string()))
        .await;
    let outcome = match r {
        Ok(Ok(o)) => o,
        Ok(Err(e)) | Err(e) => {
            c.check(
                &format!("{day}: the reconciliation ran"),
                &format!("{day}：对账执行完成"),
                false,
                e,
            );
            return;
        }
    };
    let recon = match read_json(&outcome.json_path) {
        Ok(v) => v,
        Err(e) => {
            c.check(
                &format!("{day}: the reconciliation's JSON is readable"),
                &format!("{day}：对账结果 JSON 可读"),
                false,
                e,
            );
            return;
        }
    };
    let diffs = recon
        .get("differences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let open: Vec<&Value> = diffs
        .iter()
        .filter(|d| !d.get("resolved").and_then(Value::as_bool).unwrap_or(false))
        .collect();
    let (rows, matched) = (count(&recon, "bill_rows"), count(&recon, "matched"));
    c.ev(note_evidence(
        "reconciliation",
        &format!(
            "{day}: the reconciliation's result ({})",
            outcome.json_path.display()
        ),
        json!({"exit_code": outcome.exit_code, "date": recon.get("date"), "bill_rows": rows,
               "matched": matched, "differences": diffs, "summary": recon.get("summary"),
               "bill": recon.get("bill")}),
    ));
    c.check(
        &format!("{day}: the reconciliation exited 0"),
        &format!("{day}：对账退出码为 0"),
        outcome.exit_code == 0,
        format!("exit code {}", outcome.exit_code),
    );
    c.check(
        &format!("{day}: every bill row matched"),
        &format!("{day}：账单每一行均勾兑一致"),
        rows.is_some() && rows == matched,
        format!(
            "bill rows {}, matched {}",
            rows.map_or("-".into(), |n| n.to_string()),
            matched.map_or("-".into(), |n| n.to_string())
        ),
    );
    let classes: Vec<String> = open
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d.get("class").and_then(Value::as_str).unwrap_or("?"),
                d.get("out_trade_no").and_then(Value::as_str).unwrap_or("?")
            )
        })
        .collect();
    c.check(
        &format!("{day}: no open difference"),
        &format!("{day}：无未决差错"),
        open.is_empty(),
        if open.is_empty() {
            format!("{} differences, all resolved", diffs.len())
        } else {
            format!("open: {}", classes.join(", "))
        },
    );

    let sreq = engine::settlement::SettleRequest {
        config: config.to_path_buf(),
        date: day.to_string(),
        out: Some(dir),
        unreconciled: false,
    };
    let r =
        off_runtime(move || engine::settlement::settle_blocking(&sreq).map_err(|e| e.to_string()))
            .await;
    let so = match r {
        Ok(Ok(o)) => o,
        Ok(Err(e)) | Err(e) => {
            c.check(
                &format!("{day}: the settlement ran"),
                &format!("{day}：清算执行完成"),
                false,
                e,
            );
            return;
        }
    };
    let settle = match read_json(&so.json_path) {
        Ok(v) => v,
        Err(e) => {
            c.check(
                &format!("{day}: the settlement's JSON is readable"),
                &format!("{day}：清算结果 JSON 可读"),
                false,
                e,
            );
            return;
        }
    };
    c.ev(note_evidence(
        "settlement",
        &format!("{day}: the settlement ({})", so.json_path.display()),
        json!({"exit_code": so.exit_code, "totals": settle.get("totals"),
               "merchants": settle.get("merchants")}),
    ));
    c.check(
        &format!("{day}: the settlement exited 0"),
        &format!("{day}：清算退出码为 0"),
        so.exit_code == 0,
        format!("exit code {}", so.exit_code),
    );
    let pc = payouts_consistent(&settle);
    c.check(
        &format!("{day}: each sub-merchant's payout = trades − refunds − fee, with a payout date"),
        &format!("{day}：各受理商户结算金额 = 交易 − 退款 − 手续费，且有打款日期"),
        pc.is_ok(),
        match pc {
            Ok(n) => format!("{n} sub-merchant(s)"),
            Err(e) => e,
        },
    );
    let empty = Value::Null;
    let bill = recon.get("bill").unwrap_or(&empty);
    let totals = settle.get("totals").unwrap_or(&empty);
    for (k, en, zh) in [
        ("trade_count", "trades", "交易笔数"),
        ("refund_count", "refunds", "退款笔数"),
    ] {
        let (b, s) = (count(bill, k), count(totals, k));
        c.check(
            &format!("{day}: settlement {en} = the bill's"),
            &format!("{day}：清算{zh}与账单一致"),
            b.is_some() && b == s,
            format!(
                "bill {}, settlement {}",
                b.map_or("-".into(), |n| n.to_string()),
                s.map_or("-".into(), |n| n.to_string())
            ),
        );
    }
    for (k, en, zh) in [
        ("trade_amount", "trade amount", "交易金额"),
        ("refund_amount", "refund amount", "退款金额"),
    ] {
        let (b, s) = (amount(bill, k), amount(totals, k));
        c.check(
            &format!("{day}: settlement {en} = the bill's"),
            &format!("{day}：清算{zh}与账单一致"),
            b.is_some() && b.map(i64::abs) == s.map(i64::abs),
            format!(
                "bill {}, settlement {}",
                b.map_or("-".into(), |f| format!("{f} fen")),
                s.map_or("-".into(), |f| format!("{f} fen"))
            ),
        );
    }
}

/// Checks each sub-merchant's payout in a settlement's JSON: net = trades −
/// refunds − the acquirer's fee (in fen, amounts read by [`fen_of`] from
/// the `*_fen` fields or the yuan ones), and a `payout_date`. `Ok` with the
/// number of merchants when every one is right.
///
/// # Errors
/// A message naming the first merchant (by smid) whose amounts are missing,
/// whose net differs (with the figures), or that has no payout date; or
/// saying that the settlement lists no merchants.
pub fn payouts_consistent(settle: &Value) -> Result<usize, String> {
    let list = settle
        .get("merchants")
        .and_then(Value::as_array)
        .ok_or("the settlement lists no merchants")?;
    for m in list {
        let smid = m.get("smid").and_then(Value::as_str).unwrap_or("?");
        let (Some(t), Some(r), Some(f), Some(n)) = (
            fen_of(m.get("trade_fen")).or_else(|| amount(m, "trade_amount")),
            fen_of(m.get("refund_fen")).or_else(|| amount(m, "refund_amount")),
            fen_of(m.get("merchant_fee_fen")).or_else(|| amount(m, "merchant_fee")),
            fen_of(m.get("net_fen")).or_else(|| amount(m, "net_amount")),
        ) else {
            return Err(format!("{smid}: amounts missing"));
        };
        if n != t - r.abs() - f {
            return Err(format!(
                "{smid}: net {n} fen, trades {t} − refunds {} − fee {f} = {} fen",
                r.abs(),
                t - r.abs() - f
            ));
        }
        if m.get("payout_date").and_then(Value::as_str).is_none() {
            return Err(format!("{smid}: no payout_date"));
        }
    }
    Ok(list.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(fen_of(Some(&json!("12.34"))), Some(1234));
        assert_eq!(fen_of(Some(&json!("-0.01"))), Some(-1));
        assert_eq!(fen_of(Some(&json!("7"))), Some(700));
        assert_eq!(fen_of(Some(&json!("7.5"))), Some(750));
        assert_eq!(fen_of(Some(&json!(1234))), Some(1234));
        assert_eq!(fen_of(Some(&json!("1.234"))), None);
        assert_eq!(fen_of(Some(&json!("x"))), None);
        assert_eq!(amount(&json!({"a_fen": 5, "a": "1.00"}), "a"), Some(5));
        let ok = json!({"merchants": [{"smid": "1", "trade_amount": "10.00", "refund_amount": "0.01",
            "merchant_fee": "0.06", "net_amount": "9.93", "payout_date": "2026-12-03"}]});
        assert_eq!(payouts_consistent(&ok), Ok(1));
        let mut bad = ok.clone();
        bad["merchants"][0]["net_amount"] = json!("9.94");
        assert!(payouts_consistent(&bad)
            .unwrap_err()
            .contains("net 994 fen"));
    }
}
