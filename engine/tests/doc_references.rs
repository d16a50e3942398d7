//! Every reference in the repository points into it ("Docs that stand
//! alone": no reference in the tree points outside it). The protocol facts
//! are in docs/PROTOCOL.md, the interfaces in docs/API.md, the design and
//! its style anchors in docs/ARCHITECTURE.md; this test keeps the code and
//! the docs pointing there. It walks the repository's text files and checks:
//!
//! - **outside documents**: no `SPEC` (alone, with a section number, or
//!   `SPEC.md`), `DESIGN.md`, `STYLE.md`, `../API.md`, `../shared`,
//!   `seed 00N` (also split over two lines) or `seeds/`;
//! - **files**: every `docs/NAME.md` or `docs/NAME.yaml` named anywhere
//!   exists; in Markdown files, every relative link `](path)` or
//!   `](path#anchor)` resolves to a file or folder (and its anchor, also a
//!   pure `](#anchor)`, to a heading of the target), and every repository
//!   path with a file extension written in the text exists;
//! - **sections**: every `PROTOCOL.md §n` or `§n.n` (also "PROTOCOL.md, §n",
//!   "PROTOCOL.md section n", lists like "§8 and §9" and ranges like
//!   "§2.1–§2.4") names a numbered heading (`## n.` or `### n.n`) of
//!   docs/PROTOCOL.md; the same for `API.md` and docs/API.md. Inside those
//!   two files a bare `§n` refers to the file itself.
//!
//! Skipped: build outputs (`target*`, `bt-*`, `node_modules`, Python
//! caches), `.git`, the fuzz corpus, artifacts and regressions (inputs, not
//! references), binary files and this file. Std only; the walk and all
//! checks take well under a second. `DOC_REFERENCES_ROOT=DIR` checks the
//! tree at DIR instead (a scratch copy, a merge) with the same binary.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// This file: it spells the forbidden patterns out.
const THIS_FILE: &str = "engine/tests/doc_references.rs";

/// The top-level folders whose file paths a Markdown file may name.
const TOP_FOLDERS: [&str; 11] = [
    "benches/",
    "clients/",
    "deploy/",
    "docs/",
    "engine/",
    "fuzz/",
    "loadgen/",
    "protocol/",
    "simulator/",
    "terminal/",
    ".ci/",
];

/// The numbered sections other files are told to cite (the mapping of the
/// outside documents onto the repository's own): renumbering one of them
/// breaks every reference to it.
const PROTOCOL_SECTIONS: [&str; 23] = [
    "1", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "2.3", "2.4", "3", "3.1", "3.2", "3.3", "4", "5",
    "6", "7", "8", "9", "9.6", "9.7", "9.8", "10",
];
const API_SECTIONS: [&str; 5] = ["1", "1.4", "1.5", "6", "7"];

/// A text file of the repository.
struct TextFile {
    /// Path from the repository root, `/`-separated.
    rel: String,
    text: String,
}

/// The repository: the one this test was built in, or `DOC_REFERENCES_ROOT`
/// (to check a copy of the tree, e.g. a merge, without building it again).
fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os("DOC_REFERENCES_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ lies in the repository")
        .to_path_buf()
}

/// Every text file of the repository, read once for all the tests.
fn files() -> &'static [TextFile] {
    static FILES: OnceLock<Vec<TextFile>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut out = Vec::new();
        walk(&repo_root(), "", &mut out);
        assert!(
            out.iter().any(|f| f.rel == "README.md"),
            "the walk did not find README.md: is {} the repository?",
            repo_root().display()
        );
        out
    })
}

fn skipped_dir(rel: &str, name: &str) -> bool {
    name == ".git"
        || name.starts_with("target")
        || name.starts_with("bt-")
        || name == "node_modules"
        || name == "__pycache__"
        || name.ends_with(".egg-info")
        || matches!(
            rel,
            "fuzz/corpus"
                | "fuzz/artifacts"
                | "fuzz/regressions"
                | "fuzz/coverage"
                | "fuzz/work"
                | "report"
                | "acceptance"
                | "deploy/cluster/secrets"
                | "clients/python/build"
                | "clients/python/dist"
                | "clients/java/out"
        )
}

