//! Reconciliation at scale (the acceptance benchmark): a bill of one day
//! with N payments (and a few percent of them refunded that day) read and
//! compared against a journal holding the same trades. Quotes rows per
//! second for `compare_file` alone (inflating, GBK-decoding, parsing and
//! comparing every row, footer and summary checks included) and for
//! `load_book` + `compare_file`, and the process's RSS before the book is
//! loaded, after it is loaded and after the comparison (goal: at least
//! 200,000 rows/s on one core, memory flat in the number of rows read).
//!
//! The journal (`SqliteStore`, synchronous off, big batches) and the bill
//! zip (the simulator's layout: comment header, 25 tab-padded columns, GBK,
//! footer totals, the summary CSV; 服务费 at 60 bps from `engine::fees`) are
//! written by a child process of this binary, so that the figures of the
//! measuring process are not those of the setup. The measuring process uses
//! mimalloc, the `payswitch` binary's allocator.
//!
//! Run: `cargo bench -p payswitch-engine --bench recon_bill`. Env:
//! `RECON_BENCH_ROWS` (payments, default 1,000,000); `RECON_BENCH_DIR` (a
//! directory to keep the journal and the bill in; a later run with the same
//! rows reuses them and skips the setup, e.g. to run the measuring part
//! alone under `/usr/bin/time -v`). Without it a temporary directory is used.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use engine::config::SyncMode;
use engine::fees::{self, FeeRate, FeeRates, TradeFees};
use engine::metrics::Metrics;
use engine::recon::compare::{self, JournalView, RateBook, TerminalRates};
use engine::recon::run::{compare_file, load_book};
use engine::store::sqlite::SqliteStore;
use engine::store::{Store, StoreError, Write};
use engine::trade::{Kind, Phase, Refund, RefundStatus, Status, Trade};
use protocol::Money;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const APP: &str = "2021000000000001";
const DATE: &str = "2026-06-05";
const DAY: &str = "20260605";
/// The account of the bill (`#账号：[…]`) and the entries' prefix.
const ACCOUNT: &str = "20881234567890120156";
const TERMINAL: &str = "T1";
const SMID: &str = "2088000000000001";
const BPS: u32 = 60;
/// One trade in REFUND_EVERY is refunded once on the day (about 3 %).
const REFUND_EVERY: u64 = 33;
/// Writes per journal commit.
const BATCH: usize = 20_000;

const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn rate() -> FeeRate {
    FeeRate::new(BPS).unwrap()
}

// ------------------------------------------------------------ the data

/// Trade `i` of `n`: what both the journal and the bill hold.
struct Spec {
    out_trade_no: String,
    trade_no: String,
    total: u64,
    /// Seconds after midnight (Beijing) of the payment.
    paid: u64,
    /// (out_request_no, amount fen, seconds after midnight).
    refund: Option<(String, u64, u64)>,
}

fn spec(i: u64, n: u64) -> Spec {
    let out_trade_no = format!("RB{i:014}");
    let total = 1 + (i * 7_919 + 17) % 99_999;
    let paid = 60 + i * 86_000 / n.max(1);
    let refund = (i % REFUND_EVERY == 7).then(|| {
        // Every other one refunds the whole trade (the fee left is returned),
        // the others a third (the fee returned proportionally).
        let amount = if i % 2 == 0 || total < 3 {
            total
        } else {
            total / 3
        };
        (
            format!("{out_trade_no}-R1"),
            amount,
            (paid + 120).min(86_399),
        )
    });
    Spec {
        trade_no: format!("2026060522001{:015}", 400_000_000_000_000 + i),
        out_trade_no,
        total,
        paid,
        refund,
    }
}

