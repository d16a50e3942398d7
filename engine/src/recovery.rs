//! Recovery at start: every trade the journal holds as PAYING or UNKNOWN,
//! or with a cancel in doubt, and every UNKNOWN refund, is driven to a
//! definite state with the same policies as a live flow.
//!
//! Guarantees: a trade whose cancel may have been sent is settled only by a
//! cancel answer (it stays "cancel pending" until then); a pay whose answer
//! was lost is resolved by query (twice), then cancel; a precreate whose
//! answer was lost is cancelled (its QR code never reached anyone); a pay
//! request is never sent again.

use std::sync::Arc;

use serde_json::json;

use crate::flow::{ev, FlowError, Flows};
use crate::store::StoreError;
use crate::trade::{Kind, Phase};

impl Flows {
    /// Drives every trade the journal holds as PAYING, UNKNOWN or with a
    /// cancel in doubt, and every UNKNOWN refund, to a definite state with the
    /// same policies. Returns the number of trades and refunds picked up.
    pub async fn recover(self: &Arc<Self>) -> Result<(usize, usize), FlowError> {
        let store = self.store.clone();
        let (trades, refunds) = tokio::task::spawn_blocking(move || store.unfinished())
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
        let (nt, nr) = (trades.len(), refunds.len());
        for t in trades {
            let no = t.out_trade_no.clone();
            let slot = self
                .trades
                .entry(no.clone())
                .or_insert_with(|| Arc::new(Flows::slot(t.clone())))
                .clone();
            tracing::info!(out_trade_no = %no, status = t.status.as_str(), "recovering trade");
            let me = self.clone();
            self.spawn(&no, async move {
                let t = Flows::current(&slot).await;
                if t.phase == Phase::CancelPending || t.kind == Kind::Precreate {
                    // A cancel in doubt is only settled by a cancel answer
                    // (the trade stays "cancel pending"); a precreate whose
                    // answer was lost is cancelled (the QR never reached anyone).
                    me.note(&t, "recovery", json!({"action": "cancel"}));
                    me.cancel_until_definite(&slot).await;
                } else {
                    let _ = me
                        .update(&slot, |t| {
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
            let key = (r.out_trade_no.clone(), r.out_request_no.clone());
            let rslot = self
                .refunds
                .entry(key)
                .or_insert_with(|| Arc::new(Flows::refund_slot(r.clone())))
                .clone();
            let me = self.clone();
            self.spawn(&r.out_trade_no, async move {
                me.drive_refund(tslot, rslot).await
            });
        }
        Ok((nt, nr))
    }
}
