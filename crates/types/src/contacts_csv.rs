//! Importing and exporting contacts as CSV: the reader (RFC 4180), which
//! column means what, WhatsApp number normalisation and the check of one
//! row. Pure, so the core (which saves) and a future import screen (which
//! previews) use the same rules.
//!
//! Rows are numbered as a spreadsheet numbers them: the header is row 1,
//! the first customer row 2. A quoted cell spanning several lines is still
//! one row.

use serde::{Deserialize, Serialize};

use crate::contact::{check_notes, clean_labels};

/// Longest name kept from a file, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest custom attribute value, in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 1_000;
/// Longest custom attribute name (a column header), in characters.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 64;
/// The attribute an Instagram handle is kept under: an `@handle` is not the
/// Instagram-scoped id conversations are keyed by, so it cannot be matched.
pub const INSTAGRAM_ATTRIBUTE: &str = "Instagram";

/// One row of the file: its 1-based row number and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub row: u64,
    pub cells: Vec<String>,
}

/// A file the reader cannot go on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub row: u64,
    pub reason: String,
}

/// Streams the records of a CSV text: quoted cells, `""` inside quotes,
/// CRLF or LF line ends, newlines inside quoted cells, a leading UTF-8 BOM.
/// A quote inside an unquoted cell is kept as text; a quoted cell that never
/// closes ends the reading with an error.
pub struct CsvReader<'a> {
    rest: &'a str,
    row: u64,
    failed: bool,
}

impl<'a> CsvReader<'a> {
    pub fn new(text: &'a str) -> CsvReader<'a> {
        CsvReader { rest: text.strip_prefix('\u{feff}').unwrap_or(text), row: 0, failed: false }
    }
}

impl Iterator for CsvReader<'_> {
    type Item = Result<Record, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        self.row += 1;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut quoted = false;
        let mut at_cell_start = true;
        let mut end = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if quoted {
                if c == '"' {
                    if matches!(chars.peek(), Some((_, '"'))) {
                        chars.next();
                        cell.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    cell.push(c);
                }
                continue;
            }
            match c {
                '"' if at_cell_start => {
                    quoted = true;
                    at_cell_start = false;
                }
                ',' => {
                    cells.push(std::mem::take(&mut cell));
                    at_cell_start = true;
                }
                '\n' => {
                    end = i + 1;
                    break;
                }
                '\r' if matches!(chars.peek(), Some((_, '\n'))) => {
                    end = i + 2;
                    break;
                }
                '\r' => {
                    end = i + 1;
                    break;
                }
                c => {
                    cell.push(c);
                    at_cell_start = false;
                }
            }
        }
        if quoted {
            self.failed = true;
            return Some(Err(CsvError {
                row: self.row,
                reason: format!(
                    "Row {} opens a quoted cell that never closes: a closing \" is missing. \
                     Fix the file and import it again.",
                    self.row
                ),
            }));
        }
        cells.push(cell);
        self.rest = &self.rest[end..];
        Some(Ok(Record { row: self.row, cells }))
    }
}

/// Which column (by its header) holds what. Columns not named here become
/// custom attributes under their header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    pub name: Option<String>,
    pub whatsapp: Option<String>,
    pub instagram: Option<String>,
    /// Labels, separated by `;`.
    pub labels: Option<String>,
    pub notes: Option<String>,
    /// yes/no, true/false, 1/0.
    pub opted_out: Option<String>,
    /// Headers not imported at all (not even as attributes).
    #[serde(default)]
    pub ignore: Vec<String>,
}

impl ColumnMapping {
    /// A mapping guessed from usual header words ("Name", "Phone",
    /// "WhatsApp", "Labels", "Tags", "Notes", "Opted out", ...).
    pub fn guess(headers: &[String]) -> ColumnMapping {
        let find = |words: &[&str]| {
            headers
                .iter()
                .find(|h| {
                    let h = h.trim().to_lowercase();
                    words.iter().any(|w| h == *w)
                })
                .cloned()
        };
        ColumnMapping {
            name: find(&["name", "full name", "contact name", "customer"]),
            whatsapp: find(&[
                "whatsapp",
                "whatsapp number",
                "phone",
                "phone number",
                "mobile",
                "number",
                "wa_id",
            ]),
            instagram: find(&["instagram", "instagram handle", "instagram username"]),
            labels: find(&["labels", "label", "tags"]),
            notes: find(&["notes", "note"]),
            opted_out: find(&["opted out", "opted_out", "opt-out", "opt out", "unsubscribed"]),
            ignore: Vec::new(),
        }
    }

