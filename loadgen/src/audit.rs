//! The audit after a run: every out_trade_no the generator saw is looked up
//! in the switch's journal (GET /v1/trades/{no}) and in the simulator's ledger
//! (GET /_sim/trades/{no}), and the three views are compared.
//!
//! Guarantees: every trade is judged exactly once as `match`, `missing` (a
//! side that must know the trade does not), `duplicate` (the ledger shows
//! more than one payment), `conflicting` (status or amounts disagree) or
//! `pending` (still not final when the settle time ran out); anything but
//! `match` fails the run. Trades still in flight are re-read (with
//! `refresh=1` at the switch) until they settle or the settle time ends.
//!
//! When the terminals' registrations are known (the demo onboards them
//! through the admin API; a terminals file may give `smid`, `store_id`,
//! `terminal_id`), every trade found in the ledger is also checked to carry
//! the `sub_merchant_id`, `store_id` and `terminal_id` of the terminal that
//! made it; a trade that matches otherwise but carries another is
//! `misattributed` (and fails the run too).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::http::Http;
use crate::target::{wire_to_fen, Attribution, SeenTrade, SwitchTarget, SwitchTrade};

/// The verdict on one trade; anything but [`Judgement::Match`] fails the
/// audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    /// The views agree (or a trade that was never answered is unknown to
    /// all of them).
    Match,
    /// A side that must know the trade does not: the switch answered for it
    /// but has no record, the ledger has a payment the switch does not, or
    /// the generator was told it was paid and the ledger shows no payment.
    Missing,
    /// The ledger shows more than one payment for it.
    Duplicate,
    /// Status, amount or refunded amount disagree between the views.
    Conflicting,
    /// Still not final when the settle time ran out (or a lookup failed
    /// until then).
    Pending,
    /// Everything matches but the ledger's sub-merchant, store or terminal
    /// is not the registration of the terminal that made the trade.
    Misattributed,
}

/// The ledger entry of the simulator (`GET /_sim/trades/{no}`,
/// docs/SIMULATOR.md, "Control API"), as much as the audit reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LedgerTrade {
    /// The gateway's trade status (`TRADE_SUCCESS`, `WAIT_BUYER_PAY`,
    /// `TRADE_CLOSED`, ...); empty if the entry has none.
    pub status: String,
    /// `total_amount` in fen, when present and an amount.
    pub total_fen: Option<u64>,
    /// `refunded_amount` in fen (0 when absent).
    pub refunded_fen: u64,
    /// How many times money was taken (1 when absent); above 1 is a
    /// [`Judgement::Duplicate`].
    pub pay_count: u64,
    /// The sub-merchant the gateway recorded for the trade (the request's
    /// `sub_merchant.merchant_id`, docs/SIMULATOR.md, "Methods and the
    /// ledger"); `None` when absent or empty.
    pub sub_merchant_id: Option<String>,
    /// The `store_id` the request carried; `None` when absent or empty.
    pub store_id: Option<String>,
    /// The `terminal_id` the request carried; `None` when absent or empty.
    pub terminal_id: Option<String>,
}

/// One trade that did not match, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The trade's out_trade_no as the generator sent it.
    pub out_trade_no: String,
    /// What was judged (never [`Judgement::Match`]).
    pub judgement: Judgement,
    /// What the generator saw: `STATUS (created_by)`, e.g.
    /// `SUCCESS (pay:1003)`.
    pub generator: String,
    /// The switch's status, `(none)` for a 404; `None` when the switch was
    /// not asked or its lookup failed.
    pub switch: Option<String>,
    /// The ledger's status; `None` when there is no entry, no simulator, or
    /// the lookup failed.
    pub ledger: Option<String>,
    /// Why, in one line (`switch SUCCESS, ledger TRADE_CLOSED`).
    pub detail: String,
}

