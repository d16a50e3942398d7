//! The strings that RSA2 signatures cover (docs/PROTOCOL.md §1.2 and §3.2).
//!
//! Requests: every parameter but `sign`, empty values left out, sorted by key
//! bytes, `k=v` joined by `&`, values raw (not URL-encoded).
//! Notifications: the same, without `sign_type` as well.
//! The builders take borrowed pairs and allocate one output string.

/// Which parameters a sign string leaves out besides empty values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignScope {
    /// A gateway request: leaves out `sign` only (`sign_type` is signed).
    Request,
    /// An asynchronous notification (Java `rsaCheckV1`): leaves out `sign` and `sign_type`.
    Notification,
}

impl SignScope {
    fn excludes(self, key: &str) -> bool {
        match self {
            SignScope::Request => key == "sign",
            SignScope::Notification => key == "sign" || key == "sign_type",
        }
    }
}

/// Builds the sign string of `params` for `scope`.
///
/// Keys are compared as bytes (ASCII order, as Java's `TreeMap` does). When a
/// key occurs twice both pairs are kept, in the order given.
pub fn sign_content<'a, I>(scope: SignScope, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut kept: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !scope.excludes(k))
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let len: usize = kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (k, v)) in kept.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The sign string of a gateway request ([`SignScope::Request`]): what the
/// app signs and the gateway (or the simulator) verifies.
pub fn request_sign_content<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    sign_content(SignScope::Request, params)
}

/// The sign string of an asynchronous notification
/// ([`SignScope::Notification`]): what the gateway signs and the switch
/// verifies.
pub fn notification_sign_content<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    sign_content(SignScope::Notification, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_skips() {
        let p = [
            ("method", "alipay.trade.pay"),
            ("app_id", "2021"),
            ("sign", "xyz"),
            ("notify_url", ""),
            ("sign_type", "RSA2"),
            ("biz_content", "{\"a\":\"b c&d\"}"),
        ];
        assert_eq!(
            request_sign_content(p),
            "app_id=2021&biz_content={\"a\":\"b c&d\"}&method=alipay.trade.pay&sign_type=RSA2"
        );
        assert_eq!(
            notification_sign_content(p),
            "app_id=2021&biz_content={\"a\":\"b c&d\"}&method=alipay.trade.pay"
        );
    }

    #[test]
    fn byte_order_not_locale_order() {
        let p = [("b", "1"), ("B", "2"), ("a_b", "3"), ("ab", "4")];
        assert_eq!(request_sign_content(p), "B=2&a_b=3&ab=4&b=1");
    }
}
