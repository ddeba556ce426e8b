//! The span-aware TOML walker: [`Ctx`] collects diagnostics while section
//! builders read typed values out of [`Table`]s, reporting wrong types, bad
//! values, missing keys and unknown keys (with a nearest-key suggestion).

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, LineIndex, Span};

/// Why a value was rejected: what is wrong and, optionally, what is right.
#[derive(Debug)]
pub(crate) struct Bad {
    pub message: String,
    pub help: Option<String>,
}

/// Shorthand for building a [`Bad`].
pub(crate) fn bad(message: impl Into<String>, help: impl Into<Option<String>>) -> Bad {
    Bad {
        message: message.into(),
        help: help.into(),
    }
}

/// Collects diagnostics for one source file.
#[derive(Debug)]
pub(crate) struct Ctx<'s> {
    source: &'s str,
    origin: PathBuf,
    base_dir: PathBuf,
    index: LineIndex,
    diags: Vec<Diagnostic>,
}

impl<'s> Ctx<'s> {
    pub(crate) fn new(source: &'s str, origin: &Path) -> Self {
        let base_dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        Self {
            source,
            origin: origin.to_path_buf(),
            base_dir,
            index: LineIndex::new(source),
            diags: Vec::new(),
        }
    }

    /// Records an error at the start of `span`.
    pub(crate) fn error(&mut self, span: &Span, path: impl Into<String>, problem: Bad) {
        let (line, column) = self.index.locate(self.source, span.start);
        self.diags.push(Diagnostic {
            file: self.origin.clone(),
            line,
            column,
            path: path.into(),
            message: problem.message,
            help: problem.help,
        });
    }

    /// 1-based line of a span, for "first defined at line N" messages.
    pub(crate) fn line_of(&self, span: &Span) -> usize {
        self.index.locate(self.source, span.start).0
    }

    /// The directory relative paths in the file are resolved against.
    pub(crate) fn base_dir(&self) -> PathBuf {
        self.base_dir.clone()
    }

    /// True if any error has been recorded.
    pub(crate) fn has_errors(&self) -> bool {
        !self.diags.is_empty()
    }

    /// The diagnostics sorted by position (stable for equal positions).
    pub(crate) fn finish(mut self) -> (PathBuf, Vec<Diagnostic>) {
        self.diags.sort_by_key(|d| (d.line, d.column));
        (self.origin, self.diags)
    }
}

/// Outcome of reading one key.
#[derive(Debug)]
pub(crate) enum Field<T> {
    /// The key is not present.
    Absent,
    /// The key is present but its value was rejected (already reported).
    Invalid,
    /// The key is present and valid; the span is the value's.
    Ok(T, Span),
}

impl<T> Field<T> {
    /// The value and its span, if present and valid.
    pub(crate) fn opt(self) -> Option<(T, Span)> {
        match self {
            Field::Ok(v, s) => Some((v, s)),
            _ => None,
        }
    }

    /// The value, or `default` when absent or invalid.
    pub(crate) fn or(self, default: T) -> T {
        self.opt().map_or(default, |(v, _)| v)
    }

    /// Like [`Field::opt`], but reports a missing key at the table header.
    pub(crate) fn required(
        self,
        ctx: &mut Ctx<'_>,
        table: &Table<'_, '_>,
        key: &str,
        hint: &str,
    ) -> Option<(T, Span)> {
        if matches!(self, Field::Absent) {
            table.missing(ctx, key, hint);
        }
        self.opt()
    }
}

/// A TOML table being read, with its header span and key path.
#[derive(Debug, Clone)]
pub(crate) struct Table<'t, 'i> {
    pub inner: &'t DeTable<'i>,
    pub span: Span,
    pub path: String,
}

