//! Health at a glance, from the switch's own metrics (the `/metrics` text
//! of this node, parsed back): payments per second since the last look and
//! their outcomes, the pay p99, the gateway breaker, the journal's commit
//! p99 and failures, heartbeats, the last reconciliation; with the sizes of
//! the work queues.

use std::fmt::Write as _;

use http_body_util::BodyExt;
use parking_lot::Mutex;

use super::html::{esc, table};
use super::trades::{fmt_ms, read};
use super::Ctx;
use crate::admin::Admin;
use crate::trade::{now_ms, Status};

/// The pay counter at the last look, for a rate (ms, count).
#[derive(Default)]
pub(crate) struct Rates {
    last: Mutex<Option<(i64, f64)>>,
}

/// One sample of the metrics text: name, labels (as written), value.
struct Sample {
    name: String,
    labels: String,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            Some(Sample {
                name: name.to_owned(),
                labels: labels.to_owned(),
                value,
            })
        })
        .collect()
}

/// A label's value in a sample's labels text.
fn label<'a>(labels: &'a str, k: &str) -> Option<&'a str> {
    let pat = format!("{k}=\"");
    let i = labels.find(&pat)? + pat.len();
    let rest = &labels[i..];
    rest.find('"').map(|j| &rest[..j])
}

/// The q-quantile (seconds) of a histogram from its cumulative buckets
/// whose labels hold `filter`: the upper bound of the first bucket that
/// holds q of the count; None with no observation.
fn quantile(samples: &[Sample], name: &str, filter: &str, q: f64) -> Option<f64> {
    let bucket = format!("{name}_bucket");
    let mut b: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == bucket && s.labels.contains(filter))
        .filter_map(|s| {
            let le = label(&s.labels, "le")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, s.value))
        })
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = b.last()?.1;
    if total <= 0.0 {
        return None;
    }
    b.iter().find(|(_, c)| *c >= q * total).map(|(le, _)| *le)
}

fn sum(samples: &[Sample], name: &str, filter: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && s.labels.contains(filter))
        .map(|s| s.value)
        .sum()
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_infinite() => "> max bucket".into(),
        Some(x) => format!("≤ {:.0} ms", x * 1000.0),
        None => "-".into(),
    }
}

