//! The settlement file: what the acquirer pays each sub-merchant for a day
//! (docs/PROTOCOL.md §9.6 资金流向和打款时间, 手续费计算).
//!
//! From a reconciled day (the last reconciliation run of the date, which
//! must have ended with nothing open) the amounts are the bill's, the
//! gateway's money, split per sub-merchant, with the acquirer's merchant fee;
//! so the totals equal the reconciled bill's. With `--unreconciled` they come
//! from the journal alone (marked so in the file).
//!
//! Payout date: D+1 (a natural day) for a merchant whose account is at the
//! acquirer itself (`[settlement] acquirer_bank` found in its first
//! bankcard's `bank_branch_name`), otherwise the next working day after D
//! (weekends and `[settlement] holidays` skipped, `extra_working_days`
//! counted).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use protocol::Money;
use serde::{Deserialize, Serialize};

use crate::config::{Config, SettlementConfig, DAY_FORMAT};
use crate::fees::{self, TradeFees};
use crate::recon::compare::RateBook;
use crate::recon::report::{yuan, ReconReport};
use crate::recon::run::{context, parse_date, ReconError, RegistryRates};
use crate::store::StoreError;
use crate::trade::RefundStatus;

/// The settlement file's schema version (the `version` field of
/// [`Settlement`]); raised when a field changes meaning.
pub const VERSION: u32 = 1;

/// Why no settlement file was written (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// A bad `--date`, a configuration that does not load, or a journal,
    /// registry or runtime that cannot be opened (shared with
    /// reconciliation).
    #[error(transparent)]
    Recon(#[from] ReconError),
    /// The journal failed while reading the day's runs, trades or refunds.
    #[error("the journal: {0}")]
    Store(#[from] StoreError),
    /// No reconciliation run is recorded for the date (the date), and
    /// `--unreconciled` was not given.
    #[error("{0} has not been reconciled: run `payswitch reconcile --date {0}` first, or pass --unreconciled")]
    NotReconciled(String),
    /// The date's last reconciliation run ended with differences open, and
    /// `--unreconciled` was not given.
    #[error("the last reconciliation of {date} left {open} difference(s) open: resolve them and reconcile again, or pass --unreconciled")]
    OpenDifferences {
        /// The day asked for (`yyyy-MM-dd`).
        date: String,
        /// How many differences that run left open.
        open: u64,
    },
    /// The report the journal holds for the date's last run does not parse
    /// as a [`ReconReport`] (the date, the parse error).
    #[error("the reconciliation run of {0} recorded in the journal cannot be read: {1}")]
    BadRun(String, String),
    /// The output directory cannot be created, or a file in it written.
    #[error("writing the settlement in {dir}: {error}")]
    Io {
        /// The output directory.
        dir: String,
        /// What the file system said.
        error: String,
    },
}

/// What `payswitch settlement` asks for.
#[derive(Debug, Clone)]
pub struct SettleRequest {
    /// The switch's configuration file (TOML).
    pub config: PathBuf,
    /// The gateway day to settle, `yyyy-MM-dd` (Beijing time).
    pub date: String,
    /// Where to write the files; `[settlement] out_dir` when `None`.
    pub out: Option<PathBuf>,
    /// Settle from the journal alone when the day is not cleanly reconciled
    /// (`--unreconciled`), instead of refusing.
    pub unreconciled: bool,
}

/// One sub-merchant's payout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// "" for trades without a sub-merchant.
    pub smid: String,
    /// The merchant's id in the acquirer's own systems, from the registry;
    /// `None` when the smid is not registered (or empty).
    pub external_id: Option<String>,
    /// The merchant's name, from the registry; `None` as `external_id`.
    pub name: Option<String>,
    /// Paid trades booked on the day.
    pub trade_count: u64,
    /// Their receipt amounts, in yuan (`12.34`).
    pub trade_amount: String,
    /// Successful refunds booked on the day.
    pub refund_count: u64,
    /// Their amounts, in yuan.
    pub refund_amount: String,
    /// What Alipay charged the acquirer (net of returns), in yuan.
    pub gateway_fee: String,
    /// What the acquirer charges the merchant (net of returns), in yuan.
    pub merchant_fee: String,
    /// trade_amount - refund_amount - merchant_fee: what the merchant is
    /// paid, in yuan (negative when refunds exceed trades).
    pub net_amount: String,
    /// When the acquirer pays it (`yyyy-MM-dd`, [`payout_date`]).
    pub payout_date: String,
    /// `same_bank_d1` or `next_working_day`.
    pub payout_rule: String,
    /// `trade_amount` in fen.
    pub trade_fen: i64,
    /// `refund_amount` in fen.
    pub refund_fen: i64,
    /// `gateway_fee` in fen.
    pub gateway_fee_fen: i64,
    /// `merchant_fee` in fen.
    pub merchant_fee_fen: i64,
    /// `net_amount` in fen.
    pub net_fen: i64,
}