fn gateway_time(secs: u64) -> String {
    format!(
        "{DATE} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn day_start_ms() -> i64 {
    time::macros::datetime!(2026-06-05 0:00 +8).unix_timestamp() * 1000
}

fn trade_fee(total: u64) -> u64 {
    fees::trade_fee(Money::from_fen(total), rate()).fen()
}

fn refund_fee(total: u64, amount: u64) -> u64 {
    TradeFees::new(Money::from_fen(total), rate())
        .refund(Money::from_fen(amount))
        .unwrap()
        .fen()
}

/// What the setup wrote, read back by the measuring process.
#[derive(Debug, Default, Clone, PartialEq)]
struct Meta {
    rows: u64,
    trades: u64,
    refunds: u64,
    trade_fen: u64,
    refund_fen: u64,
    /// Gateway fee charged minus returned (fen).
    fee_net: i64,
    zip_bytes: u64,
    csv_bytes: u64,
}

impl Meta {
    fn write(&self, p: &Path) {
        let s = format!(
            "rows={}\ntrades={}\nrefunds={}\ntrade_fen={}\nrefund_fen={}\nfee_net={}\nzip_bytes={}\ncsv_bytes={}\n",
            self.rows, self.trades, self.refunds, self.trade_fen, self.refund_fen, self.fee_net,
            self.zip_bytes, self.csv_bytes
        );
        std::fs::write(p, s).unwrap();
    }

    fn read(p: &Path) -> Option<Meta> {
        let s = std::fs::read_to_string(p).ok()?;
        let kv: HashMap<&str, &str> = s.lines().filter_map(|l| l.split_once('=')).collect();
        let g = |k: &str| kv.get(k).and_then(|v| v.parse::<i64>().ok());
        Some(Meta {
            rows: g("rows")? as u64,
            trades: g("trades")? as u64,
            refunds: g("refunds")? as u64,
            trade_fen: g("trade_fen")? as u64,
            refund_fen: g("refund_fen")? as u64,
            fee_net: g("fee_net")?,
            zip_bytes: g("zip_bytes")? as u64,
            csv_bytes: g("csv_bytes")? as u64,
        })
    }
}

// ------------------------------------------------------------ the journal

fn journal_trade(s: &Spec) -> Trade {
    let t0 = day_start_ms();
    let paid_ms = t0 + s.paid as i64 * 1000;
    Trade {
        app_id: APP.into(),
        out_trade_no: s.out_trade_no.clone(),
        kind: Kind::Pay,
        status: Status::Success,
        phase: Phase::Idle,
        fingerprint: "5f".repeat(32),
        terminal: TERMINAL.into(),
        total_amount: Money::from_fen(s.total),
        subject: "bench item".into(),
        trade_no: Some(s.trade_no.clone()),
        receipt_amount: Some(Money::from_fen(s.total)),
        buyer_logon_id: Some("abc***@qq.com".into()),
        gmt_payment: Some(gateway_time(s.paid)),
        refunded_amount: Money::from_fen(s.refund.as_ref().map_or(0, |r| r.1)),
        code: Some("10000".into()),
        sub_code: None,
        sub_msg: None,
        qr_code: None,
        merchant_notify_url: None,
        terminal_no: None,
        never_sent: false,
        refunding_amount: Money::ZERO,
        watch: None,
        expires_ms: None,
        qr_checks_done: 0,
        created_ms: paid_ms - 3_000,
        updated_ms: s
            .refund
            .as_ref()
            .map_or(paid_ms, |r| t0 + r.2 as i64 * 1000),
        version: 0,
    }
}

fn journal_refund(s: &Spec, (req, amount, at): &(String, u64, u64)) -> Refund {
    let ms = day_start_ms() + *at as i64 * 1000;
    Refund {
        app_id: APP.into(),
        out_trade_no: s.out_trade_no.clone(),
        out_request_no: req.clone(),
        refund_amount: Money::from_fen(*amount),
        refund_reason: None,
        status: RefundStatus::Success,
        fingerprint: "6e".repeat(32),
        code: Some("10000".into()),
        sub_code: None,
        sub_msg: None,
        gmt_refund_pay: Some(gateway_time(*at)),
        created_ms: ms - 500,
        updated_ms: ms,
    }
}

fn write_journal(path: &Path, n: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store =
        SqliteStore::open_path(path, SyncMode::Off, 4, Arc::new(Metrics::default())).unwrap();
    let mut in_flight = std::collections::VecDeque::new();
    let mut writes = Vec::with_capacity(BATCH + 1);
    for i in 0..n {
        let s = spec(i, n);
        writes.push(Write::Trade(Box::new(journal_trade(&s))));
        if let Some(r) = &s.refund {
            writes.push(Write::Refund(Box::new(journal_refund(&s, r))));
        }
        if writes.len() >= BATCH {
            in_flight.push_back(store.commit(std::mem::take(&mut writes)));
            if in_flight.len() > 2 {
                rt.block_on(in_flight.pop_front().unwrap()).unwrap();
            }
        }
    }
    in_flight.push_back(store.commit(writes));
    for c in in_flight {
        rt.block_on(c).unwrap();
    }
    store.close();
}

// ------------------------------------------------------------ the bill

fn yuan(fen: u64) -> String {
    Money::from_fen(fen).to_wire()
}

fn signed(fen: i64) -> String {
    if fen < 0 {
        format!("-{}", yuan(fen.unsigned_abs()))
    } else {
        yuan(fen.unsigned_abs())
    }
}

fn neg(fen: u64) -> String {
    if fen == 0 {
        "0.00".into()
    } else {
        format!("-{}", yuan(fen))
    }
}

/// One detail row as the simulator writes it: every cell followed by a TAB.
#[allow(clippy::too_many_arguments)]
fn detail_row(
    out: &mut String,
    s: &Spec,
    kind: &str,
    done: u64,
    amount: &str,
    received: &str,
    req: &str,
    fee: &str,
) {
    let _ = write!(
        out,
        "{}\t,{}\t,{kind}\t,bench item\t,{}\t,{}\t,S1\t,门店S1\t,op1\t,POS_1\t,abc***@qq.com\t,{amount}\t,{received}\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,{req}\t,{fee}\t,0.00\t,\t\r\n",
        s.trade_no,
        s.out_trade_no,
        gateway_time(s.paid - 3),
        gateway_time(done),
    );
}

/// Writes GBK text to the zip entry.
fn put_gbk(w: &mut impl std::io::Write, text: &str, csv_bytes: &mut u64) {
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "text not representable in GBK");
    w.write_all(&gbk).unwrap();
    *csv_bytes += gbk.len() as u64;
}

