//! The barcode payment driver (alipay.trade.pay), and the query loops that
//! settle an unknown or waiting outcome. Every decision is `policy`'s.

use std::sync::Arc;
use std::time::Duration;

use protocol::biz::{to_biz_content, ExtendParams, PayBiz, SubMerchant};
use protocol::response::{PayResponse, QueryResponse};
use protocol::{Method, Money, OutTradeNo, Subject};
use serde_json::json;
use tokio::sync::OwnedMutexGuard;

use super::paylog::PayStat;
use super::policy::{self, PayStep, QueryStep, Reply, Seen};
use super::{answer_detail, boundary, check_same, ev, FlowError, Flows, PayOrder, Slot};
use crate::config::TerminalConfig;
use crate::gateway::Outcome;
use crate::store::{Incident, Write};
use crate::trade::{now_ms, Kind, Phase, Status, Trade};

/// What a query told, with the answer when it was definite.
pub(super) struct Queried {
    pub seen: Seen,
    pub answer: Option<Box<QueryResponse>>,
}

impl Flows {
    pub(super) fn new_trade(
        &self,
        term: &TerminalConfig,
        (gw_no, no): (&str, &OutTradeNo),
        kind: Kind,
        total: Money,
        subject: &Subject,
        fp: String,
    ) -> Trade {
        let now = now_ms();
        Trade {
            app_id: self.app_id.clone(),
            out_trade_no: gw_no.to_owned(),
            terminal_no: (gw_no != no.as_str()).then(|| no.as_str().to_owned()),
            kind,
            status: Status::Paying,
            phase: Phase::Sending,
            fingerprint: fp,
            terminal: term.key_id.clone(),
            total_amount: total,
            subject: subject.as_str().to_owned(),
            trade_no: None,
            receipt_amount: None,
            buyer_logon_id: None,
            gmt_payment: None,
            refunded_amount: Money::ZERO,
            code: None,
            sub_code: None,
            sub_msg: None,
            qr_code: None,
            merchant_notify_url: None,
            never_sent: false,
            refunding_amount: Money::ZERO,
            watch: None,
            expires_ms: None,
            qr_checks_done: 0,
            created_ms: now,
            updated_ms: now,
            version: 0,
        }
    }

    /// POST /v1/pay: starts (once) the barcode payment and waits up to `wait`.
    /// Returns the trade as it stands when it is settled (final, UNKNOWN, or
    /// waiting with nothing in doubt) or when `wait` ends; the payment goes
    /// on in its own task either way. A repeat of the same request (same
    /// out_trade_no and content) gets the trade it already started, never a
    /// second payment.
    ///
    /// # Errors
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
    pub async fn pay(
        self: &Arc<Self>,
        term: &TerminalConfig,
        o: PayOrder,
        wait: Duration,
    ) -> Result<Trade, FlowError> {
        let fp = self.fingerprint(&json!({
            "kind": "pay", "terminal": term.key_id, "auth_code": o.auth_code.as_str(),
            "total_amount": o.total_amount.to_wire(), "subject": o.subject.as_str(),
            "scene": o.scene.as_str(), "body": o.body, "operator_id": o.operator_id,
            "timeout_express": o.timeout_express.as_ref().map(|t| t.as_str()),
            "goods_detail": o.goods_detail,
        }));
        let gw_no = self.gateway_no(term, o.out_trade_no.as_str())?;
        // The steps before the wait boxed: the request's future, held for
        // the whole wait, is then only as large as the wait needs.
        if let Some(t) = Box::pin(self.existing_or_admit(&gw_no, Kind::Pay, &fp, wait)).await? {
            return Ok(t);
        }
        let trade = self.new_trade(
            term,
            (&gw_no, &o.out_trade_no),
            Kind::Pay,
            o.total_amount,
            &o.subject,
            fp.stored(),
        );
        let biz = PayBiz {
            out_trade_no: gw_no.clone(),
            scene: o.scene.as_str().to_owned(),
            auth_code: o.auth_code.as_str().to_owned(),
            subject: o.subject.as_str().to_owned(),
            total_amount: o.total_amount,
            product_code: Some("FACE_TO_FACE_PAYMENT".into()),
            body: o.body.clone(),
            operator_id: o.operator_id.clone(),
            store_id: term.store_id.clone(),
            terminal_id: term.terminal_id.clone(),
            timeout_express: o.timeout_express.as_ref().map(|t| t.as_str().to_owned()),
            sub_merchant: term.smid.clone().map(|m| SubMerchant { merchant_id: m }),
            extend_params: self.gw.sys_service_provider_id().map(|s| ExtendParams {
                sys_service_provider_id: Some(s.to_owned()),
            }),
            goods_detail: o.goods_detail.clone(),
        };
        let (slot, sending) = Box::pin(self.create_or_existing(
            trade,
            json!({"kind": "pay", "phase": "pay_sending", "total_amount": o.total_amount.to_wire(),
                   "auth_code_last4": o.auth_code.last4(), "terminal": term.key_id}),
        ))
        .await?;
        let Some(sending) = sending else {
            let t = slot.current().await.ok_or(FlowError::NotFound)?;
            check_same(&t, Kind::Pay, &fp)?;
            return Ok(self.settled(&slot, wait).await);
        };
        tracing::info!(out_trade_no = o.out_trade_no.as_str(), amount = %o.total_amount, "pay accepted");
        let me = self.clone();
        let s2 = slot.clone();
        self.spawn(&gw_no, async move { me.drive_pay(s2, biz, sending).await });
        drop((o, fp, gw_no));
        Ok(slot.wait_settled(wait).await)
    }

