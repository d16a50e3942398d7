//! The scenarios of the acceptance points 1 to 4 (业务验收 of the bank
//! indirect-acquiring guide, docs/PROTOCOL.md §9.8); point 5 is in
//! `recon.rs` beside this file (`loadgen/src/acceptance/recon.rs`).
//!
//! Guarantees: each point returns a [`Point`] whatever happens (a failed
//! request is a failed check with the error as evidence, never a panic);
//! a point FAILs when any of its checks failed, and its summary names every
//! failed check; the trades use out_trade_nos made of the run id, so the
//! ledger entries read are the run's own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use super::report::{Check, Evidence, Point, Status, TerminalInfo};
use super::{note_evidence, Ctx, Exchange, TermClient};
use crate::spec::PayCase;
use crate::target::{auth_code, wire_to_fen};

/// The stable key of point `id` in the JSON checklist: `onboarding` (1),
/// `attribution` (2), `password` (3), `errors` (4), `reconciliation` (5 and
/// any other number).
pub fn key_of(id: u8) -> &'static str {
    match id {
        1 => "onboarding",
        2 => "attribution",
        3 => "password",
        4 => "errors",
        _ => "reconciliation",
    }
}

/// What the switch has registered for the terminal under test (read from
/// `GET /admin/v1/terminals/{key_id}`): what point 2 expects on every trade
/// in the gateway's ledger. `None`: not registered (or not readable).
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// The sub-merchant id (smid) of the terminal's merchant.
    pub smid: Option<String>,
    /// The store the terminal is in.
    pub store_id: Option<String>,
    /// The terminal's own id at the gateway.
    pub terminal_id: Option<String>,
}

/// What the points hand on to each other, in order: the terminal under
/// test (given with `--key-id` or created by point 1), its registration,
/// point 1's merchant and the gateway days point 5 reconciles.
pub struct State {
    given: Option<Arc<TermClient>>,
    created: Option<Arc<TermClient>>,
    reg: Option<Registration>,
    /// The merchant of point 1: external_id and smid.
    pub merchant: Option<(String, Option<String>)>,
    /// Gateway days (yyyy-MM-dd, gateway time) of the run's trades.
    pub gateway_days: BTreeSet<String>,
    /// Remarks for the checklist's notes (the JSON's `notes`).
    pub notes: Vec<String>,
}

impl State {
    /// The state before point 1; `given` is the `--key-id` terminal, if
    /// any (else point 1 creates one).
    pub fn new(given: Option<TermClient>) -> Self {
        State {
            given: given.map(Arc::new),
            created: None,
            reg: None,
            merchant: None,
            gateway_days: BTreeSet::new(),
            notes: Vec::new(),
        }
    }

    fn terminal(&self) -> Option<Arc<TermClient>> {
        self.given.clone().or_else(|| self.created.clone())
    }

    /// One payment of 30.00 and, once it succeeded, one refund of 0.01 with
    /// the terminal under test, for a reconciliation when points 2 to 4 made
    /// no trade (point 5 alone); checks and evidence go to `c`, the trades'
    /// gateway days to [`State::gateway_days`]. Nothing happens without a
    /// terminal.
    pub async fn own_trades(&mut self, ctx: &Ctx, c: &mut Case) {
        let Some(t) = self.terminal() else {
            return;
        };
        let mut days = BTreeSet::new();
        let no = format!("{}P5PAY", ctx.run_id);
        let p = pay_case(
            ctx,
            &t,
            c,
            &mut days,
            PayReq {
                no: &no,
                case: PayCase::Normal,
                amount: "30.00",
                step: "a payment to reconcile",
            },
        )
        .await;
        if p.last.str("status") == Some("SUCCESS") {
            let body =
                json!({"out_request_no": format!("{}P5R1", ctx.run_id), "refund_amount": "0.01"});
            let (e, _) = ctx
                .term_call(
                    &t,
                    "a refund to reconcile",
                    Method::POST,
                    &format!("/v1/trades/{no}/refunds"),
                    Some(&body),
                )
                .await;
            c.ev(e);
        }
        self.gateway_days.extend(days);
    }

    /// The terminal under test for the report's target (`origin` `given`
    /// or `created`, with its registration once read); `None` when there is
    /// none.
    pub fn terminal_info(&self) -> Option<TerminalInfo> {
        let t = self.terminal()?;
        let reg = self.reg.clone().unwrap_or_default();
        Some(TerminalInfo {
            key_id: t.key_id().to_string(),
            origin: if self.given.is_some() {
                "given"
            } else {
                "created"
            }
            .into(),
            smid: reg.smid,
            store_id: reg.store_id,
            terminal_id: reg.terminal_id,
        })
    }
}

/// The checks and evidence of a point or one of its cases, collected as
/// the scenario goes and turned into a [`Point`] by [`Case::into_point`].
#[derive(Debug, Default)]
pub struct Case {
    /// Every check made, passed or not, in order.
    pub checks: Vec<Check>,
    /// The redacted exchanges and results the checks were made on.
    pub evidence: Vec<Evidence>,
    /// One English phrase per failed check (label and detail), for the
    /// point's summary.
    pub problems: Vec<String>,
    /// The same problems, in Chinese.
    pub problems_zh: Vec<String>,
}

