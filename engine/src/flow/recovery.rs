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

use serde_json::json;

use super::{ev, FlowError, Flows};
use crate::store::StoreError;
use crate::trade::{Kind, Phase, Status};

impl Flows {
    /// Drives every unfinished trade, refund and relay the journal holds.
    /// Returns the number of trades and refunds picked up.
    pub async fn recover(self: &Arc<Self>) -> Result<(usize, usize), FlowError> {
        let store = self.store.clone();
        let (trades, refunds, relays) = tokio::task::spawn_blocking(move || {
            let (t, r) = store.unfinished()?;
            Ok::<_, StoreError>((t, r, store.pending_relays()?))
        })
        .await
        .map_err(|e| StoreError::Db(e.to_string()))??;
        let (nt, nr) = (trades.len(), refunds.len());
        for t in trades {
            let no = t.out_trade_no.clone();
            tracing::info!(out_trade_no = %no, status = t.status.as_str(), phase = ?t.phase, "recovering trade");
            let slot = self.adopt(t);
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
                    me.note(&t, "recovery", json!({"action": "cancel"}));
                    if t.phase == Phase::CancelPending {
                        if let Ok(guard) = slot.cancel_running.clone().try_lock_owned() {
                            me.cancel_loop(&slot, guard).await;
                        }
                    } else {
                        me.cancel_until_definite(&slot).await;
                    }
                } else if t.status == Status::WaitBuyerPay {
                    me.note(&t, "recovery", json!({"action": "qr_watch"}));
                    me.qr_watch(&slot).await;
                } else {
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
                                json!({"action": "query_then_cancel"}),
                            )])
                        })
                        .await;
                    me.resolve_unknown(&slot).await;
                }
            });
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
}
