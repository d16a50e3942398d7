//! Notifications in (POST /notify/alipay): the transport edge of
//! [`crate::flow::Flows::notified`].
//!
//! Guarantees: a notification is acted on only after its signature verifies
//! with the Alipay public key (all fields but `sign` and `sign_type`,
//! docs/PROTOCOL.md §3.2); a badly signed or malformed one answers `fail` (400). A verified one
//! is journaled (applied, a duplicate, an incident or an orphan) before the
//! gateway hears `success`; when the journal cannot take it the answer is
//! `fail` (503) and the gateway retries. Counted in
//! `payswitch_notifications_total{result}`.

use http::StatusCode;

use crate::flow::Flows;

/// Verifies, journals and applies one notification body (a form);
/// returns the HTTP status and the body to answer: `200 success` once
/// journaled, `400 fail` when it does not verify or parse, `503 fail` when
/// the journal cannot take it (the gateway retries). Called by the API's
/// `POST /notify/alipay` route.
pub async fn receive(flows: &Flows, body: &[u8]) -> (StatusCode, &'static str) {
    let m = flows.metrics();
    let params = protocol::request::decode_form(body);
    let n = match protocol::Notification::verify(params, &flows.config().gateway.verifier) {
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
    match flows.notified(&n).await {
        Ok(what) => {
            tracing::info!(out_trade_no = %n.out_trade_no, notify_id = %n.notify_id, result = what.as_str(), "notification journaled");
            m.inc(
                "payswitch_notifications_total",
                &[("result", what.as_str())],
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
