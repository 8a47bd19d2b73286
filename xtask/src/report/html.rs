//! A self-contained HTML page: headings, text, tables and PNG figures embedded as data URIs.

use std::fmt::Write;

use base64::Engine;

/// Escapes `text` for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Outcome shown in a table cell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// An acceptance check that passed.
    Pass,
    /// An acceptance check that failed.
    Fail,
    /// A number no check gates.
    Info,
}

/// A table cell: text, alignment and an optional status colouring.
pub struct Cell {
    /// Cell text (escaped when written).
    pub text: String,
    /// Right-aligned, for numbers.
    pub numeric: bool,
    /// Status colouring, if any.
    pub status: Option<Status>,
}

impl Cell {
    /// Creates a left-aligned text cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            numeric: false,
            status: None,
        }
    }

    /// Creates a right-aligned cell for a number.
    pub fn number(text: impl Into<String>) -> Cell {
        Cell {
            numeric: true,
            ..Cell::text(text)
        }
    }

    /// Creates a cell coloured by `status`, with the status word as its text.
    pub fn status(status: Status) -> Cell {
        let text = match status {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Info => "not gated",
        };
        Cell {
            status: Some(status),
            ..Cell::text(text)
        }
    }
}

const STYLE: &str = "\
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1500px;margin:2em auto;\
padding:0 1.5em;color:#222;line-height:1.45}\
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:.2em}\
table{border-collapse:collapse;margin:1em 0;font-size:.92em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}\
td.pass{background:#dff3e3;color:#14632b;text-align:center}\
td.fail{background:#fbe0e0;color:#8a1414;font-weight:bold;text-align:center}\
td.info{color:#777;text-align:center}\
.badge{display:inline-block;padding:.2em .8em;border-radius:.3em;font-weight:bold}\
.badge.pass{background:#dff3e3;color:#14632b}.badge.fail{background:#fbe0e0;color:#8a1414}\
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}\
figcaption{color:#444;font-size:.93em;max-width:75em}.note{color:#8a5a00}";

/// An HTML page built section by section.
pub struct Page {
    title: String,
    body: String,
}

impl Page {
    /// Creates a page with `title` in the head and as its first heading.
    pub fn new(title: &str) -> Page {
        let mut page = Page {
            title: title.to_string(),
            body: String::new(),
        };
        page.heading(1, title);
        page
    }

    /// Appends a heading of `level` (1 to 6).
    pub fn heading(&mut self, level: u8, text: &str) {
        let level = level.clamp(1, 6);
        let _ = writeln!(self.body, "<h{level}>{}</h{level}>", escape(text));
    }

    /// Appends a paragraph of plain text.
    pub fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", escape(text));
    }

    /// Appends a paragraph styled as a note about missing or partial data.
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p class=\"note\">{}</p>", escape(text));
    }

    /// Appends a pass or fail badge with `text`.
    pub fn badge(&mut self, passed: bool, text: &str) {
        let class = if passed { "pass" } else { "fail" };
        let _ = writeln!(
            self.body,
            "<p><span class=\"badge {class}\">{}</span></p>",
            escape(text)
        );
    }

    /// Appends a bulleted list.
    pub fn list(&mut self, items: &[String]) {
        self.body.push_str("<ul>\n");
        for item in items {
            let _ = writeln!(self.body, "<li>{}</li>", escape(item));
        }
        self.body.push_str("</ul>\n");
    }

    /// Appends a table with a header row.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<Cell>]) {
        self.body.push_str("<table>\n<tr>");
        for name in header {
            let _ = write!(self.body, "<th>{}</th>", escape(name));
        }
        self.body.push_str("</tr>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                match cell.status {
                    Some(status) => {
                        let class = match status {
                            Status::Pass => "pass",
                            Status::Fail => "fail",
                            Status::Info => "info",
                        };
                        let _ = write!(
                            self.body,
                            "<td class=\"{class}\">{}</td>",
                            escape(&cell.text)
                        );
                    }
                    None if cell.numeric => {
                        let _ = write!(self.body, "<td class=\"num\">{}</td>", escape(&cell.text));
                    }
                    None => {
                        let _ = write!(self.body, "<td>{}</td>", escape(&cell.text));
                    }
                }
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
    }

    /// Appends a PNG image embedded as a base64 data URI, with a caption.
    pub fn figure(&mut self, png: &[u8], alt: &str, caption: &str) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = writeln!(
            self.body,
            "<figure><img src=\"data:image/png;base64,{encoded}\" alt=\"{}\">\
             <figcaption>{}</figcaption></figure>",
            escape(alt),
            escape(caption)
        );
    }

    /// Returns the whole document.
    pub fn finish(self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
            escape(&self.title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_special_characters() {
        assert_eq!(escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&#39;");
    }

    #[test]
    fn page_embeds_figure_and_table() {
        let mut page = Page::new("t <1>");
        page.table(
            &["name", "status"],
            &[vec![Cell::text("x"), Cell::status(Status::Fail)]],
        );
        page.figure(&[1, 2, 3], "alt", "caption");
        let html = page.finish();
        assert!(html.contains("<title>t &lt;1&gt;</title>"));
        assert!(html.contains("<td class=\"fail\">fail</td>"));
        // base64 of the bytes 1, 2, 3 is "AQID".
        assert!(html.contains("data:image/png;base64,AQID"));
    }
}