/// The sums of every payout (each field the sum of the [`Payout`] field of
/// the same name; amounts in yuan, `_fen` fields in fen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Paid trades of the day, all sub-merchants.
    pub trade_count: u64,
    /// Their receipt amounts, in yuan.
    pub trade_amount: String,
    /// Successful refunds of the day.
    pub refund_count: u64,
    /// Their amounts, in yuan.
    pub refund_amount: String,
    /// Gateway fees net of returns, in yuan.
    pub gateway_fee: String,
    /// Merchant fees net of returns, in yuan.
    pub merchant_fee: String,
    /// What the acquirer pays out in all, in yuan.
    pub net_amount: String,
    /// `trade_amount` in fen.
    pub trade_fen: i64,
    /// `refund_amount` in fen.
    pub refund_fen: i64,
    /// `gateway_fee` in fen.
    pub gateway_fee_fen: i64,
    /// `merchant_fee` in fen.
    pub merchant_fee_fen: i64,
    /// `net_amount` in fen.
    pub net_fen: i64,
}

/// `settlement-YYYY-MM-DD.json`: one day's payouts (a CSV of the same rows,
/// plus a `TOTAL` row, is written beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The schema version, [`VERSION`].
    pub version: u32,
    /// The settled gateway day, `yyyy-MM-dd`.
    pub date: String,
    /// `reconciled` (from run `recon_run`) or `unreconciled` (the journal).
    pub source: String,
    /// The number of the reconciliation run the amounts come from; `None`
    /// when `unreconciled`.
    pub recon_run: Option<u32>,
    /// One payout per sub-merchant, by smid (trades without one under "").
    pub merchants: Vec<Payout>,
    /// The sums of `merchants`.
    pub totals: Totals,
}

/// A finished settlement, written.
#[derive(Debug, Clone)]
pub struct SettleOutcome {
    /// The command's exit code: 0 (a settlement that could not be made is a
    /// [`SettleError`], exit code 1).
    pub exit_code: i32,
    /// What was written.
    pub settlement: Settlement,
    /// The JSON file written.
    pub json_path: PathBuf,
    /// The CSV file written.
    pub csv_path: PathBuf,
}

fn is_working_day(d: time::Date, cfg: &SettlementConfig) -> bool {
    let s = d.format(DAY_FORMAT).unwrap_or_default();
    if cfg.extra_working_days.contains(&s) {
        return true;
    }
    if cfg.holidays.contains(&s) {
        return false;
    }
    !matches!(d.weekday(), time::Weekday::Saturday | time::Weekday::Sunday)
}

/// The payout date (`yyyy-MM-dd`) of the trades of day `d` and the rule's
/// name: D+1 natural day (`same_bank_d1`) when `same_bank`, else the first
/// working day after `d` under `cfg` (`next_working_day`; at most a year
/// ahead).
pub fn payout_date(
    d: time::Date,
    same_bank: bool,
    cfg: &SettlementConfig,
) -> (String, &'static str) {
    let fmt = |d: time::Date| d.format(DAY_FORMAT).unwrap_or_default();
    let next = d.next_day().unwrap_or(d);
    if same_bank {
        return (fmt(next), "same_bank_d1");
    }
    let mut day = next;
    // A year of holidays at most: a bound on the loop.
    for _ in 0..366 {
        if is_working_day(day, cfg) {
            break;
        }
        day = day.next_day().unwrap_or(day);
    }
    (fmt(day), "next_working_day")
}

