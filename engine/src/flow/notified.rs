//! Applies a verified notification (`trade_status_sync`) once.
//!
//! A notification moves a trade only when its app_id, seller_id (when
//! configured), out_trade_no and total_amount (required) all match. Anything
//! else is an incident (its own table, with the raw form), counted in
//! `payswitch_notify_incidents_total{kind}` and logged at error level; a
//! paid notification for a trade the switch holds CLOSED or FAILED also
//! starts the undo of a late landing. A notification for an out_trade_no the
//! switch never saw is journaled as an orphan. Every case is journaled
//! before the caller answers `success`.

use serde_json::json;

use super::policy::{self, Held, IncidentKind, NotifiedStatus, NotifyFacts, NotifyStep};
use super::{ev, FlowError, Flows};
use crate::store::{Event, Incident, Write};
use crate::trade::{now_ms, Phase, Status};

/// What became of a notification (for the metric's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// It moved the trade (its status, and the payment's fields when paid).
    Applied,
    /// Journaled only: the trade stays as it is (a repeat, a state the
    /// trade has passed, or a cancel in doubt that only its answer decides).
    Duplicate,
    /// Journaled as an incident of that kind, the trade's status unchanged:
    /// its facts do not match the trade (app_id, seller_id, amount...), or
    /// it says paid for a trade held CLOSED or FAILED (then the undo of the
    /// late landing starts).
    Incident(IncidentKind),
    /// For an out_trade_no the switch never saw: journaled as an orphan.
    Orphan,
}

impl Notified {
    /// The `result` label of `payswitch_notifications_total`: `applied`,
    /// `journaled`, `incident` or `orphan`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Notified::Applied => "applied",
            Notified::Duplicate => "journaled",
            Notified::Incident(_) => "incident",
            Notified::Orphan => "orphan",
        }
    }
}

