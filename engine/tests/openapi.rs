//! docs/openapi.yaml is kept true: its operations are exactly the routes the
//! two routers serve (the tables they dispatch through), every route of the
//! tables is served by a live switch, and live answers of each operation,
//! successes and the usual errors, have a declared status, the declared
//! content type and a body that validates against the declared schema
//! (JSON Schema 2020-12, the dialect of OpenAPI 3.1).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn spec() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let text = std::fs::read_to_string(&p).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
}

/// The spec's (METHOD, path) of the operations tagged `tag`.
fn operations(spec: &Value, tag: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let tags = op["tags"].as_array().expect("every operation has tags");
                if tags.iter().any(|t| t == tag) {
                    out.insert((m.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

fn table(rows: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn the_spec_names_exactly_the_routes_served() {
    let s = spec();
    assert_eq!(s["openapi"], "3.1.0");
    assert_eq!(
        operations(&s, "terminal"),
        table(engine::api::ROUTES),
        "terminal listener: docs/openapi.yaml (left) and engine::api::ROUTES (right) differ"
    );
    assert_eq!(
        operations(&s, "admin"),
        table(engine::admin::ROUTES),
        "admin listener: docs/openapi.yaml (left) and engine::admin::ROUTES (right) differ"
    );
    // Every operation is on one listener or both, and has an operationId.
    for (path, item) in s["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                assert!(op["operationId"].is_string(), "{m} {path}");
                assert!(
                    !op["tags"].as_array().unwrap().is_empty(),
                    "{m} {path} has no listener tag"
                );
            }
        }
    }
}

/// Every schema in the spec compiles (JSON Schema 2020-12).
#[test]
fn every_schema_compiles() {
    let s = spec();
    let mut n = 0;
    for (path, item) in s["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            for (status, r) in op["responses"].as_object().unwrap() {
                let r = resolve(&s, r);
                for (ct, media) in r["content"].as_object().into_iter().flatten() {
                    validator(&s, &media["schema"])
                        .unwrap_or_else(|e| panic!("{m} {path} {status} {ct}: {e}"));
                    n += 1;
                }
            }
            if let Some(b) = op.get("requestBody") {
                for (ct, media) in b["content"].as_object().unwrap() {
                    validator(&s, &media["schema"])
                        .unwrap_or_else(|e| panic!("{m} {path} body {ct}: {e}"));
                    if let Some(ex) = media.get("example") {
                        let v = validator(&s, &media["schema"]).unwrap();
                        let errs: Vec<String> = v.iter_errors(ex).map(|e| e.to_string()).collect();
                        assert!(errs.is_empty(), "{m} {path}: its example: {errs:?}");
                    }
                }
            }
        }
    }
    assert!(n > 40, "{n} response schemas");
}

/// `{"$ref": "#/components/..."}` followed to what it names.
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r.strip_prefix('#').expect("local $ref");
            resolve(spec, spec.pointer(ptr).unwrap_or_else(|| panic!("{r}")))
        }
        None => v,
    }
}

/// A validator of `schema`, its `#/components/...` references resolved in
/// the spec's components.
fn validator(spec: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec["components"],
        "allOf": [schema],
    });
    jsonschema::draft202012::new(&root).map_err(|e| e.to_string())
}

// ---------- live ----------

/// What an answer was checked against: the operation and the status.
#[derive(Default)]
struct Seen(Mutex<BTreeSet<(String, String, u16)>>);

struct Live {
    spec: Value,
    seen: Seen,
    terminal: String,
    admin: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    /// Signed as this terminal (key id, secret).
    Psw1(&'a str, &'a [u8]),
    Bearer(&'a str),
}

struct Answer {
    status: u16,
    json: Value,
}

impl Live {
    /// Sends one request to the listener of `template` (admin paths to the
    /// admin listener) and checks the answer against the spec; returns it.
    async fn call(
        &self,
        listener: &str,
        method: &str,
        template: &str,
        pq: &str,
        body: Option<Vec<u8>>,
        auth: Auth<'_>,
    ) -> Answer {
        let base = if listener == "admin" {
            &self.admin
        } else {
            &self.terminal
        };
        let bytes = body.unwrap_or_default();
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{base}{pq}"));
        if !bytes.is_empty() {
            b = b.header("content-type", "application/json");
        }
        match auth {
            Auth::None => {}
            Auth::Psw1(key, secret) => {
                let (ts, n) = (unix_now(), nonce());
                b = b.header(
                    "authorization",
                    terminal::header::authorization(key, secret, method, pq, ts, &n, &bytes),
                );
            }
            Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
        }
        let req = b.body(Full::new(Bytes::from(bytes))).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(60), self.client.request(req))
            .await
            .unwrap_or_else(|_| panic!("{method} {pq}: no answer within 60 s"))
            .unwrap_or_else(|e| panic!("{method} {pq}: {e}"));
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let raw = resp.into_body().collect().await.unwrap().to_bytes();
        self.check(method, template, pq, status, &ctype, &raw);
        let json = serde_json::from_slice(&raw)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
        Answer { status, json }
    }

