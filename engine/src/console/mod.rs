//! The operator console (docs/API.md §1.4, docs/ENGINE.md "The operator
//! console"): server-rendered HTML pages for operations staff under
//! `/console/` on the admin listener only, never on the terminal listener.
//!
//! Guarantees:
//! - Authentication is the admin API's: a bearer token (the
//!   `Authorization: Bearer` header on every page) or a session cookie made
//!   by logging in with one. The cookie holds a random session id; the
//!   console keeps only the id's sha256, the token's id (the first 8 hex
//!   digits of its sha256) and the token's digest, never the token. Without
//!   either, every page answers 401 with the login page and reads nothing.
//! - Every POST carries a CSRF token (an HMAC, under a key made at start, of
//!   the session (or the bearer token's digest) and the form's action),
//!   checked in constant time, and is refused when `Sec-Fetch-Site` says
//!   cross-site or `Origin` names another host than `Host`.
//! - Every change goes through the admin API's own code (suspend, resume,
//!   rotate) or the flows' (query again), and is journaled with the token's
//!   id; an explanation of a reconciliation difference is an event of its
//!   own (`console_recon_explained`). Nothing here moves money.
//! - Every text is escaped; auth codes appear masked to their last four
//!   digits at most; secrets never (a rotated secret is shown once, in the
//!   answer of the rotation).
//! - No JavaScript, no resource from the network: one page, one request.
//!
//! Bounds: [`MAX_SESSIONS`] sessions of [`SESSION_TTL_MS`] each; lists are
//! capped at [`MAX_ROWS`] rows.

mod health;
pub mod html;
mod queues;
mod registry;
mod trades;

use std::collections::HashMap;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::admin::{Admin, Caller};
use crate::api::routes::{self, RouteMatch};
use crate::recon::Lang;
use crate::trade::now_ms;
use html::{esc, page, tr};

/// Every route of the console (dispatched through [`routes::find`], as the
/// API's tables are).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/console/"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
    ("POST", "/console/logout"),
    ("GET", "/console/trades"),
    ("GET", "/console/trades/{out_trade_no}"),
    ("POST", "/console/trades/{out_trade_no}/query"),
    ("GET", "/console/queues"),
    ("GET", "/console/recon"),
    ("POST", "/console/recon/{date}/explain"),
    ("POST", "/console/recon/{date}/rerun"),
    ("GET", "/console/merchants"),
    ("POST", "/console/merchants/{external_id}/suspend"),
    ("POST", "/console/merchants/{external_id}/resume"),
    ("GET", "/console/terminals"),
    ("POST", "/console/terminals/{key_id}/suspend"),
    ("POST", "/console/terminals/{key_id}/resume"),
    ("POST", "/console/terminals/{key_id}/rotate"),
];

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "psw_console";
/// The language cookie's name (`en` or `zh`, set by `?lang=`).
pub const LANG_COOKIE: &str = "psw_lang";
/// Sessions kept at most; past it the one closest to expiry goes.
pub const MAX_SESSIONS: usize = 1024;
/// How long a session lasts (8 hours: a shift).
pub const SESSION_TTL_MS: i64 = 8 * 3600 * 1000;
/// Rows of a list page at most.
pub const MAX_ROWS: usize = 200;

type HmacSha256 = Hmac<Sha256>;
type Page = Response<Full<Bytes>>;

struct Session {
    token_digest: [u8; 32],
    token_id: String,
    expires_ms: i64,
}

/// The console's state: the sessions and the CSRF key (both die with the
/// process: a restart logs everyone out).
pub struct Console {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    csrf_key: [u8; 32],
    health: health::Rates,
}

impl Default for Console {
    fn default() -> Self {
        Console::new()
    }
}

/// Who is asking, and how the page should speak.
pub(crate) struct Ctx {
    pub lang: Lang,
    pub caller: Caller,
    /// What the CSRF tokens are bound to (the session id's sha256, or the
    /// bearer token's digest).
    binding: [u8; 32],
    /// The query string's pairs.
    pub query: HashMap<String, String>,
    csrf_key: [u8; 32],
}

impl Ctx {
    /// The CSRF token of a form posting to `action`.
    pub fn csrf(&self, action: &str) -> String {
        csrf_token(&self.csrf_key, &self.binding, action)
    }

