//! Trade search and the trade page: the trade, its timeline (every journal
//! event in order, with the gateway's code, sub_code and sub_msg and the
//! time each step took), refunds, notifications, incidents and the
//! reconciliation verdict of its day; "query again" through the flows.

use std::fmt::Write as _;

use http::StatusCode;
use serde_json::{json, Value};

use super::html::{enc, esc, post_button, table, trade_link};
use super::{see_other, Ctx, Page, MAX_ROWS};
use crate::admin::Admin;
use crate::recon::ReconReport;
use crate::store::{Event, Store, StoreError, TradeQuery, Write};
use crate::trade::{now_ms, Status, Trade, GATEWAY_UTC_OFFSET_SECS};

/// Rows of a search shown when no criterion is given.
const RECENT_ROWS: usize = 50;

/// Runs a journal read off the async workers.
pub(crate) async fn read<T: Send + 'static>(
    admin: &Admin,
    f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    let store = admin.flows().store().clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Unix milliseconds as gateway time (UTC+8), `yyyy-MM-dd HH:mm:ss.SSS`.
pub(crate) fn fmt_ms(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(ms + GATEWAY_UTC_OFFSET_SECS * 1000) * 1_000_000,
    ) else {
        return ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A duration in milliseconds, short (`850 ms`, `12.4 s`, `3 min`, `5.2 h`).
pub(crate) fn fmt_age(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=9_999 => format!("{ms} ms"),
        10_000..=599_999 => format!("{:.1} s", ms as f64 / 1000.0),
        600_000..=7_199_999 => format!("{} min", ms / 60_000),
        _ => format!("{:.1} h", ms as f64 / 3_600_000.0),
    }
}

/// `yyyy-MM-dd`, `yyyy-MM-ddTHH:mm` or `yyyy-MM-dd HH:mm[:ss]` in gateway
/// time (UTC+8) as Unix milliseconds.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let (d, t) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = d.split('-');
    let y: i32 = dp.next()?.parse().ok()?;
    let m: u8 = dp.next()?.parse().ok()?;
    let day: u8 = dp.next()?.parse().ok()?;
    if dp.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, day).ok()?;
    let (h, mi, sec) = match t {
        None => (0, 0, 0),
        Some(t) => {
            let mut tp = t.split(':');
            let h: u8 = tp.next()?.parse().ok()?;
            let mi: u8 = tp.next()?.parse().ok()?;
            let sec: u8 = tp.next().map(str::parse).transpose().ok()?.unwrap_or(0);
            (h, mi, sec)
        }
    };
    let tm = time::Time::from_hms(h, mi, sec).ok()?;
    let secs = time::PrimitiveDateTime::new(date, tm)
        .assume_utc()
        .unix_timestamp()
        - GATEWAY_UTC_OFFSET_SECS;
    Some(secs * 1000)
}

/// `digits` masked to its last four (`…1234`).
fn last_four(s: &str) -> String {
    let n = s.chars().count();
    let tail: String = s.chars().skip(n.saturating_sub(4)).collect();
    format!("…{tail}")
}

