//! One load run from start to report: the target, the load, the progress
//! line, the process probes, the audit, and the report with its verdict.
//!
//! Guarantees: the arguments are all checked before the first request (a bad
//! one is an error naming it); the run ends at its bounds or on Ctrl-C (what
//! was measured so far is still reported); the report never contains a
//! secret; the returned report's `verdict.passed` is what the exit code says.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{LoadgenError, Result};
use crate::http::Http;
use crate::load::{Live, Model, RunPlan};
use crate::measure::Recorder;
use crate::procstat::{ProcessProbe, ProcessUsage};
use crate::report::{self, LoadInfo, Report, RunInfo, StepReport, TargetInfo};
use crate::spec::{self, Metric, Mix, Stage, Threshold};
use crate::target::{self, demo_keys, Common, GatewayTarget, SwitchTarget, Target, Terminal};

/// Which system is driven (`--target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// The switch's terminal API.
    Switch,
    /// The gateway (simulator or Alipay's sandbox) as a signing app.
    Gateway,
    /// A plain GET of --url (benchmarks: the generator's own limit).
    Http,
}

/// Which load model (`--model`); see [`Model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// A fixed arrival rate (--rate, --stages or --staircase).
    Open,
    /// --concurrency virtual terminals, each waiting for its answer.
    Closed,
}

/// The one `--url` of a target that takes one.
fn one_url(urls: &[String]) -> Result<Option<String>> {
    match urls {
        [] => Ok(None),
        [u] => Ok(Some(u.clone())),
        _ => Err(LoadgenError::arg(
            "--url",
            urls.join(" "),
            "only the switch target takes several --url (one per node)",
        )),
    }
}

/// `loadgen run` arguments (the field docs are the `--help` text). Checked
/// by [`prepare`]; the demo fills one in for its own run.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The system under test.
    #[arg(long, value_enum, default_value = "switch")]
    pub target: TargetKind,
    /// Switch base URL (default http://127.0.0.1:8080) or gateway URL
    /// (default http://127.0.0.1:9090/gateway.do). Switch target:
    /// repeatable, one per node sharing a journal; requests go round them.
    #[arg(long)]
    pub url: Vec<String>,
    /// The simulator's base URL, for buyer-pay and the ledger audit
    /// (gateway target: derived from --url when it ends in /gateway.do).
    #[arg(long)]
    pub sim: Option<String>,
    /// TOML file with `[[terminals]]` key_id / secret_hex (the switch's config works).
    #[arg(long)]
    pub terminals: Option<PathBuf>,
    /// App id for the gateway target.
    #[arg(long, default_value = demo_keys::APP_ID)]
    pub app_id: String,
    /// App private key file (PEM or base64) for the gateway target; default the demo key.
    #[arg(long)]
    pub app_private_key: Option<PathBuf>,
    /// Alipay public key file that verifies the gateway; default the demo key.
    #[arg(long)]
    pub alipay_public_key: Option<PathBuf>,
    /// Open (fixed arrival rate) or closed (N virtual terminals).
    #[arg(long, value_enum, default_value = "open")]
    pub model: ModelKind,
    /// Open model: requests per second (with --duration, optional --ramp).
    #[arg(long, default_value = "100")]
    pub rate: String,
    /// How long the load lasts (both models), e.g. 30s.
    #[arg(long, default_value = "30s")]
    pub duration: String,
    /// Open model: ramp from 0 to --rate over this time before the hold.
    #[arg(long)]
    pub ramp: Option<String>,
    /// Open model stages instead of --rate/--duration: `ramp:0-200/10s,hold:200/20s`.
    #[arg(long)]
    pub stages: Option<String>,
    /// Staircase: `start=100,step=100,hold=10s,max=2000`; stops at the first
    /// step that breaks a p99 or errors threshold.
    #[arg(long)]
    pub staircase: Option<String>,
    /// Closed model: virtual terminals.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Operation mix, e.g. `pay=80,pay:1003=5,precreate=5,query=5,refund=3,cancel=2`.
    #[arg(long, default_value = "pay")]
    pub mix: String,
    /// Stop after this many requests (0: only the time bound).
    #[arg(long, default_value_t = 0)]
    pub requests: u64,
    /// Per-request timeout. Default: `--pay-wait` + 5 s for the switch
    /// target (a pay held the whole wait must still get its answer), 10 s
    /// otherwise. For the switch target it must exceed `--pay-wait`.
    #[arg(long)]
    pub timeout: Option<String>,
    /// `wait` of POST /v1/pay, seconds (switch target).
    #[arg(long, default_value_t = 10)]
    pub pay_wait: u32,
    /// Switch target, `cancel`: the cashier's reaction time between the
    /// PAYING answer and the cancel (not counted in the latency).
    #[arg(long, default_value = "200ms")]
    pub cancel_delay: String,
    /// Open model: at most this many requests in flight.
    /// HTTP/1.1 sends one request per connection at a time, so this is also
    /// the most connections the generator opens: a bound keeps a saturated
    /// target from turning into a connection storm.
    #[arg(long, default_value_t = 1000)]
    pub max_in_flight: usize,
    /// The run is invalid when the send lag's p99 exceeds this.
    #[arg(long, default_value = "25ms")]
    pub max_lag: String,
    /// Pass/fail thresholds, repeatable: 'p99<50ms', 'errors<0.1%', 'tps>=1000', 'pay.p99.9<200ms'.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Where report.json, report.md and report.html go.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Report language.
    #[arg(long, value_enum, default_value = "en")]
    pub lang: report::Lang,
    /// Seed of the operation choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the audit after the run.
    #[arg(long)]
    pub no_audit: bool,
    /// How long the audit waits for trades still in flight to settle.
    #[arg(long, default_value = "30s")]
    pub settle: String,
    /// Measure a process under test: NAME=PID (repeatable), e.g. switch=1234.
    #[arg(long = "pid")]
    pub pids: Vec<String>,
}

