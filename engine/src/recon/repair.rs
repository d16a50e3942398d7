//! Settling what a query can settle: the effects of reconciliation.
//!
//! For each [`Candidate`] the comparison found, [`plan`] (pure) says which
//! gateway question to ask; the answer, seen through [`TradeView`] or
//! [`RefundView`], goes to [`decide`] (pure), which says what to do:
//! nothing more (resolved or open, with the reason), refund a payment the
//! terminal was told did not happen (the late-landing undo of the money
//! safety policy, with the switch's own undo out_request_no, so it can never
//! refund twice), or correct the journal to what the gateway holds. Every
//! repair is journaled before the request is sent and after its answer
//! ([`Repairer`]); nothing is changed silently.

use std::sync::Arc;

use protocol::biz::{to_biz_content, RefundBiz, RefundQueryBiz, TradeRefBiz};
use protocol::response::{QueryResponse, RefundQueryResponse, RefundResponse};
use protocol::{Code, Method, Money};
use serde_json::{json, Value};

use super::compare::{undo_request_no, Candidate, Class, Entry};
use crate::gateway::{Answer, Gateway, Outcome};
use crate::store::{Event, Incident, Store, StoreError, Write};
use crate::trade::{gateway_day, now_ms, RefundStatus, Status};

/// What alipay.trade.query said, as far as reconciliation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeView {
    /// TRADE_SUCCESS (refundable) or TRADE_FINISHED, paid on `day`.
    Paid {
        /// The gateway day of `send_pay_date` (`yyyy-MM-dd`), when given.
        day: Option<String>,
        /// The trade's `total_amount`, fen, when given.
        total_fen: Option<u64>,
        /// TRADE_FINISHED (no longer refundable) rather than TRADE_SUCCESS.
        finished: bool,
    },
    /// TRADE_CLOSED: not paid, or paid and refunded in full.
    Closed,
    /// WAIT_BUYER_PAY.
    Waiting,
    /// ACQ.TRADE_NOT_EXIST.
    NotExist,
    /// No usable answer (the reason).
    NoAnswer(String),
}

/// What alipay.trade.fastpay.refund.query said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundView {
    /// REFUND_SUCCESS on `day`.
    Done {
        /// The gateway day of `gmt_refund_pay` (`yyyy-MM-dd`), when given.
        day: Option<String>,
    },
    /// The gateway has no such refund (absent refund_status, or no trade).
    NotDone,
    /// No usable answer (the reason).
    NoAnswer(String),
}

/// The question a candidate needs answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Nothing to ask (a fee mismatch: the gateway's answer would not
    /// settle it).
    None,
    /// alipay.trade.query of the trade.
    Trade,
    /// alipay.trade.fastpay.refund.query of the refund.
    Refund,
}

/// What to do about a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No change; `resolved` says whether anyone must act.
    Note {
        /// Whether the difference is settled (no one must act).
        resolved: bool,
        /// What the report says about it.
        resolution: String,
    },
    /// The buyer paid a trade the terminal was told is not paid: refund it
    /// in full with the switch's undo out_request_no.
    Undo {
        /// The amount to refund, fen (the whole payment).
        amount_fen: u64,
    },
    /// The journal holds SUCCESS for a payment the gateway never took.
    CorrectTradeToClosed {
        /// What the report says about it.
        resolution: String,
    },
    /// The journal's refund status is not the gateway's.
    CorrectRefund {
        /// The gateway's status, which the journal takes.
        to: RefundStatus,
        /// What the report says about it.
        resolution: String,
    },
}

/// Which question settles a candidate (pure).
pub fn plan(c: &Candidate) -> Question {
    match (c.class, c.entry) {
        (Class::FeeMismatch, _) => Question::None,
        (Class::BillOnly, Entry::Refund) => Question::Refund,
        (_, Entry::Trade) => Question::Trade,
        (_, Entry::Refund) => Question::Refund,
    }
}

