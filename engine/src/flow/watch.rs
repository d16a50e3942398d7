//! The late-landing watch: a trade the terminal was told CLOSED while the
//! switch's own request may still land at the gateway (a cancel that did
//! not find it, a paid notification for a CLOSED or FAILED trade). It is
//! queried at the configured offsets (5 s, 30 s, 2 min, 10 min by default);
//! a payment found booked is undone: cancelled (the money goes back to the
//! buyer), or refunded in full once the gateway's 24 h cancel limit has
//! passed. Journaled and counted (`payswitch_late_landings_total`). The
//! trade's status stays what the terminal was told. A watch that cannot
//! do its job ends with an incident for a person, counted in
//! `payswitch_late_landing_watch_gave_up_total{kind}`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use protocol::biz::{to_biz_content, RefundBiz};
use protocol::response::{CancelResponse, RefundResponse};
use protocol::Method;
use serde_json::json;

use super::policy::{self, Reply, UndoStep, WatchStep};
use super::{answer_detail, ev, Flows, Slot};
use crate::gateway::Outcome;
use crate::store::{Incident, Write};
use crate::trade::{now_ms, LateWatch, Phase};

/// Undos of one trade after which the watch stops and reports an incident.
const MAX_UNDOS: u32 = 3;

/// The out_request_no of the refund that undoes a late landing past the
/// cancel limit (at most 64 characters, like every out_request_no): `LL`
/// and the first 60 bytes of the gateway's out_trade_no. Deterministic, so
/// that a repeated undo is the same refund at the gateway.
pub fn undo_request_no(out_trade_no: &str) -> String {
    let keep = out_trade_no.len().min(60);
    format!("LL{}", &out_trade_no[..keep])
}

impl Flows {
    /// Starts (in its own task) the watch of a trade in phase Watching;
    /// `check_now` queries at once (a paid notification for a CLOSED trade).
    pub(super) fn start_watch(&self, slot: &Slot, check_now: bool) {
        let no = slot.published().out_trade_no;
        let (Some(me), Some(slot)) = (self.self_ref(), self.trades.get(&no).map(|s| s.clone()))
        else {
            return;
        };
        let me2 = me.clone();
        me.spawn(&no, async move { me2.run_watch(slot, check_now).await });
    }

    /// Puts a final trade under watch and checks at once: a paid
    /// notification said the gateway holds money the switch does not. A
    /// watch already running is woken to check at once.
    pub(super) async fn watch_now(&self, slot: &Slot) {
        let mut started = false;
        let mut poked = false;
        let r = self
            .update(slot, |t| {
                if !t.status.is_final() {
                    // Not final: the flow still decides.
                    return None;
                }
                if t.phase == Phase::Watching {
                    // Under the lock: a watch about to end sees it.
                    slot.watch_poke.store(true, Ordering::Release);
                    poked = true;
                    return None;
                }
                started = true;
                t.phase = Phase::Watching;
                t.watch = Some(LateWatch {
                    started_ms: now_ms(),
                    checks_done: 0,
                    undone: t.watch.map_or(0, |w| w.undone),
                });
                Some(vec![ev(
                    t,
                    "late_landing_watch",
                    json!({"reason": "notification"}),
                )])
            })
            .await;
        if poked {
            slot.watch_wake.notify_one();
        } else if r.is_ok() && started {
            self.start_watch(slot, true);
        }
    }

    async fn run_watch(self: Arc<Self>, slot: Arc<Slot>, check_now: bool) {
        let offsets = self.cfg.policy.late_landing_checks_ms.clone();
        let mut retry = self.cfg.policy.unknown_retry_initial;
        // Query without waiting for the next offset.
        let mut immediate = check_now;
        // Whether the next query is a scheduled check (a definite "nothing
        // booked" then uses it up); an extra or repeated query is not.
        let mut scheduled = !check_now;
        loop {
            let t = slot.published();
            let (Phase::Watching, Some(w)) = (t.phase, t.watch) else {
                return;
            };
            if !immediate {
                let Some(at) = policy::watch_check_at(w.started_ms, &offsets, w.checks_done) else {
                    // The window has passed: nothing can land any more,
                    // unless a paid notification poked the watch meanwhile.
                    let mut poked = false;
                    let _ = self
                        .update(&slot, |t| {
                            if slot.watch_poke.load(Ordering::Acquire) {
                                poked = true;
                                return None;
                            }
                            t.phase = Phase::Idle;
                            Some(vec![ev(
                                t,
                                "late_landing_watch_done",
                                json!({"checks": w.checks_done}),
                            )])
                        })
                        .await;
                    if poked {
                        immediate = true;
                        scheduled = false;
                        continue;
                    }
                    return;
                };
                let woken = tokio::select! {
                    go_on = self.pause_until(at) => {
                        if !go_on {
                            return;
                        }
                        false
                    }
                    _ = slot.watch_wake.notified() => true,
                };
                scheduled = !woken;
            }
            immediate = false;
            slot.watch_poke.store(false, Ordering::Release);
            let q = self.query(&slot).await;
            match policy::watch_after_query(q.seen) {
                WatchStep::Continue => {
                    retry = self.cfg.policy.unknown_retry_initial;
                    if std::mem::take(&mut scheduled) {
                        let _ = self
                            .update(&slot, |t| {
                                let w = t.watch.as_mut()?;
                                w.checks_done += 1;
                                Some(vec![])
                            })
                            .await;
                    }
                }
                WatchStep::Retry if now_ms() - w.started_ms > policy::WATCH_GIVE_UP_MS => {
                    tracing::error!(out_trade_no = %t.out_trade_no, "late-landing watch: no answer from the gateway for 23 h; giving up");
                    self.give_up_watch(
                        &slot,
                        "late_landing_watch_unanswered",
                        json!({"checks_done": w.checks_done}),
                    )
                    .await;
                    return;
                }
                WatchStep::Retry => {
                    // The check did not happen: repeat it after a back-off.
                    if !self.pause(retry).await {
                        return;
                    }
                    retry = (retry * 2).min(self.cfg.policy.unknown_retry_max);
                    immediate = true;
                }
                WatchStep::Done => {
                    let _ = self
                        .update(&slot, |t| {
                            t.phase = Phase::Idle;
                            Some(vec![ev(
                                t,
                                "late_landing_watch_done",
                                json!({"gateway": protocol::TradeStatus::TradeClosed.as_str()}),
                            )])
                        })
                        .await;
                    return;
                }
                WatchStep::Undo if w.undone >= MAX_UNDOS => {
                    // Undone before, yet the gateway still shows money: a
                    // person must look (the incident says so).
                    tracing::error!(out_trade_no = %t.out_trade_no, "late landing undone {MAX_UNDOS} times but still booked; giving up");
                    self.give_up_watch(
                        &slot,
                        "late_landing_not_undone",
                        json!({"undone": w.undone}),
                    )
                    .await;
                    return;
                }
                WatchStep::Undo => {
                    tracing::error!(out_trade_no = %t.out_trade_no, status = t.status.as_str(),
                        "late landing: the gateway booked a payment the terminal was told is not paid; undoing it");
                    if !self.undo_late_landing(&slot).await {
                        return;
                    }
                    // Check again at once: the next query sees TRADE_CLOSED.
                    immediate = true;
                    scheduled = false;
                }
            }
        }
    }

