//! The refund driver (alipay.trade.refund, then
//! alipay.trade.fastpay.refund.query while the outcome is unknown).
//!
//! Guarantees: a refund is admitted only under the trade's lock and only
//! while `refund_amount <= total - refunded - refunds in flight` (checked
//! arithmetic, [`policy::refund_admissible`]); the refund row, the trade's
//! in-flight sum and the "about to send" event are one commit; the outcome
//! and the trade's refunded sum are one commit; a repeat of the same
//! out_request_no is idempotent here and at the gateway.

use std::sync::Arc;
use std::time::Duration;

use protocol::biz::{to_biz_content, RefundBiz, RefundQueryBiz};
use protocol::response::{RefundQueryResponse, RefundResponse};
use protocol::{Method, Money};
use serde_json::json;

use super::policy::{self, RefundRefusal, RefundStep, Reply};
use super::{answer_detail, boundary, ev, FlowError, Flows, RefundOrder, RefundSlot, Slot};
use crate::config::TerminalConfig;
use crate::gateway::Outcome;
use crate::store::{StoreError, Write};
use crate::trade::{now_ms, Refund, RefundStatus};

/// How long a terminal's refund request waits for the outcome.
const TERMINAL_WAIT: Duration = Duration::from_secs(30);

impl Flows {
    async fn load_refund(
        &self,
        no: &str,
        req: &str,
    ) -> Result<Option<Arc<RefundSlot>>, StoreError> {
        let key = (no.to_owned(), req.to_owned());
        if let Some(s) = self.refunds.get(&key) {
            return Ok(Some(s.clone()));
        }
        let found = self.store.refund(&self.app_id, no, req)?;
        Ok(found.map(|r| self.adopt_refund(r)))
    }

    pub(super) fn adopt_refund(&self, r: Refund) -> Arc<RefundSlot> {
        self.refunds
            .entry((r.out_trade_no.clone(), r.out_request_no.clone()))
            .or_insert_with(|| Arc::new(RefundSlot::new(r)))
            .clone()
    }

    /// GET /v1/trades/{no}/refunds/{req}: the refund and the trade's refunded total.
    ///
    /// # Errors
    /// [`FlowError::NotFound`] when there is no such trade, `term` may not
    /// see it, or the trade has no refund `req`; [`FlowError::Store`] when
    /// the journal cannot be read.
    pub async fn get_refund(
        &self,
        term: &TerminalConfig,
        no: &str,
        req: &str,
    ) -> Result<(Refund, Money), FlowError> {
        let (_, t) = self.visible_slot(term, no).await?;
        let slot = self
            .load_refund(&t.out_trade_no, req)
            .await?
            .ok_or(FlowError::NotFound)?;
        Ok((slot.published(), t.refunded_amount))
    }

    /// POST /v1/trades/{no}/refunds: admits the refund under the trade's
    /// lock (never above what is still refundable, refunds in flight
    /// counted), journals it with "about to send", starts its driver and
    /// waits up to 30 s for its outcome. Returns the refund (UNKNOWN when the
    /// wait ends first; the driver goes on) and the trade's refunded total. A
    /// repeat with the same out_request_no and content is the same refund.
    ///
    /// # Errors
    /// [`FlowError::NotFound`] when there is no such trade or `term` may not
    /// see it; [`FlowError::NotAllowed`] when the trade is not paid;
    /// [`FlowError::Invalid`] (`refund_amount`) when the amount is above
    /// what is still refundable; [`FlowError::Conflict`] when the
    /// out_request_no was used with a different amount or reason;
    /// [`FlowError::JournalUnavailable`] when the journal failed recently or
    /// cannot take the refund (nothing is sent); [`FlowError::Store`] when
    /// the journal cannot be read.
    pub async fn refund(
        self: &Arc<Self>,
        term: &TerminalConfig,
        no: &str,
        o: RefundOrder,
    ) -> Result<(Refund, Money), FlowError> {
        let (tslot, t) = self.visible_slot(term, no).await?;
        // The gateway's number: refunds are keyed and sent by it.
        let no = t.out_trade_no.as_str();
        let fp = self
            .fingerprint(&json!({"amount": o.refund_amount.to_wire(), "reason": o.refund_reason}));
        let req = o.out_request_no.as_str().to_owned();
        let rslot = match self.load_refund(no, &req).await? {
            Some(s) => s,
            None => self.admit_refund(&tslot, no, &req, &o, fp.stored()).await?,
        };
        let r = rslot.published();
        if !fp.matches(&r.fingerprint) {
            return Err(FlowError::Conflict(format!(
                "out_request_no {req} was already used with a different amount or reason"
            )));
        }
        let r = rslot.wait_final(TERMINAL_WAIT).await;
        Ok((r, tslot.published().refunded_amount))
    }

