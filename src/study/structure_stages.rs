//! Stages that change which atoms the study works on, without any physics of their own:
//! `kind = "load"` (start again from an earlier stage's structure or a file: branching) and `kind = "remove"`
//! (take formula units out, e.g. Li₂O from Li₃PO₄ glass to make Li-deficient Li₂.₉₀₆PO₄).

use crate::input::{join, InvalidValue};
use crate::system::{elements, System};
use crate::units::G_PER_CM3_PER_AMU_PER_A3;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `kind = "load"`: replaces the current system by the structure a completed earlier stage left (its
/// `final.xyz`, with velocities and image counters) or by a structure file. Exactly one of the two keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    /// Index of an earlier stage of the same run (0-based, as in summary.json and the `NN-kind` folders).
    pub from_stage: Option<usize>,
    /// A structure file (any format `[system].structure` takes), relative to the study file; `{output}` allowed.
    pub structure: Option<PathBuf>,
}

impl LoadSettings {
    /// Checks the keys; `index` is this stage's own index (a `from_stage` must come before it).
    pub fn validate(&self, key: &str, index: usize) -> Result<(), InvalidValue> {
        match (self.from_stage, &self.structure) {
            (Some(_), Some(_)) | (None, None) => Err(InvalidValue::new(
                join(key, "from_stage/structure"),
                if self.from_stage.is_some() { "both given" } else { "neither given" },
                "exactly one of from_stage (an earlier stage's index) and structure (a file)",
            )),
            (Some(from), None) if from >= index => Err(InvalidValue::new(
                join(key, "from_stage"),
                from,
                match index {
                    0 => "the index of an earlier stage, but this is the first stage".to_string(),
                    _ => format!("the index of an earlier stage (0 to {})", index - 1),
                },
            )),
            _ => Ok(()),
        }
    }

    /// Makes a relative `structure` relative to `base` (the study file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(path) = &mut self.structure {
            *path = base.join(&*path);
        }
    }
}

/// How `kind = "remove"` picks the atoms of each formula unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoveSelection {
    /// A random atom of the formula's centre element (the one with coefficient 1, e.g. O in Li₂O), then, for
    /// every other element X of the formula, the n_X atoms of X nearest to it (minimum image) that are still
    /// present: removes compact, locally neutral units.
    #[default]
    Nearest,
    /// count·n_X atoms of every element X drawn at random, independently of each other.
    Random,
}

/// `kind = "remove"`: removes `count` formula units (e.g. 6 × Li₂O), chosen with the stage's random stream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveSettings {
    /// Chemical formula of one unit, e.g. `"Li2O"`: element symbols, each followed by an optional count.
    pub formula: String,
    /// Number of units removed.
    pub count: usize,
    /// `"nearest"` (default) or `"random"`.
    #[serde(default)]
    pub selection: RemoveSelection,
}

/// Parses a formula such as `"Li2O"` or `"P2O5"` into (atomic number, count) in the order written; an element
/// written twice is summed. Errors say what was wrong.
pub fn parse_formula(formula: &str) -> Result<Vec<(u8, usize)>, String> {
    let chars: Vec<char> = formula.chars().collect();
    let mut units: Vec<(u8, usize)> = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        if !chars[k].is_ascii_uppercase() {
            return Err(format!("'{}' at position {} does not start an element symbol", chars[k], k + 1));
        }
        let mut symbol = chars[k].to_string();
        k += 1;
        while k < chars.len() && chars[k].is_ascii_lowercase() {
            symbol.push(chars[k]);
            k += 1;
        }
        let z = elements::atomic_number(&symbol).ok_or_else(|| format!("'{symbol}' is not an element"))?;
        let start = k;
        while k < chars.len() && chars[k].is_ascii_digit() {
            k += 1;
        }
        let n = if start == k {
            1
        } else {
            let digits: String = chars[start..k].iter().collect();
            digits.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("bad count '{digits}'"))?
        };
        match units.iter_mut().find(|(zu, _)| *zu == z) {
            Some(unit) => unit.1 += n,
            None => units.push((z, n)),
        }
    }
    if units.is_empty() {
        return Err("empty formula".into());
    }
    Ok(units)
}

/// What a `remove` stage did (summary.json).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RemoveReport {
    pub formula: String,
    pub count: usize,
    pub selection: RemoveSelection,
    /// Removed atoms, 0-based indices in the structure before the stage, ascending.
    pub removed: Vec<usize>,
    /// Removed atoms per element.
    pub removed_counts: BTreeMap<String, usize>,
    /// With `nearest`: for each unit, the largest distance (Å) between its centre atom and the others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unit_radius_a: Vec<f64>,
    pub atoms_before: usize,
    pub atoms_after: usize,
    pub composition_after: BTreeMap<String, usize>,
    pub density_g_per_cm3: Option<f64>,
}

