//! Recovery at start: every trade the journal holds as PAYING, UNKNOWN or
//! WAIT_BUYER_PAY, with a cancel in doubt or under the late-landing watch,
//! every UNKNOWN refund and every pending merchant relay is driven on with
//! the same policies as a live flow.
//!
//! Guarantees: a trade whose cancel may have been sent is settled only by a
//! cancel answer (it stays "cancel pending" until then); a pay whose answer
//! was lost is resolved by query (twice), then cancel, and a cancel that
//! then does not find it starts the late-landing watch (the dead process's
//! request may still land); a precreate whose answer was lost is cancelled
//! (its QR code never reached anyone); a pay request is never sent again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{ev, FlowError, Flows};
use crate::store::{Claimed, StoreError};
use crate::trade::{Kind, Phase, Status, Trade};

impl Flows {
    /// Drives every unfinished trade, refund and relay the journal holds
    /// (on a shared journal: those whose lease lapsed and those this node's
    /// name held before a restart; the rest are other nodes' work).
    /// Returns the number of trades and refunds picked up. Called once by
    /// the server's start, before the listeners open.
    ///
    /// # Errors
    /// [`FlowError::Store`] when the journal cannot list (or claim) the
    /// unfinished work or read the trade of an unfinished refund; the work
    /// already handed to its drivers goes on.
    pub async fn recover(self: &Arc<Self>) -> Result<(usize, usize), FlowError> {
        let store = self.store.clone();
        let claimed = tokio::task::spawn_blocking(move || {
            if store.shared() {
                let mut all = Claimed::default();
                loop {
                    let c = store.claim_work(true, CLAIM_BATCH)?;
                    let done = c.trades.len() < CLAIM_BATCH && c.relays.len() < CLAIM_BATCH;
                    all.trades.extend(c.trades);
                    all.refunds.extend(c.refunds);
                    all.relays.extend(c.relays);
                    if done {
                        return Ok::<_, StoreError>(all);
                    }
                }
            }
            let (trades, refunds) = store.unfinished()?;
            Ok(Claimed {
                trades,
                refunds,
                relays: store.pending_relays()?,
            })
        })
        .await
        .map_err(|e| StoreError::Db(e.to_string()))??;
        self.drive_claimed(claimed).await
    }

    /// Drives trades, refunds and relays this node took over (at start, or
    /// from a node whose lease lapsed) with the same policies as a live flow.
    pub(crate) async fn drive_claimed(
        self: &Arc<Self>,
        claimed: Claimed,
    ) -> Result<(usize, usize), FlowError> {
        let Claimed {
            trades,
            refunds,
            relays,
        } = claimed;
        let (nt, nr) = (trades.len(), refunds.len());
        for t in trades {
            self.resume_trade(t).await;
        }
        for r in refunds {
            let Some(tslot) = self.load_trade(&r.out_trade_no).await? else {
                continue;
            };
            let no = r.out_trade_no.clone();
            let rslot = self.adopt_refund(r);
            let me = self.clone();
            self.spawn(&no, async move { me.drive_refund(tslot, rslot).await });
        }
        for relay in relays {
            tracing::info!(out_trade_no = %relay.out_trade_no, "resuming merchant relay");
            self.resume_relay(relay);
        }
        Ok((nt, nr))
    }

    /// Drives one journaled trade on from where the journal says it is.
    async fn resume_trade(self: &Arc<Self>, t: Trade) {
        let no = t.out_trade_no.clone();
        tracing::info!(out_trade_no = %no, status = t.status.as_str(), phase = ?t.phase, "recovering trade");
        let slot = self.adopt_latest(t).await;
        let me = self.clone();
        self.spawn(&no, async move {
            let t = slot.published();
            if t.phase == Phase::Watching {
                me.start_watch(&slot, false);
            } else if t.phase == Phase::CancelPending
                || (t.kind == Kind::Precreate && t.status == Status::Paying)
            {
                // A cancel in doubt is only settled by a cancel answer;
                // a precreate whose answer was lost is cancelled.
                me.note(
                    &t,
                    "recovery",
                    json!({"action": "cancel", "node": me.store.node_id()}),
                );
                if t.phase == Phase::CancelPending {
                    if let Ok(guard) = slot.cancel_running.clone().try_lock_owned() {
                        me.cancel_loop(&slot, guard).await;
                    }
                } else {
                    me.cancel_until_definite(&slot).await;
                }
            } else if t.status == Status::WaitBuyerPay {
                me.note(
                    &t,
                    "recovery",
                    json!({"action": "qr_watch", "node": me.store.node_id()}),
                );
                me.qr_watch(&slot).await;
            } else if !t.status.is_final() {
                let node = me.store.node_id().to_owned();
                let _ = me
                    .update(&slot, |t| {
                        // A terminal's cancel may have got in first: it decides.
                        if t.status.is_final() || t.phase == Phase::CancelPending {
                            return None;
                        }
                        t.phase = Phase::Resolving;
                        Some(vec![ev(
                            t,
                            "recovery",
                            json!({"action": "query_then_cancel", "node": node}),
                        )])
                    })
                    .await;
                me.resolve_unknown(&slot).await;
            }
            // Otherwise final with refunds in doubt: their own drivers run.
        });
    }

    /// Renews this node's leases and takes over lapsed work, every third of
    /// the lease time, until the switch stops (shared journals only). A
    /// renewal that fails marks the journal failing (`/readyz`), as a failed
    /// commit does. `lease` is the journal's lease time; nothing is started
    /// on a journal that is not shared.
    pub fn start_lease_keeper(self: &Arc<Self>, lease: Duration) {
        if !self.store.shared() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let every = lease / 3;
            let mut last_gc = std::time::Instant::now();
            while me.pause(every).await {
                let store = me.store.clone();
                // Every 10 s: forget expired nonces, and count the trades
                // by status in the journal (the other nodes' change too).
                let gc = last_gc.elapsed() >= NONCE_GC;
                if gc {
                    last_gc = std::time::Instant::now();
                }
                let r = tokio::task::spawn_blocking(move || {
                    let held = store.renew_leases()?;
                    let counts = if gc {
                        store.forget_expired_nonces(crate::trade::now_ms())?;
                        Some(store.status_counts()?)
                    } else {
                        None
                    };
                    let claimed = store.claim_work(false, CLAIM_BATCH)?;
                    Ok::<_, StoreError>((held, claimed, counts))
                })
                .await;
                match r {
                    Ok(Ok((held, claimed, counts))) => {
                        if let Some(c) = counts {
                            me.recount(c);
                        }
                        me.metrics.set_gauges(
                            "leases",
                            vec![("payswitch_leases_held".into(), String::new(), held as f64)],
                        );
                        if !claimed.is_empty() {
                            let n = claimed.trades.len() + claimed.relays.len();
                            me.metrics
                                .add("payswitch_leases_taken_over_total", &[], n as u64);
                            tracing::warn!(
                                trades = claimed.trades.len(),
                                relays = claimed.relays.len(),
                                node = me.store.node_id(),
                                "took over work whose lease lapsed"
                            );
                            if let Err(e) = me.drive_claimed(claimed).await {
                                tracing::error!(error = %e, "driving work taken over failed");
                            }
                        }
                    }
                    Ok(Err(e)) => me.journal_failed(&e),
                    Err(e) => tracing::error!(error = %e, "lease keeper task failed"),
                }
            }
        });
    }
}

/// Rows taken over at once, at most (the next round takes more).
const CLAIM_BATCH: usize = 500;

/// How often expired shared nonces are deleted.
const NONCE_GC: Duration = Duration::from_secs(10);