fn write_bill(path: &Path, n: u64) -> Meta {
    let f = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, f));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut m = Meta {
        rows: n,
        ..Meta::default()
    };
    let period = format!(
        "#起始日期：[{0}年{1}月{2}日 00:00:00]   终止日期：[{0}年{1}月{3:02}日 00:00:00]\r\n",
        &DATE[0..4],
        &DATE[5..7],
        &DATE[8..10],
        DATE[8..10].parse::<u32>().unwrap() + 1
    );
    let export = "#导出时间：[2026年06月06日 09:00:12]\r\n";

    zip.start_file(format!("{ACCOUNT}_{DAY}_业务明细.csv"), opts)
        .unwrap();
    let mut text = String::with_capacity(1 << 20);
    text.push_str("#支付宝业务明细查询\r\n");
    let _ = write!(text, "#账号：[{ACCOUNT}]\r\n");
    text.push_str(&period);
    text.push_str("#-----------------------------------------业务明细列表----------------------------------------\r\n");
    text.push_str(HEADER);
    text.push_str("\r\n");
    let mut csv_bytes = 0u64;
    for i in 0..n {
        let s = spec(i, n);
        let fee = trade_fee(s.total);
        let total = yuan(s.total);
        detail_row(
            &mut text,
            &s,
            "交易",
            s.paid,
            &total,
            &total,
            "",
            &signed(-(fee as i64)),
        );
        m.trades += 1;
        m.trade_fen += s.total;
        m.fee_net += fee as i64;
        if let Some((req, amount, at)) = &s.refund {
            let back = refund_fee(s.total, *amount);
            detail_row(
                &mut text,
                &s,
                "退款",
                *at,
                &total,
                &neg(*amount),
                req,
                &signed(back as i64),
            );
            m.refunds += 1;
            m.refund_fen += amount;
            m.fee_net -= back as i64;
        }
        if text.len() >= (1 << 20) - 1024 {
            put_gbk(&mut zip, &text, &mut csv_bytes);
            text.clear();
        }
    }
    text.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    let _ = write!(
        text,
        "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\r\n",
        m.trades,
        yuan(m.trade_fen)
    );
    let _ = write!(
        text,
        "#退款合计：{}笔，商家实收退款共{}元，商家优惠退款共0.00元\r\n",
        m.refunds,
        neg(m.refund_fen)
    );
    text.push_str(export);
    put_gbk(&mut zip, &text, &mut csv_bytes);

    zip.start_file(format!("{ACCOUNT}_{DAY}_业务明细(汇总).csv"), opts)
        .unwrap();
    let mut summary = String::new();
    summary.push_str("#支付宝业务汇总查询\r\n");
    let _ = write!(summary, "#账号：[{ACCOUNT}]\r\n");
    summary.push_str(&period);
    summary.push_str("门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n");
    let _ = write!(
        summary,
        "合计,,{},{},{},{},0.00,0.00,0.00,{},0.00,{}\r\n",
        m.trades,
        m.refunds,
        yuan(m.trade_fen),
        yuan(m.trade_fen),
        signed(-m.fee_net),
        yuan(m.trade_fen - m.refund_fen)
    );
    summary.push_str("#-----------------------------------------汇总列表结束------------------------------------\r\n");
    summary.push_str(export);
    let mut ignored = 0;
    put_gbk(&mut zip, &summary, &mut ignored);
    let mut w = zip.finish().unwrap();
    w.flush().unwrap();
    drop(w);
    m.csv_bytes = csv_bytes;
    m.zip_bytes = std::fs::metadata(path).unwrap().len();
    m
}