    /// Admits a new refund under the trade's lock (ceiling), journals it
    /// with "about to send", and starts its driver.
    async fn admit_refund(
        self: &Arc<Self>,
        tslot: &Arc<Slot>,
        no: &str,
        req: &str,
        o: &RefundOrder,
        fp: String,
    ) -> Result<Arc<RefundSlot>, FlowError> {
        if self.journal_failing() {
            return Err(FlowError::JournalUnavailable(StoreError::Db(
                "recent journal commits failed".into(),
            )));
        }
        let now = now_ms();
        let r = Refund {
            app_id: self.app_id.clone(),
            out_trade_no: no.to_owned(),
            out_request_no: req.to_owned(),
            refund_amount: o.refund_amount,
            refund_reason: o.refund_reason.clone(),
            status: RefundStatus::Unknown,
            fingerprint: fp,
            code: None,
            sub_code: None,
            sub_msg: None,
            gmt_refund_pay: None,
            created_ms: now,
            updated_ms: now,
        };
        let slot = Arc::new(RefundSlot::new(r.clone()));
        let guard = slot.state.lock().await;
        match self.refunds.entry((no.to_owned(), req.to_owned())) {
            dashmap::Entry::Occupied(o) => return Ok(o.get().clone()),
            dashmap::Entry::Vacant(v) => {
                v.insert(slot.clone());
            }
        }
        let mut refused: Option<RefundRefusal> = None;
        let res = self
            .update(tslot, |t| {
                if let Err(e) = policy::refund_admissible(
                    t.status,
                    t.total_amount,
                    t.refunded_amount,
                    t.refunding_amount,
                    r.refund_amount,
                ) {
                    refused = Some(e);
                    return None;
                }
                t.refunding_amount = t.refunding_amount.checked_add(r.refund_amount)?;
                Some(vec![
                    Write::Refund(Box::new(r.clone())),
                    ev(
                        t,
                        "refund_sending",
                        json!({"out_request_no": req, "refund_amount": r.refund_amount.to_wire()}),
                    ),
                ])
            })
            .await;
        drop(guard);
        if let Some(e) = refused {
            self.refunds.remove(&(no.to_owned(), req.to_owned()));
            return Err(match e {
                RefundRefusal::NotPaid(_) => FlowError::NotAllowed(e.to_string()),
                _ => FlowError::Invalid {
                    field: "refund_amount",
                    message: e.to_string(),
                },
            });
        }
        if let Err(e) = res {
            self.refunds.remove(&(no.to_owned(), req.to_owned()));
            return Err(FlowError::JournalUnavailable(e));
        }
        let me = self.clone();
        let (s2, t2) = (slot.clone(), tslot.clone());
        self.spawn(no, async move { me.drive_refund(t2, s2).await });
        Ok(slot)
    }