/// The overview page's body.
pub(crate) async fn overview(admin: &Admin, ctx: &Ctx, rates: &Rates) -> String {
    let resp = admin.api.metrics().await;
    let text = match resp.into_body().collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).into_owned(),
        Err(never) => match never {},
    };
    let s = parse(&text);
    let now = now_ms();
    let pays = sum(&s, "payswitch_requests_total", "endpoint=\"pay\"");
    let rate = {
        let mut last = rates.last.lock();
        let r = match *last {
            Some((t, n)) if now > t => Some((pays - n).max(0.0) * 1000.0 / (now - t) as f64),
            _ => None,
        };
        *last = Some((now, pays));
        r
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut kv = |k: &str, v: String| rows.push(vec![esc(k), esc(&v)]);
    kv(
        ctx.t(
            "Payments per second (since the last look at this page)",
            "每秒支付笔数（自上次查看本页）",
        ),
        rate.map_or_else(|| "-".into(), |r| format!("{r:.2}")),
    );
    kv(
        ctx.t("Pay requests since start", "启动以来支付请求"),
        format!("{pays:.0}"),
    );
    let mut by_status: Vec<(String, f64)> = s
        .iter()
        .filter(|x| x.name == "payswitch_requests_total" && x.labels.contains("endpoint=\"pay\""))
        .map(|x| (label(&x.labels, "status").unwrap_or("").to_owned(), x.value))
        .collect();
    by_status.sort_by(|a, b| a.0.cmp(&b.0));
    kv(
        ctx.t("Pay answers by HTTP status", "支付应答（按 HTTP 状态）"),
        by_status
            .iter()
            .map(|(k, v)| format!("{k}: {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let trades: Vec<String> = admin
        .flows()
        .status_counts()
        .into_iter()
        .map(|(st, n): (Status, i64)| format!("{}: {n}", st.as_str()))
        .collect();
    kv(
        ctx.t("Trades by status (journal)", "交易状态分布（日志）"),
        trades.join(", "),
    );
    kv(
        ctx.t("Pay p99 (since start)", "支付 p99（启动以来）"),
        ms(quantile(
            &s,
            "payswitch_request_seconds",
            "endpoint=\"pay\"",
            0.99,
        )),
    );
    kv(
        ctx.t("Gateway circuit breaker", "网关熔断器"),
        if admin.flows().gateway_breaker_open() {
            ctx.t("OPEN: new trades refused", "已断开：拒绝新交易")
                .into()
        } else {
            ctx.t("closed", "闭合（正常）").into()
        },
    );
    kv(
        ctx.t("Gateway p99 (since start)", "网关 p99（启动以来）"),
        ms(quantile(&s, "payswitch_gateway_seconds", "", 0.99)),
    );
    kv(
        ctx.t(
            "Journal commit p99 (since start)",
            "日志提交 p99（启动以来）",
        ),
        ms(quantile(&s, "payswitch_journal_commit_seconds", "", 0.99)),
    );
    kv(
        ctx.t("Journal failures", "日志写入失败"),
        format!("{:.0}", sum(&s, "payswitch_journal_failures_total", "")),
    );
    let mut hb: Vec<(String, f64)> = s
        .iter()
        .filter(|x| x.name == "payswitch_heartbeats_total")
        .map(|x| (label(&x.labels, "result").unwrap_or("").to_owned(), x.value))
        .collect();
    hb.sort_by(|a, b| a.0.cmp(&b.0));
    kv(
        ctx.t("Heartbeats by result", "心跳（按结果）"),
        hb.iter()
            .map(|(k, v)| format!("{k}: {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    kv(
        ctx.t("Notification incidents", "通知异常"),
        format!("{:.0}", sum(&s, "payswitch_notify_incidents_total", "")),
    );
    kv(
        ctx.t("Late landings", "迟到支付"),
        format!("{:.0}", sum(&s, "payswitch_late_landings_total", "")),
    );
    let last = read(admin, |st| st.last_recon_run()).await.ok().flatten();
    kv(
        ctx.t("Last reconciliation", "最近一次对账"),
        match last {
            Some(r) => format!(
                "{} {} {} {} {}: exit {}, {} {}",
                r.bill_date,
                ctx.t("run", "第"),
                r.run,
                ctx.t("at", "次，于"),
                fmt_ms(r.at_ms),
                r.exit_code,
                r.open,
                ctx.t("open", "条未解决")
            ),
            None => ctx.t("none yet", "尚无").into(),
        },
    );
    kv(
        ctx.t("Flows in flight", "进行中的流程"),
        admin.flows().in_flight().to_string(),
    );
    let mut h = table(&[ctx.t("Measure", "指标"), ctx.t("Value", "值")], &rows);
    let _ = write!(
        h,
        "<p><a href=\"/console/queues\">{}</a> · <a href=\"/console/trades\">{}</a></p>",
        ctx.t("Work queues", "待办"),
        ctx.t("Trade search", "交易查询")
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantile_from_cumulative_buckets() {
        let t = "# TYPE x histogram\nx_bucket{endpoint=\"pay\",le=\"0.01\"} 90\nx_bucket{endpoint=\"pay\",le=\"0.05\"} 99\nx_bucket{endpoint=\"pay\",le=\"+Inf\"} 100\nx_count{endpoint=\"pay\"} 100\n";
        let s = parse(t);
        assert_eq!(quantile(&s, "x", "endpoint=\"pay\"", 0.99), Some(0.05));
        assert_eq!(quantile(&s, "x", "endpoint=\"pay\"", 0.5), Some(0.01));
        assert_eq!(quantile(&s, "y", "", 0.99), None);
        assert_eq!(label("a=\"1\",b=\"2\"", "b"), Some("2"));
    }
}