impl Case {
    /// Adds a check labelled `en` and `zh` with what was compared in
    /// `detail`; a failed one is also a problem (named in the summary).
    /// Returns `passed`, so that a scenario can stop after a failed check.
    pub fn check(&mut self, en: &str, zh: &str, passed: bool, detail: impl Into<String>) -> bool {
        let detail = detail.into();
        if !passed {
            self.problems.push(format!("{en} ({detail})"));
            self.problems_zh.push(format!("{zh}（{detail}）"));
        }
        self.checks.push(Check {
            label_en: en.into(),
            label_zh: zh.into(),
            passed,
            detail,
        });
        passed
    }

    /// Adds a piece of evidence (already redacted, see
    /// [`super::evidence`]).
    pub fn ev(&mut self, e: Evidence) {
        self.evidence.push(e);
    }

    fn merge(&mut self, o: Case) {
        self.checks.extend(o.checks);
        self.evidence.extend(o.evidence);
        self.problems.extend(o.problems);
        self.problems_zh.extend(o.problems_zh);
    }

    /// The point `id`: PASS with the summaries `pass_en` and `pass_zh`
    /// when checks ran and none failed; FAIL naming every problem when one
    /// failed, or "nothing was checked" when no check ran. `seconds` is left
    /// at 0 for the caller to set.
    pub fn into_point(self, id: u8, pass_en: String, pass_zh: String) -> Point {
        let (status, summary, summary_zh) = if self.problems.is_empty() && !self.checks.is_empty() {
            (Status::Pass, pass_en, pass_zh)
        } else if self.problems.is_empty() {
            (
                Status::Fail,
                "nothing was checked".to_string(),
                "未进行任何核对".to_string(),
            )
        } else {
            (
                Status::Fail,
                format!("failed: {}", self.problems.join("; ")),
                format!("未通过：{}", self.problems_zh.join("；")),
            )
        };
        Point {
            id,
            key: key_of(id).into(),
            status,
            summary,
            summary_zh,
            checks: self.checks,
            evidence: self.evidence,
            seconds: 0.0,
        }
    }
}

/// Runs point `id` (1 to 5; any other number runs point 5) and returns its
/// verdict; never fails, a failure being a FAIL with the evidence. Point 5
/// needs the `demo` feature and fails as not available without it.
pub async fn run_point(ctx: &Ctx, st: &mut State, id: u8) -> Point {
    match id {
        1 => onboarding(ctx, st).await,
        2 => attribution(ctx, st).await,
        3 => password(ctx, st).await,
        4 => errors(ctx, st).await,
        #[cfg(feature = "demo")]
        _ => super::recon::reconciliation(ctx, st).await,
        #[cfg(not(feature = "demo"))]
        _ => reconciliation_unavailable(),
    }
}

/// Point 5 in a build without the engine (no `demo` feature).
#[cfg(not(feature = "demo"))]
fn reconciliation_unavailable() -> Point {
    let mut c = Case::default();
    c.check(
        "the switch's reconciliation and settlement can be run",
        "可执行交换系统的对账与清算",
        false,
        "not available in this build: loadgen was built without the `demo` feature, so the engine's reconciliation and settlement are not part of it",
    );
    c.into_point(5, String::new(), String::new())
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
}

fn http_status(x: &Exchange) -> String {
    x.status
        .map_or_else(|| format!("(no answer: {})", x.body), |s| s.to_string())
}

fn or_none(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

/// The body of point 1's merchant for `POST /admin/v1/merchants`, with
/// `external_id` and the fee rates (gateway, merchant; basis points): every
/// field the gateway holds, in the normative shape (docs/PROTOCOL.md §5,
/// §9.7). The data are fictitious.
pub fn merchant_body(external_id: &str, (gateway_fee_bps, merchant_fee_bps): (u32, u32)) -> Value {
    json!({
        "external_id": external_id,
        "name": "上海张江验收便利店有限公司",
        "alias_name": "张江验收便利店",
        "service_phone": "021-61234567",
        "category_id": "2015050700000000",
        "contact_info": [{
            "name": "李明",
            "type": "LEGAL_PERSON",
            "id_card_no": "310115198001011234",
            "mobile": "13912345678",
            "email": "liming@example.com",
            "tag": ["06", "08"]
        }],
        "address_info": [{
            "province_code": "310000",
            "city_code": "310100",
            "district_code": "310115",
            "address": "上海市浦东新区张江路100号",
            "longitude": "121.590000",
            "latitude": "31.200000",
            "type": "BUSINESS_ADDRESS"
        }],
        "bankcard_info": [{
            "card_no": "6222021001122334455",
            "card_name": "上海张江验收便利店有限公司",
            "bank_branch_name": "中国工商银行上海张江支行"
        }],
        "service_codes": ["F2F"],
        "gateway_fee_bps": gateway_fee_bps,
        "merchant_fee_bps": merchant_fee_bps
    })
}

/// The merchant fields the gateway keeps, compared one by one by point 1
/// between [`merchant_body`] and what the simulator received.
pub const GATEWAY_FIELDS: [&str; 9] = [
    "external_id",
    "name",
    "alias_name",
    "service_phone",
    "category_id",
    "contact_info",
    "address_info",
    "bankcard_info",
    "service_codes",
];

/// `None` when everything in `sent` arrived unchanged in `got`, at every
/// depth (keys the gateway adds are allowed; a number and its text compare
/// equal); else the first difference, named by its path from `path` (e.g.
/// `contact_info[0].mobile: sent …, the gateway has …`).
pub fn arrived(sent: &Value, got: Option<&Value>, path: &str) -> Option<String> {
    let Some(got) = got.filter(|g| !g.is_null()) else {
        return Some(format!("{path}: missing at the gateway"));
    };
    match sent {
        Value::Object(m) => {
            let Value::Object(g) = got else {
                return Some(format!("{path}: not an object at the gateway"));
            };
            m.iter()
                .find_map(|(k, v)| arrived(v, g.get(k), &format!("{path}.{k}")))
        }
        Value::Array(a) => {
            let Value::Array(g) = got else {
                return Some(format!("{path}: not a list at the gateway"));
            };
            if a.len() != g.len() {
                return Some(format!(
                    "{path}: {} entries sent, {} at the gateway",
                    a.len(),
                    g.len()
                ));
            }
            a.iter()
                .zip(g)
                .enumerate()
                .find_map(|(i, (x, y))| arrived(x, Some(y), &format!("{path}[{i}]")))
        }
        scalar => {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                o => o.to_string(),
            };
            (text(scalar) != text(got)).then(|| {
                format!(
                    "{path}: sent {}, the gateway has {}",
                    text(scalar),
                    text(got)
                )
            })
        }
    }
}

