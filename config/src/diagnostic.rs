//! Validation diagnostics: one [`Diagnostic`] per problem found in a
//! configuration file, collected into [`Diagnostics`], plus the byte-offset
//! to `line:column` mapping ([`LineIndex`]) used to locate them.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One problem in a configuration file.
///
/// `line` and `column` are 1-based and point at the offending value, at the
/// key for unknown keys, and at the table header for missing required keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The configuration file, as given to [`crate::load`] / [`crate::parse`].
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column number, counted in characters.
    pub column: usize,
    /// Key path of the offending item, e.g. `bgp.neighbor[2].remote_as`
    /// (array indices are 0-based). Empty for TOML syntax errors.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What would be right, when there is something useful to say.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: ",
            self.file.display(),
            self.line,
            self.column
        )?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in one configuration file, sorted by position.
///
/// `Display` prints one block per error followed by a summary line such as
/// `2 errors in examples/bad.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file the errors refer to.
    pub file: PathBuf,
    /// The individual errors; never empty when returned by this crate.
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Number of errors.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True if there are no errors.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.errors {
            writeln!(f, "{d}")?;
        }
        let n = self.errors.len();
        write!(
            f,
            "{n} error{} in {}",
            if n == 1 { "" } else { "s" },
            self.file.display()
        )
    }
}

impl std::error::Error for Diagnostics {}

/// Maps byte offsets in a source text to 1-based `(line, column)` pairs.
#[derive(Debug)]
pub(crate) struct LineIndex {
    /// Byte offset at which each line starts.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// Line and column (both 1-based, column in characters) of `offset`.
    /// Offsets past the end or inside a UTF-8 sequence are clamped.
    pub(crate) fn locate(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = source
            .get(start..)
            .map(|rest| {
                rest.char_indices()
                    .take_while(|(i, _)| start + i < offset)
                    .count()
            })
            .unwrap_or(0);
        (line, column + 1)
    }
}

/// A byte range in the source.
pub(crate) type Span = Range<usize>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_maps_offsets() {
        let src = "a = 1\nbé = 2\n";
        let idx = LineIndex::new(src);
        assert_eq!(idx.locate(src, 0), (1, 1));
        assert_eq!(idx.locate(src, 4), (1, 5));
        assert_eq!(idx.locate(src, 6), (2, 1));
        // 'é' is two bytes: "bé = 2", offset of '=' is 6 + 4.
        assert_eq!(idx.locate(src, 10), (2, 4));
        assert_eq!(idx.locate(src, 999), (3, 1));
    }

    #[test]
    fn display_has_help_and_summary() {
        let d = Diagnostic {
            file: "x.toml".into(),
            line: 3,
            column: 7,
            path: "router.asn".into(),
            message: "bad".into(),
            help: Some("fix it".into()),
        };
        let all = Diagnostics {
            file: "x.toml".into(),
            errors: vec![d],
        };
        assert_eq!(
            all.to_string(),
            "x.toml:3:7: error: router.asn: bad\n  help: fix it\n1 error in x.toml"
        );
    }
}