    /// A query parameter, trimmed; None when absent or empty.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .get(k)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// The English or the Chinese text.
    pub fn t(&self, en: &'static str, zh: &'static str) -> &'static str {
        tr(self.lang, en, zh)
    }

    /// A whole page with the menu.
    pub fn page(&self, title: &str, body: &str) -> Page {
        html_response(
            StatusCode::OK,
            page(self.lang, title, body, Some(&self.csrf("/console/logout"))),
        )
    }

    /// A page saying what went wrong (escaped), with `status`.
    pub fn error(&self, status: StatusCode, msg: &str) -> Page {
        let body = format!("<p class=\"bad\">{}</p>", esc(msg));
        let mut r = self.page(self.t("Error", "错误"), &body);
        *r.status_mut() = status;
        r
    }
}

fn csrf_token(key: &[u8; 32], binding: &[u8; 32], action: &str) -> String {
    let Ok(mut m) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    m.update(binding);
    m.update(b"\n");
    m.update(action.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Constant-time equality of two strings' bytes.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// An HTML answer with the console's security headers.
pub(crate) fn html_response(status: StatusCode, body: String) -> Page {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    r
}

/// A 303 to `to` (after a POST: the browser GETs the result page).
pub(crate) fn see_other(to: &str) -> Page {
    let mut r = html_response(StatusCode::SEE_OTHER, String::new());
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// The cookies of a request, by name.
fn cookies(h: &HeaderMap) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for v in h.get_all(http::header::COOKIE) {
        let Ok(s) = v.to_str() else { continue };
        for part in s.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                out.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    out
}

/// The pairs of a query string or form body.
pub(crate) fn pairs(s: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(s).into_owned().collect()
}

/// The page's language: `?lang=`, else the cookie, else Accept-Language.
fn language(query: &HashMap<String, String>, h: &HeaderMap) -> Lang {
    if let Some(l) = query.get("lang").and_then(|s| Lang::parse(s)) {
        return l;
    }
    if let Some(l) = cookies(h).get(LANG_COOKIE).and_then(|s| Lang::parse(s)) {
        return l;
    }
    let accept = h
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.trim_start().to_ascii_lowercase().starts_with("zh") {
        Lang::Zh
    } else {
        Lang::En
    }
}

/// Whether the request came over TLS (a proxy in front says so with
/// `X-Forwarded-Proto: https`): the cookies are then `Secure`.
fn over_tls(h: &HeaderMap) -> bool {
    h.get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Whether a POST may be from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none`, or an `Origin` whose host is not `Host`.
fn cross_site(h: &HeaderMap) -> bool {
    if let Some(s) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if s != "same-origin" && s != "none" {
            return true;
        }
    }
    if let Some(o) = h.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = h
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .unwrap_or("");
        if o == "null" || host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return true;
        }
    }
    false
}

impl Console {
    /// A console with no session and a fresh CSRF key.
    pub fn new() -> Console {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Console {
            sessions: Mutex::new(HashMap::new()),
            csrf_key: k,
            health: health::Rates::default(),
        }
    }

    /// Whether `path` is the console's (`/console` and below).
    pub fn owns(path: &str) -> bool {
        path == "/console" || path.starts_with("/console/")
    }

    fn session(&self, sid_hex: &str) -> Option<([u8; 32], [u8; 32], String)> {
        let sid = hex::decode(sid_hex).ok().filter(|s| s.len() == 32)?;
        let key: [u8; 32] = Sha256::digest(&sid).into();
        let now = now_ms();
        let mut s = self.sessions.lock();
        match s.get(&key) {
            Some(x) if x.expires_ms > now => Some((key, x.token_digest, x.token_id.clone())),
            Some(_) => {
                s.remove(&key);
                None
            }
            None => None,
        }
    }

    fn new_session(&self, token_digest: [u8; 32], token_id: String) -> String {
        let mut sid = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut sid);
        let key: [u8; 32] = Sha256::digest(sid).into();
        let now = now_ms();
        let mut s = self.sessions.lock();
        s.retain(|_, x| x.expires_ms > now);
        if s.len() >= MAX_SESSIONS {
            if let Some(k) = s.iter().min_by_key(|(_, x)| x.expires_ms).map(|(k, _)| *k) {
                s.remove(&k);
            }
        }
        s.insert(
            key,
            Session {
                token_digest,
                token_id,
                expires_ms: now + SESSION_TTL_MS,
            },
        );
        hex::encode(sid)
    }

    /// The login page (401 unless `status` says otherwise), with `msg`.
    fn login_page(&self, lang: Lang, status: StatusCode, msg: Option<&str>) -> Page {
        let mut body = String::new();
        if let Some(m) = msg {
            body += &format!("<p class=\"bad\">{}</p>", esc(m));
        }
        body += &format!(
            "<form method=\"post\" action=\"/console/login\"><p><label>{} <input type=\"password\" name=\"token\" autocomplete=\"off\" required size=\"48\"></label></p>\
             <p><button type=\"submit\">{}</button></p></form><p>{}</p>",
            tr(lang, "Admin token", "管理令牌"),
            tr(lang, "Log in", "登录"),
            tr(
                lang,
                "The token of the admin API ([admin] token_sha256). Pages also accept Authorization: Bearer.",
                "即管理接口的令牌（[admin] token_sha256）。各页面也接受 Authorization: Bearer 请求头。"
            ),
        );
        html_response(status, page(lang, tr(lang, "Log in", "登录"), &body, None))
    }

    /// Serves one console request (the admin listener routes `/console`
    /// and below here).
    pub(crate) async fn handle(
        &self,
        admin: &Admin,
        req: http::Request<hyper::body::Incoming>,
    ) -> Page {
        let path = req.uri().path().to_owned();
        let query = pairs(req.uri().query().unwrap_or("").as_bytes());
        let lang = language(&query, req.headers());
        let set_lang = query.get("lang").and_then(|s| Lang::parse(s)).is_some();
        let mut resp = self.serve(admin, req, &path, query, lang).await;
        if set_lang {
            let v = format!(
                "{LANG_COOKIE}={}; Path=/console; SameSite=Strict; Max-Age=31536000",
                match lang {
                    Lang::En => "en",
                    Lang::Zh => "zh",
                }
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().append(http::header::SET_COOKIE, v);
            }
        }
        routes::with_allow(resp, ROUTES, &path)
    }

    async fn serve(
        &self,
        admin: &Admin,
        req: http::Request<hyper::body::Incoming>,
        path: &str,
        query: HashMap<String, String>,
        lang: Lang,
    ) -> Page {
        if path == "/console" {
            return see_other("/console/");
        }
        let method = req.method().clone();
        let found = routes::find(ROUTES, method.as_str(), path);
        let (template, params): (&str, Vec<String>) = match found {
            RouteMatch::Found(t, p) => (t, p.into_iter().map(str::to_owned).collect()),
            RouteMatch::WrongMethod => {
                return html_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    page(lang, tr(lang, "Method not allowed", "方法不允许"), "", None),
                )
            }
            RouteMatch::NoRoute => {
                return html_response(
                    StatusCode::NOT_FOUND,
                    page(lang, tr(lang, "No such page", "没有这个页面"), "", None),
                )
            }
        };
        let headers = req.headers().clone();
        let tls = over_tls(&headers);
        if method == Method::POST && cross_site(&headers) {
            return html_response(
                StatusCode::FORBIDDEN,
                page(
                    lang,
                    tr(lang, "Refused: cross-site request", "已拒绝：跨站请求"),
                    "",
                    None,
                ),
            );
        }
        let (parts, body) = match admin.api.read_body(req).await {
            Ok(x) => x,
            Err(e) => {
                return html_response(e.status, page(lang, &e.message, "", None));
            }
        };
        let _ = parts;
        let form = pairs(&body);
        if template == "/console/login" && method == Method::POST {
            return self.login(admin, lang, &form, tls);
        }
        // Who: the Authorization header, else the session cookie.
        let auth_header = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let who = match auth_header {
            Some(h) => match admin.authorize(Some(h)) {
                Ok(c) => {
                    let token = h.strip_prefix("Bearer ").unwrap_or("").trim();
                    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                    Some((c, digest))
                }
                Err(_) => None,
            },
            None => cookies(&headers)
                .get(SESSION_COOKIE)
                .and_then(|sid| self.session(sid))
                .filter(|(_, digest, _)| admin.accepts_digest(digest))
                .map(|(key, _, token_id)| (Caller { token_id }, key)),
        };
        let Some((caller, binding)) = who else {
            let msg = (auth_header.is_some() || cookies(&headers).contains_key(SESSION_COOKIE))
                .then(|| {
                    tr(
                        lang,
                        "The token or session is not accepted.",
                        "令牌或会话无效。",
                    )
                });
            return self.login_page(lang, StatusCode::UNAUTHORIZED, msg);
        };
        let ctx = Ctx {
            lang,
            caller,
            binding,
            query,
            csrf_key: self.csrf_key,
        };
        if method == Method::POST {
            let sent = form.get("csrf").map(String::as_str).unwrap_or("");
            if !same(sent, &ctx.csrf(path)) {
                return ctx.error(
                    StatusCode::FORBIDDEN,
                    ctx.t(
                        "Refused: the form's CSRF token is missing or wrong. Reload the page and try again.",
                        "已拒绝：表单的 CSRF 令牌缺失或错误。请刷新页面后重试。",
                    ),
                );
            }
        }
        let p = |i: usize| params.get(i).and_then(|s| html::dec(s)).unwrap_or_default();
        match template {
            "/console/login" => see_other("/console/"),
            "/console/logout" => self.logout(&headers, tls),
            "/console/" => self.overview(admin, &ctx).await,
            "/console/trades" => trades::search(admin, &ctx).await,
            "/console/trades/{out_trade_no}" => trades::show(admin, &ctx, &p(0)).await,
            "/console/trades/{out_trade_no}/query" => trades::query_again(admin, &ctx, &p(0)).await,
            "/console/queues" => queues::queues(admin, &ctx).await,
            "/console/recon" => queues::recon(admin, &ctx).await,
            "/console/recon/{date}/explain" => queues::explain(admin, &ctx, &p(0), &form).await,
            "/console/recon/{date}/rerun" => queues::rerun(admin, &ctx, &p(0)).await,
            "/console/merchants" => registry::merchants(admin, &ctx),
            "/console/merchants/{external_id}/suspend" => {
                registry::merchant_status(admin, &ctx, &p(0), true).await
            }
            "/console/merchants/{external_id}/resume" => {
                registry::merchant_status(admin, &ctx, &p(0), false).await
            }
            "/console/terminals" => registry::terminals(admin, &ctx),
            "/console/terminals/{key_id}/suspend" => {
                registry::terminal_status(admin, &ctx, &p(0), true).await
            }
            "/console/terminals/{key_id}/resume" => {
                registry::terminal_status(admin, &ctx, &p(0), false).await
            }
            "/console/terminals/{key_id}/rotate" => {
                registry::rotate(admin, &ctx, &p(0), &form).await
            }
            _ => ctx.error(StatusCode::NOT_FOUND, ctx.t("No such page", "没有这个页面")),
        }
    }

    fn login(&self, admin: &Admin, lang: Lang, form: &HashMap<String, String>, tls: bool) -> Page {
        let token = form.get("token").map(|s| s.trim()).unwrap_or("");
        let header = format!("Bearer {token}");
        let caller = match admin.authorize(Some(&header)) {
            Ok(c) if !token.is_empty() => c,
            _ => {
                tracing::info!("console login refused");
                return self.login_page(
                    lang,
                    StatusCode::UNAUTHORIZED,
                    Some(tr(lang, "The token is not accepted.", "令牌无效。")),
                );
            }
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        tracing::info!(token = %caller.token_id, "console login");
        let sid = self.new_session(digest, caller.token_id);
        let mut r = see_other("/console/");
        let secure = if tls { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={sid}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            SESSION_TTL_MS / 1000
        )) {
            r.headers_mut().append(http::header::SET_COOKIE, v);
        }
        r
    }

    fn logout(&self, headers: &HeaderMap, tls: bool) -> Page {
        if let Some(sid) = cookies(headers).get(SESSION_COOKIE) {
            if let Some((key, _, _)) = self.session(sid) {
                self.sessions.lock().remove(&key);
            }
        }
        let mut r = see_other("/console/login");
        let secure = if tls { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        )) {
            r.headers_mut().append(http::header::SET_COOKIE, v);
        }
        r
    }

    async fn overview(&self, admin: &Admin, ctx: &Ctx) -> Page {
        let body = health::overview(admin, ctx, &self.health).await;
        ctx.page(ctx.t("Overview", "总览"), &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_the_form() {
        let k = [7u8; 32];
        let a = csrf_token(&k, &[1; 32], "/console/terminals/T1/suspend");
        assert_eq!(a, csrf_token(&k, &[1; 32], "/console/terminals/T1/suspend"));
        assert_ne!(a, csrf_token(&k, &[2; 32], "/console/terminals/T1/suspend"));
        assert_ne!(a, csrf_token(&k, &[1; 32], "/console/terminals/T1/resume"));
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, ""));
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::HOST,
            HeaderValue::from_static("127.0.0.1:8081"),
        );
        assert!(!cross_site(&h));
        h.insert(
            http::header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8081"),
        );
        assert!(!cross_site(&h));
        h.insert(
            http::header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(cross_site(&h));
        h.remove(http::header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h));
    }
}