/// Point 1: onboarding through the admin API, compared with what the
/// gateway received; then (without `--key-id`) a store and a terminal for
/// the following points.
async fn onboarding(ctx: &Ctx, st: &mut State) -> Point {
    let mut c = Case::default();
    let ext = ctx.run_id.clone();
    let body = merchant_body(&ext, ctx.fee_bps);
    let (e, x) = ctx
        .admin_call(
            "onboard the merchant (POST /admin/v1/merchants)",
            Method::POST,
            "/admin/v1/merchants",
            Some(&body),
        )
        .await;
    c.ev(e);
    let smid = s(&x.body, "smid");
    c.check(
        "the admin API onboarded the merchant (201) and returned its smid",
        "管理接口完成入驻（201）并返回 smid",
        x.status == Some(201) && smid.is_some(),
        format!(
            "HTTP {}, smid {}",
            x.status.map_or("-".into(), |s| s.to_string()),
            or_none(&smid)
        ),
    );
    st.merchant = Some((ext.clone(), smid.clone()));
    let Some(smid) = smid else {
        return c.into_point(1, String::new(), String::new());
    };
    let (e, reg) = ctx
        .admin_call(
            "the switch's record of the merchant",
            Method::GET,
            &format!("/admin/v1/merchants/{ext}"),
            None,
        )
        .await;
    c.ev(e);
    c.check(
        "the switch's registry holds the merchant with that smid",
        "交换系统登记的商户 smid 一致",
        s(&reg.body, "smid").as_deref() == Some(smid.as_str()),
        format!("registry smid {}", or_none(&s(&reg.body, "smid"))),
    );
    let (e, gw) = ctx
        .sim_call(
            "what the gateway received (GET /_sim/merchants/{smid})",
            Method::GET,
            &format!("/_sim/merchants/{smid}"),
            None,
        )
        .await;
    c.ev(e);
    if !c.check(
        "the gateway knows the sub-merchant",
        "网关存在该受理商户",
        gw.ok() && s(&gw.body, "sub_merchant_id").as_deref() == Some(smid.as_str()),
        format!(
            "GET /_sim/merchants/{smid}: HTTP {}",
            gw.status.map_or("-".into(), |s| s.to_string())
        ),
    ) {
        return c.into_point(1, String::new(), String::new());
    }
    for f in GATEWAY_FIELDS {
        let sent = &body[f];
        let diff = arrived(sent, gw.body.get(f), f);
        let shown = match sent {
            Value::String(s) => s.clone(),
            o => o.to_string(),
        };
        c.check(
            &format!("{f} arrived at the gateway unchanged"),
            &format!("{f} 原样送达网关"),
            diff.is_none(),
            diff.unwrap_or_else(|| shown.chars().take(160).collect()),
        );
    }
    let name = s(&gw.body, "name").unwrap_or_default();
    let alias = s(&gw.body, "alias_name").unwrap_or_default();
    c.check(
        "the merchant's real (registered) name is sent as name, distinct from its alias",
        "上送受理商户真实名称（name），且与简称不同",
        name.chars().count() >= 4 && name != alias,
        format!("name {name}, alias_name {alias}"),
    );
    if st.given.is_none() {
        create_terminal(ctx, st, &mut c, &ext).await;
    }
    let n = GATEWAY_FIELDS.len();
    c.into_point(
        1,
        format!("merchant {ext} onboarded with smid {smid}; all {n} fields arrived at the gateway unchanged"),
        format!("商户 {ext} 入驻成功，smid {smid}；全部 {n} 个字段原样送达网关"),
    )
}

