//! The pressure-test report as one format-neutral [`Document`], built from
//! a [`Report`] in one language; [`super::markdown`] and [`super::html`]
//! render it.
//!
//! Guarantees: every figure of every rendering comes from here, and here
//! from the [`Report`] (nothing is measured or recomputed in a renderer), so
//! the Markdown and the HTML list the same sections in the same order with
//! the same figures; the thresholds come first, right after the verdict; the
//! words come from [`super::i18n`]. Sections without content in this run
//! (reconciliation, staircase, notes) are left out of both renderings alike.

use std::fmt::Write as _;

use super::doc::{
    inlines_with_code, Align, Block, Cell, Document, Figure, Inline, List, Section, Table, Tone,
    Verdict,
};
use super::i18n::{t, Key};
use super::{fmt_metric, fmt_mib, fmt_us, plots, Lang, Latency, OpReport, Report, RECON_CLASSES};
use crate::error::Result;
use crate::load::Model;

use Align::{Left, Right};

/// Builds the document of report `r` in `lang`, the plots drawn: the
/// sections the renderings show, in order (thresholds, conclusion,
/// environment, parameters, plots, results by operation, outcomes,
/// generator, processes, audit, and reconciliation, staircase and notes when
/// there are any, then the series).
///
/// # Errors
///
/// [`crate::LoadgenError::Plot`] when a plot cannot be drawn.
pub fn build(r: &Report, lang: Lang) -> Result<Document> {
    let l = |k| t(lang, k).to_string();
    let mut sections = vec![
        thresholds(r, lang),
        Section {
            id: "conclusion",
            title: l(Key::Conclusion),
            blocks: vec![Block::Paragraph(vec![Inline::Text(conclusion(r, lang))])],
        },
        environment(r, lang),
        parameters(r, lang),
    ];
    let fallback = vec![Inline::text(l(Key::PlotInHtml))];
    for (id, key, svg) in [
        (
            "plot-latency-over-time",
            Key::PlotLatencyOverTime,
            plots::latency_over_time(r, lang)?,
        ),
        ("plot-tps", Key::PlotTps, plots::tps(r, lang)?),
        (
            "plot-distribution",
            Key::PlotDistribution,
            plots::distribution(r, lang)?,
        ),
        (
            "plot-outcomes",
            Key::PlotOutcomes,
            plots::outcomes(r, lang)?,
        ),
    ] {
        sections.push(Section {
            id,
            title: l(key),
            blocks: vec![Block::Figure(Figure {
                id: &id["plot-".len()..],
                svg,
                fallback: fallback.clone(),
            })],
        });
    }
    sections.extend([
        operations(r, lang),
        outcomes(r, lang),
        generator(r, lang),
        processes(r, lang),
        audit(r, lang),
    ]);
    sections.extend(reconciliation(r, lang));
    sections.extend(staircase(r, lang));
    if !r.notes.is_empty() {
        sections.push(Section {
            id: "notes",
            title: l(Key::Notes),
            blocks: vec![Block::List(List {
                items: r.notes.iter().map(|n| inlines_with_code(n)).collect(),
                tone: None,
            })],
        });
    }
    sections.push(series(r, lang));
    Ok(Document {
        lang: match lang {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
        .to_string(),
        title: l(Key::Title),
        id: r.run_id.clone(),
        date: r.started_at.clone(),
        verdict: Verdict {
            label: l(Key::Verdict),
            text: verdict_word(r, lang).to_string(),
            tone: Tone::of(r.verdict.passed && r.verdict.valid),
        },
        sections,
    })
}

/// The verdict in one word (or, for an invalid run, a short phrase).
fn verdict_word(r: &Report, lang: Lang) -> &'static str {
    if !r.verdict.valid {
        t(lang, Key::Invalid)
    } else if r.verdict.passed {
        t(lang, Key::Passed)
    } else {
        t(lang, Key::Failed)
    }
}

fn passed_word(passed: bool, lang: Lang) -> &'static str {
    t(lang, if passed { Key::Passed } else { Key::Failed })
}