    /// GET /v1/trades/{no}?refresh=1: asks the gateway first
    /// (alipay.trade.query) and applies a definite answer (paid or closed)
    /// unless a cancel is in doubt; a final trade is answered as it stands.
    ///
    /// # Errors
    /// [`FlowError::NotFound`] when there is no such trade or `term` may not
    /// see it; [`FlowError::Store`] when the journal cannot be read. A query
    /// without a definite answer is not an error: the trade is returned
    /// unchanged.
    pub async fn refresh(&self, term: &TerminalConfig, no: &str) -> Result<Trade, FlowError> {
        let (slot, t) = self.visible_slot(term, no).await?;
        if t.status.is_final() || t.phase == Phase::CancelPending {
            return Ok(t);
        }
        let q = self.query(&slot).await;
        match q.seen {
            Seen::Paid => {
                self.apply_seen(&slot, &q, Status::Success).await;
            }
            Seen::Closed => {
                self.apply_seen(&slot, &q, Status::Closed).await;
            }
            Seen::Waiting | Seen::NotExist | Seen::Unknown => {}
        }
        Ok(slot.published())
    }

    /// The barcode payment. No notify_url: barcode payments have no
    /// asynchronous notification (docs/PROTOCOL.md §9.7); they are settled by
    /// their answer and by queries only. `sending` is the send guard, taken
    /// before the trade was visible.
    async fn drive_pay(
        self: Arc<Self>,
        slot: Arc<Slot>,
        biz: PayBiz,
        sending: OwnedMutexGuard<()>,
    ) {
        // The send and its answer in a box of their own, freed before the
        // polling: a trade's task then holds, for its whole 10003 polling,
        // only what the polling needs (not the request, the answer and the
        // trade's copy).
        let Some(step) = Box::pin(self.send_pay(&slot, biz, sending)).await else {
            return;
        };
        match step {
            PayStep::Poll => {
                let n = self.cfg.policy.poll_count;
                self.poll_then_cancel(&slot, n).await
            }
            PayStep::Resolve => {
                tracing::warn!("pay outcome unknown; querying");
                Box::pin(self.resolve_unknown(&slot)).await
            }
            PayStep::Success | PayStep::Fail => {}
        }
    }

