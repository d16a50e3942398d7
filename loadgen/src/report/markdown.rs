//! The Markdown rendering of a [`Document`] (CommonMark with GitHub tables).
//!
//! Guarantees: it knows nothing of what the document is about, and shows
//! all of it but the plots, whose [`super::doc::Figure::fallback`] text
//! stands in their place; text is escaped so that what the document says is
//! shown as it is: a table cell cannot break its table (`|` and line breaks),
//! a label cannot turn into emphasis, a link, raw HTML or a list.

use std::fmt::Write as _;

use super::doc::{Align, Block, Document, Inline, Table};

/// Renders the document as Markdown (`report.md`): the title with the
/// verdict as heading, then each section; a plot is replaced by its
/// fallback text.
pub fn render(doc: &Document) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {}: {}\n",
        text(&doc.title, Ctx::Heading),
        text(&doc.verdict.text, Ctx::Heading)
    );
    for s in &doc.sections {
        let _ = writeln!(o, "## {}\n", text(&s.title, Ctx::Heading));
        for b in &s.blocks {
            block(&mut o, b);
            o.push('\n');
        }
    }
    o
}

fn block(o: &mut String, b: &Block) {
    match b {
        Block::Paragraph(i) | Block::Note(i) => {
            let _ = writeln!(o, "{}", line_start(&inlines(i, Ctx::Text)));
        }
        Block::Figure(f) => {
            let _ = writeln!(o, "{}", line_start(&inlines(&f.fallback, Ctx::Text)));
        }
        Block::Heading(h) => {
            let _ = writeln!(o, "### {}", text(h, Ctx::Heading));
        }
        Block::List(l) => {
            for item in &l.items {
                let _ = writeln!(o, "- {}", line_start(&inlines(item, Ctx::Text)));
            }
        }
        Block::KeyValue(rows) => {
            o.push_str("| | |\n| --- | --- |\n");
            for (k, v) in rows {
                let _ = writeln!(o, "| {} | {} |", text(k, Ctx::Cell), inlines(v, Ctx::Cell));
            }
        }
        Block::Table(t) => table(o, t),
    }
}

fn table(o: &mut String, t: &Table) {
    o.push('|');
    for h in &t.header {
        if h.is_empty() {
            o.push_str(" |");
        } else {
            let _ = write!(o, " {} |", text(h, Ctx::Cell));
        }
    }
    o.push_str("\n|");
    for a in &t.align {
        o.push_str(match a {
            Align::Left => " --- |",
            Align::Right => " ---: |",
        });
    }
    o.push('\n');
    for row in &t.rows {
        o.push('|');
        for c in row {
            let _ = write!(o, " {} |", inlines(&c.content, Ctx::Cell));
        }
        o.push('\n');
    }
}

/// Where text goes: what must be escaped differs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// A paragraph or a list item.
    Text,
    /// A table cell: `|` also ends the cell.
    Cell,
    /// A heading.
    Heading,
}

fn inlines(i: &[Inline], ctx: Ctx) -> String {
    let mut o = String::new();
    for x in i {
        match x {
            Inline::Text(s) => o.push_str(&text(s, ctx)),
            Inline::Code(s) => o.push_str(&code(s, ctx)),
            Inline::Strong(s, _) => {
                let _ = write!(o, "**{}**", text(s, ctx));
            }
        }
    }
    o
}

/// Escapes text so that it shows as it is. Only what could be read as
/// Markdown is escaped (an underscore inside a word, a `<` not before a tag
/// name and an `&` not before an entity name stay as they are), so that the
/// source stays readable.
fn text(s: &str, ctx: Ctx) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut o = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        match c {
            '\n' | '\r' => o.push(' '),
            '\\' | '`' | '*' | '[' | ']' | '~' => {
                o.push('\\');
                o.push(c);
            }
            '|' if ctx == Ctx::Cell => o.push_str("\\|"),
            '_' if !(word(prev) && word(next)) => o.push_str("\\_"),
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || "/!?".contains(n)) => {
                o.push_str("\\<")
            }
            '&' if next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#') => o.push_str("\\&"),
            c => o.push(c),
        }
    }
    o
}

