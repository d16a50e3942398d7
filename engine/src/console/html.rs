//! The console's HTML: escaping, the page frame, small builders, the two
//! languages. Every text that reaches a page goes through [`esc`] (or
//! [`attr`] inside an attribute); nothing else writes markup.

use std::fmt::Write as _;

use crate::recon::Lang;

/// `s` escaped for HTML text and for double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The same as [`esc`] (named for where it is used: attribute values).
pub fn attr(s: &str) -> String {
    esc(s)
}

/// `s` percent-encoded for one path segment or query value (everything but
/// letters, digits, `-`, `_`, `.`, `~`).
pub fn enc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            o.push(char::from(b));
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// A percent-encoded path segment decoded; None when it is not valid
/// percent-encoding of UTF-8.
pub fn dec(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The English or the Chinese text.
pub fn tr(l: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match l {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

const STYLE: &str = "body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:0;color:#222}\
header{background:#1f3a5f;color:#fff;padding:.5em 1em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}\
header a{color:#fff;text-decoration:none}header form{margin:0}\
main{padding:1em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top;font-size:.9em}\
th{background:#eef}code,pre{font-family:ui-monospace,monospace;font-size:.85em;white-space:pre-wrap;word-break:break-all}\
.ok{color:#0a6d2c}.bad{color:#b00020}.warn{color:#9a6700}.note{background:#ffd;padding:.5em;border:1px solid #cc9}\
form.inline{display:inline}input,select,textarea,button{font-size:.9em}label{margin-right:.8em}";

/// A whole page: the header (menu, language switch, logout when logged in),
/// `title`, then `body` (markup already escaped by its builder).
pub fn page(l: Lang, title: &str, body: &str, logout_csrf: Option<&str>) -> String {
    let mut h = String::with_capacity(body.len() + 2048);
    let lang = match l {
        Lang::En => "en",
        Lang::Zh => "zh-CN",
    };
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · payswitch</title><style>{STYLE}</style></head><body><header>\
         <strong>payswitch {}</strong>",
        esc(title),
        tr(l, "console", "运营控制台")
    );
    if let Some(csrf) = logout_csrf {
        for (href, en, zh) in [
            ("/console/", "Overview", "总览"),
            ("/console/trades", "Trades", "交易"),
            ("/console/queues", "Work queues", "待办"),
            ("/console/recon", "Reconciliation", "对账"),
            ("/console/merchants", "Merchants", "商户"),
            ("/console/terminals", "Terminals", "终端"),
        ] {
            let _ = write!(h, "<a href=\"{href}\">{}</a>", tr(l, en, zh));
        }
        let _ = write!(
            h,
            "<form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">{}</button></form>",
            attr(csrf),
            tr(l, "Log out", "退出")
        );
    }
    let _ = write!(
        h,
        "<span><a href=\"?lang=en\">English</a> · <a href=\"?lang=zh\">中文</a></span></header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    h
}

/// A table: the header cells (text, escaped here), then rows of cells
/// given as markup (escape their text with [`esc`]).
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><tr>");
    for c in head {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

/// A POST form of one button (plus `extra` markup: fields), carrying the
/// CSRF token of `action`.
pub fn post_button(action: &str, csrf: &str, label: &str, extra: &str) -> String {
    format!(
        "<form class=\"inline\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{extra}<button type=\"submit\">{}</button></form>",
        attr(action),
        attr(csrf),
        esc(label)
    )
}

/// A JSON value as markup: an object as one `key: value` line per field
/// (escaped), anything else as its JSON text.
pub fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            let mut h = String::new();
            for (k, x) in m {
                let x = match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = write!(h, "{}: {}<br>", esc(k), esc(&x));
            }
            h
        }
        serde_json::Value::Null => String::new(),
        other => format!("<code>{}</code>", esc(&other.to_string())),
    }
}

/// A link to the trade page of `out_trade_no` (the gateway's), its text
/// `text`.
pub fn trade_link(out_trade_no: &str, text: &str) -> String {
    format!(
        "<a href=\"/console/trades/{}\">{}</a>",
        enc(out_trade_no),
        esc(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(enc("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(dec("a%20b%2Fc%25").as_deref(), Some("a b/c%"));
        assert_eq!(dec("%zz"), None);
        assert_eq!(dec(&enc("商户-1")).as_deref(), Some("商户-1"));
    }
}