/// Everything a run needs, checked: made by [`prepare`], used by
/// [`measure`] and [`execute`].
pub struct Prepared {
    /// The system under test.
    pub target: Arc<dyn Target>,
    /// The same target when it is the switch (the audit reads its journal
    /// through it); `None` for the gateway and http targets.
    pub switch: Option<Arc<SwitchTarget>>,
    /// What the report says of the target (kind, URL, terminals).
    pub target_info: TargetInfo,
    /// The simulator's base URL, for buyer-pay and the ledger audit.
    pub sim_base: Option<String>,
    /// The pooled client shared by the target and the audit.
    pub http: Http,
    /// The load (for a staircase, its first step; the steps are made from
    /// it).
    pub plan: RunPlan,
    /// `--staircase`, when given.
    pub staircase: Option<Staircase>,
    /// The pass/fail thresholds.
    pub thresholds: Vec<Threshold>,
    /// Per-request timeout (more than 0).
    pub timeout: Duration,
    /// The highest p99 of the send lag for a valid run.
    pub max_lag: Duration,
    /// How long the audit waits for trades still in flight to settle.
    pub settle: Duration,
    /// `wait` of `POST /v1/pay`, seconds (switch target only).
    pub pay_wait: Option<u32>,
    /// The processes to measure, as (name, pid).
    pub probes: Vec<(String, u32)>,
    /// Whether to audit after the load (not `--no-audit`).
    pub audit: bool,
    /// The run id, prefix of every out_trade_no and nonce
    /// ([`new_run_id`]).
    pub run_id: String,
}

/// A staircase (`--staircase start=100,step=100,hold=10s,max=2000`): hold
/// steps of increasing rate until one breaks the p99 or errors threshold
/// (or the send lag bound); the report keeps the best passing step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Staircase {
    /// The first step's rate, requests per second (default 100).
    pub start: f64,
    /// How much each step adds, requests per second (default 100).
    pub step: f64,
    /// How long each step holds its rate (default 10 s, more than 0).
    pub hold: Duration,
    /// The highest rate tried, requests per second (default 100 000, at
    /// least `start`).
    pub max: f64,
}