async fn create_terminal(ctx: &Ctx, st: &mut State, c: &mut Case, ext: &str) {
    let store_id = format!("{ext}_S01");
    let (e, x) = ctx
        .admin_call(
            "a store for the merchant",
            Method::POST,
            &format!("/admin/v1/merchants/{ext}/stores"),
            Some(&json!({"store_id": store_id, "name": "张江店", "address": "上海市浦东新区张江路100号"})),
        )
        .await;
    c.ev(e);
    if !c.check(
        "the admin API created a store",
        "管理接口创建门店",
        matches!(x.status, Some(200 | 201)),
        format!("store {store_id}: HTTP {}", http_status(&x)),
    ) {
        return;
    }
    let (e, x) = ctx
        .admin_call(
            "a terminal in the store",
            Method::POST,
            &format!("/admin/v1/merchants/{ext}/terminals"),
            Some(
                &json!({"store_id": store_id, "terminal_id": "T001", "equipment_type": "CR",
                          "rate_per_sec": 1000.0}),
            ),
        )
        .await;
    c.ev(e);
    let (key, secret) = (s(&x.body, "key_id"), s(&x.body, "secret_hex"));
    let made = match (x.status, key, secret) {
        (Some(201), Some(k), Some(sec)) => {
            match TermClient::new(&ctx.url, &k, &sec, ctx.http.clone(), &ctx.run_id) {
                Ok(t) => {
                    st.created = Some(Arc::new(t));
                    true
                }
                Err(_) => false,
            }
        }
        _ => false,
    };
    c.check(
        "the admin API created a terminal (key id and secret shown once)",
        "管理接口创建终端（密钥仅显示一次）",
        made,
        format!("HTTP {}", http_status(&x)),
    );
}

/// The registration of the terminal under test, from the admin API.
async fn registration(ctx: &Ctx, st: &mut State, c: &mut Case) -> Option<Registration> {
    if let Some(r) = &st.reg {
        return Some(r.clone());
    }
    let key = st.terminal()?.key_id().to_string();
    let (e, x) = ctx
        .admin_call(
            "the switch's registration of the terminal under test",
            Method::GET,
            &format!("/admin/v1/terminals/{key}"),
            None,
        )
        .await;
    c.ev(e);
    if !x.ok() {
        c.check(
            "the switch shows the terminal's registration",
            "交换系统可查询终端登记信息",
            false,
            format!("GET /admin/v1/terminals/{key}: HTTP {}", http_status(&x)),
        );
        return None;
    }
    let mut reg = Registration {
        smid: s(&x.body, "smid"),
        store_id: s(&x.body, "store_id"),
        terminal_id: s(&x.body, "terminal_id"),
    };
    if reg.smid.is_none() {
        if let Some(ext) = s(&x.body, "external_id") {
            let (e, m) = ctx
                .admin_call(
                    "the smid of the terminal's merchant",
                    Method::GET,
                    &format!("/admin/v1/merchants/{ext}"),
                    None,
                )
                .await;
            c.ev(e);
            reg.smid = s(&m.body, "smid");
        }
    }
    st.reg = Some(reg.clone());
    Some(reg)
}

/// Reads a ledger entry (None: 404 or unreadable), as evidence.
async fn ledger(ctx: &Ctx, st: &mut State, c: &mut Case, step: &str, gw_no: &str) -> Option<Value> {
    let (e, x) = ctx
        .sim_call(step, Method::GET, &format!("/_sim/trades/{gw_no}"), None)
        .await;
    c.ev(e);
    if !x.ok() {
        return None;
    }
    if let Some(day) = s(&x.body, "gmt_create").filter(|d| d.len() >= 10) {
        st.gateway_days.insert(day[..10].to_string());
    }
    Some(x.body)
}

fn is_final(status: &str) -> bool {
    matches!(status, "SUCCESS" | "FAILED" | "CLOSED")
}

fn ledger_paid(l: Option<&Value>) -> bool {
    l.and_then(|v| v.get("status"))
        .and_then(Value::as_str)
        .is_some_and(|s| {
            matches!(
                protocol::TradeStatus::parse(s),
                Some(protocol::TradeStatus::TradeSuccess | protocol::TradeStatus::TradeFinished)
            )
        })
}

fn ledger_status(l: Option<&Value>) -> String {
    l.and_then(|v| v.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("(no trade)")
        .to_string()
}

/// Follows a trade until it is final (GET ?refresh=1 every 500 ms) or the
/// settle time ends; the last answer (also added as evidence when a GET was needed).
async fn settle(ctx: &Ctx, t: &TermClient, c: &mut Case, no: &str, first: Exchange) -> Exchange {
    settle_until(ctx, t, c, no, first, is_final).await
}

async fn settle_until(
    ctx: &Ctx,
    t: &TermClient,
    c: &mut Case,
    no: &str,
    first: Exchange,
    done: fn(&str) -> bool,
) -> Exchange {
    if first.str("status").is_some_and(done) {
        return first;
    }
    let end = Instant::now() + ctx.settle;
    let pq = format!("/v1/trades/{no}?refresh=1");
    let mut polls = 0u32;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let x = t.call(Method::GET, &pq, None).await;
        polls += 1;
        let finished = x.str("status").is_some_and(done);
        if finished || Instant::now() >= end {
            c.ev(super::evidence(
                "switch",
                &format!("the trade's final state (after {polls} GET ?refresh=1)"),
                &Method::GET,
                &pq,
                None,
                &x,
            ));
            return x;
        }
    }
}

/// The number the gateway knows a trade by.
fn gw_no(x: &Exchange, no: &str) -> String {
    x.str("gateway_out_trade_no").unwrap_or(no).to_string()
}