    /// Ends a watch that cannot do its job, with an incident for a person.
    async fn give_up_watch(&self, slot: &Slot, kind: &str, detail: serde_json::Value) {
        self.metrics.inc(
            "payswitch_late_landing_watch_gave_up_total",
            &[("kind", kind)],
        );
        let _ = self
            .update(slot, |t| {
                t.phase = Phase::Idle;
                Some(vec![Write::Incident(Incident {
                    app_id: t.app_id.clone(),
                    out_trade_no: t.out_trade_no.clone(),
                    at_ms: now_ms(),
                    kind: kind.to_owned(),
                    detail: detail.to_string(),
                })])
            })
            .await;
    }

    /// Cancels (or, past the cancel limit, refunds in full) a payment the
    /// gateway booked for a trade the terminal was told is not paid. False
    /// when the switch stops first.
    async fn undo_late_landing(&self, slot: &Slot) -> bool {
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        loop {
            let t = slot.published();
            let biz = super::trade_ref_biz(&t.out_trade_no);
            let out = self
                .gw
                .call::<CancelResponse>(Method::TradeCancel, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.cancel", &out);
            let step = match &out {
                Outcome::Answer(c) => {
                    let reply = Reply::answer(&c.code, c.sub_code.as_deref());
                    policy::undo_after_cancel(
                        reply,
                        policy::cancel_seen(reply, c.action.as_deref(), c.retry_flag.as_deref()),
                    )
                }
                Outcome::Unknown(_) => UndoStep::Retry,
            };
            match step {
                UndoStep::Done => return self.late_landing_undone(slot, "cancel", detail).await,
                UndoStep::Refund => {
                    self.note(&t, "gateway_answer", detail);
                    return self.undo_by_refund(slot).await;
                }
                UndoStep::Retry => self.note(&t, "gateway_answer", detail),
            }
            if !self.pause(backoff).await {
                return false;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
    }

    async fn undo_by_refund(&self, slot: &Slot) -> bool {
        let mut backoff = self.cfg.policy.unknown_retry_initial;
        loop {
            let t = slot.published();
            let biz = to_biz_content(&RefundBiz {
                out_trade_no: Some(t.out_trade_no.clone()),
                trade_no: None,
                refund_amount: t.total_amount,
                out_request_no: Some(undo_request_no(&t.out_trade_no)),
                refund_reason: Some("late landing undone by the switch".into()),
                operator_id: None,
                store_id: None,
                terminal_id: None,
            });
            let out = self
                .gw
                .call::<RefundResponse>(Method::TradeRefund, &biz, false)
                .await;
            let detail = answer_detail("alipay.trade.refund", &out);
            if let Outcome::Answer(a) = &out {
                let reply = Reply::answer(&a.code, a.sub_code.as_deref());
                // fund_change N on a repeat of the same out_request_no: done earlier.
                if policy::refund_answer(reply, a.fund_change.as_deref())
                    != policy::RefundStep::Failed
                    && a.code == protocol::Code::Success.as_str()
                {
                    return self.late_landing_undone(slot, "refund", detail).await;
                }
            }
            self.note(&t, "gateway_answer", detail);
            if !self.pause(backoff).await {
                return false;
            }
            backoff = (backoff * 2).min(self.cfg.policy.unknown_retry_max);
        }
    }

    async fn late_landing_undone(&self, slot: &Slot, how: &str, detail: serde_json::Value) -> bool {
        self.metrics
            .inc("payswitch_late_landings_total", &[("undone_by", how)]);
        self.update(slot, |t| {
            if let Some(w) = t.watch.as_mut() {
                w.undone += 1;
            }
            Some(vec![ev(
                t,
                "late_landing_undone",
                json!({"by": how, "answer": detail, "status_kept": t.status.as_str()}),
            )])
        })
        .await
        .is_ok()
    }
}