fn parse_staircase(s: &str) -> Result<Staircase> {
    let mut st = Staircase {
        start: 100.0,
        step: 100.0,
        hold: Duration::from_secs(10),
        max: 100_000.0,
    };
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            LoadgenError::arg("--staircase", s, format!("{part:?} is not KEY=VALUE"))
        })?;
        match k.trim() {
            "start" => st.start = spec::parse_rate("--staircase", v)?,
            "step" => st.step = spec::parse_rate("--staircase", v)?,
            "max" => st.max = spec::parse_rate("--staircase", v)?,
            "hold" => st.hold = spec::parse_duration("--staircase", v)?,
            other => {
                return Err(LoadgenError::arg(
                    "--staircase",
                    s,
                    format!("unknown key {other:?} (start, step, hold, max)"),
                ))
            }
        }
    }
    if st.hold.is_zero() || st.max < st.start {
        return Err(LoadgenError::arg(
            "--staircase",
            s,
            "hold must be > 0 and max >= start",
        ));
    }
    Ok(st)
}

/// A run id: `LG` and the time in milliseconds, hexadecimal (letters and
/// digits only, so it fits out_trade_no and the nonce).
pub fn new_run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("LG{ms:x}")
}

fn read_key(arg: &'static str, p: &Option<PathBuf>, default: &str) -> Result<String> {
    match p {
        None => Ok(default.to_string()),
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            LoadgenError::io(
                match arg {
                    "--app-private-key" => "cannot read --app-private-key",
                    _ => "cannot read --alipay-public-key",
                },
                path,
                e,
            )
        }),
    }
}

/// How much longer than the pay's `wait` the generator waits for its answer
/// by default: the switch answers at the end of the wait, and its answer
/// must not race the client's own timeout.
pub const TIMEOUT_OVER_PAY_WAIT: Duration = Duration::from_secs(5);

/// The per-request timeout: `--timeout`, or by default `--pay-wait` +
/// [`TIMEOUT_OVER_PAY_WAIT`] for the switch target and 10 s for the others.
///
/// # Errors
/// [`LoadgenError::Arg`] naming `--timeout` when it does not parse, is 0, or
/// (switch target) does not exceed `--pay-wait`: a switch that answers
/// PAYING at the end of the wait would race the generator's timeout, and the
/// generator would count its own impatience as the switch's error.
pub fn request_timeout(a: &RunArgs) -> Result<Duration> {
    let wait = Duration::from_secs(u64::from(a.pay_wait));
    let Some(text) = &a.timeout else {
        return Ok(match a.target {
            TargetKind::Switch => wait + TIMEOUT_OVER_PAY_WAIT,
            _ => Duration::from_secs(10),
        });
    };
    let timeout = spec::parse_duration("--timeout", text)?;
    if timeout.is_zero() {
        return Err(LoadgenError::arg("--timeout", text, "must be more than 0"));
    }
    if matches!(a.target, TargetKind::Switch) && timeout <= wait {
        return Err(LoadgenError::arg(
            "--timeout",
            text,
            format!(
                "must exceed --pay-wait ({} s): the switch may answer at the end of the wait",
                a.pay_wait
            ),
        ));
    }
    Ok(timeout)
}