    /// The column numbers of this mapping in a file with `headers`. `Err`
    /// says which named column the file lacks, or which header is unusable.
    pub fn resolve(&self, headers: &[String]) -> Result<ResolvedMapping, String> {
        let index = |field: &Option<String>| -> Result<Option<usize>, String> {
            match field {
                None => Ok(None),
                Some(name) => headers
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
                    .map(Some)
                    .ok_or_else(|| {
                        format!(
                            "The file has no column named \"{name}\". Choose one of its columns."
                        )
                    }),
            }
        };
        let whatsapp = index(&self.whatsapp)?.ok_or_else(|| {
            "Choose the column that holds the WhatsApp numbers: customers are matched by their \
             number."
                .to_string()
        })?;
        let mut resolved = ResolvedMapping {
            width: headers.len(),
            name: index(&self.name)?,
            whatsapp,
            instagram: index(&self.instagram)?,
            labels: index(&self.labels)?,
            notes: index(&self.notes)?,
            opted_out: index(&self.opted_out)?,
            attributes: Vec::new(),
        };
        let used = [
            resolved.name,
            Some(resolved.whatsapp),
            resolved.instagram,
            resolved.labels,
            resolved.notes,
            resolved.opted_out,
        ];
        for (i, header) in headers.iter().enumerate() {
            let header = header.trim();
            if used.contains(&Some(i))
                || header.is_empty()
                || self.ignore.iter().any(|h| h.trim().eq_ignore_ascii_case(header))
            {
                continue;
            }
            if header.chars().count() > MAX_ATTRIBUTE_NAME_CHARS
                || header.chars().any(char::is_control)
            {
                return Err(format!(
                    "Column {} has a header Parley cannot use as an attribute name (at most \
                     {MAX_ATTRIBUTE_NAME_CHARS} characters, no control characters). Rename it or \
                     leave it out.",
                    i + 1
                ));
            }
            let clash = resolved.attributes.iter().any(|(_, h)| h.eq_ignore_ascii_case(header))
                || (resolved.instagram.is_some()
                    && header.eq_ignore_ascii_case(INSTAGRAM_ATTRIBUTE));
            if clash {
                return Err(format!(
                    "Two columns are named \"{header}\". Rename one, or leave it out."
                ));
            }
            resolved.attributes.push((i, header.to_owned()));
        }
        Ok(resolved)
    }
}

/// A [`ColumnMapping`] as column numbers of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMapping {
    /// Cells in the header.
    pub width: usize,
    pub name: Option<usize>,
    pub whatsapp: usize,
    pub instagram: Option<usize>,
    pub labels: Option<usize>,
    pub notes: Option<usize>,
    pub opted_out: Option<usize>,
    /// (column, attribute name) for every other column.
    pub attributes: Vec<(usize, String)>,
}

/// One customer as a row would save them. `None` means "not given": the
/// contact's current value stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRow {
    pub row: u64,
    /// Digits only, country code first (Meta's `wa_id` form).
    pub wa_id: String,
    pub name: Option<String>,
    pub labels: Vec<String>,
    pub notes: Option<String>,
    /// `Some(true)` opts the customer out; `Some(false)` never undoes an
    /// opt-out (the customer's STOP is kept), it only says "not opted out".
    pub opted_out: Option<bool>,
    /// (name, value), values non-empty; the Instagram handle is one.
    pub attributes: Vec<(String, String)>,
}

/// A row left out, and why (a sentence saying what to fix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

/// What an import would do: the first rows as they would be saved, and
/// every row that would be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub rows: Vec<ContactRow>,
    /// Customer rows in the file (blank rows not counted).
    pub total: u64,
    pub rejected: Vec<RejectedRow>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<RejectedRow>,
}

/// Which contacts to export. Empty `labels` means any; otherwise contacts
/// with at least one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactsFilter {
    pub labels: Vec<String>,
    pub opted_out: Option<bool>,
}

/// A WhatsApp number in Meta's `wa_id` form: digits only, country code
/// first. Accepts a leading `+` and spaces, dashes, dots and parentheses.
pub fn normalize_whatsapp_number(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("This row has no WhatsApp number; add one with its country code.".into());
    }
    let body = raw.strip_prefix('+').unwrap_or(raw);
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err("The WhatsApp number may only hold digits, an optional leading +, \
                            spaces, dashes, dots and parentheses. Correct it."
                    .into())
            }
        }
    }
    if digits.starts_with('0') {
        return Err("The WhatsApp number must start with its country code (for example +44 for \
                    the UK), not 0. Write it in international form."
            .into());
    }
    let n = digits.len();
    if !(8..=15).contains(&n) {
        return Err(format!(
            "The WhatsApp number has {n} digits; an international number has 8 to 15 with its \
             country code. Correct it."
        ));
    }
    Ok(digits)
}

