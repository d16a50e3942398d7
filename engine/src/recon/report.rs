//! The reconciliation report (docs/RECONCILIATION.md, "The report"): the
//! versioned JSON, a CSV of every difference, and a Markdown and an HTML
//! summary in English or Chinese.
//! Pure: [`ReconReport`] is data; the writers turn it into text. Amounts are
//! yuan strings (the decimal form exists only in files); never a secret.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use protocol::Money;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The report's schema version (`version`).
pub const VERSION: u32 = 1;

/// The report's language (`--lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// Chinese (简体中文).
    Zh,
}

impl Lang {
    /// `en` or `zh` (the `--lang` values).
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }
}

/// One difference, with its resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `bill_only`, `journal_only`, `amount_mismatch`, `status_mismatch`, `fee_mismatch`.
    pub class: String,
    /// `trade` or `refund`.
    pub entry: String,
    /// The trade's out_trade_no (the gateway's).
    pub out_trade_no: String,
    /// Alipay's trade_no, when the bill gives it.
    pub trade_no: Option<String>,
    /// Refunds only.
    pub out_request_no: Option<String>,
    /// The sub-merchant, when known.
    pub smid: Option<String>,
    /// The amount in question (yuan).
    pub amount: String,
    /// What the switch holds.
    pub switch: Value,
    /// What the bill says.
    pub bill: Value,
    /// Whether it is settled (no one must act); open otherwise.
    pub resolved: bool,
    /// How it was settled, or what to do about it.
    pub resolution: String,
    /// What the run did about it (the journal has the same as events).
    pub repair: Option<Value>,
    /// Not in the previous run of the date.
    pub new: bool,
}

/// Counts and sums of one class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    /// Differences of the class.
    pub count: u64,
    /// Of them, resolved.
    pub resolved: u64,
    /// Of them, open.
    pub open: u64,
    /// Sum of the amounts in question (yuan).
    pub amount: String,
}

/// `summary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Per class (every class present, zeros included).
    pub classes: BTreeMap<String, ClassCount>,
    /// Differences in all.
    pub differences: u64,
    /// Of them, resolved.
    pub resolved: u64,
    /// Of them, open (the run exits 2 when any).
    pub open: u64,
}

/// The bill's own totals (footer and rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillTotals {
    /// Payment rows.
    pub trade_count: u64,
    /// 商家实收 of the payments (yuan).
    pub trade_amount: String,
    /// Refund rows.
    pub refund_count: u64,
    /// Refunded (yuan, positive).
    pub refund_amount: String,
    /// The gateway's fee, net of returns (yuan).
    pub service_fee: String,
    /// Columns the switch does not know (parsed around).
    pub extra_columns: Vec<String>,
    /// `bill_file_code` of the download answer (EMPTY_DATA_WITH_BILL_FILE).
    pub file_code: Option<String>,
    /// Where the downloaded bill is kept.
    pub file: String,
}

/// A sub-merchant's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantLine {
    /// "" for trades without a sub-merchant.
    pub smid: String,
    /// The merchant's external_id, when the registry knows the smid.
    pub external_id: Option<String>,
    /// The merchant's name, when the registry knows the smid.
    pub name: Option<String>,
    /// Payment rows on the bill.
    pub trade_count: u64,
    /// Their 商家实收 (yuan).
    pub trade_amount: String,
    /// Refund rows on the bill.
    pub refund_count: u64,
    /// Refunded (yuan, positive).
    pub refund_amount: String,
    /// The gateway's fee net of returns, as billed (yuan).
    pub gateway_fee: String,
    /// The acquirer's fee to the merchant, net of returns (yuan).
    pub merchant_fee: String,
    /// The gateway rate applied (bps); None when the rates are unknown.
    pub gateway_fee_bps: Option<u32>,
    /// The merchant rate applied (bps); None when the rates are unknown.
    pub merchant_fee_bps: Option<u32>,
    /// Fen forms for programs (the settlement reads these): `trade_amount`.
    pub trade_fen: i64,
    /// `refund_amount` in fen.
    pub refund_fen: i64,
    /// `gateway_fee` in fen.
    pub gateway_fee_fen: i64,
    /// `merchant_fee` in fen.
    pub merchant_fee_fen: i64,
    /// Rows of the merchant that matched the journal.
    pub matched: u64,
    /// Differences of the merchant left open.
    pub differences_open: u64,
    /// Differences of the merchant resolved.
    pub differences_resolved: u64,
}

/// What changed since the previous run of the same date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The run compared with (None: this is the first run of the date).
    pub previous_run: Option<u32>,
    /// Differences not in the previous run (`class|out_trade_no|out_request_no`).
    pub new: Vec<String>,
    /// Differences of the previous run no longer found.
    pub gone: Vec<String>,
    /// Open in the previous run, resolved now.
    pub newly_resolved: Vec<String>,
}

