//! Cancel and close: the terminal's requests, and the cancel loop that every
//! flow ends in when its outcome stays unknown. Only a cancel answer that
//! names its action (or a query showing TRADE_CLOSED) proves a trade closed;
//! a cancel that does not find the trade while the switch's own request may
//! still land closes it for the terminal and starts the late-landing watch.

use std::sync::Arc;
use std::time::Duration;

use protocol::response::{CancelResponse, CloseResponse};
use protocol::Method;
use serde_json::json;
use tokio::sync::OwnedMutexGuard;

use super::policy::{self, CancelStep, CloseStep, Reply};
use super::{answer_detail, boundary, ev, still_open, FlowError, Flows, Slot};
use crate::config::TerminalConfig;
use crate::gateway::Outcome;
use crate::trade::{now_ms, LateWatch, Phase, Status, Trade};

/// How long a terminal's cancel or close waits for the trade to settle.
const TERMINAL_WAIT: Duration = Duration::from_secs(30);

/// What `mark_cancel_pending` did.
pub(super) enum Marked {
    /// "cancel pending" is journaled: send the cancel (or close).
    Pending,
    /// The pay or precreate had not been sent: it never will be; CLOSED.
    StoppedBeforeSend,
    /// Final already, or a cancel is already in doubt.
    Nothing,
}

/// A cancel or close that finds the trade paid (the payment won the race,
/// or the gateway refused the cancel of a paid trade) answers as
/// [`still_open`] does: SUCCESS is final; reverse it with a refund.
fn paid_is_refused(t: Trade) -> Result<Trade, FlowError> {
    still_open(&t)?;
    Ok(t)
}

impl Flows {
    /// POST /v1/trades/{no}/cancel: journals "cancel pending", starts the
    /// cancel loop (alipay.trade.cancel until a definite answer) and waits
    /// up to 30 s for the trade to settle. A trade that is final already is
    /// answered as it stands; a pay not yet sent is closed and never sent.
    ///
    /// # Errors
    /// [`FlowError::NotFound`] when there is no such trade or `term` may not
    /// see it; [`FlowError::NotAllowed`] when the trade is paid (SUCCESS is
    /// final; reverse it with a refund), also when the payment wins the race
    /// with this request; [`FlowError::Store`] when the journal cannot be
    /// read.
    pub async fn cancel(
        self: &Arc<Self>,
        term: &TerminalConfig,
        no: &str,
    ) -> Result<Trade, FlowError> {
        let (slot, t) = self.visible_slot(term, no).await?;
        if !still_open(&t)? {
            return Ok(t);
        }
        // Mark "cancel pending" before answering, so the answer is never the
        // state from before the cancel.
        if let Ok(guard) = slot.cancel_running.clone().try_lock_owned() {
            if let Marked::Pending = self.mark_cancel_pending(&slot, "cancel_sending").await {
                let me = self.clone();
                let s2 = slot.clone();
                self.spawn(no, async move { me.cancel_loop(&s2, guard).await });
            }
        }
        paid_is_refused(slot.wait_settled(TERMINAL_WAIT).await)
    }

    /// POST /v1/trades/{no}/close: alipay.trade.close; anything but a clean
    /// close falls back to the cancel policy. Waits up to 30 s for the trade
    /// to settle, as [`Flows::cancel`] does.
    ///
    /// # Errors
    /// [`FlowError::NotFound`] when there is no such trade or `term` may not
    /// see it; [`FlowError::NotAllowed`] when the trade is paid (SUCCESS is
    /// final; reverse it with a refund), also when the payment wins the race
    /// with this request; [`FlowError::Store`] when the journal cannot be
    /// read.
    pub async fn close(
        self: &Arc<Self>,
        term: &TerminalConfig,
        no: &str,
    ) -> Result<Trade, FlowError> {
        let (slot, t) = self.visible_slot(term, no).await?;
        if !still_open(&t)? {
            return Ok(t);
        }
        let Ok(guard) = slot.cancel_running.clone().try_lock_owned() else {
            return Ok(slot.wait_settled(TERMINAL_WAIT).await);
        };
        if let Marked::Pending = self.mark_cancel_pending(&slot, "close_sending").await {
            let me = self.clone();
            let s2 = slot.clone();
            self.spawn(no, async move { me.close_then_cancel(&s2, guard).await });
        }
        paid_is_refused(slot.wait_settled(TERMINAL_WAIT).await)
    }

    /// alipay.trade.close; anything but 10000 goes on as a cancel.
    pub(super) async fn close_then_cancel(&self, slot: &Slot, guard: OwnedMutexGuard<()>) {
        slot.wait_send_done().await;
        let t = slot.published();
        let biz = super::trade_ref_biz(&t.out_trade_no);
        boundary("cancel_after_send_committed");
        let out = self
            .gw
            .call::<CloseResponse>(Method::TradeClose, &biz, false)
            .await;
        boundary("cancel_after_send");
        let detail = answer_detail("alipay.trade.close", &out);
        let reply = match &out {
            Outcome::Answer(c) => Reply::answer(&c.code, c.sub_code.as_deref()),
            Outcome::Unknown(_) => Reply::Lost,
        };
        if policy::close_answer(reply) == CloseStep::Closed {
            let _ = self
                .update(slot, |t| {
                    t.transition(Status::Closed).ok()?;
                    Some(vec![ev(t, "gateway_answer", detail.clone())])
                })
                .await;
            boundary("cancel_after_answer_committed");
            return;
        }
        self.note(&t, "gateway_answer", detail);
        // Fall back to cancel (works whether or not the trade exists yet);
        // the trade stays "cancel pending" until it answers.
        self.cancel_loop(slot, guard).await;
    }