/// The audit's result, the report's `audit` object. The judgement counts
/// add up to `checked`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AuditReport {
    /// Which sides were compared: `generator`, `switch`, `ledger`.
    pub sources: Vec<String>,
    /// Trades judged: every trade the generator saw.
    pub checked: u64,
    /// Of them, [`Judgement::Match`].
    pub matched: u64,
    /// Of them, [`Judgement::Missing`].
    pub missing: u64,
    /// Of them, [`Judgement::Duplicate`].
    pub duplicate: u64,
    /// Of them, [`Judgement::Conflicting`].
    pub conflicting: u64,
    /// Of them, [`Judgement::Pending`] (a lookup task that failed counts
    /// here too).
    pub pending: u64,
    /// Trades that matched but carry another terminal's registration.
    #[serde(default)]
    pub misattributed: u64,
    /// The check of sub-merchant, store and terminal; `None` when it did
    /// not run (no known registrations or no ledger).
    #[serde(default)]
    pub attribution: Option<AttributionCheck>,
    /// Whether every trade matched, at least one other side than the
    /// generator was compared, and no attribution differed.
    pub passed: bool,
    /// Up to 100 problems, by out_trade_no, for the report.
    pub problems: Vec<Problem>,
    /// How long the audit took, seconds (to 1/100).
    pub seconds: f64,
}

/// The result of the attribution check (sub-merchant, store, terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AttributionCheck {
    /// Trades found in the ledger whose terminal's registration is known.
    pub checked: u64,
    /// Of those, the ones whose ledger entry carries something else (each
    /// is an audit difference, whatever else was judged of the trade).
    pub mismatched: u64,
}