/// A journal detail as the console shows it: auth codes cut to their last
/// four digits, anything named like a secret hidden, gateway text scrubbed
/// (an echoed sign string cut, payment-code-shaped digits masked).
pub(crate) fn safe_detail(detail: &str) -> String {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let k = k.to_ascii_lowercase();
                    if k == "auth_code" {
                        if let Value::String(s) = x {
                            *x = Value::String(last_four(s));
                        }
                    } else if k.contains("secret")
                        || k == "sign"
                        || k.contains("token")
                        || k.contains("private")
                        || k.ends_with("_key")
                    {
                        *x = Value::String("[hidden]".into());
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    match serde_json::from_str::<Value>(detail) {
        Ok(mut v) => {
            walk(&mut v);
            protocol::scrub::scrub_json(&mut v);
            v.to_string()
        }
        Err(_) => protocol::scrub::scrub(detail).into_owned(),
    }
}

/// The gateway's `code`, `sub_code`, `sub_msg` and method named by an
/// event's detail, when it names them.
fn gateway_fields(v: &Value) -> [String; 4] {
    let a = v.get("answer").unwrap_or(v);
    let s = |x: &Value, k: &str| x.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let code = match a.get("code") {
        Some(Value::String(c)) => c.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut sub_msg = s(a, "sub_msg");
    if sub_msg.is_empty() {
        sub_msg = s(v, "unknown");
    }
    [s(v, "method"), code, s(a, "sub_code"), sub_msg]
}

fn status_class(s: &str) -> &'static str {
    match s {
        "SUCCESS" => "ok",
        "FAILED" | "CLOSED" => "bad",
        _ => "warn",
    }
}

/// The trade's merchant, store and terminal ids, as the registry knows
/// its terminal.
pub(crate) fn owner(admin: &Admin, t: &Trade) -> (String, String, String) {
    match admin.registry().terminal(&t.terminal) {
        Some(term) => (
            term.external_id.clone(),
            term.cfg.store_id.clone().unwrap_or_default(),
            term.cfg.terminal_id.clone().unwrap_or_default(),
        ),
        None => Default::default(),
    }
}

/// One row of a trade list.
pub(crate) fn trade_row(admin: &Admin, t: &Trade, now: i64) -> Vec<String> {
    let (m, s, term) = owner(admin, t);
    vec![
        esc(&fmt_ms(t.created_ms)),
        trade_link(&t.out_trade_no, &t.out_trade_no),
        esc(t.terminal_out_trade_no()),
        esc(t.trade_no.as_deref().unwrap_or("")),
        format!(
            "<span class=\"{}\">{}</span>",
            status_class(t.status.as_str()),
            esc(t.status.as_str())
        ),
        esc(&t.total_amount.to_string()),
        esc(&m),
        esc(&s),
        esc(&format!("{term} ({})", t.terminal)),
        esc(&fmt_age(now - t.created_ms)),
    ]
}

/// The header of [`trade_row`]'s table.
pub(crate) fn trade_head(ctx: &Ctx) -> Vec<&'static str> {
    vec![
        ctx.t("Created (UTC+8)", "创建时间（北京时间）"),
        ctx.t("Gateway out_trade_no", "网关 out_trade_no"),
        ctx.t("Terminal out_trade_no", "终端 out_trade_no"),
        "trade_no",
        ctx.t("Status", "状态"),
        ctx.t("Amount", "金额"),
        ctx.t("Merchant", "商户"),
        ctx.t("Store", "门店"),
        ctx.t("Terminal", "终端"),
        ctx.t("Age", "已过时间"),
    ]
}

/// What the search form asked, as a journal query (or what is wrong).
fn query_of(admin: &Admin, ctx: &Ctx) -> Result<(TradeQuery, bool), String> {
    let mut q = TradeQuery {
        text: ctx.q("q").map(str::to_owned),
        limit: MAX_ROWS,
        ..TradeQuery::default()
    };
    if let Some(s) = ctx.q("status") {
        if Status::parse(s).is_none() {
            return Err(format!("status: {s}?"));
        }
        q.status = Some(s.to_owned());
    }
    if let Some(f) = ctx.q("from") {
        q.created_from_ms = Some(parse_time(f).ok_or_else(|| format!("from: {f}?"))?);
    }
    if let Some(t) = ctx.q("to") {
        q.created_to_ms = Some(parse_time(t).ok_or_else(|| format!("to: {t}?"))?);
    }
    if let Some(a) = ctx.q("amount") {
        q.amount = Some(protocol::Money::parse_wire(a).map_err(|e| format!("amount: {e}"))?);
    }
    let (m, s, term) = (ctx.q("merchant"), ctx.q("store"), ctx.q("terminal"));
    if m.is_some() || s.is_some() || term.is_some() {
        let keys: Vec<String> = admin
            .registry()
            .terminals()
            .iter()
            .filter(|t| {
                m.map_or(true, |m| {
                    t.external_id == m || t.cfg.smid.as_deref() == Some(m)
                })
            })
            .filter(|t| s.map_or(true, |s| t.cfg.store_id.as_deref() == Some(s)))
            .filter(|t| {
                term.map_or(true, |x| {
                    t.cfg.key_id == x || t.cfg.terminal_id.as_deref() == Some(x)
                })
            })
            .map(|t| t.cfg.key_id.clone())
            .collect();
        q.terminals = Some(keys);
    }
    let any = q
        != TradeQuery {
            limit: MAX_ROWS,
            ..TradeQuery::default()
        };
    if !any {
        q.limit = RECENT_ROWS;
    }
    Ok((q, any))
}

