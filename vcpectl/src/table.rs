//! Human output: column tables sized to their content, key/value blocks,
//! and durations and byte counts in short words ("3m12s", "1.5 MiB").

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A table with a header line; columns are as wide as their widest cell,
/// two spaces apart, and the last column is never padded (no trailing
/// blanks, so long free text can end a line).
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra cells are dropped.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let mut cells: Vec<String> = cells.into_iter().take(self.columns.len()).collect();
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text, one line per row after the header, each ending
    /// in a newline.
    pub fn render(&self) -> String {
        let width = |i: usize| {
            let cells = self.rows.iter().map(|r| r[i].chars().count());
            cells
                .chain([self.columns[i].0.chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let line = |cells: &[&str]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let last = i + 1 == cells.len();
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    out.push_str("  ");
                }
                match self.columns[i].1 {
                    Align::Right => {
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(cell);
                    }
                    Align::Left => {
                        out.push_str(cell);
                        if !last {
                            out.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
            out
        };
        let header: Vec<&str> = self.columns.iter().map(|c| c.0).collect();
        let mut out = line(&header);
        for r in &self.rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            out.push_str(&line(&cells));
        }
        out
    }
}

/// Key/value lines indented by `indent`, the values lined up; a value
/// with newlines continues under itself.
pub fn kv(indent: usize, pairs: &[(&str, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let pad = " ".repeat(indent);
    for (k, v) in pairs {
        let mut lines = v.lines();
        let first = lines.next().unwrap_or("");
        let line = format!("{pad}{k:<w$}  {first}");
        out.push_str(line.trim_end());
        out.push('\n');
        for more in lines {
            let line = format!("{pad}{:<w$}  {more}", "");
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// A duration in seconds, short: "42s", "3m12s", "5h07m", "2d03h".
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// "3m12s ago", or "never".
pub fn ago(secs: Option<u64>) -> String {
    secs.map_or_else(|| "never".to_owned(), |s| format!("{} ago", duration(s)))
}

/// A byte count in IEC units: "512 B", "1.5 KiB", "3.2 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// "-" for nothing.
pub fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| x.to_string())
}

/// A list joined by spaces, "-" when empty.
pub fn list<T: ToString>(v: &[T]) -> String {
    if v.is_empty() {
        "-".to_owned()
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_their_widest_cell_and_lines_have_no_trailing_blanks() {
        let mut t = Table::new(&[
            ("NAME", Align::Left),
            ("PACKETS", Align::Right),
            ("NOTE", Align::Left),
        ]);
        t.row(["vpc02".into(), "7".into(), "up".into()]);
        t.row(["a-long-name".into(), "123456789".into(), String::new()]);
        let text = t.render();
        assert_eq!(
            text,
            "NAME           PACKETS  NOTE\n\
             vpc02                7  up\n\
             a-long-name  123456789\n"
        );
        assert!(text.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn rows_are_padded_or_cut_to_the_columns_and_width_counts_characters() {
        let mut t = Table::new(&[("A", Align::Left), ("B", Align::Left)]);
        t.row(["µs".into()]);
        t.row(["x".into(), "y".into(), "dropped".into()]);
        assert_eq!(t.render(), "A   B\nµs\nx   y\n");
    }

    #[test]
    fn key_values_line_up_and_continue_under_themselves() {
        let text = kv(
            2,
            &[
                ("state", "Established".into()),
                ("capabilities", "a\nb".into()),
            ],
        );
        assert_eq!(
            text,
            "  state         Established\n  capabilities  a\n                b\n"
        );
    }

    #[test]
    fn durations_and_bytes_read_short() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(192), "3m12s");
        assert_eq!(duration(3600 * 5 + 420), "5h07m");
        assert_eq!(duration(86_400 * 2 + 3 * 3600), "2d03h");
        assert_eq!(ago(None), "never");
        assert_eq!(ago(Some(5)), "5s ago");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(or_dash(None::<u32>), "-");
        assert_eq!(list::<u32>(&[]), "-");
        assert_eq!(list(&[65001, 65002]), "65001 65002");
    }
}
