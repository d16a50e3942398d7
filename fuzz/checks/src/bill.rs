//! Targets `bill_csv` and `bill_zip`: the trade bill (docs/PROTOCOL.md §6) read by
//! [`engine::recon::bill`].
//!
//! `bill_csv` input: the bytes of one CSV, read both as the detail file
//! and as the summary file. `bill_zip` input: the bytes of the downloaded
//! zip.
//!
//! Asserted:
//! - every error names the file it is about;
//! - detail rows come with strictly increasing line numbers, each text cell
//!   trimmed of its padding, every amount writes back (`Display`) to text
//!   that parses to the same [`Fen`], one extra cell per extra column; the
//!   reader's tally is the sum of the rows it gave (by kind); it stops for
//!   good after its end or its first error; a footer exists exactly when
//!   it ended without error, and `check_footer` passes exactly when the
//!   footer equals the rows' tally;
//! - the summary's `合计` row is the total and never a store row;
//! - a zip's detail and summary are found exactly when an entry has the
//!   name of one, and then read as above.

use std::io::{Cursor, Read};

use engine::recon::bill::{
    BillArchive, BillError, BillKind, BillRow, BillSummary, DetailReader, Fen, SummaryRow,
};

const FILE: &str = "fuzz_业务明细.csv";

/// The fuzz target `bill_csv`.
pub fn bill_csv(data: &[u8]) {
    match DetailReader::new(Cursor::new(data), FILE) {
        Ok(r) => detail(r, FILE),
        Err(e) => names_file(&e, FILE),
    }
    match BillSummary::read(Cursor::new(data), FILE) {
        Ok(s) => summary(&s),
        Err(e) => names_file(&e, FILE),
    }
}

/// The fuzz target `bill_zip`.
pub fn bill_zip(data: &[u8]) {
    let Ok(mut a) = BillArchive::from_bytes(data) else {
        return;
    };
    let entries = a.entries().to_vec();
    let named = |summary: bool| {
        entries.iter().any(|n| {
            n.to_ascii_lowercase().ends_with(".csv")
                && n.contains("业务明细")
                && n.contains("汇总") == summary
        })
    };
    match a.detail() {
        Ok(r) => {
            assert!(named(false));
            let file = r_file(&entries, false);
            detail(r, &file);
        }
        Err(BillError::NoDetail { entries: e }) => {
            assert!(!named(false));
            assert_eq!(e, entries);
        }
        Err(e) => assert!(named(false), "{e}"),
    }
    match a.summary() {
        Ok(s) => {
            assert!(named(true));
            summary(&s);
        }
        Err(BillError::NoSummary { entries: e }) => {
            assert!(!named(true));
            assert_eq!(e, entries);
        }
        Err(e) => assert!(named(true), "{e}"),
    }
}

/// The entry the archive reads: the first with the detail (or summary) name.
fn r_file(entries: &[String], summary: bool) -> String {
    entries
        .iter()
        .find(|n| {
            n.to_ascii_lowercase().ends_with(".csv")
                && n.contains("业务明细")
                && n.contains("汇总") == summary
        })
        .cloned()
        .unwrap_or_default()
}

fn names_file(e: &BillError, file: &str) {
    let text = e.to_string();
    match e {
        // About the zip or the footer's sums, not a line of a file.
        BillError::NotZip(_)
        | BillError::NoDetail { .. }
        | BillError::NoSummary { .. }
        | BillError::FooterMismatch { .. } => {}
        _ => assert!(text.contains(file), "{text:?} does not name {file}"),
    }
}

fn fen_round_trips(f: Fen) {
    assert_eq!(
        Fen::parse_yuan(&f.to_string()),
        Some(f),
        "{f} does not round-trip"
    );
}

fn trimmed(s: &str) {
    assert_eq!(
        s.trim_matches(|c| c == '\t' || c == ' '),
        s,
        "{s:?} is not trimmed"
    );
}

