//! DYNAMO setfl files (LAMMPS `pair_style eam/alloy`): several elements in one file.
//!
//! Layout (values may wrap over any number of lines):
//! ```text
//! three comment lines
//! Nelements  Element1  Element2 …
//! Nrho  drho  Nr  dr  cutoff
//! for each element:  Z  mass  lattice-constant  lattice-type
//!                    F(ρ) (Nrho values, eV), ρ(r) (Nr values)
//! for i = 1…N, j = 1…i:  r·φ_ij(r) (Nr values, eV·Å)
//! ```

use super::reader::{fields, positive, GridHeader, TokenReader};
use super::EamFileError;
use crate::system::elements;
use std::path::Path;

/// One element's tables in a setfl file, 1-based (index 0 unused).
#[derive(Clone, Debug, PartialEq)]
pub struct SetflElement {
    pub atomic_number: u8,
    /// Mass (amu) as given in the file.
    pub mass: f64,
    /// Embedding energy F(ρ) (eV), `nrho` values.
    pub embedding: Vec<f64>,
    /// Electron density ρ(r) of this element, `nr` values.
    pub density: Vec<f64>,
}

/// The tables of a setfl file.
#[derive(Clone, Debug, PartialEq)]
pub struct Setfl {
    pub elements: Vec<SetflElement>,
    pub nrho: usize,
    pub drho: f64,
    pub nr: usize,
    pub dr: f64,
    /// Cutoff (Å).
    pub cutoff: f64,
    /// r·φ_ij(r) (eV·Å) for i ≥ j in the order (0,0), (1,0), (1,1), (2,0)…, 1-based tables of `nr` values.
    pub pair: Vec<Vec<f64>>,
}

impl Setfl {
    /// Reads a setfl file.
    pub fn read(path: &Path) -> Result<Setfl, EamFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| EamFileError::Open { path: path.display().to_string(), source })?;
        Setfl::parse(path, &text)
    }

    /// Parses setfl text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Setfl, EamFileError> {
        let mut reader = TokenReader::new(path, text);
        for _ in 0..3 {
            reader.next_line("three comment lines")?;
        }
        let (line, header) = reader.next_line("the element line 'Nelements Element1 Element2 ...'")?;
        let f = fields(&reader, line, header, 2, "the element line 'Nelements Element1 Element2 ...'")?;
        let count = match f[0].parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(reader.error_at(line, format!("Nelements = {}: expected a positive integer", f[0]))),
        };
        if f.len() != count + 1 {
            return Err(reader.error_at(
                line,
                format!("Nelements = {count} but {} element symbols follow ('{}')", f.len() - 1, header.trim()),
            ));
        }
        let mut symbols = Vec::with_capacity(count);
        for symbol in &f[1..] {
            let z = elements::atomic_number(symbol).ok_or_else(|| {
                reader.error_at(line, format!("unknown element '{symbol}': expected a chemical symbol such as Cu"))
            })?;
            if symbols.iter().any(|&(_, known)| known == z) {
                return Err(reader.error_at(line, format!("element {symbol} is listed twice")));
            }
            symbols.push((*symbol, z));
        }
        let grid = GridHeader::read(&mut reader, 5)?;
        let mut elements_out = Vec::with_capacity(count);
        for &(symbol, atomic_number) in &symbols {
            let what = format!("the line 'Z mass lattice-constant lattice-type' of {symbol}");
            let (line, text) = reader.next_line(&what)?;
            let f = fields(&reader, line, text, 2, &what)?;
            let mass = positive(&reader, line, f[1], &format!("mass of {symbol}"))?;
            let embedding = reader.numbers(grid.nrho, &format!("F(rho) for {symbol}"))?;
            let density = reader.numbers(grid.nr, &format!("rho(r) for {symbol}"))?;
            elements_out.push(SetflElement { atomic_number, mass, embedding, density });
        }
        let mut pair = Vec::with_capacity(count * (count + 1) / 2);
        for i in 0..count {
            for j in 0..=i {
                pair.push(reader.numbers(grid.nr, &format!("r*phi(r) for {}-{}", symbols[i].0, symbols[j].0))?);
            }
        }
        reader.finish()?;
        Ok(Setfl {
            elements: elements_out,
            nrho: grid.nrho,
            drho: grid.drho,
            nr: grid.nr,
            dr: grid.dr,
            cutoff: grid.cutoff,
            pair,
        })
    }
}
