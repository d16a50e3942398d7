//! The route tables of the two listeners, and the one matcher both routers
//! dispatch through: a handler is reachable only through a row of its table,
//! so the tables are exactly what is served (docs/openapi.yaml is checked
//! against them by engine/tests/openapi.rs).
//!
//! A row is (method, path template); a `{name}` segment matches any one
//! segment (as sent: not percent-decoded; empty too, which the handler then
//! refuses with 400 naming the parameter).

/// Every route of the terminal listener.
pub const TERMINAL_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("POST", "/notify/alipay"),
    ("POST", "/v1/pay"),
    ("POST", "/v1/precreate"),
    ("GET", "/v1/trades/{out_trade_no}"),
    ("POST", "/v1/trades/{out_trade_no}/cancel"),
    ("POST", "/v1/trades/{out_trade_no}/close"),
    ("POST", "/v1/trades/{out_trade_no}/refunds"),
    ("GET", "/v1/trades/{out_trade_no}/refunds/{out_request_no}"),
];

/// Every route of the admin (operator) listener.
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/admin/v1/merchants"),
    ("GET", "/admin/v1/merchants"),
    ("GET", "/admin/v1/merchants/{external_id}"),
    ("PATCH", "/admin/v1/merchants/{external_id}"),
    ("POST", "/admin/v1/merchants/{external_id}/suspend"),
    ("POST", "/admin/v1/merchants/{external_id}/resume"),
    ("POST", "/admin/v1/merchants/{external_id}/stores"),
    ("POST", "/admin/v1/merchants/{external_id}/terminals"),
    ("GET", "/admin/v1/terminals/{key_id}"),
    ("POST", "/admin/v1/terminals/{key_id}/suspend"),
    ("POST", "/admin/v1/terminals/{key_id}/resume"),
    ("POST", "/admin/v1/terminals/{key_id}/rotate"),
];

/// What a request's method and path are in a table.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    /// The row's template and the values of its `{name}` segments, in order.
    Found(&'static str, Vec<&'a str>),
    /// The path is a row's, the method is not.
    WrongMethod,
    /// No row has this path.
    NoRoute,
}

fn path_params<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut params = Vec::new();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if ts.starts_with('{') && ts.ends_with('}') {
                    params.push(ps);
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// Finds `method path` in `table` (the first row whose template and method
/// match); a path some row has under another method is [`RouteMatch::WrongMethod`].
pub fn find<'a>(
    table: &'static [(&'static str, &'static str)],
    method: &str,
    path: &'a str,
) -> RouteMatch<'a> {
    let mut path_known = false;
    for (m, template) in table {
        if let Some(params) = path_params(template, path) {
            if *m == method {
                return RouteMatch::Found(template, params);
            }
            path_known = true;
        }
    }
    if path_known {
        RouteMatch::WrongMethod
    } else {
        RouteMatch::NoRoute
    }
}

/// The methods `table` serves on `path`, for the `Allow` header of a 405
/// (RFC 9110 15.5.6); None when it serves none.
pub fn allowed(table: &'static [(&'static str, &'static str)], path: &str) -> Option<String> {
    let methods: Vec<&str> = table
        .iter()
        .filter(|(_, t)| path_params(t, path).is_some())
        .map(|(m, _)| *m)
        .collect();
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// Adds the `Allow` header to a 405 answer.
pub(crate) fn with_allow<B>(
    mut resp: http::Response<B>,
    table: &'static [(&'static str, &'static str)],
    path: &str,
) -> http::Response<B> {
    if resp.status() == http::StatusCode::METHOD_NOT_ALLOWED {
        if let Some(v) = allowed(table, path).and_then(|a| http::HeaderValue::from_str(&a).ok()) {
            resp.headers_mut().insert(http::header::ALLOW, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates() {
        assert_eq!(
            find(TERMINAL_ROUTES, "GET", "/v1/trades/A1/refunds/R1"),
            RouteMatch::Found(
                "/v1/trades/{out_trade_no}/refunds/{out_request_no}",
                vec!["A1", "R1"]
            )
        );
        assert_eq!(
            find(TERMINAL_ROUTES, "GET", "/v1/trades/"),
            RouteMatch::Found("/v1/trades/{out_trade_no}", vec![""])
        );
        assert_eq!(
            find(TERMINAL_ROUTES, "DELETE", "/v1/trades/A1"),
            RouteMatch::WrongMethod
        );
        assert_eq!(
            find(TERMINAL_ROUTES, "GET", "/v1/trades/A1/x"),
            RouteMatch::NoRoute
        );
        assert_eq!(
            find(TERMINAL_ROUTES, "GET", "/v1/pay/"),
            RouteMatch::NoRoute
        );
        assert_eq!(
            find(ADMIN_ROUTES, "PUT", "/admin/v1/merchants"),
            RouteMatch::WrongMethod
        );
        assert_eq!(
            allowed(ADMIN_ROUTES, "/admin/v1/merchants/M1").as_deref(),
            Some("GET, PATCH")
        );
        assert_eq!(allowed(TERMINAL_ROUTES, "/v1/nothing"), None);
    }

    #[test]
    fn no_two_rows_overlap() {
        for table in [TERMINAL_ROUTES, ADMIN_ROUTES] {
            for (i, a) in table.iter().enumerate() {
                for b in &table[i + 1..] {
                    let sample: Vec<&str> =
                        a.1.split('/')
                            .map(|s| if s.starts_with('{') { "x" } else { s })
                            .collect();
                    let sample = sample.join("/");
                    assert!(
                        !(a.0 == b.0 && path_params(b.1, &sample).is_some()),
                        "{a:?} and {b:?} overlap"
                    );
                }
            }
        }
    }
}
