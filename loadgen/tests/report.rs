//! The report: built from measurements, written as JSON, Markdown and one
//! self-contained HTML file with four inline SVG plots in both languages,
//! read back, and compared (a slower run is flagged as a regression).

use std::time::{Duration, Instant};

use loadgen::load::Model;
use loadgen::measure::{Outcome, Recorder};
use loadgen::report::{self, compare, Lang, LoadInfo, RunInfo, TargetInfo};
use loadgen::spec::{OpKind, PayCase, Stage, Threshold};

fn sample(slow_us: u64) -> report::Report {
    let start = Instant::now() - Duration::from_secs(5);
    let rec = Recorder::new(start);
    for i in 0..1000u64 {
        let intended = start + Duration::from_millis(i * 5);
        let lat = if i % 100 == 0 { slow_us * 10 } else { slow_us };
        let o = if i % 250 == 0 {
            Outcome::transport("timeout")
        } else if i % 10 == 0 {
            Outcome::gateway("40004", Some("ACQ.PAYMENT_AUTH_CODE_INVALID"), false)
        } else {
            Outcome::status("SUCCESS")
        };
        rec.sent(intended, intended);
        rec.completed(
            OpKind::Pay(PayCase::Normal),
            intended,
            intended,
            intended + Duration::from_micros(lat),
            &o,
        );
    }
    report::build(
        &rec.snapshot(),
        RunInfo {
            run_id: "LGtest".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            wall_secs: 5.0,
            target: TargetInfo {
                kind: "switch".into(),
                url: "http://127.0.0.1:8080".into(),
                terminals: 4,
            },
            load: LoadInfo {
                model: Model::Open {
                    stages: vec![Stage::hold(200.0, Duration::from_secs(5))],
                    max_in_flight: 100,
                },
                mix: "pay=1".into(),
                max_requests: 0,
                seed: 1,
                timeout_ms: 10_000,
                pay_wait_secs: Some(10),
            },
            thresholds: vec![
                Threshold::parse("p99<50ms").unwrap(),
                Threshold::parse("errors<0.1%").unwrap(),
            ],
            max_lag_p99_us: 25_000,
            processes: vec![],
            audit: None,
            notes: vec!["a <note> & more".into()],
        },
    )
}

#[test]
fn report_renders_round_trips_and_compares() {
    let a = sample(2_000);
    assert_eq!(a.total.requests, 1000);
    assert_eq!(a.total.errors, 4);
    assert_eq!(a.operations["pay"].outcomes.len(), 3);
    // The transport timeouts are the generator's own; the 40004s are no error.
    let own: Vec<_> = a.operations["pay"]
        .outcomes
        .iter()
        .map(|o| (o.label.as_str(), o.error, o.generator))
        .collect();
    assert!(own.contains(&("transport timeout", true, true)), "{own:?}");
    assert!(own.contains(&("SUCCESS", false, false)), "{own:?}");
    // errors 0.4% fails errors<0.1%; p99 (20 ms) passes p99<50ms.
    assert!(a.thresholds[0].passed);
    assert!(!a.thresholds[1].passed);
    assert!(!a.verdict.passed);
    assert_eq!(a.series.iter().map(|s| s.offered).sum::<u64>(), 1000);

    let dir = tempfile::tempdir().unwrap();
    for lang in [Lang::En, Lang::Zh] {
        let out = dir.path().join(format!("{lang:?}"));
        let w = report::write_all(&a, &out, lang).unwrap();
        let html = std::fs::read_to_string(&w.html).unwrap();
        assert_eq!(html.matches("<svg").count(), 4, "four inline plots");
        assert!(!html.contains("<script"), "no script");
        assert!(
            !html.contains("http-equiv") && !html.contains("<link"),
            "no external resource"
        );
        assert!(html.contains("a &lt;note&gt; &amp; more"), "escaped");
        // The threshold block comes before the plots.
        assert!(html.find("p99&lt;50ms").unwrap() < html.find("<svg").unwrap());
        let md = std::fs::read_to_string(&w.markdown).unwrap();
        if lang == Lang::Zh {
            assert!(md.contains("压力测试报告") && md.contains("验收指标"));
            assert!(md.contains("压测工具自身") && md.contains("（10000 毫秒）"));
        } else {
            assert!(md.contains("Pressure-test report") && md.contains("FAILED"));
            assert!(
                md.contains("✗ generator's own"),
                "the errors cell says whose"
            );
            assert!(
                md.contains("request timeout (10000 ms)"),
                "the note names the timeout"
            );
        }
        let back = report::read(&w.json).unwrap();
        assert_eq!(back, a);
    }

    let b = sample(20_000);
    let c = compare::compare(&a, &b, 10.0);
    assert!(c.regressions > 0);
    assert!(c
        .diffs
        .iter()
        .any(|d| d.scope == "total" && d.figure == "p99_us" && d.regression));
    let same = compare::compare(&a, &a, 10.0);
    assert_eq!(same.regressions, 0);
    assert!(compare::render_text(&c).contains("REGRESSION"));
}

/// A generator that sent late (send lag p99 above the limit) makes the run
/// invalid and failed, whatever the thresholds say.
#[test]
fn generator_behind_makes_the_run_invalid() {
    let start = Instant::now() - Duration::from_secs(2);
    let rec = Recorder::new(start);
    for i in 0..100u64 {
        let intended = start + Duration::from_millis(i * 10);
        let actual = intended + Duration::from_millis(50);
        rec.sent(intended, actual);
        rec.completed(
            OpKind::Pay(PayCase::Normal),
            intended,
            actual,
            actual + Duration::from_millis(1),
            &Outcome::status("SUCCESS"),
        );
    }
    let r = report::build(
        &rec.snapshot(),
        RunInfo {
            run_id: "LGlag".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            wall_secs: 1.0,
            target: TargetInfo {
                kind: "http".into(),
                url: "http://127.0.0.1:1/".into(),
                terminals: 0,
            },
            load: LoadInfo {
                model: Model::Open {
                    stages: vec![Stage::hold(100.0, Duration::from_secs(1))],
                    max_in_flight: 10,
                },
                mix: "pay=1".into(),
                max_requests: 0,
                seed: 1,
                timeout_ms: 1000,
                pay_wait_secs: None,
            },
            thresholds: vec![Threshold::parse("p99<1s").unwrap()],
            max_lag_p99_us: 25_000,
            processes: vec![],
            audit: None,
            notes: vec![],
        },
    );
    assert!(r.thresholds[0].passed);
    assert!(r.generator.behind);
    assert!(!r.verdict.valid);
    assert!(!r.verdict.passed);
    // Latency from the intended time includes the 50 ms the generator was late.
    assert!(r.total.latency_us.p50 >= 50_000);
    assert!(r.generator.service_time_us.p50 < 5_000);
}
