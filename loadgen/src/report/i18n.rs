//! The words of the report in English and Chinese.
//!
//! Guarantees: every key has both languages (the table is a `match` that the
//! compiler checks for completeness over [`Key`]).

use super::Lang;

/// A phrase of the report; [`t`] gives it in a language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The document's title (“Pressure-test report”).
    Title,
    /// The word for the verdict.
    Verdict,
    /// A passed verdict, threshold or step (“PASSED”).
    Passed,
    /// A failed verdict, threshold or step (“FAILED”).
    Failed,
    /// The verdict of a run whose generator fell behind its schedule.
    Invalid,
    /// The heading of the thresholds section.
    Thresholds,
    /// The column of a threshold's specification.
    Threshold,
    /// The column of a measured value.
    Actual,
    /// The column of a pass/fail result.
    Result,
    /// A value that was not measured.
    NotMeasured,
    /// The heading of the test environment section.
    Environment,
    /// The heading of the load parameters section.
    Parameters,
    /// The target driven (switch, gateway, plain HTTP).
    Target,
    /// The load model (open or closed).
    Model,
    /// The operation mix.
    Mix,
    /// The load's duration.
    Duration,
    /// The machine the generator ran on.
    Machine,
    /// The CPU model.
    Cpu,
    /// The number of cores.
    Cores,
    /// The machine's memory.
    Memory,
    /// The operating system.
    Os,
    /// The heading of the results by operation.
    Summary,
    /// The column of an operation's name.
    Operation,
    /// The column of request counts.
    Requests,
    /// Errors: a column of counts, or of an outcome's error flag; a plot line.
    Errors,
    /// The column of completed requests per second.
    Tps,
    /// Latency (as in a column heading).
    Latency,
    /// The heading of the outcomes section.
    Outcomes,
    /// The column of an outcome's label.
    Outcome,
    /// The column (and plot axis) of request counts per outcome.
    Count,
    /// The heading of the generator's health section.
    Generator,
    /// The generator's send lag (actual minus intended send time).
    SendLag,
    /// The service time (from the actual send, uncorrected).
    ServiceTime,
    /// The heading of the processes under test.
    Processes,
    /// The column of a process's name.
    Process,
    /// The column of CPU seconds spent during the load.
    CpuSeconds,
    /// The column of cores used on average.
    CpuCores,
    /// The column of peak resident memory.
    PeakRss,
    /// The heading of the audit (generator vs journal vs ledger).
    Audit,
    /// Trades checked by the audit.
    Checked,
    /// Trades the three views agree on.
    Matched,
    /// Trades a side that must know them does not know.
    Missing,
    /// Trades the ledger shows more than one payment for.
    Duplicate,
    /// Trades whose status or amount disagree between the views.
    Conflicting,
    /// Trades still not final when the audit's settle time ran out.
    Pending,
    /// Trades with another sub-merchant, store or terminal than their terminal's registration.
    Misattributed,
    /// What the attribution check compares.
    AttributionCheck,
    /// The attribution check was not made.
    AttributionNone,
    /// The heading of the audit's problem list.
    Problems,
    /// The heading of the per-second series.
    Series,
    /// The second of the run (series column, plot axis).
    Second,
    /// Requests scheduled (series column, plot line).
    Offered,
    /// Requests completed (series column, plot line).
    Achieved,
    /// The heading of the conclusion paragraph.
    Conclusion,
    /// The title of the latency-over-time plot.
    PlotLatencyOverTime,
    /// The title of the offered-vs-achieved TPS plot.
    PlotTps,
    /// The title of the latency distribution plot.
    PlotDistribution,
    /// The title of the outcomes-by-code plot.
    PlotOutcomes,
    /// The heading of the notes.
    Notes,
    /// The heading of the staircase steps.
    Staircase,
    /// The column of a staircase step's offered rate.
    Rate,
    /// When the run started.
    Started,
    /// The remark that open-model latency is corrected for coordinated omission.
    CorrectedNote,
    /// The errors cell of an outcome that is the generator's own (its timeout).
    GeneratorOwn,
    /// The remark under the outcomes when some errors are the generator's own;
    /// `{ms}` is the generator's request timeout.
    GeneratorOwnNote,
    /// The sentence saying that no audit was run.
    AuditNone,
    /// The percentile axis of the distribution plot.
    Percentile,
    /// The tool and its version.
    Tool,
    /// The run id and the seed.
    RunIdSeed,
    /// The per-request time-out.
    Timeout,
    /// The `wait` of `POST /v1/pay`.
    PayWait,
    /// What introduces each operation's p99 in the conclusion.
    ByOperation,
    /// The heading of the reconciliation (journal vs the gateway's bill).
    Reconciliation,
    /// The column of the reconciled gateway day.
    ReconDate,
    /// The day's settlement.
    Settlement,
    /// The settlement's totals equal the reconciled bill's.
    SettlementEqualsBill,
    /// The column of rows in the gateway's bill.
    BillRows,
    /// The column of differences found.
    Differences,
    /// The column of differences still open.
    Open,
    /// The sentence saying that no reconciliation was run.
    ReconNone,
    /// What the Markdown shows in place of a plot.
    PlotInHtml,
}