fn note(resolved: bool, resolution: impl Into<String>) -> Decision {
    Decision::Note {
        resolved,
        resolution: resolution.into(),
    }
}

/// What to do, given the candidate, the bill's date (`yyyy-MM-dd`) and the
/// answer to its [`plan`]ned question (None when not asked) (pure).
pub fn decide(
    c: &Candidate,
    date: &str,
    trade: Option<&TradeView>,
    refund: Option<&RefundView>,
) -> Decision {
    use Class::*;
    match (c.class, c.entry) {
        (FeeMismatch, _) => note(
            false,
            "the gateway's fee differs from the fee at the merchant's gateway_fee_bps: check the rate agreed with Alipay for this sub-merchant, then fix the merchant's gateway_fee_bps or raise it with Alipay",
        ),
        (AmountMismatch, Entry::Trade) => match trade {
            Some(TradeView::Paid { total_fen: Some(t), .. }) if *t == c.amount_fen => note(
                false,
                "the gateway's query agrees with the bill, not with the journal: the switch recorded another amount; investigate the trade's events",
            ),
            Some(TradeView::Paid { total_fen: Some(t), .. }) => note(
                false,
                format!(
                    "the gateway's query shows {} and agrees with the journal, not with the bill: raise the bill row with Alipay",
                    Money::from_fen(*t).to_wire()
                ),
            ),
            _ => note(false, "amounts differ and the gateway's query does not settle it"),
        },
        (AmountMismatch, Entry::Refund) => note(
            false,
            "the refund's amount differs between the bill and the journal: compare with fastpay.refund.query and raise it with Alipay",
        ),
        (StatusMismatch, Entry::Trade) => {
            let final_not_paid = matches!(c.journal_status, Some(Status::Closed | Status::Failed));
            match trade {
                Some(TradeView::Paid { finished: false, total_fen, .. }) if final_not_paid => {
                    Decision::Undo {
                        amount_fen: total_fen.unwrap_or(c.amount_fen),
                    }
                }
                Some(TradeView::Paid { finished: true, .. }) => note(
                    false,
                    "the buyer paid a trade the terminal was told is not paid, and the trade is past its refund period: pay the buyer back outside the gateway",
                ),
                Some(TradeView::Paid { .. }) => note(
                    false,
                    "the gateway has it paid while the switch is still resolving it: start the switch (recovery settles it) and reconcile the date again",
                ),
                Some(TradeView::Closed) => note(
                    true,
                    "paid, then reversed after the bill's day: the gateway shows it closed; the buyer has the money back",
                ),
                Some(TradeView::NoAnswer(why)) => {
                    note(false, format!("the gateway's query gave no answer ({why}): reconcile the date again"))
                }
                Some(v) => note(false, format!("the bill has it paid but the gateway's query says {v:?}: raise it with Alipay")),
                None => note(false, "not queried"),
            }
        }
        (StatusMismatch, Entry::Refund) => match refund {
            Some(RefundView::Done { .. }) => Decision::CorrectRefund {
                to: RefundStatus::Success,
                resolution: "the gateway made the refund; the journal now holds it as SUCCESS (tell the merchant if the terminal was told it failed)".into(),
            },
            Some(RefundView::NotDone) => note(
                false,
                "the bill has the refund but the gateway's refund query does not: raise it with Alipay",
            ),
            Some(RefundView::NoAnswer(why)) => {
                note(false, format!("the refund query gave no answer ({why}): reconcile the date again"))
            }
            None => note(false, "not queried"),
        },
        (JournalOnly, Entry::Trade) => match trade {
            Some(TradeView::Paid { day: Some(d), .. }) if d != date => note(
                true,
                format!("the gateway books the payment on {d}: it is reconciled with that day's bill"),
            ),
            Some(TradeView::Paid { .. }) => note(
                false,
                "the gateway's query shows it paid on this day but the bill lacks it: raise the missing row with Alipay",
            ),
            Some(TradeView::Closed | TradeView::NotExist | TradeView::Waiting) => {
                Decision::CorrectTradeToClosed {
                    resolution: "the gateway holds no payment: the journal's SUCCESS is corrected to CLOSED; tell the merchant that the goods went unpaid".into(),
                }
            }
            Some(TradeView::NoAnswer(why)) => {
                note(false, format!("the gateway's query gave no answer ({why}): reconcile the date again"))
            }
            None => note(false, "not queried"),
        },
        (JournalOnly, Entry::Refund) => match refund {
            Some(RefundView::Done { day: Some(d) }) if d != date => note(
                true,
                format!("the gateway books the refund on {d}: it is reconciled with that day's bill"),
            ),
            Some(RefundView::Done { .. }) => note(
                false,
                "the gateway's refund query shows it done but the bill lacks it: raise the missing row with Alipay",
            ),
            Some(RefundView::NotDone) => Decision::CorrectRefund {
                to: RefundStatus::Failed,
                resolution: "the gateway made no such refund: the journal's SUCCESS is corrected to FAILED; tell the merchant the buyer was not refunded".into(),
            },
            Some(RefundView::NoAnswer(why)) => {
                note(false, format!("the refund query gave no answer ({why}): reconcile the date again"))
            }
            None => note(false, "not queried"),
        },
        (BillOnly, Entry::Trade) => match trade {
            Some(TradeView::NotExist) => note(
                false,
                "neither the switch nor the gateway's query knows this trade: raise the bill row with Alipay",
            ),
            Some(TradeView::Paid { .. } | TradeView::Closed | TradeView::Waiting) => note(
                false,
                "the gateway has a trade the switch never saw (made outside the switch with this app): find who made it; refund it if no merchant claims it",
            ),
            Some(TradeView::NoAnswer(why)) => {
                note(false, format!("the gateway's query gave no answer ({why}): reconcile the date again"))
            }
            None => note(false, "not queried"),
        },
        (BillOnly, Entry::Refund) => note(
            false,
            "the gateway has a refund the switch never asked for: find who made it (the merchant's back office?)",
        ),
    }
}

