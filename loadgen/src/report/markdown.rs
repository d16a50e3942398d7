//! The Markdown rendering of the report, and the conclusion paragraph the
//! HTML shares.
//!
//! Guarantees: the threshold block comes first, right after the verdict; all
//! figures come from the [`Report`] (the Markdown never measures anything of
//! its own); table cells are escaped so that an outcome label cannot break a
//! table.

use std::fmt::Write as _;

use super::i18n::{t, Key};
use super::{fmt_metric, fmt_mib, fmt_us, Lang, Report};
use crate::load::Model;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The model in words: `open, hold 200/s for 30 s`.
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

/// The conclusion paragraph.
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
        let sep = match lang {
            Lang::En => ", ",
            Lang::Zh => "，",
        };
        let _ = match lang {
            Lang::En => write!(s, " {}: {}.", t(lang, Key::ByOperation), parts.join(sep)),
            Lang::Zh => write!(s, " {}：{}。", t(lang, Key::ByOperation), parts.join(sep)),
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
    let verdict = if !r.verdict.valid {
        t(lang, Key::Invalid)
    } else if r.verdict.passed {
        t(lang, Key::Passed)
    } else {
        t(lang, Key::Failed)
    };
    let _ = match lang {
        Lang::En => write!(s, " The run {verdict}."),
        Lang::Zh => write!(s, " 本次测试结论：{verdict}。"),
    };
    for reason in &r.verdict.reasons {
        let _ = write!(s, " {reason}.");
    }
    s
}