/// A `PASSED` / `FAILED` cell in its tone.
fn result_cell(passed: bool, lang: Lang) -> Cell {
    Cell::toned(passed_word(passed, lang), Tone::of(passed))
}

fn thresholds(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let mut blocks = Vec::new();
    if r.thresholds.is_empty() {
        blocks.push(Block::Note(vec![Inline::text("-")]));
    } else {
        let mut table = Table::new(&[
            (l(Key::Threshold), Left),
            (l(Key::Actual), Right),
            (l(Key::Result), Left),
        ]);
        for th in &r.thresholds {
            let actual = th
                .actual
                .map(|a| fmt_metric(th.metric, a))
                .unwrap_or_else(|| l(Key::NotMeasured).to_string());
            table.rows.push(vec![
                Cell::of(vec![Inline::Code(th.spec.clone())]),
                Cell::text(actual),
                result_cell(th.passed, lang),
            ]);
        }
        blocks.push(Block::Table(table));
    }
    if !r.verdict.reasons.is_empty() {
        blocks.push(Block::List(List {
            items: r
                .verdict
                .reasons
                .iter()
                .map(|s| vec![Inline::text(s)])
                .collect(),
            tone: Some(Tone::Fail),
        }));
    }
    Section {
        id: "thresholds",
        title: l(Key::Thresholds).to_string(),
        blocks,
    }
}

fn environment(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k).to_string();
    let m = &r.machine;
    let rows = [
        (Key::Cpu, m.cpu_model.clone()),
        (Key::Cores, m.cores.to_string()),
        (Key::Memory, fmt_mib(m.memory_bytes)),
        (Key::Os, format!("{} ({})", m.os, m.kernel)),
        (Key::Tool, format!("loadgen {}", r.tool_version)),
    ]
    .into_iter()
    .map(|(k, v)| (l(k), vec![Inline::Text(v)]))
    .collect();
    Section {
        id: "environment",
        title: l(Key::Environment),
        blocks: vec![Block::KeyValue(rows)],
    }
}

fn parameters(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k).to_string();
    let mut target = vec![
        Inline::Text(format!("{} ", r.target.kind)),
        Inline::Code(r.target.url.clone()),
    ];
    if r.target.terminals > 0 {
        target.push(Inline::Text(format!(", {} terminals", r.target.terminals)));
    }
    let text = |s: String| vec![Inline::Text(s)];
    let mut rows = vec![
        (l(Key::Target), target),
        (l(Key::Model), text(describe_model(r, lang))),
        (l(Key::Mix), vec![Inline::Code(r.load.mix.clone())]),
        (l(Key::Duration), text(format!("{:.1} s", r.duration_secs))),
        (l(Key::Started), text(r.started_at.clone())),
        (
            l(Key::RunIdSeed),
            text(format!("{} / {}", r.run_id, r.load.seed)),
        ),
        (l(Key::Timeout), text(format!("{} ms", r.load.timeout_ms))),
    ];
    if let Some(w) = r.load.pay_wait_secs {
        rows.push((l(Key::PayWait), text(format!("{w} s"))));
    }
    let mut blocks = vec![Block::KeyValue(rows)];
    if matches!(r.load.model, Model::Open { .. }) {
        blocks.push(Block::Note(vec![Inline::Text(l(Key::CorrectedNote))]));
    }
    Section {
        id: "parameters",
        title: l(Key::Parameters),
        blocks,
    }
}

fn operations(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let mut table = Table::new(&[
        (l(Key::Operation), Left),
        (l(Key::Requests), Right),
        (l(Key::Errors), Right),
        (l(Key::Tps), Right),
        ("min", Right),
        ("p50", Right),
        ("p90", Right),
        ("p99", Right),
        ("p99.9", Right),
        ("max", Right),
    ]);
    let mut rows: Vec<(Inline, &OpReport)> = r
        .operations
        .iter()
        .map(|(k, v)| (Inline::text(k), v))
        .collect();
    rows.push((Inline::Strong("total".into(), None), &r.total));
    for (name, op) in rows {
        let la = &op.latency_us;
        table.rows.push(vec![
            Cell::of(vec![name]),
            Cell::text(op.requests.to_string()),
            Cell::text(format!("{} ({:.3}%)", op.errors, op.error_pct)),
            Cell::text(format!("{:.1}", op.tps)),
            Cell::text(fmt_us(la.min)),
            Cell::text(fmt_us(la.p50)),
            Cell::text(fmt_us(la.p90)),
            Cell::text(fmt_us(la.p99)),
            Cell::text(fmt_us(la.p999)),
            Cell::text(fmt_us(la.max)),
        ]);
    }
    Section {
        id: "operations",
        title: l(Key::Summary).to_string(),
        blocks: vec![Block::Table(table)],
    }
}