fn same_bank(bankcard_info: &serde_json::Value, cfg: &SettlementConfig) -> bool {
    let Some(bank) = cfg.acquirer_bank.as_deref() else {
        return false;
    };
    bankcard_info
        .as_array()
        .and_then(|a| a.first())
        .and_then(|c| c.get("bank_branch_name"))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|n| n.contains(bank))
}

#[derive(Default)]
struct Sums {
    trade_count: u64,
    trade_fen: i64,
    refund_count: u64,
    refund_fen: i64,
    gateway_fee_fen: i64,
    merchant_fee_fen: i64,
}

/// The day from the journal alone (`--unreconciled`).
fn from_journal(
    store: &dyn crate::store::Store,
    app_id: &str,
    date: &str,
    rates: &RegistryRates,
) -> Result<BTreeMap<String, Sums>, StoreError> {
    let mut out: BTreeMap<String, Sums> = BTreeMap::new();
    store.visit_paid_on(app_id, date, &mut |t| {
        let (smid, r) = rates
            .terminal(&t.terminal)
            .unwrap_or((None, fees::FeeRates::default()));
        let receipt = t.receipt_amount.unwrap_or(t.total_amount);
        let s = out
            .entry(smid.map(|s| s.to_string()).unwrap_or_default())
            .or_default();
        s.trade_count += 1;
        s.trade_fen += receipt.fen() as i64;
        s.gateway_fee_fen += fees::trade_fee(receipt, r.gateway).fen() as i64;
        s.merchant_fee_fen += fees::trade_fee(receipt, r.merchant).fen() as i64;
        Ok(())
    })?;
    for r in store.refunds_done_on(app_id, date)? {
        let Some(t) = store.trade(app_id, &r.out_trade_no)? else {
            continue;
        };
        let (smid, rt) = rates
            .terminal(&t.terminal)
            .unwrap_or((None, fees::FeeRates::default()));
        let receipt = t.receipt_amount.unwrap_or(t.total_amount);
        let (mut g, mut m) = (
            TradeFees::new(receipt, rt.gateway),
            TradeFees::new(receipt, rt.merchant),
        );
        let (mut gr, mut mr) = (Money::ZERO, Money::ZERO);
        for x in store.refunds_of(app_id, &r.out_trade_no)? {
            if x.status != RefundStatus::Success {
                continue;
            }
            let (a, b) = (g.refund(x.refund_amount), m.refund(x.refund_amount));
            if x.out_request_no == r.out_request_no {
                gr = a.unwrap_or(Money::ZERO);
                mr = b.unwrap_or(Money::ZERO);
                break;
            }
        }
        let s = out
            .entry(smid.map(|s| s.to_string()).unwrap_or_default())
            .or_default();
        s.refund_count += 1;
        s.refund_fen += r.refund_amount.fen() as i64;
        s.gateway_fee_fen -= gr.fen() as i64;
        s.merchant_fee_fen -= mr.fen() as i64;
    }
    Ok(out)
}

fn csv(s: &Settlement) -> String {
    let mut o = String::from("smid,external_id,name,trade_count,trade_amount,refund_count,refund_amount,gateway_fee,merchant_fee,net_amount,payout_date,payout_rule\n");
    let cell = crate::recon::report::csv_cell;
    for p in &s.merchants {
        o.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            cell(&p.smid),
            cell(p.external_id.as_deref().unwrap_or("")),
            cell(p.name.as_deref().unwrap_or("")),
            p.trade_count,
            p.trade_amount,
            p.refund_count,
            p.refund_amount,
            p.gateway_fee,
            p.merchant_fee,
            p.net_amount,
            p.payout_date,
            p.payout_rule
        ));
    }
    let t = &s.totals;
    o.push_str(&format!(
        "TOTAL,,,{},{},{},{},{},{},{},,\n",
        t.trade_count,
        t.trade_amount,
        t.refund_count,
        t.refund_amount,
        t.gateway_fee,
        t.merchant_fee,
        t.net_amount
    ));
    o
}