    fn check(&self, method: &str, template: &str, pq: &str, status: u16, ctype: &str, raw: &[u8]) {
        let what = format!("{method} {pq} ({template}) answered {status}");
        let op = &self.spec["paths"][template][method.to_lowercase()];
        assert!(
            op.is_object(),
            "{what}: no such operation in docs/openapi.yaml"
        );
        let responses = &op["responses"];
        let r = responses
            .get(status.to_string())
            .or_else(|| responses.get(format!("{}XX", status / 100)))
            .or_else(|| responses.get("default"))
            .unwrap_or_else(|| {
                panic!(
                    "{what}: status not declared: {}",
                    String::from_utf8_lossy(raw)
                )
            });
        let r = resolve(&self.spec, r);
        let media = ctype.split(';').next().unwrap_or("").trim();
        let content = r["content"]
            .get(media)
            .unwrap_or_else(|| panic!("{what}: content type {ctype:?} not declared"));
        let instance: Value = if media == "application/json" {
            serde_json::from_slice(raw).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
        } else {
            Value::String(String::from_utf8_lossy(raw).into_owned())
        };
        let key = format!("{template} {method} {status} {media}");
        let v = {
            let mut cache = self.validators.lock().unwrap();
            cache
                .entry(key)
                .or_insert_with(|| {
                    std::sync::Arc::new(validator(&self.spec, &content["schema"]).unwrap())
                })
                .clone()
        };
        let errs: Vec<String> = v
            .iter_errors(&instance)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            errs.is_empty(),
            "{what}: the body does not match docs/openapi.yaml: {errs:?}\n{instance}"
        );
        self.seen
            .0
            .lock()
            .unwrap()
            .insert((method.to_owned(), template.to_owned(), status));
    }
}

fn admin_section(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("registry.key");
    std::fs::write(&key, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"registry.key\"\n",
        free_port(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(OPS_TOKEN.as_bytes()))
    )
}