    /// Commits the refund's outcome and the trade's sums in one commit.
    async fn finish_refund(
        &self,
        tslot: &Slot,
        rslot: &RefundSlot,
        st: RefundStatus,
        codes: (Option<String>, Option<String>, Option<String>),
        gmt_refund_pay: Option<String>,
        detail: serde_json::Value,
    ) {
        let mut rg = rslot.state.lock().await;
        if rg.status != RefundStatus::Unknown {
            return;
        }
        let mut r = rg.clone();
        r.status = st;
        r.code = codes.0;
        r.sub_code = codes.1;
        r.sub_msg = codes.2;
        r.gmt_refund_pay = gmt_refund_pay;
        r.updated_ms = now_ms();
        let res = self
            .update(tslot, |t| {
                t.refunding_amount = t
                    .refunding_amount
                    .checked_sub(r.refund_amount)
                    .unwrap_or_else(|| {
                        tracing::error!(out_request_no = %r.out_request_no, "refunds in flight below zero; journal inconsistent");
                        Money::ZERO
                    });
                if st == RefundStatus::Success {
                    // The ceiling admitted it: total >= refunded + this refund.
                    match t.refunded_amount.checked_add(r.refund_amount) {
                        Some(sum) if sum <= t.total_amount => t.refunded_amount = sum,
                        _ => {
                            tracing::error!(out_request_no = %r.out_request_no,
                                "refunded sum would pass the total; kept as it was, refund recorded");
                        }
                    }
                }
                Some(vec![
                    Write::Refund(Box::new(r.clone())),
                    ev(
                        t,
                        "refund_state",
                        json!({"out_request_no": r.out_request_no, "status": st.as_str(), "answer": detail}),
                    ),
                ])
            })
            .await;
        if res.is_ok() {
            *rg = r.clone();
            rslot.publish(r);
        }
    }

    pub(super) async fn drive_refund(self: Arc<Self>, tslot: Arc<Slot>, rslot: Arc<RefundSlot>) {
        let r = rslot.published();
        let t = tslot.published();
        let reg = self.registry.terminal(&t.terminal);
        let term = reg.as_ref().map(|x| &x.cfg);
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        loop {
            // Send (or resend, same out_request_no: idempotent at the gateway).
            let biz = to_biz_content(&RefundBiz {
                out_trade_no: Some(r.out_trade_no.clone()),
                trade_no: None,
                refund_amount: r.refund_amount,
                out_request_no: Some(r.out_request_no.clone()),
                refund_reason: r.refund_reason.clone(),
                operator_id: None,
                store_id: term.and_then(|x| x.store_id.clone()),
                terminal_id: term.and_then(|x| x.terminal_id.clone()),
            });
            boundary("refund_after_send_committed");
            let out = self
                .gw
                .call::<RefundResponse>(Method::TradeRefund, &biz, false)
                .await;
            boundary("refund_after_send");
            let detail = answer_detail("alipay.trade.refund", &out);
            let step = match &out {
                Outcome::Answer(a) => policy::refund_answer(
                    Reply::answer(&a.code, a.sub_code.as_deref()),
                    a.fund_change.as_deref(),
                ),
                Outcome::Unknown(_) => RefundStep::Query,
            };
            match (&out, step) {
                (Outcome::Answer(a), RefundStep::Success) => {
                    return self
                        .finish_refund(
                            &tslot,
                            &rslot,
                            RefundStatus::Success,
                            (Some(a.code.clone()), None, None),
                            a.gmt_refund_pay.clone(),
                            detail,
                        )
                        .await;
                }
                (Outcome::Answer(a), RefundStep::Failed) => {
                    return self
                        .finish_refund(
                            &tslot,
                            &rslot,
                            RefundStatus::Failed,
                            (
                                Some(a.code.clone()),
                                a.sub_code.clone(),
                                super::scrubbed(&a.sub_msg),
                            ),
                            None,
                            detail,
                        )
                        .await;
                }
                _ => self.note(&t, "gateway_answer", detail),
            }
            // fund_change N, 20000, unknown: ask fastpay.refund.query.
            let biz = to_biz_content(&RefundQueryBiz {
                out_trade_no: Some(r.out_trade_no.clone()),
                trade_no: None,
                out_request_no: r.out_request_no.clone(),
            });
            let q = self
                .gw
                .call::<RefundQueryResponse>(Method::TradeFastpayRefundQuery, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.fastpay.refund.query", &q);
            if let Outcome::Answer(a) = &q {
                let step = policy::refund_query_answer(
                    Reply::answer(&a.code, a.sub_code.as_deref()),
                    a.refund_status.as_deref(),
                );
                if step == RefundStep::Success {
                    return self
                        .finish_refund(
                            &tslot,
                            &rslot,
                            RefundStatus::Success,
                            (Some(a.code.clone()), None, None),
                            a.gmt_refund_pay.clone(),
                            detail,
                        )
                        .await;
                }
            }
            self.note(&t, "gateway_answer", detail);
            if !self.pause(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
    }
}
