//! The acceptance checklist report (业务验收 of the bank indirect-acquiring
//! guide, docs/PROTOCOL.md §9.8): the versioned JSON document (schema in
//! docs/API.md §7) and its Markdown and HTML renderings in English or
//! Chinese.
//!
//! Guarantees: the JSON carries `schema` = [`SCHEMA`] and is the same
//! whatever the language (every check holds its label in both languages);
//! every text from the run is HTML-escaped in the HTML file, which has no
//! script and no external resource; no secret is part of the report (the
//! evidence is redacted by [`super::redact`] before it is stored: auth codes
//! show their last four digits only, terminal secrets and tokens never).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{LoadgenError, Result};
use crate::report::html::esc;

/// The schema name and major version of the JSON checklist: fields are
/// only added within a major version; [`read`] refuses any other.
pub const SCHEMA: &str = "payswitch-acceptance-report/1";

/// The verdict on one point (`PASS`, `FAIL`, `SKIPPED` in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Checks ran and every one passed.
    Pass,
    /// A check failed, or nothing could be checked.
    Fail,
    /// Not selected with `--points`: not part of the verdict.
    Skipped,
}

/// One check of a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked, in English (`store_id on alipay.trade.pay`).
    pub label_en: String,
    /// The same in Chinese.
    pub label_zh: String,
    /// Whether it held.
    pub passed: bool,
    /// What was compared (values, never a secret).
    pub detail: String,
}

/// One piece of evidence: a request and its answer, a ledger entry, a
/// merchant record, a reconciliation result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Who answered: `switch`, `admin`, `simulator`, `reconciliation`,
    /// `settlement`, or `acceptance` for a result computed here.
    pub source: String,
    /// What this step was for.
    pub step: String,
    /// The HTTP method; `None` for a step that is not an HTTP exchange.
    pub method: Option<String>,
    /// The path (and query) requested; `None` as for `method`.
    pub path: Option<String>,
    /// The request body (redacted).
    pub request: Option<Value>,
    /// The HTTP status of the answer, when there was one.
    pub status: Option<u16>,
    /// The answer (redacted), or the transport error as a string.
    pub answer: Option<Value>,
}

/// One point of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// 1 to 5, the guide's numbering (docs/PROTOCOL.md §9.8).
    pub id: u8,
    /// `onboarding`, `attribution`, `password`, `errors`, `reconciliation`.
    pub key: String,
    /// The verdict.
    pub status: Status,
    /// One English sentence: what passed, or what failed.
    pub summary: String,
    /// The same in Chinese.
    #[serde(default)]
    pub summary_zh: String,
    /// Every check made, in order.
    pub checks: Vec<Check>,
    /// What the checks were made on, redacted, in order.
    pub evidence: Vec<Evidence>,
    /// How long the point took, seconds (0 when skipped).
    pub seconds: f64,
}

/// The terminal the trades were made with, and its registration at the
/// switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TerminalInfo {
    /// Its key id (never its secret).
    pub key_id: String,
    /// `created` (by the acceptance, for the point-1 merchant) or `given` (`--key-id`).
    pub origin: String,
    /// The sub-merchant id its merchant is registered with, if known.
    pub smid: Option<String>,
    /// The store it is registered in, if known.
    pub store_id: Option<String>,
    /// Its terminal id at the gateway, if known.
    pub terminal_id: Option<String>,
}

/// What was tested: the addresses given on the command line, the terminal
/// and the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TargetInfo {
    /// The switch's terminal API (`--url`).
    pub url: String,
    /// The switch's admin API (`--admin`).
    pub admin: String,
    /// The simulator's base URL (`--sim`).
    pub sim: String,
    /// The switch's configuration file (`--config`), as given.
    pub config: Option<String>,
    /// The terminal under test; `None` when none was given or created.
    pub terminal: Option<TerminalInfo>,
    /// The merchant onboarded by point 1: `external_id`, `smid`.
    pub merchant: Option<(String, Option<String>)>,
}

/// The whole checklist: what `acceptance.json` holds (docs/API.md §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcceptanceReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// `loadgen`.
    pub tool: String,
    /// The crate's version.
    pub tool_version: String,
    /// `AC` + hexadecimal milliseconds: the external_id of point 1's
    /// merchant and the prefix of every out_trade_no of the run.
    pub run_id: String,
    /// When the run started, RFC 3339, UTC.
    pub started_at: String,
    /// How long the whole run took, seconds.
    pub duration_secs: f64,
    /// What was tested.
    pub target: TargetInfo,
    /// No selected point failed, and at least one passed.
    pub passed: bool,
    /// Five entries, `id` 1 to 5 in order (unselected ones skipped).
    pub points: Vec<Point>,
    /// Remarks on the run.
    pub notes: Vec<String>,
}