fn search_form(ctx: &Ctx) -> String {
    let v = |k: &str| super::html::attr(ctx.q(k).unwrap_or(""));
    let mut statuses = format!("<option value=\"\">{}</option>", ctx.t("any", "全部"));
    for s in [
        "PAYING",
        "WAIT_BUYER_PAY",
        "SUCCESS",
        "FAILED",
        "CLOSED",
        "UNKNOWN",
    ] {
        let sel = if ctx.q("status") == Some(s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(statuses, "<option{sel}>{s}</option>");
    }
    format!(
        "<form method=\"get\" action=\"/console/trades\"><p>\
         <label>{} <input name=\"q\" value=\"{}\" size=\"34\"></label>\
         <label>{} <select name=\"status\">{statuses}</select></label></p><p>\
         <label>{} <input name=\"merchant\" value=\"{}\" size=\"14\"></label>\
         <label>{} <input name=\"store\" value=\"{}\" size=\"10\"></label>\
         <label>{} <input name=\"terminal\" value=\"{}\" size=\"12\"></label>\
         <label>{} <input name=\"from\" value=\"{}\" size=\"16\" placeholder=\"2026-12-03 08:00\"></label>\
         <label>{} <input name=\"to\" value=\"{}\" size=\"16\"></label>\
         <label>{} <input name=\"amount\" value=\"{}\" size=\"8\" placeholder=\"88.88\"></label>\
         <button type=\"submit\">{}</button></p></form>",
        ctx.t("out_trade_no (terminal's or gateway's) or trade_no", "out_trade_no（终端或网关）或 trade_no"),
        v("q"),
        ctx.t("Status", "状态"),
        ctx.t("Merchant (external_id or smid)", "商户（external_id 或 smid）"),
        v("merchant"),
        ctx.t("Store", "门店"),
        v("store"),
        ctx.t("Terminal (terminal_id or key_id)", "终端（terminal_id 或 key_id）"),
        v("terminal"),
        ctx.t("From (UTC+8)", "起（北京时间）"),
        v("from"),
        ctx.t("To", "止"),
        v("to"),
        ctx.t("Amount", "金额"),
        v("amount"),
        ctx.t("Search", "查询"),
    )
}

/// GET /console/trades
pub(crate) async fn search(admin: &Admin, ctx: &Ctx) -> Page {
    let mut body = search_form(ctx);
    let (q, any) = match query_of(admin, ctx) {
        Ok(x) => x,
        Err(e) => {
            let _ = write!(body, "<p class=\"bad\">{}</p>", esc(&e));
            let mut r = ctx.page(ctx.t("Trades", "交易"), &body);
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    let t0 = std::time::Instant::now();
    let limit = q.capped_limit();
    let found = match read(admin, move |s| s.search_trades(&q)).await {
        Ok(v) => v,
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let took = t0.elapsed();
    let now = now_ms();
    let _ = write!(
        body,
        "<p>{} {} ({} ms){}</p>",
        found.len(),
        if any {
            ctx.t("trades found", "笔交易")
        } else {
            ctx.t("most recent trades", "笔最近的交易")
        },
        took.as_millis(),
        if found.len() >= limit {
            ctx.t(
                "; the list is cut: narrow the search",
                "；列表已截断，请缩小查询范围",
            )
        } else {
            ""
        }
    );
    let rows: Vec<Vec<String>> = found.iter().map(|t| trade_row(admin, t, now)).collect();
    body += &table(&trade_head(ctx), &rows);
    ctx.page(ctx.t("Trades", "交易"), &body)
}

/// The reconciliation verdict of a trade's day, as markup.
async fn verdict(admin: &Admin, ctx: &Ctx, t: &Trade) -> String {
    let day = t.book_day();
    let d2 = day.clone();
    let runs = read(admin, move |s| s.recon_runs(&d2)).await;
    let expl = super::queues::explanations(admin, &day).await;
    let Some(run) = runs.ok().and_then(|r| r.into_iter().last()) else {
        return format!(
            "<p>{} {}</p>",
            esc(&day),
            ctx.t("is not reconciled yet.", "尚未对账。")
        );
    };
    let Ok(rep) = serde_json::from_str::<ReconReport>(&run.report) else {
        return format!(
            "<p class=\"bad\">{}</p>",
            ctx.t("The run's report does not parse.", "对账报告无法解析。")
        );
    };
    let mine: Vec<_> = rep
        .differences
        .iter()
        .filter(|d| d.out_trade_no == t.out_trade_no)
        .collect();
    let mut h = format!(
        "<p>{} <a href=\"/console/recon?date={}\">{}</a>, {} {}: ",
        ctx.t("Bill of", "账单日"),
        enc(&day),
        esc(&day),
        ctx.t("run", "第"),
        run.run
    );
    if mine.is_empty() {
        h += if t.status == Status::Success {
            ctx.t("matched the bill.</p>", "与账单一致。</p>")
        } else {
            ctx.t(
                "no difference (not paid, not on the bill).</p>",
                "无差异（未支付，不在账单中）。</p>",
            )
        };
        return h;
    }
    h += "</p>";
    let rows: Vec<Vec<String>> = mine
        .iter()
        .map(|d| {
            let key = super::queues::diff_key(d);
            let note = expl
                .get(&key)
                .map(|(n, who, at)| format!("{} ({}, {})", n, who, fmt_ms(*at)));
            vec![
                esc(&d.class),
                esc(&d.entry),
                esc(d.out_request_no.as_deref().unwrap_or("")),
                super::html::json_cell(&d.switch),
                super::html::json_cell(&d.bill),
                if d.resolved {
                    format!("<span class=\"ok\">{}</span>", ctx.t("resolved", "已解决"))
                } else if note.is_some() {
                    format!("<span class=\"ok\">{}</span>", ctx.t("explained", "已说明"))
                } else {
                    format!("<span class=\"bad\">{}</span>", ctx.t("open", "未解决"))
                },
                esc(&d.resolution),
                esc(&note.unwrap_or_default()),
            ]
        })
        .collect();
    h += &table(
        &[
            ctx.t("Class", "类别"),
            ctx.t("Entry", "条目"),
            "out_request_no",
            ctx.t("Switch", "交换系统"),
            ctx.t("Bill", "账单"),
            ctx.t("State", "状态"),
            ctx.t("Resolution", "处理"),
            ctx.t("Explanation", "说明"),
        ],
        &rows,
    );
    h
}

fn timeline(ctx: &Ctx, events: &[Event]) -> String {
    let first = events.first().map_or(0, |e| e.at_ms);
    let mut prev = first;
    let rows: Vec<Vec<String>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let safe = safe_detail(&e.detail);
            let v: Value = serde_json::from_str(&safe).unwrap_or(Value::Null);
            let [method, code, sub_code, sub_msg] = gateway_fields(&v);
            let step = e.at_ms - prev;
            prev = e.at_ms;
            let mut shown = safe;
            if shown.chars().count() > 800 {
                shown = shown.chars().take(800).collect::<String>() + "…";
            }
            vec![
                (i + 1).to_string(),
                esc(&fmt_ms(e.at_ms)),
                esc(&format!("+{}", fmt_age(step))),
                esc(&fmt_age(e.at_ms - first)),
                esc(&e.kind),
                esc(&method),
                esc(&code),
                esc(&sub_code),
                esc(&sub_msg),
                format!("<code>{}</code>", esc(&shown)),
            ]
        })
        .collect();
    table(
        &[
            "#",
            ctx.t("Time (UTC+8)", "时间（北京时间）"),
            ctx.t("Step took", "本步耗时"),
            ctx.t("Since start", "自开始"),
            ctx.t("Event", "事件"),
            ctx.t("Method", "接口"),
            "code",
            "sub_code",
            "sub_msg",
            ctx.t("Detail", "详情"),
        ],
        &rows,
    )
}

fn summary(admin: &Admin, ctx: &Ctx, t: &Trade) -> String {
    let (m, s, term) = owner(admin, t);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut kv = |k: &str, v: String| rows.push(vec![esc(k), v]);
    kv(
        ctx.t("Gateway out_trade_no", "网关 out_trade_no"),
        esc(&t.out_trade_no),
    );
    kv(
        ctx.t("Terminal out_trade_no", "终端 out_trade_no"),
        esc(t.terminal_out_trade_no()),
    );
    kv("trade_no", esc(t.trade_no.as_deref().unwrap_or("")));
    kv(
        ctx.t("Status", "状态"),
        format!(
            "<strong class=\"{}\">{}</strong>",
            status_class(t.status.as_str()),
            esc(t.status.as_str())
        ),
    );
    kv(
        ctx.t("Work owed", "待完成工作"),
        esc(&format!("{:?}", t.phase)),
    );
    kv(ctx.t("Kind", "类型"), esc(&format!("{:?}", t.kind)));
    kv(ctx.t("Amount", "金额"), esc(&t.total_amount.to_string()));
    kv(
        ctx.t("Receipt amount", "实收金额"),
        esc(&t.receipt_amount.map(|m| m.to_string()).unwrap_or_default()),
    );
    kv(
        ctx.t("Refunded", "已退款"),
        esc(&t.refunded_amount.to_string()),
    );
    kv(ctx.t("Subject", "订单标题"), esc(&t.subject));
    kv(
        "buyer_logon_id",
        esc(t.buyer_logon_id.as_deref().unwrap_or("")),
    );
    kv("gmt_payment", esc(t.gmt_payment.as_deref().unwrap_or("")));
    kv("code", esc(t.code.as_deref().unwrap_or("")));
    kv("sub_code", esc(t.sub_code.as_deref().unwrap_or("")));
    kv(
        "sub_msg",
        esc(&protocol::scrub::scrub(t.sub_msg.as_deref().unwrap_or(""))),
    );
    kv(ctx.t("Merchant", "商户"), esc(&m));
    kv(ctx.t("Store", "门店"), esc(&s));
    kv(
        ctx.t("Terminal", "终端"),
        esc(&format!("{term} ({})", t.terminal)),
    );
    kv(
        ctx.t("Created (UTC+8)", "创建时间（北京时间）"),
        esc(&fmt_ms(t.created_ms)),
    );
    kv(ctx.t("Last change", "最后变更"), esc(&fmt_ms(t.updated_ms)));
    if let Some(w) = &t.watch {
        kv(
            ctx.t("Late-landing watch", "迟到支付监视"),
            esc(&format!(
                "started {}, {} checks, {} undone",
                fmt_ms(w.started_ms),
                w.checks_done,
                w.undone
            )),
        );
    }
    table(&[ctx.t("Field", "字段"), ctx.t("Value", "值")], &rows)
}

/// GET /console/trades/{out_trade_no}: the gateway's number (or, when no
/// trade has it, the search for it).
pub(crate) async fn show(admin: &Admin, ctx: &Ctx, no: &str) -> Page {
    let app = admin.flows().config().gateway.app_id.clone();
    let (a2, n2) = (app.clone(), no.to_owned());
    let t = match read(admin, move |s| s.trade(&a2, &n2)).await {
        Ok(t) => t,
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let Some(t) = t else {
        let q = TradeQuery {
            text: Some(no.to_owned()),
            limit: MAX_ROWS,
            ..TradeQuery::default()
        };
        return match read(admin, move |s| s.search_trades(&q)).await {
            Ok(v) if v.len() == 1 => {
                see_other(&format!("/console/trades/{}", enc(&v[0].out_trade_no)))
            }
            Ok(v) if !v.is_empty() => {
                let now = now_ms();
                let rows: Vec<Vec<String>> = v.iter().map(|t| trade_row(admin, t, now)).collect();
                ctx.page(no, &table(&trade_head(ctx), &rows))
            }
            Ok(_) => ctx.error(
                StatusCode::NOT_FOUND,
                ctx.t("No such trade.", "没有这笔交易。"),
            ),
            Err(e) => ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
        };
    };
    let (a2, n2) = (app.clone(), t.out_trade_no.clone());
    let events = read(admin, move |s| s.events(&a2, &n2))
        .await
        .unwrap_or_default();
    let (a2, n2) = (app.clone(), t.out_trade_no.clone());
    let refunds = read(admin, move |s| s.refunds_of(&a2, &n2))
        .await
        .unwrap_or_default();
    let n2 = t.out_trade_no.clone();
    let incidents = read(admin, move |s| s.incidents(Some(&n2)))
        .await
        .unwrap_or_default();

    let mut body = summary(admin, ctx, &t);
    if !t.status.is_final() {
        let action = format!("/console/trades/{}/query", enc(&t.out_trade_no));
        body += "<p>";
        body += &post_button(
            &action,
            &ctx.csrf(&action),
            ctx.t(
                "Query the gateway again (alipay.trade.query)",
                "再次查询网关（alipay.trade.query）",
            ),
            "",
        );
        body += "</p>";
    }
    let _ = write!(
        body,
        "<h2>{} ({})</h2>",
        ctx.t("Timeline", "时间线"),
        events.len()
    );
    body += &timeline(ctx, &events);
    let _ = write!(body, "<h2>{}</h2>", ctx.t("Refunds", "退款"));
    let rows: Vec<Vec<String>> = refunds
        .iter()
        .map(|r| {
            vec![
                esc(&r.out_request_no),
                esc(&r.refund_amount.to_string()),
                esc(r.status.as_str()),
                esc(r.code.as_deref().unwrap_or("")),
                esc(r.sub_code.as_deref().unwrap_or("")),
                esc(&protocol::scrub::scrub(r.sub_msg.as_deref().unwrap_or(""))),
                esc(r.gmt_refund_pay.as_deref().unwrap_or("")),
                esc(&fmt_ms(r.created_ms)),
            ]
        })
        .collect();
    body += &table(
        &[
            "out_request_no",
            ctx.t("Amount", "金额"),
            ctx.t("Status", "状态"),
            "code",
            "sub_code",
            "sub_msg",
            "gmt_refund_pay",
            ctx.t("Created", "创建"),
        ],
        &rows,
    );
    let _ = write!(body, "<h2>{}</h2>", ctx.t("Notifications", "异步通知"));
    let notes: Vec<Event> = events
        .iter()
        .filter(|e| e.kind.contains("notif") || e.kind.contains("relay"))
        .cloned()
        .collect();
    body += &timeline(ctx, &notes);
    let _ = write!(body, "<h2>{}</h2>", ctx.t("Incidents", "异常"));
    let rows: Vec<Vec<String>> = incidents
        .iter()
        .filter(|i| i.app_id == app)
        .map(|i| {
            vec![
                esc(&fmt_ms(i.at_ms)),
                esc(&i.kind),
                format!("<code>{}</code>", esc(&safe_detail(&i.detail))),
            ]
        })
        .collect();
    body += &table(
        &[
            ctx.t("Time", "时间"),
            ctx.t("Kind", "类型"),
            ctx.t("Detail", "详情"),
        ],
        &rows,
    );
    let _ = write!(body, "<h2>{}</h2>", ctx.t("Reconciliation", "对账"));
    body += &verdict(admin, ctx, &t).await;
    ctx.page(
        &format!("{} {}", ctx.t("Trade", "交易"), t.out_trade_no),
        &body,
    )
}

/// POST /console/trades/{out_trade_no}/query: asks the gateway
/// (alipay.trade.query) through the flows, as `GET /v1/trades/{no}?refresh=1`
/// does for the terminal, after journaling who asked.
pub(crate) async fn query_again(admin: &Admin, ctx: &Ctx, no: &str) -> Page {
    let app = admin.flows().config().gateway.app_id.clone();
    let (a2, n2) = (app.clone(), no.to_owned());
    let t = match read(admin, move |s| s.trade(&a2, &n2)).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return ctx.error(
                StatusCode::NOT_FOUND,
                ctx.t("No such trade.", "没有这笔交易。"),
            )
        }
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let Some(term) = admin.registry().terminal(&t.terminal) else {
        return ctx.error(
            StatusCode::CONFLICT,
            ctx.t(
                "The trade's terminal is no longer registered.",
                "该交易的终端已不在登记中。",
            ),
        );
    };
    let ev = Write::Event(Event {
        app_id: app,
        out_trade_no: t.out_trade_no.clone(),
        at_ms: now_ms(),
        kind: "console_query_again".into(),
        detail: json!({"token": ctx.caller.token_id}).to_string(),
    });
    if let Err(e) = admin.flows().store().commit(vec![ev]).await {
        return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    tracing::info!(out_trade_no = %t.out_trade_no, token = %ctx.caller.token_id, "console: query again");
    if let Err(e) = admin
        .flows()
        .refresh(&term.cfg, t.terminal_out_trade_no())
        .await
    {
        return ctx.error(StatusCode::BAD_GATEWAY, &e.to_string());
    }
    see_other(&format!("/console/trades/{}", enc(&t.out_trade_no)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_gateway_time() {
        let ms = parse_time("2026-12-03 08:00").unwrap();
        assert_eq!(fmt_ms(ms), "2026-12-03 08:00:00.000");
        assert_eq!(parse_time("2026-12-03T08:00"), Some(ms));
        assert_eq!(parse_time("2026-12-03"), Some(ms - 8 * 3600 * 1000));
        assert_eq!(parse_time("2026-13-03"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn details_never_show_an_auth_code_or_a_secret() {
        let d = r#"{"auth_code":"281234567890121004","secret_hex":"abcd","answer":{"sub_msg":"bad 281234567890123456 x"},"grace_secs":5}"#;
        let s = safe_detail(d);
        assert!(!s.contains("2812345678901"), "{s}");
        assert!(s.contains("…1004"), "{s}");
        assert!(!s.contains("abcd"), "{s}");
        assert!(s.contains("grace_secs"), "{s}");
    }
}
