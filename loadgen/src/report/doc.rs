//! A format-neutral document: the report as headed sections of paragraphs,
//! notes, tables, key-value lists, lists and figures, built once
//! ([`super::model::build`]) and rendered to Markdown ([`super::markdown`])
//! and HTML ([`super::html`]).
//!
//! Guarantees: the types know nothing about payments or load tests, and
//! nothing about a format; every text is plain (renderers escape it), so the
//! same document says the same in every rendering. What a rendering cannot
//! show (an SVG plot in Markdown) has a text of its own in the document
//! ([`Figure::fallback`]).

/// A whole document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The language of the texts, a BCP 47 tag (`en`, `zh-CN`).
    pub lang: String,
    /// The document's title (`Pressure-test report`).
    pub title: String,
    /// What tells this document from another of the same title (the run
    /// id): a window title or file name may show it.
    pub id: String,
    /// When it was made (RFC 3339), shown next to the title where there is room.
    pub date: String,
    /// The verdict the whole document leads to.
    pub verdict: Verdict,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// The document's verdict, shown first.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The word for a verdict in the document's language (`Verdict`).
    pub label: String,
    /// The verdict itself (`PASSED`).
    pub text: String,
    /// Good or bad news.
    pub tone: Tone,
}

/// Whether something is good or bad news (a passed or failed check, an
/// error outcome), for renderings that can colour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Good news: passed, success.
    Pass,
    /// Bad news: failed, an error.
    Fail,
}

/// One headed section.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// A stable identifier (ASCII, lower case, `-`): an anchor in HTML, the
    /// same whatever the language.
    pub id: &'static str,
    /// The heading, in the document's language.
    pub title: String,
    /// The section's content, in order.
    pub blocks: Vec<Block>,
}

/// A piece of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Running text.
    Paragraph(Vec<Inline>),
    /// A remark beside the figures (rendered smaller where possible).
    Note(Vec<Inline>),
    /// A heading inside the section.
    Heading(String),
    /// A table of figures.
    Table(Table),
    /// Named values, one per row, without a header.
    KeyValue(Vec<(String, Vec<Inline>)>),
    /// A bulleted list.
    List(List),
    /// A plot.
    Figure(Figure),
}

/// A bulleted list.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    /// One run of text per item.
    pub items: Vec<Vec<Inline>>,
    /// The tone of every item, if any (a list of failure reasons).
    pub tone: Option<Tone>,
}

/// A plot, drawn beforehand.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// A stable identifier of the plot (`latency-over-time`).
    pub id: &'static str,
    /// A complete `<svg>` element.
    pub svg: String,
    /// What a rendering without graphics shows in its place.
    pub fallback: Vec<Inline>,
}

/// A run of text.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    /// Plain text.
    Text(String),
    /// Literal text: a specification, a URL, a command.
    Code(String),
    /// Emphasised text, with a tone where it is good or bad news.
    Strong(String, Option<Tone>),
}

impl Inline {
    /// Plain text.
    pub fn text(s: impl Into<String>) -> Inline {
        Inline::Text(s.into())
    }

    /// The text without its formatting.
    pub fn plain(&self) -> &str {
        match self {
            Inline::Text(s) | Inline::Code(s) | Inline::Strong(s, _) => s,
        }
    }
}

/// The plain text of a run of inlines.
pub fn plain(inlines: &[Inline]) -> String {
    inlines.iter().map(Inline::plain).collect()
}

/// Splits text at backquotes into text and code: ``run `loadgen demo` `` is
/// `run `, code `loadgen demo`. An unpaired backquote stays text.
pub fn inlines_with_code(s: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        if open > 0 {
            out.push(Inline::text(&rest[..open]));
        }
        out.push(Inline::Code(rest[open + 1..open + 1 + len].to_string()));
        rest = &rest[open + 1 + len + 1..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Inline::text(rest));
    }
    out
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Words.
    Left,
    /// Figures.
    Right,
}

/// A table: a header row, then rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// One heading per column (may be empty).
    pub header: Vec<String>,
    /// One alignment per column.
    pub align: Vec<Align>,
    /// Whether the first cell of each row names the row (a row heading).
    pub row_headings: bool,
    /// The rows, each one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table of these columns (heading and alignment) and no rows yet.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            header: columns.iter().map(|(h, _)| (*h).to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            row_headings: false,
            rows: Vec::new(),
        }
    }
}

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// What the cell says.
    pub content: Vec<Inline>,
    /// Good or bad news, if the cell is either.
    pub tone: Option<Tone>,
}

impl Cell {
    /// A cell of plain text.
    pub fn text(s: impl Into<String>) -> Cell {
        Cell {
            content: vec![Inline::text(s)],
            tone: None,
        }
    }

    /// A cell of plain text with a tone.
    pub fn toned(s: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            content: vec![Inline::text(s)],
            tone: Some(tone),
        }
    }

    /// A cell of these inlines.
    pub fn of(content: Vec<Inline>) -> Cell {
        Cell {
            content,
            tone: None,
        }
    }

    /// The cell's text without its formatting.
    pub fn plain(&self) -> String {
        plain(&self.content)
    }
}

impl Tone {
    /// `Pass` when `ok`, else `Fail`.
    pub fn of(ok: bool) -> Tone {
        if ok {
            Tone::Pass
        } else {
            Tone::Fail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backquotes_become_code() {
        assert_eq!(
            inlines_with_code("started by `loadgen demo` on loopback"),
            vec![
                Inline::text("started by "),
                Inline::Code("loadgen demo".into()),
                Inline::text(" on loopback"),
            ]
        );
        assert_eq!(
            inlines_with_code("`a``b`"),
            vec![Inline::Code("a".into()), Inline::Code("b".into())]
        );
        assert_eq!(
            inlines_with_code("one ` only"),
            vec![Inline::text("one ` only")]
        );
        assert_eq!(inlines_with_code(""), vec![Inline::text("")]);
    }
}
