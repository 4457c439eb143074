//! How results are printed. Every command returns a value that renders either as one JSON object
//! on one line (`--json`, through its `Serialize`) or as text for people: `key: value` lines with
//! the values aligned ([`Fields`]), or columns for lists ([`Table`]).
use crate::error::CliError;
use serde::Serialize;

/// A command's result.
pub trait Render: Serialize {
    /// The human-readable form, without a trailing newline.
    fn text(&self) -> String;
}

/// The result as `main` prints it: JSON with `--json`, text otherwise.
pub fn render<T: Render>(value: &T, json: bool) -> Result<String, CliError> {
    if json {
        serde_json::to_string(value).map_err(CliError::Output)
    } else {
        Ok(value.text())
    }
}

/// `key: value` lines, the values aligned in one column.
#[derive(Debug, Default)]
pub struct Fields {
    rows: Vec<(String, String)>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.rows.push((key.into(), value.into()));
        self
    }

    pub fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(k, _)| k.chars().count() + 1)
            .max()
            .unwrap_or(0);
        self.rows
            .iter()
            .map(|(k, v)| {
                format!("{:<width$} {v}", format!("{k}:"))
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Rows under a header, each column as wide as its widest cell, two spaces between columns.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones are dropped.
    pub fn row(mut self, cells: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
        self
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|row| {
                row.iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample {
        a: u32,
        b: Option<String>,
    }

    impl Render for Sample {
        fn text(&self) -> String {
            Fields::new().field("a", self.a.to_string()).render()
        }
    }

    #[test]
    fn render_chooses_json_or_text() {
        let s = Sample { a: 1, b: None };
        assert_eq!(render(&s, true).unwrap(), r#"{"a":1,"b":null}"#);
        assert_eq!(render(&s, false).unwrap(), "a: 1");
    }

    #[test]
    fn fields_align_their_values() {
        let f = Fields::new()
            .field("client_id", "abc")
            .field("redirect_uris", "x y")
            .field("é", "")
            .render();
        assert_eq!(f, "client_id:     abc\nredirect_uris: x y\né:");
        assert_eq!(Fields::new().render(), "");
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let t = Table::new(&["KIND", "NAME", "STATUS"])
            .row(["table", "portcullis-clients", "created"])
            .row(["secret", "k", "exists"])
            .row(["short"])
            .render();
        assert_eq!(
            t,
            "KIND    NAME                STATUS\n\
             table   portcullis-clients  created\n\
             secret  k                   exists\n\
             short"
        );
        assert_eq!(Table::new(&["A", "B"]).render(), "A  B");
    }
}