fn j(v: Value) -> Option<Vec<u8>> {
    Some(v.to_string().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_answers_match_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let admin_text = admin_section(dir.path());
    let (sw, base) = switch_with(dir.path(), &sim, "", |t| t + &admin_text).await;
    let live = Live {
        spec: spec(),
        seen: Seen::default(),
        terminal: base,
        admin: ops(&sw).base,
        client: http_client(),
        validators: Mutex::new(HashMap::new()),
    };
    let t1 = Auth::Psw1("T1", &SECRET);
    let bearer = Auth::Bearer(OPS_TOKEN);
    let tag = format!("OA{}", unix_now() % 1_000_000);

    // Every row of both tables is served: no `no_route`, no `method_not_allowed`.
    for (listener, rows) in [
        ("terminal", engine::api::ROUTES),
        ("admin", engine::admin::ROUTES),
    ] {
        for (m, template) in rows {
            let pq = template
                .replace("{out_trade_no}", "NOSUCH_1")
                .replace("{out_request_no}", "NOSUCH_R")
                .replace("{external_id}", "NOSUCH_M")
                .replace("{key_id}", "NOSUCH_K");
            let auth = if listener == "admin" { bearer } else { t1 };
            let body = (*m != "GET").then(|| b"{}".to_vec());
            let a = live.call(listener, m, template, &pq, body, auth).await;
            let code = a.json["error"]["code"].as_str().unwrap_or("");
            assert!(
                !matches!(code, "no_route" | "method_not_allowed"),
                "{listener} {m} {template} is in the table but not served: {}",
                a.json
            );
        }
    }

    // ----- the terminal API
    let t = "terminal";
    assert_eq!(
        live.call(t, "GET", "/healthz", "/healthz", None, Auth::None)
            .await
            .status,
        200
    );
    let form = b"out_trade_no=X&sign=bad".to_vec();
    let a = live
        .call(
            t,
            "POST",
            "/notify/alipay",
            "/notify/alipay",
            Some(form),
            Auth::None,
        )
        .await;
    assert_eq!(a.status, 400);

    let pay = |no: &str, code: &str, amount: &str| json!({"out_trade_no": no, "auth_code": code, "total_amount": amount, "subject": "openapi test"});
    let p = "/v1/pay";
    let no = format!("{tag}_PAY1");
    let code = auth_code("0000");
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=10",
            j(pay(&no, &code, "10.00")),
            t1,
        )
        .await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("SUCCESS")),
        "{}",
        a.json
    );
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=10",
            j(pay(&no, &code, "10.00")),
            t1,
        )
        .await;
    assert_eq!(a.status, 200);
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=10",
            j(pay(&no, &code, "11.00")),
            t1,
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let failed = format!("{tag}_PAY2");
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=10",
            j(pay(&failed, &auth_code("4004"), "1.00")),
            t1,
        )
        .await;
    assert_eq!(a.json["status"], "FAILED", "{}", a.json);
    assert!(a.json["cashier_action"].is_string(), "{}", a.json);
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=0",
            j(pay(&format!("{tag}_PAY3"), &auth_code("1003"), "1.00")),
            t1,
        )
        .await;
    assert_eq!(a.status, 200);
    for (bad, field) in [
        (
            json!({"out_trade_no": "a-b", "auth_code": code, "total_amount": "1.00", "subject": "x"}),
            "out_trade_no",
        ),
        (
            json!({"out_trade_no": "a", "auth_code": "1234", "total_amount": "1.00", "subject": "x"}),
            "auth_code",
        ),
        (
            json!({"out_trade_no": "a", "auth_code": code, "total_amount": "0.001", "subject": "x"}),
            "total_amount",
        ),
        (
            json!({"out_trade_no": "a", "auth_code": code, "total_amount": "1.00"}),
            "subject",
        ),
        (
            json!({"out_trade_no": "a", "auth_code": code, "total_amount": "1.00", "subject": "x", "store_id": "s"}),
            "store_id",
        ),
    ] {
        let a = live.call(t, "POST", p, "/v1/pay", j(bad), t1).await;
        assert_eq!(
            (a.status, a.json["error"]["field"].as_str()),
            (400, Some(field)),
            "{}",
            a.json
        );
    }
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=61",
            j(pay("a", &code, "1.00")),
            t1,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "wait");
    let a = live
        .call(t, "POST", p, "/v1/pay", Some(b"{not json".to_vec()), t1)
        .await;
    assert_eq!(a.json["error"]["code"], "invalid_json");
    let a = live
        .call(t, "POST", p, "/v1/pay", Some(vec![b' '; 9000]), t1)
        .await;
    assert_eq!(a.status, 413);
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay",
            j(pay("a", &code, "1.00")),
            Auth::None,
        )
        .await;
    assert_eq!(a.json["error"]["code"], "auth_missing");
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay",
            j(pay("a", &code, "1.00")),
            Auth::Psw1("T1", b"wrong"),
        )
        .await;
    assert_eq!(a.json["error"]["code"], "auth_bad_signature");
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay",
            j(pay("a", &code, "1.00")),
            Auth::Psw1("NOPE", &SECRET),
        )
        .await;
    assert_eq!(a.json["error"]["code"], "auth_unknown_key");
    // T2: rate 1/s, burst 3.
    let mut limited = false;
    for i in 0..8 {
        let pq = format!("/v1/trades/{tag}_RATE{i}");
        let a = live
            .call(
                t,
                "GET",
                "/v1/trades/{out_trade_no}",
                &pq,
                None,
                Auth::Psw1("T2", &SECRET2),
            )
            .await;
        limited |= a.status == 429;
    }
    assert!(limited, "T2 was never rate limited");

    let q = "/v1/trades/{out_trade_no}";
    let a = live
        .call(t, "GET", q, &format!("/v1/trades/{no}"), None, t1)
        .await;
    assert_eq!(a.json["status"], "SUCCESS");
    let a = live
        .call(t, "GET", q, &format!("/v1/trades/{no}?refresh=1"), None, t1)
        .await;
    assert_eq!(a.status, 200);
    let a = live
        .call(t, "GET", q, &format!("/v1/trades/{no}?refresh=2"), None, t1)
        .await;
    assert_eq!(a.json["error"]["field"], "refresh");
    let a = live.call(t, "GET", q, "/v1/trades/a-b", None, t1).await;
    assert_eq!(a.json["error"]["field"], "out_trade_no");
    let a = live
        .call(t, "GET", q, &format!("/v1/trades/{tag}_NONE"), None, t1)
        .await;
    assert_eq!(a.status, 404);
    let c = "/v1/trades/{out_trade_no}/cancel";
    let a = live
        .call(t, "POST", c, &format!("/v1/trades/{no}/cancel"), None, t1)
        .await;
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("trade_state"))
    );
    let a = live
        .call(
            t,
            "POST",
            c,
            &format!("/v1/trades/{failed}/cancel"),
            None,
            t1,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);

    let r = "/v1/trades/{out_trade_no}/refunds";
    let refund = |rno: &str, amount: &str| json!({"out_request_no": rno, "refund_amount": amount, "refund_reason": "test"});
    let a = live
        .call(
            t,
            "POST",
            r,
            &format!("/v1/trades/{no}/refunds"),
            j(refund("R1", "1.00")),
            t1,
        )
        .await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("SUCCESS")),
        "{}",
        a.json
    );
    let a = live
        .call(
            t,
            "POST",
            r,
            &format!("/v1/trades/{no}/refunds"),
            j(refund("R1", "2.00")),
            t1,
        )
        .await;
    assert_eq!(a.json["error"]["code"], "conflict");
    let a = live
        .call(
            t,
            "POST",
            r,
            &format!("/v1/trades/{no}/refunds"),
            j(refund("R2", "99.00")),
            t1,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "refund_amount");
    let a = live
        .call(
            t,
            "POST",
            r,
            &format!("/v1/trades/{failed}/refunds"),
            j(refund("R1", "1.00")),
            t1,
        )
        .await;
    assert_eq!(a.json["error"]["code"], "trade_state", "{}", a.json);
    let g = "/v1/trades/{out_trade_no}/refunds/{out_request_no}";
    let a = live
        .call(
            t,
            "GET",
            g,
            &format!("/v1/trades/{no}/refunds/R1"),
            None,
            t1,
        )
        .await;
    assert_eq!(a.json["refunded_amount"], "1.00");
    let a = live
        .call(
            t,
            "GET",
            g,
            &format!("/v1/trades/{no}/refunds/R9"),
            None,
            t1,
        )
        .await;
    assert_eq!(a.status, 404);
    let a = live
        .call(
            t,
            "GET",
            g,
            &format!("/v1/trades/{no}/refunds/R-9"),
            None,
            t1,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "out_request_no");

    let pc = "/v1/precreate";
    let qr = format!("{tag}_QR1");
    let body = json!({"out_trade_no": qr, "total_amount": "5.00", "subject": "qr", "timeout_express": "15m"});
    let a = live.call(t, "POST", pc, pc, j(body), t1).await;
    assert_eq!(a.json["status"], "WAIT_BUYER_PAY", "{}", a.json);
    assert!(a.json["qr_code"].is_string());
    let a = live.call(t, "POST", pc, pc, j(json!({"out_trade_no": "x", "total_amount": "5.00", "subject": "qr", "notify_url": "ftp://x"})), t1).await;
    assert_eq!(a.json["error"]["field"], "notify_url");
    let cl = "/v1/trades/{out_trade_no}/close";
    let a = live
        .call(t, "POST", cl, &format!("/v1/trades/{qr}/close"), None, t1)
        .await;
    assert_eq!(a.json["status"], "CLOSED", "{}", a.json);

    // ----- the admin API
    let ad = "admin";
    assert_eq!(
        live.call(ad, "GET", "/healthz", "/healthz", None, Auth::None)
            .await
            .status,
        200
    );
    assert_eq!(
        live.call(ad, "GET", "/readyz", "/readyz", None, Auth::None)
            .await
            .status,
        200
    );
    assert_eq!(
        live.call(ad, "GET", "/metrics", "/metrics", None, Auth::None)
            .await
            .status,
        200
    );
    let ms = "/admin/v1/merchants";
    let a = live.call(ad, "GET", ms, ms, None, Auth::None).await;
    assert_eq!(a.json["error"]["code"], "auth_token");
    let a = live
        .call(ad, "GET", ms, ms, None, Auth::Bearer("wrong"))
        .await;
    assert_eq!(a.status, 401);
    let ext = format!("{tag}_M");
    let merchant = json!({
        "external_id": ext, "name": "上海测试便利店", "alias_name": "测试店",
        "service_phone": "021-12345678", "category_id": "2015050700000000",
        "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000"}],
        "address_info": [{"province_code": "310000", "city_code": "310100",
                          "district_code": "310104", "address": "漕溪北路1号"}],
        "service_codes": ["F2F"], "gateway_fee_bps": 38, "merchant_fee_bps": 60,
    });
    let a = live
        .call(ad, "POST", ms, ms, j(merchant.clone()), bearer)
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let a = live
        .call(ad, "POST", ms, ms, j(merchant.clone()), bearer)
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let mut bad = merchant.clone();
    bad.as_object_mut().unwrap().remove("alias_name");
    let a = live.call(ad, "POST", ms, ms, j(bad), bearer).await;
    assert_eq!(a.json["error"]["field"], "alias_name");
    let mut bad = merchant.clone();
    bad["external_id"] = json!(format!("{tag}_M2"));
    bad["contact_info"] = json!([{"name": "张三", "type": "LEGAL_PERSON", "mobile": "1"}]);
    let a = live.call(ad, "POST", ms, ms, j(bad), bearer).await;
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (400, Some("gateway_refused")),
        "{}",
        a.json
    );
    let a = live.call(ad, "GET", ms, ms, None, bearer).await;
    assert!(
        a.json["merchants"].as_array().unwrap().len() >= 2,
        "{}",
        a.json
    );
    let m1 = "/admin/v1/merchants/{external_id}";
    let a = live
        .call(ad, "GET", m1, &format!("{ms}/{ext}"), None, bearer)
        .await;
    assert_eq!(a.json["external_id"], ext.as_str());
    let a = live
        .call(ad, "GET", m1, &format!("{ms}/lab"), None, bearer)
        .await;
    assert_eq!(a.json["origin"], "config", "{}", a.json);
    let a = live
        .call(ad, "GET", m1, &format!("{ms}/NOPE"), None, bearer)
        .await;
    assert_eq!(a.status, 404);
    let a = live
        .call(
            ad,
            "PATCH",
            m1,
            &format!("{ms}/{ext}"),
            j(json!({"merchant_fee_bps": 55, "name": "新名字"})),
            bearer,
        )
        .await;
    assert_eq!(a.json["merchant_fee_bps"], 55, "{}", a.json);
    let a = live
        .call(
            ad,
            "PATCH",
            m1,
            &format!("{ms}/{ext}"),
            j(json!({})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["code"], "nothing_to_change");
    let a = live
        .call(
            ad,
            "PATCH",
            m1,
            &format!("{ms}/{ext}"),
            j(json!({"smid": "2088"})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "smid");
    let a = live
        .call(
            ad,
            "PATCH",
            m1,
            &format!("{ms}/lab"),
            j(json!({"merchant_fee_bps": 1})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["code"], "declared_in_config", "{}", a.json);
    for action in ["suspend", "resume"] {
        let tpl = format!("/admin/v1/merchants/{{external_id}}/{action}");
        let a = live
            .call(
                ad,
                "POST",
                &tpl,
                &format!("{ms}/{ext}/{action}"),
                None,
                bearer,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
    }
    let st = "/admin/v1/merchants/{external_id}/stores";
    let store = json!({"store_id": "SH_01", "name": "徐汇店", "address": "漕溪北路1号"});
    let a = live
        .call(
            ad,
            "POST",
            st,
            &format!("{ms}/{ext}/stores"),
            j(store.clone()),
            bearer,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let a = live
        .call(
            ad,
            "POST",
            st,
            &format!("{ms}/{ext}/stores"),
            j(store),
            bearer,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let a = live
        .call(
            ad,
            "POST",
            st,
            &format!("{ms}/{ext}/stores"),
            j(json!({"store_id": "SH_01", "name": "other"})),
            bearer,
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let a = live
        .call(
            ad,
            "POST",
            st,
            &format!("{ms}/{ext}/stores"),
            j(json!({"store_id": "a b", "name": "x"})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "store_id");
    let te = "/admin/v1/merchants/{external_id}/terminals";
    let term = json!({"store_id": "SH_01", "terminal_id": "POS_1", "equipment_type": "CR", "rate_per_sec": 5});
    let a = live
        .call(
            ad,
            "POST",
            te,
            &format!("{ms}/{ext}/terminals"),
            j(term.clone()),
            bearer,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let key = a.json["key_id"].as_str().unwrap().to_owned();
    let secret = hex::decode(a.json["secret_hex"].as_str().unwrap()).unwrap();
    let a = live
        .call(
            ad,
            "POST",
            te,
            &format!("{ms}/{ext}/terminals"),
            j(term),
            bearer,
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"]["field"].as_str()),
        (409, Some("terminal_id"))
    );
    let a = live
        .call(
            ad,
            "POST",
            te,
            &format!("{ms}/{ext}/terminals"),
            j(json!({"store_id": "NONE", "terminal_id": "P2"})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "store_id");
    let a = live
        .call(
            ad,
            "POST",
            te,
            &format!("{ms}/{ext}/terminals"),
            j(json!({"store_id": "SH_01", "terminal_id": "P2", "burst": 0.5})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "burst");
    let tk = "/admin/v1/terminals/{key_id}";
    let a = live
        .call(
            ad,
            "GET",
            tk,
            &format!("/admin/v1/terminals/{key}"),
            None,
            bearer,
        )
        .await;
    assert!(a.json.get("secret_hex").is_none());
    let a = live
        .call(ad, "GET", tk, "/admin/v1/terminals/T1", None, bearer)
        .await;
    assert_eq!(a.json["origin"], "config");
    let a = live
        .call(
            ad,
            "POST",
            "/admin/v1/terminals/{key_id}/suspend",
            "/admin/v1/terminals/T1/suspend",
            None,
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["code"], "declared_in_config");
    let a = live
        .call(
            ad,
            "POST",
            "/admin/v1/terminals/{key_id}/suspend",
            &format!("/admin/v1/terminals/{key}/suspend"),
            None,
            bearer,
        )
        .await;
    assert_eq!(a.json["status"], "SUSPENDED");
    let suspended = Auth::Psw1(&key, &secret);
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=5",
            j(pay(&format!("{tag}_SUSP"), &code, "1.00")),
            suspended,
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"]["code"].as_str()),
        (403, Some("terminal_suspended"))
    );
    let a = live
        .call(
            ad,
            "POST",
            "/admin/v1/terminals/{key_id}/resume",
            &format!("/admin/v1/terminals/{key}/resume"),
            None,
            bearer,
        )
        .await;
    assert_eq!(a.json["status"], "ACTIVE");
    let a = live
        .call(
            t,
            "POST",
            p,
            "/v1/pay?wait=10",
            j(pay(&format!("{tag}_MINE"), &auth_code("0000"), "1.00")),
            suspended,
        )
        .await;
    assert!(a.json["gateway_out_trade_no"].is_string(), "{}", a.json);
    let rot = "/admin/v1/terminals/{key_id}/rotate";
    let a = live
        .call(
            ad,
            "POST",
            rot,
            &format!("/admin/v1/terminals/{key}/rotate"),
            None,
            bearer,
        )
        .await;
    assert_eq!(a.json["grace_secs"], 86400, "{}", a.json);
    let a = live
        .call(
            ad,
            "POST",
            rot,
            &format!("/admin/v1/terminals/{key}/rotate"),
            j(json!({"grace_secs": 60})),
            bearer,
        )
        .await;
    assert!(
        a.json["previous_secret_valid_until_ms"].is_i64(),
        "{}",
        a.json
    );
    let a = live
        .call(
            ad,
            "POST",
            rot,
            &format!("/admin/v1/terminals/{key}/rotate"),
            j(json!({"grace_secs": -1})),
            bearer,
        )
        .await;
    assert_eq!(a.json["error"]["field"], "grace_secs");
    let a = live
        .call(
            ad,
            "POST",
            rot,
            "/admin/v1/terminals/NOPE/rotate",
            None,
            bearer,
        )
        .await;
    assert_eq!(a.status, 404);

    // Every operation of the spec was seen answering at least once.
    let seen = live.seen.0.lock().unwrap().clone();
    for tag in ["terminal", "admin"] {
        for (m, path) in operations(&live.spec, tag) {
            assert!(
                seen.iter().any(|(sm, sp, _)| *sm == m && *sp == path),
                "{m} {path} was never exercised"
            );
            // A notification's success needs the gateway's RSA signature:
            // the simulator's deliveries (tests/flows.rs) cover it.
            if path == "/notify/alipay" {
                continue;
            }
            let ok = seen
                .iter()
                .any(|(sm, sp, s)| *sm == m && *sp == path && (200..300).contains(s));
            assert!(ok, "{m} {path} never answered a success");
        }
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}
