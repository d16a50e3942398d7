//! The self-contained HTML report: one file, inline CSS, inline SVG plots,
//! no script and no external resource, so it opens anywhere (and can be
//! mailed to a reviewer as is).
//!
//! Guarantees: every text taken from the run is HTML-escaped; the pass/fail
//! block of thresholds is the first thing on the page; the tables are the
//! Markdown report's, converted, so both say the same.

use std::fmt::Write as _;

use super::i18n::{t, Key};
use super::markdown::{conclusion, describe_model};
use super::{fmt_metric, fmt_mib, fmt_us, plots, Lang, Report};
use crate::error::Result;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI','PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222}\
h1{font-size:26px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}\
table{border-collapse:collapse;margin:8px 0;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}\
td.n,th.n{text-align:right}th{background:#f5f5f5}\
.pass{color:#1b5e20;font-weight:bold}.fail{color:#b71c1c;font-weight:bold}\
.verdict{padding:14px 18px;border-radius:6px;margin:12px 0;font-size:18px}\
.verdict.pass{background:#e8f5e9;border:2px solid #2e7d32}.verdict.fail{background:#ffebee;border:2px solid #c62828}\
.plot svg{max-width:100%;height:auto}.note{color:#555;font-size:14px}";

fn td(s: &str) -> String {
    format!("<td>{}</td>", esc(s))
}
fn tn(s: &str) -> String {
    format!("<td class=n>{}</td>", esc(s))
}

/// Renders the report as one HTML page.
pub fn render(r: &Report, lang: Lang) -> Result<String> {
    let l = |k| t(lang, k);
    let mut o = String::with_capacity(200_000);
    let lang_attr = match lang {
        Lang::En => "en",
        Lang::Zh => "zh-CN",
    };
    let ok = r.verdict.passed && r.verdict.valid;
    let verdict = if !r.verdict.valid {
        l(Key::Invalid)
    } else if r.verdict.passed {
        l(Key::Passed)
    } else {
        l(Key::Failed)
    };
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"{lang_attr}\"><head><meta charset=\"utf-8\"><title>{} {}</title><style>{CSS}</style></head><body>",
        esc(l(Key::Title)),
        esc(&r.run_id)
    );
    let _ = write!(
        o,
        "<h1>{} <span class=note>{}</span></h1>",
        esc(l(Key::Title)),
        esc(&r.started_at)
    );
    let _ = write!(
        o,
        "<div class=\"verdict {}\">{}: {}</div>",
        if ok { "pass" } else { "fail" },
        esc(l(Key::Verdict)),
        esc(verdict)
    );
    // Thresholds first.
    let _ = write!(o, "<h2>{}</h2>", esc(l(Key::Thresholds)));
    if r.thresholds.is_empty() {
        o.push_str("<p class=note>-</p>");
    } else {
        let _ = write!(
            o,
            "<table><tr><th>{}</th><th class=n>{}</th><th>{}</th></tr>",
            esc(l(Key::Threshold)),
            esc(l(Key::Actual)),
            esc(l(Key::Result))
        );
        for th in &r.thresholds {
            let actual = th
                .actual
                .map(|a| fmt_metric(th.metric, a))
                .unwrap_or_else(|| l(Key::NotMeasured).to_string());
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td>{}<td class={}>{}</td></tr>",
                esc(&th.spec),
                tn(&actual),
                if th.passed { "pass" } else { "fail" },
                esc(if th.passed {
                    l(Key::Passed)
                } else {
                    l(Key::Failed)
                })
            );
        }
        o.push_str("</table>");
    }
    if !r.verdict.reasons.is_empty() {
        o.push_str("<ul>");
        for reason in &r.verdict.reasons {
            let _ = write!(o, "<li class=fail>{}</li>", esc(reason));
        }
        o.push_str("</ul>");
    }
    let _ = write!(
        o,
        "<h2>{}</h2><p>{}</p>",
        esc(l(Key::Conclusion)),
        esc(&conclusion(r, lang))
    );

    // Environment and parameters.
    let m = &r.machine;
    let _ = write!(o, "<h2>{}</h2><table>", esc(l(Key::Environment)));
    for (k, v) in [
        (l(Key::Cpu), m.cpu_model.clone()),
        (l(Key::Cores), m.cores.to_string()),
        (l(Key::Memory), fmt_mib(m.memory_bytes)),
        (l(Key::Os), format!("{} ({})", m.os, m.kernel)),
        (l(Key::Tool), format!("loadgen {}", r.tool_version)),
    ] {
        let _ = write!(o, "<tr><th>{}</th>{}</tr>", esc(k), td(&v));
    }
    o.push_str("</table>");
    let _ = write!(o, "<h2>{}</h2><table>", esc(l(Key::Parameters)));
    let mut target = format!("{} {}", r.target.kind, r.target.url);
    if r.target.terminals > 0 {
        let _ = write!(target, ", {} terminals", r.target.terminals);
    }
    let mut params = vec![
        (l(Key::Target), target),
        (l(Key::Model), describe_model(r, lang)),
        (l(Key::Mix), r.load.mix.clone()),
        (l(Key::Duration), format!("{:.1} s", r.duration_secs)),
        (l(Key::Started), r.started_at.clone()),
        (l(Key::RunIdSeed), format!("{} / {}", r.run_id, r.load.seed)),
        (l(Key::Timeout), format!("{} ms", r.load.timeout_ms)),
    ];
    if let Some(w) = r.load.pay_wait_secs {
        params.push((l(Key::PayWait), format!("{w} s")));
    }
    for (k, v) in params {
        let _ = write!(o, "<tr><th>{}</th>{}</tr>", esc(k), td(&v));
    }
    o.push_str("</table>");
    if matches!(r.load.model, crate::load::Model::Open { .. }) {
        let _ = write!(o, "<p class=note>{}</p>", esc(l(Key::CorrectedNote)));
    }

    // Plots.
    for (key, svg) in [
        (Key::PlotLatencyOverTime, plots::latency_over_time(r, lang)?),
        (Key::PlotTps, plots::tps(r, lang)?),
        (Key::PlotDistribution, plots::distribution(r, lang)?),
        (Key::PlotOutcomes, plots::outcomes(r, lang)?),
    ] {
        let _ = write!(o, "<h2>{}</h2><div class=plot>{}</div>", esc(l(key)), svg);
    }

    // Per operation.
    let _ = write!(
        o,
        "<h2>{}</h2><table><tr><th>{}</th><th class=n>{}</th><th class=n>{}</th><th class=n>{}</th><th class=n>min</th><th class=n>p50</th><th class=n>p90</th><th class=n>p99</th><th class=n>p99.9</th><th class=n>max</th></tr>",
        esc(l(Key::Summary)),
        esc(l(Key::Operation)),
        esc(l(Key::Requests)),
        esc(l(Key::Errors)),
        esc(l(Key::Tps))
    );
    let mut rows: Vec<(&str, &super::OpReport)> =
        r.operations.iter().map(|(k, v)| (k.as_str(), v)).collect();
    rows.push(("total", &r.total));
    for (name, op) in rows {
        let la = &op.latency_us;
        let _ = write!(
            o,
            "<tr>{}{}{}{}{}{}{}{}{}{}</tr>",
            td(name),
            tn(&op.requests.to_string()),
            tn(&format!("{} ({:.3}%)", op.errors, op.error_pct)),
            tn(&format!("{:.1}", op.tps)),
            tn(&fmt_us(la.min)),
            tn(&fmt_us(la.p50)),
            tn(&fmt_us(la.p90)),
            tn(&fmt_us(la.p99)),
            tn(&fmt_us(la.p999)),
            tn(&fmt_us(la.max))
        );
    }
    o.push_str("</table>");

    let _ = write!(
        o,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th class=n>{}</th><th class=n>p50</th><th class=n>p99</th><th class=n>max</th></tr>",
        esc(l(Key::Outcomes)),
        esc(l(Key::Operation)),
        esc(l(Key::Outcome)),
        esc(l(Key::Count))
    );
    for (name, op) in &r.operations {
        for oc in &op.outcomes {
            let _ = write!(
                o,
                "<tr>{}<td class={}>{}</td>{}{}{}{}</tr>",
                td(name),
                if oc.error { "fail" } else { "pass" },
                esc(&oc.label),
                tn(&oc.count.to_string()),
                tn(&fmt_us(oc.latency_us.p50)),
                tn(&fmt_us(oc.latency_us.p99)),
                tn(&fmt_us(oc.latency_us.max))
            );
        }
    }
    o.push_str("</table>");

    // Generator, processes, audit.
    let g = &r.generator;
    let _ = write!(
        o,
        "<h2>{}</h2><table><tr><th></th><th class=n>p50</th><th class=n>p99</th><th class=n>p99.9</th><th class=n>max</th></tr>",
        esc(l(Key::Generator))
    );
    for (k, la) in [
        (l(Key::SendLag), &g.send_lag_us),
        (l(Key::ServiceTime), &g.service_time_us),
    ] {
        let _ = write!(
            o,
            "<tr><th>{}</th>{}{}{}{}</tr>",
            esc(k),
            tn(&fmt_us(la.p50)),
            tn(&fmt_us(la.p99)),
            tn(&fmt_us(la.p999)),
            tn(&fmt_us(la.max))
        );
    }
    let _ = write!(
        o,
        "</table><p class=note>sent {} / intended {}; lag p99 limit {}{}</p>",
        g.sent,
        g.intended,
        esc(&fmt_us(g.max_lag_p99_us)),
        if g.behind {
            " — <b class=fail>BEHIND</b>"
        } else {
            ""
        }
    );
    let _ = write!(o, "<h2>{}</h2>", esc(l(Key::Processes)));
    if r.processes.is_empty() {
        let _ = write!(o, "<p class=note>{}</p>", esc(l(Key::NotMeasured)));
    } else {
        let _ = write!(
            o,
            "<table><tr><th>{}</th><th class=n>pid</th><th class=n>{}</th><th class=n>{}</th><th class=n>{}</th></tr>",
            esc(l(Key::Process)),
            esc(l(Key::CpuSeconds)),
            esc(l(Key::CpuCores)),
            esc(l(Key::PeakRss))
        );
        let nm = l(Key::NotMeasured);
        for p in &r.processes {
            let _ = write!(
                o,
                "<tr>{}{}{}{}{}</tr>",
                td(&p.name),
                tn(&p.pid.to_string()),
                tn(&p
                    .cpu_seconds
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| nm.into())),
                tn(&p
                    .cpu_cores_avg
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| nm.into())),
                tn(&p.peak_rss_bytes.map(fmt_mib).unwrap_or_else(|| nm.into()))
            );
        }
        o.push_str("</table>");
    }
    let _ = write!(o, "<h2>{}</h2>", esc(l(Key::Audit)));
    match &r.audit {
        None => {
            let _ = write!(o, "<p class=note>{}</p>", esc(l(Key::AuditNone)));
        }
        Some(a) => {
            let _ = write!(o, "<table><tr>");
            for k in [
                Key::Checked,
                Key::Matched,
                Key::Missing,
                Key::Duplicate,
                Key::Conflicting,
                Key::Pending,
                Key::Misattributed,
                Key::Result,
            ] {
                let _ = write!(o, "<th class=n>{}</th>", esc(l(k)));
            }
            let _ = write!(
                o,
                "</tr><tr>{}{}{}{}{}{}{}<td class={}>{}</td></tr></table><p class=note>sources: {}</p>",
                tn(&a.checked.to_string()),
                tn(&a.matched.to_string()),
                tn(&a.missing.to_string()),
                tn(&a.duplicate.to_string()),
                tn(&a.conflicting.to_string()),
                tn(&a.pending.to_string()),
                tn(&a.misattributed.to_string()),
                if a.passed { "pass" } else { "fail" },
                esc(if a.passed { l(Key::Passed) } else { l(Key::Failed) }),
                esc(&a.sources.join(", "))
            );
            let _ = write!(
                o,
                "<p class=note>{}: {}</p>",
                esc(l(Key::AttributionCheck)),
                esc(&super::attribution_line(a, lang))
            );
            if !a.problems.is_empty() {
                let _ = write!(o, "<h3>{}</h3><table><tr><th>out_trade_no</th><th></th><th>generator</th><th>switch</th><th>ledger</th><th></th></tr>", esc(l(Key::Problems)));
                for p in &a.problems {
                    let _ = write!(
                        o,
                        "<tr>{}<td class=fail>{:?}</td>{}{}{}{}</tr>",
                        td(&p.out_trade_no),
                        p.judgement,
                        td(&p.generator),
                        td(p.switch.as_deref().unwrap_or("-")),
                        td(p.ledger.as_deref().unwrap_or("-")),
                        td(&p.detail)
                    );
                }
                o.push_str("</table>");
            }
        }
    }
    if !r.reconciliation.is_empty() {
        let _ = write!(
            o,
            "<h2>{}</h2><table><tr><th>{}</th>",
            esc(l(Key::Reconciliation)),
            esc(l(Key::ReconDate))
        );
        for k in [Key::BillRows, Key::Matched, Key::Differences, Key::Open] {
            let _ = write!(o, "<th class=n>{}</th>", esc(l(k)));
        }
        for c in super::RECON_CLASSES {
            let _ = write!(o, "<th class=n>{}</th>", esc(c));
        }
        let _ = write!(o, "<th>{}</th></tr>", esc(l(Key::Result)));
        for d in &r.reconciliation {
            let _ = write!(
                o,
                "<tr>{}{}{}{}{}",
                td(&d.date),
                tn(&d.bill_rows.to_string()),
                tn(&d.matched.to_string()),
                tn(&d.differences.to_string()),
                tn(&d.open.to_string())
            );
            for c in super::RECON_CLASSES {
                o.push_str(&tn(&d.by_class.get(c).copied().unwrap_or(0).to_string()));
            }
            let (class, text) = match &d.error {
                Some(e) => ("fail", format!("{} ({e})", l(Key::Failed))),
                None if d.passed() => ("pass", l(Key::Passed).to_string()),
                None => ("fail", l(Key::Failed).to_string()),
            };
            let _ = write!(o, "<td class={class}>{}</td></tr>", esc(&text));
        }
        o.push_str("</table>");
        for d in &r.reconciliation {
            if let Some(s) = &d.settlement {
                let _ = write!(
                    o,
                    "<p>{} {}: {} sub-merchant(s), {} {}, {} {}, net {}; {}</p>",
                    esc(l(Key::Settlement)),
                    esc(&d.date),
                    s.merchants,
                    esc(&s.trade_amount),
                    esc(&s.refund_amount),
                    esc(&s.gateway_fee),
                    esc(&s.merchant_fee),
                    esc(&s.net_amount),
                    esc(s.note.as_deref().unwrap_or(l(Key::SettlementEqualsBill)))
                );
            }
        }
    }
    if !r.staircase.is_empty() {
        let _ = write!(
            o,
            "<h2>{}</h2><table><tr><th class=n>{}</th><th class=n>TPS</th><th class=n>{}</th><th class=n>{}</th><th class=n>p99</th><th>{}</th></tr>",
            esc(l(Key::Staircase)),
            esc(l(Key::Rate)),
            esc(l(Key::Requests)),
            esc(l(Key::Errors)),
            esc(l(Key::Result))
        );
        for s in &r.staircase {
            let _ = write!(
                o,
                "<tr>{}{}{}{}{}<td class={}>{}</td></tr>",
                tn(&format!("{:.0}/s", s.rate)),
                tn(&format!("{:.1}", s.achieved_tps)),
                tn(&s.requests.to_string()),
                tn(&format!("{:.3}%", s.error_pct)),
                tn(&fmt_us(s.p99_us)),
                if s.passed { "pass" } else { "fail" },
                esc(if s.passed {
                    l(Key::Passed)
                } else {
                    l(Key::Failed)
                })
            );
        }
        o.push_str("</table>");
    }
    if !r.notes.is_empty() {
        let _ = write!(o, "<h2>{}</h2><ul>", esc(l(Key::Notes)));
        for n in &r.notes {
            let _ = write!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>");
    }
    let _ = write!(
        o,
        "<h2>{}</h2><table><tr><th class=n>{}</th><th class=n>{}</th><th class=n>{}</th><th class=n>p50</th><th class=n>p99</th><th class=n>{}</th></tr>",
        esc(l(Key::Series)),
        esc(l(Key::Second)),
        esc(l(Key::Offered)),
        esc(l(Key::Achieved)),
        esc(l(Key::Errors))
    );
    for s in &r.series {
        let _ = write!(
            o,
            "<tr>{}{}{}{}{}{}</tr>",
            tn(&s.second.to_string()),
            tn(&s.offered.to_string()),
            tn(&s.achieved.to_string()),
            tn(&fmt_us(s.p50_us)),
            tn(&fmt_us(s.p99_us)),
            tn(&s.errors.to_string())
        );
    }
    o.push_str("</table></body></html>\n");
    Ok(o)
}