fn outcomes(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let mut table = Table::new(&[
        (l(Key::Operation), Left),
        (l(Key::Outcome), Left),
        (l(Key::Count), Right),
        (l(Key::Errors), Left),
        ("p50", Right),
        ("p99", Right),
        ("max", Right),
    ]);
    for (name, op) in &r.operations {
        for oc in &op.outcomes {
            table.rows.push(vec![
                Cell::text(name),
                Cell::toned(&oc.label, Tone::of(!oc.error)),
                Cell::text(oc.count.to_string()),
                Cell::text(match (oc.error, oc.generator) {
                    (true, true) => l(Key::GeneratorOwn),
                    (true, false) => "✗",
                    (false, _) => "",
                }),
                Cell::text(fmt_us(oc.latency_us.p50)),
                Cell::text(fmt_us(oc.latency_us.p99)),
                Cell::text(fmt_us(oc.latency_us.max)),
            ]);
        }
    }
    let mut blocks = vec![Block::Table(table)];
    let generator_own = r
        .operations
        .values()
        .flat_map(|op| &op.outcomes)
        .any(|oc| oc.error && oc.generator);
    if generator_own {
        let note = l(Key::GeneratorOwnNote).replace("{ms}", &r.load.timeout_ms.to_string());
        blocks.push(Block::Note(vec![Inline::Text(note)]));
    }
    Section {
        id: "outcomes",
        title: l(Key::Outcomes).to_string(),
        blocks,
    }
}

fn generator(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let g = &r.generator;
    let mut table = Table::new(&[
        ("", Left),
        ("p50", Right),
        ("p99", Right),
        ("p99.9", Right),
        ("max", Right),
    ]);
    table.row_headings = true;
    let lat = |name: &str, la: &Latency| {
        vec![
            Cell::text(name),
            Cell::text(fmt_us(la.p50)),
            Cell::text(fmt_us(la.p99)),
            Cell::text(fmt_us(la.p999)),
            Cell::text(fmt_us(la.max)),
        ]
    };
    table.rows.push(lat(l(Key::SendLag), &g.send_lag_us));
    table
        .rows
        .push(lat(l(Key::ServiceTime), &g.service_time_us));
    let mut note = vec![Inline::Text(format!(
        "sent {} / intended {}; lag p99 limit {}",
        g.sent,
        g.intended,
        fmt_us(g.max_lag_p99_us)
    ))];
    if g.behind {
        note.push(Inline::text(" — "));
        note.push(Inline::Strong("BEHIND".into(), Some(Tone::Fail)));
    }
    Section {
        id: "generator",
        title: l(Key::Generator).to_string(),
        blocks: vec![Block::Table(table), Block::Note(note)],
    }
}

fn processes(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let nm = l(Key::NotMeasured);
    let block = if r.processes.is_empty() {
        Block::Note(vec![Inline::text(nm)])
    } else {
        let mut table = Table::new(&[
            (l(Key::Process), Left),
            ("pid", Right),
            (l(Key::CpuSeconds), Right),
            (l(Key::CpuCores), Right),
            (l(Key::PeakRss), Right),
        ]);
        let two = |v: Option<f64>| v.map_or_else(|| nm.to_string(), |c| format!("{c:.2}"));
        for p in &r.processes {
            table.rows.push(vec![
                Cell::text(&p.name),
                Cell::text(p.pid.to_string()),
                Cell::text(two(p.cpu_seconds)),
                Cell::text(two(p.cpu_cores_avg)),
                Cell::text(p.peak_rss_bytes.map_or_else(|| nm.to_string(), fmt_mib)),
            ]);
        }
        Block::Table(table)
    };
    Section {
        id: "processes",
        title: l(Key::Processes).to_string(),
        blocks: vec![block],
    }
}