/// Renders the report as Markdown.
pub fn render(r: &Report, lang: Lang) -> String {
    let l = |k| t(lang, k);
    let mut o = String::new();
    let verdict = if !r.verdict.valid {
        l(Key::Invalid)
    } else if r.verdict.passed {
        l(Key::Passed)
    } else {
        l(Key::Failed)
    };
    let _ = writeln!(o, "# {}: {}\n", l(Key::Title), verdict);
    let _ = writeln!(o, "## {}\n", l(Key::Thresholds));
    if r.thresholds.is_empty() {
        let _ = writeln!(o, "-\n");
    } else {
        let _ = writeln!(
            o,
            "| {} | {} | {} |\n| --- | --- | --- |",
            l(Key::Threshold),
            l(Key::Actual),
            l(Key::Result)
        );
        for th in &r.thresholds {
            let actual = th
                .actual
                .map(|a| fmt_metric(th.metric, a))
                .unwrap_or_else(|| l(Key::NotMeasured).to_string());
            let res = if th.passed {
                l(Key::Passed)
            } else {
                l(Key::Failed)
            };
            let _ = writeln!(o, "| `{}` | {} | {} |", cell(&th.spec), actual, res);
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## {}\n\n{}\n", l(Key::Conclusion), conclusion(r, lang));

    let _ = writeln!(o, "## {}\n", l(Key::Environment));
    let m = &r.machine;
    let _ = writeln!(o, "| | |\n| --- | --- |");
    let _ = writeln!(o, "| {} | {} |", l(Key::Cpu), cell(&m.cpu_model));
    let _ = writeln!(o, "| {} | {} |", l(Key::Cores), m.cores);
    let _ = writeln!(o, "| {} | {} |", l(Key::Memory), fmt_mib(m.memory_bytes));
    let _ = writeln!(
        o,
        "| {} | {} ({}) |",
        l(Key::Os),
        cell(&m.os),
        cell(&m.kernel)
    );
    let _ = writeln!(o, "| {} | loadgen {} |", l(Key::Tool), r.tool_version);
    o.push('\n');

    let _ = writeln!(o, "## {}\n", l(Key::Parameters));
    let _ = writeln!(o, "| | |\n| --- | --- |");
    let _ = writeln!(
        o,
        "| {} | {} `{}`{} |",
        l(Key::Target),
        r.target.kind,
        cell(&r.target.url),
        if r.target.terminals > 0 {
            format!(", {} terminals", r.target.terminals)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        o,
        "| {} | {} |",
        l(Key::Model),
        cell(&describe_model(r, lang))
    );
    let _ = writeln!(o, "| {} | `{}` |", l(Key::Mix), cell(&r.load.mix));
    let _ = writeln!(o, "| {} | {:.1} s |", l(Key::Duration), r.duration_secs);
    let _ = writeln!(o, "| {} | {} |", l(Key::Started), r.started_at);
    let _ = writeln!(
        o,
        "| {} | {} / {} |",
        l(Key::RunIdSeed),
        r.run_id,
        r.load.seed
    );
    let _ = writeln!(o, "| {} | {} ms |", l(Key::Timeout), r.load.timeout_ms);
    if let Some(w) = r.load.pay_wait_secs {
        let _ = writeln!(o, "| {} | {w} s |", l(Key::PayWait));
    }
    o.push('\n');
    if matches!(r.load.model, Model::Open { .. }) {
        let _ = writeln!(o, "{}\n", l(Key::CorrectedNote));
    }

    let _ = writeln!(o, "## {}\n", l(Key::Summary));
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | min | p50 | p90 | p99 | p99.9 | max |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        l(Key::Operation),
        l(Key::Requests),
        l(Key::Errors),
        l(Key::Tps)
    );
    let mut rows: Vec<(&str, &super::OpReport)> =
        r.operations.iter().map(|(k, v)| (k.as_str(), v)).collect();
    rows.push(("**total**", &r.total));
    for (name, op) in rows {
        let la = &op.latency_us;
        let _ = writeln!(
            o,
            "| {} | {} | {} ({:.3}%) | {:.1} | {} | {} | {} | {} | {} | {} |",
            cell(name),
            op.requests,
            op.errors,
            op.error_pct,
            op.tps,
            fmt_us(la.min),
            fmt_us(la.p50),
            fmt_us(la.p90),
            fmt_us(la.p99),
            fmt_us(la.p999),
            fmt_us(la.max)
        );
    }
    o.push('\n');

    let _ = writeln!(o, "## {}\n", l(Key::Outcomes));
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | p50 | p99 | max |\n| --- | --- | ---: | --- | ---: | ---: | ---: |",
        l(Key::Operation),
        l(Key::Outcome),
        l(Key::Count),
        l(Key::Errors)
    );
    for (name, op) in &r.operations {
        for oc in &op.outcomes {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(name),
                cell(&oc.label),
                oc.count,
                if oc.error { "✗" } else { "" },
                fmt_us(oc.latency_us.p50),
                fmt_us(oc.latency_us.p99),
                fmt_us(oc.latency_us.max)
            );
        }
    }
    o.push('\n');

    let g = &r.generator;
    let _ = writeln!(o, "## {}\n", l(Key::Generator));
    let _ = writeln!(
        o,
        "- sent {} of {} intended; {}: p50 {}, p99 {}, max {} (limit p99 {}){}",
        g.sent,
        g.intended,
        l(Key::SendLag),
        fmt_us(g.send_lag_us.p50),
        fmt_us(g.send_lag_us.p99),
        fmt_us(g.send_lag_us.max),
        fmt_us(g.max_lag_p99_us),
        if g.behind { " **BEHIND**" } else { "" }
    );
    let _ = writeln!(
        o,
        "- {}: p50 {}, p99 {}, p99.9 {}, max {}\n",
        l(Key::ServiceTime),
        fmt_us(g.service_time_us.p50),
        fmt_us(g.service_time_us.p99),
        fmt_us(g.service_time_us.p999),
        fmt_us(g.service_time_us.max)
    );

    let _ = writeln!(o, "## {}\n", l(Key::Processes));
    if r.processes.is_empty() {
        let _ = writeln!(o, "{}\n", l(Key::NotMeasured));
    } else {
        let _ = writeln!(
            o,
            "| {} | pid | {} | {} | {} |\n| --- | ---: | ---: | ---: | ---: |",
            l(Key::Process),
            l(Key::CpuSeconds),
            l(Key::CpuCores),
            l(Key::PeakRss)
        );
        for p in &r.processes {
            let nm = l(Key::NotMeasured);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&p.name),
                p.pid,
                p.cpu_seconds
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| nm.into()),
                p.cpu_cores_avg
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| nm.into()),
                p.peak_rss_bytes.map(fmt_mib).unwrap_or_else(|| nm.into())
            );
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## {}\n", l(Key::Audit));
    match &r.audit {
        None => {
            let _ = writeln!(o, "{}\n", l(Key::AuditNone));
        }
        Some(a) => {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                l(Key::Checked), l(Key::Matched), l(Key::Missing), l(Key::Duplicate),
                l(Key::Conflicting), l(Key::Pending), l(Key::Misattributed), l(Key::Result),
                a.checked, a.matched, a.missing, a.duplicate, a.conflicting, a.pending,
                a.misattributed,
                if a.passed { l(Key::Passed) } else { l(Key::Failed) }
            );
            let _ = writeln!(o, "sources: {}\n", a.sources.join(", "));
            let _ = writeln!(
                o,
                "{}: {}\n",
                l(Key::AttributionCheck),
                super::attribution_line(a, lang)
            );
            if !a.problems.is_empty() {
                let _ = writeln!(o, "### {}\n\n| out_trade_no | | generator | switch | ledger | |\n| --- | --- | --- | --- | --- | --- |", l(Key::Problems));
                for p in &a.problems {
                    let _ = writeln!(
                        o,
                        "| {} | {:?} | {} | {} | {} | {} |",
                        cell(&p.out_trade_no),
                        p.judgement,
                        cell(&p.generator),
                        cell(p.switch.as_deref().unwrap_or("-")),
                        cell(p.ledger.as_deref().unwrap_or("-")),
                        cell(&p.detail)
                    );
                }
                o.push('\n');
            }
        }
    }

    if !r.reconciliation.is_empty() {
        let _ = writeln!(
            o,
            "## {}\n\n| {} | {} | {} | {} | {} | {} | {} |\n| --- | ---: | ---: | ---: | ---: | {} --- |",
            l(Key::Reconciliation),
            l(Key::ReconDate),
            l(Key::BillRows),
            l(Key::Matched),
            l(Key::Differences),
            l(Key::Open),
            super::RECON_CLASSES.join(" | "),
            l(Key::Result),
            "---: | ".repeat(super::RECON_CLASSES.len())
        );
        for d in &r.reconciliation {
            let classes: Vec<String> = super::RECON_CLASSES
                .iter()
                .map(|c| d.by_class.get(*c).copied().unwrap_or(0).to_string())
                .collect();
            let result = match &d.error {
                Some(e) => format!("{} ({})", l(Key::Failed), cell(e)),
                None if d.passed() => l(Key::Passed).to_string(),
                None => l(Key::Failed).to_string(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {result} |",
                d.date,
                d.bill_rows,
                d.matched,
                d.differences,
                d.open,
                classes.join(" | ")
            );
        }
        o.push('\n');
        for d in &r.reconciliation {
            if let Some(s) = &d.settlement {
                let _ = writeln!(
                    o,
                    "{} {}: {} sub-merchant(s), trades {}, refunds {}, gateway fee {}, merchant fee {}, net due {}; {}\n",
                    l(Key::Settlement),
                    d.date,
                    s.merchants,
                    s.trade_amount,
                    s.refund_amount,
                    s.gateway_fee,
                    s.merchant_fee,
                    s.net_amount,
                    match &s.note {
                        None => l(Key::SettlementEqualsBill).to_string(),
                        Some(n) => cell(n),
                    }
                );
            }
        }
    }

    if !r.staircase.is_empty() {
        let _ = writeln!(
            o,
            "## {}\n\n| {} | TPS | {} | {} | p99 | {} |\n| ---: | ---: | ---: | ---: | ---: | --- |",
            l(Key::Staircase),
            l(Key::Rate),
            l(Key::Requests),
            l(Key::Errors),
            l(Key::Result)
        );
        for s in &r.staircase {
            let _ = writeln!(
                o,
                "| {:.0}/s | {:.1} | {} | {:.3}% | {} | {} |",
                s.rate,
                s.achieved_tps,
                s.requests,
                s.error_pct,
                fmt_us(s.p99_us),
                if s.passed {
                    l(Key::Passed)
                } else {
                    l(Key::Failed)
                }
            );
        }
        o.push('\n');
    }

    let _ = writeln!(
        o,
        "## {}\n\n| {} | {} | {} | p50 | p99 | {} |\n| ---: | ---: | ---: | ---: | ---: | ---: |",
        l(Key::Series),
        l(Key::Second),
        l(Key::Offered),
        l(Key::Achieved),
        l(Key::Errors)
    );
    for s in &r.series {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            s.second,
            s.offered,
            s.achieved,
            fmt_us(s.p50_us),
            fmt_us(s.p99_us),
            s.errors
        );
    }
    o.push('\n');
    if !r.notes.is_empty() {
        let _ = writeln!(o, "## {}\n", l(Key::Notes));
        for n in &r.notes {
            let _ = writeln!(o, "- {}", n.replace('\n', " "));
        }
        o.push('\n');
    }
    o
}