/// Builds the settlement of `date` (`yyyy-MM-dd`): from the date's last
/// reconciliation run when it left nothing open, else, when `unreconciled`,
/// from the journal with fees at the registry's rates. Writes nothing.
///
/// # Errors
/// [`SettleError::Recon`] ([`ReconError::BadDate`]) for a bad date;
/// [`SettleError::Store`] when the journal fails;
/// [`SettleError::BadRun`] when the last run's report does not parse;
/// without `unreconciled`, [`SettleError::OpenDifferences`] when the last
/// run left differences open and [`SettleError::NotReconciled`] when there
/// is no run.
pub fn settle(
    cfg: &Config,
    store: &dyn crate::store::Store,
    rates: &RegistryRates,
    registry: &crate::merchants::Registry,
    date: &str,
    unreconciled: bool,
) -> Result<Settlement, SettleError> {
    let day = parse_date(date)?;
    let runs = store.recon_runs(date)?;
    // The last run decides: clean (exit 0) settles from the bill; open
    // differences or no run settle only when asked, from the journal.
    let (source, recon_run, sums) = match runs.last() {
        Some(run) if run.open == 0 => {
            let r: ReconReport = serde_json::from_str(&run.report)
                .map_err(|e| SettleError::BadRun(date.to_owned(), e.to_string()))?;
            let mut sums = BTreeMap::new();
            for m in r.merchants {
                sums.insert(
                    m.smid,
                    Sums {
                        trade_count: m.trade_count,
                        trade_fen: m.trade_fen,
                        refund_count: m.refund_count,
                        refund_fen: m.refund_fen,
                        gateway_fee_fen: m.gateway_fee_fen,
                        merchant_fee_fen: m.merchant_fee_fen,
                    },
                );
            }
            ("reconciled", Some(run.run), sums)
        }
        _ if unreconciled => (
            "unreconciled",
            None,
            from_journal(store, &cfg.gateway.app_id, date, rates)?,
        ),
        Some(run) => {
            return Err(SettleError::OpenDifferences {
                date: date.to_owned(),
                open: run.open,
            })
        }
        None => return Err(SettleError::NotReconciled(date.to_owned())),
    };
    let mut merchants = Vec::new();
    let mut t = Totals::default();
    for (smid, s) in sums {
        let (external_id, name, bank) = match registry.merchant_by_smid(&smid) {
            Some(m) if !smid.is_empty() => (
                Some(m.record.external_id.clone()),
                Some(m.record.name.clone()),
                same_bank(&m.record.bankcard_info, &cfg.settlement),
            ),
            _ => (None, None, false),
        };
        let (payout, rule) = payout_date(day, bank, &cfg.settlement);
        let net = s.trade_fen - s.refund_fen - s.merchant_fee_fen;
        t.trade_count += s.trade_count;
        t.trade_fen += s.trade_fen;
        t.refund_count += s.refund_count;
        t.refund_fen += s.refund_fen;
        t.gateway_fee_fen += s.gateway_fee_fen;
        t.merchant_fee_fen += s.merchant_fee_fen;
        t.net_fen += net;
        merchants.push(Payout {
            smid,
            external_id,
            name,
            trade_count: s.trade_count,
            trade_amount: yuan(s.trade_fen),
            refund_count: s.refund_count,
            refund_amount: yuan(s.refund_fen),
            gateway_fee: yuan(s.gateway_fee_fen),
            merchant_fee: yuan(s.merchant_fee_fen),
            net_amount: yuan(net),
            payout_date: payout,
            payout_rule: rule.to_owned(),
            trade_fen: s.trade_fen,
            refund_fen: s.refund_fen,
            gateway_fee_fen: s.gateway_fee_fen,
            merchant_fee_fen: s.merchant_fee_fen,
            net_fen: net,
        });
    }
    t.trade_amount = yuan(t.trade_fen);
    t.refund_amount = yuan(t.refund_fen);
    t.gateway_fee = yuan(t.gateway_fee_fen);
    t.merchant_fee = yuan(t.merchant_fee_fen);
    t.net_amount = yuan(t.net_fen);
    Ok(Settlement {
        version: VERSION,
        date: date.to_owned(),
        source: source.to_owned(),
        recon_run,
        merchants,
        totals: t,
    })
}