/// Escapes what would start a block at the beginning of a paragraph or a
/// list item: a heading (`# `), a list item (`- `, `+ `, `1. `), a quote (`>`).
fn line_start(s: &str) -> String {
    let rest_is_break = |r: &str| r.is_empty() || r.starts_with(' ');
    for m in ["#", "-", "+"] {
        if let Some(r) = s.strip_prefix(m) {
            let r = r.trim_start_matches('#');
            if rest_is_break(r) {
                return format!("\\{s}");
            }
        }
    }
    if s.starts_with('>') {
        return format!("\\{s}");
    }
    let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        let r = &s[digits..];
        if let Some(after) = r.strip_prefix(['.', ')']) {
            if rest_is_break(after) {
                return format!("{}\\{}", &s[..digits], r);
            }
        }
    }
    s.to_string()
}

/// A code span holding `s` literally: a fence longer than any run of
/// backquotes inside, padded where the content would lose a space or merge
/// with the fence.
fn code(s: &str, ctx: Ctx) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.is_empty() {
        return String::new();
    }
    let s = if ctx == Ctx::Cell {
        s.replace('|', "\\|")
    } else {
        s
    };
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = s.starts_with('`')
        || s.ends_with('`')
        || (s.starts_with(' ') && s.ends_with(' ') && s.trim() != "");
    if pad {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::doc::{Cell, Section, Tone, Verdict};

    #[test]
    fn text_is_escaped_only_where_markdown_would_read_it() {
        assert_eq!(text("a|b", Ctx::Cell), "a\\|b");
        assert_eq!(text("a|b", Ctx::Text), "a|b");
        assert_eq!(text("line\nbreak", Ctx::Text), "line break");
        assert_eq!(
            text("*x* [l](u) `c` \\ ~s~", Ctx::Text),
            "\\*x\\* \\[l\\](u) \\`c\\` \\\\ \\~s\\~"
        );
        assert_eq!(
            text("WAIT_BUYER_PAY _x_ /_sim", Ctx::Text),
            "WAIT_BUYER_PAY \\_x\\_ /\\_sim"
        );
        assert_eq!(
            text("p99<50ms <b> </x> <!-- a < b", Ctx::Text),
            "p99<50ms \\<b> \\</x> \\<!-- a < b"
        );
        assert_eq!(
            text("a & b &amp; &#39;", Ctx::Text),
            "a & b \\&amp; \\&#39;"
        );
        assert_eq!(text("压力测试报告：通过", Ctx::Text), "压力测试报告：通过");
    }

    #[test]
    fn block_starts_are_escaped() {
        assert_eq!(line_start("-"), "\\-");
        assert_eq!(line_start("- x"), "\\- x");
        assert_eq!(line_start("--gateway-only: x"), "--gateway-only: x");
        assert_eq!(line_start("## x"), "\\## x");
        assert_eq!(line_start("#x"), "#x");
        assert_eq!(line_start("> q"), "\\> q");
        assert_eq!(line_start("1. x"), "1\\. x");
        assert_eq!(line_start("300 requests. x"), "300 requests. x");
        assert_eq!(line_start("2) x"), "2\\) x");
    }

    #[test]
    fn code_spans_hold_anything() {
        assert_eq!(code("p99<50ms", Ctx::Text), "`p99<50ms`");
        assert_eq!(code("a`b", Ctx::Text), "``a`b``");
        assert_eq!(code("`x", Ctx::Text), "`` `x ``");
        assert_eq!(code(" x ", Ctx::Text), "`  x  `");
        assert_eq!(code("a|b", Ctx::Cell), "`a\\|b`");
        assert_eq!(code("", Ctx::Cell), "");
    }

    #[test]
    fn renders_a_document() {
        let mut t = Table::new(&[
            ("name", Align::Left),
            ("n", Align::Right),
            ("", Align::Left),
        ]);
        t.rows.push(vec![
            Cell::text("a|b"),
            Cell::text("1"),
            Cell::toned("", Tone::Fail),
        ]);
        let doc = Document {
            lang: "en".into(),
            title: "T".into(),
            id: "x".into(),
            date: "d".into(),
            verdict: Verdict {
                label: "Verdict".into(),
                text: "OK".into(),
                tone: Tone::Pass,
            },
            sections: vec![Section {
                id: "s",
                title: "S".into(),
                blocks: vec![
                    Block::Table(t),
                    Block::KeyValue(vec![("k".into(), vec![Inline::Code("v".into())])]),
                    Block::Note(vec![Inline::text("n "), Inline::Strong("B".into(), None)]),
                ],
            }],
        };
        assert_eq!(
            render(&doc),
            "# T: OK\n\n## S\n\n| name | n | |\n| --- | ---: | --- |\n| a\\|b | 1 |  |\n\n\
             | | |\n| --- | --- |\n| k | `v` |\n\nn **B**\n\n"
        );
    }
}