fn walk(dir: &Path, rel_dir: &str, out: &mut Vec<TextFile>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if rel_dir.is_empty() {
            name.clone()
        } else {
            format!("{rel_dir}/{name}")
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !skipped_dir(&rel, &name) {
                walk(&entry.path(), &rel, out);
            }
        } else if kind.is_file() && rel != THIS_FILE {
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            if bytes.contains(&0) {
                continue;
            }
            if let Ok(text) = String::from_utf8(bytes) {
                out.push(TextFile { rel, text });
            }
        }
    }
}

/// One finding: where, what, and the line itself.
fn finding(file: &str, line_no: usize, line: &str, what: &str) -> String {
    let shown: String = line.trim().chars().take(200).collect();
    format!("{file}:{line_no}: {what}\n    | {shown}")
}

fn report(check: &str, found: &[String]) {
    assert!(
        found.is_empty(),
        "{check}: {} finding(s)\n{}\n",
        found.len(),
        found.join("\n")
    );
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn char_before(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

// ---------- outside documents ----------

/// The outside documents a line names, each with where it lives now.
fn outside_references(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in line.match_indices("SPEC") {
        let after = &line[i + 4..];
        let numbered = after
            .trim_start_matches([' ', '.', '§'])
            .starts_with(|c: char| c.is_ascii_digit());
        let alone = !char_before(line, i).is_some_and(is_ident)
            && !after.chars().next().is_some_and(is_ident);
        if after.starts_with(".md") {
            found.push("`SPEC.md` (now docs/PROTOCOL.md)".to_owned());
        } else if numbered {
            found.push(
                "`SPEC` with a section number (now `docs/PROTOCOL.md §n`, same numbers)".to_owned(),
            );
        } else if alone {
            found.push(
                "`SPEC`, the outside protocol notes (now docs/PROTOCOL.md, cite its section)"
                    .to_owned(),
            );
        }
    }
    let md_or_up = (line.contains(".md"), line.contains("../"));
    for (pattern, now) in [
        ("DESIGN.md", "docs/ARCHITECTURE.md"),
        ("STYLE.md", "docs/ARCHITECTURE.md, \"Style, by example\""),
        ("../API.md", "`docs/API.md §n`"),
        (
            "../shared",
            "docs/PROTOCOL.md, docs/API.md or docs/ARCHITECTURE.md",
        ),
    ] {
        // Two searches first: "DESIGN.md" and "STYLE.md" hold ".md", the
        // others "../" (the tests run unoptimised).
        let first = if pattern.starts_with("..") {
            md_or_up.1
        } else {
            md_or_up.0
        };
        if first && line.contains(pattern) {
            found.push(format!("`{pattern}` (now {now})"));
        }
    }
    // "seed", "Seed" and "SEED" all hold "eed" or "EED": most lines need no
    // lower-case copy.
    if !(line.contains("eed") || line.contains("EED")) {
        return found;
    }
    let lower = line.to_ascii_lowercase();
    for (i, _) in lower.match_indices("seed 00") {
        if let Some(d) = lower[i + 7..].chars().next().filter(char::is_ascii_digit) {
            found.push(format!("`seed 00{d}` (now {})", seed_now(d)));
        }
    }
    if lower.contains("seeds/") {
        found.push("`seeds/` (the Alipay documents are listed in docs/PROTOCOL.md §8)".to_owned());
    }
    found
}

fn seed_now(d: char) -> &'static str {
    match d {
        '2' => "`docs/PROTOCOL.md §9.N` for the guide's section N, §9 without one",
        '4' => "`docs/PROTOCOL.md §10`",
        _ => "`docs/PROTOCOL.md §8` (or §5 for monitor.heartbeat.syn)",
    }
}

/// Whether a file can hold any of the patterns of [`outside_references`]
/// at all: a few searches over the whole text spare most files the
/// line-by-line scan (the tests run unoptimised).
fn may_name_outside_documents(text: &str) -> bool {
    [
        "SPEC",
        "DESIGN.md",
        "STYLE.md",
        "../",
        "seed",
        "Seed",
        "SEED",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Whether `line` ends with the word "seed" and `next` starts with `00N`:
/// a `seed 00N` split by a line break (comments included).
fn seed_split_over_lines(line: &str, next: &str) -> Option<char> {
    let end = line.trim_end();
    let cut = end.len().checked_sub(4)?;
    if !end.is_char_boundary(cut) || !end[cut..].eq_ignore_ascii_case("seed") {
        return None;
    }
    if char_before(end, cut).is_some_and(is_ident) {
        return None;
    }
    let start = next.trim_start_matches(|c: char| c.is_whitespace() || "/#*>!-".contains(c));
    let rest = start.strip_prefix("00")?;
    rest.chars().next().filter(char::is_ascii_digit)
}

#[test]
fn no_reference_points_outside_the_repository() {
    let mut found = Vec::new();
    for f in files() {
        if !may_name_outside_documents(&f.text) {
            continue;
        }
        let lines: Vec<&str> = f.text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            for what in outside_references(line) {
                found.push(finding(
                    &f.rel,
                    i + 1,
                    line,
                    &format!("names an outside document: {what}"),
                ));
            }
            if let Some(d) = lines
                .get(i + 1)
                .and_then(|next| seed_split_over_lines(line, next))
            {
                found.push(finding(
                    &f.rel,
                    i + 1,
                    line,
                    &format!(
                        "names an outside document: `seed 00{d}` over two lines (now {})",
                        seed_now(d)
                    ),
                ));
            }
        }
    }
    report("references to documents outside the repository", &found);
}

// ---------- files, links and anchors ----------

/// The GitHub anchors of a Markdown text's headings (outside code fences).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for title in headings(text) {
        let mut slug = String::new();
        for c in title.chars() {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                slug.extend(c.to_lowercase());
            } else if c == ' ' {
                slug.push('-');
            }
        }
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// The heading titles of a Markdown text, outside fenced code blocks.
fn headings(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if title.starts_with(' ') {
            out.push(title.trim().trim_end_matches('#').trim_end());
        }
    }
    out
}

