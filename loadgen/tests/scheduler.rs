//! The load models against tiny local targets: the open model keeps its rate,
//! and a one-second stall shows in the open model's p99.9 (coordinated
//! omission corrected) while the closed model hides it.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::http::Http;
use loadgen::load::{self, Live, Model, RunPlan};
use loadgen::measure::Recorder;
use loadgen::spec::{Mix, Stage};
use loadgen::target::{PlainTarget, Target};

fn plan(model: Model) -> RunPlan {
    RunPlan {
        model,
        mix: Mix::pay_only(),
        max_requests: 0,
        drain: Duration::from_secs(5),
        seed: 7,
        first_seq: 0,
    }
}

async fn measure(url: &str, model: Model) -> loadgen::measure::Measurements {
    let target: Arc<dyn Target> =
        Arc::new(PlainTarget::new(url, Http::new(Duration::from_secs(5))));
    let rec = Arc::new(Recorder::new(Instant::now()));
    load::run(
        target,
        &plan(model),
        rec.clone(),
        Arc::new(Live::default()),
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    rec.snapshot()
}

/// 500/s for 10 s: exactly the 5000 scheduled requests are sent, all are
/// answered, and the sends span the 10 s within 1 % (measured from the send
/// times the generator recorded, not from the wall clock of a busy machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_keeps_its_rate() {
    let addr = common::serve(common::Behaviour::Fast).await;
    let url = format!("http://{addr}/");
    let m = measure(
        &url,
        Model::Open {
            stages: vec![Stage::hold(500.0, Duration::from_secs(10))],
            max_in_flight: 10_000,
        },
    )
    .await;
    assert_eq!(m.intended, 5000);
    assert_eq!(m.sent, 5000);
    assert_eq!(m.total.requests, 5000);
    assert_eq!(m.total.errors, 0);
    let span = m.last_send.unwrap() - m.first_send.unwrap();
    // 4999 intervals of 2 ms: 9.998 s.
    let rate = 4999.0 / span;
    assert!(
        (rate - 500.0).abs() / 500.0 < 0.01,
        "achieved send rate {rate:.2}/s over {span:.3} s"
    );
    // Per second: every full second offered 500.
    for (i, s) in m.seconds.iter().take(10).enumerate() {
        assert_eq!(s.offered, 500, "second {i}");
    }
}

/// The target stalls once for 1 s. Open model: the requests scheduled during
/// the stall wait for it, and latency from their intended send time shows it
/// at p99.9. Closed model: each terminal waits once, one sample each, so the
/// stall hides below p99.9 (only the max shows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_shows_in_open_model_and_hides_in_closed_model() {
    let stall = common::Behaviour::StallOnce {
        after: Duration::from_millis(1500),
        stall: Duration::from_secs(1),
    };
    let addr = common::serve(stall.clone()).await;
    let open = measure(
        &format!("http://{addr}/"),
        Model::Open {
            stages: vec![Stage::hold(200.0, Duration::from_secs(4))],
            max_in_flight: 10_000,
        },
    )
    .await;
    let p999 = open.total.hist.value_at_quantile(0.999);
    assert!(
        p999 >= 800_000,
        "open p99.9 {p999} us should include the 1 s stall"
    );
    let p99 = open.total.hist.value_at_quantile(0.99);
    assert!(p99 >= 500_000, "open p99 {p99} us");
    // The service time (from the actual send) sees the stall as well here,
    // because the open model kept sending during it.
    assert_eq!(open.total.requests, 800);

    let addr = common::serve(stall).await;
    let closed = measure(
        &format!("http://{addr}/"),
        Model::Closed {
            terminals: 1,
            duration: Duration::from_secs(5),
        },
    )
    .await;
    let n = closed.total.requests;
    let max = closed.total.hist.max();
    assert!(max >= 800_000, "closed max {max} us: the stall happened");
    // One stalled sample out of n: below p99.9 once n > 1000.
    assert!(n > 1000, "closed model made only {n} requests");
    let cp999 = closed.total.hist.value_at_quantile(0.999);
    assert!(
        cp999 < 100_000,
        "closed p99.9 {cp999} us hides the stall ({n} requests)"
    );
}
