//! Merchants and terminals: list, search, suspend and resume, rotate a
//! terminal's secret (shown once, on the answer page). Every change runs
//! the admin API's own handler (the same checks, the same journal events
//! with the token's id); the console only renders its answer.

use std::fmt::Write as _;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::html::{attr, enc, esc, post_button, table};
use super::trades::fmt_ms;
use super::{see_other, Ctx, Page, MAX_ROWS};
use crate::admin::Admin;
use crate::api::ApiError;
use crate::merchants::Origin;
use crate::store::RegistryStatus;

/// The admin handler's answer as (status, JSON).
async fn answer(r: Result<Response<Full<Bytes>>, ApiError>) -> (StatusCode, Value) {
    let resp = match r {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let status = resp.status();
    let bytes = match resp.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The error page of an admin answer that is not a success.
fn refused(ctx: &Ctx, status: StatusCode, v: &Value) -> Page {
    let msg = v["error"]["message"]
        .as_str()
        .unwrap_or("the change was refused")
        .to_owned();
    ctx.error(status, &msg)
}

fn matches(hay: &[&str], q: Option<&str>) -> bool {
    match q {
        None => true,
        Some(q) => {
            let q = q.to_lowercase();
            hay.iter().any(|h| h.to_lowercase().contains(&q))
        }
    }
}

fn search_box(ctx: &Ctx, action: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\"><label>{} <input name=\"q\" value=\"{}\"></label><button type=\"submit\">{}</button></form>",
        ctx.t("Search", "查询"),
        attr(ctx.q("q").unwrap_or("")),
        ctx.t("Search", "查询")
    )
}

/// GET /console/merchants?q=
pub(crate) fn merchants(admin: &Admin, ctx: &Ctx) -> Page {
    let q = ctx.q("q");
    let list = admin.registry().merchants();
    let rows: Vec<Vec<String>> = list
        .iter()
        .filter(|m| {
            let r = &m.record;
            matches(
                &[
                    &r.external_id,
                    &r.name,
                    &r.alias_name,
                    r.smid.as_deref().unwrap_or(""),
                ],
                q,
            )
        })
        .take(MAX_ROWS)
        .map(|m| {
            let r = &m.record;
            let ext = enc(&r.external_id);
            let actions = if m.origin == Origin::Journal {
                let (verb, en, zh) = match r.status {
                    RegistryStatus::Active => ("suspend", "Suspend", "暂停"),
                    RegistryStatus::Suspended => ("resume", "Resume", "恢复"),
                };
                let action = format!("/console/merchants/{ext}/{verb}");
                post_button(&action, &ctx.csrf(&action), ctx.t(en, zh), "")
            } else {
                esc(ctx.t("declared in the configuration file", "在配置文件中声明"))
            };
            vec![
                esc(&r.external_id),
                esc(&r.name),
                esc(r.smid.as_deref().unwrap_or("")),
                esc(r.status.as_str()),
                esc(&format!(
                    "{} bps / {} bps",
                    r.gateway_fee_bps, r.merchant_fee_bps
                )),
                esc(&m
                    .stores
                    .iter()
                    .map(|s| s.store_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")),
                format!(
                    "<a href=\"/console/terminals?merchant={ext}\">{}</a>",
                    admin.registry().terminal_count(&r.external_id)
                ),
                format!(
                    "<a href=\"/console/trades?merchant={ext}\">{}</a>",
                    ctx.t("trades", "交易")
                ),
                actions,
            ]
        })
        .collect();
    let mut body = search_box(ctx, "/console/merchants");
    body += &table(
        &[
            "external_id",
            ctx.t("Name", "名称"),
            "smid",
            ctx.t("Status", "状态"),
            ctx.t("Rates (gateway / merchant)", "费率（网关 / 商户）"),
            ctx.t("Stores", "门店"),
            ctx.t("Terminals", "终端"),
            ctx.t("Trades", "交易"),
            ctx.t("Action", "操作"),
        ],
        &rows,
    );
    ctx.page(ctx.t("Merchants", "商户"), &body)
}

/// GET /console/terminals?q=&merchant=
pub(crate) fn terminals(admin: &Admin, ctx: &Ctx) -> Page {
    let q = ctx.q("q");
    let merchant = ctx.q("merchant");
    let mut list = admin.registry().terminals();
    list.sort_by(|a, b| {
        (a.external_id.as_str(), a.cfg.key_id.as_str())
            .cmp(&(b.external_id.as_str(), b.cfg.key_id.as_str()))
    });
    let now = crate::trade::now_ms();
    let rows: Vec<Vec<String>> = list
        .iter()
        .filter(|t| merchant.map_or(true, |m| t.external_id == m))
        .filter(|t| {
            matches(
                &[
                    &t.cfg.key_id,
                    &t.external_id,
                    t.cfg.store_id.as_deref().unwrap_or(""),
                    t.cfg.terminal_id.as_deref().unwrap_or(""),
                ],
                q,
            )
        })
        .take(MAX_ROWS)
        .map(|t| {
            let key = enc(&t.cfg.key_id);
            let actions = if t.origin == Origin::Journal {
                let (verb, en, zh) = match t.status {
                    RegistryStatus::Active => ("suspend", "Suspend", "暂停"),
                    RegistryStatus::Suspended => ("resume", "Resume", "恢复"),
                };
                let a1 = format!("/console/terminals/{key}/{verb}");
                let a2 = format!("/console/terminals/{key}/rotate");
                format!(
                    "{} {}",
                    post_button(&a1, &ctx.csrf(&a1), ctx.t(en, zh), ""),
                    post_button(
                        &a2,
                        &ctx.csrf(&a2),
                        ctx.t("Rotate secret", "轮换密钥"),
                        &format!(
                            "<label>{} <input name=\"grace_secs\" value=\"86400\" size=\"7\"></label>",
                            ctx.t("old one valid (s)", "旧密钥有效期（秒）")
                        ),
                    )
                )
            } else {
                esc(ctx.t("declared in the configuration file", "在配置文件中声明"))
            };
            let grace = t
                .previous
                .as_ref()
                .map(|p| p.1)
                .filter(|u| *u > now)
                .map(fmt_ms)
                .unwrap_or_default();
            vec![
                esc(&t.cfg.key_id),
                esc(&t.external_id),
                esc(t.cfg.store_id.as_deref().unwrap_or("")),
                esc(t.cfg.terminal_id.as_deref().unwrap_or("")),
                esc(t.equipment_type.as_deref().unwrap_or("")),
                esc(t.status.as_str()),
                esc(&grace),
                format!(
                    "<a href=\"/console/trades?terminal={key}\">{}</a>",
                    ctx.t("trades", "交易")
                ),
                actions,
            ]
        })
        .collect();
    let mut body = search_box(ctx, "/console/terminals");
    body += &table(
        &[
            "key_id",
            ctx.t("Merchant", "商户"),
            ctx.t("Store", "门店"),
            "terminal_id",
            ctx.t("Equipment", "设备类型"),
            ctx.t("Status", "状态"),
            ctx.t("Previous secret valid until", "旧密钥有效至"),
            ctx.t("Trades", "交易"),
            ctx.t("Action", "操作"),
        ],
        &rows,
    );
    ctx.page(ctx.t("Terminals", "终端"), &body)
}

/// POST /console/merchants/{external_id}/suspend and /resume
pub(crate) async fn merchant_status(admin: &Admin, ctx: &Ctx, ext: &str, suspend: bool) -> Page {
    let (status, v) = answer(admin.merchant_status(&ctx.caller, ext, suspend).await).await;
    if !status.is_success() {
        return refused(ctx, status, &v);
    }
    see_other(&format!("/console/merchants?q={}", enc(ext)))
}

/// POST /console/terminals/{key_id}/suspend and /resume
pub(crate) async fn terminal_status(admin: &Admin, ctx: &Ctx, key: &str, suspend: bool) -> Page {
    let (status, v) = answer(admin.terminal_status(&ctx.caller, key, suspend).await).await;
    if !status.is_success() {
        return refused(ctx, status, &v);
    }
    see_other(&format!("/console/terminals?q={}", enc(key)))
}

/// POST /console/terminals/{key_id}/rotate (`grace_secs`): the new secret
/// on this page only (never stored in clear, never shown again).
pub(crate) async fn rotate(
    admin: &Admin,
    ctx: &Ctx,
    key: &str,
    form: &std::collections::HashMap<String, String>,
) -> Page {
    let body = match form
        .get("grace_secs")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Vec::new(),
        Some(g) => match g.parse::<u64>() {
            Ok(n) => json!({ "grace_secs": n }).to_string().into_bytes(),
            Err(_) => {
                return ctx.error(
                    StatusCode::BAD_REQUEST,
                    ctx.t(
                        "grace_secs must be a whole number of seconds.",
                        "grace_secs 须为整数秒。",
                    ),
                )
            }
        },
    };
    let (status, v) = answer(admin.rotate(&ctx.caller, key, &body).await).await;
    if !status.is_success() {
        return refused(ctx, status, &v);
    }
    let mut h = String::new();
    let _ = write!(
        h,
        "<p class=\"note\">{}</p><p>key_id <code>{}</code></p><p>secret_hex <code>{}</code></p><p>{} {}</p>",
        ctx.t(
            "The new secret is shown this once: give it to the terminal now. It is not stored in clear and cannot be shown again.",
            "新密钥仅显示这一次：请立即配置到终端。系统不保存明文，无法再次显示。"
        ),
        esc(key),
        esc(v["secret_hex"].as_str().unwrap_or("")),
        ctx.t("The previous secret keeps working until", "旧密钥继续有效至"),
        esc(&v["previous_secret_valid_until_ms"]
            .as_i64()
            .map(fmt_ms)
            .unwrap_or_else(|| "-".into())),
    );
    let _ = write!(
        h,
        "<p><a href=\"/console/terminals?q={}\">{}</a></p>",
        enc(key),
        ctx.t("Back to the terminal", "返回终端")
    );
    ctx.page(ctx.t("Secret rotated", "密钥已轮换"), &h)
}
