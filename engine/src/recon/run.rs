//! One reconciliation run of a bill date, end to end: ask the gateway for
//! the bill's URL, download it (within its 30 s) to a file next to the
//! report, read it ([`super::bill`]) and check its footer and summary, load
//! the journal's book of the day, compare ([`super::compare`]), settle what
//! a query settles ([`super::repair`]), compare with the previous run of the
//! date, write the report ([`super::report`]) and record the run in the
//! journal.
//!
//! Nothing is written to the journal before the whole bill has been read and
//! its totals checked: a corrupt, truncated or mis-encoded bill, or an
//! expired URL, is an error (exit code 1) that changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use protocol::biz::{to_biz_content, BillQueryBiz};
use protocol::response::BillUrlResponse;
use protocol::{Code, Method};

use super::bill::{BillArchive, BillError, Fen};
use super::compare::{Book, Class, Comparer, Comparison, JournalView, RateBook, TerminalRates};
use super::repair::{RepairError, Repairer, Settled};
use super::report::{
    self, BillTotals, Changes, ClassCount, Difference, Lang, MerchantLine, ReconReport, Summary,
};
use crate::config::Config;
use crate::fees::FeeRates;
use crate::gateway::{Gateway, Outcome};
use crate::merchants::{Origin, Registry};
use crate::metrics::Metrics;
use crate::store::{ReconRunRecord, Store, StoreError, Write};
use crate::trade::{now_ms, Refund, Trade};

/// How long the bill's URL is valid after the answer (docs/PROTOCOL.md §5).
pub const URL_VALID: Duration = Duration::from_secs(30);
/// At most this long for the whole download.
pub const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(600);
/// At most this many gateway queries per run.
pub const MAX_QUERIES: usize = 10_000;

