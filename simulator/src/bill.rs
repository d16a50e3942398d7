//! Trade bills (docs/PROTOCOL.md §6): a zip holding the detail and summary
//! CSV files of a day (`yyyy-MM-dd`) or month (`yyyy-MM`) in Alipay's
//! layout, GBK-encoded, built from the ledger.
//!
//! Guarantees: the detail file has the comment header, the 25-column header
//! row, one `交易` row per payment and one `退款` row (negative amounts) per
//! refund in the period (Beijing time), text cells ending with a TAB, and the
//! footer totals. Deviation: zip entry names are stored as UTF-8 (with the
//! UTF-8 flag) rather than GBK.

use std::io::{Cursor, Write};

use protocol::{clock, Money};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::ledger::{seller_id, Trade};
use crate::state::Sim;

/// Why a bill could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BillError {
    /// `bill_date` is neither a valid `yyyy-MM-dd` day nor a `yyyy-MM` month.
    #[error("bill_date must be yyyy-MM-dd or yyyy-MM")]
    BadDate,
    /// The zip writer failed (not expected with an in-memory buffer).
    #[error("zip: {0}")]
    Zip(String),
}

/// The [start, end) of a bill date in Beijing time: a day (`yyyy-MM-dd`)
/// or a month (`yyyy-MM`); `None` for anything else or a date that does not
/// exist.
pub fn date_range(bill_date: &str) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let b = bill_date.as_bytes();
    let num = |s: &str| s.parse::<i32>().ok();
    let (year, month, day) = match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => (
            num(&bill_date[0..4])?,
            num(&bill_date[5..7])?,
            Some(num(&bill_date[8..10])?),
        ),
        7 if b[4] == b'-' => (num(&bill_date[0..4])?, num(&bill_date[5..7])?, None),
        _ => return None,
    };
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let start_date =
        Date::from_calendar_date(year, month, u8::try_from(day.unwrap_or(1)).ok()?).ok()?;
    let end_date = match day {
        Some(_) => start_date.next_day()?,
        None => {
            let (y, m) = if month == Month::December {
                (year + 1, Month::January)
            } else {
                (year, month.next())
            };
            Date::from_calendar_date(y, m, 1).ok()?
        }
    };
    let at = |d: Date| PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_offset(clock::BEIJING);
    Some((at(start_date), at(end_date)))
}

fn cn_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(clock::BEIJING);
    format!(
        "{:04}年{:02}月{:02}日 {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn neg(m: Money) -> String {
    if m.is_zero() {
        "0.00".into()
    } else {
        format!("-{}", m.to_wire())
    }
}

const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

fn row(cells: &[String]) -> String {
    let mut s = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(c);
        s.push('\t');
    }
    s.push_str("\r\n");
    s
}

/// The fee on an amount at `bps` basis points: rounded half up to the fen;
/// a result under one fen before rounding is no fee (docs/PROTOCOL.md §9.6).
pub fn fee_fen(amount_fen: u64, bps: u32) -> u64 {
    // docs/PROTOCOL.md §9.6: "四舍五入到分，计算结果小于1分钱则免手续费": a result
    // under 1 fen before rounding is free (0.5 to 0.99 fen is not rounded up).
    let p = u128::from(amount_fen) * u128::from(bps);
    if p < 10_000 {
        return 0;
    }
    ((p + 5_000) / 10_000) as u64
}

/// The fee a trade pays and the fee each of its refunds returns: refunds
/// return it proportionally with the same rule, the refund that completes
/// the trade's refunds returns what is left. Amounts in fen; `bps` in basis
/// points (1/10000).
pub fn trade_fees(t: &Trade, bps: u32) -> (u64, Vec<u64>) {
    let fee = fee_fen(t.total.fen(), bps);
    let (mut refunded, mut returned) = (0u64, 0u64);
    let mut out = Vec::new();
    for r in &t.refunds {
        refunded += r.amount.fen();
        let f = if refunded >= t.total.fen() {
            fee.saturating_sub(returned)
        } else {
            fee_fen(r.amount.fen(), bps).min(fee.saturating_sub(returned))
        };
        returned += f;
        out.push(f);
    }
    (fee, out)
}

/// The fee rate the gateway applies to a trade, basis points: its smid's
/// [`SimConfig::fee_rates`](crate::SimConfig::fee_rates) entry, else
/// [`SimConfig::default_fee_bps`](crate::SimConfig::default_fee_bps).
pub fn fee_bps(sim: &Sim, t: &Trade) -> u32 {
    t.sub_merchant_id
        .as_ref()
        .and_then(|s| sim.cfg.fee_rates.get(s).copied())
        .unwrap_or(sim.cfg.default_fee_bps)
}

struct Rows {
    detail: String,
    trade_count: u64,
    trade_fen: u64,
    refund_count: u64,
    refund_fen: u64,
    /// Fees charged minus fees returned, fen (may be negative).
    fee_net: i64,
}

