//! Signing throughput: the switch's binding cost.
//!
//! - `sign/*`: one RSA2 signature per backend with the key prepared once, next
//!   to the same with the key re-parsed from PEM on every call (what the Node
//!   SDK does), to show what preparing the key once saves.
//! - `verify/*`: one verification per backend, prepared public key.
//! - `sign_string`: building the request sign string.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use protocol::crypto::{aws_lc, ring};
use protocol::sign_string::request_sign_content;

const KEY: &str = include_str!("../../deploy/keys/demo-app-private.pem");
const MSG: &str = "app_id=2021000000000001&biz_content={\"out_trade_no\":\"T20261122000001\",\"scene\":\"bar_code\",\"auth_code\":\"281234567890121234\",\"subject\":\"Store 1 counter 2\",\"total_amount\":\"88.88\",\"store_id\":\"NJ_001\",\"terminal_id\":\"POS_0001\"}&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2026-11-22 10:00:00&version=1.0";

fn sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    let aws = aws_lc::Signer::from_text(KEY).unwrap();
    let rng = ring::Signer::from_text(KEY).unwrap();
    g.bench_function(BenchmarkId::new("aws-lc-rs", "prepared-key"), |b| {
        b.iter(|| aws.sign(black_box(MSG.as_bytes())).unwrap())
    });
    g.bench_function(BenchmarkId::new("aws-lc-rs", "reparse-per-call"), |b| {
        b.iter(|| {
            aws_lc::Signer::from_text(black_box(KEY))
                .unwrap()
                .sign(black_box(MSG.as_bytes()))
                .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("ring", "prepared-key"), |b| {
        b.iter(|| rng.sign(black_box(MSG.as_bytes())).unwrap())
    });
    g.bench_function(BenchmarkId::new("ring", "reparse-per-call"), |b| {
        b.iter(|| {
            ring::Signer::from_text(black_box(KEY))
                .unwrap()
                .sign(black_box(MSG.as_bytes()))
                .unwrap()
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    let aws = aws_lc::Signer::from_text(KEY).unwrap();
    let sig = aws.sign(MSG.as_bytes()).unwrap();
    let pem = aws.public_key_pem();
    let v_aws = aws_lc::Verifier::from_text(&pem).unwrap();
    let v_ring = ring::Verifier::from_text(&pem).unwrap();
    g.bench_function(BenchmarkId::new("aws-lc-rs", "prepared-key"), |b| {
        b.iter(|| {
            v_aws
                .verify(black_box(MSG.as_bytes()), black_box(&sig))
                .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("aws-lc-rs", "reparse-per-call"), |b| {
        b.iter(|| {
            aws_lc::Verifier::from_text(black_box(&pem))
                .unwrap()
                .verify(black_box(MSG.as_bytes()), black_box(&sig))
                .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("ring", "prepared-key"), |b| {
        b.iter(|| {
            v_ring
                .verify(black_box(MSG.as_bytes()), black_box(&sig))
                .unwrap()
        })
    });
    g.finish();
}

fn sign_string(c: &mut Criterion) {
    let biz = "{\"out_trade_no\":\"T20261122000001\",\"scene\":\"bar_code\",\"auth_code\":\"281234567890121234\",\"subject\":\"Store 1 counter 2\",\"total_amount\":\"88.88\"}";
    let params = [
        ("app_id", "2021000000000001"),
        ("method", "alipay.trade.pay"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", "2026-11-22 10:00:00"),
        ("version", "1.0"),
        ("notify_url", ""),
        ("app_auth_token", ""),
        ("biz_content", biz),
    ];
    c.bench_function("sign_string/request", |b| {
        b.iter(|| request_sign_content(black_box(params)))
    });
}

criterion_group!(benches, sign, verify, sign_string);
criterion_main!(benches);