/// Checks the arguments and builds the target. `terminals` overrides
/// `--terminals` (the demo passes the ones it registered). Sends nothing.
///
/// # Errors
/// [`LoadgenError::Arg`] naming the option for any value that does not parse
/// or is out of range (durations, rates, stages, staircase, mix, thresholds,
/// `--pid`, `--concurrency`, `--max-in-flight`, a URL that is not `http://`
/// with a host, several `--url` for a target that takes one, a switch
/// target without terminals, a bad terminal secret); [`LoadgenError::Io`] or
/// [`LoadgenError::Format`] from reading `--terminals`; [`LoadgenError::Io`]
/// or [`LoadgenError::Key`] for an unreadable key file or key.
pub fn prepare(a: &RunArgs, terminals: Option<Vec<Terminal>>) -> Result<Prepared> {
    let timeout = request_timeout(a)?;
    let max_lag = spec::parse_duration("--max-lag", &a.max_lag)?;
    let settle = spec::parse_duration("--settle", &a.settle)?;
    let duration = spec::parse_duration("--duration", &a.duration)?;
    let mix = Mix::parse(&a.mix)?;
    let thresholds = a
        .thresholds
        .iter()
        .map(|t| Threshold::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let mut probes = Vec::new();
    for p in &a.pids {
        let (name, pid) = p
            .split_once('=')
            .ok_or_else(|| LoadgenError::arg("--pid", p, "expected NAME=PID"))?;
        let pid: u32 = pid
            .trim()
            .parse()
            .map_err(|_| LoadgenError::arg("--pid", p, "PID is not a number"))?;
        probes.push((name.trim().to_string(), pid));
    }
    let staircase = a.staircase.as_deref().map(parse_staircase).transpose()?;
    let model = match a.model {
        ModelKind::Closed => {
            if a.concurrency == 0 || a.concurrency > 100_000 {
                return Err(LoadgenError::arg(
                    "--concurrency",
                    a.concurrency.to_string(),
                    "must be 1 to 100000",
                ));
            }
            if duration.is_zero() {
                return Err(LoadgenError::arg(
                    "--duration",
                    &a.duration,
                    "must be more than 0",
                ));
            }
            Model::Closed {
                terminals: a.concurrency,
                duration,
            }
        }
        ModelKind::Open => {
            let stages = match (&a.stages, &staircase) {
                (Some(s), _) => spec::parse_stages(s)?,
                (None, Some(st)) => vec![Stage::hold(st.start, st.hold)],
                (None, None) => {
                    let rate = spec::parse_rate("--rate", &a.rate)?;
                    if duration.is_zero() {
                        return Err(LoadgenError::arg(
                            "--duration",
                            &a.duration,
                            "must be more than 0",
                        ));
                    }
                    let mut v = Vec::new();
                    if let Some(r) = &a.ramp {
                        let d = spec::parse_duration("--ramp", r)?;
                        if !d.is_zero() {
                            v.push(Stage {
                                from_rate: 0.0,
                                to_rate: rate,
                                duration: d,
                            });
                        }
                    }
                    v.push(Stage::hold(rate, duration));
                    v
                }
            };
            if a.max_in_flight == 0 {
                return Err(LoadgenError::arg(
                    "--max-in-flight",
                    "0",
                    "must be at least 1",
                ));
            }
            Model::Open {
                stages,
                max_in_flight: a.max_in_flight,
            }
        }
    };
    let http = Http::new(timeout);
    let run_id = new_run_id();
    let (target, switch, info, sim_base, pay_wait): (Arc<dyn Target>, _, _, _, _) = match a.target {
        TargetKind::Switch => {
            let urls = if a.url.is_empty() {
                vec!["http://127.0.0.1:8080".to_owned()]
            } else {
                a.url.clone()
            };
            for u in &urls {
                check_url("--url", u)?;
            }
            let url = urls.join(",");
            let terms = match terminals {
                Some(t) => t,
                None => {
                    let p = a.terminals.as_ref().ok_or_else(|| {
                        LoadgenError::arg(
                            "--terminals",
                            "",
                            "the switch target needs --terminals FILE",
                        )
                    })?;
                    target::load_terminals(p)?
                }
            };
            if let Some(s) = &a.sim {
                check_url("--sim", s)?;
            }
            let common = Common {
                run_id: run_id.clone(),
                sim_base: a.sim.clone(),
                http: http.clone(),
            };
            let n = terms.len();
            let cancel_delay = spec::parse_duration("--cancel-delay", &a.cancel_delay)?;
            let t = Arc::new(
                SwitchTarget::spread(&urls, &terms, common, a.pay_wait)?
                    .with_cancel_delay(cancel_delay),
            );
            (
                t.clone() as Arc<dyn Target>,
                Some(t),
                TargetInfo {
                    kind: "switch".into(),
                    url,
                    terminals: n,
                },
                a.sim.clone(),
                Some(a.pay_wait),
            )
        }
        TargetKind::Http => {
            let url = one_url(&a.url)?
                .ok_or_else(|| LoadgenError::arg("--url", "", "the http target needs --url"))?;
            check_url("--url", &url)?;
            (
                Arc::new(target::PlainTarget::new(&url, http.clone())) as Arc<dyn Target>,
                None,
                TargetInfo {
                    kind: "http".into(),
                    url,
                    terminals: 0,
                },
                None,
                None,
            )
        }
        TargetKind::Gateway => {
            let url = one_url(&a.url)?.unwrap_or_else(|| "http://127.0.0.1:9090/gateway.do".into());
            check_url("--url", &url)?;
            let sim = a
                .sim
                .clone()
                .or_else(|| url.strip_suffix("/gateway.do").map(str::to_string));
            let key = read_key(
                "--app-private-key",
                &a.app_private_key,
                demo_keys::APP_PRIVATE,
            )?;
            let pubkey = read_key(
                "--alipay-public-key",
                &a.alipay_public_key,
                demo_keys::ALIPAY_PUBLIC,
            )?;
            let common = Common {
                run_id: run_id.clone(),
                sim_base: sim.clone(),
                http: http.clone(),
            };
            let t = GatewayTarget::new(&url, &a.app_id, &key, &pubkey, common)?;
            (
                Arc::new(t),
                None,
                TargetInfo {
                    kind: "gateway".into(),
                    url,
                    terminals: 0,
                },
                sim,
                None,
            )
        }
    };
    Ok(Prepared {
        target,
        switch,
        target_info: info,
        sim_base,
        http,
        plan: RunPlan {
            model,
            mix,
            max_requests: a.requests,
            drain: timeout + Duration::from_secs(1),
            seed: a.seed,
            first_seq: 0,
        },
        staircase,
        thresholds,
        timeout,
        max_lag,
        settle,
        pay_wait,
        probes,
        audit: !a.no_audit,
        run_id,
    })
}

fn check_url(arg: &'static str, u: &str) -> Result<()> {
    match u.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => Ok(()),
        Ok(uri) if uri.scheme_str() == Some("https") => Err(LoadgenError::arg(
            arg,
            u,
            "https is not supported by the load client; use http (loopback or a TLS-terminating proxy)",
        )),
        _ => Err(LoadgenError::arg(arg, u, "expected an http:// URL with a host")),
    }
}