/// The section numbers of a Markdown text's numbered headings:
/// `## 5. APIs` is `5`, `### 9.6 Fees` is `9.6`.
fn numbered_sections(text: &str) -> BTreeSet<String> {
    headings(text)
        .into_iter()
        .filter_map(|title| {
            let number = title.split_whitespace().next()?.trim_end_matches('.');
            let ok = number.starts_with(|c: char| c.is_ascii_digit())
                && number.chars().all(|c| c.is_ascii_digit() || c == '.');
            ok.then(|| number.to_owned())
        })
        .collect()
}

/// `a/b/../c` → `a/c`, on the `/`-separated path from the root; `None` when
/// it climbs out of the repository.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/".contains(c)
}

/// Whether a path's last segment has a file extension (`x.md`, `a.toml.in`).
fn has_extension(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    match last.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=6).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// The repository paths with an extension that a line writes out
/// (`deploy/cluster/compose.yaml`), not as part of a longer path or URL and
/// not as a pattern (`fuzz/corpus/<target>/x`, `*.pem`).
fn written_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for top in TOP_FOLDERS {
        for (i, _) in line.match_indices(top) {
            // A link's target is checked as a link.
            if char_before(line, i).is_some_and(path_char) || line[..i].ends_with("](") {
                continue;
            }
            let len = line[i..]
                .find(|c: char| !path_char(c))
                .unwrap_or(line.len() - i);
            let next = line[i + len..].chars().next();
            if matches!(next, Some('*' | '<' | '{' | '$')) {
                continue;
            }
            let path = line[i..i + len].trim_end_matches(['.', '/', '-']);
            if has_extension(path) {
                out.push(path.to_owned());
            }
        }
    }
    out
}

