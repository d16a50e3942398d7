use std::io::Write;

use protocol::{Money, TradeStatus};
use simulator::ledger::{Refund, Trade, TradeKind};
use time::macros::datetime;

use super::*;

fn sim_trade(n: u64, fen: u64, paid: time::OffsetDateTime, refunds: Vec<Refund>) -> Trade {
    Trade {
        serial: n,
        app_id: simulator::DEMO_APP_ID.to_owned(),
        out_trade_no: format!("o{n}"),
        trade_no: format!("2026060522001{n:015}"),
        kind: TradeKind::Pay,
        status: TradeStatus::TradeSuccess,
        total: Money::from_fen(fen),
        subject: format!("商品,{n}"),
        body: None,
        store_id: Some("S1".into()),
        terminal_id: Some("T1".into()),
        operator_id: Some("op".into()),
        sub_merchant_id: None,
        auth_code_hash: None,
        buyer_user_id: None,
        buyer_logon_id: Some("ab***@qq.com".into()),
        created_at: paid,
        paid_at: Some(paid),
        closed_at: None,
        expires_at: paid,
        refunded: Money::ZERO,
        refunds,
        history: vec![],
        pay_count: 1,
        notify_url: None,
        qr_code: None,
        cancel_action: None,
        visible: true,
        landed_late: false,
        funds: Vec::new(),
    }
}