fn trade_view(out: &Outcome<QueryResponse>) -> TradeView {
    match out {
        Outcome::Unknown(why) => TradeView::NoAnswer(why.clone()),
        Outcome::Answer(a) if a.code == Code::Success.as_str() => {
            use protocol::TradeStatus as G;
            match a.trade_status.as_deref().and_then(G::parse) {
                Some(s @ (G::TradeSuccess | G::TradeFinished)) => TradeView::Paid {
                    day: a.send_pay_date.as_deref().map(|d| gateway_day(Some(d), 0)),
                    total_fen: a.total_amount.map(Money::fen),
                    finished: s == G::TradeFinished,
                },
                Some(G::TradeClosed) => TradeView::Closed,
                Some(G::WaitBuyerPay) => TradeView::Waiting,
                None => TradeView::NoAnswer(format!("trade_status {:?}", a.trade_status)),
            }
        }
        Outcome::Answer(a) if a.sub_code() == Some(protocol::codes::sub::ACQ_TRADE_NOT_EXIST) => {
            TradeView::NotExist
        }
        Outcome::Answer(a) => TradeView::NoAnswer(format!(
            "{} {}",
            a.code,
            a.sub_code.as_deref().unwrap_or("")
        )),
    }
}

fn refund_view(out: &Outcome<RefundQueryResponse>) -> RefundView {
    match out {
        Outcome::Unknown(why) => RefundView::NoAnswer(why.clone()),
        Outcome::Answer(a) if a.code == Code::Success.as_str() => {
            if a.refund_status.as_deref() == Some("REFUND_SUCCESS")
                || (a.refund_status.is_none() && a.refund_amount.is_some())
            {
                RefundView::Done {
                    day: a.gmt_refund_pay.as_deref().map(|d| gateway_day(Some(d), 0)),
                }
            } else {
                RefundView::NotDone
            }
        }
        Outcome::Answer(a) if a.sub_code() == Some(protocol::codes::sub::ACQ_TRADE_NOT_EXIST) => {
            RefundView::NotDone
        }
        Outcome::Answer(a) => RefundView::NoAnswer(format!(
            "{} {}",
            a.code,
            a.sub_code.as_deref().unwrap_or("")
        )),
    }
}