/// The checklist's language(s) (`--lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LangChoice {
    /// English only: `acceptance.md` and `acceptance.html`.
    En,
    /// Chinese only: `acceptance.md` and `acceptance.html`.
    Zh,
    /// Both: `acceptance.en.md`/`.html` and `acceptance.zh.md`/`.html`.
    #[default]
    Both,
}

use crate::report::Lang;

/// The title of point `id` (1 to 5) in `lang`: in Chinese the guide's own
/// wording (docs/PROTOCOL.md §9.8), in English its translation; empty for
/// another number.
pub fn point_title(id: u8, lang: Lang) -> &'static str {
    match (lang, id) {
        (Lang::Zh, 1) => "商户入驻参数传递是否规范，如是否上送受理商户名称、上送信息是否规范",
        (Lang::Zh, 2) => "当面付受理商户信息、终端门店号是否规范传递等",
        (Lang::Zh, 3) => "当面付用户输入密码时的处理逻辑",
        (Lang::Zh, 4) => "网络异常时、支付宝返回异常等错误码时客户端的处理",
        (Lang::Zh, 5) => "银行账号清算打款的验证以及对账验证",
        (Lang::En, 1) => "Onboarding sends the merchant's real name and normative fields",
        (Lang::En, 2) => {
            "The sub-merchant (smid), store_id and terminal_id are passed on every trade"
        }
        (Lang::En, 3) => "The buyer-enters-the-password case (10003) is handled",
        (Lang::En, 4) => "Network errors and the gateway's error codes are handled",
        (Lang::En, 5) => "Payouts (settlement) and reconciliation are verified",
        _ => "",
    }
}

/// How point `id` (1 to 5) was tested, one paragraph in `lang`; empty for
/// another number.
pub fn point_method(id: u8, lang: Lang) -> &'static str {
    match (lang, id) {
        (Lang::Zh, 1) => "通过交换系统管理接口 POST /admin/v1/merchants 以完整、规范的字段入驻一个商户，再逐字段核对模拟网关收到的入驻信息（GET /_sim/merchants/{smid}）。",
        (Lang::Zh, 2) => "用被测终端经交换系统发起条码支付、扫码预下单（买家随后付款）和退款，核对网关账本中每笔交易的 sub_merchant_id、store_id、terminal_id 与交换系统登记的信息一致。",
        (Lang::Zh, 3) => "付款码尾号 1003（用户输入密码后支付成功）与 1004（用户始终未支付）：交换系统须分别以 SUCCESS 和 CLOSED（轮询后撤销）结束，网关账本分别为 TRADE_SUCCESS 和 TRADE_CLOSED。",
        (Lang::Zh, 4) => "9001（网关无应答但已扣款）、9002（连接被重置，无交易）、2000（20000 但已扣款）、2001（20000，无交易）、4004 与 4005（40004）以及同一订单号同内容重复提交：交换系统最终状态须与网关账本一致，且不重复扣款。",
        (Lang::Zh, 5) => "将模拟网关时钟拨快一天，对本次验收的网关日执行交换系统对账与清算：对账须全部勾兑、无未决差错，清算合计须等于账单合计。",
        (Lang::En, 1) => "A merchant is onboarded through the switch's admin API (POST /admin/v1/merchants) with a complete, normative body; what the gateway received (GET /_sim/merchants/{smid}) is compared field by field.",
        (Lang::En, 2) => "The terminal under test pays, precreates (the buyer then pays) and refunds through the switch; each trade in the gateway's ledger must carry the sub_merchant_id, store_id and terminal_id the switch has registered for that terminal.",
        (Lang::En, 3) => "Auth codes ending 1003 (the buyer enters the password and pays) and 1004 (the buyer never pays): the switch must end SUCCESS and CLOSED (after polling, its cancel) respectively, the gateway's ledger TRADE_SUCCESS and TRADE_CLOSED.",
        (Lang::En, 4) => "9001 (no answer, paid), 9002 (connection reset, no trade), 2000 (20000, paid), 2001 (20000, no trade), 4004 and 4005 (40004), and the same out_trade_no sent again with the same content: the switch's final status must agree with the gateway's ledger and nothing is paid twice.",
        (Lang::En, 5) => "The simulator's clock is moved one day forward and the switch's reconciliation and settlement run for the acceptance's gateway day: every bill row must match with no open difference, and the settlement totals must equal the bill's.",
        _ => "",
    }
}