/// What one load measured: the recorder, its wall time in seconds, and the
/// processes under test during exactly that load.
pub type Measured = (Arc<Recorder>, f64, Vec<ProcessUsage>);

/// Measures one load of `plan` against `p.target` (no audit, no report),
/// with the progress line labelled `label` and the processes of
/// [`Prepared::probes`] sampled around it. `stop` ends it early.
pub async fn measure(p: &Prepared, plan: &RunPlan, label: &str, stop: Arc<AtomicBool>) -> Measured {
    let probes: Vec<ProcessProbe> = p
        .probes
        .iter()
        .map(|(n, pid)| ProcessProbe::start(n, *pid))
        .collect();
    let rec = Arc::new(Recorder::new(Instant::now()));
    let live = Arc::new(Live::default());
    let progress = crate::progress::spawn(rec.clone(), live.clone(), label.to_string());
    crate::load::run(p.target.clone(), plan, rec.clone(), live.clone(), stop).await;
    let wall = rec.start().elapsed().as_secs_f64();
    if let Some(h) = progress {
        let _ = h.await;
    }
    let processes = probes.iter().map(|pr| pr.finish(wall.max(1e-9))).collect();
    (rec, wall, processes)
}

/// Runs the prepared load (or its staircase), audits when there is a switch
/// or a simulator to check against and the audit is on, and builds the
/// report (not yet written). `notes` are added to the report's notes, after
/// which come notes on what was not run or measured.
pub async fn execute(p: &Prepared, stop: Arc<AtomicBool>, notes: Vec<String>) -> Report {
    let started_at = now_rfc3339();
    let mut steps = Vec::new();
    let ((rec, wall, processes), plan) = match p.staircase {
        None => (
            measure(p, &p.plan, "loadgen", stop.clone()).await,
            p.plan.clone(),
        ),
        Some(st) => run_staircase(p, st, &mut steps, stop.clone()).await,
    };
    let audit = if p.audit && (p.switch.is_some() || p.sim_base.is_some()) {
        let trades = p.target.book().snapshot();
        Some(
            crate::audit::run(
                trades,
                p.switch.clone(),
                p.sim_base.clone(),
                p.http.clone(),
                p.settle,
            )
            .await,
        )
    } else {
        None
    };
    let mut notes = notes;
    if audit.is_none() {
        notes.push(if p.audit {
            "audit not run: no switch and no simulator URL to check against".into()
        } else {
            "audit not run (--no-audit)".into()
        });
    }
    if p.probes.is_empty() {
        notes.push(
            "CPU and memory of the processes under test not measured (no --pid given)".into(),
        );
    }
    let m = rec.snapshot();
    let mut r = report::build(
        &m,
        RunInfo {
            run_id: p.run_id.clone(),
            started_at,
            wall_secs: wall,
            target: p.target_info.clone(),
            load: LoadInfo {
                model: plan.model.clone(),
                mix: plan.mix.to_spec(),
                max_requests: plan.max_requests,
                seed: plan.seed,
                timeout_ms: p.timeout.as_millis() as u64,
                pay_wait_secs: p.pay_wait,
            },
            thresholds: p.thresholds.clone(),
            max_lag_p99_us: crate::measure::micros(p.max_lag),
            processes,
            audit,
            notes,
        },
    );
    if !steps.is_empty() {
        let best = steps.iter().rev().find(|s| s.passed);
        r.notes.push(match best {
            Some(s) => format!(
                "staircase: the highest rate that kept the thresholds was {:.0}/s; the figures above are that step's",
                s.rate
            ),
            None => "staircase: no step kept the thresholds; the figures above are the first step's".into(),
        });
    }
    r.staircase = steps;
    r
}