    /// Sends alipay.trade.pay and journals its answer; the next step, or
    /// None when there is none (a cancel came first and nothing was sent,
    /// or the switch stops).
    async fn send_pay(
        &self,
        slot: &Slot,
        biz: PayBiz,
        sending: OwnedMutexGuard<()>,
    ) -> Option<PayStep> {
        if !self.begin_send(slot).await {
            // A cancel came first: the trade is CLOSED and nothing was sent.
            return None;
        }
        boundary("pay_after_send_committed");
        let biz_content = to_biz_content(&biz);
        let out = self
            .gw
            .call::<PayResponse>(Method::TradePay, &biz_content, false)
            .await;
        boundary("pay_after_send");
        let detail = answer_detail("alipay.trade.pay", &out);
        let t = slot.published();
        let (reply, tied) = match &out {
            Outcome::Answer(r) => (
                Reply::answer(&r.code, r.sub_code.as_deref()),
                self.tied(
                    &t,
                    "alipay.trade.pay",
                    r.out_trade_no.as_deref(),
                    r.total_amount,
                ),
            ),
            Outcome::Unknown(_) => (Reply::Lost, true),
        };
        let step = policy::pay_answer(reply, tied);
        let stat = match step {
            PayStep::Success => PayStat::Success,
            PayStep::Poll => PayStat::InProgress,
            PayStep::Resolve | PayStep::Fail => PayStat::Failed,
        };
        self.pay_log
            .record(&t.terminal, &t.out_trade_no, now_ms() - t.created_ms, stat);
        let r = match out {
            Outcome::Answer(r) if tied => Some(r),
            _ => None,
        };
        let go_on = Box::pin(self.apply_answer(slot, detail, |t| {
            match (step, &r) {
                (PayStep::Success, Some(r)) => {
                    t.transition(Status::Success).ok()?;
                    t.trade_no.clone_from(&r.trade_no);
                    t.buyer_logon_id.clone_from(&r.buyer_logon_id);
                    t.receipt_amount = r.receipt_amount;
                    t.gmt_payment.clone_from(&r.gmt_payment);
                    t.code = Some(r.code.clone());
                }
                (PayStep::Poll, r) => {
                    t.phase = Phase::Polling;
                    if let Some(r) = r {
                        t.trade_no.clone_from(&r.trade_no);
                    }
                }
                (PayStep::Fail, Some(r)) => {
                    t.transition(Status::Failed).ok()?;
                    t.code = Some(r.code.clone());
                    t.sub_code.clone_from(&r.sub_code);
                    t.sub_msg = super::scrubbed(&r.sub_msg);
                }
                _ => t.phase = Phase::Resolving,
            }
            Some(())
        }))
        .await;
        drop(sending);
        boundary("pay_after_answer_committed");
        go_on.map(|_| step)
    }

    /// Whether an answer names the trade's out_trade_no and total_amount
    /// (where it gives them). A mismatch is journaled as an incident and
    /// counted; the answer is then treated as unknown.
    pub(super) fn tied(
        &self,
        t: &Trade,
        method: &str,
        out_trade_no: Option<&str>,
        total: Option<Money>,
    ) -> bool {
        let no_ok = out_trade_no.map_or(true, |n| n == t.out_trade_no);
        let amount_ok = total.map_or(true, |a| a == t.total_amount);
        if no_ok && amount_ok {
            return true;
        }
        tracing::error!(method, answered_out_trade_no = ?out_trade_no, answered_total = ?total.map(|m| m.to_wire()),
            "gateway answer does not match its request; treated as unknown");
        self.metrics
            .inc("payswitch_answer_mismatches_total", &[("method", method)]);
        self.note_writes(vec![Write::Incident(Incident {
            app_id: t.app_id.clone(),
            out_trade_no: t.out_trade_no.clone(),
            at_ms: now_ms(),
            kind: "answer_mismatch".into(),
            detail: json!({
                "method": method,
                "expected": {"out_trade_no": t.out_trade_no, "total_amount": t.total_amount.to_wire()},
                "answered": {"out_trade_no": out_trade_no, "total_amount": total.map(|m| m.to_wire())},
            })
            .to_string(),
        })]);
        false
    }

    /// Journals a gateway answer and applies `f` to the trade, unless the
    /// trade is final or a cancel is in doubt (then only the cancel's answer
    /// decides). `Some(trade)` when the flow should go on.
    pub(super) async fn apply_answer<F>(
        &self,
        slot: &Slot,
        detail: serde_json::Value,
        mut f: F,
    ) -> Option<Trade>
    where
        F: FnMut(&mut Trade) -> Option<()>,
    {
        let t = self
            .update(slot, |t| {
                if t.phase != Phase::CancelPending && !t.status.is_final() {
                    let mut changed = t.clone();
                    if f(&mut changed).is_some() {
                        *t = changed;
                    }
                }
                Some(vec![ev(t, "gateway_answer", detail.clone())])
            })
            .await
            .ok()?;
        (t.phase != Phase::CancelPending && !t.status.is_final()).then_some(t)
    }

