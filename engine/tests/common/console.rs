//! The operator console as its tests drive it (engine/tests/console.rs and
//! the browser test, loadgen/tests/console_browser.rs): a switch whose
//! operator listener holds a registry key, console requests by cookie or
//! bearer token, the login form, forms posted with their CSRF token, and
//! the journal's record of what the console did.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{free_port, http_client, switch_with, Term, OPS_TOKEN};

/// A console answer: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// How a console request is authenticated.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// A `Cookie` header's value, e.g. `psw_console=...`.
    Cookie(&'a str),
}

/// `fields` as an `application/x-www-form-urlencoded` body.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

/// A console request to `admin` (the operator listener's base URL): a form
/// body when `form` is given, `extra` headers.
pub async fn console(
    admin: &str,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    form: Option<&[(&str, &str)]>,
    extra: &[(&str, &str)],
) -> Answer {
    let c = http_client();
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("{admin}{path}"));
    match auth {
        Auth::None => {}
        Auth::Bearer(t) => b = b.header("authorization", format!("Bearer {t}")),
        Auth::Cookie(c) => b = b.header("cookie", c),
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    let body = match form {
        Some(f) => {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            form_body(f)
        }
        None => String::new(),
    };
    let req = b.body(Full::new(Bytes::from(body))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(60), c.request(req))
        .await
        .expect("the console answers in time")
        .expect("the console answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// GET a console page.
pub async fn get(admin: &str, path: &str, auth: Auth<'_>) -> Answer {
    console(admin, "GET", path, auth, None, &[]).await
}

/// POSTs the login form with `token` (and `extra` headers): the answer as
/// it came (303 with the session cookie for the right token).
pub async fn login_form(admin: &str, token: &str, extra: &[(&str, &str)]) -> Answer {
    console(
        admin,
        "POST",
        "/console/login",
        Auth::None,
        Some(&[("token", token)]),
        extra,
    )
    .await
}

/// The `name=value` part of a console answer's `Set-Cookie`.
pub fn session_of(a: &Answer) -> String {
    let cookie = a
        .headers
        .get("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {} {}", a.status, a.body))
        .to_str()
        .unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// Logs in through the form with the tests' admin token: the session
/// cookie (`psw_console=...`) to send back.
pub async fn login(admin: &str) -> String {
    let a = login_form(admin, OPS_TOKEN, &[]).await;
    assert_eq!(a.status, 303, "the login: {}", a.body);
    session_of(&a)
}

/// The CSRF token of the form posting to `action` on `page`.
pub fn csrf_of(page: &str, action: &str) -> String {
    let marker = format!("action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"");
    let i = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no form to {action} on the page:\n{page}"))
        + marker.len();
    page[i..].split('"').next().unwrap().to_owned()
}

/// POSTs the form of `page` that goes to `action` with its CSRF token.
pub async fn post_form(
    admin: &str,
    page: &str,
    action: &str,
    auth: Auth<'_>,
    fields: &[(&str, &str)],
) -> Answer {
    let csrf = csrf_of(page, action);
    let mut f: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    f.extend_from_slice(fields);
    console(admin, "POST", action, auth, Some(&f), &[]).await
}

/// Whether `a` is the 401 login page.
pub fn is_login_page(a: &Answer) -> bool {
    a.status == 401
        && a.body.contains("action=\"/console/login\"")
        && a.body.contains("name=\"token\"")
}

/// POSTs `body` as JSON to `url` (the admin API with `bearer`, the
/// simulator's control API without): the status and the JSON answer.
pub async fn post_json(url: &str, body: &Value, bearer: Option<&str>) -> (u16, Value) {
    let c = http_client();
    let mut b = http::Request::post(url).header("content-type", "application/json");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), c.request(req))
        .await
        .expect("answers in time")
        .expect("answers");
    let s = resp.status().as_u16();
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

/// A registry key (0600) in `dir`, for a config's `[admin] secret_key_file
/// = "registry.key"`.
pub fn write_registry_key(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("registry.key");
    std::fs::write(&p, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The switch in-process against `sim`, with an operator listener that
/// holds a registry key (so that terminals can be created and rotated):
/// the running switch, its terminal base URL and its admin base URL.
pub async fn console_switch(
    dir: &Path,
    sim: &simulator::SimHandle,
) -> (engine::Running, String, String) {
    write_registry_key(dir);
    let (r, base) = switch_with(dir, sim, "", |s| {
        s + &format!(
            "\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"registry.key\"\n",
            free_port(),
            hex::encode(Sha256::digest(OPS_TOKEN.as_bytes()))
        )
    })
    .await;
    let admin = format!("http://{}", r.admin_addr().unwrap());
    (r, base, admin)
}

/// The events the console's actions journaled under the admin app for
/// `subject` (`recon/<date>`, `terminal/<key_id>`), oldest first.
pub async fn admin_events(sw: &engine::Running, subject: &str) -> Vec<engine::store::Event> {
    let store = sw.store();
    let subject = subject.to_owned();
    tokio::task::spawn_blocking(move || store.events("admin", &subject))
        .await
        .unwrap()
        .unwrap()
}

/// The last explanation of a reconciliation difference journaled for
/// `date` (a `console_recon_explained` event): its detail (`note`,
/// `out_trade_no`, `token`, ...) and its time.
pub async fn explained_note(sw: &engine::Running, date: &str) -> (Value, i64) {
    let events = admin_events(sw, &format!("recon/{date}")).await;
    let e = events
        .iter()
        .rev()
        .find(|e| e.kind == "console_recon_explained")
        .unwrap_or_else(|| panic!("no explanation journaled for {date}: {events:?}"));
    (serde_json::from_str(&e.detail).unwrap(), e.at_ms)
}

/// A merchant for the admin API's POST /admin/v1/merchants.
pub fn merchant_body(external_id: &str) -> Value {
    serde_json::json!({
        "external_id": external_id, "name": "上海测试便利店", "alias_name": "测试店",
        "service_phone": "021-12345678", "category_id": "2015050700000000",
        "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000"}],
        "address_info": [{"province_code": "310000", "city_code": "310100",
                          "district_code": "310104", "address": "漕溪北路1号"}],
        "service_codes": ["F2F"],
        "gateway_fee_bps": 38, "merchant_fee_bps": 60,
    })
}

/// Onboards through the admin API a merchant `merchant` (with
/// [`merchant_body`]), its store `store_id` and a terminal `terminal_id`
/// (1000 payments a second): that terminal, signing with the secret the
/// API answered, against the terminal listener `base`.
pub async fn onboard_terminal(
    admin: &str,
    base: &str,
    merchant: &str,
    store_id: &str,
    terminal_id: &str,
) -> Term {
    let (s, v) = post_json(
        &format!("{admin}/admin/v1/merchants"),
        &merchant_body(merchant),
        Some(OPS_TOKEN),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post_json(
        &format!("{admin}/admin/v1/merchants/{merchant}/stores"),
        &serde_json::json!({"store_id": store_id, "name": "测试店"}),
        Some(OPS_TOKEN),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post_json(
        &format!("{admin}/admin/v1/merchants/{merchant}/terminals"),
        &serde_json::json!({"store_id": store_id, "terminal_id": terminal_id, "rate_per_sec": 1000}),
        Some(OPS_TOKEN),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let mut term = Term::new(base);
    term.key = v["key_id"].as_str().unwrap().to_owned();
    term.secret = hex::decode(v["secret_hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    term
}