/// The three attribution checks of one ledger entry (or refund).
fn attribution_checks(
    c: &mut Case,
    what: &str,
    ledger: Option<&Value>,
    fields: &[(&str, &Option<String>)],
) {
    for (f, want) in fields {
        let got = ledger.and_then(|l| s(l, f));
        let ok = got.is_some() && got == **want;
        let detail =
            format!("ledger {} , registry {}", or_none(&got), or_none(want)).replace(" ,", ",");
        let en = if got.is_none() {
            format!("{f} on {what} (missing)")
        } else {
            format!("{f} on {what}")
        };
        c.check(
            &en,
            &format!("{what} 上送 {f}"),
            ok,
            if want.is_none() {
                format!("{detail}: the switch has no {f} registered for this terminal")
            } else {
                detail
            },
        );
    }
}

/// Point 2: smid, store_id and terminal_id of every trade in the ledger.
async fn attribution(ctx: &Ctx, st: &mut State) -> Point {
    let mut c = Case::default();
    let Some(t) = st.terminal() else {
        c.check(
            "a terminal to test",
            "有可测试的终端",
            false,
            "point 1 created none and no --key-id was given",
        );
        return c.into_point(2, String::new(), String::new());
    };
    let (en, zh) = attribution_with(ctx, st, &mut c, &t).await;
    c.into_point(2, en, zh)
}

async fn attribution_with(
    ctx: &Ctx,
    st: &mut State,
    c: &mut Case,
    t: &TermClient,
) -> (String, String) {
    let Some(reg) = registration(ctx, st, c).await else {
        return Default::default();
    };
    let fields = [
        ("sub_merchant_id", &reg.smid),
        ("store_id", &reg.store_id),
        ("terminal_id", &reg.terminal_id),
    ];
    // A barcode payment.
    let no = format!("{}P2PAY", ctx.run_id);
    let code = auth_code(PayCase::Normal, &mut rand::thread_rng());
    let body = json!({"out_trade_no": no, "auth_code": code, "total_amount": "12.34",
                      "subject": "验收测试商品", "operator_id": "OP01"});
    let (e, x) = ctx
        .term_call(
            t,
            "a barcode payment (alipay.trade.pay)",
            Method::POST,
            &format!("/v1/pay?wait={}", ctx.pay_wait),
            Some(&body),
        )
        .await;
    c.ev(e);
    let x = settle(ctx, t, c, &no, x).await;
    c.check(
        "the payment succeeded",
        "条码支付成功",
        x.str("status") == Some("SUCCESS"),
        format!("status {}", x.str("status").unwrap_or("(no answer)")),
    );
    let pay_gw = gw_no(&x, &no);
    let l = ledger(ctx, st, c, "the payment in the gateway's ledger", &pay_gw).await;
    attribution_checks(c, "alipay.trade.pay", l.as_ref(), &fields);

    // A QR precreate, paid by the buyer.
    let qr = format!("{}P2QR", ctx.run_id);
    let body = json!({"out_trade_no": qr, "total_amount": "23.45", "subject": "验收测试扫码"});
    let (e, x) = ctx
        .term_call(
            t,
            "a QR precreate (alipay.trade.precreate)",
            Method::POST,
            "/v1/precreate",
            Some(&body),
        )
        .await;
    c.ev(e);
    c.check(
        "the precreate answered WAIT_BUYER_PAY with a qr_code",
        "预下单返回 WAIT_BUYER_PAY 与二维码",
        x.str("status") == Some("WAIT_BUYER_PAY") && x.str("qr_code").is_some(),
        format!("status {}", x.str("status").unwrap_or("(no answer)")),
    );
    let qr_gw = gw_no(&x, &qr);
    let l = ledger(
        ctx,
        st,
        c,
        "the precreated trade in the gateway's ledger",
        &qr_gw,
    )
    .await;
    attribution_checks(c, "alipay.trade.precreate", l.as_ref(), &fields);
    let (e, _) = ctx
        .sim_call(
            "the buyer scans and pays (POST /_sim/trades/{no}/buyer-pay)",
            Method::POST,
            &format!("/_sim/trades/{qr_gw}/buyer-pay"),
            None,
        )
        .await;
    c.ev(e);
    let x = settle(ctx, t, c, &qr, x).await;
    c.check(
        "the switch learnt of the QR payment (SUCCESS)",
        "交换系统获知扫码支付成功",
        x.str("status") == Some("SUCCESS"),
        format!("status {}", x.str("status").unwrap_or("(no answer)")),
    );

    // A partial refund of the payment.
    let req_no = format!("{}P2R1", ctx.run_id);
    let body =
        json!({"out_request_no": req_no, "refund_amount": "0.01", "refund_reason": "验收测试退款"});
    let (e, x) = ctx
        .term_call(
            t,
            "a partial refund (alipay.trade.refund)",
            Method::POST,
            &format!("/v1/trades/{no}/refunds"),
            Some(&body),
        )
        .await;
    c.ev(e);
    c.check(
        "the refund succeeded",
        "退款成功",
        x.str("status") == Some("SUCCESS"),
        format!("status {}", x.str("status").unwrap_or("(no answer)")),
    );
    let l = ledger(ctx, st, c, "the refund in the gateway's ledger", &pay_gw).await;
    let refund = l.as_ref().and_then(|v| {
        v.get("refunds")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|r| s(r, "out_request_no").as_deref() == Some(req_no.as_str()))
            })
            .cloned()
    });
    c.check(
        "the gateway booked the refund",
        "网关记录该笔退款",
        refund.is_some(),
        format!("out_request_no {req_no}"),
    );
    attribution_checks(c, "alipay.trade.refund", refund.as_ref(), &fields[1..]);
    let (m, sid, tid) = (
        or_none(&reg.smid),
        or_none(&reg.store_id),
        or_none(&reg.terminal_id),
    );
    (
        format!("the payment, the precreate and the refund carried sub_merchant_id {m}, store_id {sid} and terminal_id {tid} to the gateway"),
        format!("条码支付、预下单和退款均向网关上送了 sub_merchant_id {m}、store_id {sid} 和 terminal_id {tid}"),
    )
}

