//! Sum of potentials on the same atoms, as LAMMPS `pair_style hybrid/overlay`: energies, forces, virials and
//! per-atom energies add. The usual use is a machine-learned potential plus a core repulsion
//! (`[potential] kind = "overlay"`, `terms = [{ kind = "nnp", … }, { kind = "zbl", … }]`).

use super::{EvaluationResult, Extrapolation, Potential, PotentialConfig, PotentialSettings};
use crate::input::InvalidValue;
use crate::neighbors::NeighborList;
use crate::system::System;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

/// `[potential]` settings for `kind = "overlay"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayConfig {
    /// The potentials that add, each a table like `[potential]` itself.
    pub terms: Vec<PotentialSettings>,
}

impl PotentialConfig for OverlayConfig {
    fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if self.terms.is_empty() {
            return Err(InvalidValue::new(format!("{key}.terms"), "[]", "at least one potential table"));
        }
        for (index, term) in self.terms.iter().enumerate() {
            if let PotentialSettings::Overlay(_) = term {
                return Err(InvalidValue::new(
                    format!("{key}.terms[{index}].kind"),
                    "\"overlay\"",
                    "a single potential (an overlay's terms are not overlays)",
                ));
            }
            term.validate_at(&format!("{key}.terms[{index}]"))?;
        }
        Ok(())
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.terms.iter_mut().for_each(|term| term.resolve_paths(base));
    }

    fn files(&self) -> Vec<std::path::PathBuf> {
        self.terms.iter().flat_map(|term| term.files()).collect()
    }

    fn warnings(&self, key: &str) -> Vec<String> {
        let terms = self.terms.iter().enumerate();
        terms.flat_map(|(index, term)| term.config().warnings(&format!("{key}.terms[{index}]"))).collect()
    }

    /// That of the first term with one (the network of an NNP + ZBL overlay).
    fn data_length_unit_a(&self) -> Option<f64> {
        self.terms.iter().find_map(|term| term.config().data_length_unit_a())
    }

    /// The largest of the terms' (a socket potential with a ZBL core repulsion serves as many as its clients).
    fn concurrency(&self) -> Option<usize> {
        self.terms.iter().filter_map(|term| term.concurrency()).max()
    }

    /// Each term's table as that term's kind keeps it.
    fn restart_table(&self, table: &toml::Table) -> toml::Table {
        let mut kept = table.clone();
        if let Some(toml::Value::Array(tables)) = kept.get_mut("terms") {
            for (term, value) in self.terms.iter().zip(tables.iter_mut()) {
                if let toml::Value::Table(term_table) = value {
                    *term_table = term.config().restart_table(term_table);
                }
            }
        }
        kept
    }

    fn build(&self, key: &str) -> anyhow::Result<Arc<dyn Potential>> {
        let terms = self
            .terms
            .iter()
            .enumerate()
            .map(|(index, term)| term.build_at(&format!("{key}.terms[{index}]")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Arc::new(Overlay::new(terms)))
    }
}

/// Several potentials whose contributions add.
pub struct Overlay {
    terms: Vec<Arc<dyn Potential>>,
    name: String,
}

impl Overlay {
    /// The sum of `terms` (at least one).
    pub fn new(terms: Vec<Arc<dyn Potential>>) -> Overlay {
        assert!(!terms.is_empty(), "an overlay needs at least one term");
        let name = format!("overlay({})", terms.iter().map(|t| t.name()).collect::<Vec<_>>().join(" + "));
        Overlay { terms, name }
    }
}

impl Potential for Overlay {
    fn name(&self) -> &str {
        &self.name
    }

    /// The largest of the terms' cutoffs: one neighbour list serves them all.
    fn cutoff(&self) -> f64 {
        self.terms.iter().map(|t| t.cutoff()).fold(0.0, f64::max)
    }

    /// Elements every term describes.
    fn species(&self) -> Vec<u8> {
        let mut species = self.terms[0].species();
        for term in &self.terms[1..] {
            let other = term.species();
            species.retain(|z| other.contains(z));
        }
        species
    }

    /// Terms evaluated one after the other (each is parallel inside) and summed in term order. The symmetry-function
    /// extrapolation report is the terms' reports merged; the sum has a virial and per-atom energies only when
    /// every term has them.
    fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult {
        let mut total = self.terms[0].compute(system, neighbors)?;
        for term in &self.terms[1..] {
            let part = term.compute(system, neighbors)?;
            total.energy += part.energy;
            total.virial += part.virial;
            for (f, g) in total.forces.iter_mut().zip(&part.forces) {
                *f += g;
            }
            total.has_virial &= part.has_virial;
            if part.atom_energies.is_empty() {
                total.atom_energies.clear();
            }
            for (e, g) in total.atom_energies.iter_mut().zip(&part.atom_energies) {
                *e += g;
            }
            total.extrapolation = merge(total.extrapolation.take(), part.extrapolation);
        }
        Ok(total)
    }
}