    /// Journals "cancel pending", then cancels until the gateway gives a
    /// definite answer. One cancel loop per trade at a time.
    pub(crate) async fn cancel_until_definite(&self, slot: &Slot) {
        let Ok(guard) = slot.cancel_running.clone().try_lock_owned() else {
            return; // another task is cancelling this trade
        };
        match self.mark_cancel_pending(slot, "cancel_sending").await {
            Marked::Pending => self.cancel_loop(slot, guard).await,
            Marked::StoppedBeforeSend | Marked::Nothing => {}
        }
    }

    /// Commits phase CancelPending (before any cancel or close is sent). A
    /// trade whose pay or precreate has not left yet is closed instead, and
    /// its request is never sent.
    pub(super) async fn mark_cancel_pending(&self, slot: &Slot, what: &str) -> Marked {
        let mut stopped = false;
        let r = self
            .update(slot, |t| {
                if t.status.is_final() || t.phase == Phase::CancelPending {
                    return None;
                }
                // Read under the trade's lock, where `begin_send` sets it.
                if t.phase == Phase::Sending && !slot.on_wire() {
                    t.transition(Status::Closed).ok()?;
                    t.never_sent = true;
                    stopped = true;
                    return Some(vec![ev(
                        t,
                        "stopped_before_send",
                        json!({"by": what, "sent": false}),
                    )]);
                }
                t.phase = Phase::CancelPending;
                Some(vec![ev(t, what, json!({}))])
            })
            .await;
        match r {
            Ok(_) if stopped => Marked::StoppedBeforeSend,
            Ok(t) if t.phase == Phase::CancelPending => Marked::Pending,
            _ => Marked::Nothing,
        }
    }

    pub(super) async fn cancel_loop(&self, slot: &Slot, _guard: OwnedMutexGuard<()>) {
        slot.wait_send_done().await;
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        let mut failures = 0u32;
        loop {
            let t = slot.published();
            if t.status.is_final() {
                return;
            }
            let may_land = policy::may_land(t.kind, t.never_sent);
            let biz = super::trade_ref_biz(&t.out_trade_no);
            boundary("cancel_after_send_committed");
            let out = self
                .gw
                .call::<CancelResponse>(Method::TradeCancel, &biz, false)
                .await;
            boundary("cancel_after_send");
            let detail = answer_detail("alipay.trade.cancel", &out);
            let (reply, seen) = match &out {
                Outcome::Answer(c) => {
                    let reply = Reply::answer(&c.code, c.sub_code.as_deref());
                    (
                        reply,
                        policy::cancel_seen(reply, c.action.as_deref(), c.retry_flag.as_deref()),
                    )
                }
                Outcome::Unknown(_) => (Reply::Lost, policy::CancelSeen::Retry),
            };
            let _ = reply;
            if seen == policy::CancelSeen::Retry {
                failures += 1;
            }
            let mut step = policy::cancel_next(seen, may_land, failures);
            let trade_no = match &out {
                Outcome::Answer(c) => c.trade_no.clone(),
                Outcome::Unknown(_) => None,
            };
            if step == CancelStep::Query {
                // The cancel was refused: it did not happen. Learn the truth by query.
                self.note(&t, "gateway_answer", detail.clone());
                let q = self.query(slot).await;
                if policy::refused_cancel_is_paid(q.seen) {
                    let r = self
                        .update(slot, |t| {
                            t.transition(Status::Success).ok()?;
                            if let Some(a) = &q.answer {
                                super::pay::apply_query(t, a);
                            }
                            t.code = Some(protocol::Code::Success.as_str().into());
                            Some(vec![ev(t, "cancel_refused_trade_paid", json!({}))])
                        })
                        .await;
                    if r.is_ok() {
                        return;
                    }
                }
                step = policy::refused_cancel_after_query(q.seen, may_land);
            }
            match step {
                CancelStep::Closed | CancelStep::ClosedAndWatch => {
                    let watch = step == CancelStep::ClosedAndWatch;
                    let r = self
                        .update(slot, |t| {
                            t.transition(Status::Closed).ok()?;
                            if trade_no.is_some() {
                                t.trade_no.clone_from(&trade_no);
                            }
                            if watch {
                                t.phase = Phase::Watching;
                                t.watch = Some(LateWatch {
                                    started_ms: now_ms(),
                                    checks_done: 0,
                                    undone: 0,
                                });
                            }
                            Some(vec![ev(t, "gateway_answer", detail.clone())])
                        })
                        .await;
                    boundary("cancel_after_answer_committed");
                    if watch && r.is_ok() {
                        self.start_watch(slot, false);
                    }
                    return;
                }
                CancelStep::Retry { unknown } => {
                    let _ = self
                        .update(slot, |t| {
                            if unknown && t.status != Status::Unknown {
                                t.transition(Status::Unknown).ok()?;
                            }
                            Some(vec![ev(t, "gateway_answer", detail.clone())])
                        })
                        .await;
                }
                CancelStep::Query => {}
            }
            if !self.pause(backoff).await {
                return;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
    }
}