impl RemoveSettings {
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        let units = parse_formula(&self.formula).map_err(|reason| {
            InvalidValue::new(
                join(key, "formula"),
                &self.formula,
                format!("a chemical formula such as \"Li2O\" ({reason})"),
            )
        })?;
        if self.count == 0 {
            return Err(InvalidValue::new(join(key, "count"), 0, "at least one formula unit"));
        }
        if self.selection == RemoveSelection::Nearest && !units.iter().any(|&(_, n)| n == 1) {
            return Err(InvalidValue::new(
                join(key, "formula"),
                &self.formula,
                "with selection = \"nearest\", a formula with one element of count 1 (the centre of each unit), e.g. \"Li2O\"",
            ));
        }
        Ok(())
    }

    /// Removes the units from `system`, drawing from a stream seeded with `seed`.
    pub fn run(&self, system: &mut System, seed: u64) -> Result<RemoveReport> {
        let units = parse_formula(&self.formula).map_err(anyhow::Error::msg)?;
        for &(z, n) in &units {
            let needed = n * self.count;
            let present = system.count(z);
            if present < needed {
                bail!(
                    "formula = \"{}\", count = {}: needs {needed} {} atoms, the structure has {present}",
                    self.formula,
                    self.count,
                    elements::symbol(z)
                );
            }
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let atoms_of = |z: u8| (0..system.len()).filter(|&i| system.atomic_numbers[i] == z).collect::<Vec<_>>();
        let mut removed = Vec::new();
        let mut unit_radius_a = Vec::new();
        match self.selection {
            RemoveSelection::Random => {
                for &(z, n) in &units {
                    let atoms = atoms_of(z);
                    removed.extend(atoms.choose_multiple(&mut rng, n * self.count).copied());
                }
            }
            RemoveSelection::Nearest => {
                let centre = units.iter().find(|&&(_, n)| n == 1).expect("validated").0;
                let mut taken = vec![false; system.len()];
                let mut centres = atoms_of(centre);
                for _ in 0..self.count {
                    let pick = rand::Rng::gen_range(&mut rng, 0..centres.len());
                    let c = centres.swap_remove(pick);
                    taken[c] = true;
                    removed.push(c);
                    let mut radius: f64 = 0.0;
                    for &(z, n) in units.iter().filter(|&&(z, _)| z != centre) {
                        let mut candidates: Vec<(f64, usize)> = atoms_of(z)
                            .into_iter()
                            .filter(|&j| !taken[j])
                            .map(|j| (system.displacement(c, j).norm(), j))
                            .collect();
                        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        for &(d, j) in candidates.iter().take(n) {
                            taken[j] = true;
                            removed.push(j);
                            radius = radius.max(d);
                        }
                    }
                    unit_radius_a.push(radius);
                    centres.retain(|&j| !taken[j]);
                }
            }
        }
        removed.sort_unstable();
        let mut removed_counts = BTreeMap::new();
        for &i in &removed {
            *removed_counts.entry(system.symbol(i).to_string()).or_insert(0) += 1;
        }
        let atoms_before = system.len();
        for &i in removed.iter().rev() {
            system.remove(i);
        }
        let mut composition_after = BTreeMap::new();
        for z in system.species() {
            composition_after.insert(elements::symbol(z).to_string(), system.count(z));
        }
        Ok(RemoveReport {
            formula: self.formula.clone(),
            count: self.count,
            selection: self.selection,
            removed,
            removed_counts,
            unit_radius_a,
            atoms_before,
            atoms_after: system.len(),
            composition_after,
            density_g_per_cm3: density_g_per_cm3(system),
        })
    }
}

