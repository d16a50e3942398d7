//! One model, two renderings: the report of a recorded run (`loadgen demo`,
//! tests/fixtures/report-*.json) is built once into a document, and its
//! Markdown and its HTML list the same sections (ids and titles, in order)
//! and carry every figure of every table of the document, row by row; text
//! from the run is escaped in each; the Markdown of the recorded run is the
//! reviewed one (tests/fixtures/report-demo.{en,zh}.md).

use std::path::PathBuf;

use loadgen::audit::{Judgement, Problem};
use loadgen::procstat::ProcessUsage;
use loadgen::report::doc::{Block, Document};
use loadgen::report::{self, html, markdown, model, Lang, ReconDay, Report};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn recorded(name: &str) -> Report {
    report::read(&fixture(name)).expect("a recorded report")
}

/// Undoes the HTML escaping of `html::esc`.
fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Undoes Markdown backslash escapes.
fn unescape_md(s: &str) -> String {
    let mut o = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' && it.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            o.push(it.next().unwrap_or('\\'));
        } else {
            o.push(c);
        }
    }
    o
}

/// The numbers in a text, in order (`12.16 ms (0.000%)` is 12.16, 0.000).
fn numbers(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            i += 1;
        }
    }
    out
}

/// The document's sections as (id, title).
fn doc_sections(d: &Document) -> Vec<(String, String)> {
    d.sections
        .iter()
        .map(|s| (s.id.to_string(), s.title.clone()))
        .collect()
}

/// The numbers of each row of each table (and key-value list) of the document.
fn doc_tables(d: &Document) -> Vec<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for s in &d.sections {
        for b in &s.blocks {
            match b {
                Block::Table(t) => out.push(
                    t.rows
                        .iter()
                        .map(|r| r.iter().flat_map(|c| numbers(&c.plain())).collect())
                        .collect(),
                ),
                Block::KeyValue(rows) => out.push(
                    rows.iter()
                        .map(|(k, v)| {
                            let mut n = numbers(k);
                            n.extend(numbers(&loadgen::report::doc::plain(v)));
                            n
                        })
                        .collect(),
                ),
                _ => {}
            }
        }
    }
    out
}

/// The `## ` headings of the Markdown.
fn md_titles(md: &str) -> Vec<String> {
    md.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(unescape_md)
        .collect()
}

/// The numbers of each table row of the Markdown (alignment rows left out).
fn md_rows(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .filter(|l| l.starts_with('|'))
        .filter(|l| !l.chars().all(|c| "|-: ".contains(c)))
        .map(|l| numbers(&unescape_md(l)))
        .collect()
}

/// The `<h2 id=..>` headings of the HTML as (id, title).
fn html_sections(h: &str) -> Vec<(String, String)> {
    h.split("<h2 id=\"")
        .skip(1)
        .map(|part| {
            let (id, rest) = part.split_once("\">").expect("an id");
            let (title, _) = rest.split_once("</h2>").expect("a closed heading");
            (id.to_string(), unescape_html(title))
        })
        .collect()
}

/// The numbers of each table row of the HTML, plots left out.
fn html_rows(h: &str) -> Vec<Vec<String>> {
    let mut text = String::new();
    let mut rest = h;
    while let Some(i) = rest.find("<svg") {
        text.push_str(&rest[..i]);
        rest = rest[i..].split_once("</svg>").map_or("", |(_, r)| r);
    }
    text.push_str(rest);
    text.split("<tr>")
        .skip(1)
        .map(|row| {
            let row = row.split("</tr>").next().unwrap_or("");
            let mut plain = String::new();
            let mut in_tag = false;
            for c in row.chars() {
                match c {
                    '<' => {
                        in_tag = true;
                        plain.push(' ');
                    }
                    '>' => in_tag = false,
                    c if !in_tag => plain.push(c),
                    _ => {}
                }
            }
            numbers(&unescape_html(&plain))
        })
        .collect()
}

/// Each table of the document is a run of consecutive rows of the output.
fn assert_tables_in(doc: &[Vec<Vec<String>>], out: &[Vec<String>], what: &str) {
    for table in doc.iter().filter(|t| !t.is_empty()) {
        let found = out.windows(table.len()).any(|w| w == table.as_slice());
        assert!(
            found,
            "{what}: a table's figures are not all there: {table:?} in {out:?}"
        );
    }
}

fn check_same(r: &Report, lang: Lang) -> (Document, String, String) {
    let doc = model::build(r, lang).unwrap();
    let md = markdown::render(&doc);
    let h = html::render(&doc);
    let sections = doc_sections(&doc);
    let titles: Vec<String> = sections.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(md_titles(&md), titles, "Markdown sections");
    assert_eq!(html_sections(&h), sections, "HTML sections");
    let tables = doc_tables(&doc);
    assert!(
        tables.iter().map(Vec::len).sum::<usize>() > 20,
        "tables with rows"
    );
    assert_tables_in(&tables, &md_rows(&md), "Markdown");
    assert_tables_in(&tables, &html_rows(&h), "HTML");
    // The plots: drawn in the HTML, named in the Markdown.
    let figures = doc
        .sections
        .iter()
        .flat_map(|s| &s.blocks)
        .filter(|b| matches!(b, Block::Figure(_)))
        .count();
    assert_eq!(figures, 4);
    assert_eq!(h.matches("<svg").count(), figures);
    assert!(!md.contains("<svg"));
    (doc, md, h)
}