/// One payment of points 3 and 4: sent with the case's auth code, followed
/// to its final state, and looked up in the ledger.
struct Paid {
    /// The first answer's status (what the terminal was told).
    told: Option<String>,
    /// The final answer.
    last: Exchange,
    ledger: Option<Value>,
    gw_no: String,
}

/// What one payment of points 3 to 5 sends.
struct PayReq<'a> {
    no: &'a str,
    case: PayCase,
    amount: &'a str,
    step: &'a str,
}

async fn pay_case(
    ctx: &Ctx,
    t: &TermClient,
    c: &mut Case,
    days: &mut BTreeSet<String>,
    r: PayReq<'_>,
) -> Paid {
    let PayReq {
        no,
        case,
        amount,
        step,
    } = r;
    let code = auth_code(case, &mut rand::thread_rng());
    let body = json!({"out_trade_no": no, "auth_code": code, "total_amount": amount,
                      "subject": "验收测试商品"});
    let (e, x) = ctx
        .term_call(
            t,
            step,
            Method::POST,
            &format!("/v1/pay?wait={}", ctx.pay_wait),
            Some(&body),
        )
        .await;
    c.ev(e);
    let told = x.str("status").map(str::to_string);
    let mut gw = gw_no(&x, no);
    let last = settle(ctx, t, c, no, x).await;
    if last.str("gateway_out_trade_no").is_some() {
        gw = gw_no(&last, no);
    }
    let (e, lx) = ctx
        .sim_call(
            "the gateway's ledger entry",
            Method::GET,
            &format!("/_sim/trades/{gw}"),
            None,
        )
        .await;
    c.ev(e);
    let ledger = lx.ok().then_some(lx.body);
    if let Some(day) = ledger
        .as_ref()
        .and_then(|l| s(l, "gmt_create"))
        .filter(|d| d.len() >= 10)
    {
        days.insert(day[..10].to_string());
    }
    Paid {
        told,
        last,
        ledger,
        gw_no: gw,
    }
}