/// The whole report (`recon-YYYY-MM-DD.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconReport {
    /// The schema version, [`VERSION`].
    pub version: u32,
    /// The bill date, `yyyy-MM-dd` (gateway time).
    pub date: String,
    /// The reconciled app.
    pub app_id: String,
    /// 1 for the first run of the date.
    pub run: u32,
    /// RFC 3339.
    pub generated_at: String,
    /// Detail rows of the bill compared.
    pub bill_rows: u64,
    /// Rows that matched the journal.
    pub matched: u64,
    /// Journal trades paid on the date.
    pub journal_trades: u64,
    /// Journal refunds done on the date.
    pub journal_refunds: u64,
    /// The bill's own totals.
    pub bill: BillTotals,
    /// Every difference, with its resolution.
    pub differences: Vec<Difference>,
    /// Counts per class and in all.
    pub summary: Summary,
    /// One line per sub-merchant, by smid.
    pub merchants: Vec<MerchantLine>,
    /// What changed since the previous run of the date.
    pub changes: Changes,
    /// 0: everything matched or was resolved; 2: differences stay open.
    pub exit_code: i32,
}

/// Yuan of signed fen, two decimals (`-12.30`).
pub fn yuan(fen: i64) -> String {
    let m = Money::from_fen(fen.unsigned_abs()).to_wire();
    if fen < 0 {
        format!("-{m}")
    } else {
        m
    }
}

