//! The load models: the open model (a fixed arrival rate per stage, every
//! request with an intended send time) and the closed model (N virtual
//! terminals, each sending its next request when the previous one answered).
//!
//! Guarantees of the open model: the i-th request's intended time is computed
//! from the start and the stages alone (never from when earlier requests were
//! sent or answered), so the schedule cannot drift; latency is measured from
//! the intended time, so a stall of the target is measured in full, as wrk2
//! does; when the generator itself falls behind (send lag) the lag is
//! recorded and the run can be marked invalid. Both models stop at the time
//! bound or the request bound, whichever comes first, then wait (bounded) for
//! the requests still in flight.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;

use crate::measure::Recorder;
use crate::spec::{Mix, Stage};
use crate::target::Target;

/// How the load is offered; serialised into the report as the `model`
/// object, tagged `open` or `closed`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Model {
    /// A fixed arrival rate per stage, whatever the target's latency.
    Open {
        /// The stages, run one after the other (rates in requests per
        /// second, see [`Stage`]).
        stages: Vec<Stage>,
        /// At most this many requests in flight; beyond it the generator
        /// waits (and the wait shows up as lag and latency).
        max_in_flight: usize,
    },
    /// `terminals` virtual terminals for `duration`: the rate is whatever
    /// the target sustains.
    Closed {
        /// How many terminals send at once (at least 1 is run), each one
        /// request at a time.
        terminals: usize,
        /// How long they send, in the report as seconds.
        #[serde(with = "crate::spec::duration_secs")]
        duration: Duration,
    },
}

impl Model {
    /// The planned length of the run: the stages' total for the open model,
    /// `duration` for the closed one (the drain not counted).
    pub fn duration(&self) -> Duration {
        match self {
            Model::Open { stages, .. } => stages.iter().map(|s| s.duration).sum(),
            Model::Closed { duration, .. } => *duration,
        }
    }
}

/// The bounds and knobs of one load phase, given to [`run`].
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// How the load is offered.
    pub model: Model,
    /// Which operations are sent, in what shares.
    pub mix: Mix,
    /// Stop after this many requests (0: no bound).
    pub max_requests: u64,
    /// How long to wait for requests in flight after the last send; those
    /// still open then are abandoned (their tasks aborted, not recorded).
    pub drain: Duration,
    /// Seed of the operation choice: the same seed gives the same sequence
    /// of operations (per terminal in the closed model).
    pub seed: u64,
    /// The sequence number of the first request (out_trade_no are made from
    /// it, so consecutive runs of one generator, e.g. staircase steps, must
    /// not overlap).
    pub first_seq: u64,
}

/// The intended send times of the open model, relative to the start: an
/// iterator-like sequence made from the stages alone, so it never drifts.
#[derive(Debug, Clone)]
pub struct Schedule {
    stages: Vec<Stage>,
    stage: usize,
    stage_start: f64,
    /// Requests already placed in earlier stages, and in this one.
    k: u64,
    carry: f64,
}

impl Schedule {
    /// The schedule of `stages`, run in order; a stage with a rate of 0
    /// throughout gets no request, and its time still passes.
    pub fn new(stages: &[Stage]) -> Self {
        Schedule {
            stages: stages.to_vec(),
            stage: 0,
            stage_start: 0.0,
            k: 0,
            carry: 0.0,
        }
    }

    /// The next intended time in seconds from the start, or `None` at the end.
    ///
    /// Within a stage the k-th request is at the time the stage's cumulative
    /// count reaches `k + carry` (carry is the fraction left over from the
    /// stages before), solved exactly: `k / r` at a constant rate, the root of
    /// the quadratic on a ramp.
    pub fn next_time(&mut self) -> Option<f64> {
        loop {
            let st = *self.stages.get(self.stage)?;
            let t_len = st.duration.as_secs_f64();
            let n = self.k as f64 + self.carry;
            let r0 = st.from_rate;
            let a = (st.to_rate - st.from_rate) / t_len;
            let t = if a.abs() < 1e-12 {
                if r0 <= 0.0 {
                    f64::INFINITY
                } else {
                    n / r0
                }
            } else {
                let disc = r0 * r0 + 2.0 * a * n;
                if disc < 0.0 {
                    f64::INFINITY
                } else {
                    (-r0 + disc.sqrt()) / a
                }
            };
            if t < t_len {
                self.k += 1;
                return Some(self.stage_start + t);
            }
            // Next stage: carry the fractional request over.
            let total = st.requests();
            self.carry = (self.k as f64 + self.carry) - total;
            if self.carry < 0.0 {
                self.carry = 0.0;
            }
            self.k = 0;
            self.stage_start += t_len;
            self.stage += 1;
        }
    }
}

/// Live state of a load phase, written by [`run`] and read by the progress
/// line ([`crate::progress::spawn`]).
#[derive(Debug, Default)]
pub struct Live {
    /// Set when [`run`] has finished sending and draining.
    pub done: AtomicBool,
    /// Requests sent and not yet answered.
    pub in_flight: AtomicU64,
}