fn signed(fen: i64) -> String {
    let m = Money::from_fen(fen.unsigned_abs());
    if fen < 0 {
        format!("-{}", m.to_wire())
    } else {
        m.to_wire()
    }
}

fn trade_rows(
    t: &Trade,
    inj: &[String],
    bps: u32,
    start: OffsetDateTime,
    end: OffsetDateTime,
    out: &mut Rows,
) {
    let gt = clock::format_gateway_time;
    let (fee, refund_fees) = trade_fees(t, bps);
    let has = |k: &str| inj.iter().any(|i| i == k);
    let fee = fee + u64::from(has("fee_off"));
    let total = Money::from_fen(t.total.fen() + u64::from(has("amount_off")));
    let common = |kind: &str,
                  amount: String,
                  received: String,
                  done: OffsetDateTime,
                  req: &str,
                  fee: String| {
        vec![
            t.trade_no.clone(),
            t.out_trade_no.clone(),
            kind.to_owned(),
            t.subject.replace(',', "，"),
            gt(t.created_at),
            gt(done),
            t.store_id.clone().unwrap_or_default(),
            t.store_id
                .as_ref()
                .map(|s| format!("门店{s}"))
                .unwrap_or_default(),
            t.operator_id.clone().unwrap_or_default(),
            t.terminal_id.clone().unwrap_or_default(),
            t.buyer_logon_id.clone().unwrap_or_default(),
            amount,
            received,
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            "0.00".into(),
            String::new(),
            "0.00".into(),
            "0.00".into(),
            req.to_owned(),
            fee,
            "0.00".into(),
            String::new(),
        ]
    };
    if let Some(p) = t
        .paid_at
        .filter(|p| *p >= start && *p < end && !has("remove_row"))
    {
        out.detail.push_str(&row(&common(
            "交易",
            total.to_wire(),
            total.to_wire(),
            p,
            "",
            signed(-(fee as i64)),
        )));
        out.fee_net += fee as i64;
        out.trade_count += 1;
        out.trade_fen += total.fen();
    }
    for (r, rf) in t.refunds.iter().zip(refund_fees) {
        if r.at < start || r.at >= end || has("remove_refund") {
            continue;
        }
        out.detail.push_str(&row(&common(
            "退款",
            t.total.to_wire(),
            neg(r.amount),
            r.at,
            &r.out_request_no,
            signed(rf as i64),
        )));
        out.fee_net -= rf as i64;
        out.refund_count += 1;
        out.refund_fen += r.amount.fen();
    }
}

/// The number of detail rows (payments and refunds) an app's bill of the
/// period `[start, end)` holds.
pub fn row_count(sim: &Sim, app_id: &str, (start, end): (OffsetDateTime, OffsetDateTime)) -> u64 {
    let mut n = 0;
    for e in sim.ledger.trades.iter() {
        let t = e.value();
        if t.app_id != app_id {
            continue;
        }
        n += u64::from(t.paid_at.is_some_and(|p| p >= start && p < end));
        n += t
            .refunds
            .iter()
            .filter(|r| r.at >= start && r.at < end)
            .count() as u64;
    }
    n
}