/// Why a run failed (exit code 1). The journal is unchanged unless the
/// error is [`ReconError::Journal`] after repairs began (each repair is
/// journaled as it happens).
#[derive(Debug, thiserror::Error)]
pub enum ReconError {
    /// `--date` is not a date `yyyy-MM-dd` (the text given).
    #[error("--date {0:?} is not a date yyyy-MM-dd")]
    BadDate(String),
    /// The configuration does not load, or the journal, gateway client,
    /// registry or runtime cannot be set up from it (what went wrong).
    #[error("configuration: {0}")]
    Config(String),
    /// A journal read or the run's record failed.
    #[error("the journal: {0}")]
    Store(#[from] StoreError),
    /// The gateway has no bill for the date (not yet, or no trades).
    #[error("the gateway has no bill for {date} ({sub_code}: {sub_msg}); a day's bill is available from 09:00 the next day, gateway time")]
    NoBill {
        /// The bill date asked for.
        date: String,
        /// The gateway's sub_code (`isp.bill_not_exist`, ...).
        sub_code: String,
        /// The gateway's sub_msg.
        sub_msg: String,
    },
    /// The gateway refused the bill query for another reason.
    #[error("the gateway refused the bill query: {code} {sub_code} {sub_msg}")]
    Refused {
        /// The gateway's code.
        code: String,
        /// The gateway's sub_code.
        sub_code: String,
        /// The gateway's sub_msg.
        sub_msg: String,
    },
    /// No verified answer to the bill query (why).
    #[error("no answer from the gateway to the bill query: {0}")]
    NoAnswer(String),
    /// The answer has no URL, or the download failed, was too large, took
    /// too long or could not be stored (why).
    #[error("the bill download failed (the URL is valid 30 s): {0}")]
    Download(String),
    /// The downloaded bill cannot be read, or its footer disagrees with its
    /// rows.
    #[error("the bill {file}: {source}")]
    Bill {
        /// The bill file.
        file: String,
        /// What is wrong with it.
        #[source]
        source: BillError,
    },
    /// The summary's `合计` row counts other trades or refunds than the
    /// detail rows (what differs).
    #[error("the bill's summary file disagrees with its detail rows: {0}")]
    Totals(String),
    /// The report folder or a report file cannot be written.
    #[error("writing the report in {dir}: {error}")]
    Io {
        /// The report folder.
        dir: String,
        /// What the file system said.
        error: String,
    },
    /// The journal refused a repair's record (repairs already recorded
    /// stay).
    #[error(transparent)]
    Journal(#[from] RepairError),
}

/// What a run needs: the switch's parts (in `serve`) or the command's own.
#[derive(Clone)]
pub struct ReconContext {
    /// The configuration (`[gateway] app_id`, `[recon]`).
    pub cfg: Arc<Config>,
    /// The journal: the book of the day, repairs, the run's record.
    pub store: Arc<dyn Store>,
    /// The gateway: the bill query, the download, the questions.
    pub gw: Arc<Gateway>,
    /// The registry: who a trade belongs to and at which rates.
    pub registry: Arc<Registry>,
    /// Where the run's gauges go.
    pub metrics: Arc<Metrics>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct ReconOutcome {
    /// 0: everything matched or was resolved; 2: differences stay open.
    pub exit_code: i32,
    /// The report written (and recorded in the journal).
    pub report: ReconReport,
    /// The JSON report, `recon-YYYY-MM-DD.json`.
    pub json_path: PathBuf,
    /// Every file written (JSON, CSV, Markdown, HTML).
    pub files: Vec<PathBuf>,
}

/// Checks a `yyyy-MM-dd`.
///
/// # Errors
/// [`ReconError::BadDate`] when `s` is not a real date of that shape.
pub fn parse_date(s: &str) -> Result<time::Date, ReconError> {
    time::Date::parse(s, crate::config::DAY_FORMAT).map_err(|_| ReconError::BadDate(s.to_owned()))
}

struct StoreJournal {
    store: Arc<dyn Store>,
    app_id: String,
}

impl JournalView for StoreJournal {
    fn trade(&self, no: &str) -> Result<Option<Trade>, StoreError> {
        self.store.trade(&self.app_id, no)
    }
    fn refund(&self, no: &str, req: &str) -> Result<Option<Refund>, StoreError> {
        self.store.refund(&self.app_id, no, req)
    }
    fn refunds_of(&self, no: &str) -> Result<Vec<Refund>, StoreError> {
        self.store.refunds_of(&self.app_id, no)
    }
}

/// The registry's merchants and rates (a merchant of the configuration
/// without rates takes `[recon]`'s defaults).
pub struct RegistryRates {
    registry: Arc<Registry>,
    cfg: Arc<Config>,
    cache: parking_lot::Mutex<HashMap<String, Option<TerminalRates>>>,
}

impl RegistryRates {
    /// Rates from `registry`, `[recon]`'s defaults and the `[[merchants]]`
    /// of `cfg`; a terminal's answer is cached for the run.
    pub fn new(registry: Arc<Registry>, cfg: Arc<Config>) -> RegistryRates {
        RegistryRates {
            registry,
            cfg,
            cache: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    fn rates_of(&self, m: &crate::merchants::Merchant) -> FeeRates {
        let (g, mf) = if m.origin == Origin::Journal {
            (m.record.gateway_fee_bps, m.record.merchant_fee_bps)
        } else {
            let declared = self
                .cfg
                .merchants
                .iter()
                .find(|c| c.external_id == m.record.external_id);
            (
                declared
                    .and_then(|c| c.gateway_fee_bps)
                    .unwrap_or(self.cfg.recon.default_gateway_fee_bps),
                declared
                    .and_then(|c| c.merchant_fee_bps)
                    .unwrap_or(self.cfg.recon.default_merchant_fee_bps),
            )
        };
        FeeRates {
            gateway: super::compare::rate(g),
            merchant: super::compare::rate(mf),
        }
    }

    /// The merchant of a smid ("" for none): (external_id, name, rates).
    pub fn merchant_line(&self, smid: &str) -> (Option<String>, Option<String>, Option<FeeRates>) {
        if smid.is_empty() {
            return (None, None, None);
        }
        match self.registry.merchant_by_smid(smid) {
            Some(m) => (
                Some(m.record.external_id.clone()),
                Some(m.record.name.clone()),
                Some(self.rates_of(&m)),
            ),
            None => (None, None, None),
        }
    }
}

impl RateBook for RegistryRates {
    fn terminal(&self, key_id: &str) -> Option<TerminalRates> {
        if let Some(v) = self.cache.lock().get(key_id) {
            return v.clone();
        }
        let v = self.registry.terminal(key_id).and_then(|t| {
            let m = self.registry.merchant(&t.external_id)?;
            Some((t.cfg.smid.as_deref().map(Arc::from), self.rates_of(&m)))
        });
        self.cache.lock().insert(key_id.to_owned(), v.clone());
        v
    }
    fn smid(&self, smid: &str) -> Option<FeeRates> {
        self.registry
            .merchant_by_smid(smid)
            .map(|m| self.rates_of(&m))
    }
}

/// The journal's book of a day (`yyyy-MM-dd`): the app's trades paid on
/// it and refunds done on it, with each refund's terminal.
///
/// # Errors
/// The journal's [`StoreError`] when a read fails.
pub fn load_book(store: &dyn Store, app_id: &str, date: &str) -> Result<Book, StoreError> {
    let mut book = Book::new();
    store.visit_book_on(app_id, date, &mut |l| {
        book.add_line(&l);
        Ok(())
    })?;
    let mut terminals: HashMap<String, String> = HashMap::new();
    for r in store.refunds_done_on(app_id, date)? {
        let known = book.terminal_of(&r.out_trade_no).map(str::to_owned);
        let term = match known.or_else(|| terminals.get(&r.out_trade_no).cloned()) {
            Some(t) => t,
            None => {
                let t = store
                    .trade(app_id, &r.out_trade_no)?
                    .map(|t| t.terminal)
                    .unwrap_or_default();
                terminals.insert(r.out_trade_no.clone(), t.clone());
                t
            }
        };
        book.add_refund(&r, &term);
    }
    Ok(book)
}

/// What reading and comparing the bill gave.
pub struct Compared {
    /// The comparison's differences and per-merchant tallies.
    pub comparison: Comparison,
    /// The bill's own totals (`file_code` not set yet).
    pub totals: BillTotals,
}

/// Reads the bill file and compares it with the book (blocking: call it
/// from a blocking thread). Checks the footer and the summary's 合计 row.
///
/// # Errors
/// [`ReconError::Download`] when the file cannot be opened;
/// [`ReconError::Bill`] when it cannot be read or its footer disagrees with
/// its rows; [`ReconError::Totals`] when the summary's 合计 row does;
/// [`ReconError::Store`] when a journal lookup fails.
pub fn compare_file(
    path: &Path,
    book: Book,
    journal: &dyn JournalView,
    rates: &dyn RateBook,
) -> Result<Compared, ReconError> {
    let file_name = path.display().to_string();
    let bill_err = |e: BillError| ReconError::Bill {
        file: file_name.clone(),
        source: e,
    };
    let f =
        std::fs::File::open(path).map_err(|e| ReconError::Download(format!("{file_name}: {e}")))?;
    let mut archive = BillArchive::new(BufReader::new(f)).map_err(bill_err)?;
    let mut cmp = Comparer::new(book, journal, rates);
    let (tally, extra) = {
        let mut detail = archive.detail().map_err(bill_err)?;
        let extra: Vec<String> = detail.extra_columns().map(str::to_owned).collect();
        for row in detail.by_ref() {
            let row = row.map_err(bill_err)?;
            cmp.feed(&row)?;
        }
        detail.check_footer().map_err(bill_err)?;
        (detail.tally(), extra)
    };
    let comparison = cmp.finish();
    // The summary's total row must agree with the detail rows. A bill
    // without a summary file is read on its detail alone (older downloads
    // carry only the detail); a summary that is there must read.
    let summary = match archive.summary() {
        Ok(s) => Some(s),
        Err(BillError::NoSummary { .. }) => None,
        Err(e) => return Err(bill_err(e)),
    };
    if let Some(summary) = summary {
        if let Some(total) = summary.total.as_ref() {
            if total.trade_count != tally.trade_count || total.refund_count != tally.refund_count {
                return Err(ReconError::Totals(format!(
                    "summary has {} trades and {} refunds, the detail rows {} and {}",
                    total.trade_count, total.refund_count, tally.trade_count, tally.refund_count
                )));
            }
        }
    }
    let fee: i64 = comparison
        .merchants
        .values()
        .map(|m| m.gateway_fee_fen)
        .sum();
    Ok(Compared {
        totals: BillTotals {
            trade_count: tally.trade_count,
            trade_amount: report::yuan(tally.trade_received.0),
            refund_count: tally.refund_count,
            refund_amount: report::yuan(tally.refund_received.0.abs()),
            service_fee: report::yuan(fee),
            extra_columns: extra,
            file_code: None,
            file: file_name,
        },
        comparison,
    })
}

#[cfg(feature = "failpoints")]
fn before_download() {
    fail::fail_point!("recon_before_download");
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
fn before_download() {}

/// Asks for the bill's URL and downloads it to `dest`; returns the
/// `bill_file_code`. Downloads at most `max_bytes` to `dest` + `.part`,
/// then renames it (so `dest` is only ever a whole download).
///
/// # Errors
/// [`ReconError::NoAnswer`] when the query got no verified answer;
/// [`ReconError::NoBill`] when the gateway has no bill for `date`;
/// [`ReconError::Refused`] for another refusal; [`ReconError::Download`]
/// when the answer has no URL or the download or rename fails.
pub async fn fetch_bill(
    gw: &Gateway,
    date: &str,
    dest: &Path,
    max_bytes: u64,
) -> Result<Option<String>, ReconError> {
    let biz = to_biz_content(&BillQueryBiz {
        bill_type: "trade".into(),
        bill_date: date.to_owned(),
        smid: None,
    });
    let a = match gw
        .call::<BillUrlResponse>(Method::BillDownloadUrlQuery, &biz, false)
        .await
    {
        Outcome::Unknown(why) => return Err(ReconError::NoAnswer(why)),
        Outcome::Answer(a) => a,
    };
    if a.code != Code::Success.as_str() {
        let sub = a.sub_code.clone().unwrap_or_default();
        if sub.eq_ignore_ascii_case(protocol::codes::sub::ISP_BILL_NOT_EXIST)
            || sub == protocol::codes::sub::BILL_NOT_EXIST
            || sub == protocol::codes::sub::NO_BILL_DATA
        {
            return Err(ReconError::NoBill {
                date: date.to_owned(),
                sub_code: sub,
                sub_msg: a.sub_msg.unwrap_or_default(),
            });
        }
        return Err(ReconError::Refused {
            code: a.code,
            sub_code: sub,
            sub_msg: a.sub_msg.unwrap_or_default(),
        });
    }
    let url = a
        .bill_download_url
        .ok_or_else(|| ReconError::Download("the answer has no bill_download_url".into()))?;
    before_download();
    let part = dest.with_extension("zip.part");
    gw.download(&url, &part, max_bytes, DOWNLOAD_DEADLINE)
        .await
        .map_err(|e| {
            let _ = std::fs::remove_file(&part);
            ReconError::Download(e)
        })?;
    std::fs::rename(&part, dest)
        .map_err(|e| ReconError::Download(format!("{}: {e}", dest.display())))?;
    Ok(a.bill_file_code)
}

fn summarise(diffs: &[Difference]) -> Summary {
    let mut s = Summary::default();
    let mut sums: BTreeMap<&'static str, u64> = BTreeMap::new();
    for c in Class::ALL {
        s.classes
            .insert(c.as_str().to_owned(), ClassCount::default());
        sums.insert(c.as_str(), 0);
    }
    for d in diffs {
        let Some(c) = s.classes.get_mut(&d.class) else {
            continue;
        };
        c.count += 1;
        if d.resolved {
            c.resolved += 1;
        } else {
            c.open += 1;
        }
        let fen = Fen::parse_yuan(&d.amount).map_or(0, |f| f.0.unsigned_abs());
        if let Some(v) = Class::ALL
            .iter()
            .find(|k| k.as_str() == d.class)
            .and_then(|k| sums.get_mut(k.as_str()))
        {
            *v += fen;
        }
    }
    for (k, v) in sums {
        if let Some(c) = s.classes.get_mut(k) {
            c.amount = report::yuan(v as i64);
        }
    }
    s.differences = diffs.len() as u64;
    s.resolved = diffs.iter().filter(|d| d.resolved).count() as u64;
    s.open = s.differences - s.resolved;
    s
}

fn difference(s: Settled, previous: &HashMap<String, bool>) -> Difference {
    let key = s.candidate.key();
    let c = s.candidate;
    Difference {
        class: c.class.as_str().to_owned(),
        entry: match c.entry {
            super::compare::Entry::Trade => "trade".into(),
            super::compare::Entry::Refund => "refund".into(),
        },
        out_trade_no: c.out_trade_no,
        trade_no: c.trade_no,
        out_request_no: c.out_request_no,
        smid: c.smid,
        amount: report::yuan(c.amount_fen as i64),
        switch: c.switch,
        bill: c.bill,
        resolved: s.resolved,
        resolution: s.resolution,
        repair: s.repair,
        new: !previous.contains_key(&key),
    }
}

fn key_of(d: &Difference) -> String {
    format!(
        "{}|{}|{}",
        d.class,
        d.out_trade_no,
        d.out_request_no.as_deref().unwrap_or("")
    )
}

fn write_files(r: &ReconReport, dir: &Path, lang: Lang) -> Result<Vec<PathBuf>, ReconError> {
    let io = |e: std::io::Error| ReconError::Io {
        dir: dir.display().to_string(),
        error: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let base = format!("recon-{}", r.date);
    let json = serde_json::to_string_pretty(r).map_err(|e| ReconError::Io {
        dir: dir.display().to_string(),
        error: e.to_string(),
    })?;
    let files = [
        (format!("{base}.json"), json),
        (format!("{base}.csv"), report::csv(r)),
        (format!("{base}.md"), report::markdown(r, lang)),
        (format!("{base}.html"), report::html(r, lang)),
    ];
    let mut out = Vec::new();
    for (name, text) in files {
        let p = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &p).map_err(io)?;
        out.push(p);
    }
    Ok(out)
}

/// The gauges of a run (`payswitch_recon_differences{class,resolved}`, ...).
pub fn publish(metrics: &Metrics, r: &ReconReport, at_ms: i64) {
    let mut g = Vec::new();
    for (class, c) in &r.summary.classes {
        for (resolved, n) in [("true", c.resolved), ("false", c.open)] {
            g.push((
                "payswitch_recon_differences".to_owned(),
                crate::metrics::labels(&[("class", class), ("resolved", resolved)]),
                n as f64,
            ));
        }
    }
    let date = crate::metrics::labels(&[("date", &r.date)]);
    g.push((
        "payswitch_recon_bill_rows".into(),
        date.clone(),
        r.bill_rows as f64,
    ));
    g.push((
        "payswitch_recon_matched".into(),
        date.clone(),
        r.matched as f64,
    ));
    g.push(("payswitch_recon_open".into(), date, r.summary.open as f64));
    g.push((
        "payswitch_recon_last_run_timestamp_seconds".into(),
        String::new(),
        at_ms as f64 / 1000.0,
    ));
    metrics.set_gauges("recon", g);
}

/// Reads the last recorded run (a command's run, or the schedule's) and
/// publishes its gauges (a report that does not parse is skipped).
///
/// # Errors
/// The journal's [`StoreError`] when the read fails.
pub fn publish_last(store: &dyn Store, metrics: &Metrics) -> Result<(), StoreError> {
    if let Some(run) = store.last_recon_run()? {
        if let Ok(r) = serde_json::from_str::<ReconReport>(&run.report) {
            publish(metrics, &r, run.at_ms);
        }
    }
    Ok(())
}

/// Runs the reconciliation of `date` (see the module doc), writing the
/// report into `out_dir`.
///
/// # Errors
/// [`ReconError::BadDate`]; [`ReconError::Io`] when `out_dir` or a report
/// file cannot be written; those of [`fetch_bill`] and [`compare_file`]
/// (the bill could not be had or read: nothing changed);
/// [`ReconError::Journal`] when a repair's record fails;
/// [`ReconError::Store`] when a journal read or the run's record fails.
pub async fn reconcile(
    ctx: &ReconContext,
    date: &str,
    out_dir: &Path,
    lang: Lang,
) -> Result<ReconOutcome, ReconError> {
    parse_date(date)?;
    std::fs::create_dir_all(out_dir).map_err(|e| ReconError::Io {
        dir: out_dir.display().to_string(),
        error: e.to_string(),
    })?;
    let app_id = ctx.cfg.gateway.app_id.clone();
    let bill_path = out_dir.join(format!("bill-{date}.zip"));
    let file_code = fetch_bill(&ctx.gw, date, &bill_path, ctx.cfg.recon.download_max_bytes).await?;

    let rates = Arc::new(RegistryRates::new(ctx.registry.clone(), ctx.cfg.clone()));
    let (store, app, d, path, r2) = (
        ctx.store.clone(),
        app_id.clone(),
        date.to_owned(),
        bill_path.clone(),
        rates.clone(),
    );
    let compared = tokio::task::spawn_blocking(move || -> Result<Compared, ReconError> {
        let book = load_book(&*store, &app, &d)?;
        let journal = StoreJournal { store, app_id: app };
        compare_file(&path, book, &journal, &*r2)
    })
    .await
    .map_err(|e| ReconError::Io {
        dir: out_dir.display().to_string(),
        error: format!("the comparison stopped: {e}"),
    })??;
    let Compared {
        comparison,
        mut totals,
    } = compared;
    totals.file_code = file_code;

    // The previous run of the date, to say what changed.
    let runs = ctx.store.recon_runs(date)?;
    let previous: Option<ReconReport> = runs
        .last()
        .and_then(|r| serde_json::from_str(&r.report).ok());
    let prev_map: HashMap<String, bool> = previous
        .as_ref()
        .map(|p| {
            p.differences
                .iter()
                .map(|d| (key_of(d), d.resolved))
                .collect()
        })
        .unwrap_or_default();

    let repairer = Repairer {
        gw: ctx.gw.clone(),
        store: ctx.store.clone(),
        app_id: app_id.clone(),
        date: date.to_owned(),
        max_queries: MAX_QUERIES,
    };
    let settled = repairer.settle(comparison.candidates).await?;
    let differences: Vec<Difference> = settled
        .into_iter()
        .map(|s| difference(s, &prev_map))
        .collect();
    let summary = summarise(&differences);

    let mut open_by: HashMap<String, (u64, u64)> = HashMap::new();
    for d in &differences {
        let e = open_by
            .entry(d.smid.clone().unwrap_or_default())
            .or_default();
        if d.resolved {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let merchants: Vec<MerchantLine> = comparison
        .merchants
        .iter()
        .map(|(smid, m)| {
            let (external_id, name, r) = rates.merchant_line(smid);
            let (open, resolved) = open_by.get(smid).copied().unwrap_or_default();
            MerchantLine {
                smid: smid.clone(),
                external_id,
                name,
                trade_count: m.trade_count,
                trade_amount: report::yuan(m.trade_fen),
                refund_count: m.refund_count,
                refund_amount: report::yuan(m.refund_fen),
                gateway_fee: report::yuan(m.gateway_fee_fen),
                merchant_fee: report::yuan(m.merchant_fee_fen),
                gateway_fee_bps: r.map(|r| r.gateway.bps()),
                merchant_fee_bps: r.map(|r| r.merchant.bps()),
                trade_fen: m.trade_fen,
                refund_fen: m.refund_fen,
                gateway_fee_fen: m.gateway_fee_fen,
                merchant_fee_fen: m.merchant_fee_fen,
                matched: m.matched,
                differences_open: open,
                differences_resolved: resolved,
            }
        })
        .collect();

    let now_keys: HashSet<String> = differences.iter().map(key_of).collect();
    let changes = Changes {
        previous_run: runs.last().map(|r| r.run),
        new: if previous.is_some() {
            differences.iter().filter(|d| d.new).map(key_of).collect()
        } else {
            Vec::new()
        },
        gone: previous
            .as_ref()
            .map(|p| {
                p.differences
                    .iter()
                    .map(key_of)
                    .filter(|k| !now_keys.contains(k))
                    .collect()
            })
            .unwrap_or_default(),
        newly_resolved: differences
            .iter()
            .filter(|d| d.resolved && prev_map.get(&key_of(d)) == Some(&false))
            .map(key_of)
            .collect(),
    };
    let exit_code = if summary.open == 0 { 0 } else { 2 };
    let run = runs.last().map_or(1, |r| r.run + 1);
    let at_ms = now_ms();
    let report = ReconReport {
        version: report::VERSION,
        date: date.to_owned(),
        app_id,
        run,
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        bill_rows: comparison.bill_rows,
        matched: comparison.matched,
        journal_trades: comparison.journal_trades,
        journal_refunds: comparison.journal_refunds,
        bill: totals,
        differences,
        summary,
        merchants,
        changes,
        exit_code,
    };
    let files = write_files(&report, out_dir, lang)?;
    let json = serde_json::to_string(&report).map_err(|e| ReconError::Io {
        dir: out_dir.display().to_string(),
        error: e.to_string(),
    })?;
    ctx.store
        .commit(vec![Write::ReconRun(Box::new(ReconRunRecord {
            bill_date: date.to_owned(),
            run,
            at_ms,
            exit_code,
            open: report.summary.open,
            report: json,
        }))])
        .await?;
    publish(&ctx.metrics, &report, at_ms);
    for c in Class::ALL {
        if let Some(n) = report.summary.classes.get(c.as_str()) {
            if n.count > 0 {
                tracing::warn!(
                    date,
                    class = c.as_str(),
                    count = n.count,
                    open = n.open,
                    "reconciliation differences"
                );
            }
        }
    }
    tracing::info!(
        date,
        run,
        bill_rows = report.bill_rows,
        matched = report.matched,
        open = report.summary.open,
        "reconciliation done"
    );
    Ok(ReconOutcome {
        exit_code,
        json_path: files[0].clone(),
        files,
        report,
    })
}

/// What `payswitch reconcile` asks for.
#[derive(Debug, Clone)]
pub struct ReconRequest {
    /// The switch's configuration file (TOML).
    pub config: PathBuf,
    /// The bill date, `yyyy-MM-dd` (gateway time).
    pub date: String,
    /// Where the report and the bill go; `[recon] out_dir` when `None`.
    pub out: Option<PathBuf>,
    /// The language of the Markdown and HTML summaries.
    pub lang: Lang,
}

/// Builds the parts a run needs from the configuration alone (the command,
/// outside `serve`): the journal, the gateway client, the registry.
///
/// # Errors
/// [`ReconError::Store`] when the journal cannot be opened or its registry
/// read; [`ReconError::Config`] when the gateway client or the registry
/// (the registry key, sealed secrets) cannot be set up.
pub async fn context(cfg: Config) -> Result<ReconContext, ReconError> {
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::default());
    let store: Arc<dyn Store> = {
        let (c, m) = (cfg.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || crate::store::open(&c.store, m))
            .await
            .map_err(|e| ReconError::Config(e.to_string()))??
    };
    let gw = Arc::new(
        Gateway::new(cfg.gateway.clone(), metrics.clone())
            .map_err(|e| ReconError::Config(e.to_string()))?,
    );
    let sealer = match cfg.admin.as_ref().and_then(|a| a.secret_key.as_ref()) {
        Some(k) => Some(
            crate::merchants::seal::Sealer::new(k)
                .map_err(|e| ReconError::Config(e.to_string()))?,
        ),
        None => None,
    };
    let s2 = store.clone();
    let recs = tokio::task::spawn_blocking(move || s2.registry())
        .await
        .map_err(|e| ReconError::Config(e.to_string()))??;
    let registry = Arc::new(
        Registry::load(&cfg, sealer, recs).map_err(|e| ReconError::Config(e.to_string()))?,
    );
    Ok(ReconContext {
        cfg,
        store,
        gw,
        registry,
        metrics,
    })
}

/// `payswitch reconcile`: loads the config, runs on a runtime of its own,
/// closes the journal. Blocks; call it outside an async runtime.
///
/// # Errors
/// [`ReconError::BadDate`]; [`ReconError::Config`] when the configuration
/// does not load or the runtime cannot start; those of [`context`] and
/// [`reconcile`].
pub fn reconcile_blocking(req: &ReconRequest) -> Result<ReconOutcome, ReconError> {
    parse_date(&req.date)?;
    let cfg = Config::load(&req.config).map_err(|e| ReconError::Config(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ReconError::Config(format!("starting the runtime: {e}")))?;
    rt.block_on(async {
        let ctx = context(cfg).await?;
        let out = req
            .out
            .clone()
            .unwrap_or_else(|| ctx.cfg.recon.out_dir.clone());
        let r = reconcile(&ctx, &req.date, &out, req.lang).await;
        ctx.store.close();
        r
    })
}

/// The bill date the daily run at `at` (gateway time) owes at `now`:
/// yesterday (gateway time) once the time of day has passed `at`, else None.
pub fn due_day(now: time::OffsetDateTime, at: (u8, u8)) -> Option<String> {
    let offset = time::UtcOffset::from_whole_seconds(crate::trade::GATEWAY_UTC_OFFSET_SECS as i32)
        .unwrap_or(time::UtcOffset::UTC);
    let now = now.to_offset(offset);
    if (now.hour(), now.minute()) < at {
        return None;
    }
    (now.date() - time::Duration::days(1))
        .format(crate::config::DAY_FORMAT)
        .ok()
}

/// The daily run in `serve` (`[recon] at`, gateway time): each day at that
/// time, reconciles yesterday (gateway time); a failure is logged and
/// retried every 10 minutes until the next day's run. Also publishes the
/// last recorded run's gauges every 10 s (runs of the command included).
pub async fn schedule(ctx: ReconContext, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last_done: Option<String> = None;
    loop {
        let _ = publish_last(&*ctx.store, &ctx.metrics);
        if let Some(yesterday) = ctx
            .cfg
            .recon
            .at
            .and_then(|at| due_day(time::OffsetDateTime::now_utc(), at))
        {
            // Several nodes: the one holding the day's lease runs it (the
            // lease is renewed while it runs and passes on if it dies).
            let lease = format!("recon:{yesterday}");
            let mine = last_done.as_deref() != Some(&yesterday)
                && ctx.store.try_lease(&lease).unwrap_or(false);
            if mine {
                let done_before = ctx
                    .store
                    .recon_runs(&yesterday)
                    .map(|r| !r.is_empty())
                    .unwrap_or(false);
                if done_before {
                    last_done = Some(yesterday.clone());
                    let _ = ctx.store.release_lease(&lease);
                } else {
                    let out = ctx.cfg.recon.out_dir.clone();
                    let r = reconcile(&ctx, &yesterday, &out, Lang::En).await;
                    let _ = ctx.store.release_lease(&lease);
                    match r {
                        Ok(o) => {
                            last_done = Some(yesterday.clone());
                            if o.exit_code != 0 {
                                tracing::warn!(date = %yesterday, open = o.report.summary.open, "daily reconciliation: differences stay open");
                            }
                        }
                        Err(e) => {
                            ctx.metrics.inc("payswitch_recon_failures_total", &[]);
                            tracing::error!(date = %yesterday, error = %e, "daily reconciliation failed; retrying in 10 minutes");
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                                _ = stop.wait_for(|s| *s) => return,
                            }
                            continue;
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_daily_run_is_due_after_its_time_in_beijing() {
        // 01:29 UTC is 09:29 in Beijing: not yet; 01:30 is 09:30: yesterday's.
        assert_eq!(due_day(datetime!(2026-06-06 01:29 UTC), (9, 30)), None);
        assert_eq!(
            due_day(datetime!(2026-06-06 01:30 UTC), (9, 30)).as_deref(),
            Some("2026-06-05")
        );
        // 17:00 UTC on the 5th is already the 6th in Beijing.
        assert_eq!(
            due_day(datetime!(2026-06-05 17:00 UTC), (0, 30)).as_deref(),
            Some("2026-06-05")
        );
        assert!(parse_date("2026-02-30").is_err() && parse_date("2026-6-5").is_err());
    }
}