fn audit(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let mut blocks = Vec::new();
    match &r.audit {
        None => blocks.push(Block::Note(vec![Inline::text(l(Key::AuditNone))])),
        Some(a) => {
            let mut table = Table::new(&[
                (l(Key::Checked), Right),
                (l(Key::Matched), Right),
                (l(Key::Missing), Right),
                (l(Key::Duplicate), Right),
                (l(Key::Conflicting), Right),
                (l(Key::Pending), Right),
                (l(Key::Misattributed), Right),
                (l(Key::Result), Left),
            ]);
            let mut row: Vec<Cell> = [
                a.checked,
                a.matched,
                a.missing,
                a.duplicate,
                a.conflicting,
                a.pending,
                a.misattributed,
            ]
            .iter()
            .map(|n| Cell::text(n.to_string()))
            .collect();
            row.push(result_cell(a.passed, lang));
            table.rows.push(row);
            blocks.push(Block::Table(table));
            blocks.push(Block::Note(vec![Inline::Text(format!(
                "sources: {}",
                a.sources.join(", ")
            ))]));
            blocks.push(Block::Note(vec![Inline::Text(format!(
                "{}: {}",
                l(Key::AttributionCheck),
                super::attribution_line(a, lang)
            ))]));
            if !a.problems.is_empty() {
                blocks.push(Block::Heading(l(Key::Problems).to_string()));
                let mut table = Table::new(&[
                    ("out_trade_no", Left),
                    ("", Left),
                    ("generator", Left),
                    ("switch", Left),
                    ("ledger", Left),
                    ("", Left),
                ]);
                for p in &a.problems {
                    table.rows.push(vec![
                        Cell::text(&p.out_trade_no),
                        Cell::toned(format!("{:?}", p.judgement), Tone::Fail),
                        Cell::text(&p.generator),
                        Cell::text(p.switch.as_deref().unwrap_or("-")),
                        Cell::text(p.ledger.as_deref().unwrap_or("-")),
                        Cell::text(&p.detail),
                    ]);
                }
                blocks.push(Block::Table(table));
            }
        }
    }
    Section {
        id: "audit",
        title: l(Key::Audit).to_string(),
        blocks,
    }
}

fn reconciliation(r: &Report, lang: Lang) -> Option<Section> {
    if r.reconciliation.is_empty() {
        return None;
    }
    let l = |k| t(lang, k);
    let mut columns = vec![
        (l(Key::ReconDate), Left),
        (l(Key::BillRows), Right),
        (l(Key::Matched), Right),
        (l(Key::Differences), Right),
        (l(Key::Open), Right),
    ];
    columns.extend(RECON_CLASSES.iter().map(|c| (*c, Right)));
    columns.push((l(Key::Result), Left));
    let mut table = Table::new(&columns);
    for d in &r.reconciliation {
        let mut row: Vec<Cell> = vec![Cell::text(&d.date)];
        row.extend(
            [d.bill_rows, d.matched, d.differences, d.open]
                .iter()
                .map(|n| Cell::text(n.to_string())),
        );
        row.extend(
            RECON_CLASSES
                .iter()
                .map(|c| Cell::text(d.by_class.get(*c).copied().unwrap_or(0).to_string())),
        );
        row.push(match &d.error {
            Some(e) => Cell::toned(format!("{} ({e})", l(Key::Failed)), Tone::Fail),
            None => result_cell(d.passed(), lang),
        });
        table.rows.push(row);
    }
    let mut blocks = vec![Block::Table(table)];
    for d in &r.reconciliation {
        if let Some(s) = &d.settlement {
            blocks.push(Block::Paragraph(vec![Inline::Text(format!(
                "{} {}: {} sub-merchant(s), trades {}, refunds {}, gateway fee {}, merchant fee {}, net due {}; {}",
                l(Key::Settlement),
                d.date,
                s.merchants,
                s.trade_amount,
                s.refund_amount,
                s.gateway_fee,
                s.merchant_fee,
                s.net_amount,
                s.note.as_deref().unwrap_or(l(Key::SettlementEqualsBill)),
            ))]));
        }
    }
    Some(Section {
        id: "reconciliation",
        title: l(Key::Reconciliation).to_string(),
        blocks,
    })
}