fn sim_bill() -> Vec<u8> {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let sim = simulator::state::Sim::new(simulator::SimConfig::demo(), "http://x".into(), rx)
        .expect("sim");
    let paid = datetime!(2026-06-05 10:00:00 +8);
    let refund = Refund {
        out_request_no: "r1".into(),
        amount: Money::from_fen(1000),
        reason: None,
        at: datetime!(2026-06-05 11:00:00 +8),
        store_id: None,
        terminal_id: None,
        operator_id: None,
    };
    for (n, fen, refunds) in [(1, 8888, vec![refund]), (2, 1, vec![])] {
        let t = sim_trade(n, fen, paid, refunds);
        sim.ledger.trades.insert(format!("k{n}"), t);
    }
    // Another day's trade is not in the bill.
    let t = sim_trade(3, 500, datetime!(2026-06-06 10:00:00 +8), vec![]);
    sim.ledger.trades.insert("k3".into(), t);
    simulator::bill::build_zip(&sim, simulator::DEMO_APP_ID, "trade", "2026-06-05").expect("zip")
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        z.start_file(*name, o).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn gbk(s: &str) -> Vec<u8> {
    GBK.encode(s).0.into_owned()
}

const HEAD: &str = "#支付宝业务明细查询\r\n#账号：[20880000000001560156]\r\n#起始日期：[2026年06月05日 00:00:00]   终止日期：[2026年06月06日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n";
const FOOT_END: &str = "#-----------------------------------------业务明细列表结束------------------------------------\r\n";

#[test]
fn reads_the_simulators_bill() {
    let bytes = sim_bill();
    let mut a = BillArchive::from_bytes(&bytes).unwrap();
    let mut d = a.detail().unwrap();
    assert_eq!(d.header().start.as_deref(), Some("2026年06月05日 00:00:00"));
    assert!(d.header().account.as_deref().unwrap().ends_with("0156"));
    assert_eq!(d.extra_columns().count(), 0);
    let rows: Vec<BillRow> = d.by_ref().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let pay = rows
        .iter()
        .find(|r| r.out_trade_no == "o1" && r.kind == BillKind::Trade);
    let pay = pay.unwrap();
    assert_eq!(pay.order_amount, Fen(8888));
    assert_eq!(pay.received, Fen(8888));
    assert_eq!(pay.subject, "商品，1");
    assert_eq!(pay.store_id, "S1");
    assert_eq!(pay.store_name, "门店S1");
    assert_eq!(pay.terminal_id, "T1");
    assert_eq!(pay.operator_id, "op");
    assert_eq!(pay.buyer_account, "ab***@qq.com");
    assert_eq!(pay.finished_at, datetime!(2026-06-05 10:00:00));
    let refund = rows.iter().find(|r| r.kind == BillKind::Refund).unwrap();
    assert_eq!(refund.received, Fen(-1000));
    assert_eq!(refund.refund_request_no, "r1");
    assert_eq!(refund.finished_at, datetime!(2026-06-05 11:00:00));
    let f = d.footer().unwrap().clone();
    assert_eq!((f.trade_count, f.trade_received), (2, Fen(8889)));
    assert_eq!((f.refund_count, f.refund_received), (1, Fen(-1000)));
    assert!(f.exported_at.is_some());
    d.check_footer().unwrap();
    drop(d);
    let s = a.summary().unwrap();
    let total = s.total.unwrap();
    assert_eq!((total.trade_count, total.refund_count), (2, 1));
    assert_eq!(total.received, Fen(8889));
    assert_eq!(total.net, Fen(7889));
}

#[test]
fn columns_by_name_in_any_order_with_extras() {
    let header = "商家实收（元）,备注,支付宝交易号,实收净额（元）,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额(元),支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）";
    let row = "-3.50\t,备注x\t,2026060522001\t,-3.45\t,o9\t,退款\t,x\t,2026-06-05 10:00:00\t,2026-06-05 10:01:00\t,,,,,,20.00\t,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,r9\t,0.05,0.00";
    let text = format!("{HEAD}{header}\r\n{row}\r\n{FOOT_END}#交易合计：0笔，商家实收共0.00元，商家优惠共0.00元\r\n#退款合计：1笔，商家实收退款共-3.50元，商家优惠退款共0.00元\r\n");
    let mut d = DetailReader::new(Cursor::new(gbk(&text)), "x.csv").unwrap();
    assert_eq!(d.extra_columns().collect::<Vec<_>>(), ["实收净额（元）"]);
    let r = d.next().unwrap().unwrap();
    assert_eq!(r.kind, BillKind::Refund);
    assert_eq!(
        (r.received, r.order_amount, r.service_fee),
        (Fen(-350), Fen(2000), Fen(5))
    );
    assert_eq!(
        (r.remark.as_str(), r.trade_no.as_str()),
        ("备注x", "2026060522001")
    );
    assert_eq!(r.extra, ["-3.45"]);
    assert_eq!(r.line, 6);
    assert!(d.next().is_none());
    d.check_footer().unwrap();
}

fn first_err(a: &mut BillArchive<Cursor<&[u8]>>) -> BillError {
    match a.detail() {
        Err(e) => e,
        Ok(mut d) => d.find_map(Result::err).expect("an error"),
    }
}

fn detail_err(text: &[u8]) -> BillError {
    let zip = zip_of(&[("p_20260605_业务明细.csv", text)]);
    let mut a = BillArchive::from_bytes(&zip).unwrap();
    first_err(&mut a)
}

#[test]
fn precise_errors() {
    let bytes = sim_bill();
    // Not a zip.
    assert!(matches!(
        BillArchive::from_bytes(b"hello"),
        Err(BillError::NotZip(_))
    ));
    let mut cut = bytes.clone();
    cut.truncate(bytes.len() / 2);
    assert!(matches!(
        BillArchive::from_bytes(&cut),
        Err(BillError::NotZip(_))
    ));
    // No detail inside.
    let z = zip_of(&[("readme.txt", b"x")]);
    let e = BillArchive::from_bytes(&z).unwrap().detail().err().unwrap();
    assert!(
        matches!(&e, BillError::NoDetail { entries } if entries == &["readme.txt"]),
        "{e}"
    );
    // UTF-8 instead of GBK.
    let detail = {
        let mut a = BillArchive::from_bytes(&bytes).unwrap();
        let mut v = Vec::new();
        let i = a.detail.clone().unwrap().0;
        a.zip.by_index(i).unwrap().read_to_end(&mut v).unwrap();
        v
    };
    let utf8 = GBK.decode(&detail).0.into_owned();
    let e = detail_err(utf8.as_bytes());
    assert!(matches!(e, BillError::Utf8 { line: 1, .. }), "{e}");
    // Invalid bytes in a row.
    let text = GBK.decode(&detail).0.into_owned();
    let mut bad = Vec::new();
    for (i, l) in text.split_inclusive('\n').enumerate() {
        bad.extend_from_slice(&gbk(l));
        if i == 5 {
            bad.extend_from_slice(b"\xff\xff,\r\n");
        }
    }
    let e = detail_err(&bad);
    assert!(matches!(e, BillError::NotGbk { line: 7, .. }), "{e}");
    // Truncated: cut before the footer, at a line end and inside a row.
    let end = text
        .find("#-----------------------------------------业务明细列表结束")
        .unwrap();
    let e = detail_err(&gbk(&text[..end]));
    assert!(matches!(e, BillError::Truncated { line: 8, .. }), "{e}");
    let e = detail_err(&gbk(&text[..end - 20]));
    assert!(matches!(e, BillError::Truncated { line: 8, .. }), "{e}");
    // Footer end marker but no totals.
    let e = detail_err(&gbk(&text[..end + 100]));
    assert!(matches!(e, BillError::Truncated { .. }), "{e}");
    // Missing column.
    let e = detail_err(&gbk(&text.replace("商家实收（元）", "实收")));
    assert!(
        matches!(
            &e,
            BillError::MissingColumn {
                column: "商家实收（元）",
                line: 5,
                ..
            }
        ),
        "{e}"
    );
    // Bad amount.
    let e = detail_err(&gbk(&text.replacen("88.88\t", "88.8.8\t", 1)));
    assert!(
        matches!(
            &e,
            BillError::BadAmount {
                column: "订单金额（元）",
                line: 6,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("订单金额（元）") && e.to_string().contains("line 6"));
    // Footer disagreeing with the rows.
    let t = text.replace("商家实收共88.89元", "商家实收共88.90元");
    let zip = zip_of(&[("p_业务明细.csv", &gbk(&t))]);
    let mut a = BillArchive::from_bytes(&zip).unwrap();
    let mut d = a.detail().unwrap();
    assert_eq!(d.by_ref().count(), 3);
    assert!(matches!(
        d.check_footer(),
        Err(BillError::FooterMismatch { .. })
    ));
}

#[test]
fn amounts() {
    assert_eq!(Fen::parse_yuan("88.88"), Some(Fen(8888)));
    assert_eq!(Fen::parse_yuan("-10.00"), Some(Fen(-1000)));
    assert_eq!(Fen::parse_yuan("5"), Some(Fen(500)));
    assert_eq!(Fen::parse_yuan("0.5"), Some(Fen(50)));
    for bad in ["", "-", "1.234", "1e3", "+1", ".5", "5.", " 1", "1,0"] {
        assert_eq!(Fen::parse_yuan(bad), None, "{bad:?}");
    }
    assert_eq!(Fen(-1000).to_string(), "-10.00");
    assert_eq!(Fen(-1000).abs_money(), Money::from_fen(1000));
}

/// A detail CSV produced on the fly: never in memory as a whole.
struct Generated {
    rows: u64,
    next: u64,
    buf: Vec<u8>,
    pos: usize,
    phase: u8,
    pulled: std::rc::Rc<std::cell::Cell<u64>>,
}

const ROW_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

fn gen_row(n: u64) -> String {
    format!("{n:028}\t,o{n:010}\t,交易\t,商品\t,2026-06-05 10:00:00\t,2026-06-05 10:00:01\t,S1\t,门店\t,op\t,T1\t,a***@qq.com\t,1.00\t,1.00\t,0.00,0.00,0.00,0.00,0.00,\t,0.00,0.00,\t,0.00,0.00,\t\r\n")
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            match self.phase {
                0 => {
                    self.buf = gbk(&format!("{HEAD}{ROW_HEADER}\r\n"));
                    self.phase = 1;
                }
                1 if self.next < self.rows => {
                    self.buf = gbk(&gen_row(self.next));
                    self.next += 1;
                }
                1 => {
                    let yuan = Fen(self.rows as i64 * 100);
                    self.buf = gbk(&format!("{FOOT_END}#交易合计：{}笔，商家实收共{yuan}元，商家优惠共0.00元\r\n#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元\r\n", self.rows));
                    self.phase = 2;
                }
                _ => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.pulled.set(self.pulled.get() + n as u64);
        Ok(n)
    }
}

#[test]
// `for` would hold the iterator borrowed; the loop reads its buffers.
#[allow(clippy::while_let_on_iterator)]
fn hundred_thousand_rows_stream_in_bounded_memory() {
    const ROWS: u64 = 100_000;
    let pulled = std::rc::Rc::new(std::cell::Cell::new(0));
    let g = Generated {
        rows: ROWS,
        next: 0,
        buf: Vec::new(),
        pos: 0,
        phase: 0,
        pulled: pulled.clone(),
    };
    let row_len = gbk(&gen_row(0)).len() as u64;
    let head_len = gbk(&format!("{HEAD}{ROW_HEADER}\r\n")).len() as u64;
    let mut d = DetailReader::new(g, "gen.csv").unwrap();
    let cap0 = d.buffer_capacity();
    let mut n = 0u64;
    while let Some(r) = d.next() {
        let r = r.unwrap();
        assert_eq!(r.received, Fen(100));
        n += 1;
        // The reader is at most one BufReader buffer ahead of the rows it
        // yielded, and its buffers do not grow.
        assert!(pulled.get() <= head_len + n * row_len + 32 * 1024 + row_len);
        assert!(d.buffer_capacity() <= cap0.max(4096));
    }
    assert_eq!(n, ROWS);
    assert_eq!(d.footer().unwrap().trade_count, ROWS);
    d.check_footer().unwrap();
}