fn write(s: &Settlement, dir: &Path) -> Result<(PathBuf, PathBuf), SettleError> {
    let io = |e: std::io::Error| SettleError::Io {
        dir: dir.display().to_string(),
        error: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = dir.join(format!("settlement-{}.json", s.date));
    let csvp = dir.join(format!("settlement-{}.csv", s.date));
    let text = serde_json::to_string_pretty(s).map_err(|e| SettleError::Io {
        dir: dir.display().to_string(),
        error: e.to_string(),
    })?;
    std::fs::write(&json, text).map_err(io)?;
    std::fs::write(&csvp, csv(s)).map_err(io)?;
    Ok((json, csvp))
}

/// `payswitch settlement`: loads the configuration, opens the journal and
/// the registry on a runtime of its own, [`settle`]s, closes the journal,
/// writes `settlement-<date>.json` and `.csv`. Blocks; call it outside an
/// async runtime.
///
/// # Errors
/// [`SettleError::Recon`] for a bad date, a configuration that does not
/// load, or a journal, gateway client or registry that cannot be opened;
/// those of [`settle`]; [`SettleError::Io`] when the files cannot be
/// written.
pub fn settle_blocking(req: &SettleRequest) -> Result<SettleOutcome, SettleError> {
    parse_date(&req.date)?;
    let cfg = Config::load(&req.config).map_err(|e| ReconError::Config(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReconError::Config(format!("starting the runtime: {e}")))?;
    rt.block_on(async {
        let ctx = context(cfg).await?;
        let rates = RegistryRates::new(ctx.registry.clone(), ctx.cfg.clone());
        let r = settle(
            &ctx.cfg,
            &*ctx.store,
            &rates,
            &ctx.registry,
            &req.date,
            req.unreconciled,
        );
        ctx.store.close();
        let s = r?;
        let dir = req
            .out
            .clone()
            .unwrap_or_else(|| ctx.cfg.settlement.out_dir.clone());
        let (json_path, csv_path) = write(&s, &dir)?;
        Ok(SettleOutcome {
            exit_code: 0,
            settlement: s,
            json_path,
            csv_path,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn cfg() -> SettlementConfig {
        SettlementConfig {
            acquirer_bank: Some("某某银行".into()),
            holidays: vec!["2026-10-01".into(), "2026-10-02".into()],
            extra_working_days: vec!["2026-10-10".into()],
            out_dir: PathBuf::from("."),
        }
    }

    #[test]
    fn payout_dates_follow_the_seed() {
        let c = cfg();
        // Same bank: D+1 natural day, Friday -> Saturday.
        assert_eq!(payout_date(date!(2026 - 06 - 05), true, &c).0, "2026-06-06");
        // Other banks: the next working day; Friday and Saturday -> Monday.
        assert_eq!(
            payout_date(date!(2026 - 06 - 05), false, &c).0,
            "2026-06-08"
        );
        assert_eq!(
            payout_date(date!(2026 - 06 - 06), false, &c).0,
            "2026-06-08"
        );
        assert_eq!(
            payout_date(date!(2026 - 06 - 08), false, &c).0,
            "2026-06-09"
        );
        // Holidays postpone; a weekend working day counts.
        assert_eq!(
            payout_date(date!(2026 - 09 - 30), false, &c).0,
            "2026-10-05"
        );
        assert_eq!(
            payout_date(date!(2026 - 10 - 09), false, &c).0,
            "2026-10-10"
        );
    }

    #[test]
    fn same_bank_by_branch_name() {
        let c = cfg();
        let v = serde_json::json!([{"card_no": "1", "card_name": "x", "bank_branch_name": "某某银行杭州分行"}]);
        assert!(same_bank(&v, &c));
        assert!(!same_bank(&serde_json::json!([]), &c));
        let none = SettlementConfig {
            acquirer_bank: None,
            ..cfg()
        };
        assert!(!same_bank(&v, &none));
    }
}