fn staircase(r: &Report, lang: Lang) -> Option<Section> {
    if r.staircase.is_empty() {
        return None;
    }
    let l = |k| t(lang, k);
    let mut table = Table::new(&[
        (l(Key::Rate), Right),
        ("TPS", Right),
        (l(Key::Requests), Right),
        (l(Key::Errors), Right),
        ("p99", Right),
        (l(Key::Result), Left),
    ]);
    for s in &r.staircase {
        table.rows.push(vec![
            Cell::text(format!("{:.0}/s", s.rate)),
            Cell::text(format!("{:.1}", s.achieved_tps)),
            Cell::text(s.requests.to_string()),
            Cell::text(format!("{:.3}%", s.error_pct)),
            Cell::text(fmt_us(s.p99_us)),
            result_cell(s.passed, lang),
        ]);
    }
    Some(Section {
        id: "staircase",
        title: l(Key::Staircase).to_string(),
        blocks: vec![Block::Table(table)],
    })
}

fn series(r: &Report, lang: Lang) -> Section {
    let l = |k| t(lang, k);
    let mut table = Table::new(&[
        (l(Key::Second), Right),
        (l(Key::Offered), Right),
        (l(Key::Achieved), Right),
        ("p50", Right),
        ("p99", Right),
        (l(Key::Errors), Right),
    ]);
    for s in &r.series {
        table.rows.push(vec![
            Cell::text(s.second.to_string()),
            Cell::text(s.offered.to_string()),
            Cell::text(s.achieved.to_string()),
            Cell::text(fmt_us(s.p50_us)),
            Cell::text(fmt_us(s.p99_us)),
            Cell::text(s.errors.to_string()),
        ]);
    }
    Section {
        id: "series",
        title: l(Key::Series).to_string(),
        blocks: vec![Block::Table(table)],
    }
}

/// The load model of `r` in words, in `lang`: `open (fixed arrival rate):
/// 200/s × 30 s; at most 1000 in flight`, a ramp as `100→500/s × 30 s`, or
/// `closed: 16 virtual terminals × 30 s`.
pub fn describe_model(r: &Report, lang: Lang) -> String {
    match &r.load.model {
        Model::Open {
            stages,
            max_in_flight,
        } => {
            let parts: Vec<String> = stages
                .iter()
                .map(|s| {
                    if (s.from_rate - s.to_rate).abs() < 1e-9 {
                        format!("{}/s × {:.0} s", s.from_rate, s.duration.as_secs_f64())
                    } else {
                        format!(
                            "{}→{}/s × {:.0} s",
                            s.from_rate,
                            s.to_rate,
                            s.duration.as_secs_f64()
                        )
                    }
                })
                .collect();
            match lang {
                Lang::En => format!(
                    "open (fixed arrival rate): {}; at most {max_in_flight} in flight",
                    parts.join(", ")
                ),
                Lang::Zh => format!(
                    "开放模型（固定到达速率）：{}；最多 {max_in_flight} 笔并发",
                    parts.join("，")
                ),
            }
        }
        Model::Closed {
            terminals,
            duration,
        } => match lang {
            Lang::En => format!(
                "closed: {terminals} virtual terminals × {:.0} s",
                duration.as_secs_f64()
            ),
            Lang::Zh => format!(
                "封闭模型：{terminals} 个虚拟终端 × {:.0} 秒",
                duration.as_secs_f64()
            ),
        },
    }
}