fn row_ok(r: &BillRow, extra_columns: usize) {
    for f in [
        r.order_amount,
        r.received,
        r.alipay_red_packet,
        r.jifenbao,
        r.alipay_discount,
        r.merchant_discount,
        r.coupon_amount,
        r.merchant_red_packet,
        r.card_amount,
        r.service_fee,
        r.profit_share,
    ] {
        fen_round_trips(f);
    }
    for s in [
        &r.trade_no,
        &r.out_trade_no,
        &r.subject,
        &r.store_id,
        &r.store_name,
        &r.operator_id,
        &r.terminal_id,
        &r.buyer_account,
        &r.coupon_name,
        &r.refund_request_no,
        &r.remark,
    ] {
        trimmed(s);
        assert!(!s.contains(','), "a cell holds a comma");
    }
    assert_eq!(r.extra.len(), extra_columns);
}

fn detail<R: Read>(mut r: DetailReader<R>, file: &str) {
    let extra = r.extra_columns().count();
    let mut last_line = 0;
    let (mut tc, mut rc) = (0u64, 0u64);
    let (mut tr, mut td, mut rr, mut rd) = (0i64, 0i64, 0i64, 0i64);
    let mut failed = false;
    for item in r.by_ref() {
        match item {
            Ok(row) => {
                assert!(row.line > last_line, "line {} after {last_line}", row.line);
                last_line = row.line;
                row_ok(&row, extra);
                match row.kind {
                    BillKind::Trade => {
                        tc += 1;
                        tr = tr.saturating_add(row.received.0);
                        td = td.saturating_add(row.merchant_discount.0);
                    }
                    BillKind::Refund => {
                        rc += 1;
                        rr = rr.saturating_add(row.received.0);
                        rd = rd.saturating_add(row.merchant_discount.0);
                    }
                }
            }
            Err(e) => {
                names_file(&e, file);
                failed = true;
            }
        }
    }
    assert!(r.next().is_none(), "the reader goes on after its end");
    let t = r.tally();
    assert_eq!(
        (
            t.trade_count,
            t.trade_received.0,
            t.trade_merchant_discount.0
        ),
        (tc, tr, td)
    );
    assert_eq!(
        (
            t.refund_count,
            t.refund_received.0,
            t.refund_merchant_discount.0
        ),
        (rc, rr, rd)
    );
    match r.footer() {
        None => assert!(failed, "ended without error and without a footer"),
        Some(f) => {
            assert!(!failed, "a footer after an error");
            for v in [
                f.trade_received,
                f.trade_merchant_discount,
                f.refund_received,
                f.refund_merchant_discount,
            ] {
                fen_round_trips(v);
            }
            let equal = (f.trade_count, f.trade_received, f.trade_merchant_discount)
                == (t.trade_count, t.trade_received, t.trade_merchant_discount)
                && (
                    f.refund_count,
                    f.refund_received,
                    f.refund_merchant_discount,
                ) == (
                    t.refund_count,
                    t.refund_received,
                    t.refund_merchant_discount,
                );
            match r.check_footer() {
                Ok(()) => assert!(equal, "check_footer passed unequal totals"),
                Err(e) => {
                    assert!(!equal, "check_footer refused equal totals: {e}");
                    assert!(matches!(e, BillError::FooterMismatch { .. }), "{e}");
                }
            }
        }
    }
}

fn summary_row(r: &SummaryRow) {
    for f in [
        r.order_amount,
        r.received,
        r.alipay_discount,
        r.merchant_discount,
        r.card_amount,
        r.service_fee,
        r.profit_share,
        r.net,
    ] {
        fen_round_trips(f);
    }
    trimmed(&r.store_id);
    trimmed(&r.store_name);
}

fn summary(s: &BillSummary) {
    for r in &s.stores {
        assert_ne!(r.store_id, "合计", "the total row is taken for a store");
        summary_row(r);
    }
    if let Some(t) = &s.total {
        assert_eq!(t.store_id, "合计");
        summary_row(t);
    }
}
