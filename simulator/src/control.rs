//! The control API (`/_sim/...`, JSON) for tests and load runs: read the
//! ledger, make a buyer pay, list notification attempts, read and replace the
//! profile, reset, fetch the simulator's public key and the bill files.
//!
//! Guarantees: every answer is JSON except the public key (PEM text) and the
//! bill (zip); unknown trades answer 404 `{"error":"not found"}`; a bad body
//! answers 400 with `{"error": ...}`; nothing here blocks the gateway path
//! beyond one ledger shard per trade touched.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::{Method, StatusCode};
use protocol::{clock, Money, TradeStatus};
use serde::Serialize;
use serde_json::json;

use crate::ledger::Trade;
use crate::merchants::SubMerchantView;
use crate::methods;
use crate::profile::Profile;
use crate::state::Sim;

/// A control API answer, as the server sends it.
#[derive(Debug)]
pub struct ControlResponse {
    /// The HTTP status (200, 400, 404, 409, 410).
    pub status: StatusCode,
    /// `application/json`, `application/x-pem-file` or `application/zip`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

fn json_resp(status: StatusCode, v: &impl Serialize) -> ControlResponse {
    ControlResponse {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

fn error(status: StatusCode, msg: &str) -> ControlResponse {
    json_resp(status, &json!({ "error": msg }))
}

fn not_found() -> ControlResponse {
    error(StatusCode::NOT_FOUND, "not found")
}

/// The ledger entry of a trade as the control API shows it
/// (`GET /_sim/trades/{out_trade_no}`): a [`Trade`] with amounts in yuan
/// and times as `yyyy-MM-dd HH:mm:ss` Beijing time.
#[derive(Debug, Clone, Serialize)]
pub struct TradeView {
    /// [`Trade::app_id`].
    pub app_id: String,
    /// [`Trade::out_trade_no`].
    pub out_trade_no: String,
    /// [`Trade::trade_no`].
    pub trade_no: String,
    /// The trade status (`WAIT_BUYER_PAY`, `TRADE_SUCCESS`...).
    pub status: &'static str,
    /// Which method created it (`pay`, `precreate`, `create`).
    pub kind: crate::ledger::TradeKind,
    /// [`Trade::subject`].
    pub subject: String,
    /// [`Trade::total`].
    pub total_amount: Money,
    /// The amount paid (zero before payment).
    pub receipt_amount: Money,
    /// [`Trade::refunded`].
    pub refunded_amount: Money,
    /// [`Trade::pay_count`]: 0 or 1, never more.
    pub pay_count: u32,
    /// [`Trade::buyer_user_id`].
    pub buyer_user_id: Option<String>,
    /// [`Trade::buyer_logon_id`].
    pub buyer_logon_id: Option<String>,
    /// [`Trade::created_at`].
    pub gmt_create: String,
    /// [`Trade::paid_at`].
    pub gmt_payment: Option<String>,
    /// [`Trade::closed_at`].
    pub gmt_close: Option<String>,
    /// [`Trade::notify_url`].
    pub notify_url: Option<String>,
    /// [`Trade::qr_code`].
    pub qr_code: Option<String>,
    /// [`Trade::store_id`].
    pub store_id: Option<String>,
    /// [`Trade::terminal_id`].
    pub terminal_id: Option<String>,
    /// [`Trade::operator_id`].
    pub operator_id: Option<String>,
    /// `sub_merchant.merchant_id` as the request carried it (null when absent).
    pub sub_merchant_id: Option<String>,
    /// False for a precreated QR not scanned yet (profile `behaviour.precreate_hidden_until_scan`).
    pub visible: bool,
    /// Booked by a 9003 late landing, after the connection was dropped.
    pub landed_late: bool,
    /// The payment's funding tools (`fund_bill_list`; empty before payment).
    pub funds: Vec<FundView>,
    /// Its refunds, oldest first.
    pub refunds: Vec<RefundView>,
    /// Every status it had, oldest first.
    pub history: Vec<HistoryView>,
}

/// One funding tool of a payment or refund and its amount.
#[derive(Debug, Clone, Serialize)]
pub struct FundView {
    /// The tool's wire name (`ALIPAYACCOUNT`...).
    pub fund_channel: &'static str,
    /// The amount from that tool.
    pub amount: Money,
}

fn fund_views(parts: &[(crate::profile::FundChannel, u64)]) -> Vec<FundView> {
    parts
        .iter()
        .map(|(c, fen)| FundView {
            fund_channel: c.as_str(),
            amount: Money::from_fen(*fen),
        })
        .collect()
}

/// One refund of a [`TradeView`].
#[derive(Debug, Clone, Serialize)]
pub struct RefundView {
    /// [`Refund::out_request_no`](crate::ledger::Refund::out_request_no).
    pub out_request_no: String,
    /// The amount refunded.
    pub refund_amount: Money,
    /// The funding tools this refund took from (docs/PROTOCOL.md §9.6's order).
    pub refund_detail_item_list: Vec<FundView>,
    /// When it was booked, `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub at: String,
    /// `store_id` as the refund request carried it.
    pub store_id: Option<String>,
    /// `terminal_id` as the refund request carried it.
    pub terminal_id: Option<String>,
    /// `operator_id` as the refund request carried it.
    pub operator_id: Option<String>,
}

/// One status change of a [`TradeView`].
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// The status it moved to.
    pub status: &'static str,
    /// When, `yyyy-MM-dd HH:mm:ss` Beijing time.
    pub at: String,
}

impl TradeView {
    /// The view of `t` as it is (no time-out or refund window applied).
    pub fn of(t: &Trade) -> TradeView {
        TradeView {
            app_id: t.app_id.clone(),
            out_trade_no: t.out_trade_no.clone(),
            trade_no: t.trade_no.clone(),
            status: t.status.as_str(),
            kind: t.kind,
            subject: t.subject.clone(),
            total_amount: t.total,
            receipt_amount: t.paid_amount(),
            refunded_amount: t.refunded,
            pay_count: t.pay_count,
            buyer_user_id: t.buyer_user_id.clone(),
            buyer_logon_id: t.buyer_logon_id.clone(),
            gmt_create: clock::format_gateway_time(t.created_at),
            gmt_payment: t.paid_at.map(clock::format_gateway_time),
            gmt_close: t.closed_at.map(clock::format_gateway_time),
            notify_url: t.notify_url.clone(),
            qr_code: t.qr_code.clone(),
            store_id: t.store_id.clone(),
            terminal_id: t.terminal_id.clone(),
            operator_id: t.operator_id.clone(),
            sub_merchant_id: t.sub_merchant_id.clone(),
            visible: t.visible,
            landed_late: t.landed_late,
            funds: fund_views(&t.fund_parts()),
            refunds: t
                .refunds
                .iter()
                .enumerate()
                .map(|(i, r)| RefundView {
                    out_request_no: r.out_request_no.clone(),
                    refund_amount: r.amount,
                    refund_detail_item_list: fund_views(&t.refund_detail(i)),
                    at: clock::format_gateway_time(r.at),
                    store_id: r.store_id.clone(),
                    terminal_id: r.terminal_id.clone(),
                    operator_id: r.operator_id.clone(),
                })
                .collect(),
            history: t
                .history
                .iter()
                .map(|(s, at)| HistoryView {
                    status: s.as_str(),
                    at: clock::format_gateway_time(*at),
                })
                .collect(),
        }
    }
}

fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Reads one trade by out_trade_no, closing it first when its time-out
/// passed (finishing it when its refund window passed).
fn read_trade(sim: &Sim, out_trade_no: &str) -> Option<TradeView> {
    let k = sim.ledger.key_of_out_trade_no(out_trade_no)?;
    let now = time::OffsetDateTime::now_utc();
    let (view, changed) = {
        let mut t = sim.ledger.trades.get_mut(&k)?;
        let mut changed = Vec::new();
        if t.expire_if_due(now) {
            changed.push(t.clone());
        }
        if t.finish_if_due(sim.gateway_now(), sim.cfg.refund_window()) {
            changed.push(t.clone());
        }
        (TradeView::of(&t), changed)
    };
    for t in changed {
        sim.notifier.trade_changed(sim, &t);
    }
    Some(view)
}

/// 404 for an out_trade_no without a trade, telling what the gateway knows
/// of it: a 9003 payment still to land, a cancel received while unbooked.
fn not_booked(sim: &Sim, out_trade_no: &str) -> ControlResponse {
    let mut v = json!({ "error": "not found" });
    if let Some(at) = sim.ledger.pending_landing_of(out_trade_no) {
        v["pending_late_landing"] = json!({
            "lands_at": clock::format_gateway_time(at),
            "lands_at_ms": at.unix_timestamp_nanos() / 1_000_000,
        });
    }
    if let Some(c) = sim.ledger.cancelled_unknown_of(out_trade_no) {
        v["cancelled_unknown"] = json!({
            "at": clock::format_gateway_time(c.at),
            "block": c.block,
            "refused_pays": c.refused_pays,
            "blocked_landings": c.blocked_landings,
        });
    }
    json_resp(StatusCode::NOT_FOUND, &v)
}

/// Handles `/_sim/<rest>`: `rest` is the path after `/_sim/`, `query` the
/// raw query string, `body` the request body. Routes are listed in
/// docs/SIMULATOR.md; an unknown route answers 404.
pub fn handle(
    sim: &Arc<Sim>,
    method: &Method,
    rest: &str,
    query: &str,
    body: &[u8],
) -> ControlResponse {
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::GET, ["health"]) => json_resp(StatusCode::OK, &json!({ "ok": true })),
        (&Method::GET, ["trades"]) => {
            // Optional filters: status, app_id; paging: after (a trade_no), limit.
            let status = query_param(query, "status");
            let app_id = query_param(query, "app_id");
            let after = query_param(query, "after");
            let limit = match query_param(query, "limit").map(|l| l.parse::<usize>()) {
                None => usize::MAX,
                Some(Ok(n)) => n,
                Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "limit must be a number"),
            };
            let mut trades: Vec<TradeView> = sim
                .ledger
                .trades
                .iter()
                .filter(|e| {
                    let t = e.value();
                    status.as_deref().map_or(true, |s| s == t.status.as_str())
                        && app_id.as_deref().map_or(true, |a| a == t.app_id)
                        && after.as_deref().map_or(true, |a| t.trade_no.as_str() > a)
                })
                .map(|e| TradeView::of(e.value()))
                .collect();
            trades.sort_by(|a, b| a.trade_no.cmp(&b.trade_no));
            trades.truncate(limit);
            json_resp(StatusCode::OK, &json!({ "trades": trades }))
        }
        (&Method::GET, ["trades", otn]) => match read_trade(sim, otn) {
            Some(v) => json_resp(StatusCode::OK, &v),
            None => not_booked(sim, otn),
        },
        (&Method::POST, ["trades", otn, "buyer-pay"]) => {
            let Some(k) = sim.ledger.key_of_out_trade_no(otn) else {
                return not_found();
            };
            let paid = methods::buyer_pays(sim, &k, None);
            match read_trade(sim, otn) {
                Some(v) if paid => json_resp(StatusCode::OK, &json!({ "paid": true, "trade": v })),
                Some(v) => json_resp(
                    StatusCode::CONFLICT,
                    &json!({ "paid": false, "error": format!("trade is {}", v.status), "trade": v }),
                ),
                None => not_found(),
            }
        }
        (&Method::POST, ["trades", otn, "buyer-scan"]) => {
            let Some(k) = sim.ledger.key_of_out_trade_no(otn) else {
                return not_found();
            };
            match sim.ledger.trades.get_mut(&k) {
                Some(mut t) => {
                    t.visible = true;
                    json_resp(StatusCode::OK, &TradeView::of(&t))
                }
                None => not_found(),
            }
        }
        (&Method::POST, ["trades", otn, "finish"]) => {
            let Some(k) = sim.ledger.key_of_out_trade_no(otn) else {
                return not_found();
            };
            let now = time::OffsetDateTime::now_utc();
            let (view, changed) = match sim.ledger.trades.get_mut(&k) {
                None => return not_found(),
                Some(mut t) => {
                    if t.status != TradeStatus::TradeSuccess {
                        let v = TradeView::of(&t);
                        return json_resp(
                            StatusCode::CONFLICT,
                            &json!({ "error": format!("trade is {}", v.status), "trade": v }),
                        );
                    }
                    t.set_status(TradeStatus::TradeFinished, now);
                    (TradeView::of(&t), t.clone())
                }
            };
            sim.notifier.trade_changed(sim, &changed);
            json_resp(StatusCode::OK, &view)
        }
        (&Method::POST, ["trades", otn, "backdate"]) => {
            #[derive(serde::Deserialize)]
            struct Req {
                seconds: i64,
            }
            // At most ten years back, so that no time can leave the calendar.
            let r = match serde_json::from_slice::<Req>(body) {
                Ok(r) if (0..=10 * 366 * 86_400).contains(&r.seconds) => r,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "body must be {\"seconds\": N} with 0 <= N <= 316224000",
                    )
                }
            };
            let Some(k) = sim.ledger.key_of_out_trade_no(otn) else {
                return not_found();
            };
            match sim.ledger.trades.get_mut(&k) {
                Some(mut t) => {
                    t.backdate(time::Duration::seconds(r.seconds));
                    json_resp(StatusCode::OK, &TradeView::of(&t))
                }
                None => not_found(),
            }
        }
        (&Method::GET, ["ledger", "summary"]) => json_resp(StatusCode::OK, &summary(sim)),
        (&Method::GET, ["income"]) => {
            let list: Vec<serde_json::Value> = sim
                .ledger
                .incomes()
                .into_iter()
                .map(|d| {
                    let bal = d.balance();
                    let abs = Money::from_fen(u64::try_from(bal.unsigned_abs()).unwrap_or(u64::MAX));
                    let balance = if bal < 0 {
                        format!("-{abs}")
                    } else {
                        abs.to_string()
                    };
                    json!({
                        "app_id": d.app_id,
                        "sub_merchant_id": d.sub_merchant_id,
                        "date": format!("{:04}-{:02}-{:02}", d.day.year(), u8::from(d.day.month()), d.day.day()),
                        "paid": Money::from_fen(d.paid),
                        "refunded": Money::from_fen(d.refunded),
                        "balance": balance,
                    })
                })
                .collect();
            json_resp(StatusCode::OK, &json!({ "income": list }))
        }
        (&Method::GET, ["notifications"]) => {
            let otn = query_param(query, "out_trade_no");
            let list = sim.notifier.list(otn.as_deref());
            json_resp(StatusCode::OK, &json!({ "notifications": list }))
        }
        (&Method::GET, ["merchants"]) => {
            let list: Vec<SubMerchantView> = sim
                .merchants
                .list()
                .iter()
                .map(SubMerchantView::of)
                .collect();
            json_resp(StatusCode::OK, &json!({ "merchants": list }))
        }
        (&Method::GET, ["merchants", smid]) => match sim.merchants.get_any(smid) {
            Some(m) => json_resp(StatusCode::OK, &SubMerchantView::of(&m)),
            None => not_found(),
        },
        (&Method::GET, ["heartbeats"]) => {
            let eq = query_param(query, "equipment_id");
            let list = sim.heartbeats.list(eq.as_deref());
            json_resp(StatusCode::OK, &json!({ "heartbeats": list }))
        }
        (&Method::GET, ["profile"]) => json_resp(StatusCode::OK, &*sim.profile()),
        (&Method::PUT, ["profile"]) => {
            let text = String::from_utf8_lossy(body);
            match Profile::parse(&text) {
                Ok(p) => {
                    *sim.profile.write() = Arc::new(p.clone());
                    json_resp(StatusCode::OK, &p)
                }
                Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        (&Method::POST, ["reset"]) => {
            sim.ledger.clear();
            sim.notifier.clear();
            sim.calls.clear();
            sim.merchants.clear();
            sim.heartbeats.clear();
            sim.bill_injections.lock().clear();
            json_resp(StatusCode::OK, &json!({ "reset": true }))
        }
        (&Method::POST, ["bills", date, "inject"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Inject {
                kind: String,
                /// Row kinds only; the file kinds apply to the whole bill.
                #[serde(default)]
                out_trade_no: String,
            }
            const KINDS: [&str; 8] = [
                "remove_row",
                "add_row",
                "amount_off",
                "remove_refund",
                "fee_off",
                "truncate",
                "corrupt_file",
                "not_gbk",
            ];
            const FILE_KINDS: [&str; 3] = ["truncate", "corrupt_file", "not_gbk"];
            match serde_json::from_slice::<Inject>(body) {
                Ok(i) if !KINDS.contains(&i.kind.as_str()) => error(
                    StatusCode::BAD_REQUEST,
                    "kind: remove_row, add_row, amount_off, remove_refund, fee_off, truncate, corrupt_file or not_gbk",
                ),
                Ok(i) if i.out_trade_no.is_empty() && !FILE_KINDS.contains(&i.kind.as_str()) => {
                    error(StatusCode::BAD_REQUEST, "out_trade_no: required for a row kind")
                }
                Ok(_) if date.len() != 10 || crate::bill::date_range(date).is_none() => {
                    error(StatusCode::BAD_REQUEST, "the date must be yyyy-MM-dd")
                }
                Ok(i) => {
                    sim.bill_injections.lock().push((
                        (*date).to_owned(),
                        i.kind.clone(),
                        i.out_trade_no.clone(),
                    ));
                    json_resp(
                        StatusCode::OK,
                        &json!({"bill_date": date, "kind": i.kind, "out_trade_no": i.out_trade_no}),
                    )
                }
                Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        (&Method::GET, ["clock"]) => json_resp(StatusCode::OK, &clock_view(sim)),
        (&Method::POST, ["clock"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct ClockBody {
                offset_secs: i64,
            }
            match serde_json::from_slice::<ClockBody>(body) {
                Ok(b) if b.offset_secs.abs() <= 10 * 366 * 86_400 => {
                    sim.clock_offset_secs
                        .store(b.offset_secs, std::sync::atomic::Ordering::Relaxed);
                    json_resp(StatusCode::OK, &clock_view(sim))
                }
                Ok(_) => error(StatusCode::BAD_REQUEST, "offset_secs: at most ten years"),
                Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        (&Method::GET, ["alipay-public-key"]) => ControlResponse {
            status: StatusCode::OK,
            content_type: "application/x-pem-file",
            body: sim.public_key_pem.clone().into_bytes(),
        },
        (&Method::GET, ["bill", "download"]) => {
            let (Some(app_id), Some(bill_type), Some(bill_date), Some(expires)) = (
                query_param(query, "app_id"),
                query_param(query, "bill_type"),
                query_param(query, "bill_date"),
                query_param(query, "expires"),
            ) else {
                return error(StatusCode::BAD_REQUEST, "missing bill parameters");
            };
            let expired = expires
                .parse::<i64>()
                .map_or(true, |e| e < sim.gateway_now().unix_timestamp());
            if expired {
                return error(StatusCode::GONE, "the bill URL has expired (30 s)");
            }
            match crate::bill::build_zip(sim, &app_id, &bill_type, &bill_date) {
                Ok(zip) => ControlResponse {
                    status: StatusCode::OK,
                    content_type: "application/zip",
                    body: zip,
                },
                Err(e) => error(StatusCode::BAD_REQUEST, &e.to_string()),
            }
        }
        _ => not_found(),
    }
}

fn clock_view(sim: &Sim) -> serde_json::Value {
    json!({
        "offset_secs": sim.clock_offset_secs.load(std::sync::atomic::Ordering::Relaxed),
        "gateway_time": clock::format_gateway_time(sim.gateway_now()),
    })
}

#[derive(Debug, Default, Serialize)]
struct StatusSum {
    count: u64,
    total_amount: Money,
}

fn summary(sim: &Sim) -> serde_json::Value {
    let mut by_status: BTreeMap<&'static str, StatusSum> = BTreeMap::new();
    for s in [
        TradeStatus::WaitBuyerPay,
        TradeStatus::TradeSuccess,
        TradeStatus::TradeClosed,
        TradeStatus::TradeFinished,
    ] {
        by_status.insert(s.as_str(), StatusSum::default());
    }
    let (mut trades, mut paid_count, mut paid_fen, mut ref_count, mut ref_fen) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut max_pay_count = 0u32;
    for e in sim.ledger.trades.iter() {
        let t = e.value();
        trades += 1;
        let s = by_status.entry(t.status.as_str()).or_default();
        s.count += 1;
        s.total_amount = Money::from_fen(s.total_amount.fen() + t.total.fen());
        if t.pay_count > 0 {
            paid_count += 1;
            paid_fen += t.total.fen();
        }
        max_pay_count = max_pay_count.max(t.pay_count);
        ref_count += t.refunds.len() as u64;
        ref_fen += t.refunded.fen();
    }
    json!({
        "trades": trades,
        "by_status": by_status,
        "paid": { "count": paid_count, "amount": Money::from_fen(paid_fen) },
        "refunds": { "count": ref_count, "amount": Money::from_fen(ref_fen) },
        "max_pay_count": max_pay_count,
    })
}
