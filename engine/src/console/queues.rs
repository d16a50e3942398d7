//! The work queues (trades not definite with their age, late landings,
//! notification incidents and orphans, reconciliation differences still
//! open) and the reconciliation page with its safe actions: run the day
//! again (reconciliation's own questions and repairs, under the day's
//! lease), and mark a difference explained with a note (journaled with who
//! and when; nothing else changes).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{json, Value};

use super::html::{attr, enc, esc, post_button, table, trade_link};
use super::trades::{fmt_age, fmt_ms, read, safe_detail, trade_head, trade_row};
use super::{see_other, Ctx, Page, MAX_ROWS};
use crate::admin::{Admin, ADMIN_APP_ID};
use crate::recon::report::Difference;
use crate::recon::{ReconContext, ReconReport};
use crate::store::{Bounded, Event, WorkQueue, Write};
use crate::trade::now_ms;

/// The event kind of an explanation.
pub const EXPLAINED: &str = "console_recon_explained";
/// Longest note of an explanation, characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// A difference's key within its date (class, entry, numbers).
pub(crate) fn diff_key(d: &Difference) -> String {
    format!(
        "{}|{}|{}|{}",
        d.class,
        d.entry,
        d.out_trade_no,
        d.out_request_no.as_deref().unwrap_or("")
    )
}

/// The journal subject of a date's explanations.
fn subject(date: &str) -> String {
    format!("recon/{date}")
}

/// The explanations journaled for `date`: key -> (note, token id, when);
/// the latest wins.
pub(crate) async fn explanations(
    admin: &Admin,
    date: &str,
) -> HashMap<String, (String, String, i64)> {
    let sub = subject(date);
    let events = read(admin, move |s| s.events(ADMIN_APP_ID, &sub))
        .await
        .unwrap_or_default();
    let mut out = HashMap::new();
    for e in events.iter().filter(|e| e.kind == EXPLAINED) {
        let v: Value = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        out.insert(s("key"), (s("note"), s("token"), e.at_ms));
    }
    out
}

/// The last run's report of `date` (None: never reconciled).
async fn report_of(admin: &Admin, date: Option<String>) -> Result<Option<ReconReport>, String> {
    let run = read(admin, move |s| match date {
        Some(d) => Ok(s.recon_runs(&d)?.into_iter().last()),
        None => s.last_recon_run(),
    })
    .await?;
    match run {
        None => Ok(None),
        Some(r) => serde_json::from_str::<ReconReport>(&r.report)
            .map(Some)
            .map_err(|e| {
                format!(
                    "the report of {} run {} does not parse: {e}",
                    r.bill_date, r.run
                )
            }),
    }
}

/// A list's count in its heading: `N`, or `first 200 of N` when the page
/// shows only the first rows.
fn shown_of<T>(ctx: &Ctx, b: &Bounded<T>) -> String {
    if b.is_cut() {
        ctx.t("first {n} of {total}", "共 {total} 条，显示前 {n} 条")
            .replace("{n}", &b.rows.len().to_string())
            .replace("{total}", &b.total.to_string())
    } else {
        b.total.to_string()
    }
}

