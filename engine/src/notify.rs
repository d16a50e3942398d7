//! Notifications in (POST /notify/alipay) and results out (relayed to a
//! merchant's own notify_url given at precreate).
//!
//! Guarantees: a notification is acted on only after its signature verifies
//! with the Alipay public key (all fields but `sign` and `sign_type`, SPEC
//! 3.2) and its `app_id` is ours; it is journaled before the gateway hears
//! `success`; it is applied to the trade at most once in effect (a
//! notification never moves a trade backwards, never changes a final trade,
//! and is only journaled while a cancel is in doubt). Anything else answers
//! `fail` (so the gateway retries) and is counted in
//! `payswitch_notifications_total{result}`.

use std::sync::Arc;

use http::StatusCode;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::flow::Flows;

/// Attempts per relayed result (back-off from `policy.unknown_retry_initial_ms`, doubling).
const RELAY_ATTEMPTS: u32 = 8;

/// Verifies, journals and applies one notification body (a form);
/// returns the HTTP status and the body to answer.
pub async fn receive(flows: &Flows, body: &[u8]) -> (StatusCode, &'static str) {
    let m = &flows.metrics;
    let params = protocol::request::decode_form(body);
    let n = match protocol::Notification::verify(params, &flows.cfg.gateway.verifier) {
        Ok(n) => n,
        Err(e) => {
            let reason = match e {
                protocol::NotifyError::BadSignature => "bad_signature",
                protocol::NotifyError::SignType(_) => "bad_sign_type",
                _ => "invalid",
            };
            tracing::warn!(error = %e, "notification refused");
            m.inc("payswitch_notifications_total", &[("result", reason)]);
            return (StatusCode::BAD_REQUEST, "fail");
        }
    };
    if n.app_id != flows.cfg.gateway.app_id {
        tracing::warn!(out_trade_no = %n.out_trade_no, "notification for another app_id refused");
        m.inc(
            "payswitch_notifications_total",
            &[("result", "wrong_app_id")],
        );
        return (StatusCode::BAD_REQUEST, "fail");
    }
    match flows.notified(&n).await {
        Ok(known) => {
            tracing::info!(out_trade_no = %n.out_trade_no, notify_id = %n.notify_id, "notification journaled");
            m.inc(
                "payswitch_notifications_total",
                &[("result", if known { "applied" } else { "unknown_trade" })],
            );
            (StatusCode::OK, "success")
        }
        Err(e) => {
            tracing::error!(error = %e, out_trade_no = %n.out_trade_no, "notification not journaled");
            m.inc(
                "payswitch_notifications_total",
                &[("result", "journal_error")],
            );
            (StatusCode::SERVICE_UNAVAILABLE, "fail")
        }
    }
}

/// Relays the final result of each precreated trade that named a merchant
/// notify_url: a POST of the trade JSON, authenticated like the terminal API
/// in the other direction (`Authorization: PSW1-HMAC-SHA256 key=<creating
/// terminal>, ts, nonce, sig` over the same string, with that terminal's
/// secret). 2xx ends it; otherwise up to 8 attempts with back-off; each
/// attempt is journaled (`relay` events). Pending relays are not resumed
/// after a restart.
pub async fn relay_worker(flows: Arc<Flows>, mut rx: UnboundedReceiver<String>) {
    while let Some(no) = rx.recv().await {
        let f = flows.clone();
        let n2 = no.clone();
        flows.spawn(&no, async move { relay_one(&f, &n2).await });
    }
}

async fn relay_one(flows: &Flows, no: &str) {
    let Ok(Some(slot)) = flows.load_trade(no).await else {
        return;
    };
    let t = Flows::current(&slot).await;
    let Some(url) = t.merchant_notify_url.clone() else {
        return;
    };
    let Some(term) = flows.cfg.terminals.iter().find(|x| x.key_id == t.terminal) else {
        flows.note(
            &t,
            "relay",
            json!({"url": url, "result": "the creating terminal is no longer registered"}),
        );
        return;
    };
    let pq = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| "/".into());
    let body = crate::api::trade_json(&t).to_string();
    let mut backoff = flows.cfg.policy.unknown_retry_initial;
    for attempt in 1..=RELAY_ATTEMPTS {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let nonce: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let sig = crate::api::auth::sign(&term.secret, "POST", &pq, ts, &nonce, body.as_bytes());
        let auth = format!(
            "PSW1-HMAC-SHA256 key={}, ts={ts}, nonce={nonce}, sig={sig}",
            term.key_id
        );
        let r = flows.gw.post_json(&url, &auth, body.clone()).await;
        let ok = matches!(&r, Ok(s) if s.is_success());
        let result = match &r {
            Ok(s) => s.as_u16().to_string(),
            Err(e) => e.clone(),
        };
        flows.note(
            &t,
            "relay",
            json!({"attempt": attempt, "url": url, "result": result}),
        );
        if ok {
            flows
                .metrics
                .inc("payswitch_relays_total", &[("result", "delivered")]);
            return;
        }
        if !flows.pause(backoff).await {
            return;
        }
        backoff = (backoff * 2).min(flows.cfg.policy.unknown_retry_max);
    }
    tracing::warn!(out_trade_no = %t.out_trade_no, "merchant notification relay gave up");
    flows
        .metrics
        .inc("payswitch_relays_total", &[("result", "gave_up")]);
}