/// A difference after the repair step: what the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The difference as the comparison found it.
    pub candidate: Candidate,
    /// Whether it is settled (no one must act); open otherwise.
    pub resolved: bool,
    /// What the report says about it: how it was settled, or what to do.
    pub resolution: String,
    /// What the repair did at the gateway or in the journal, if anything.
    pub repair: Option<Value>,
}

/// Why a repair could not be recorded: the journal failed (the run stops);
/// the field is the journal's error.
#[derive(Debug, thiserror::Error)]
#[error("the journal refused the reconciliation's record: {0}")]
pub struct RepairError(#[from] pub StoreError);

/// Runs the questions and repairs (see the module doc).
pub struct Repairer {
    /// The gateway the questions and undo refunds go to.
    pub gw: Arc<Gateway>,
    /// The journal the repairs are recorded in (before and after each).
    pub store: Arc<dyn Store>,
    /// The reconciled app.
    pub app_id: String,
    /// The bill date, `yyyy-MM-dd`.
    pub date: String,
    /// At most this many gateway questions per run (then: open, "not queried").
    pub max_queries: usize,
}

impl Repairer {
    async fn record(&self, writes: Vec<Write>) -> Result<(), RepairError> {
        self.store.commit(writes).await.map_err(RepairError)
    }

    fn event(&self, no: &str, kind: &str, detail: Value) -> Write {
        Write::Event(Event {
            app_id: self.app_id.clone(),
            out_trade_no: no.to_owned(),
            at_ms: now_ms(),
            kind: kind.to_owned(),
            detail: detail.to_string(),
        })
    }

    async fn query_trade(&self, no: &str) -> TradeView {
        let biz = to_biz_content(&TradeRefBiz {
            out_trade_no: Some(no.to_owned()),
            ..Default::default()
        });
        trade_view(
            &self
                .gw
                .call::<QueryResponse>(Method::TradeQuery, &biz, false)
                .await,
        )
    }

    async fn query_refund(&self, no: &str, req: &str) -> RefundView {
        let biz = to_biz_content(&RefundQueryBiz {
            out_trade_no: Some(no.to_owned()),
            trade_no: None,
            out_request_no: req.to_owned(),
        });
        refund_view(
            &self
                .gw
                .call::<RefundQueryResponse>(Method::TradeFastpayRefundQuery, &biz, false)
                .await,
        )
    }

    /// Settles every candidate it can, in order: asks its question (at most
    /// `max_queries` in all), decides, and applies the decision (an undo
    /// refund at the gateway, a correction in the journal), each recorded
    /// in the journal. One [`Settled`] per candidate.
    ///
    /// # Errors
    /// [`RepairError`] when the journal refuses a record: the run stops
    /// there (a repair already sent is known from its recorded events).
    pub async fn settle(&self, candidates: Vec<Candidate>) -> Result<Vec<Settled>, RepairError> {
        let mut out = Vec::with_capacity(candidates.len());
        let mut asked = 0usize;
        for c in candidates {
            let q = plan(&c);
            let (mut tv, mut rv) = (None, None);
            if q != Question::None {
                if asked >= self.max_queries {
                    out.push(Settled {
                        resolved: false,
                        resolution: format!(
                            "not queried: more than {} differences need the gateway; reconcile the date again",
                            self.max_queries
                        ),
                        candidate: c,
                        repair: None,
                    });
                    continue;
                }
                asked += 1;
                match q {
                    Question::Trade => tv = Some(self.query_trade(&c.out_trade_no).await),
                    Question::Refund => {
                        let req = c.out_request_no.as_deref().unwrap_or(&c.out_trade_no);
                        rv = Some(self.query_refund(&c.out_trade_no, req).await);
                    }
                    Question::None => {}
                }
            }
            let d = decide(&c, &self.date, tv.as_ref(), rv.as_ref());
            out.push(self.apply(c, d).await?);
        }
        Ok(out)
    }

    async fn apply(&self, c: Candidate, d: Decision) -> Result<Settled, RepairError> {
        match d {
            Decision::Note {
                resolved,
                resolution,
            } => {
                if c.class == Class::BillOnly && c.entry == Entry::Trade {
                    // Orphan notifications of the trade, journaled by the notify handler.
                    let orphans = self
                        .store
                        .incidents(Some(&c.out_trade_no))
                        .map_err(RepairError)?
                        .into_iter()
                        .filter(|i| i.kind == "orphan")
                        .count();
                    if orphans > 0 {
                        return Ok(Settled {
                            resolution: format!(
                                "{resolution}; the gateway notified the switch of it ({orphans} orphan notification(s) in the journal)"
                            ),
                            resolved,
                            candidate: c,
                            repair: Some(json!({"orphan_notifications": orphans})),
                        });
                    }
                }
                Ok(Settled {
                    candidate: c,
                    resolved,
                    resolution,
                    repair: None,
                })
            }
            Decision::Undo { amount_fen } => self.undo(c, amount_fen).await,
            Decision::CorrectTradeToClosed { resolution } => {
                let Some(mut t) = self.store.trade(&self.app_id, &c.out_trade_no)? else {
                    return Ok(Settled {
                        candidate: c,
                        resolved: false,
                        resolution: "the trade left the journal".into(),
                        repair: None,
                    });
                };
                let from = t.status;
                // The one-way rule holds for the flows; only reconciliation,
                // on the gateway's word and with an event, may change a final
                // status.
                t.status = Status::Closed;
                t.updated_ms = now_ms();
                // The next version: a trade changed meanwhile (a live flow)
                // fails the commit (Stale) instead of being overwritten.
                t.version += 1;
                let detail = json!({"from": from.as_str(), "to": "CLOSED", "bill_date": self.date, "why": resolution});
                self.record(vec![
                    Write::TradeNext(Box::new(t.clone())),
                    self.event(&c.out_trade_no, "recon_correction", detail.clone()),
                    Write::Incident(Incident {
                        app_id: self.app_id.clone(),
                        out_trade_no: c.out_trade_no.clone(),
                        at_ms: now_ms(),
                        kind: "recon_paid_in_journal_only".into(),
                        detail: detail.to_string(),
                    }),
                ])
                .await?;
                Ok(Settled {
                    candidate: c,
                    resolved: true,
                    resolution,
                    repair: Some(detail),
                })
            }
            Decision::CorrectRefund { to, resolution } => {
                let req = c.out_request_no.clone().unwrap_or_default();
                let (Some(mut r), Some(mut t)) = (
                    self.store.refund(&self.app_id, &c.out_trade_no, &req)?,
                    self.store.trade(&self.app_id, &c.out_trade_no)?,
                ) else {
                    return Ok(Settled {
                        candidate: c,
                        resolved: false,
                        resolution: "the refund is not in the journal".into(),
                        repair: None,
                    });
                };
                let from = r.status;
                if from == to {
                    return Ok(Settled {
                        candidate: c,
                        resolved: true,
                        resolution: format!("the journal already holds it as {}", to.as_str()),
                        repair: None,
                    });
                }
                r.status = to;
                r.updated_ms = now_ms();
                match to {
                    RefundStatus::Success => {
                        if let Some(d) = c.bill.get("finished_at").and_then(Value::as_str) {
                            r.gmt_refund_pay = Some(d.to_owned());
                        }
                        if from == RefundStatus::Unknown {
                            t.refunding_amount = t
                                .refunding_amount
                                .checked_sub(r.refund_amount)
                                .unwrap_or(Money::ZERO);
                        }
                        if let Some(s) = t.refunded_amount.checked_add(r.refund_amount) {
                            if s <= t.total_amount {
                                t.refunded_amount = s;
                            }
                        }
                    }
                    _ => {
                        t.refunded_amount = t
                            .refunded_amount
                            .checked_sub(r.refund_amount)
                            .unwrap_or(Money::ZERO);
                    }
                }
                t.updated_ms = now_ms();
                t.version += 1;
                let detail = json!({"out_request_no": req, "from": from.as_str(), "to": to.as_str(), "bill_date": self.date, "why": resolution});
                self.record(vec![
                    Write::Refund(Box::new(r)),
                    Write::TradeNext(Box::new(t)),
                    self.event(&c.out_trade_no, "recon_correction", detail.clone()),
                ])
                .await?;
                Ok(Settled {
                    candidate: c,
                    resolved: true,
                    resolution,
                    repair: Some(detail),
                })
            }
        }
    }

    /// Refunds a payment the terminal was told is not paid, with the
    /// switch's undo out_request_no (the late-landing watch uses the same:
    /// the gateway refunds one out_request_no once, whoever sends it).
    async fn undo(&self, c: Candidate, amount_fen: u64) -> Result<Settled, RepairError> {
        let req = undo_request_no(&c.out_trade_no);
        let amount = Money::from_fen(amount_fen);
        let sending = json!({"action": "refund", "out_request_no": req, "refund_amount": amount.to_wire(), "bill_date": self.date, "why": "paid at the gateway, not paid for the terminal"});
        self.record(vec![
            Write::Incident(Incident {
                app_id: self.app_id.clone(),
                out_trade_no: c.out_trade_no.clone(),
                at_ms: now_ms(),
                kind: "recon_late_landing".into(),
                detail: sending.to_string(),
            }),
            self.event(&c.out_trade_no, "recon_repair_sending", sending),
        ])
        .await?;
        let biz = to_biz_content(&RefundBiz {
            out_trade_no: Some(c.out_trade_no.clone()),
            trade_no: None,
            refund_amount: amount,
            out_request_no: Some(req.clone()),
            refund_reason: Some("paid after the switch closed it (reconciliation)".into()),
            operator_id: None,
            store_id: None,
            terminal_id: None,
        });
        let out = self
            .gw
            .call::<RefundResponse>(Method::TradeRefund, &biz, false)
            .await;
        let (resolved, resolution, answer) = match &out {
            Outcome::Answer(a) if a.code == Code::Success.as_str() => (
                true,
                format!("the buyer was refunded {} (out_request_no {req})", amount.to_wire()),
                json!({"code": a.code, "fund_change": a.fund_change, "refund_fee": a.refund_fee.map(Money::to_wire)}),
            ),
            Outcome::Answer(a) => (
                false,
                format!(
                    "the refund to the buyer was refused ({} {}): retry by reconciling the date again, or refund by hand",
                    a.code,
                    a.sub_code.as_deref().unwrap_or("")
                ),
                json!({"code": a.code, "sub_code": a.sub_code, "sub_msg": a.sub_msg.as_deref().map(protocol::scrub::scrub)}),
            ),
            Outcome::Unknown(why) => (
                false,
                format!("the refund's outcome is unknown ({why}): reconcile the date again (the same out_request_no cannot refund twice)"),
                json!({"unknown": why}),
            ),
        };
        let detail = json!({"action": "refund", "out_request_no": req, "answer": answer, "resolved": resolved});
        self.record(vec![self.event(
            &c.out_trade_no,
            "recon_repair_done",
            detail.clone(),
        )])
        .await?;
        Ok(Settled {
            candidate: c,
            resolved,
            resolution,
            repair: Some(detail),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class: Class, entry: Entry, status: Option<Status>) -> Candidate {
        Candidate {
            class,
            entry,
            out_trade_no: "N1".into(),
            trade_no: None,
            out_request_no: (entry == Entry::Refund).then(|| "r1".into()),
            smid: None,
            switch: Value::Null,
            bill: Value::Null,
            journal_status: status,
            amount_fen: 500,
        }
    }

    fn paid(day: &str, finished: bool) -> TradeView {
        TradeView::Paid {
            day: Some(day.into()),
            total_fen: Some(500),
            finished,
        }
    }

    fn resolved(d: &Decision) -> Option<bool> {
        match d {
            Decision::Note { resolved, .. } => Some(*resolved),
            _ => None,
        }
    }

    const D: &str = "2026-06-05";

    #[test]
    fn what_a_query_settles() {
        use Class::*;
        // A payment the terminal was told is not paid: refunded back, only
        // when the switch holds it final.
        let c = cand(StatusMismatch, Entry::Trade, Some(Status::Closed));
        assert_eq!(
            decide(&c, D, Some(&paid(D, false)), None),
            Decision::Undo { amount_fen: 500 }
        );
        let c = cand(StatusMismatch, Entry::Trade, Some(Status::Unknown));
        assert_eq!(
            resolved(&decide(&c, D, Some(&paid(D, false)), None)),
            Some(false)
        );
        let c = cand(StatusMismatch, Entry::Trade, Some(Status::Failed));
        assert_eq!(
            resolved(&decide(&c, D, Some(&paid(D, true)), None)),
            Some(false)
        );
        assert_eq!(
            resolved(&decide(&c, D, Some(&TradeView::Closed), None)),
            Some(true)
        );
        assert_eq!(
            resolved(&decide(&c, D, Some(&TradeView::NoAnswer("x".into())), None)),
            Some(false)
        );
        // Journal only: another day settles it, this day stays open, no
        // payment at all corrects the journal.
        let c = cand(JournalOnly, Entry::Trade, Some(Status::Success));
        assert_eq!(
            resolved(&decide(&c, D, Some(&paid("2026-06-06", false)), None)),
            Some(true)
        );
        assert_eq!(
            resolved(&decide(&c, D, Some(&paid(D, false)), None)),
            Some(false)
        );
        assert!(matches!(
            decide(&c, D, Some(&TradeView::NotExist), None),
            Decision::CorrectTradeToClosed { .. }
        ));
        // Refunds.
        let c = cand(JournalOnly, Entry::Refund, None);
        assert!(matches!(
            decide(&c, D, None, Some(&RefundView::NotDone)),
            Decision::CorrectRefund {
                to: RefundStatus::Failed,
                ..
            }
        ));
        let done_other = RefundView::Done {
            day: Some("2026-06-07".into()),
        };
        assert_eq!(
            resolved(&decide(&c, D, None, Some(&done_other))),
            Some(true)
        );
        let c = cand(StatusMismatch, Entry::Refund, None);
        assert!(matches!(
            decide(&c, D, None, Some(&RefundView::Done { day: None })),
            Decision::CorrectRefund {
                to: RefundStatus::Success,
                ..
            }
        ));
        // What no query settles stays open.
        for class in [FeeMismatch, AmountMismatch, BillOnly] {
            let c = cand(class, Entry::Trade, None);
            assert_eq!(
                resolved(&decide(&c, D, Some(&TradeView::NotExist), None)),
                Some(false),
                "{class:?}"
            );
        }
        assert_eq!(plan(&cand(FeeMismatch, Entry::Trade, None)), Question::None);
        assert_eq!(plan(&cand(BillOnly, Entry::Refund, None)), Question::Refund);
    }
}
