//! Response handling: finding the signed node in the raw body, then reading
//! it into the typed struct with serde_json against simd-json.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use protocol::response::{extract, PayResponse};

const BODY: &str = include_str!("../../protocol/tests/vectors/resp-pay-braces.body.json");
const NODE: &str = "alipay_trade_pay_response";

fn response(c: &mut Criterion) {
    let mut g = c.benchmark_group("response");
    g.bench_function("extract-node", |b| {
        b.iter(|| extract(black_box(BODY), NODE).unwrap().content.len())
    });
    let content = extract(BODY, NODE).unwrap().content.to_owned();
    g.bench_function("deserialize/serde_json", |b| {
        b.iter(|| serde_json::from_str::<PayResponse>(black_box(&content)).unwrap())
    });
    g.bench_function("deserialize/simd-json", |b| {
        b.iter(|| {
            // simd-json parses in place: it needs its own mutable copy.
            let mut buf = black_box(content.as_bytes()).to_vec();
            simd_json::serde::from_slice::<PayResponse>(&mut buf).unwrap()
        })
    });
    g.bench_function("deserialize/serde_json+copy", |b| {
        b.iter(|| {
            let buf = black_box(content.as_bytes()).to_vec();
            serde_json::from_slice::<PayResponse>(&buf).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, response);
criterion_main!(benches);