/// The conclusion paragraph of `r` in `lang`: the figures a reviewer asks
/// for (requests, duration, TPS, p50/p99/p99.9/max, errors), the audit, the
/// reconciliation and the verdict with its reasons.
pub fn conclusion(r: &Report, lang: Lang) -> String {
    let tot = &r.total;
    let lat = &tot.latency_us;
    let mut s = match lang {
        Lang::En => format!(
            "{} requests in {:.1} s against the {} ({}), {:.1} TPS achieved; p50 {}, p99 {}, p99.9 {}, max {}; {} errors ({:.3}%).",
            tot.requests,
            r.duration_secs,
            r.target.kind,
            r.target.url,
            tot.tps,
            fmt_us(lat.p50),
            fmt_us(lat.p99),
            fmt_us(lat.p999),
            fmt_us(lat.max),
            tot.errors,
            tot.error_pct
        ),
        Lang::Zh => format!(
            "在 {:.1} 秒内对{}（{}）发出 {} 笔请求，实际 TPS {:.1}；p50 {}，p99 {}，p99.9 {}，最大 {}；错误 {} 笔（{:.3}%）。",
            r.duration_secs,
            if r.target.kind == "switch" { "交换系统" } else { "支付宝网关" },
            r.target.url,
            tot.requests,
            tot.tps,
            fmt_us(lat.p50),
            fmt_us(lat.p99),
            fmt_us(lat.p999),
            fmt_us(lat.max),
            tot.errors,
            tot.error_pct
        ),
    };
    if r.operations.len() > 1 {
        let parts: Vec<String> = r
            .operations
            .iter()
            .map(|(name, op)| {
                let wait = name == "pay:1003" || name == "pay:1004";
                let note = match (wait, lang) {
                    (false, _) => "",
                    (true, Lang::En) => " (includes the buyer's password wait)",
                    (true, Lang::Zh) => "（含买家输入密码的等待）",
                };
                format!("{name} {}{note}", fmt_us(op.latency_us.p99))
            })
            .collect();
        let _ = match lang {
            Lang::En => write!(s, " {}: {}.", t(lang, Key::ByOperation), parts.join(", ")),
            Lang::Zh => write!(s, " {}：{}。", t(lang, Key::ByOperation), parts.join("，")),
        };
    }
    if let Some(a) = &r.audit {
        let _ = match lang {
            Lang::En => write!(
                s,
                " Audit: {} of {} trades match ({} missing, {} duplicate, {} conflicting, {} pending, {} misattributed).",
                a.matched, a.checked, a.missing, a.duplicate, a.conflicting, a.pending, a.misattributed
            ),
            Lang::Zh => write!(
                s,
                " 对账：{} 笔中 {} 笔一致（缺失 {}，重复 {}，不一致 {}，未决 {}，归属不符 {}）。",
                a.checked, a.matched, a.missing, a.duplicate, a.conflicting, a.pending, a.misattributed
            ),
        };
    }
    if !r.reconciliation.is_empty() {
        let days: Vec<&str> = r.reconciliation.iter().map(|d| d.date.as_str()).collect();
        let rows: u64 = r.reconciliation.iter().map(|d| d.bill_rows).sum();
        let matched: u64 = r.reconciliation.iter().map(|d| d.matched).sum();
        let open: u64 = r.reconciliation.iter().map(|d| d.open).sum();
        let diffs: u64 = r.reconciliation.iter().map(|d| d.differences).sum();
        let _ = match lang {
            Lang::En => write!(
                s,
                " Reconciliation of {} against the gateway's bill: {matched} of {rows} bill rows matched, {diffs} differences ({open} open).",
                days.join(", ")
            ),
            Lang::Zh => write!(
                s,
                " 与支付宝账单对账（{}）：账单 {rows} 行中 {matched} 行一致，差错 {diffs} 笔（未决 {open} 笔）。",
                days.join("、")
            ),
        };
    }
    let verdict = verdict_word(r, lang);
    let _ = match lang {
        Lang::En => write!(s, " The run {verdict}."),
        Lang::Zh => write!(s, " 本次测试结论：{verdict}。"),
    };
    for reason in &r.verdict.reasons {
        let _ = write!(s, " {reason}.");
    }
    s
}
