//! The HTML rendering of a [`Document`]: one self-contained file, inline
//! CSS, inline SVG plots, no script and no external resource, so it opens
//! anywhere (and can be mailed to a reviewer as is).
//!
//! Guarantees: it knows nothing of what the document is about; every text
//! of the document is HTML-escaped (the plots are the document's own SVG,
//! inlined as they are); the verdict is the first thing on the page; each
//! section's heading carries the section's id as its anchor.

use std::fmt::Write as _;

use super::doc::{Align, Block, Cell, Document, Inline, Table, Tone};

/// Escapes text for HTML (element content and quoted attribute values):
/// `<`, `>`, `&`, `"` and `'`. Also used by the acceptance checklist.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI','PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#222}\
h1{font-size:26px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}\
table{border-collapse:collapse;margin:8px 0;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}\
td.n,th.n{text-align:right}th{background:#f5f5f5}\
.pass{color:#1b5e20;font-weight:bold}.fail{color:#b71c1c;font-weight:bold}\
.verdict{padding:14px 18px;border-radius:6px;margin:12px 0;font-size:18px}\
.verdict.pass{background:#e8f5e9;border:2px solid #2e7d32}.verdict.fail{background:#ffebee;border:2px solid #c62828}\
.plot svg{max-width:100%;height:auto}.note{color:#555;font-size:14px}";

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Pass => "pass",
        Tone::Fail => "fail",
    }
}

/// Renders the document as one HTML page (`report.html`): the title and
/// the verdict first, then each section with its id as anchor; the plots
/// are inlined as their SVG.
pub fn render(doc: &Document) -> String {
    let mut o = String::with_capacity(200_000);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{} {}</title><style>{CSS}</style></head><body>",
        esc(&doc.lang),
        esc(&doc.title),
        esc(&doc.id)
    );
    let _ = write!(
        o,
        "<h1>{} <span class=note>{}</span></h1><div class=\"verdict {}\">{}: {}</div>",
        esc(&doc.title),
        esc(&doc.date),
        tone_class(doc.verdict.tone),
        esc(&doc.verdict.label),
        esc(&doc.verdict.text)
    );
    for s in &doc.sections {
        let _ = write!(o, "<h2 id=\"{}\">{}</h2>", esc(s.id), esc(&s.title));
        for b in &s.blocks {
            block(&mut o, b);
        }
    }
    o.push_str("</body></html>\n");
    o
}

fn block(o: &mut String, b: &Block) {
    match b {
        Block::Paragraph(i) => {
            let _ = write!(o, "<p>{}</p>", inlines(i));
        }
        Block::Note(i) => {
            let _ = write!(o, "<p class=note>{}</p>", inlines(i));
        }
        Block::Heading(h) => {
            let _ = write!(o, "<h3>{}</h3>", esc(h));
        }
        Block::Figure(f) => {
            let _ = write!(o, "<div class=plot>{}</div>", f.svg);
        }
        Block::List(l) => {
            o.push_str("<ul>");
            let open = match l.tone {
                Some(t) => format!("<li class={}>", tone_class(t)),
                None => "<li>".to_string(),
            };
            for item in &l.items {
                let _ = write!(o, "{open}{}</li>", inlines(item));
            }
            o.push_str("</ul>");
        }
        Block::KeyValue(rows) => {
            o.push_str("<table>");
            for (k, v) in rows {
                let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), inlines(v));
            }
            o.push_str("</table>");
        }
        Block::Table(t) => table(o, t),
    }
}

fn table(o: &mut String, t: &Table) {
    o.push_str("<table><tr>");
    for (i, h) in t.header.iter().enumerate() {
        let open = match t.align.get(i) {
            Some(Align::Right) => "<th class=n>",
            _ => "<th>",
        };
        let _ = write!(o, "{open}{}</th>", esc(h));
    }
    o.push_str("</tr>");
    for row in &t.rows {
        o.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            if t.row_headings && i == 0 {
                let _ = write!(o, "<th>{}</th>", inlines(&c.content));
            } else {
                cell(o, c, t.align.get(i).copied().unwrap_or(Align::Left));
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
}

fn cell(o: &mut String, c: &Cell, align: Align) {
    let classes: Vec<&str> = [
        (align == Align::Right).then_some("n"),
        c.tone.map(tone_class),
    ]
    .into_iter()
    .flatten()
    .collect();
    match classes.as_slice() {
        [] => o.push_str("<td>"),
        [one] => {
            let _ = write!(o, "<td class={one}>");
        }
        many => {
            let _ = write!(o, "<td class=\"{}\">", many.join(" "));
        }
    }
    let _ = write!(o, "{}</td>", inlines(&c.content));
}

fn inlines(i: &[Inline]) -> String {
    let mut o = String::new();
    for x in i {
        match x {
            Inline::Text(s) => o.push_str(&esc(s)),
            Inline::Code(s) => {
                let _ = write!(o, "<code>{}</code>", esc(s));
            }
            Inline::Strong(s, None) => {
                let _ = write!(o, "<b>{}</b>", esc(s));
            }
            Inline::Strong(s, Some(t)) => {
                let _ = write!(o, "<b class={}>{}</b>", tone_class(*t), esc(s));
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::doc::{Figure, List, Section, Verdict};

    #[test]
    fn escapes_every_text_and_keeps_the_svg() {
        let mut t = Table::new(&[("<h>", Align::Left), ("n", Align::Right)]);
        t.rows.push(vec![
            Cell::toned("a & b", Tone::Fail),
            Cell::toned("1", Tone::Pass),
        ]);
        let doc = Document {
            lang: "en".into(),
            title: "T<".into(),
            id: "'x'".into(),
            date: "d".into(),
            verdict: Verdict {
                label: "V".into(),
                text: "\"ok\"".into(),
                tone: Tone::Fail,
            },
            sections: vec![Section {
                id: "s",
                title: "S&".into(),
                blocks: vec![
                    Block::Table(t),
                    Block::List(List {
                        items: vec![vec![Inline::Code("<c>".into())]],
                        tone: Some(Tone::Fail),
                    }),
                    Block::Figure(Figure {
                        id: "f",
                        svg: "<svg></svg>".into(),
                        fallback: vec![],
                    }),
                ],
            }],
        };
        let h = render(&doc);
        assert!(h.contains("<title>T&lt; &#39;x&#39;</title>"), "{h}");
        assert!(h.contains("<div class=\"verdict fail\">V: &quot;ok&quot;</div>"));
        assert!(h.contains("<h2 id=\"s\">S&amp;</h2>"));
        assert!(h.contains(
            "<table><tr><th>&lt;h&gt;</th><th class=n>n</th></tr><tr><td class=fail>a &amp; b</td><td class=\"n pass\">1</td></tr></table>"
        ));
        assert!(h.contains("<ul><li class=fail><code>&lt;c&gt;</code></li></ul>"));
        assert!(h.contains("<div class=plot><svg></svg></div>"));
    }
}