/// Compares the ledger's sub-merchant, store and terminal with the
/// registration of the terminal that made the trade; `Some(detail)` when
/// they differ. Fields the registration leaves out are not compared.
pub fn attribution_diff(expected: &Attribution, ledger: &LedgerTrade) -> Option<String> {
    let mut diffs = Vec::new();
    for (name, want, got) in [
        (
            "sub_merchant_id",
            &expected.sub_merchant_id,
            &ledger.sub_merchant_id,
        ),
        ("store_id", &expected.store_id, &ledger.store_id),
        ("terminal_id", &expected.terminal_id, &ledger.terminal_id),
    ] {
        if let Some(w) = want {
            if got.as_deref() != Some(w.as_str()) {
                diffs.push(format!(
                    "{name}: ledger {}, terminal registered with {w}",
                    got.as_deref().unwrap_or("(none)")
                ));
            }
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// Reads the ledger entry of out_trade_no `no` from the simulator at
/// `sim_base` (`GET /_sim/trades/{no}`); `Ok(None)` is a 404.
///
/// # Errors
/// A message: the transport error, `HTTP nnn` for another non-2xx status,
/// or `ledger entry not JSON`.
pub async fn fetch_ledger(
    http: &Http,
    sim_base: &str,
    no: &str,
) -> Result<Option<LedgerTrade>, String> {
    let url = format!("{}/_sim/trades/{no}", sim_base.trim_end_matches('/'));
    let a = http.get(&url).await.map_err(|e| e.to_string())?;
    if a.status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !a.status.is_success() {
        return Err(format!("HTTP {}", a.status.as_u16()));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&a.body).map_err(|e| format!("ledger entry not JSON: {e}"))?;
    Ok(Some(ledger_of(&v)))
}

fn money_field(v: &serde_json::Value, k: &str) -> Option<u64> {
    match v.get(k)? {
        serde_json::Value::String(s) => wire_to_fen(s),
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| (f * 100.0).round() as u64),
        _ => None,
    }
}

fn str_field(v: &serde_json::Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads a ledger entry from its JSON (`status` or `trade_status`; amounts
/// as strings in yuan or numbers); missing fields get the defaults noted on
/// [`LedgerTrade`].
pub fn ledger_of(v: &serde_json::Value) -> LedgerTrade {
    LedgerTrade {
        status: v
            .get("status")
            .or_else(|| v.get("trade_status"))
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string(),
        total_fen: money_field(v, "total_amount"),
        refunded_fen: money_field(v, "refunded_amount").unwrap_or(0),
        pay_count: v.get("pay_count").and_then(|c| c.as_u64()).unwrap_or(1),
        sub_merchant_id: str_field(v, "sub_merchant_id"),
        store_id: str_field(v, "store_id"),
        terminal_id: str_field(v, "terminal_id"),
    }
}

fn ledger_paid(s: &str) -> bool {
    matches!(
        protocol::TradeStatus::parse(s),
        Some(protocol::TradeStatus::TradeSuccess | protocol::TradeStatus::TradeFinished)
    )
}

/// Judges one trade from the three views, with a one-line reason (empty for
/// a match). `switch` is `None` when there is no switch in the run,
/// `Some(None)` when the switch answered 404; `ledger` is `None` when the
/// ledger has no entry (or there is no simulator). Does not judge
/// attribution (see [`attribution_diff`]).
pub fn judge(
    gen: &SeenTrade,
    switch: Option<Option<&SwitchTrade>>,
    ledger: Option<&LedgerTrade>,
) -> (Judgement, String) {
    use Judgement::*;
    if let Some(l) = ledger {
        if l.pay_count > 1 {
            return (
                Duplicate,
                format!("the ledger shows {} payments", l.pay_count),
            );
        }
        if let Some(t) = l.total_fen {
            if t != gen.amount_fen && !l.status.is_empty() {
                return (
                    Conflicting,
                    format!("ledger amount {t} fen, sent {} fen", gen.amount_fen),
                );
            }
        }
    }
    let answered = !matches!(gen.last_status.as_str(), "SENT" | "NO_ANSWER");
    match switch {
        None => judge_gateway(gen, ledger),
        Some(None) => {
            if answered {
                (
                    Missing,
                    "the switch answered for this trade but has no record of it".into(),
                )
            } else if ledger.is_some_and(|l| ledger_paid(&l.status)) {
                (
                    Missing,
                    "the ledger shows a payment the switch has no record of".into(),
                )
            } else {
                (Match, String::new())
            }
        }
        Some(Some(sw)) => {
            let lpaid = ledger.is_some_and(|l| ledger_paid(&l.status));
            let lstatus = ledger.map(|l| l.status.as_str()).unwrap_or("(none)");
            {
                let t = sw.total_amount.fen();
                if t != gen.amount_fen {
                    return (
                        Conflicting,
                        format!("switch amount {t} fen, sent {} fen", gen.amount_fen),
                    );
                }
            }
            match sw.status.as_str() {
                "SUCCESS" => {
                    if !lpaid {
                        return (Conflicting, format!("switch SUCCESS, ledger {lstatus}"));
                    }
                    let sref = sw.refunded_amount.fen();
                    let lref = ledger.map(|l| l.refunded_fen).unwrap_or(0);
                    if sref != lref {
                        return (
                            Conflicting,
                            format!("refunded: switch {sref} fen, ledger {lref} fen"),
                        );
                    }
                    (Match, String::new())
                }
                "CLOSED" | "FAILED" => {
                    if lpaid {
                        (
                            Conflicting,
                            format!("switch {}, ledger {lstatus}", sw.status),
                        )
                    } else if ledger.is_some_and(|l| l.status == "WAIT_BUYER_PAY") {
                        (
                            Pending,
                            format!("switch {}, ledger WAIT_BUYER_PAY", sw.status),
                        )
                    } else {
                        (Match, String::new())
                    }
                }
                "WAIT_BUYER_PAY" => {
                    if lstatus == "WAIT_BUYER_PAY" {
                        (Match, String::new())
                    } else if lpaid {
                        (Pending, "switch WAIT_BUYER_PAY, ledger paid".into())
                    } else {
                        (
                            Conflicting,
                            format!("switch WAIT_BUYER_PAY, ledger {lstatus}"),
                        )
                    }
                }
                "PAYING" | "UNKNOWN" => {
                    (Pending, format!("switch {}, ledger {lstatus}", sw.status))
                }
                other => (Conflicting, format!("switch status {other:?}")),
            }
        }
    }
}

/// Judges one trade with the switch's journal as the only other view (no
/// ledger to read): what the generator was told must be what the journal
/// says. `switch` is `None` for a 404. Returns the judgement and a one-line
/// reason (empty for a match).
pub fn judge_switch_only(gen: &SeenTrade, switch: Option<&SwitchTrade>) -> (Judgement, String) {
    use Judgement::*;
    let answered = !matches!(gen.last_status.as_str(), "SENT" | "NO_ANSWER");
    let Some(sw) = switch else {
        return if answered {
            (
                Missing,
                "the switch answered for this trade but has no record of it".into(),
            )
        } else {
            (Match, String::new())
        };
    };
    {
        let t = sw.total_amount.fen();
        if t != gen.amount_fen {
            return (
                Conflicting,
                format!("switch amount {t} fen, sent {} fen", gen.amount_fen),
            );
        }
    }
    let told_paid = gen.last_status == "SUCCESS" && !gen.cancelled;
    match sw.status.as_str() {
        "PAYING" | "UNKNOWN" => (Pending, format!("switch {}", sw.status)),
        "CLOSED" | "FAILED" if told_paid => (
            Conflicting,
            format!(
                "the terminal was told SUCCESS, the switch says {}",
                sw.status
            ),
        ),
        "SUCCESS" if matches!(gen.last_status.as_str(), "FAILED" | "CLOSED") => (
            Conflicting,
            format!(
                "the terminal was told {}, the switch says SUCCESS",
                gen.last_status
            ),
        ),
        _ => (Match, String::new()),
    }
}

fn judge_gateway(gen: &SeenTrade, ledger: Option<&LedgerTrade>) -> (Judgement, String) {
    use Judgement::*;
    let lstatus = ledger.map(|l| l.status.as_str()).unwrap_or("(none)");
    let lpaid = ledger.is_some_and(|l| ledger_paid(&l.status));
    match gen.last_status.as_str() {
        "SUCCESS" if gen.cancelled => (Match, String::new()),
        "SUCCESS" => {
            if !lpaid {
                return (Missing, format!("paid for the generator, ledger {lstatus}"));
            }
            let lref = ledger.map(|l| l.refunded_fen).unwrap_or(0);
            if lref != gen.refunded_fen {
                return (
                    Conflicting,
                    format!(
                        "refunded: generator {} fen, ledger {lref} fen",
                        gen.refunded_fen
                    ),
                );
            }
            (Match, String::new())
        }
        "CLOSED" => {
            if lpaid {
                (
                    Conflicting,
                    format!("cancelled for the generator, ledger {lstatus}"),
                )
            } else {
                (Match, String::new())
            }
        }
        "FAILED" => {
            if lpaid {
                (
                    Conflicting,
                    format!("failed for the generator, ledger {lstatus}"),
                )
            } else {
                (Match, String::new())
            }
        }
        "WAIT_BUYER_PAY" => {
            if ledger.is_none() {
                (Missing, "10003 for the generator, no ledger entry".into())
            } else {
                (Match, String::new())
            }
        }
        _ => (Match, String::new()),
    }
}

/// Runs the audit over the trades the generator saw (out_trade_no to what
/// it saw), 32 lookups at a time.
///
/// `switch` is the switch target when there is one; `sim_base` the
/// simulator's base URL when there is one. With neither, nothing can be
/// checked and the report says so (`passed` is false). A trade judged
/// [`Judgement::Pending`] is re-read every 250 ms (with `refresh=1` at the
/// switch) until it is not, or `settle` has passed since the audit began.
pub async fn run(
    trades: BTreeMap<String, SeenTrade>,
    switch: Option<Arc<SwitchTarget>>,
    sim_base: Option<String>,
    http: Http,
    settle: Duration,
) -> AuditReport {
    let started = Instant::now();
    let deadline = started + settle;
    let mut sources = vec!["generator".to_string()];
    if switch.is_some() {
        sources.push("switch".into());
    }
    if sim_base.is_some() {
        sources.push("ledger".into());
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut set = tokio::task::JoinSet::new();
    for (no, gen) in trades {
        let (sw, sim, http, sem) = (switch.clone(), sim_base.clone(), http.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.ok();
            let mut refresh = false;
            loop {
                let sw_view = match &sw {
                    None => None,
                    Some(s) => Some(s.fetch_trade(&no, gen.seq, refresh).await),
                };
                // The gateway may know the trade by another number (a
                // merchant onboarded through the admin API): the switch
                // says which; without its record, try the candidates.
                let numbers = match (&sw, &sw_view) {
                    (Some(_), Some(Ok(Some(t)))) => {
                        vec![t.gateway_out_trade_no.clone().unwrap_or_else(|| no.clone())]
                    }
                    (Some(s), _) => s.ledger_numbers(&no, gen.seq),
                    (None, _) => vec![no.clone()],
                };
                let l_view = match &sim {
                    None => Ok(None),
                    Some(b) => {
                        let mut found = Ok(None);
                        for n in &numbers {
                            found = fetch_ledger(&http, b, n).await;
                            if !matches!(found, Ok(None)) {
                                break;
                            }
                        }
                        found
                    }
                };
                let (j, detail, swt, lt) = match (sw_view, l_view) {
                    (Some(Err(e)), _) => (
                        Judgement::Pending,
                        format!("switch lookup failed: {e}"),
                        None,
                        None,
                    ),
                    (_, Err(e)) => (
                        Judgement::Pending,
                        format!("ledger lookup failed: {e}"),
                        None,
                        None,
                    ),
                    (sw_view, Ok(l)) => {
                        let swr = sw_view.map(|r| r.ok().flatten());
                        let (j, d) = match (&swr, &sim) {
                            // A switch but no simulator (e.g. a switch in
                            // front of Alipay's sandbox): generator vs journal.
                            (Some(sw), None) => judge_switch_only(&gen, sw.as_ref()),
                            _ => judge(&gen, swr.as_ref().map(|o| o.as_ref()), l.as_ref()),
                        };
                        (j, d, swr, l)
                    }
                };
                if j != Judgement::Pending || Instant::now() >= deadline {
                    // The attribution check: only trades the ledger has,
                    // made by a terminal whose registration is known.
                    let expected = sw.as_ref().and_then(|s| s.attribution(gen.seq));
                    let attr = match (expected, lt.as_ref()) {
                        (Some(e), Some(l)) => Some(attribution_diff(e, l)),
                        _ => None,
                    };
                    let (j, detail) = match &attr {
                        Some(Some(d)) if j == Judgement::Match => {
                            (Judgement::Misattributed, d.clone())
                        }
                        Some(Some(d)) => (j, format!("{detail}; {d}")),
                        _ => (j, detail),
                    };
                    let problem = (j != Judgement::Match).then(|| Problem {
                        out_trade_no: no.clone(),
                        judgement: j,
                        generator: format!("{} ({})", gen.last_status, gen.created_by),
                        switch: swt.map(|o| o.map_or("(none)", |t| t.status.as_str()).to_owned()),
                        ledger: lt.map(|l| l.status),
                        detail,
                    });
                    return (j, problem, attr.map(|d| d.is_some()));
                }
                refresh = true;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    let mut r = AuditReport {
        sources,
        ..Default::default()
    };
    let mut attribution = AttributionCheck::default();
    while let Some(res) = set.join_next().await {
        let Ok((j, problem, attr)) = res else {
            r.checked += 1;
            r.pending += 1;
            continue;
        };
        if let Some(mismatched) = attr {
            attribution.checked += 1;
            attribution.mismatched += u64::from(mismatched);
        }
        r.checked += 1;
        match j {
            Judgement::Match => r.matched += 1,
            Judgement::Missing => r.missing += 1,
            Judgement::Duplicate => r.duplicate += 1,
            Judgement::Conflicting => r.conflicting += 1,
            Judgement::Pending => r.pending += 1,
            Judgement::Misattributed => r.misattributed += 1,
        }
        if let Some(p) = problem {
            if r.problems.len() < 100 {
                r.problems.push(p);
            }
        }
    }
    r.problems
        .sort_by(|a, b| a.out_trade_no.cmp(&b.out_trade_no));
    r.passed = r.checked == r.matched && r.sources.len() > 1 && attribution.mismatched == 0;
    if attribution.checked > 0 {
        r.attribution = Some(attribution);
    }
    r.seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: &str) -> SeenTrade {
        SeenTrade {
            created_by: "pay".into(),
            amount_fen: 8888,
            last_status: status.into(),
            refunded_fen: 0,
            cancelled: false,
            seq: 0,
        }
    }

    fn sw(status: &str, amount: &str, refunded: &str) -> SwitchTrade {
        SwitchTrade {
            out_trade_no: "X".into(),
            gateway_out_trade_no: None,
            status: terminal::Status::parse(status).expect("a status"),
            trade_no: None,
            total_amount: amount.parse().expect("an amount"),
            receipt_amount: None,
            buyer_logon_id: None,
            gmt_payment: None,
            refunded_amount: refunded.parse().expect("an amount"),
            qr_code: None,
            code: None,
            sub_code: None,
            sub_msg: None,
            cashier_action: None,
        }
    }

    fn led(status: &str, pay_count: u64, refunded: u64) -> LedgerTrade {
        LedgerTrade {
            status: status.into(),
            total_fen: Some(8888),
            refunded_fen: refunded,
            pay_count,
            ..Default::default()
        }
    }

    #[test]
    fn judgements() {
        use Judgement::*;
        let g = seen("SUCCESS");
        let ok = sw("SUCCESS", "88.88", "0.00");
        let paid = led("TRADE_SUCCESS", 1, 0);
        assert_eq!(judge(&g, Some(Some(&ok)), Some(&paid)).0, Match);
        assert_eq!(judge(&g, Some(None), Some(&paid)).0, Missing);
        assert_eq!(
            judge(&g, Some(Some(&ok)), Some(&led("TRADE_SUCCESS", 2, 0))).0,
            Duplicate
        );
        assert_eq!(
            judge(&g, Some(Some(&ok)), Some(&led("TRADE_CLOSED", 1, 0))).0,
            Conflicting
        );
        assert_eq!(
            judge(&g, Some(Some(&ok)), Some(&led("TRADE_SUCCESS", 1, 1))).0,
            Conflicting
        );
        assert_eq!(
            judge(&g, Some(Some(&sw("SUCCESS", "1.00", "0.00"))), Some(&paid)).0,
            Conflicting
        );
        assert_eq!(
            judge(&g, Some(Some(&sw("CLOSED", "88.88", "0.00"))), Some(&paid)).0,
            Conflicting
        );
        assert_eq!(
            judge(&g, Some(Some(&sw("PAYING", "88.88", "0.00"))), Some(&paid)).0,
            Pending
        );
        // Never answered, no trade anywhere: nothing to find.
        assert_eq!(judge(&seen("SENT"), Some(None), None).0, Match);
        // Gateway only: a payment the ledger does not have.
        assert_eq!(judge(&g, None, None).0, Missing);
        assert_eq!(judge(&g, None, Some(&paid)).0, Match);
        assert_eq!(judge(&seen("FAILED"), None, Some(&paid)).0, Conflicting);
        // Switch only (no ledger).
        assert_eq!(judge_switch_only(&g, Some(&ok)).0, Match);
        assert_eq!(judge_switch_only(&g, None).0, Missing);
        assert_eq!(
            judge_switch_only(&g, Some(&sw("CLOSED", "88.88", "0.00"))).0,
            Conflicting
        );
        assert_eq!(judge_switch_only(&seen("FAILED"), Some(&ok)).0, Conflicting);
        assert_eq!(
            judge_switch_only(&g, Some(&sw("UNKNOWN", "88.88", "0.00"))).0,
            Pending
        );
    }

    #[test]
    fn attribution() {
        let want = Attribution {
            sub_merchant_id: Some("2088000000000001".into()),
            store_id: Some("S1".into()),
            terminal_id: Some("T1".into()),
        };
        let mut l = led("TRADE_SUCCESS", 1, 0);
        l.sub_merchant_id = Some("2088000000000001".into());
        l.store_id = Some("S1".into());
        l.terminal_id = Some("T1".into());
        assert_eq!(attribution_diff(&want, &l), None);
        l.store_id = Some("S2".into());
        l.terminal_id = None;
        let d = attribution_diff(&want, &l).unwrap();
        assert!(
            d.contains("store_id: ledger S2") && d.contains("terminal_id: ledger (none)"),
            "{d}"
        );
        assert!(!d.contains("sub_merchant_id"), "{d}");
        // What the registration leaves out is not compared.
        let only_smid = Attribution {
            sub_merchant_id: Some("2088000000000001".into()),
            ..Default::default()
        };
        assert_eq!(attribution_diff(&only_smid, &l), None);
        let v = serde_json::json!({"status": "TRADE_SUCCESS", "total_amount": "88.88",
            "sub_merchant_id": "2088000000000001", "store_id": "S1", "terminal_id": ""});
        let parsed = ledger_of(&v);
        assert_eq!(parsed.sub_merchant_id.as_deref(), Some("2088000000000001"));
        assert_eq!(parsed.store_id.as_deref(), Some("S1"));
        assert_eq!(parsed.terminal_id, None);
    }
}
