//! A whitespace-token reader over the lines of a DYNAMO potential file that remembers line numbers, so
//! every error names the file and line.

use super::EamFileError;
use std::path::Path;

/// Reads header lines and runs of numbers (which may span lines) from a potential file's text.
pub(crate) struct TokenReader<'a> {
    path: &'a Path,
    lines: Vec<&'a str>,
    /// Index of the current line (0-based).
    line: usize,
    /// Tokens of the current line not yet consumed.
    pending: std::vec::IntoIter<&'a str>,
}

impl<'a> TokenReader<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> TokenReader<'a> {
        TokenReader { path, lines: text.lines().collect(), line: 0, pending: Vec::new().into_iter() }
    }

    /// An error at the current line (1-based in the message).
    pub fn error(&self, message: impl Into<String>) -> EamFileError {
        self.error_at(self.line.max(1), message)
    }

    /// An error at a given 1-based line.
    pub fn error_at(&self, line: usize, message: impl Into<String>) -> EamFileError {
        EamFileError::Syntax { path: self.path.display().to_string(), line, message: message.into() }
    }

    /// The next whole line, with its 1-based number; `what` describes it for the end-of-file error.
    /// Any unconsumed value left on the previous line is an error.
    pub fn next_line(&mut self, what: &str) -> Result<(usize, &'a str), EamFileError> {
        self.check_line_consumed()?;
        match self.lines.get(self.line) {
            Some(text) => {
                self.line += 1;
                Ok((self.line, text))
            }
            None => Err(self.error_at(self.line + 1, format!("unexpected end of file: expected {what}"))),
        }
    }

    /// Reads `count` numbers into a 1-based table (`table[0]` = 0), starting on a fresh line (LAMMPS reads
    /// tables line by line) and continuing over as many lines as needed.
    pub fn numbers(&mut self, count: usize, what: &str) -> Result<Vec<f64>, EamFileError> {
        self.check_line_consumed()?;
        // `count` comes from the file: reserve for at most a million values, grow as they are actually read.
        let mut table = Vec::with_capacity(count.min(1 << 20) + 1);
        table.push(0.0);
        while table.len() <= count {
            let token = match self.pending.next() {
                Some(token) => token,
                None => {
                    match self.lines.get(self.line) {
                        Some(text) => {
                            self.line += 1;
                            self.pending = text.split_whitespace().collect::<Vec<_>>().into_iter();
                        }
                        None => {
                            return Err(self.error_at(
                                self.line + 1,
                                format!(
                                    "unexpected end of file: expected {count} values of {what}, found {}",
                                    table.len() - 1
                                ),
                            ))
                        }
                    }
                    continue;
                }
            };
            let value = parse_fortran_float(token).filter(|v| v.is_finite()).ok_or_else(|| {
                self.error(format!("value {} of {what}: expected a finite number, found '{token}'", table.len()))
            })?;
            table.push(value);
        }
        Ok(table)
    }

    /// Checks that nothing but blank lines follows.
    pub fn finish(&mut self) -> Result<(), EamFileError> {
        self.check_line_consumed()?;
        while let Some(text) = self.lines.get(self.line) {
            self.line += 1;
            if let Some(token) = text.split_whitespace().next() {
                return Err(self.error(format!("unexpected value '{token}' after the last table")));
            }
        }
        Ok(())
    }

    fn check_line_consumed(&mut self) -> Result<(), EamFileError> {
        match self.pending.next() {
            Some(token) => Err(self.error(format!(
                "unexpected extra value '{token}' after the end of a table (do the tables hold the Nrho and Nr \
                 values the grid line announces?)"
            ))),
            None => Ok(()),
        }
    }
}

/// Parses a float, also accepting Fortran exponents (`1.0D-03`).
pub(crate) fn parse_fortran_float(token: &str) -> Option<f64> {
    token.parse().ok().or_else(|| token.replace(['D', 'd'], "e").parse().ok())
}

/// Splits a header line into at least `count` fields; the error names the line and what was expected.
pub(crate) fn fields<'a>(
    reader: &TokenReader,
    line: usize,
    text: &'a str,
    count: usize,
    expected: &str,
) -> Result<Vec<&'a str>, EamFileError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() < count {
        return Err(reader.error_at(line, format!("expected {expected}, found '{}'", text.trim())));
    }
    Ok(fields)
}

/// Parses a header field as a number.
pub(crate) fn number(reader: &TokenReader, line: usize, token: &str, name: &str) -> Result<f64, EamFileError> {
    parse_fortran_float(token)
        .filter(|v| v.is_finite())
        .ok_or_else(|| reader.error_at(line, format!("{name}: expected a finite number, found '{token}'")))
}

/// Parses a header field as a positive number.
pub(crate) fn positive(reader: &TokenReader, line: usize, token: &str, name: &str) -> Result<f64, EamFileError> {
    let value = number(reader, line, token, name)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(reader.error_at(line, format!("{name} = {token}: expected a positive number")))
    }
}

/// Parses a header field as a table length, an integer ≥ `least`.
pub(crate) fn table_length(
    reader: &TokenReader,
    line: usize,
    token: &str,
    name: &str,
    least: usize,
) -> Result<usize, EamFileError> {
    match token.parse::<usize>() {
        Ok(n) if n >= least => Ok(n),
        _ => Err(reader.error_at(line, format!("{name} = {token}: expected an integer of at least {least}"))),
    }
}

/// The header line `nrho drho nr dr cutoff` common to funcfl and setfl.
pub(crate) struct GridHeader {
    pub nrho: usize,
    pub drho: f64,
    pub nr: usize,
    pub dr: f64,
    pub cutoff: f64,
}

impl GridHeader {
    /// Reads the grid line; tables need at least `least` points (5 for LAMMPS's spline, 6 for funcfl, whose
    /// common grid drops one point).
    pub fn read(reader: &mut TokenReader, least: usize) -> Result<GridHeader, EamFileError> {
        let (line, text) = reader.next_line("the grid line 'Nrho drho Nr dr cutoff'")?;
        let f = fields(reader, line, text, 5, "the grid line 'Nrho drho Nr dr cutoff'")?;
        let header = GridHeader {
            nrho: table_length(reader, line, f[0], "Nrho", least)?,
            drho: positive(reader, line, f[1], "drho")?,
            nr: table_length(reader, line, f[2], "Nr", least)?,
            dr: positive(reader, line, f[3], "dr")?,
            cutoff: positive(reader, line, f[4], "cutoff")?,
        };
        let table_end = (header.nr - 1) as f64 * header.dr;
        if header.cutoff > table_end * (1.0 + 1e-12) {
            eprintln!(
                "warning: {}:{line}: cutoff = {} Å lies beyond the r tables, which end at (Nr - 1)·dr = {table_end} Å: \
                 beyond it the functions keep their last tabulated values, as in LAMMPS",
                reader.path.display(),
                header.cutoff
            );
        }
        Ok(header)
    }
}