/// yes/no, true/false, 1/0 (any case); empty is "not given".
pub fn parse_yes_no(raw: &str) -> Result<Option<bool>, String> {
    match raw.trim().to_lowercase().as_str() {
        "" => Ok(None),
        "yes" | "y" | "true" | "1" => Ok(Some(true)),
        "no" | "n" | "false" | "0" => Ok(Some(false)),
        _ => Err("The opted-out column must say yes or no (or true/false, 1/0).".into()),
    }
}

/// Check one customer row against the mapping: the clean row, or why it is
/// left out.
pub fn check_row(map: &ResolvedMapping, record: &Record) -> Result<ContactRow, String> {
    let cells = &record.cells;
    if cells.len() > map.width {
        return Err(format!(
            "This row has {} cells but the header has {}; a comma inside a cell needs quotes \
             around the cell.",
            cells.len(),
            map.width
        ));
    }
    let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).map(|c| c.trim()).unwrap_or("");
    let wa_id = normalize_whatsapp_number(cell(Some(map.whatsapp)))?;
    let name = match cell(map.name) {
        "" => None,
        n if n.chars().count() > MAX_NAME_CHARS => {
            return Err(format!("The name is longer than {MAX_NAME_CHARS} characters; shorten it."))
        }
        n if n.chars().any(char::is_control) => {
            return Err("The name cannot contain line breaks or control characters.".into())
        }
        n => Some(n.to_owned()),
    };
    let raw_labels: Vec<String> =
        cell(map.labels).split(';').filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    let labels = clean_labels(&raw_labels)?;
    let notes = match cell(map.notes) {
        "" => None,
        n => {
            check_notes(n)?;
            Some(n.to_owned())
        }
    };
    let opted_out = parse_yes_no(cell(map.opted_out))?;
    let mut attributes = Vec::new();
    if let Some(handle) = Some(cell(map.instagram)).filter(|h| !h.is_empty()) {
        let handle = handle.strip_prefix('@').unwrap_or(handle);
        let ok = (1..=30).contains(&handle.chars().count())
            && handle.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        if !ok {
            return Err("The Instagram handle may hold up to 30 letters, digits, dots and \
                        underscores. Correct it."
                .into());
        }
        attributes.push((INSTAGRAM_ATTRIBUTE.to_owned(), handle.to_owned()));
    }
    for (i, attribute) in &map.attributes {
        let value = cell(Some(*i));
        if value.is_empty() {
            continue;
        }
        if value.chars().count() > MAX_ATTRIBUTE_CHARS {
            return Err(format!(
                "The \"{attribute}\" cell is longer than {MAX_ATTRIBUTE_CHARS} characters; \
                 shorten it."
            ));
        }
        attributes.push((attribute.clone(), value.to_owned()));
    }
    Ok(ContactRow { row: record.row, wa_id, name, labels, notes, opted_out, attributes })
}