#[test]
fn the_markdown_and_the_html_of_a_recorded_run_say_the_same() {
    for name in ["report-demo.json", "report-staircase.json"] {
        let r = recorded(name);
        for lang in [Lang::En, Lang::Zh] {
            let (doc, md, _) = check_same(&r, lang);
            let ids: Vec<&str> = doc.sections.iter().map(|s| s.id).collect();
            assert_eq!(ids.first(), Some(&"thresholds"), "thresholds first");
            assert_eq!(ids.last(), Some(&"series"));
            assert!(ids.contains(&"reconciliation") && ids.contains(&"audit"));
            assert_eq!(
                ids.contains(&"staircase"),
                !r.staircase.is_empty(),
                "{name}"
            );
            assert!(md.starts_with(&format!("# {}: ", doc.title)));
        }
    }
}

/// What `loadgen report` writes is these renderings, and the Markdown of
/// the recorded run is the reviewed one (to see a change of the Markdown:
/// `loadgen report loadgen/tests/fixtures/report-demo.json --out DIR`).
#[test]
fn the_written_files_are_the_renderings_and_the_markdown_is_stable() {
    let r = recorded("report-demo.json");
    let dir = tempfile::tempdir().unwrap();
    for (lang, golden) in [
        (Lang::En, "report-demo.en.md"),
        (Lang::Zh, "report-demo.zh.md"),
    ] {
        let w = report::write_all(&r, dir.path(), lang).unwrap();
        let doc = model::build(&r, lang).unwrap();
        let md = std::fs::read_to_string(&w.markdown).unwrap();
        assert_eq!(md, markdown::render(&doc));
        assert_eq!(
            std::fs::read_to_string(&w.html).unwrap(),
            html::render(&doc)
        );
        let want = std::fs::read_to_string(fixture(golden)).unwrap();
        assert!(
            md == want,
            "the Markdown of {golden} changed:\n--- want\n{want}\n--- got\n{md}"
        );
    }
}

/// Labels, notes, problems and errors from the run that look like Markdown
/// or HTML are shown as they are in both.
#[test]
fn text_from_the_run_is_escaped_in_each_rendering() {
    let mut r = recorded("report-demo.json");
    let pay = r.operations.get_mut("pay").unwrap();
    let mut odd = pay.outcomes[0].clone();
    odd.label = "HTTP 500 a|b <b>x</b>".into();
    odd.error = true;
    odd.count = 3;
    pay.outcomes.push(odd);
    r.notes
        .push("a <note> & more *star* _under_ [link](x) \\ back|pipe\nnewline".into());
    r.notes.push("- leading dash".into());
    r.thresholds.clear();
    r.processes.push(ProcessUsage {
        name: "ghost|<i>".into(),
        pid: 1,
        cpu_seconds: None,
        cpu_cores_avg: None,
        peak_rss_bytes: None,
    });
    let audit = r.audit.as_mut().unwrap();
    audit.passed = false;
    audit.problems.push(Problem {
        out_trade_no: "LG_1|x".into(),
        judgement: Judgement::Missing,
        generator: "SUCCESS".into(),
        switch: None,
        ledger: Some("<none>".into()),
        detail: "a & b".into(),
    });
    r.reconciliation.push(ReconDay {
        date: "2026-12-03".into(),
        error: Some("no bill <404>".into()),
        ..ReconDay::default()
    });
    r.generator.behind = true;
    r.verdict.valid = false;

    for lang in [Lang::En, Lang::Zh] {
        let (_, md, h) = check_same(&r, lang);
        assert!(
            md.contains("| pay | HTTP 500 a\\|b \\<b>x\\</b> | 3 | ✗ |"),
            "{md}"
        );
        assert!(md.contains("| ghost\\|\\<i> | 1 |"));
        assert!(md.contains("| LG_1\\|x | Missing | SUCCESS | - | \\<none> | a & b |"));
        assert!(md.contains(
            "- a \\<note> & more \\*star\\* \\_under\\_ \\[link\\](x) \\\\ back|pipe newline\n"
        ));
        assert!(md.contains("- \\- leading dash\n"));
        assert!(md.contains("\n\\-\n"), "no thresholds: an escaped dash");
        assert!(md.contains(" — **BEHIND**"));
        assert!(h.contains("<td class=fail>HTTP 500 a|b &lt;b&gt;x&lt;/b&gt;</td>"));
        assert!(h.contains("<td>ghost|&lt;i&gt;</td>"));
        assert!(h.contains("<td>&lt;none&gt;</td><td>a &amp; b</td>"));
        assert!(h.contains(
            "<li>a &lt;note&gt; &amp; more *star* _under_ [link](x) \\ back|pipe\nnewline</li>"
        ));
        assert!(h.contains("(no bill &lt;404&gt;)</td>"));
        assert!(h.contains("<b class=fail>BEHIND</b>"));
        assert!(!h.contains("<b>x</b>") && !h.contains("<i>"));
    }
}