fn status_word(s: Status, lang: Lang) -> &'static str {
    match (s, lang) {
        (Status::Pass, Lang::En) => "PASS",
        (Status::Fail, Lang::En) => "FAIL",
        (Status::Skipped, Lang::En) => "SKIPPED",
        (Status::Pass, Lang::Zh) => "通过",
        (Status::Fail, Lang::Zh) => "未通过",
        (Status::Skipped, Lang::Zh) => "未执行",
    }
}

/// The fixed words of the checklist.
#[derive(Clone, Copy)]
enum W {
    Title,
    Intro,
    Verdict,
    AllPassed,
    SomeFailed,
    Environment,
    Started,
    Duration,
    Switch,
    Admin,
    Simulator,
    Terminal,
    Merchant,
    Point,
    Result,
    Summary,
    Method,
    Check,
    Detail,
    Evidence,
    Notes,
    Secrets,
}

fn w(lang: Lang, k: W) -> &'static str {
    use W::*;
    match lang {
        Lang::En => match k {
            Title => "Business acceptance checklist (Alipay indirect face-to-face payment)",
            Intro => "The acceptance points (业务验收) of the bank indirect-acquiring guide (银行间连业务接入指南; docs/PROTOCOL.md §9.8), each tested by `loadgen acceptance` against the running switch and gateway simulator through their documented interfaces, with the requests, answers and ledger entries as evidence.",
            Verdict => "Verdict",
            AllPassed => "ALL POINTS PASSED",
            SomeFailed => "NOT PASSED",
            Environment => "Environment",
            Started => "Started",
            Duration => "Duration",
            Switch => "Switch (terminal API)",
            Admin => "Switch (admin API)",
            Simulator => "Gateway simulator",
            Terminal => "Terminal under test",
            Merchant => "Merchant onboarded",
            Point => "Point",
            Result => "Result",
            Summary => "Summary",
            Method => "How it was tested",
            Check => "Check",
            Detail => "Detail",
            Evidence => "Evidence",
            Notes => "Notes",
            Secrets => "Auth codes are shown with their last four digits only; terminal secrets and the admin token are never part of this report.",
        },
        Lang::Zh => match k {
            Title => "业务验收自查表（支付宝间连当面付）",
            Intro => "《银行间连业务接入指南》“业务验收”一节（docs/PROTOCOL.md §9.8）的各验收点，由 `loadgen acceptance` 通过交换系统与模拟网关的公开接口逐项测试；每项附请求、应答和网关账本记录作为证据。",
            Verdict => "结论",
            AllPassed => "全部验收点通过",
            SomeFailed => "未全部通过",
            Environment => "测试环境",
            Started => "开始时间",
            Duration => "耗时",
            Switch => "交换系统（终端接口）",
            Admin => "交换系统（管理接口）",
            Simulator => "模拟网关",
            Terminal => "被测终端",
            Merchant => "入驻商户",
            Point => "验收点",
            Result => "结果",
            Summary => "说明",
            Method => "测试方法",
            Check => "核对项",
            Detail => "详情",
            Evidence => "证据",
            Notes => "备注",
            Secrets => "付款码仅显示末四位；终端密钥与管理令牌不出现在本报告中。",
        },
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

fn summary(p: &Point, lang: Lang) -> &str {
    match lang {
        Lang::Zh if !p.summary_zh.is_empty() => &p.summary_zh,
        _ => &p.summary,
    }
}

fn label(c: &Check, lang: Lang) -> &str {
    match lang {
        Lang::En => &c.label_en,
        Lang::Zh => &c.label_zh,
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn terminal_line(t: &TerminalInfo) -> String {
    format!(
        "{} ({}): smid {}, store_id {}, terminal_id {}",
        t.key_id,
        t.origin,
        opt(&t.smid),
        opt(&t.store_id),
        opt(&t.terminal_id)
    )
}

fn evidence_json(e: &Evidence) -> String {
    let mut s = String::new();
    if let (Some(m), Some(p)) = (&e.method, &e.path) {
        let _ = writeln!(s, "{m} {p}");
    }
    if let Some(r) = &e.request {
        let _ = writeln!(s, "{}", serde_json::to_string_pretty(r).unwrap_or_default());
    }
    if let Some(st) = e.status {
        let _ = writeln!(s, "→ HTTP {st}");
    }
    if let Some(a) = &e.answer {
        let _ = writeln!(s, "{}", serde_json::to_string_pretty(a).unwrap_or_default());
    }
    s
}

/// The Markdown checklist in `lang`: the verdict, a table of the points,
/// the environment, then each point with how it was tested, its checks and
/// its evidence; every table cell escaped so that it cannot break its table.
pub fn markdown(r: &AcceptanceReport, lang: Lang) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", w(lang, W::Title));
    let _ = writeln!(s, "{}\n", w(lang, W::Intro));
    let verdict = if r.passed {
        w(lang, W::AllPassed)
    } else {
        w(lang, W::SomeFailed)
    };
    let _ = writeln!(s, "## {}: **{verdict}**\n", w(lang, W::Verdict));
    let _ = writeln!(
        s,
        "| {} | {} | {} |\n| --- | --- | --- |",
        w(lang, W::Point),
        w(lang, W::Result),
        w(lang, W::Summary)
    );
    for p in &r.points {
        let _ = writeln!(
            s,
            "| {}. {} | **{}** | {} |",
            p.id,
            md_cell(point_title(p.id, lang)),
            status_word(p.status, lang),
            md_cell(summary(p, lang))
        );
    }
    let _ = writeln!(s, "\n## {}\n", w(lang, W::Environment));
    let _ = writeln!(s, "- {}: {}", w(lang, W::Started), r.started_at);
    let _ = writeln!(s, "- {}: {:.1} s", w(lang, W::Duration), r.duration_secs);
    let _ = writeln!(s, "- {}: {}", w(lang, W::Switch), r.target.url);
    let _ = writeln!(s, "- {}: {}", w(lang, W::Admin), r.target.admin);
    let _ = writeln!(s, "- {}: {}", w(lang, W::Simulator), r.target.sim);
    if let Some(t) = &r.target.terminal {
        let _ = writeln!(s, "- {}: {}", w(lang, W::Terminal), terminal_line(t));
    }
    if let Some((ext, smid)) = &r.target.merchant {
        let _ = writeln!(s, "- {}: {ext} (smid {})", w(lang, W::Merchant), opt(smid));
    }
    let _ = writeln!(s, "- {} {} {}", r.tool, r.tool_version, r.run_id);
    let _ = writeln!(s, "\n{}", w(lang, W::Secrets));
    for p in &r.points {
        let _ = writeln!(
            s,
            "\n## {}. {} — {}\n",
            p.id,
            point_title(p.id, lang),
            status_word(p.status, lang)
        );
        let _ = writeln!(s, "{}: {}\n", w(lang, W::Method), point_method(p.id, lang));
        let _ = writeln!(s, "{}: {}\n", w(lang, W::Summary), summary(p, lang));
        if !p.checks.is_empty() {
            let _ = writeln!(
                s,
                "| {} | {} | {} |\n| --- | --- | --- |",
                w(lang, W::Check),
                w(lang, W::Result),
                w(lang, W::Detail)
            );
            for c in &p.checks {
                let st = if c.passed { Status::Pass } else { Status::Fail };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    md_cell(label(c, lang)),
                    status_word(st, lang),
                    md_cell(&c.detail)
                );
            }
        }
        if !p.evidence.is_empty() {
            let _ = writeln!(s, "\n### {}\n", w(lang, W::Evidence));
            for (i, e) in p.evidence.iter().enumerate() {
                let _ = writeln!(s, "{}. {} ({})\n", i + 1, e.step, e.source);
                let _ = writeln!(s, "```\n{}```\n", evidence_json(e));
            }
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n## {}\n", w(lang, W::Notes));
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI','PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222}\
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}\
table{border-collapse:collapse;margin:8px 0;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f5f5f5}.pass{color:#1b5e20;font-weight:bold}.fail{color:#b71c1c;font-weight:bold}.skip{color:#777}\
.verdict{padding:14px 18px;border-radius:6px;margin:12px 0;font-size:18px}\
.verdict.pass{background:#e8f5e9;border:2px solid #2e7d32}.verdict.fail{background:#ffebee;border:2px solid #c62828}\
pre{background:#f8f8f8;border:1px solid #eee;padding:8px;font-size:12px;overflow-x:auto;white-space:pre-wrap}\
details{margin:4px 0}.note{color:#555;font-size:14px}";

fn class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Skipped => "skip",
    }
}

/// The HTML checklist in `lang`: the same content as [`markdown`] in one
/// self-contained file (inline CSS, no script, no external resource), every
/// text HTML-escaped, each point's evidence folded in `<details>`.
pub fn html(r: &AcceptanceReport, lang: Lang) -> String {
    let mut s = String::new();
    let html_lang = match lang {
        Lang::En => "en",
        Lang::Zh => "zh-CN",
    };
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(w(lang, W::Title))
    );
    let _ = write!(
        s,
        "<h1>{}</h1><p>{}</p>",
        esc(w(lang, W::Title)),
        esc(w(lang, W::Intro))
    );
    let (vc, vt) = if r.passed {
        ("pass", w(lang, W::AllPassed))
    } else {
        ("fail", w(lang, W::SomeFailed))
    };
    let _ = write!(
        s,
        "<div class=\"verdict {vc}\">{}: {}</div>",
        esc(w(lang, W::Verdict)),
        esc(vt)
    );
    let _ = write!(
        s,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(w(lang, W::Point)),
        esc(w(lang, W::Result)),
        esc(w(lang, W::Summary))
    );
    for p in &r.points {
        let _ = write!(
            s,
            "<tr><td><a href=\"#p{}\">{}. {}</a></td><td class=\"{}\">{}</td><td>{}</td></tr>",
            p.id,
            p.id,
            esc(point_title(p.id, lang)),
            class(p.status),
            esc(status_word(p.status, lang)),
            esc(summary(p, lang))
        );
    }
    s.push_str("</table>");
    let _ = write!(s, "<h2>{}</h2><ul>", esc(w(lang, W::Environment)));
    let mut env = vec![
        (w(lang, W::Started), r.started_at.clone()),
        (w(lang, W::Duration), format!("{:.1} s", r.duration_secs)),
        (w(lang, W::Switch), r.target.url.clone()),
        (w(lang, W::Admin), r.target.admin.clone()),
        (w(lang, W::Simulator), r.target.sim.clone()),
    ];
    if let Some(t) = &r.target.terminal {
        env.push((w(lang, W::Terminal), terminal_line(t)));
    }
    if let Some((ext, smid)) = &r.target.merchant {
        env.push((w(lang, W::Merchant), format!("{ext} (smid {})", opt(smid))));
    }
    for (k, v) in env {
        let _ = write!(s, "<li>{}: {}</li>", esc(k), esc(&v));
    }
    let _ = write!(
        s,
        "<li>{} {} {}</li></ul><p class=\"note\">{}</p>",
        esc(&r.tool),
        esc(&r.tool_version),
        esc(&r.run_id),
        esc(w(lang, W::Secrets))
    );
    for p in &r.points {
        let _ = write!(
            s,
            "<h2 id=\"p{}\">{}. {} — <span class=\"{}\">{}</span></h2>",
            p.id,
            p.id,
            esc(point_title(p.id, lang)),
            class(p.status),
            esc(status_word(p.status, lang))
        );
        let _ = write!(
            s,
            "<p><b>{}</b>: {}</p><p><b>{}</b>: {}</p>",
            esc(w(lang, W::Method)),
            esc(point_method(p.id, lang)),
            esc(w(lang, W::Summary)),
            esc(summary(p, lang))
        );
        if !p.checks.is_empty() {
            let _ = write!(
                s,
                "<table><tr><th>{}</th><th>{}</th><th>{}</th></tr>",
                esc(w(lang, W::Check)),
                esc(w(lang, W::Result)),
                esc(w(lang, W::Detail))
            );
            for c in &p.checks {
                let st = if c.passed { Status::Pass } else { Status::Fail };
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                    esc(label(c, lang)),
                    class(st),
                    esc(status_word(st, lang)),
                    esc(&c.detail)
                );
            }
            s.push_str("</table>");
        }
        if !p.evidence.is_empty() {
            let _ = write!(s, "<h3>{}</h3>", esc(w(lang, W::Evidence)));
            for (i, e) in p.evidence.iter().enumerate() {
                let _ = write!(
                    s,
                    "<details><summary>{}. {} ({})</summary><pre>{}</pre></details>",
                    i + 1,
                    esc(&e.step),
                    esc(&e.source),
                    esc(&evidence_json(e))
                );
            }
        }
    }
    if !r.notes.is_empty() {
        let _ = write!(s, "<h2>{}</h2><ul>", esc(w(lang, W::Notes)));
        for n in &r.notes {
            let _ = write!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}

/// The files [`write_all`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `acceptance.json`.
    pub json: PathBuf,
    /// Markdown and HTML files, per language.
    pub rendered: Vec<PathBuf>,
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LoadgenError::io("cannot write", path, e))
}

/// Writes `acceptance.json` and the Markdown and HTML checklists into `dir`
/// (created): `acceptance.md`/`.html` for one language,
/// `acceptance.en.*` and `acceptance.zh.*` for both. Files already there
/// are replaced.
///
/// # Errors
/// [`LoadgenError::Io`] when the directory cannot be created or a file
/// cannot be written; [`LoadgenError::Format`] when the JSON cannot be
/// serialised.
pub fn write_all(r: &AcceptanceReport, dir: &Path, langs: LangChoice) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| LoadgenError::io("cannot create", dir, e))?;
    let json = dir.join("acceptance.json");
    let text = serde_json::to_string_pretty(r).map_err(|e| LoadgenError::Format {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    write(&json, &text)?;
    let list: Vec<(Lang, &str)> = match langs {
        LangChoice::En => vec![(Lang::En, "acceptance")],
        LangChoice::Zh => vec![(Lang::Zh, "acceptance")],
        LangChoice::Both => vec![(Lang::En, "acceptance.en"), (Lang::Zh, "acceptance.zh")],
    };
    let mut rendered = Vec::new();
    for (lang, stem) in list {
        let md = dir.join(format!("{stem}.md"));
        write(&md, &markdown(r, lang))?;
        let h = dir.join(format!("{stem}.html"));
        write(&h, &html(r, lang))?;
        rendered.push(md);
        rendered.push(h);
    }
    Ok(Written { json, rendered })
}

/// Reads a JSON checklist written by [`write_all`].
///
/// # Errors
/// [`LoadgenError::Io`] when the file cannot be read;
/// [`LoadgenError::Format`] when it is not an acceptance report or its
/// `schema` is not [`SCHEMA`].
pub fn read(path: &Path) -> Result<AcceptanceReport> {
    let text =
        std::fs::read_to_string(path).map_err(|e| LoadgenError::io("cannot read", path, e))?;
    let r: AcceptanceReport = serde_json::from_str(&text).map_err(|e| LoadgenError::Format {
        path: path.to_owned(),
        reason: format!("not an acceptance report: {e}"),
    })?;
    if r.schema != SCHEMA {
        return Err(LoadgenError::Format {
            path: path.to_owned(),
            reason: format!("schema {:?}, expected {SCHEMA}", r.schema),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AcceptanceReport {
        AcceptanceReport {
            schema: SCHEMA.into(),
            tool: "loadgen".into(),
            tool_version: "0".into(),
            run_id: "AC1".into(),
            started_at: "2026-12-01T00:00:00Z".into(),
            duration_secs: 1.0,
            target: TargetInfo::default(),
            passed: false,
            points: vec![Point {
                id: 2,
                key: "attribution".into(),
                status: Status::Fail,
                summary: "missing: store_id <x>".into(),
                summary_zh: "缺少 store_id".into(),
                checks: vec![Check {
                    label_en: "store_id on alipay.trade.pay".into(),
                    label_zh: "条码支付上送 store_id".into(),
                    passed: false,
                    detail: "ledger (none) | registry (none)".into(),
                }],
                evidence: vec![Evidence {
                    source: "switch".into(),
                    step: "pay".into(),
                    method: Some("POST".into()),
                    path: Some("/v1/pay?wait=30".into()),
                    request: Some(serde_json::json!({"auth_code": "**************0000"})),
                    status: Some(200),
                    answer: Some(serde_json::json!({"status": "SUCCESS"})),
                }],
                seconds: 0.1,
            }],
            notes: vec![],
        }
    }

    #[test]
    fn renders_both_languages_escaped() {
        let r = sample();
        let md = markdown(&r, Lang::Zh);
        assert!(
            md.contains("当面付受理商户信息") && md.contains("未通过"),
            "{md}"
        );
        assert!(md.contains("ledger (none) \\| registry (none)"), "{md}");
        let h = html(&r, Lang::En);
        assert!(h.contains("&lt;x&gt;") && !h.contains("<x>"), "{h}");
        assert!(h.contains("NOT PASSED") && h.contains("FAIL"));
        let dir = tempfile::tempdir().unwrap();
        let wr = write_all(&r, dir.path(), LangChoice::Both).unwrap();
        assert_eq!(wr.rendered.len(), 4);
        assert_eq!(read(&wr.json).unwrap(), r);
    }
}
