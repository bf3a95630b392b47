//! DYNAMO funcfl files (LAMMPS `pair_style eam`): one element per file.
//!
//! Layout (values may wrap over any number of lines):
//! ```text
//! comment line
//! Z  mass  lattice-constant  lattice-type
//! Nrho  drho  Nr  dr  cutoff
//! F(ρ) at ρ = 0, drho, …, (Nrho−1)·drho          (Nrho values, eV)
//! Z(r) at r = 0, dr, …, (Nr−1)·dr                  (Nr values, effective charge in √(Hartree·Bohr))
//! ρ(r) at r = 0, dr, …, (Nr−1)·dr                  (Nr values)
//! ```
//! The pair energy of elements i and j is φ_ij(r) = 27.2·0.529·Z_i(r)·Z_j(r)/r (Hartree·Bohr → eV·Å with
//! LAMMPS's constants), Foiles, Baskes & Daw, Phys. Rev. B 33, 7983 (1986).

use super::reader::{fields, positive, GridHeader, TokenReader};
use super::EamFileError;
use crate::system::elements;
use std::path::Path;

/// The tables of one funcfl file, 1-based as in LAMMPS (index 0 unused).
#[derive(Clone, Debug, PartialEq)]
pub struct Funcfl {
    pub atomic_number: u8,
    /// Mass (amu) as given in the file.
    pub mass: f64,
    pub drho: f64,
    pub dr: f64,
    /// Cutoff (Å).
    pub cutoff: f64,
    /// Embedding energy F(ρ) (eV), `nrho` values.
    pub embedding: Vec<f64>,
    /// Effective charge Z(r), `nr` values.
    pub effective_charge: Vec<f64>,
    /// Electron density ρ(r), `nr` values.
    pub density: Vec<f64>,
}

impl Funcfl {
    /// Number of F(ρ) points.
    pub fn nrho(&self) -> usize {
        self.embedding.len() - 1
    }

    /// Number of Z(r) and ρ(r) points.
    pub fn nr(&self) -> usize {
        self.density.len() - 1
    }

    /// Reads a funcfl file.
    pub fn read(path: &Path) -> Result<Funcfl, EamFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| EamFileError::Open { path: path.display().to_string(), source })?;
        Funcfl::parse(path, &text)
    }

    /// Parses funcfl text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Funcfl, EamFileError> {
        let mut reader = TokenReader::new(path, text);
        reader.next_line("a comment line")?;
        let (line, header) = reader.next_line("the element line 'Z mass lattice-constant lattice-type'")?;
        let f = fields(&reader, line, header, 2, "the element line 'Z mass lattice-constant lattice-type'")?;
        let atomic_number = match f[0].parse::<u8>() {
            Ok(z) if elements::standard_mass(z).is_some() && z > 0 => z,
            _ => return Err(reader.error_at(line, format!("atomic number = {}: expected a known element's Z", f[0]))),
        };
        let mass = positive(&reader, line, f[1], "mass")?;
        let grid = GridHeader::read(&mut reader, 6)?;
        let symbol = elements::symbol(atomic_number);
        let embedding = reader.numbers(grid.nrho, &format!("F(rho) for {symbol}"))?;
        let effective_charge = reader.numbers(grid.nr, &format!("Z(r) for {symbol}"))?;
        let density = reader.numbers(grid.nr, &format!("rho(r) for {symbol}"))?;
        reader.finish()?;
        Ok(Funcfl {
            atomic_number,
            mass,
            drho: grid.drho,
            dr: grid.dr,
            cutoff: grid.cutoff,
            embedding,
            effective_charge,
            density,
        })
    }
}