impl<'t, 'i> Table<'t, 'i> {
    /// The key path of `key` inside this table.
    pub(crate) fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Reports a missing required key at the table header.
    pub(crate) fn missing(&self, ctx: &mut Ctx<'_>, key: &str, hint: &str) {
        let place = if self.path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in {}", self.path)
        };
        ctx.error(
            &self.span,
            self.key_path(key),
            bad(
                format!("missing required key '{key}' {place}"),
                format!("add it, e.g. {key} = {hint}"),
            ),
        );
    }

    /// Reports every key not in `known`, suggesting the nearest known key.
    pub(crate) fn check_keys(&self, ctx: &mut Ctx<'_>, known: &[&str]) {
        for (key, _) in self.inner.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            let place = if self.path.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in {}", self.path)
            };
            let help = match nearest(name, known) {
                Some(k) => format!("did you mean '{k}'?"),
                None => format!("known keys here: {}", known.join(", ")),
            };
            ctx.error(
                &key.span(),
                self.key_path(name),
                bad(format!("unknown key '{name}' {place}"), help),
            );
        }
    }

    fn raw(&self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.inner.get(key)
    }

    /// Reads `key` and converts it, reporting conversion failures.
    pub(crate) fn field<T>(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        conv: impl FnOnce(&DeValue<'i>) -> Result<T, Bad>,
    ) -> Field<T> {
        let Some(v) = self.raw(key) else {
            return Field::Absent;
        };
        match conv(v.get_ref()) {
            Ok(t) => Field::Ok(t, v.span()),
            Err(b) => {
                ctx.error(&v.span(), self.key_path(key), b);
                Field::Invalid
            }
        }
    }

    /// Reads an array, converting each element; bad elements are reported
    /// with their index and left out of the result.
    pub(crate) fn list<T>(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        conv: impl Fn(&DeValue<'i>) -> Result<T, Bad>,
    ) -> Field<Vec<(T, Span)>> {
        let Some(v) = self.raw(key) else {
            return Field::Absent;
        };
        let DeValue::Array(items) = v.get_ref() else {
            let found = type_name(v.get_ref());
            ctx.error(
                &v.span(),
                self.key_path(key),
                bad(
                    format!("expected an array, found {found}"),
                    format!("write a list: {key} = [ ... ]"),
                ),
            );
            return Field::Invalid;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match conv(item.get_ref()) {
                Ok(t) => out.push((t, item.span())),
                Err(b) => ctx.error(&item.span(), format!("{}[{i}]", self.key_path(key)), b),
            }
        }
        Field::Ok(out, v.span())
    }

    /// Reads a sub-table such as `[bgp]`; `None` when absent or not a table.
    pub(crate) fn table(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<Table<'t, 'i>> {
        let v = self.raw(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table {
                inner: t,
                span: v.span(),
                path: self.key_path(key),
            }),
            other => {
                let found = type_name(other);
                ctx.error(
                    &v.span(),
                    self.key_path(key),
                    bad(format!("expected a table [{key}], found {found}"), None),
                );
                None
            }
        }
    }

    /// Reads an array of tables such as `[[route]]`; empty when absent.
    pub(crate) fn tables(&self, ctx: &mut Ctx<'_>, key: &str) -> Vec<Table<'t, 'i>> {
        let Some(v) = self.raw(key) else {
            return Vec::new();
        };
        let path = self.key_path(key);
        let DeValue::Array(items) = v.get_ref() else {
            let found = type_name(v.get_ref());
            ctx.error(
                &v.span(),
                &path,
                bad(
                    format!("expected an array of tables, found {found}"),
                    format!("write [[{path}]] (double brackets) once per entry"),
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            match item.get_ref() {
                DeValue::Table(t) => out.push(Table {
                    inner: t,
                    span: item.span(),
                    path: item_path,
                }),
                other => {
                    let found = type_name(other);
                    ctx.error(
                        &item.span(),
                        item_path,
                        bad(format!("expected a table, found {found}"), None),
                    );
                }
            }
        }
        out
    }
}

/// The known key closest to `unknown`, if it is close enough to be a typo.
pub(crate) fn nearest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = unknown.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| {
            (
                *k,
                strsim::jaro_winkler(&lower, k),
                strsim::normalized_damerau_levenshtein(&lower, k),
            )
        })
        .filter(|(_, jw, dl)| *jw >= 0.88 || *dl >= 0.7)
        .max_by(|a, b| (a.1 + a.2).total_cmp(&(b.1 + b.2)))
        .map(|(k, _, _)| k)
}

/// "a string", "an integer", ... for type-mismatch messages.
pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A string value.
pub(crate) fn string(v: &DeValue<'_>) -> Result<String, Bad> {
    match v {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(bad(
            format!("expected a string, found {}", type_name(other)),
            "put the value in double quotes".to_string(),
        )),
    }
}

/// A boolean value.
pub(crate) fn boolean(v: &DeValue<'_>) -> Result<bool, Bad> {
    match v {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(bad(
            format!("expected a boolean, found {}", type_name(other)),
            "write true or false (without quotes)".to_string(),
        )),
    }
}

/// An integer within `lo..=hi`; `help` says what is right.
pub(crate) fn int_in<T>(v: &DeValue<'_>, lo: T, hi: T, help: &str) -> Result<T, Bad>
where
    T: TryFrom<i128> + Into<i128> + Copy + Display,
{
    let DeValue::Integer(i) = v else {
        return Err(bad(
            format!("expected an integer, found {}", type_name(v)),
            format!("{help} (without quotes)"),
        ));
    };
    let n = i128::from_str_radix(i.as_str(), i.radix()).ok();
    match n
        .filter(|n| *n >= lo.into() && *n <= hi.into())
        .and_then(|n| T::try_from(n).ok())
    {
        Some(t) => Ok(t),
        None => Err(bad(
            format!("{i} is out of range {lo}..={hi}"),
            help.to_string(),
        )),
    }
}

/// A string parsed with [`FromStr`]; `what` names the expected kind of
/// value ("an IP address") and `example` gives a valid one.
pub(crate) fn parsed<T: FromStr>(v: &DeValue<'_>, what: &str, example: &str) -> Result<T, Bad> {
    let s = string(v).map_err(|b| {
        bad(
            b.message,
            format!("write {what} in quotes, e.g. \"{example}\""),
        )
    })?;
    s.trim().parse().map_err(|_| {
        bad(
            format!("'{s}' is not {what}"),
            format!("write {what}, e.g. \"{example}\""),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::nearest;

    #[test]
    fn suggests_close_keys_only() {
        let known = [
            "address",
            "remote_as",
            "hold_time",
            "keepalive",
            "mode",
            "peer",
        ];
        assert_eq!(nearest("remote_asn", &known), Some("remote_as"));
        assert_eq!(nearest("hold-time", &known), Some("hold_time"));
        assert_eq!(nearest("holdtime", &known), Some("hold_time"));
        assert_eq!(nearest("adress", &known), Some("address"));
        assert_eq!(nearest("colour", &known), None);
        assert_eq!(nearest("x", &known), None);
    }
}