async fn run_staircase(
    p: &Prepared,
    st: Staircase,
    steps: &mut Vec<StepReport>,
    stop: Arc<AtomicBool>,
) -> (Measured, RunPlan) {
    let mut rate = st.start;
    let mut best: Option<(Measured, RunPlan)> = None;
    let mut last: Option<(Measured, RunPlan)> = None;
    let max_in_flight = match p.plan.model {
        Model::Open { max_in_flight, .. } => max_in_flight,
        Model::Closed { .. } => 1000,
    };
    let mut first_seq = 0u64;
    while rate <= st.max + 1e-9 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let plan = RunPlan {
            model: Model::Open {
                stages: vec![Stage::hold(rate, st.hold)],
                max_in_flight,
            },
            first_seq,
            ..p.plan.clone()
        };
        let (rec, wall, procs) =
            measure(p, &plan, &format!("step {rate:.0}/s"), stop.clone()).await;
        let m = rec.snapshot();
        first_seq += m.sent;
        let tot = &m.total;
        let p99 = if tot.hist.is_empty() {
            0
        } else {
            tot.hist.value_at_quantile(0.99)
        };
        let err_pct = if tot.requests == 0 {
            0.0
        } else {
            tot.errors as f64 * 100.0 / tot.requests as f64
        };
        let lag_p99 = m
            .lag
            .as_ref()
            .map(|h| h.value_at_quantile(0.99))
            .unwrap_or(0);
        let passed = tot.requests > 0
            && lag_p99 <= crate::measure::micros(p.max_lag)
            && p.thresholds.iter().all(|t| match t.metric {
                Metric::P99 if t.op.is_none() => t.cmp.holds(p99 as f64, t.limit),
                Metric::Errors if t.op.is_none() => t.cmp.holds(err_pct, t.limit),
                _ => true,
            });
        steps.push(StepReport {
            rate,
            achieved_tps: (tot.requests as f64 / wall.max(1e-9) * 100.0).round() / 100.0,
            requests: tot.requests,
            error_pct: (err_pct * 1e4).round() / 1e4,
            p99_us: p99,
            passed,
        });
        if passed {
            best = Some(((rec, wall, procs), plan));
        } else {
            last = Some(((rec, wall, procs), plan));
            break;
        }
        rate += st.step;
    }
    match best.or(last) {
        Some(b) => b,
        None => {
            let rec = Arc::new(Recorder::new(Instant::now()));
            ((rec, 0.0, Vec::new()), p.plan.clone())
        }
    }
}

/// Now as RFC 3339 UTC (`2024-05-01T12:00:00.123456789Z`); empty if it
/// cannot be formatted.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A stop flag that a spawned task sets on Ctrl-C (needs a tokio runtime):
/// give it to [`measure`] or [`execute`] to end the load early.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            s.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    stop
}

