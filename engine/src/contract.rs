//! The terminal contract as the switch writes it: a journaled [`Trade`] or
//! [`Refund`] turned into the answer types of `payswitch-terminal`
//! (docs/API.md §1, with `cashier_action`). One place, used by the
//! API and by the relay to merchants; the JSON shape, the signature and the
//! header live in the `terminal` crate only.

use protocol::Money;

use crate::flow::policy;
use crate::trade::{Refund, RefundStatus, Status, Trade};

/// A trade as terminals (and merchants, through a relay) see it: the
/// terminal's own out_trade_no (and the gateway's, when the switch prefixed
/// it), the amounts, and `code` / `sub_code` / `sub_msg` only when the trade
/// failed, with the cashier's next action from [`policy::cashier_action`].
pub fn trade_answer(t: &Trade) -> terminal::Trade {
    let failed = t.status == Status::Failed;
    let on_failure = |v: &Option<String>| if failed { v.clone() } else { None };
    terminal::Trade {
        out_trade_no: t.terminal_out_trade_no().to_owned(),
        gateway_out_trade_no: t.terminal_no.is_some().then(|| t.out_trade_no.clone()),
        status: t.status,
        trade_no: t.trade_no.clone(),
        total_amount: t.total_amount,
        receipt_amount: t.receipt_amount,
        buyer_logon_id: t.buyer_logon_id.clone(),
        gmt_payment: t.gmt_payment.clone(),
        refunded_amount: t.refunded_amount,
        qr_code: t.qr_code.clone(),
        code: on_failure(&t.code),
        sub_code: on_failure(&t.sub_code),
        sub_msg: on_failure(&t.sub_msg),
        cashier_action: policy::cashier_action(t.status, t.code.as_deref(), t.sub_code.as_deref()),
    }
}

/// A refund as terminals see it; `total` is the trade's refunded total
/// (all its successful refunds, this one included when it succeeded).
/// `code` / `sub_code` / `sub_msg` are set only when the refund failed.
pub fn refund_answer(r: &Refund, total: Money) -> terminal::Refund {
    let failed = r.status == RefundStatus::Failed;
    let on_failure = |v: &Option<String>| if failed { v.clone() } else { None };
    terminal::Refund {
        out_trade_no: r.out_trade_no.clone(),
        out_request_no: r.out_request_no.clone(),
        refund_amount: r.refund_amount,
        status: r.status,
        refunded_amount: total,
        code: on_failure(&r.code),
        sub_code: on_failure(&r.sub_code),
        sub_msg: on_failure(&r.sub_msg),
    }
}