/// GET /console/queues: each list read bounded ([`MAX_ROWS`] rows, with
/// the list's length), never the whole journal.
pub(crate) async fn queues(admin: &Admin, ctx: &Ctx) -> Page {
    let open = match read(admin, |s| s.work_queue(WorkQueue::Undecided, MAX_ROWS)).await {
        Ok(x) => x,
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let late = match read(admin, |s| s.work_queue(WorkQueue::Watching, MAX_ROWS)).await {
        Ok(x) => x,
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let incidents = read(admin, |s| s.latest_incidents(MAX_ROWS))
        .await
        .unwrap_or_default();
    let now = now_ms();
    let mut body = String::new();

    let _ = write!(
        body,
        "<h2>{} ({})</h2>",
        ctx.t(
            "Not definite: PAYING and UNKNOWN, oldest first",
            "未定：PAYING 与 UNKNOWN，最早的在前"
        ),
        shown_of(ctx, &open)
    );
    let rows: Vec<Vec<String>> = open.rows.iter().map(|t| trade_row(admin, t, now)).collect();
    body += &table(&trade_head(ctx), &rows);

    let _ = write!(
        body,
        "<h2>{} ({})</h2>",
        ctx.t(
            "Late-landing watch: closed for the terminal, still watched at the gateway",
            "迟到支付监视：对终端已关闭，仍在网关侧监视"
        ),
        shown_of(ctx, &late)
    );
    let rows: Vec<Vec<String>> = late
        .rows
        .iter()
        .map(|t| {
            let w = t.watch.unwrap_or(crate::trade::LateWatch {
                started_ms: t.updated_ms,
                checks_done: 0,
                undone: 0,
            });
            vec![
                trade_link(&t.out_trade_no, &t.out_trade_no),
                esc(t.status.as_str()),
                esc(&t.total_amount.to_string()),
                esc(&fmt_ms(w.started_ms)),
                w.checks_done.to_string(),
                w.undone.to_string(),
                esc(&fmt_age(now - w.started_ms)),
            ]
        })
        .collect();
    body += &table(
        &[
            ctx.t("Trade", "交易"),
            ctx.t("Status", "状态"),
            ctx.t("Amount", "金额"),
            ctx.t("Watch started", "监视开始"),
            ctx.t("Queries", "查询次数"),
            ctx.t("Late landings undone", "已撤销的迟到支付"),
            ctx.t("Age", "已过时间"),
        ],
        &rows,
    );

    let _ = write!(
        body,
        "<h2>{} ({})</h2>",
        ctx.t(
            "Notification incidents and orphans, newest first",
            "通知异常与孤儿通知，最新的在前"
        ),
        shown_of(ctx, &incidents)
    );
    let rows: Vec<Vec<String>> = incidents
        .rows
        .iter()
        .map(|i| {
            let link = if i.kind == "orphan" {
                esc(&i.out_trade_no)
            } else {
                trade_link(&i.out_trade_no, &i.out_trade_no)
            };
            vec![
                esc(&fmt_ms(i.at_ms)),
                esc(&i.kind),
                link,
                format!("<code>{}</code>", esc(&safe_detail(&i.detail))),
            ]
        })
        .collect();
    body += &table(
        &[
            ctx.t("Time (UTC+8)", "时间（北京时间）"),
            ctx.t("Kind", "类型"),
            "out_trade_no",
            ctx.t("Detail", "详情"),
        ],
        &rows,
    );

    let _ = write!(
        body,
        "<h2>{}</h2>",
        ctx.t(
            "Reconciliation differences still open (last run)",
            "仍未解决的对账差异（最近一次对账）"
        )
    );
    match report_of(admin, None).await {
        Ok(Some(r)) => body += &differences(admin, ctx, &r, true).await,
        Ok(None) => {
            body += &format!(
                "<p>{}</p>",
                ctx.t("No reconciliation has run yet.", "尚未对过账。")
            )
        }
        Err(e) => body += &format!("<p class=\"bad\">{}</p>", esc(&e)),
    }
    ctx.page(ctx.t("Work queues", "待办"), &body)
}

/// The differences of a report, with their actions; only those still open
/// and not explained when `open_only`.
async fn differences(admin: &Admin, ctx: &Ctx, r: &ReconReport, open_only: bool) -> String {
    let expl = explanations(admin, &r.date).await;
    let action = format!("/console/recon/{}/explain", enc(&r.date));
    let csrf = ctx.csrf(&action);
    let mut h = format!(
        "<p>{} <a href=\"/console/recon?date={}\">{}</a>, {} {}: {} {}, {} {}, {} {}</p>",
        ctx.t("Bill of", "账单日"),
        enc(&r.date),
        esc(&r.date),
        ctx.t("run", "第"),
        r.run,
        r.bill_rows,
        ctx.t("bill rows", "条账单记录"),
        r.matched,
        ctx.t("matched", "条一致"),
        r.summary.open,
        ctx.t("open", "条未解决"),
    );
    let rows: Vec<Vec<String>> = r
        .differences
        .iter()
        .filter_map(|d| {
            let key = diff_key(d);
            let note = expl.get(&key);
            let open = !d.resolved && note.is_none();
            if open_only && !open {
                return None;
            }
            let state = if d.resolved {
                format!("<span class=\"ok\">{}</span>", ctx.t("resolved", "已解决"))
            } else if let Some((n, who, at)) = note {
                format!(
                    "<span class=\"ok\">{}</span>: {} ({} {}, {})",
                    ctx.t("explained", "已说明"),
                    esc(n),
                    ctx.t("token", "令牌"),
                    esc(who),
                    esc(&fmt_ms(*at))
                )
            } else {
                format!("<span class=\"bad\">{}</span>", ctx.t("open", "未解决"))
            };
            let act = if open {
                post_button(
                    &action,
                    &csrf,
                    ctx.t("Mark explained", "标记为已说明"),
                    &format!(
                        "<input type=\"hidden\" name=\"key\" value=\"{}\"><input name=\"note\" required maxlength=\"{MAX_NOTE_CHARS}\" size=\"28\" placeholder=\"{}\">",
                        attr(&key),
                        attr(ctx.t("note (required)", "说明（必填）"))
                    ),
                )
            } else {
                String::new()
            };
            Some(vec![
                esc(&d.class),
                esc(&d.entry),
                trade_link(&d.out_trade_no, &d.out_trade_no),
                esc(d.trade_no.as_deref().unwrap_or("")),
                esc(d.out_request_no.as_deref().unwrap_or("")),
                esc(&d.amount),
                super::html::json_cell(&d.switch),
                super::html::json_cell(&d.bill),
                esc(&d.resolution),
                state,
                act,
            ])
        })
        .collect();
    h += &table(
        &[
            ctx.t("Class", "类别"),
            ctx.t("Entry", "条目"),
            "out_trade_no",
            "trade_no",
            "out_request_no",
            ctx.t("Amount", "金额"),
            ctx.t("What the switch knows", "交换系统记录"),
            ctx.t("What the bill says", "账单记录"),
            ctx.t("Resolution", "处理"),
            ctx.t("State", "状态"),
            ctx.t("Action", "操作"),
        ],
        &rows,
    );
    h += &rerun_button(ctx, &r.date);
    h
}

/// The form that reconciles `date` again.
fn rerun_button(ctx: &Ctx, date: &str) -> String {
    let rerun = format!("/console/recon/{}/rerun", enc(date));
    format!(
        "<p>{}</p>",
        post_button(
            &rerun,
            &ctx.csrf(&rerun),
            ctx.t(
                "Reconcile this day (again): queries the gateway for every difference, repairs by reconciliation's rules",
                "（重新）对账该日：对每条差异查询网关，按对账规则修复",
            ),
            "",
        )
    )
}

/// GET /console/recon?date=yyyy-MM-dd (default: the last run's date)
pub(crate) async fn recon(admin: &Admin, ctx: &Ctx) -> Page {
    let date = ctx.q("date").map(str::to_owned);
    if let Some(d) = &date {
        if crate::recon::run::parse_date(d).is_err() {
            return ctx.error(StatusCode::BAD_REQUEST, &format!("date: {d}?"));
        }
    }
    let mut body = format!(
        "<form method=\"get\" action=\"/console/recon\"><label>{} <input name=\"date\" value=\"{}\" placeholder=\"2026-12-02\"></label><button type=\"submit\">{}</button></form>",
        ctx.t("Bill date", "账单日"),
        attr(date.as_deref().unwrap_or("")),
        ctx.t("Show", "显示")
    );
    match report_of(admin, date.clone()).await {
        Ok(Some(r)) => body += &differences(admin, ctx, &r, false).await,
        Ok(None) => {
            let _ = write!(
                body,
                "<p>{}</p>",
                ctx.t("This day has not been reconciled.", "该日尚未对账。")
            );
            if let Some(d) = &date {
                body += &rerun_button(ctx, d);
            }
        }
        Err(e) => {
            let _ = write!(body, "<p class=\"bad\">{}</p>", esc(&e));
        }
    }
    ctx.page(ctx.t("Reconciliation", "对账"), &body)
}

/// POST /console/recon/{date}/explain: `key` (a difference of the date's
/// last run), `note` (1 to [`MAX_NOTE_CHARS`] characters); journaled as
/// an [`EXPLAINED`] event with the token's id.
pub(crate) async fn explain(
    admin: &Admin,
    ctx: &Ctx,
    date: &str,
    form: &HashMap<String, String>,
) -> Page {
    if crate::recon::run::parse_date(date).is_err() {
        return ctx.error(StatusCode::BAD_REQUEST, &format!("date: {date}?"));
    }
    let key = form.get("key").map(String::as_str).unwrap_or("");
    let note = form.get("note").map(|s| s.trim()).unwrap_or("");
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            ctx.t(
                "The note is required (at most 500 characters).",
                "说明必填（最多 500 字）。",
            ),
        );
    }
    let report = match report_of(admin, Some(date.to_owned())).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return ctx.error(
                StatusCode::NOT_FOUND,
                ctx.t("This day has not been reconciled.", "该日尚未对账。"),
            )
        }
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    };
    let Some(d) = report.differences.iter().find(|d| diff_key(d) == key) else {
        return ctx.error(
            StatusCode::BAD_REQUEST,
            ctx.t(
                "No such difference in the day's last run.",
                "该日最近一次对账中没有这条差异。",
            ),
        );
    };
    let note = protocol::scrub::scrub(note).into_owned();
    let ev = Write::Event(Event {
        app_id: ADMIN_APP_ID.into(),
        out_trade_no: subject(date),
        at_ms: now_ms(),
        kind: EXPLAINED.into(),
        detail: json!({
            "key": key, "class": d.class, "entry": d.entry, "out_trade_no": d.out_trade_no,
            "out_request_no": d.out_request_no, "run": report.run, "note": note,
            "token": ctx.caller.token_id,
        })
        .to_string(),
    });
    if let Err(e) = admin.flows().store().commit(vec![ev]).await {
        return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    tracing::info!(date, key, token = %ctx.caller.token_id, "console: reconciliation difference explained");
    see_other(&format!("/console/recon?date={}", enc(date)))
}