impl Flows {
    /// Journals a verified notification and applies it once. `Err` only when
    /// the journal cannot take it (the gateway then retries). Called by
    /// [`crate::notify::receive`] once the signature has verified.
    ///
    /// # Errors
    /// [`FlowError::JournalUnavailable`] when the notification's commit
    /// fails (it is not retried here: the gateway retries what was not
    /// answered `success`); [`FlowError::Store`] when the trade cannot be
    /// read from the journal, or its change cannot be committed before the
    /// switch stops.
    pub async fn notified(&self, n: &protocol::Notification) -> Result<Notified, FlowError> {
        use protocol::TradeStatus as TS;
        let raw: serde_json::Map<String, serde_json::Value> =
            n.raw.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let detail = json!({
            "notify_id": n.notify_id, "trade_status": n.trade_status.map(|s| s.as_str()),
            "trade_no": n.trade_no, "total_amount": n.total_amount.map(|m| m.to_wire()),
            "notify_time": n.notify_time,
        });
        let seller = n
            .raw
            .iter()
            .find(|(k, _)| k == "seller_id")
            .map(|(_, v)| v.as_str());
        let status = match n.trade_status {
            Some(TS::TradeSuccess) | Some(TS::TradeFinished) => NotifiedStatus::Paid,
            Some(TS::TradeClosed) => NotifiedStatus::Closed,
            Some(_) => NotifiedStatus::Waiting,
            None => NotifiedStatus::Missing,
        };
        let app_id_ok = n.app_id == self.app_id;
        let seller_ok = self
            .cfg
            .gateway
            .seller_id
            .as_deref()
            .map_or(true, |s| seller == Some(s));
        let slot = if app_id_ok {
            self.load_trade(&n.out_trade_no).await?
        } else {
            None
        };
        let held = match &slot {
            Some(s) => s.current().await,
            None => None,
        };
        let facts = NotifyFacts {
            app_id_ok,
            seller_ok,
            amount_ok: held
                .as_ref()
                .is_some_and(|t| n.total_amount == Some(t.total_amount)),
            status,
        };
        let step = policy::on_notification(
            held.as_ref().map(|t| Held {
                status: t.status,
                cancel_pending: t.phase == Phase::CancelPending,
            }),
            facts,
        );
        let incident = |kind: &str, expected: serde_json::Value| {
            Write::Incident(Incident {
                app_id: self.app_id.clone(),
                out_trade_no: n.out_trade_no.clone(),
                at_ms: now_ms(),
                kind: kind.to_owned(),
                detail: json!({"expected": expected, "form": raw}).to_string(),
            })
        };
        match step {
            NotifyStep::Orphan => {
                self.commit_journal(vec![
                    incident("orphan", json!(null)),
                    Write::Event(Event {
                        app_id: self.app_id.clone(),
                        out_trade_no: n.out_trade_no.clone(),
                        at_ms: now_ms(),
                        kind: "notification_unknown_trade".into(),
                        detail: detail.to_string(),
                    }),
                ])
                .await?;
                tracing::warn!(out_trade_no = %n.out_trade_no, "notification for a trade the switch never saw (orphan)");
                Ok(Notified::Orphan)
            }
            NotifyStep::Incident(kind) => {
                let expected = json!({
                    "app_id": self.app_id,
                    "seller_id": self.cfg.gateway.seller_id,
                    "total_amount": held.as_ref().map(|t| t.total_amount.to_wire()),
                });
                self.commit_journal(vec![incident(kind.as_str(), expected)])
                    .await?;
                self.incident_seen(kind, &n.out_trade_no);
                Ok(Notified::Incident(kind))
            }
            NotifyStep::IncidentAndUndo => {
                let kind = IncidentKind::PaidWhileClosed;
                let Some(slot) = slot else {
                    return Ok(Notified::Orphan);
                };
                let expected = json!({"status": held.as_ref().map(|t| t.status.as_str())});
                self.commit_journal(vec![incident(kind.as_str(), expected)])
                    .await?;
                self.incident_seen(kind, &n.out_trade_no);
                self.watch_now(&slot).await;
                Ok(Notified::Incident(kind))
            }
            NotifyStep::Journal | NotifyStep::Apply(_) => {
                let Some(slot) = slot else {
                    return Ok(Notified::Orphan);
                };
                let mut applied = false;
                self.update(&slot, |t| {
                    if let NotifyStep::Apply(st) = step {
                        // Re-checked under the lock: the trade may have moved.
                        let now = policy::on_notification(
                            Some(Held {
                                status: t.status,
                                cancel_pending: t.phase == Phase::CancelPending,
                            }),
                            facts,
                        );
                        if now == step && t.transition(st).is_ok() {
                            applied = true;
                            if st == Status::Success {
                                if n.trade_no.is_some() {
                                    t.trade_no.clone_from(&n.trade_no);
                                }
                                t.buyer_logon_id =
                                    n.buyer_logon_id.clone().or(t.buyer_logon_id.take());
                                t.receipt_amount = n.receipt_amount.or(t.receipt_amount);
                                t.gmt_payment = n.gmt_payment.clone().or(t.gmt_payment.take());
                                t.code = Some(protocol::Code::Success.as_str().into());
                            }
                        }
                    }
                    let mut d = detail.clone();
                    d["applied"] = json!(applied);
                    Some(vec![ev(t, "notification", d)])
                })
                .await?;
                Ok(if applied {
                    Notified::Applied
                } else {
                    Notified::Duplicate
                })
            }
        }
    }

    fn incident_seen(&self, kind: IncidentKind, out_trade_no: &str) {
        tracing::error!(
            out_trade_no,
            kind = kind.as_str(),
            "notification incident journaled"
        );
        self.metrics.inc(
            "payswitch_notify_incidents_total",
            &[("kind", kind.as_str())],
        );
    }

    /// One commit, not retried: the gateway retries a notification that
    /// was not answered `success`.
    async fn commit_journal(&self, writes: Vec<Write>) -> Result<(), FlowError> {
        match self.store.commit(writes).await {
            Ok(()) => {
                self.journal_ok();
                Ok(())
            }
            Err(e) => {
                self.journal_failed(&e);
                Err(FlowError::JournalUnavailable(e))
            }
        }
    }
}