/// Phrase `k` in `lang`.
pub fn t(lang: Lang, k: Key) -> &'static str {
    use Key::*;
    match lang {
        Lang::En => match k {
            Title => "Pressure-test report",
            Verdict => "Verdict",
            Passed => "PASSED",
            Failed => "FAILED",
            Invalid => "INVALID (the generator fell behind)",
            Thresholds => "Thresholds",
            Threshold => "Threshold",
            Actual => "Measured",
            Result => "Result",
            NotMeasured => "not measured",
            Environment => "Test environment",
            Parameters => "Parameters",
            Target => "Target",
            Model => "Load model",
            Mix => "Operation mix",
            Duration => "Duration",
            Machine => "Machine",
            Cpu => "CPU",
            Cores => "Cores",
            Memory => "Memory",
            Os => "OS",
            Summary => "Results by operation",
            Operation => "Operation",
            Requests => "Requests",
            Errors => "Errors",
            Tps => "TPS",
            Latency => "Latency",
            Outcomes => "Outcomes",
            Outcome => "Outcome",
            Count => "Count",
            Generator => "Generator health",
            SendLag => "Send lag (actual − intended send time)",
            ServiceTime => "Service time (from the actual send, uncorrected)",
            Processes => "Processes under test",
            Process => "Process",
            CpuSeconds => "CPU seconds",
            CpuCores => "Cores used (avg)",
            PeakRss => "Peak RSS",
            Audit => "Audit (generator vs switch journal vs gateway ledger)",
            Checked => "Checked",
            Matched => "Match",
            Missing => "Missing",
            Duplicate => "Duplicate",
            Conflicting => "Conflicting",
            Pending => "Pending",
            Misattributed => "Misattributed",
            AttributionCheck => "Sub-merchant, store and terminal of every ledger trade vs the registration of the terminal that made it",
            AttributionNone => "not checked (the terminals' registrations are not known, or no ledger)",
            Problems => "Problems",
            Series => "Per-second series",
            Second => "Second",
            Offered => "Offered",
            Achieved => "Achieved",
            Conclusion => "Conclusion",
            PlotLatencyOverTime => "Latency percentiles over time",
            PlotTps => "TPS: offered vs achieved",
            PlotDistribution => "Latency distribution",
            PlotOutcomes => "Outcomes by code",
            Notes => "Notes",
            Staircase => "Staircase",
            Rate => "Rate",
            Started => "Started",
            CorrectedNote => "Open model: latency is measured from each request's intended send time (corrected for coordinated omission).",
            GeneratorOwn => "✗ generator's own",
            GeneratorOwnNote => "Errors marked as the generator's own: no whole answer came within the generator's own request timeout ({ms} ms), so it stopped waiting. The target may still have completed the request; the audit shows whether it did.",
            AuditNone => "No audit was run.",
            Percentile => "Percentile",
            Tool => "Tool",
            RunIdSeed => "Run id / seed",
            Timeout => "Request timeout",
            PayWait => "Pay wait (POST /v1/pay?wait=)",
            ByOperation => "p99 by operation",
            Reconciliation => "Reconciliation (the switch's journal vs the gateway's bill of the run's days)",
            ReconDate => "Gateway day",
            Settlement => "Settlement",
            SettlementEqualsBill => "its totals equal the reconciled bill's",
            BillRows => "Bill rows",
            Differences => "Differences",
            Open => "Open",
            ReconNone => "No reconciliation was run.",
            PlotInHtml => "The plot is in report.html.",
        },
        Lang::Zh => match k {
            Title => "压力测试报告",
            Verdict => "结论",
            Passed => "通过",
            Failed => "未通过",
            Invalid => "无效（压测端自身落后于计划）",
            Thresholds => "验收指标",
            Threshold => "指标",
            Actual => "实测",
            Result => "结果",
            NotMeasured => "未测量",
            Environment => "测试环境",
            Parameters => "测试参数",
            Target => "被测对象",
            Model => "负载模型",
            Mix => "交易组合",
            Duration => "持续时间",
            Machine => "机器",
            Cpu => "CPU",
            Cores => "核数",
            Memory => "内存",
            Os => "操作系统",
            Summary => "按交易类型的结果",
            Operation => "交易类型",
            Requests => "请求数",
            Errors => "错误",
            Tps => "TPS",
            Latency => "响应时间",
            Outcomes => "结果分布",
            Outcome => "结果",
            Count => "笔数",
            Generator => "压测端健康状况",
            SendLag => "发送延迟（实际发送时间 − 计划发送时间）",
            ServiceTime => "服务时间（从实际发送起算，未校正）",
            Processes => "被测进程",
            Process => "进程",
            CpuSeconds => "CPU 秒",
            CpuCores => "平均占用核数",
            PeakRss => "内存峰值",
            Audit => "对账（压测端 / 交换系统流水 / 网关账本）",
            Checked => "核对笔数",
            Matched => "一致",
            Missing => "缺失",
            Duplicate => "重复",
            Conflicting => "不一致",
            Pending => "未决",
            Misattributed => "商户归属不符",
            AttributionCheck => "账本中每笔交易的子商户、门店、终端与发起终端的登记信息核对",
            AttributionNone => "未核对（终端登记信息未知或无网关账本）",
            Problems => "问题明细",
            Series => "逐秒数据",
            Second => "秒",
            Offered => "计划",
            Achieved => "完成",
            Conclusion => "总结",
            PlotLatencyOverTime => "响应时间分位数随时间变化",
            PlotTps => "TPS：计划与实际",
            PlotDistribution => "响应时间分布",
            PlotOutcomes => "按返回码的结果",
            Notes => "说明",
            Staircase => "阶梯加压",
            Rate => "速率",
            Started => "开始时间",
            CorrectedNote => "开放模型：响应时间从每笔请求的计划发送时间起算（已校正协调遗漏）。",
            GeneratorOwn => "✗ 压测工具自身",
            GeneratorOwnNote => "标为压测工具自身的错误：在压测工具自己的请求超时（{ms} 毫秒）内没有收到完整应答，压测工具停止等待。被测系统可能仍已完成该请求，以核对结果为准。",
            AuditNone => "未进行对账。",
            Percentile => "分位数",
            Tool => "压测工具",
            RunIdSeed => "运行编号 / 随机种子",
            Timeout => "请求超时",
            PayWait => "支付等待（POST /v1/pay?wait=）",
            ByOperation => "各交易类型 p99",
            Reconciliation => "对账（交换系统流水与本次压测各网关日的支付宝账单）",
            ReconDate => "网关日",
            Settlement => "结算",
            SettlementEqualsBill => "结算合计与已对平的账单合计一致",
            BillRows => "账单行数",
            Differences => "差错",
            Open => "未决",
            ReconNone => "未进行对账。",
            PlotInHtml => "图见 report.html。",
        },
    }
}