/// POST /console/recon/{date}/rerun: the day's reconciliation once more
/// (as `payswitch reconcile` does, reports in `[recon] out_dir`), under
/// the day's lease so that no two nodes run it at once.
pub(crate) async fn rerun(admin: &Admin, ctx: &Ctx, date: &str) -> Page {
    if crate::recon::run::parse_date(date).is_err() {
        return ctx.error(StatusCode::BAD_REQUEST, &format!("date: {date}?"));
    }
    let flows = admin.flows();
    let lease = format!("recon:{date}");
    let l2 = lease.clone();
    match read(admin, move |s| s.try_lease(&l2)).await {
        Ok(true) => {}
        Ok(false) => {
            return ctx.error(
                StatusCode::CONFLICT,
                ctx.t(
                    "This day is being reconciled elsewhere; try again shortly.",
                    "该日正在别处对账，请稍后再试。",
                ),
            )
        }
        Err(e) => return ctx.error(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
    let ev = Write::Event(Event {
        app_id: ADMIN_APP_ID.into(),
        out_trade_no: subject(date),
        at_ms: now_ms(),
        kind: "console_recon_rerun".into(),
        detail: json!({"token": ctx.caller.token_id}).to_string(),
    });
    let _ = flows.store().commit(vec![ev]).await;
    let rc = ReconContext {
        cfg: Arc::new(flows.config().clone()),
        store: flows.store().clone(),
        gw: flows.gateway().clone(),
        registry: flows.registry().clone(),
        metrics: flows.metrics_arc(),
    };
    let out = flows.config().recon.out_dir.clone();
    let r = crate::recon::reconcile(&rc, date, &out, ctx.lang).await;
    let _ = read(admin, move |s| s.release_lease(&lease)).await;
    match r {
        Ok(_) => see_other(&format!("/console/recon?date={}", enc(date))),
        Err(e) => ctx.error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}