/// Runs the plan against the target, recording each send and each outcome
/// into `rec` (whose start is the schedule's origin). Returns when the time
/// or request bound is reached and the requests in flight answered (or
/// [`RunPlan::drain`] passed); then sets [`Live::done`]. `stop` ends the run
/// early (Ctrl-C): no new request is sent once it is set. Requests are
/// numbered from [`RunPlan::first_seq`].
pub async fn run(
    target: Arc<dyn Target>,
    plan: &RunPlan,
    rec: Arc<Recorder>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) {
    match &plan.model {
        Model::Open {
            stages,
            max_in_flight,
        } => run_open(target, plan, stages, *max_in_flight, rec, live, stop).await,
        Model::Closed {
            terminals,
            duration,
        } => run_closed(target, plan, *terminals, *duration, rec, live, stop).await,
    }
}

async fn run_open(
    target: Arc<dyn Target>,
    plan: &RunPlan,
    stages: &[Stage],
    max_in_flight: usize,
    rec: Arc<Recorder>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) {
    let start = rec.start();
    let mut sched = Schedule::new(stages);
    let sem = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(plan.seed);
    let mut seq: u64 = plan.first_seq;
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(t) = sched.next_time() {
        if stop.load(Ordering::Relaxed)
            || (plan.max_requests > 0 && seq - plan.first_seq >= plan.max_requests)
        {
            break;
        }
        let intended = start + Duration::from_secs_f64(t);
        if intended > Instant::now() {
            tokio::time::sleep_until(tokio::time::Instant::from_std(intended)).await;
        }
        let permit = match sem.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => break,
        };
        let op = plan.mix.pick(rng.gen::<f64>());
        let actual = Instant::now();
        rec.sent(intended, actual);
        let (tg, rc, lv) = (target.clone(), rec.clone(), live.clone());
        let s = seq;
        seq += 1;
        live.in_flight.fetch_add(1, Ordering::Relaxed);
        tasks.spawn(async move {
            let (done_op, outcome) = tg.execute(op, s).await;
            rc.completed(done_op, intended, actual, Instant::now(), &outcome);
            lv.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
        // Reap finished tasks without waiting, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    drain(tasks, plan.drain).await;
    live.done.store(true, Ordering::Relaxed);
}

async fn run_closed(
    target: Arc<dyn Target>,
    plan: &RunPlan,
    terminals: usize,
    duration: Duration,
    rec: Arc<Recorder>,
    live: Arc<Live>,
    stop: Arc<AtomicBool>,
) {
    let start = rec.start();
    let end = start + duration;
    let seq = Arc::new(AtomicU64::new(0));
    let first = plan.first_seq;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..terminals.max(1) {
        let (tg, rc, lv, sq, st) = (
            target.clone(),
            rec.clone(),
            live.clone(),
            seq.clone(),
            stop.clone(),
        );
        let mix = plan.mix.clone();
        let max = plan.max_requests;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            plan.seed ^ (w as u64).wrapping_mul(0x5851_F42D),
        );
        tasks.spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end || st.load(Ordering::Relaxed) {
                    break;
                }
                let n = sq.fetch_add(1, Ordering::Relaxed);
                if max > 0 && n >= max {
                    break;
                }
                let s = first + n;
                let op = mix.pick(rng.gen::<f64>());
                // Closed model: the intended time is the actual send time.
                rc.sent(now, now);
                lv.in_flight.fetch_add(1, Ordering::Relaxed);
                let (done_op, outcome) = tg.execute(op, s).await;
                rc.completed(done_op, now, now, Instant::now(), &outcome);
                lv.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        });
    }
    let deadline = end + plan.drain;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), tasks.join_next())
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }
    live.done.store(true, Ordering::Relaxed);
}

async fn drain(mut tasks: tokio::task::JoinSet<()>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                tasks.abort_all();
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_constant_rate_is_exact() {
        let mut s = Schedule::new(&[Stage::hold(100.0, Duration::from_secs(10))]);
        let mut n = 0;
        let mut last = 0.0;
        while let Some(t) = s.next_time() {
            assert!(t >= last);
            last = t;
            n += 1;
        }
        assert_eq!(n, 1000);
        assert!((last - 9.99).abs() < 1e-9);
    }

    #[test]
    fn schedule_ramp_and_hold() {
        let mut s = Schedule::new(&[
            Stage {
                from_rate: 0.0,
                to_rate: 200.0,
                duration: Duration::from_secs(10),
            },
            Stage::hold(200.0, Duration::from_secs(5)),
        ]);
        let times: Vec<f64> = std::iter::from_fn(|| s.next_time()).collect();
        assert!((1999..=2001).contains(&times.len()), "{}", times.len());
        // Half of the ramp's requests come in its last 30 %.
        let early = times.iter().filter(|t| **t < 5.0).count();
        assert_eq!(early, 250);
    }
}