/// A CSV cell, quoted when it must be (RFC 4180).
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The CSV of every difference (UTF-8, header line first).
pub fn csv(r: &ReconReport) -> String {
    let mut out = String::from(
        "class,entry,out_trade_no,trade_no,out_request_no,smid,amount,switch,bill,resolved,resolution,new\n",
    );
    for d in &r.differences {
        let cells = [
            d.class.clone(),
            d.entry.clone(),
            d.out_trade_no.clone(),
            d.trade_no.clone().unwrap_or_default(),
            d.out_request_no.clone().unwrap_or_default(),
            d.smid.clone().unwrap_or_default(),
            d.amount.clone(),
            d.switch.to_string(),
            d.bill.to_string(),
            d.resolved.to_string(),
            d.resolution.clone(),
            d.new.to_string(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

struct Words {
    title: &'static str,
    date: &'static str,
    run: &'static str,
    result: &'static str,
    ok: &'static str,
    open: &'static str,
    bill_rows: &'static str,
    matched: &'static str,
    journal: &'static str,
    class: &'static str,
    count: &'static str,
    resolved: &'static str,
    open_col: &'static str,
    amount: &'static str,
    merchants: &'static str,
    trades: &'static str,
    refunds: &'static str,
    gateway_fee: &'static str,
    merchant_fee: &'static str,
    differences: &'static str,
    resolution: &'static str,
    changes: &'static str,
    none: &'static str,
    what_to_do: &'static str,
}

const EN: Words = Words {
    title: "Reconciliation",
    date: "Bill date",
    run: "Run",
    result: "Result",
    ok: "every row matched or was resolved",
    open: "differences stay open",
    bill_rows: "Bill rows",
    matched: "Matched",
    journal: "Journal (trades / refunds of the day)",
    class: "Class",
    count: "Count",
    resolved: "Resolved",
    open_col: "Open",
    amount: "Amount (yuan)",
    merchants: "Per sub-merchant",
    trades: "Trades",
    refunds: "Refunds",
    gateway_fee: "Gateway fee",
    merchant_fee: "Merchant fee",
    differences: "Differences",
    resolution: "Resolution",
    changes: "Since the previous run",
    none: "none",
    what_to_do:
        "docs/RECONCILIATION.md says what each class means and what to do about the open ones.",
};

const ZH: Words = Words {
    title: "对账报告",
    date: "账单日期",
    run: "第几次对账",
    result: "结果",
    ok: "全部平账或已处理",
    open: "仍有未处理的差异",
    bill_rows: "账单行数",
    matched: "已匹配",
    journal: "本地流水（当日交易 / 退款）",
    class: "差异类型",
    count: "笔数",
    resolved: "已处理",
    open_col: "未处理",
    amount: "金额（元）",
    merchants: "按受理商户",
    trades: "交易",
    refunds: "退款",
    gateway_fee: "支付宝服务费",
    merchant_fee: "商户手续费",
    differences: "差异明细",
    resolution: "处理结果",
    changes: "与上次对账相比",
    none: "无",
    what_to_do: "各类差异的含义和处理办法见 docs/RECONCILIATION.md。",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// The class's name for people, in `lang` (`?` for a class name it does not
/// know).
pub fn class_label(class: &str, lang: Lang) -> &'static str {
    match (class, lang) {
        ("bill_only", Lang::En) => "bill only (the gateway has it, the switch does not)",
        ("journal_only", Lang::En) => "journal only (the switch has it, the bill does not)",
        ("amount_mismatch", Lang::En) => "amount mismatch",
        ("status_mismatch", Lang::En) => "status mismatch",
        ("fee_mismatch", Lang::En) => "fee mismatch",
        ("bill_only", Lang::Zh) => "支付宝单边账（长款）",
        ("journal_only", Lang::Zh) => "本地单边账（短款）",
        ("amount_mismatch", Lang::Zh) => "金额不符",
        ("status_mismatch", Lang::Zh) => "状态不符",
        ("fee_mismatch", Lang::Zh) => "手续费不符",
        _ => "?",
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown summary (`recon-YYYY-MM-DD.md`), in `lang`.
pub fn markdown(r: &ReconReport, lang: Lang) -> String {
    let w = words(lang);
    let mut o = String::new();
    let _ = writeln!(o, "# {} {}\n", w.title, r.date);
    let _ = writeln!(o, "- {}: {}", w.date, r.date);
    let _ = writeln!(o, "- {}: {}", w.run, r.run);
    let _ = writeln!(
        o,
        "- {}: **{}** ({} {}, {} {})",
        w.result,
        if r.exit_code == 0 { w.ok } else { w.open },
        r.summary.resolved,
        w.resolved,
        r.summary.open,
        w.open_col
    );
    let _ = writeln!(o, "- {}: {}", w.bill_rows, r.bill_rows);
    let _ = writeln!(o, "- {}: {}", w.matched, r.matched);
    let _ = writeln!(
        o,
        "- {}: {} / {}\n",
        w.journal, r.journal_trades, r.journal_refunds
    );
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | {} |\n| --- | ---: | ---: | ---: | ---: |",
        w.class, w.count, w.resolved, w.open_col, w.amount
    );
    for (k, c) in &r.summary.classes {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            class_label(k, lang),
            c.count,
            c.resolved,
            c.open,
            c.amount
        );
    }
    let _ = writeln!(o, "\n## {}\n", w.merchants);
    let _ = writeln!(
        o,
        "| smid | external_id | {} | {} | {} | {} | {} | {} |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        w.trades, w.amount, w.refunds, w.gateway_fee, w.merchant_fee, w.open_col
    );
    for m in &r.merchants {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} ({}) | {} | {} | {} |",
            md_cell(if m.smid.is_empty() { "-" } else { &m.smid }),
            md_cell(m.external_id.as_deref().unwrap_or("-")),
            m.trade_count,
            m.trade_amount,
            m.refund_count,
            m.refund_amount,
            m.gateway_fee,
            m.merchant_fee,
            m.differences_open
        );
    }
    let _ = writeln!(o, "\n## {}\n", w.differences);
    if r.differences.is_empty() {
        let _ = writeln!(o, "{}", w.none);
    } else {
        let _ = writeln!(
            o,
            "| {} | out_trade_no | out_request_no | {} | {} | {} |\n| --- | --- | --- | ---: | --- | --- |",
            w.class, w.amount, w.resolved, w.resolution
        );
        for d in &r.differences {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                class_label(&d.class, lang),
                md_cell(&d.out_trade_no),
                md_cell(d.out_request_no.as_deref().unwrap_or("")),
                d.amount,
                if d.resolved { "✔" } else { "✘" },
                md_cell(&d.resolution)
            );
        }
    }
    let _ = writeln!(o, "\n## {}\n", w.changes);
    match r.changes.previous_run {
        None => {
            let _ = writeln!(o, "{}", w.none);
        }
        Some(p) => {
            let _ = writeln!(
                o,
                "run {p}: new {}, gone {}, newly resolved {}",
                r.changes.new.len(),
                r.changes.gone.len(),
                r.changes.newly_resolved.len()
            );
        }
    }
    let _ = writeln!(o, "\n{}", w.what_to_do);
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML summary (one self-contained page, `recon-YYYY-MM-DD.html`), in
/// `lang`.
pub fn html(r: &ReconReport, lang: Lang) -> String {
    let w = words(lang);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{} {}</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}\
td,th{{border:1px solid #ccc;padding:.3em .6em}}td.n{{text-align:right}}.ok{{color:#060}}.bad{{color:#a00}}</style></head><body>",
        if lang == Lang::Zh { "zh" } else { "en" },
        esc(w.title),
        esc(&r.date)
    );
    let _ = write!(
        o,
        "<h1>{} {}</h1><p class=\"{}\"><b>{}</b> ({}: {}, {}: {})</p>",
        esc(w.title),
        esc(&r.date),
        if r.exit_code == 0 { "ok" } else { "bad" },
        esc(if r.exit_code == 0 { w.ok } else { w.open }),
        esc(w.resolved),
        r.summary.resolved,
        esc(w.open_col),
        r.summary.open
    );
    let _ = write!(
        o,
        "<ul><li>{}: {}</li><li>{}: {}</li><li>{}: {}</li><li>{}: {} / {}</li></ul>",
        esc(w.run),
        r.run,
        esc(w.bill_rows),
        r.bill_rows,
        esc(w.matched),
        r.matched,
        esc(w.journal),
        r.journal_trades,
        r.journal_refunds
    );
    let _ = write!(
        o,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(w.class),
        esc(w.count),
        esc(w.resolved),
        esc(w.open_col),
        esc(w.amount)
    );
    for (k, c) in &r.summary.classes {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(class_label(k, lang)),
            c.count,
            c.resolved,
            c.open,
            esc(&c.amount)
        );
    }
    let _ = write!(o, "</table><h2>{}</h2><table><tr><th>smid</th><th>external_id</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(w.merchants), esc(w.trades), esc(w.amount), esc(w.refunds), esc(w.amount), esc(w.gateway_fee), esc(w.merchant_fee), esc(w.open_col));
    for m in &r.merchants {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(if m.smid.is_empty() { "-" } else { &m.smid }),
            esc(m.external_id.as_deref().unwrap_or("-")),
            m.trade_count,
            esc(&m.trade_amount),
            m.refund_count,
            esc(&m.refund_amount),
            esc(&m.gateway_fee),
            esc(&m.merchant_fee),
            m.differences_open
        );
    }
    let _ = write!(o, "</table><h2>{}</h2>", esc(w.differences));
    if r.differences.is_empty() {
        let _ = write!(o, "<p>{}</p>", esc(w.none));
    } else {
        let _ = write!(
            o,
            "<table><tr><th>{}</th><th>out_trade_no</th><th>out_request_no</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            esc(w.class),
            esc(w.amount),
            esc(w.resolved),
            esc(w.resolution)
        );
        for d in &r.differences {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                esc(class_label(&d.class, lang)),
                esc(&d.out_trade_no),
                esc(d.out_request_no.as_deref().unwrap_or("")),
                esc(&d.amount),
                if d.resolved { "ok" } else { "bad" },
                if d.resolved { "✔" } else { "✘" },
                esc(&d.resolution)
            );
        }
        o.push_str("</table>");
    }
    let _ = writeln!(o, "<p>{}</p></body></html>", esc(w.what_to_do));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> ReconReport {
        let mut summary = Summary::default();
        summary.classes.insert(
            "bill_only".into(),
            ClassCount {
                count: 1,
                resolved: 0,
                open: 1,
                amount: "1.00".into(),
            },
        );
        summary.differences = 1;
        summary.open = 1;
        ReconReport {
            version: VERSION,
            date: "2026-06-05".into(),
            app_id: "2021".into(),
            run: 1,
            generated_at: "2026-06-06T09:30:00Z".into(),
            bill_rows: 3,
            matched: 2,
            journal_trades: 2,
            journal_refunds: 0,
            bill: BillTotals::default(),
            differences: vec![Difference {
                class: "bill_only".into(),
                entry: "trade".into(),
                out_trade_no: "X,1<b>".into(),
                trade_no: Some("2026".into()),
                out_request_no: None,
                smid: None,
                amount: "1.00".into(),
                switch: Value::Null,
                bill: serde_json::json!({"line": 7}),
                resolved: false,
                resolution: "raise \"it\" with Alipay".into(),
                repair: None,
                new: true,
            }],
            summary,
            merchants: vec![],
            changes: Changes::default(),
            exit_code: 2,
        }
    }

    #[test]
    fn csv_quotes_and_html_escapes() {
        let r = report();
        let c = csv(&r);
        assert!(c.lines().count() == 2, "{c}");
        assert!(c.contains("\"X,1<b>\""), "{c}");
        assert!(c.contains("\"raise \"\"it\"\" with Alipay\""), "{c}");
        let h = html(&r, Lang::Zh);
        assert!(
            h.contains("X,1&lt;b&gt;") && h.contains("支付宝单边账"),
            "{h}"
        );
        let m = markdown(&r, Lang::En);
        assert!(
            m.contains("differences stay open") && m.contains("bill only"),
            "{m}"
        );
        let back: ReconReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