/// The `docs/NAME.md` and `docs/NAME.yaml` a line names.
fn docs_mentions(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("docs/") {
        if char_before(line, i).is_some_and(path_char) {
            continue;
        }
        let rest = &line[i + 5..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
            .unwrap_or(rest.len());
        let name = rest[..len].trim_end_matches('.');
        if (name.ends_with(".md") || name.ends_with(".yaml")) && has_extension(name) {
            out.push(format!("docs/{name}"));
        }
    }
    out
}

/// The targets of the inline Markdown links of a line.
fn link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("](") {
        let rest = &line[i + 2..];
        let Some(end) = rest.find(')') else {
            continue;
        };
        let target = rest[..end].trim().trim_start_matches('<');
        let target = target
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('>');
        if !target.is_empty() {
            out.push(target);
        }
    }
    out
}

#[test]
fn named_files_links_and_anchors_exist() {
    let root = repo_root();
    let by_path: BTreeMap<&str, &TextFile> = files().iter().map(|f| (f.rel.as_str(), f)).collect();
    let mut anchor_cache: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut found = Vec::new();
    for f in files() {
        let markdown = f.rel.ends_with(".md");
        let dir = f.rel.rsplit_once('/').map_or("", |(d, _)| d);
        for (i, line) in f.text.lines().enumerate() {
            let at = |what: String| finding(&f.rel, i + 1, line, &what);
            if !markdown {
                for doc in docs_mentions(line) {
                    if !root.join(&doc).is_file() {
                        found.push(at(format!("names `{doc}`, which does not exist")));
                    }
                }
                continue;
            }
            for path in written_paths(line) {
                if !root.join(&path).exists() {
                    found.push(at(format!("names `{path}`, which does not exist")));
                }
            }
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
                let resolved = if path.is_empty() {
                    Some(f.rel.clone())
                } else if let Some(abs) = path.strip_prefix('/') {
                    normalise(abs)
                } else {
                    normalise(&format!("{dir}/{path}"))
                };
                let Some(resolved) = resolved.filter(|r| root.join(r).exists()) else {
                    found.push(at(format!(
                        "links to `{target}`: no such file in the repository"
                    )));
                    continue;
                };
                if anchor.is_empty() || !resolved.ends_with(".md") {
                    continue;
                }
                let Some(target_file) = by_path.get(resolved.as_str()) else {
                    continue;
                };
                let known = anchor_cache
                    .entry(resolved.clone())
                    .or_insert_with(|| anchors(&target_file.text));
                if !known.contains(anchor) {
                    found.push(at(format!("links to `{target}`: {resolved} has no heading with the anchor `#{anchor}`")));
                }
            }
        }
    }
    report("files, links and anchors named in the repository", &found);
}

// ---------- section numbers ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    Protocol,
    Api,
}

impl Doc {
    fn path(self) -> &'static str {
        match self {
            Doc::Protocol => "docs/PROTOCOL.md",
            Doc::Api => "docs/API.md",
        }
    }
}

/// A section number at the start of `s` (`9`, `9.6`, `1.4`; a trailing
/// `.` is not part of it), with its length in bytes.
fn section_number(s: &str) -> Option<(&str, usize)> {
    let mut len = 0;
    let bytes = s.as_bytes();
    while len < bytes.len() {
        let c = bytes[len];
        let dot_then_digit =
            c == b'.' && bytes.get(len + 1).is_some_and(u8::is_ascii_digit) && len > 0;
        if c.is_ascii_digit() || dot_then_digit {
            len += 1;
        } else {
            break;
        }
    }
    (len > 0).then(|| (&s[..len], len))
}