/// `loadgen run`: prepare, run, write the report to `--out`, print a summary
/// on stdout. Returns whether the verdict passed.
///
/// # Errors
/// As [`prepare`]; then those of [`report::write_all`]
/// ([`LoadgenError::Io`] when the directory or a file cannot be written,
/// [`LoadgenError::Format`] when the JSON cannot be serialised,
/// [`LoadgenError::Plot`] when a plot cannot be drawn).
pub async fn run_cli(a: &RunArgs) -> Result<bool> {
    let p = prepare(a, None)?;
    let stop = stop_on_ctrl_c();
    let r = execute(&p, stop, Vec::new()).await;
    let w = report::write_all(&r, &a.out, a.lang)?;
    print!("{}", summary(&r, &w));
    Ok(r.verdict.passed)
}

/// The short text summary `loadgen run` prints: the verdict with the main
/// figures, each threshold, the audit's counts, the verdict's reasons, and
/// the paths of the written report.
pub fn summary(r: &Report, w: &report::Written) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let t = &r.total;
    let _ = writeln!(
        s,
        "{}: {} requests, {:.1} TPS, p50 {}, p99 {}, p99.9 {}, max {}, errors {} ({:.3}%)",
        if r.verdict.passed {
            "PASSED"
        } else if !r.verdict.valid {
            "INVALID"
        } else {
            "FAILED"
        },
        t.requests,
        t.tps,
        report::fmt_us(t.latency_us.p50),
        report::fmt_us(t.latency_us.p99),
        report::fmt_us(t.latency_us.p999),
        report::fmt_us(t.latency_us.max),
        t.errors,
        t.error_pct
    );
    for th in &r.thresholds {
        let _ = writeln!(
            s,
            "  {} {}: {}",
            if th.passed { "ok  " } else { "FAIL" },
            th.spec,
            th.actual
                .map(|a| report::fmt_metric(th.metric, a))
                .unwrap_or_else(|| "not measured".into())
        );
    }
    if let Some(a) = &r.audit {
        let _ = writeln!(
            s,
            "  audit: {}/{} match, {} missing, {} duplicate, {} conflicting, {} pending, {} misattributed",
            a.matched, a.checked, a.missing, a.duplicate, a.conflicting, a.pending, a.misattributed
        );
        if let Some(c) = &a.attribution {
            let _ = writeln!(
                s,
                "  audit: sub-merchant/store/terminal checked on {} ledger trades, {} differ",
                c.checked, c.mismatched
            );
        }
    }
    for reason in &r.verdict.reasons {
        let _ = writeln!(s, "  {reason}");
    }
    let _ = writeln!(
        s,
        "report: {}\n        {}\n        {}",
        w.html.display(),
        w.markdown.display(),
        w.json.display()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["loadgen"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("arguments parse").run
    }

    #[test]
    fn the_timeout_exceeds_the_pay_wait_by_default() {
        assert_eq!(
            request_timeout(&args(&[])).unwrap(),
            Duration::from_secs(15)
        );
        let a = args(&["--pay-wait", "30"]);
        assert_eq!(request_timeout(&a).unwrap(), Duration::from_secs(35));
        let a = args(&["--target", "gateway"]);
        assert_eq!(request_timeout(&a).unwrap(), Duration::from_secs(10));
        let a = args(&["--timeout", "11s"]);
        assert_eq!(request_timeout(&a).unwrap(), Duration::from_secs(11));
    }

    #[test]
    fn a_timeout_not_above_the_pay_wait_is_refused_by_name() {
        for t in ["10s", "3s"] {
            let err = request_timeout(&args(&["--timeout", t])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("--timeout") && text.contains("--pay-wait"),
                "{text}"
            );
        }
        let err = request_timeout(&args(&["--timeout", "0s"])).unwrap_err();
        assert!(err.to_string().contains("--timeout"), "{err}");
        // Other targets have no wait to exceed.
        let a = args(&["--target", "http", "--timeout", "2s"]);
        assert_eq!(request_timeout(&a).unwrap(), Duration::from_secs(2));
    }
}