/// A record with nothing in it (an empty line), skipped without a report.
pub fn is_blank(record: &Record) -> bool {
    record.cells.iter().all(|c| c.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        CsvReader::new(text).map(|r| r.unwrap().cells).collect()
    }

    fn v(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn the_reader_handles_quotes_line_ends_and_a_bom() {
        assert_eq!(rows("a,b\n1,2\n"), vec![v(&["a", "b"]), v(&["1", "2"])]);
        assert_eq!(rows("a,b\r\n1,2"), vec![v(&["a", "b"]), v(&["1", "2"])]);
        assert_eq!(rows("\u{feff}name\nx"), vec![v(&["name"]), v(&["x"])]);
        assert_eq!(rows("\"a,b\",\"say \"\"hi\"\"\""), vec![v(&["a,b", "say \"hi\""])]);
        assert_eq!(
            rows("\"two\r\nlines\",x\ny,z"),
            vec![v(&["two\r\nlines", "x"]), v(&["y", "z"])]
        );
        assert_eq!(rows(",,\n"), vec![v(&["", "", ""])]);
        assert_eq!(rows("\"\",a"), vec![v(&["", "a"])]);
        assert_eq!(rows("a\"b,c"), vec![v(&["a\"b", "c"])], "a stray quote is text");
        assert_eq!(rows("a\rb"), vec![v(&["a"]), v(&["b"])], "old Mac line ends");
        assert_eq!(rows("x\n\ny"), vec![v(&["x"]), v(&[""]), v(&["y"])]);
        assert!(rows("").is_empty());
    }

    #[test]
    fn rows_are_numbered_like_a_spreadsheet_and_an_open_quote_stops_reading() {
        let records: Vec<_> = CsvReader::new("h\n\"a\nb\"\nc\n").map(Result::unwrap).collect();
        assert_eq!(records.iter().map(|r| r.row).collect::<Vec<_>>(), vec![1, 2, 3]);
        let mut reader = CsvReader::new("h\nok\n\"never closed\nmore");
        assert!(reader.next().unwrap().is_ok());
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err();
        assert_eq!(err.row, 3);
        assert!(err.reason.contains("never closes"));
        assert!(reader.next().is_none());
    }

    #[test]
    fn whatsapp_numbers_are_normalised_to_digits() {
        assert_eq!(normalize_whatsapp_number("+44 20 7946 0958").unwrap(), "442079460958");
        assert_eq!(normalize_whatsapp_number("1 (555) 123-4567").unwrap(), "15551234567");
        assert_eq!(normalize_whatsapp_number(" 49.30.1234567 ").unwrap(), "49301234567");
        assert_eq!(normalize_whatsapp_number("12345678").unwrap(), "12345678");
        assert_eq!(normalize_whatsapp_number("123456789012345").unwrap(), "123456789012345");
        assert!(normalize_whatsapp_number("").unwrap_err().contains("no WhatsApp number"));
        assert!(normalize_whatsapp_number("0207 946 0958").unwrap_err().contains("country code"));
        assert!(normalize_whatsapp_number("+1234567").unwrap_err().contains("7 digits"));
        assert!(normalize_whatsapp_number("1234567890123456").unwrap_err().contains("16 digits"));
        assert!(normalize_whatsapp_number("+1 555 CALL NOW").unwrap_err().contains("only hold"));
        assert!(normalize_whatsapp_number("++15551234567").is_err());
        assert!(normalize_whatsapp_number("1555+1234567").is_err());
    }

    #[test]
    fn a_mapping_resolves_headers_and_keeps_other_columns_as_attributes() {
        let headers = v(&["Name", "Phone", "Tags", "City", "", "Secret"]);
        let mut mapping = ColumnMapping::guess(&headers);
        assert_eq!(mapping.whatsapp.as_deref(), Some("Phone"));
        assert_eq!(mapping.labels.as_deref(), Some("Tags"));
        mapping.ignore = vec!["secret".into()];
        let map = mapping.resolve(&headers).unwrap();
        assert_eq!(map.whatsapp, 1);
        assert_eq!(map.attributes, vec![(3, "City".to_string())]);
        let missing = ColumnMapping { whatsapp: Some("Mobile".into()), ..Default::default() };
        assert!(missing.resolve(&headers).unwrap_err().contains("no column named \"Mobile\""));
        assert!(ColumnMapping::default().resolve(&headers).unwrap_err().contains("WhatsApp"));
        let dup = v(&["Phone", "City", "city"]);
        assert!(ColumnMapping::guess(&dup).resolve(&dup).unwrap_err().contains("Two columns"));
    }

    #[test]
    fn a_row_is_checked_into_a_contact_or_a_reason() {
        let headers = v(&["Name", "WhatsApp", "Instagram", "Labels", "Notes", "Opted out", "City"]);
        let map = ColumnMapping::guess(&headers).resolve(&headers).unwrap();
        let record = |cells: &[&str]| Record { row: 7, cells: v(cells) };
        let row = check_row(
            &map,
            &record(&[
                " Ann ",
                "+1 555 123 4567",
                "@ann.b",
                "VIP; late payer;;",
                "",
                "YES",
                "Oslo",
            ]),
        )
        .unwrap();
        assert_eq!(
            row,
            ContactRow {
                row: 7,
                wa_id: "15551234567".into(),
                name: Some("Ann".into()),
                labels: v(&["VIP", "late payer"]),
                notes: None,
                opted_out: Some(true),
                attributes: vec![
                    ("Instagram".into(), "ann.b".into()),
                    ("City".into(), "Oslo".into())
                ],
            }
        );
        let short = check_row(&map, &record(&["", "15551234567"])).unwrap();
        assert_eq!((short.name, short.opted_out), (None, None), "missing cells are not given");
        let reason = |cells: &[&str]| check_row(&map, &record(cells)).unwrap_err();
        assert!(reason(&["A", "15551234567", "", "", "", "maybe"]).contains("yes or no"));
        assert!(reason(&["A", "15551234567", "not a handle!"]).contains("Instagram"));
        assert!(reason(&["A", "15551234567", "", &"x".repeat(40)]).contains("32"));
        assert!(reason(&["A", "", ""]).contains("no WhatsApp number"));
        assert!(reason(&["A", "15551234567", "", "", "", "", "", "extra"]).contains("8 cells"));
        assert!(reason(&["A\u{1b}", "15551234567"]).contains("control"));
    }
}