/// The child process: writes the journal and the bill (in parallel).
fn setup(dir: &Path, n: u64) {
    let t0 = Instant::now();
    let bill_path = dir.join("bill.zip");
    let bill = std::thread::spawn(move || {
        let t = Instant::now();
        let m = write_bill(&bill_path, n);
        (m, t.elapsed().as_secs_f64())
    });
    let t = Instant::now();
    write_journal(&dir.join("journal.db"), n);
    let journal_s = t.elapsed().as_secs_f64();
    let (meta, bill_s) = bill.join().unwrap();
    let db_bytes: u64 = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal.db"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    println!(
        "setup: journal of {} trades + {} refunds in {journal_s:.1} s ({:.0} MiB); bill of {} rows in {bill_s:.1} s (zip {:.1} MiB, detail CSV {:.1} MiB GBK); {:.1} s in all",
        meta.trades,
        meta.refunds,
        db_bytes as f64 / 1048576.0,
        meta.trades + meta.refunds,
        meta.zip_bytes as f64 / 1048576.0,
        meta.csv_bytes as f64 / 1048576.0,
        t0.elapsed().as_secs_f64()
    );
    meta.write(&dir.join("meta.txt"));
}

// ------------------------------------------------------------ measuring

/// The journal as `reconcile` reads it (point lookups by out_trade_no).
struct StoreJournal {
    store: Arc<SqliteStore>,
}

impl JournalView for StoreJournal {
    fn trade(&self, no: &str) -> Result<Option<Trade>, StoreError> {
        self.store.trade(APP, no)
    }
    fn refund(&self, no: &str, req: &str) -> Result<Option<Refund>, StoreError> {
        self.store.refund(APP, no, req)
    }
    fn refunds_of(&self, no: &str) -> Result<Vec<Refund>, StoreError> {
        self.store.refunds_of(APP, no)
    }
}

/// Terminal T1 belongs to sub-merchant SMID at 60/60 bps.
struct Rates {
    smid: Arc<str>,
}

impl RateBook for Rates {
    fn terminal(&self, key_id: &str) -> Option<TerminalRates> {
        (key_id == TERMINAL).then(|| {
            (
                Some(self.smid.clone()),
                FeeRates {
                    gateway: compare::rate(BPS),
                    merchant: compare::rate(BPS),
                },
            )
        })
    }
    fn smid(&self, smid: &str) -> Option<FeeRates> {
        (smid == SMID).then(|| FeeRates {
            gateway: compare::rate(BPS),
            merchant: compare::rate(BPS),
        })
    }
}