/// Mass density ρ = Σ m_i / V in g/cm³, or `None` without a periodic cell.
pub fn density_g_per_cm3(system: &System) -> Option<f64> {
    let volume = system.cell.volume();
    (volume > 0.0 && system.cell.is_fully_periodic())
        .then(|| system.masses.iter().sum::<f64>() / volume * G_PER_CM3_PER_AMU_PER_A3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Cell;
    use nalgebra::Vector3;

    /// A rock-salt-like toy: O on a simple cubic grid, Li pairs beside each O along ±x at 1.0 Å.
    fn toy() -> System {
        let mut system = System::new(Cell::orthorhombic(12.0, 12.0, 12.0).unwrap());
        for i in 0..3 {
            for j in 0..3 {
                for k in 0..3 {
                    let o = Vector3::new(i as f64 * 4.0 + 1.5, j as f64 * 4.0, k as f64 * 4.0);
                    system.push(8, o);
                    system.push(3, o + Vector3::new(1.0, 0.0, 0.0));
                    system.push(3, o - Vector3::new(1.0, 0.0, 0.0));
                }
            }
        }
        system
    }

    #[test]
    fn formulas_parse_and_bad_ones_say_why() {
        assert_eq!(parse_formula("Li2O").unwrap(), vec![(3, 2), (8, 1)]);
        assert_eq!(parse_formula("P2O5").unwrap(), vec![(15, 2), (8, 5)]);
        assert_eq!(parse_formula("LiOLi").unwrap(), vec![(3, 2), (8, 1)]);
        assert!(parse_formula("li2O").unwrap_err().contains("position 1"));
        assert!(parse_formula("Xx2").unwrap_err().contains("'Xx' is not an element"));
        assert!(parse_formula("Li0").unwrap_err().contains("bad count"));
        assert!(parse_formula("").is_err());
    }

    #[test]
    fn nearest_removes_each_oxygen_with_its_own_two_lithium() {
        let mut system = toy();
        let settings = RemoveSettings { formula: "Li2O".into(), count: 6, selection: RemoveSelection::Nearest };
        settings.validate("stage[0]").unwrap();
        let report = settings.run(&mut system, 7).unwrap();
        assert_eq!(report.atoms_after, 81 - 18);
        assert_eq!(report.removed_counts["Li"], 12);
        assert_eq!(report.removed_counts["O"], 6);
        // Each unit is an O and the two Li bonded to it at 1 Å: removed indices come in triples 3m, 3m+1, 3m+2.
        assert!(report.unit_radius_a.iter().all(|&r| (r - 1.0).abs() < 1e-12));
        for triple in report.removed.chunks(3) {
            assert_eq!(triple[0] % 3, 0);
            assert_eq!(triple, [triple[0], triple[0] + 1, triple[0] + 2]);
        }
        assert_eq!(system.count(3), 2 * system.count(8));
    }

    #[test]
    fn removal_is_reproducible_and_depends_on_the_seed() {
        let run = |seed, selection| {
            let settings = RemoveSettings { formula: "Li2O".into(), count: 5, selection };
            settings.run(&mut toy(), seed).unwrap().removed
        };
        for selection in [RemoveSelection::Nearest, RemoveSelection::Random] {
            assert_eq!(run(1, selection), run(1, selection));
            assert_ne!(run(1, selection), run(2, selection));
        }
        let random = RemoveSettings { formula: "Li2O".into(), count: 5, selection: RemoveSelection::Random };
        let mut system = toy();
        let report = random.run(&mut system, 3).unwrap();
        assert_eq!((report.removed_counts["Li"], report.removed_counts["O"]), (10, 5));
        assert!(report.unit_radius_a.is_empty());
    }

    #[test]
    fn too_many_units_and_bad_keys_are_errors() {
        let settings = RemoveSettings { formula: "Li2O".into(), count: 28, selection: RemoveSelection::Nearest };
        let err = settings.run(&mut toy(), 1).unwrap_err().to_string();
        assert_eq!(err, "formula = \"Li2O\", count = 28: needs 56 Li atoms, the structure has 54");
        let err = RemoveSettings { formula: "Li2O2".into(), count: 1, selection: RemoveSelection::Nearest }
            .validate("stage[3]")
            .unwrap_err();
        assert!(err.to_string().starts_with("stage[3].formula = Li2O2: expected with selection"));
        let err = RemoveSettings { formula: "Li2O".into(), count: 0, selection: RemoveSelection::Random }
            .validate("stage[3]")
            .unwrap_err();
        assert_eq!(err.to_string(), "stage[3].count = 0: expected at least one formula unit");
    }

    #[test]
    fn density_of_a_known_cell() {
        // Fcc copper, a = 3.615 Å: 4 × 63.546 amu in 47.242 Å³ → 8.9345 g/cm³ (handbook: 8.93-8.96).
        let mut system = System::new(Cell::orthorhombic(3.615, 3.615, 3.615).unwrap());
        for p in [[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]] {
            system.push(29, Vector3::new(p[0], p[1], p[2]) * 3.615);
        }
        assert!((density_g_per_cm3(&system).unwrap() - 8.9345).abs() < 5e-4);
        let load = LoadSettings { from_stage: Some(2), structure: None };
        assert_eq!(
            load.validate("stage[2]", 2).unwrap_err().to_string(),
            "stage[2].from_stage = 2: expected the index of an earlier stage (0 to 1)"
        );
        assert!(load.validate("stage[3]", 3).is_ok());
    }
}