fn merge(a: Option<Extrapolation>, b: Option<Extrapolation>) -> Option<Extrapolation> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            for (z, count) in b.counts {
                match a.counts.iter_mut().find(|(y, _)| *y == z) {
                    Some((_, total)) => *total += count,
                    None => a.counts.push((z, count)),
                }
            }
            a.first.extend(b.first);
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::potentials::lj::LennardJones;
    use crate::potentials::testing;
    use crate::potentials::zbl::{Zbl, ZblConfig};
    use crate::potentials::Evaluation;
    use crate::system::Cell;
    use nalgebra::{Matrix3, Vector3};

    /// A restart depends on every key of the ZBL term and on the socket term's `command`, not on how its clients
    /// are reached.
    #[test]
    fn the_restart_table_of_an_overlay_drops_only_its_socket_terms_connection_keys() {
        let text = r#"
            kind = "overlay"
            terms = [
              { kind = "socket", unix_socket = "/tmp/a.sock", clients = 2, response_timeout_s = 5, command = ["c"] },
              { kind = "zbl", inner_a = 0.6, outer_a = 1.1 },
            ]"#;
        let table: toml::Table = toml::from_str(text).unwrap();
        let settings: PotentialSettings = toml::from_str(text).unwrap();
        let kept = settings.config().restart_table(&table);
        let terms = kept["terms"].as_array().unwrap();
        let socket: Vec<&str> = terms[0].as_table().unwrap().keys().map(String::as_str).collect();
        assert_eq!(socket, ["command", "kind"]);
        assert_eq!(terms[1], table["terms"].as_array().unwrap()[1]);
        assert_eq!(kept["kind"].as_str(), Some("overlay"));
    }

    fn cluster() -> System {
        let cell =
            Cell::from_vectors(Vector3::new(6.0, 0.0, 0.0), Vector3::new(0.0, 6.0, 0.0), Vector3::new(0.0, 0.0, 6.0))
                .unwrap();
        let mut s = System::new(cell);
        for (k, r) in
            [[0.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.2, 2.8, 0.3], [3.1, 2.9, 3.0], [3.0, 0.2, 2.9]].iter().enumerate()
        {
            s.push(18, Vector3::new(r[0] + 0.01 * k as f64, r[1], r[2]));
        }
        s
    }

    #[test]
    fn energies_forces_and_virials_of_the_terms_add() {
        let lj: Arc<dyn Potential> = Arc::new(LennardJones::single_species("Ar", 0.0103, 3.405, 2.9, false).unwrap());
        let zbl: Arc<dyn Potential> =
            Arc::new(Zbl::from_config(&ZblConfig { inner_a: 0.5, outer_a: 1.2 }, "potential").unwrap());
        let overlay = Overlay::new(vec![lj.clone(), zbl.clone()]);
        assert_eq!(overlay.cutoff(), 2.9);
        assert_eq!(overlay.species(), vec![18]);
        assert_eq!(overlay.name(), "overlay(lj + zbl)");
        let s = cluster();
        let (a, b, sum) = (testing::evaluate(&*lj, &s), testing::evaluate(&*zbl, &s), testing::evaluate(&overlay, &s));
        assert!(b.energy > 0.0, "the test structure must have a pair inside the ZBL cutoff");
        assert!((sum.energy - a.energy - b.energy).abs() < 1e-12 * sum.energy.abs());
        assert!((sum.virial - a.virial - b.virial).norm() < 1e-12 * sum.virial.norm());
        for i in 0..s.len() {
            assert!((sum.forces[i] - a.forces[i] - b.forces[i]).norm() < 1e-12 * (1.0 + sum.forces[i].norm()));
            assert!((sum.atom_energies[i] - a.atom_energies[i] - b.atom_energies[i]).abs() < 1e-12 * sum.energy.abs());
        }
        // The overlay's own forces and stress against finite differences of its energy (strain of the cell).
        let scale = 1.0 + sum.virial.abs().max();
        assert!(testing::max_force_error(&overlay, &s, 1e-6) < 1e-6 * (1.0 + sum.max_force()));
        assert!(testing::max_virial_error(&overlay, &s, 1e-7) < 1e-6 * scale);
    }

    /// A term standing for a socket client that sends neither a virial nor per-atom energies.
    struct WithoutVirial(Arc<dyn Potential>);

    impl Potential for WithoutVirial {
        fn name(&self) -> &str {
            "no-virial"
        }
        fn cutoff(&self) -> f64 {
            self.0.cutoff()
        }
        fn species(&self) -> Vec<u8> {
            self.0.species()
        }
        fn compute(&self, system: &System, neighbors: &NeighborList) -> EvaluationResult {
            let evaluation = self.0.compute(system, neighbors)?;
            Ok(Evaluation { virial: Matrix3::zeros(), has_virial: false, atom_energies: Vec::new(), ..evaluation })
        }
    }

    #[test]
    fn the_sum_has_a_virial_and_atom_energies_only_when_every_term_has_them() {
        let lj: Arc<dyn Potential> = Arc::new(LennardJones::single_species("Ar", 0.0103, 3.405, 2.9, false).unwrap());
        let zbl: Arc<dyn Potential> =
            Arc::new(Zbl::from_config(&ZblConfig { inner_a: 0.5, outer_a: 1.2 }, "potential").unwrap());
        let overlay = Overlay::new(vec![Arc::new(WithoutVirial(lj)), zbl]);
        let sum = testing::evaluate(&overlay, &cluster());
        assert!(!sum.has_virial);
        assert!(sum.atom_energies.is_empty());
        let settings: PotentialSettings = toml::from_str(
            "kind = \"overlay\"\nterms = [{ kind = \"socket\", tcp_port = 3000, clients = 3 }, { kind = \"zbl\", inner_a = 0.6, outer_a = 1.1 }]",
        )
        .unwrap();
        assert_eq!(settings.concurrency(), Some(3));
    }
}