    /// alipay.trade.query, journaled (in the background) and classified.
    pub(super) async fn query(&self, slot: &Slot) -> Queried {
        let t = slot.published();
        let biz = super::trade_ref_biz(&t.out_trade_no);
        let out = self
            .gw
            .call::<QueryResponse>(Method::TradeQuery, &biz, false)
            .await;
        self.note(
            &t,
            "gateway_answer",
            answer_detail("alipay.trade.query", &out),
        );
        match out {
            Outcome::Answer(q) => {
                let tied = q.code != protocol::Code::Success.as_str()
                    || self.tied(
                        &t,
                        "alipay.trade.query",
                        q.out_trade_no.as_deref(),
                        q.total_amount,
                    );
                let seen = policy::query_seen(
                    Reply::answer(&q.code, q.sub_code.as_deref()),
                    q.trade_status.as_deref(),
                    tied,
                );
                Queried {
                    seen,
                    answer: Some(Box::new(q)),
                }
            }
            Outcome::Unknown(_) => Queried {
                seen: Seen::Unknown,
                answer: None,
            },
        }
    }

    /// Applies a definite query result (`to`: SUCCESS or CLOSED) unless a
    /// cancel is in doubt; returns whether the trade is now final.
    pub(super) async fn apply_seen(&self, slot: &Slot, q: &Queried, to: Status) -> bool {
        let r = self
            .update(slot, |t| {
                if t.phase == Phase::CancelPending || t.status.is_final() {
                    return None;
                }
                t.transition(to).ok()?;
                if let Some(a) = &q.answer {
                    apply_query(t, a);
                }
                if to == Status::Success {
                    t.code = Some(protocol::Code::Success.as_str().into());
                }
                Some(vec![])
            })
            .await;
        matches!(r, Ok(t) if t.status.is_final())
    }

    fn should_stop(t: &Trade) -> bool {
        t.status.is_final() || t.phase == Phase::CancelPending
    }

    /// Query, query once more, then cancel (20000 / time-out policy).
    pub(super) async fn resolve_unknown(&self, slot: &Slot) {
        let mut done = 0;
        loop {
            if Self::should_stop(&slot.published()) {
                return;
            }
            let q = self.query(slot).await;
            done += 1;
            match policy::resolve_after_query(q.seen, done) {
                QueryStep::Final(st) => {
                    if self.apply_seen(slot, &q, st).await {
                        return;
                    }
                    // A cancel got in meanwhile: it decides.
                    return;
                }
                QueryStep::Poll => {
                    let _ = self
                        .update(slot, |t| {
                            if Self::should_stop(t) {
                                return None;
                            }
                            t.phase = Phase::Polling;
                            Some(vec![])
                        })
                        .await;
                    let n = self.cfg.policy.poll_count;
                    return self.poll_then_cancel(slot, n).await;
                }
                QueryStep::Again => {
                    let d = self.cfg.policy.poll_interval.min(Duration::from_secs(1));
                    if !self.pause(d).await {
                        return;
                    }
                }
                QueryStep::Cancel => return self.cancel_until_definite(slot).await,
            }
        }
    }

    /// 10003: query every interval up to `count` times, then cancel.
    pub(super) async fn poll_then_cancel(&self, slot: &Slot, count: u32) {
        for done in 1..=count {
            if !self.pause(self.cfg.policy.poll_interval).await {
                return;
            }
            if Self::should_stop(&slot.published()) {
                return;
            }
            let q = self.query(slot).await;
            match policy::poll_after_query(q.seen, done, count) {
                QueryStep::Final(st) => {
                    Box::pin(self.apply_seen(slot, &q, st)).await;
                    return;
                }
                QueryStep::Again | QueryStep::Poll => {}
                QueryStep::Cancel => break,
            }
        }
        Box::pin(self.cancel_until_definite(slot)).await;
    }
}

/// Copies what a query tells about the payment into the trade.
pub(super) fn apply_query(t: &mut Trade, q: &QueryResponse) {
    if q.trade_no.is_some() {
        t.trade_no.clone_from(&q.trade_no);
    }
    if q.buyer_logon_id.is_some() {
        t.buyer_logon_id.clone_from(&q.buyer_logon_id);
    }
    if q.receipt_amount.is_some() {
        t.receipt_amount = q.receipt_amount;
    }
    if q.send_pay_date.is_some() && t.gmt_payment.is_none() {
        t.gmt_payment.clone_from(&q.send_pay_date);
    }
}
