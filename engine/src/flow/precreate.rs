//! The QR driver (alipay.trade.precreate) and the QR watch that owns every
//! WAIT_BUYER_PAY trade: queried if no notification came (1 min and 5 min
//! after creation by default, then at its expiry), closed at expiry
//! (alipay.trade.close, falling back to the cancel policy).

use std::sync::Arc;
use std::time::Duration;

use protocol::biz::{to_biz_content, ExtendParams, PrecreateBiz, SubMerchant};
use protocol::response::PrecreateResponse;
use protocol::Method;
use serde_json::json;
use tokio::sync::OwnedMutexGuard;

use super::cancel::Marked;
use super::policy::{self, PrecreateStep, QrStep, Reply};
use super::{answer_detail, boundary, check_same, FlowError, Flows, PrecreateOrder, Slot};
use crate::config::TerminalConfig;
use crate::gateway::Outcome;
use crate::trade::{Kind, Phase, Status, Trade};

/// Whether `url` is `registered` or lies under it (the same origin and a
/// path below the registered one).
fn lies_under(url: &str, registered: &str) -> bool {
    url == registered
        || (url.starts_with(registered)
            && (registered.ends_with('/')
                || matches!(url.as_bytes().get(registered.len()), Some(b'/' | b'?'))))
}

impl Flows {
    /// Where a QR trade's final result is relayed: only ever to the URL
    /// registered for the terminal's merchant (`relay_url`), or one under it
    /// that the request names; never another URL from a request.
    fn relay_target(
        &self,
        term: &TerminalConfig,
        asked: Option<&str>,
    ) -> Result<Option<String>, FlowError> {
        let registered = self
            .registry
            .terminal(&term.key_id)
            .and_then(|t| self.registry.merchant(&t.external_id))
            .and_then(|m| m.record.relay_url.clone());
        match (asked, registered) {
            (None, r) => Ok(r),
            (Some(u), Some(r)) if lies_under(u, &r) => Ok(Some(u.to_owned())),
            (Some(_), Some(r)) => Err(FlowError::Invalid {
                field: "notify_url",
                message: format!(
                    "must be the merchant's registered relay URL ({r}) or lie under it"
                ),
            }),
            (Some(_), None) => Err(FlowError::Invalid {
                field: "notify_url",
                message:
                    "the merchant has no registered relay URL (relay_url): no result can be relayed"
                        .into(),
            }),
        }
    }

