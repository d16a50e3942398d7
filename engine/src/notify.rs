//! Notifications in: POST /notify/alipay.
//!
//! Guarantees: a notification is acted on only after its signature verifies
//! with the Alipay public key (all fields but `sign` and `sign_type`, SPEC
//! 3.2) and its `app_id` is ours; it is journaled before the gateway hears
//! `success`; it is applied to the trade at most once in effect (a
//! notification never moves a trade backwards, never changes a final trade,
//! and is only journaled while a cancel is in doubt). Anything else answers
//! `fail` (so the gateway retries) and is counted in
//! `payswitch_notifications_total{result}`.

use http::StatusCode;

use crate::flow::Flows;

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