/// VmRSS, VmHWM, RssAnon, RssFile of this process, MiB.
#[derive(Clone, Copy)]
struct Mem {
    rss: f64,
    hwm: f64,
    anon: f64,
    file: f64,
}

fn mem() -> Mem {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |k: &str| -> f64 {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    Mem {
        rss: kib("VmRSS:"),
        hwm: kib("VmHWM:"),
        anon: kib("RssAnon:"),
        file: kib("RssFile:"),
    }
}

/// CPU seconds this thread has run (`/proc/thread-self/schedstat`, ns):
/// the rate per CPU second is what one core does, whatever else runs.
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn show(what: &str, m: Mem) {
    println!(
        "  {what:<24} VmHWM {:>7.1} MiB   VmRSS {:>7.1} MiB (anon {:>7.1}, file {:>7.1})",
        m.hwm, m.rss, m.anon, m.file
    );
}

/// Bytes of a glibc/mimalloc-ish small allocation of `len` bytes.
fn alloc_bytes(len: usize) -> usize {
    (len.max(1) + 15) & !15
}

/// hashbrown's bucket count after inserting `n` entries one by one.
fn buckets(n: usize) -> usize {
    if n == 0 {
        0
    } else if n < 4 {
        4
    } else if n < 8 {
        8
    } else {
        (n * 8 / 7).next_power_of_two()
    }
}

/// An estimate of the book's heap bytes: the two maps' tables (buckets of
/// key + entry + one control byte) and the keys' own allocations.
/// `BookTrade` is 24 bytes (two u64, a u32, a bool), `BookRefund` 16.
fn book_bytes(n: u64, meta: &Meta) -> usize {
    let nt = meta.trades as usize;
    let nr = meta.refunds as usize;
    let trade_key = spec(0, n).out_trade_no.len();
    let req_key = trade_key + 3;
    let trades = buckets(nt) * (16 + 24 + 1) + nt * alloc_bytes(trade_key);
    let refunds =
        buckets(nr) * (32 + 16 + 1) + nr * (alloc_bytes(trade_key) + alloc_bytes(req_key));
    trades + refunds
}

fn measure(dir: &Path, n: u64) {
    let meta = Meta::read(&dir.join("meta.txt")).expect("the setup's meta.txt");
    let rows = meta.trades + meta.refunds;
    let m0 = mem();
    let store = SqliteStore::open_path(
        &dir.join("journal.db"),
        SyncMode::Normal,
        64,
        Arc::new(Metrics::default()),
    )
    .unwrap();

    let (t, c0) = (Instant::now(), thread_cpu_s());
    let book = load_book(&*store, APP, DATE).unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let load_cpu = thread_cpu_s() - c0;
    assert_eq!(book.trade_count() as u64, meta.trades, "book trades");
    assert_eq!(book.refund_count() as u64, meta.refunds, "book refunds");
    let m1 = mem();

    let journal = StoreJournal {
        store: store.clone(),
    };
    let rates = Rates {
        smid: Arc::from(SMID),
    };
    let (t, c0) = (Instant::now(), thread_cpu_s());
    let got = compare_file(&dir.join("bill.zip"), book, &journal, &rates).unwrap();
    let cmp_s = t.elapsed().as_secs_f64();
    let cmp_cpu = thread_cpu_s() - c0;
    let m2 = mem();

    // The comparison really happened: every row matched, nothing differs.
    let c = &got.comparison;
    assert_eq!(c.bill_rows, rows, "bill rows read");
    assert!(
        c.candidates.is_empty(),
        "{} candidate differences, first: {:?}",
        c.candidates.len(),
        c.candidates.first()
    );
    assert_eq!(c.matched, rows, "rows matched");
    assert_eq!(c.journal_trades, meta.trades);
    assert_eq!(c.journal_refunds, meta.refunds);
    assert_eq!(c.merchants.len(), 1, "one sub-merchant");
    let md = &c.merchants[SMID];
    assert_eq!(md.trade_count, meta.trades);
    assert_eq!(md.refund_count, meta.refunds);
    assert_eq!(md.trade_fen, meta.trade_fen as i64);
    assert_eq!(md.refund_fen, meta.refund_fen as i64);
    assert_eq!(md.gateway_fee_fen, meta.fee_net, "gateway fee net");
    assert_eq!(
        md.merchant_fee_fen, meta.fee_net,
        "merchant fee net (same rate)"
    );
    assert_eq!(md.matched, rows);
    assert_eq!(got.totals.trade_count, meta.trades);
    assert_eq!(got.totals.refund_count, meta.refunds);
    store.close();

    let book_est = book_bytes(n, &meta);
    println!(
        "recon_bill: {rows} bill rows ({} payments, {} refunds), zip {:.1} MiB, detail CSV {:.1} MiB",
        meta.trades,
        meta.refunds,
        meta.zip_bytes as f64 / 1048576.0,
        meta.csv_bytes as f64 / 1048576.0
    );
    println!("  (wall time, and the CPU time of the thread doing the work)");
    println!(
        "  load_book:              {load_s:>7.2} s {:>9.0} entries/s   cpu {load_cpu:>6.2} s {:>9.0} entries/cpu-s",
        rows as f64 / load_s,
        rows as f64 / load_cpu
    );
    println!(
        "  compare_file:           {cmp_s:>7.2} s {:>9.0} rows/s      cpu {cmp_cpu:>6.2} s {:>9.0} rows/cpu-s (goal >= 200000 on one core)",
        rows as f64 / cmp_s,
        rows as f64 / cmp_cpu
    );
    println!(
        "  load_book+compare_file: {:>7.2} s {:>9.0} rows/s      cpu {:>6.2} s {:>9.0} rows/cpu-s",
        load_s + cmp_s,
        rows as f64 / (load_s + cmp_s),
        load_cpu + cmp_cpu,
        rows as f64 / (load_cpu + cmp_cpu)
    );
    println!(
        "  book: {} trades + {} refunds, about {:.1} MiB ({:.0} bytes per entry, estimate); anon RSS grew {:.1} MiB while loading",
        meta.trades,
        meta.refunds,
        book_est as f64 / 1048576.0,
        book_est as f64 / rows as f64,
        m1.anon - m0.anon
    );
    println!("  memory (file = the journal's pages mapped by SQLite's mmap, reclaimable):");
    show("before load_book", m0);
    show("after load_book", m1);
    show("after compare_file", m2);
    println!(
        "  compare_file raised the peak by {:.1} MiB over the loaded book ({:.1} bytes per row read)",
        m2.hwm - m1.hwm,
        (m2.hwm - m1.hwm) * 1048576.0 / rows as f64
    );
}

fn main() {
    let n = env_u64("RECON_BENCH_ROWS", 1_000_000);
    if let Ok(dir) = std::env::var("RECON_BENCH_SETUP") {
        setup(Path::new(&dir), n);
        return;
    }
    let tmp;
    let dir: PathBuf = match std::env::var("RECON_BENCH_DIR") {
        Ok(d) => {
            std::fs::create_dir_all(&d).unwrap();
            PathBuf::from(d)
        }
        Err(_) => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    let ready = Meta::read(&dir.join("meta.txt")).is_some_and(|m| m.rows == n)
        && dir.join("bill.zip").exists()
        && dir.join("journal.db").exists();
    if ready {
        println!("setup: reusing {}", dir.display());
    } else {
        for name in [
            "meta.txt",
            "bill.zip",
            "journal.db",
            "journal.db-wal",
            "journal.db-shm",
        ] {
            let _ = std::fs::remove_file(dir.join(name));
        }
        let status = Command::new(std::env::current_exe().unwrap())
            .env("RECON_BENCH_SETUP", &dir)
            .env("RECON_BENCH_ROWS", n.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "the setup failed: {status}");
    }
    measure(&dir, n);
}