/// The checks every payment of points 3 and 4 must pass: a final state,
/// the switch agreeing with the ledger, at most one payment, nothing paid
/// while the terminal was told it was not.
fn consistency(c: &mut Case, label: &str, p: &Paid) {
    let status = p.last.str("status").unwrap_or("(no answer)").to_string();
    let l = p.ledger.as_ref();
    let lpaid = ledger_paid(l);
    let lst = ledger_status(l);
    c.check(
        &format!("{label}: the switch reached a final state"),
        &format!("{label}：交换系统得到最终状态"),
        is_final(&status),
        format!("status {status}"),
    );
    c.check(
        &format!("{label}: the switch agrees with the gateway's ledger (SUCCESS iff paid)"),
        &format!("{label}：交换系统状态与网关账本一致（成功当且仅当已扣款）"),
        (status == "SUCCESS") == lpaid,
        format!("switch {status}, ledger {lst} ({})", p.gw_no),
    );
    let pay_count = l
        .and_then(|v| v.get("pay_count"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    c.check(
        &format!("{label}: paid at most once"),
        &format!("{label}：未重复扣款"),
        pay_count <= 1,
        format!("ledger pay_count {pay_count}"),
    );
    let told = p.told.as_deref().unwrap_or("(no answer)");
    let told_not_paid = matches!(told, "FAILED" | "CLOSED");
    c.check(
        &format!("{label}: nothing paid while the terminal was told not paid"),
        &format!("{label}：终端被告知未支付时网关无扣款"),
        !((told_not_paid && lpaid) || (told == "SUCCESS" && !lpaid)),
        format!("first answer {told}, ledger {lst}"),
    );
}

fn history(l: Option<&Value>) -> Vec<String> {
    l.and_then(|v| v.get("history"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|h| s(h, "status")).collect())
        .unwrap_or_default()
}

/// Point 3: the buyer enters the password (1003) or never pays (1004).
async fn password(ctx: &Ctx, st: &mut State) -> Point {
    let mut c = Case::default();
    let Some(t) = st.terminal() else {
        c.check("a terminal to test", "有可测试的终端", false, "none");
        return c.into_point(3, String::new(), String::new());
    };
    let (mut a, mut b) = (Case::default(), Case::default());
    let (mut da, mut db) = (BTreeSet::new(), BTreeSet::new());
    let (no_a, no_b) = (
        format!("{}P3PWD", ctx.run_id),
        format!("{}P3NOPAY", ctx.run_id),
    );
    let (pa, pb) = tokio::join!(
        pay_case(
            ctx,
            &t,
            &mut a,
            &mut da,
            PayReq {
                no: &no_a,
                case: PayCase::Wait1003,
                amount: "10.03",
                step: "1003: the buyer enters the password, then pays"
            },
        ),
        pay_case(
            ctx,
            &t,
            &mut b,
            &mut db,
            PayReq {
                no: &no_b,
                case: PayCase::Wait1004,
                amount: "10.04",
                step: "1004: the buyer never enters the password"
            },
        ),
    );
    st.gateway_days.extend(da.into_iter().chain(db));

    let first = pa.told.clone().unwrap_or_default();
    let status = pa.last.str("status").unwrap_or("(no answer)").to_string();
    a.check(
        "1003: the switch ends SUCCESS",
        "1003：交换系统最终为 SUCCESS",
        status == "SUCCESS",
        format!("first answer {first}, final {status}"),
    );
    a.check(
        "1003: the gateway's ledger is TRADE_SUCCESS",
        "1003：网关账本为 TRADE_SUCCESS",
        ledger_status(pa.ledger.as_ref()) == "TRADE_SUCCESS",
        format!(
            "ledger {}, history {}",
            ledger_status(pa.ledger.as_ref()),
            history(pa.ledger.as_ref()).join(" → ")
        ),
    );
    consistency(&mut a, "1003", &pa);

    let status = pb.last.str("status").unwrap_or("(no answer)").to_string();
    b.check(
        "1004: the switch ends CLOSED (it cancelled the unpaid trade)",
        "1004：交换系统最终为 CLOSED（已撤销未支付交易）",
        status == "CLOSED",
        format!(
            "first answer {}, final {status}, cashier_action {}",
            pb.told.as_deref().unwrap_or("(no answer)"),
            pb.last.str("cashier_action").unwrap_or("-")
        ),
    );
    b.check(
        "1004: the gateway's ledger is TRADE_CLOSED",
        "1004：网关账本为 TRADE_CLOSED",
        ledger_status(pb.ledger.as_ref()) == "TRADE_CLOSED",
        format!(
            "ledger {}, history {}",
            ledger_status(pb.ledger.as_ref()),
            history(pb.ledger.as_ref()).join(" → ")
        ),
    );
    consistency(&mut b, "1004", &pb);
    c.merge(a);
    c.merge(b);
    c.into_point(
        3,
        "1003 ended SUCCESS with the ledger TRADE_SUCCESS; 1004 ended CLOSED after the switch's cancel, with the ledger TRADE_CLOSED".into(),
        "1003 最终 SUCCESS，网关账本 TRADE_SUCCESS；1004 经交换系统撤销后最终 CLOSED，网关账本 TRADE_CLOSED".into(),
    )
}

/// What a case of point 4 must end as.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Paid,
    NotPaid,
    Failed(&'static str),
}

async fn error_case(
    ctx: &Ctx,
    t: &TermClient,
    case: PayCase,
    expect: Expect,
    what: &'static str,
) -> (Case, BTreeSet<String>) {
    let mut c = Case::default();
    let mut days = BTreeSet::new();
    let sfx = case.suffix();
    let no = format!("{}P4C{sfx}", ctx.run_id);
    let amount = format!("20.{}", &sfx[2..]);
    let label = sfx.to_string();
    let p = pay_case(
        ctx,
        t,
        &mut c,
        &mut days,
        PayReq {
            no: &no,
            case,
            amount: &amount,
            step: &format!("{sfx}: {what}"),
        },
    )
    .await;
    let status = p.last.str("status").unwrap_or("(no answer)").to_string();
    let sub = p.last.str("sub_code").unwrap_or("").to_string();
    let (ok, want_en, want_zh) = match expect {
        Expect::Paid => (
            status == "SUCCESS",
            "SUCCESS".to_string(),
            "SUCCESS".to_string(),
        ),
        Expect::NotPaid => (
            matches!(status.as_str(), "CLOSED" | "FAILED"),
            "CLOSED or FAILED".to_string(),
            "CLOSED 或 FAILED".to_string(),
        ),
        Expect::Failed(sc) => (
            status == "FAILED" && sub == sc,
            format!("FAILED {sc}"),
            format!("FAILED {sc}"),
        ),
    };
    c.check(
        &format!("{label}: the switch ends {want_en}"),
        &format!("{label}：交换系统最终为 {want_zh}"),
        ok,
        format!(
            "final {status}{}{sub}, cashier_action {}",
            if sub.is_empty() { "" } else { " " },
            p.last.str("cashier_action").unwrap_or("-")
        ),
    );
    consistency(&mut c, &label, &p);
    (c, days)
}

/// The same out_trade_no again with the same content: the same trade, no
/// second payment; with other content: 409.
async fn repeat_case(ctx: &Ctx, t: &TermClient) -> (Case, BTreeSet<String>) {
    let mut c = Case::default();
    let mut days = BTreeSet::new();
    let no = format!("{}P4REPEAT", ctx.run_id);
    let code = auth_code(PayCase::Normal, &mut rand::thread_rng());
    let body = json!({"out_trade_no": no, "auth_code": code, "total_amount": "20.88",
                      "subject": "验收测试商品"});
    let pq = format!("/v1/pay?wait={}", ctx.pay_wait);
    let (e, x1) = ctx
        .term_call(
            t,
            "repeat: the first request",
            Method::POST,
            &pq,
            Some(&body),
        )
        .await;
    c.ev(e);
    let x1 = settle(ctx, t, &mut c, &no, x1).await;
    let (e, x2) = ctx
        .term_call(
            t,
            "repeat: the same request again (same out_trade_no, same content)",
            Method::POST,
            &pq,
            Some(&body),
        )
        .await;
    c.ev(e);
    c.check(
        "repeat: the same request answers the same trade",
        "重复提交：同一请求返回同一笔交易",
        x2.ok()
            && x2.str("status") == x1.str("status")
            && x2.str("trade_no").is_some()
            && x2.str("trade_no") == x1.str("trade_no"),
        format!(
            "first {} {}, again HTTP {} {} {}",
            x1.str("status").unwrap_or("-"),
            x1.str("trade_no").unwrap_or("-"),
            http_status(&x2),
            x2.str("status").unwrap_or("-"),
            x2.str("trade_no").unwrap_or("-")
        ),
    );
    let mut other = body.clone();
    other["total_amount"] = json!("20.89");
    let (e, x3) = ctx
        .term_call(
            t,
            "repeat: the same out_trade_no with another amount",
            Method::POST,
            &pq,
            Some(&other),
        )
        .await;
    c.ev(e);
    c.check(
        "repeat: the same out_trade_no with other content is refused (409)",
        "重复提交：同一订单号不同内容被拒绝（409）",
        x3.status == Some(409),
        format!("HTTP {}", http_status(&x3)),
    );
    let gw = gw_no(&x1, &no);
    let (e, lx) = ctx
        .sim_call(
            "repeat: the gateway's ledger entry",
            Method::GET,
            &format!("/_sim/trades/{gw}"),
            None,
        )
        .await;
    c.ev(e);
    let l = lx.ok().then_some(lx.body);
    if let Some(d) = l
        .as_ref()
        .and_then(|l| s(l, "gmt_create"))
        .filter(|d| d.len() >= 10)
    {
        days.insert(d[..10].to_string());
    }
    let pay_count = l
        .as_ref()
        .and_then(|v| v.get("pay_count"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let fen = l
        .as_ref()
        .and_then(|v| s(v, "total_amount"))
        .and_then(|a| wire_to_fen(&a));
    c.check(
        "repeat: one payment in the gateway's ledger, of the first amount",
        "重复提交：网关账本仅一次扣款，金额为首次请求金额",
        ledger_paid(l.as_ref()) && pay_count == 1 && fen == Some(2088),
        format!(
            "ledger {}, pay_count {pay_count}, total_amount {}",
            ledger_status(l.as_ref()),
            fen.map_or("-".into(), crate::target::fen_to_wire)
        ),
    );
    (c, days)
}

/// Point 4: network errors and the gateway's error codes.
async fn errors(ctx: &Ctx, st: &mut State) -> Point {
    let mut c = Case::default();
    let Some(t) = st.terminal() else {
        c.check("a terminal to test", "有可测试的终端", false, "none");
        return c.into_point(4, String::new(), String::new());
    };
    let t = &*t;
    let r = tokio::join!(
        error_case(
            ctx,
            t,
            PayCase::Hang9001,
            Expect::Paid,
            "the gateway never answers (the trade was paid)"
        ),
        error_case(
            ctx,
            t,
            PayCase::Reset9002,
            Expect::NotPaid,
            "the connection is reset before any answer (no trade)"
        ),
        error_case(
            ctx,
            t,
            PayCase::Unknown2000,
            Expect::Paid,
            "20000 isp.unknow-error (the trade was paid)"
        ),
        error_case(
            ctx,
            t,
            PayCase::Unknown2001,
            Expect::NotPaid,
            "20000 isp.unknow-error (no trade)"
        ),
        error_case(
            ctx,
            t,
            PayCase::Fail4004,
            Expect::Failed(protocol::codes::sub::ACQ_PAYMENT_AUTH_CODE_INVALID),
            "40004 ACQ.PAYMENT_AUTH_CODE_INVALID"
        ),
        error_case(
            ctx,
            t,
            PayCase::Fail4005,
            Expect::Failed(protocol::codes::sub::ACQ_BUYER_BALANCE_NOT_ENOUGH),
            "40004 ACQ.BUYER_BALANCE_NOT_ENOUGH"
        ),
        repeat_case(ctx, t),
    );
    for (case, days) in [r.0, r.1, r.2, r.3, r.4, r.5, r.6] {
        c.merge(case);
        st.gateway_days.extend(days);
    }
    c.ev(note_evidence(
        "acceptance",
        "the rule applied to every case",
        json!({"rule": "final switch status SUCCESS iff the ledger is TRADE_SUCCESS; ledger pay_count <= 1; nothing paid while the terminal was told FAILED or CLOSED"}),
    ));
    c.into_point(
        4,
        "9001 and 2000 ended SUCCESS (paid), 9002 and 2001 ended unpaid, 4004 and 4005 FAILED with the gateway's sub_code; every final status agrees with the ledger, nothing was paid twice, a repeated request returned the same trade".into(),
        "9001 与 2000 最终 SUCCESS（已扣款），9002 与 2001 最终未支付，4004 与 4005 以网关 sub_code 最终 FAILED；所有最终状态与网关账本一致，无重复扣款，重复请求返回同一笔交易".into(),
    )
}