    /// POST /v1/precreate: creates (once) the QR trade, sends
    /// alipay.trade.precreate and waits up to 60 s for the QR code. The trade
    /// is then owned by the QR watch until it is final (queried, closed at
    /// expiry); its final result is relayed to the merchant when
    /// `o.notify_url` or the merchant's registered relay URL says so.
    ///
    /// # Errors
    /// [`FlowError::Invalid`] (`notify_url`) when the request names a
    /// relay URL that is not the merchant's registered one or under it, or
    /// the merchant has none;
    /// [`FlowError::Invalid`] (`out_trade_no`) when the number cannot be
    /// mapped into the merchant's number space; [`FlowError::Conflict`] when
    /// the out_trade_no was used for a different request; when a new trade
    /// is not admitted: [`FlowError::ShuttingDown`],
    /// [`FlowError::CircuitOpen`], [`FlowError::Busy`] (the cache is full) or
    /// [`FlowError::JournalUnavailable`] (the journal failed within the last
    /// second); when the trade cannot be created:
    /// [`FlowError::JournalBusy`] (queue full) or
    /// [`FlowError::JournalUnavailable`]; [`FlowError::Store`] when the
    /// journal cannot be read. In every error case nothing was sent.
    pub async fn precreate(
        self: &Arc<Self>,
        term: &TerminalConfig,
        o: PrecreateOrder,
    ) -> Result<Trade, FlowError> {
        let relay_to = self.relay_target(term, o.notify_url.as_deref())?;
        let fp = self.fingerprint(&json!({
            "kind": "precreate", "terminal": term.key_id, "total_amount": o.total_amount.to_wire(),
            "subject": o.subject.as_str(), "timeout_express": o.timeout_express.as_ref().map(|t| t.as_str()),
            "notify_url": o.notify_url, "body": o.body, "operator_id": o.operator_id,
            "goods_detail": o.goods_detail,
        }));
        let wait = Duration::from_secs(60);
        let gw_no = self.gateway_no(term, o.out_trade_no.as_str())?;
        if let Some(t) = self
            .existing_or_admit(&gw_no, Kind::Precreate, &fp, wait)
            .await?
        {
            return Ok(t);
        }
        let mut trade = self.new_trade(
            term,
            (&gw_no, &o.out_trade_no),
            Kind::Precreate,
            o.total_amount,
            &o.subject,
            fp.stored(),
        );
        trade.merchant_notify_url.clone_from(&relay_to);
        let lifetime = o
            .timeout_express
            .as_ref()
            .and_then(|t| t.minutes())
            .map(|m| Duration::from_secs(u64::from(m) * 60))
            .unwrap_or(self.cfg.policy.qr_default_timeout);
        trade.expires_ms = Some(
            trade
                .created_ms
                .saturating_add(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX)),
        );
        let biz = PrecreateBiz {
            out_trade_no: gw_no.clone(),
            total_amount: o.total_amount,
            subject: o.subject.as_str().to_owned(),
            body: o.body.clone(),
            operator_id: o.operator_id.clone(),
            store_id: term.store_id.clone(),
            terminal_id: term.terminal_id.clone(),
            timeout_express: o.timeout_express.as_ref().map(|t| t.as_str().to_owned()),
            buyer_id: None,
            sub_merchant: term.smid.clone().map(|m| SubMerchant { merchant_id: m }),
            extend_params: self.gw.sys_service_provider_id().map(|s| ExtendParams {
                sys_service_provider_id: Some(s.to_owned()),
            }),
            goods_detail: o.goods_detail.clone(),
        };
        let (slot, sending) = self
            .create_or_existing(
                trade,
                json!({"kind": "precreate", "phase": "precreate_sending", "total_amount": o.total_amount.to_wire(),
                       "terminal": term.key_id, "merchant_notify_url": relay_to}),
            )
            .await?;
        let Some(sending) = sending else {
            let t = slot.current().await.ok_or(FlowError::NotFound)?;
            check_same(&t, Kind::Precreate, &fp)?;
            return Ok(self.settled(&slot, wait).await);
        };
        let me = self.clone();
        let s2 = slot.clone();
        self.spawn(
            &gw_no,
            async move { me.drive_precreate(s2, biz, sending).await },
        );
        Ok(slot.wait_settled(wait).await)
    }

    async fn drive_precreate(
        self: Arc<Self>,
        slot: Arc<Slot>,
        biz: PrecreateBiz,
        sending: OwnedMutexGuard<()>,
    ) {
        if !self.begin_send(&slot).await {
            return;
        }
        boundary("precreate_after_send_committed");
        let out = self
            .gw
            .call::<PrecreateResponse>(Method::TradePrecreate, &to_biz_content(&biz), true)
            .await;
        let detail = answer_detail("alipay.trade.precreate", &out);
        let t = slot.published();
        let step = match &out {
            Outcome::Answer(r) => {
                let tied = self.tied(
                    &t,
                    "alipay.trade.precreate",
                    r.out_trade_no.as_deref(),
                    None,
                );
                policy::precreate_answer(
                    Reply::answer(&r.code, r.sub_code.as_deref()),
                    tied,
                    r.qr_code.is_some(),
                )
            }
            Outcome::Unknown(_) => PrecreateStep::Cancel,
        };
        let r = match &out {
            Outcome::Answer(r) => Some(r),
            Outcome::Unknown(_) => None,
        };
        let applied = match (step, r) {
            (PrecreateStep::WaitBuyer, Some(r)) => self
                .apply_answer(&slot, detail, |t| {
                    t.transition(Status::WaitBuyerPay).ok()?;
                    t.phase = Phase::Idle;
                    t.qr_code.clone_from(&r.qr_code);
                    t.code = Some(r.code.clone());
                    Some(())
                })
                .await
                .is_some(),
            (PrecreateStep::Fail, Some(r)) => {
                self.apply_answer(&slot, detail, |t| {
                    t.transition(Status::Failed).ok()?;
                    t.code = Some(r.code.clone());
                    t.sub_code.clone_from(&r.sub_code);
                    t.sub_msg = super::scrubbed(&r.sub_msg);
                    Some(())
                })
                .await;
                false
            }
            _ => {
                // The QR code never reached the terminal: make sure nobody can pay it.
                self.note(&t, "gateway_answer", detail);
                drop(sending);
                self.cancel_until_definite(&slot).await;
                return;
            }
        };
        drop(sending);
        if applied {
            self.qr_watch(&slot).await;
        }
    }

    /// Owns a WAIT_BUYER_PAY trade until it is final: queries when no
    /// notification came, closes it at expiry.
    pub(super) async fn qr_watch(&self, slot: &Slot) {
        let after = self.cfg.policy.qr_query_after_ms.clone();
        loop {
            let t = slot.published();
            if t.status != Status::WaitBuyerPay || t.phase == Phase::CancelPending {
                return;
            }
            let expires = t.expires_ms.unwrap_or_else(|| {
                t.created_ms.saturating_add(
                    i64::try_from(self.cfg.policy.qr_default_timeout.as_millis())
                        .unwrap_or(i64::MAX),
                )
            });
            let at = policy::qr_check_at(t.created_ms, expires, &after, t.qr_checks_done)
                .unwrap_or(expires);
            if !self.pause_until(at).await {
                return;
            }
            if slot.published().status != Status::WaitBuyerPay {
                return;
            }
            let q = self.query(slot).await;
            match policy::qr_after_query(q.seen, crate::trade::now_ms(), expires) {
                QrStep::Final(st) => {
                    self.apply_seen(slot, &q, st).await;
                    return;
                }
                QrStep::Later => {
                    let _ = self
                        .update(slot, |t| {
                            if t.status != Status::WaitBuyerPay {
                                return None;
                            }
                            t.qr_checks_done += 1;
                            Some(vec![])
                        })
                        .await;
                }
                QrStep::Close => {
                    let Ok(guard) = slot.cancel_running.clone().try_lock_owned() else {
                        return;
                    };
                    if let Marked::Pending = self.mark_cancel_pending(slot, "close_sending").await {
                        self.close_then_cancel(slot, guard).await;
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod relay_url_tests {
    use super::lies_under;

    #[test]
    fn a_relay_url_lies_under_the_registered_one() {
        let r = "https://shop.example.com/pay/notify";
        assert!(lies_under(r, r));
        assert!(lies_under("https://shop.example.com/pay/notify/7", r));
        assert!(lies_under("https://shop.example.com/pay/notify?id=7", r));
        assert!(!lies_under("https://shop.example.com/pay/notifyX", r));
        assert!(!lies_under(
            "https://shop.example.com.evil.io/pay/notify",
            r
        ));
        assert!(!lies_under(
            "https://evil.io/?https://shop.example.com/pay/notify",
            r
        ));
        assert!(lies_under(
            "https://shop.example.com/x",
            "https://shop.example.com/"
        ));
    }
}