/// The sections a line cites: each `(document, number)`. A `PROTOCOL.md` or
/// `API.md` mention sets the document for what follows on the line (another
/// `.md` name clears it); `§n` (with ranges `§a–§b`) and, right after the
/// mention, `section n` or a bare `n` are cited from it. `start` is the
/// document a line starts in (the file itself, or the previous line's when
/// that ended on a mention). Also returns the document the next line starts in.
fn cited_sections(line: &str, start: Option<Doc>) -> (Vec<(Doc, String)>, Option<Doc>) {
    // Most lines cite nothing and name no document.
    if !line.contains('§') && !line.contains(".md") {
        return (Vec::new(), start.filter(|_| carries(line.trim())));
    }
    let mut out = Vec::new();
    let mut doc = start;
    let mut i = 0;
    let mut last_end = 0;
    while i < line.len() {
        let rest = &line[i..];
        let prev = char_before(line, i);
        let mention = if rest.starts_with("PROTOCOL.md") && !prev.is_some_and(is_ident) {
            Some((Doc::Protocol, "PROTOCOL.md".len()))
        } else if rest.starts_with("API.md") && !prev.is_some_and(is_ident) {
            Some((Doc::Api, "API.md".len()))
        } else {
            None
        };
        if let Some((d, len)) = mention {
            doc = Some(d);
            i += len;
            last_end = i;
            // "API.md 1.4", "API.md, section 6", "API.md sections 1 and 1.4".
            let after = line[i..].trim_start_matches([',', ' ']);
            let after = after
                .strip_prefix("sections ")
                .or_else(|| after.strip_prefix("section "))
                .unwrap_or(after);
            if let Some((n, _)) = section_number(after) {
                out.push((d, n.to_owned()));
            }
            continue;
        }
        if rest.starts_with(".md") && prev.is_some_and(is_ident) {
            doc = None;
            i += 3;
            continue;
        }
        if let Some(after) = rest.strip_prefix('§') {
            i += '§'.len_utf8();
            if let Some((n, len)) = section_number(after) {
                i += len;
                if let Some(d) = doc {
                    out.push((d, n.to_owned()));
                    last_end = i;
                }
                // A range: §2.1–§2.4, §2.1-2.4.
                let tail = &line[i..];
                if let Some(t) = tail.strip_prefix('–').or_else(|| tail.strip_prefix('-')) {
                    let t2 = t.strip_prefix('§').unwrap_or(t);
                    if let Some((n2, len2)) = section_number(t2) {
                        i += (tail.len() - t.len()) + (t.len() - t2.len()) + len2;
                        if let Some(d) = doc {
                            out.push((d, n2.to_owned()));
                            last_end = i;
                        }
                    }
                }
            }
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    (out, doc.filter(|_| carries(line[last_end..].trim())))
}

/// Whether what follows a line's last mention or citation lets the next
/// line go on citing the same document ("… docs/PROTOCOL.md" / "§8 and").
fn carries(tail: &str) -> bool {
    tail.chars().all(|c| ",;(–- ".contains(c)) || matches!(tail, "and" | "or" | ", and" | ", or")
}

#[test]
fn cited_sections_exist() {
    let mut sections: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for doc in [Doc::Protocol, Doc::Api] {
        let f = files()
            .iter()
            .find(|f| f.rel == doc.path())
            .unwrap_or_else(|| panic!("{} is missing", doc.path()));
        sections.insert(doc.path(), numbered_sections(&f.text));
    }
    let mut found = Vec::new();
    for f in files() {
        let own = match f.rel.as_str() {
            "docs/PROTOCOL.md" => Some(Doc::Protocol),
            "docs/API.md" => Some(Doc::Api),
            _ => None,
        };
        let mut carried = None;
        for (i, line) in f.text.lines().enumerate() {
            let (cited, next) = cited_sections(line, carried.or(own));
            carried = next;
            for (doc, n) in cited {
                if !sections[doc.path()].contains(&n) {
                    found.push(finding(
                        &f.rel,
                        i + 1,
                        line,
                        &format!(
                            "cites {} §{n}, but it has no heading numbered {n}",
                            doc.path()
                        ),
                    ));
                }
            }
        }
    }
    report(
        "section numbers cited from docs/PROTOCOL.md and docs/API.md",
        &found,
    );
}

#[test]
fn the_promised_sections_are_there() {
    let get = |p: &str| {
        let f = files()
            .iter()
            .find(|f| f.rel == p)
            .unwrap_or_else(|| panic!("{p} is missing"));
        numbered_sections(&f.text)
    };
    let protocol = get("docs/PROTOCOL.md");
    let api = get("docs/API.md");
    let mut missing = Vec::new();
    for n in PROTOCOL_SECTIONS {
        if !protocol.contains(n) {
            missing.push(format!("docs/PROTOCOL.md §{n}"));
        }
    }
    for n in API_SECTIONS {
        if !api.contains(n) {
            missing.push(format!("docs/API.md §{n}"));
        }
    }
    assert!(
        missing.is_empty(),
        "sections the code and the docs cite by number are gone (a heading must start `## n.` or `### n.n`): {}",
        missing.join(", ")
    );
}

// ---------- the checks themselves ----------

#[test]
fn the_checks_catch_what_they_are_for() {
    assert_eq!(outside_references("see SPEC 5").len(), 1);
    assert_eq!(outside_references("(SPEC §2.3)").len(), 1);
    assert_eq!(outside_references("UNCONFIRMED in SPEC).").len(), 1);
    assert_eq!(outside_references("read SPEC.md first").len(), 1);
    assert_eq!(outside_references("Seed 002 §6 and seed 004").len(), 2);
    assert_eq!(outside_references("../shared/seeds/002.txt").len(), 2);
    assert!(outside_references("SPECIFIC, OPENAPI_SPEC, the seed of the profile").is_empty());
    assert!(outside_references("docs/PROTOCOL.md §9.6 and docs/ARCHITECTURE.md").is_empty());
    assert_eq!(
        seed_split_over_lines("(the fee rule of seed", "  //! 002 section 6)"),
        Some('2')
    );
    assert_eq!(
        seed_split_over_lines("a random seed", "  42 requests"),
        None
    );

    assert_eq!(
        written_paths("see `deploy/cluster/compose.yaml`."),
        ["deploy/cluster/compose.yaml"]
    );
    assert!(written_paths(
        "fuzz/corpus/<target>/ and protocol/tests/vectors/TEST-ONLY-*.pem, x/docs/a.md"
    )
    .is_empty());
    assert_eq!(
        docs_mentions("(docs/ENGINE.md, \"Quick start\") and docs/openapi.yaml."),
        ["docs/ENGINE.md", "docs/openapi.yaml"]
    );
    assert!(docs_mentions("fzlee/alipay/docs/apis.md, https://x.org/docs/a.md").is_empty());
    assert_eq!(
        link_targets("[a](ENGINE.md#the-terminal-api) and [b](<../x y.md> \"t\")"),
        ["ENGINE.md#the-terminal-api", "../x"]
    );
    assert_eq!(
        normalise("docs/../deploy/./cluster/README.md").as_deref(),
        Some("deploy/cluster/README.md")
    );
    assert_eq!(normalise("../x"), None);
    let a = anchors("# T\n## 7. `loadgen acceptance`: the checklist\n```\n# not a heading\n```\n## The policy (state x gateway answer -> next step)\n## Fees\n## Fees\n");
    assert!(a.contains("7-loadgen-acceptance-the-checklist"));
    assert!(a.contains("the-policy-state-x-gateway-answer---next-step"));
    assert!(a.contains("fees") && a.contains("fees-1"));
    assert!(!a.contains("not-a-heading"));
    let s = numbered_sections(
        "## 1. Request\n### 1.1 Common\n## 10. Table\n### alipay.trade.pay\n## Not confirmed\n",
    );
    assert_eq!(s.into_iter().collect::<Vec<_>>(), ["1", "1.1", "10"]);

    let cite = |line: &str, start| {
        cited_sections(line, start)
            .0
            .into_iter()
            .map(|(d, n)| format!("{}{n}", if d == Doc::Protocol { "P" } else { "A" }))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cite("docs/PROTOCOL.md §2.1–§2.4 and §9.6's order", None),
        ["P2.1", "P2.4", "P9.6"]
    );
    assert_eq!(
        cite("(docs/PROTOCOL.md, §8 and §9; docs/API.md §1.4)", None),
        ["P8", "P9", "A1.4"]
    );
    assert_eq!(
        cite("API.md 1.4; docs/API.md section 2; ENGINE.md §3", None),
        ["A1.4", "A2"]
    );
    assert_eq!(cite("see §5 and §10.", Some(Doc::Protocol)), ["P5", "P10"]);
    assert!(cite("see §5", None).is_empty());
    assert_eq!(
        cited_sections("as docs/PROTOCOL.md", None).1,
        Some(Doc::Protocol)
    );
    assert_eq!(
        cited_sections("as docs/PROTOCOL.md §9.7 says", None).1,
        None
    );
}