/// Builds the bill zip of an app for a date (`yyyy-MM-dd` or `yyyy-MM`):
/// the detail and summary files, with the discrepancies injected for that
/// date (`POST /_sim/bills/{date}/inject`). `_bill_type` is not used: both
/// bill types get the trade bill.
///
/// # Errors
///
/// [`BillError::BadDate`] when `bill_date` is not a day or a month;
/// [`BillError::Zip`] when the zip cannot be written.
pub fn build_zip(
    sim: &Sim,
    app_id: &str,
    _bill_type: &str,
    bill_date: &str,
) -> Result<Vec<u8>, BillError> {
    let (start, end) = date_range(bill_date).ok_or(BillError::BadDate)?;
    let mut rows = Rows {
        detail: String::new(),
        trade_count: 0,
        trade_fen: 0,
        refund_count: 0,
        refund_fen: 0,
        fee_net: 0,
    };
    let mut trades: Vec<Trade> = sim
        .ledger
        .trades
        .iter()
        .filter(|e| e.value().app_id == app_id)
        .map(|e| e.value().clone())
        .collect();
    trades.sort_by(|a, b| a.trade_no.cmp(&b.trade_no));
    let injections: Vec<(String, String)> = sim
        .bill_injections
        .lock()
        .iter()
        .filter(|i| i.0 == bill_date)
        .map(|i| (i.1.clone(), i.2.clone()))
        .collect();
    for t in &trades {
        let inj: Vec<String> = injections
            .iter()
            .filter(|i| i.1 == t.out_trade_no)
            .map(|i| i.0.clone())
            .collect();
        trade_rows(t, &inj, fee_bps(sim, t), start, end, &mut rows);
    }
    for (_, otn) in injections.iter().filter(|i| i.0 == "add_row") {
        // A trade the switch never saw: 1.00 paid at the start of the day.
        let mut cells: Vec<String> = vec![
            format!(
                "{}99{:06}",
                &crate::ledger::trade_no(start, otn, 0)[..20],
                0
            ),
            otn.clone(),
            "交易".into(),
            "injected".into(),
            clock::format_gateway_time(start),
            clock::format_gateway_time(start),
        ];
        cells.extend(std::iter::repeat(String::new()).take(5));
        cells.extend(["1.00".into(), "1.00".into()]);
        cells.extend(std::iter::repeat("0.00".to_owned()).take(5));
        cells.push(String::new());
        cells.extend(["0.00".into(), "0.00".into(), String::new()]);
        cells.extend([
            signed(-(fee_fen(100, sim.cfg.default_fee_bps) as i64)),
            "0.00".into(),
            String::new(),
        ]);
        rows.detail.push_str(&row(&cells));
        rows.trade_count += 1;
        rows.trade_fen += 100;
        rows.fee_net += fee_fen(100, sim.cfg.default_fee_bps) as i64;
    }
    let pid = seller_id(app_id);
    let now = OffsetDateTime::now_utc();
    let received = Money::from_fen(rows.trade_fen);
    let refunded = Money::from_fen(rows.refund_fen);
    let period = format!(
        "#起始日期：[{}]   终止日期：[{}]\r\n",
        cn_time(start),
        cn_time(end)
    );
    let mut detail = String::new();
    detail.push_str("#支付宝业务明细查询\r\n");
    detail.push_str(&format!("#账号：[{pid}0156]\r\n"));
    detail.push_str(&period);
    detail.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
    detail.push_str(HEADER);
    detail.push_str("\r\n");
    detail.push_str(&rows.detail);
    detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    detail.push_str(&format!(
        "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\r\n",
        rows.trade_count,
        received.to_wire()
    ));
    detail.push_str(&format!(
        "#退款合计：{}笔，商家实收退款共{}元，商家优惠退款共0.00元\r\n",
        rows.refund_count,
        neg(refunded)
    ));
    detail.push_str(&format!("#导出时间：[{}]\r\n", cn_time(now)));

    let mut summary = String::new();
    summary.push_str("#支付宝业务汇总查询\r\n");
    summary.push_str(&format!("#账号：[{pid}0156]\r\n"));
    summary.push_str(&period);
    summary.push_str("门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n");
    let net = Money::from_fen(rows.trade_fen.saturating_sub(rows.refund_fen));
    summary.push_str(&format!(
        "合计,,{},{},{},{},0.00,0.00,0.00,{},0.00,{}\r\n",
        rows.trade_count,
        rows.refund_count,
        received.to_wire(),
        received.to_wire(),
        signed(-rows.fee_net),
        net.to_wire()
    ));
    summary.push_str("#-----------------------------------------汇总列表结束------------------------------------\r\n");
    summary.push_str(&format!("#导出时间：[{}]\r\n", cn_time(now)));

    let day = bill_date.replace('-', "");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in [
        (format!("{pid}0156_{day}_业务明细.csv"), detail),
        (format!("{pid}0156_{day}_业务明细(汇总).csv"), summary),
    ] {
        // Injection `not_gbk`: the files in UTF-8, as a broken export would be.
        let bytes = if injections.iter().any(|i| i.0 == "not_gbk") {
            text.into_bytes()
        } else {
            encoding_rs::GBK.encode(&text).0.into_owned()
        };
        zip.start_file(name, opts)
            .map_err(|e| BillError::Zip(e.to_string()))?;
        zip.write_all(&bytes)
            .map_err(|e| BillError::Zip(e.to_string()))?;
    }
    let mut out = zip
        .finish()
        .map_err(|e| BillError::Zip(e.to_string()))?
        .into_inner();
    // Injections on the file as a whole: cut in half; bytes flipped in the
    // middle (inside the compressed detail).
    if injections.iter().any(|i| i.0 == "truncate") {
        out.truncate(out.len() / 2);
    }
    if injections.iter().any(|i| i.0 == "corrupt_file") {
        let mid = out.len() / 3;
        for b in out.iter_mut().skip(mid).take(64) {
            *b ^= 0xA5;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_round_half_up_and_under_a_fen_are_free() {
        assert_eq!(fee_fen(1000, 60), 6);
        assert_eq!(fee_fen(83, 60), 0); // 0.498 fen
                                        // 0.504 fen: under 1 fen, free (docs/PROTOCOL.md §9.6).
        assert_eq!(fee_fen(84, 60), 0);
        assert_eq!(fee_fen(166, 60), 0); // 0.996 fen
        assert_eq!(fee_fen(167, 60), 1); // 1.002 fen
        assert_eq!(fee_fen(2500, 60), 15);
    }

    #[test]
    fn ranges() {
        let (s, e) = date_range("2026-02-28").unwrap();
        assert_eq!((e - s).whole_hours(), 24);
        let (s, e) = date_range("2026-12").unwrap();
        assert_eq!((e - s).whole_days(), 31);
        assert!(date_range("2026-13-01").is_none());
        assert!(date_range("20260101").is_none());
    }
}
