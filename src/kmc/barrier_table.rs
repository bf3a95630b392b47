//! The shared NEB barrier table (`barriers.csv`, "mdrun barrier table v1", read by [`crate::io::barrier_table`];
//! the authoritative description is docs/barrier-table.md) turned into a kMC [`SiteNetwork`].
//!
//! Each row is an ion hop `from_site → to_site` (the ion starts on `from_site` and moves into the vacant
//! `to_site`) and defines both directions: from → to with `forward_barrier_ev` = E_saddle − E_initial and
//! to → from with `reverse_barrier_ev` = E_saddle − E_final. The hop vector is (to_x, to_y, to_z) − (from_x,
//! from_y, from_z). A row computed twice (A→B and B→A) gives the same directed hops; they are merged when the
//! barriers agree within 10 meV and rejected otherwise. Rows with `converged = false` are rejected unless the
//! caller accepts them. With a `supercell`, every site and hop is replicated by the lattice translations of
//! the table's cell (a table computed for the distinct hops of one unit cell then describes the whole crystal).

use super::network::{PeriodicBuilder, SiteNetwork};
use crate::io::barrier_table::{BarrierRow, BarrierTable};
use crate::system::Cell;
use anyhow::{bail, Context};
use nalgebra::Vector3;
use std::collections::{BTreeMap, HashMap};

/// Tolerance for two rows giving the same hop different barriers (eV).
const ENERGY_TOLERANCE_EV: f64 = crate::io::barrier_table::ENERGY_TOLERANCE_EV;
/// Tolerance for two rows giving the same site at different places (Å).
const POSITION_TOLERANCE_A: f64 = crate::io::barrier_table::POSITION_TOLERANCE_A;

/// How to turn a table into a network.
#[derive(Clone, Debug, PartialEq)]
pub struct TableOptions {
    /// Only rows of this species (chemical symbol); all rows when `None`.
    pub species: Option<String>,
    /// Use rows marked `converged = false` instead of rejecting the table.
    pub accept_unconverged: bool,
    /// Repeat the table's cell this many times along a, b, c.
    pub supercell: [usize; 3],
    /// Keep rows whose band lies below one of its end points (a barrierless direction), which are otherwise left
    /// out; rows below both end points are always left out. For E_KRA sampling, where such a row still measures
    /// the saddle against the mean of its ends.
    pub keep_one_sided: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions { species: None, accept_unconverged: false, supercell: [1, 1, 1], keep_one_sided: false }
    }
}

/// The rows of `options.species` (all when `None`), rejecting unconverged rows unless they are accepted.
pub fn select_rows<'a>(
    table: &'a BarrierTable,
    options: &TableOptions,
    name: &str,
) -> anyhow::Result<Vec<&'a BarrierRow>> {
    let rows: Vec<&BarrierRow> =
        table.rows.iter().filter(|r| options.species.as_ref().is_none_or(|s| &r.species == s)).collect();
    if rows.is_empty() {
        bail!("{name}: no row has species {:?}", options.species.as_deref().unwrap_or(""));
    }
    if !options.accept_unconverged {
        if let Some(row) = rows.iter().find(|r| !r.converged) {
            let count = rows.iter().filter(|r| !r.converged).count();
            bail!(
                "{name} line {} (path {}): converged = false ({count} unconverged rows); rerun the NEB or set \
                 accept_unconverged = true to use them",
                row.line,
                row.path_id
            );
        }
    }
    // A row whose band lies below an end point has no barrier to use: an unconverged band has not found the saddle,
    // a converged one ends on a state that is not a minimum (an end point relaxed only to fmax, common in a glass).
    // Such rows are left out and said (with `keep_one_sided`, only those below both end points).
    let negative = |r: &BarrierRow| match options.keep_one_sided {
        false => r.forward_barrier_ev < 0.0 || r.reverse_barrier_ev < 0.0,
        true => r.forward_barrier_ev < 0.0 && r.reverse_barrier_ev < 0.0,
    };
    let left_out: Vec<String> = rows
        .iter()
        .filter(|r| negative(r))
        .map(|r| {
            let state = if r.converged { "converged" } else { "unconverged" };
            format!("line {} ({state}, barriers {} / {} eV)", r.line, r.forward_barrier_ev, r.reverse_barrier_ev)
        })
        .collect();
    if !left_out.is_empty() {
        eprintln!(
            "warning: {name}: {} row(s) with a negative barrier (the band lies below an end point) left out: {}",
            left_out.len(),
            left_out.join(", ")
        );
    }
    let rows: Vec<&BarrierRow> = rows.into_iter().filter(|r| !negative(r)).collect();
    if rows.is_empty() {
        bail!("{name}: every row has a negative barrier (the band lies below an end point); rerun the NEB");
    }
    Ok(rows)
}

/// Builds the (periodic) ion-hop network of a table, repeated `options.supercell` times. The basis sites of the
/// unit cell are the table's sites in increasing atom index; the returned `atom_indices[b]` is the atom index of
/// basis site b, and network site i is basis site i mod B of unit cell i div B (see [`PeriodicBuilder`]).
pub fn network_from_table(
    table: &BarrierTable,
    options: &TableOptions,
    name: &str,
) -> anyhow::Result<(SiteNetwork, Vec<usize>)> {
    let rows = select_rows(table, options, name)?;
    let sites = table_sites(&table.cell, &rows, name)?;
    let atom_indices: Vec<usize> = sites.keys().copied().collect();
    let index_of: HashMap<usize, usize> = atom_indices.iter().enumerate().map(|(i, &a)| (a, i)).collect();
    let reference_energy = sites.values().map(|s| s.energy_ev).fold(f64::INFINITY, f64::min);
    let hops = table_hops(&rows, &index_of, &atom_indices, name)?;

    if options.supercell.contains(&0) {
        bail!("supercell = {:?}: expected three positive integers", options.supercell);
    }
    let cell = &table.cell;
    let mut builder = PeriodicBuilder::new(cell.clone(), options.supercell);
    let positions: Vec<Vector3<f64>> = atom_indices.iter().map(|a| sites[a].position).collect();
    for (atom, position) in atom_indices.iter().zip(&positions) {
        builder.add_site(*position, sites[atom].energy_ev - reference_energy);
    }
    for hop in &hops {
        let (from, to) = (hop.from, hop.to);
        // The lattice translation between the hop's landing point and the destination site.
        let offset = cell.fractional(&(positions[from] + hop.vector - positions[to]));
        let image = [0, 1, 2].map(|k| offset[k].round() as i64);
        let landing_error = cell.cartesian(&offset.map(|x| x - x.round())).norm();
        if landing_error > POSITION_TOLERANCE_A {
            bail!(
                "{name} line {}: the hop vector of {} → {} ends {landing_error:.3} Å away from site {} and its \
                 periodic images",
                hop.line,
                atom_indices[from],
                atom_indices[to],
                atom_indices[to]
            );
        }
        builder.add_hop(from, to, image, hop.barrier_ev, &format!("{name} line {}", hop.line));
    }
    let network = builder.build().with_context(|| format!("in {name}"))?;
    Ok((network, atom_indices))
}

/// A site of the table: wrapped position (Å), energy (eV) and the first line that places it.
struct TableSite {
    position: Vector3<f64>,
    energy_ev: f64,
    line: usize,
}

/// The sites of `rows`, keyed by atom index (BTreeMap: deterministic numbering). Refuses rows that put one atom
/// at two places (farther apart than [`POSITION_TOLERANCE_A`]).
fn table_sites(cell: &Cell, rows: &[&BarrierRow], name: &str) -> anyhow::Result<BTreeMap<usize, TableSite>> {
    let mut sites: BTreeMap<usize, TableSite> = BTreeMap::new();
    let mut place = |atom: usize, position: Vector3<f64>, energy_ev: f64, line: usize| -> anyhow::Result<()> {
        let (wrapped, _) = cell.wrap(&position);
        match sites.get(&atom) {
            None => {
                sites.insert(atom, TableSite { position: wrapped, energy_ev, line });
            }
            Some(known) => {
                let d = cell.minimum_image(&(wrapped - known.position)).norm();
                if d > POSITION_TOLERANCE_A {
                    bail!(
                        "{name} line {line}: site {atom} is {d:.3} Å away from where line {} puts it; the rows must \
                         refer to one structure",
                        known.line
                    );
                }
            }
        }
        Ok(())
    };
    for row in rows {
        place(row.from_site, row.from, row.initial_energy_ev, row.line)?;
        place(row.to_site, row.to, row.final_energy_ev, row.line)?;
    }
    Ok(sites)
}

/// A directed hop of the table's cell between site numbers, with the line it came from.
struct TableHop {
    from: usize,
    to: usize,
    barrier_ev: f64,
    vector: Vector3<f64>,
    line: usize,
}

/// Both directions of every row, merging repeated rows (same sites and hop vector to 0.01 Å); refuses a repeat
/// whose barrier differs by more than [`ENERGY_TOLERANCE_EV`].
fn table_hops(
    rows: &[&BarrierRow],
    index_of: &HashMap<usize, usize>,
    atom_indices: &[usize],
    name: &str,
) -> anyhow::Result<Vec<TableHop>> {
    let mut hops: Vec<TableHop> = Vec::new();
    let mut seen: HashMap<(usize, usize, [i64; 3]), usize> = HashMap::new();
    for row in rows {
        let vector = row.to - row.from;
        let (i, j) = (index_of[&row.from_site], index_of[&row.to_site]);
        for (from, to, barrier_ev, v) in
            [(i, j, row.forward_barrier_ev, vector), (j, i, row.reverse_barrier_ev, -vector)]
        {
            let key = (from, to, [0, 1, 2].map(|k| (v[k] * 100.0).round() as i64));
            if let Some(&previous) = seen.get(&key) {
                let known = &hops[previous];
                if (known.barrier_ev - barrier_ev).abs() > ENERGY_TOLERANCE_EV {
                    bail!(
                        "{name} line {}: hop {} → {} has barrier {barrier_ev} eV, but line {} gives {} eV for the \
                         same hop",
                        row.line,
                        atom_indices[from],
                        atom_indices[to],
                        known.line,
                        known.barrier_ev
                    );
                }
                continue;
            }
            seen.insert(key, hops.len());
            hops.push(TableHop { from, to, barrier_ev, vector: v, line: row.line });
        }
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::barrier_table::parse_table;

    const HEADER: &str = "# mdrun barrier table v1\n# structure: inline\n# cell: 4 0 0 0 4 0 0 0 4\n\
path_id,species,from_site,to_site,from_x,from_y,from_z,to_x,to_y,to_z,hop_distance_a,initial_energy_ev,final_energy_ev,saddle_energy_ev,forward_barrier_ev,reverse_barrier_ev,converged\n";

    #[test]
    fn a_table_becomes_a_replicated_network() {
        // Two sites per cell (atoms 3 and 5): 3 at the origin, 5 at (2,0,0); hops 3→5 and 5→3' (across the
        // boundary), asymmetric: site 5 is 0.1 eV higher.
        let text = format!(
            "{HEADER}0,Li,3,5,0,0,0,2,0,0,2.0,-10.0,-9.9,-9.5,0.5,0.4,true\n\
             1,Li,5,3,2,0,0,4,0,0,2.0,-9.9,-10.0,-9.3,0.6,0.7,true\n"
        );
        let table = parse_table(&text, "b.csv").unwrap();
        let options = TableOptions { supercell: [3, 1, 1], ..TableOptions::default() };
        let (net, atoms) = network_from_table(&table, &options, "b.csv").unwrap();
        assert_eq!(net.len(), 6);
        assert_eq!(atoms, vec![3, 5]);
        assert_eq!(net.hop_count(), 12);
        assert!((net.site_energy(1) - 0.1).abs() < 1e-12);
        assert!((net.site_energy(4) - 0.0).abs() < 1e-12);
        // Site 1 (atom 5 in image 0) hops +x into site 2 (atom 3 of image 1) with barrier 0.6.
        let (_, kind) = net.hops(1).into_iter().find(|&(target, _)| target == 2).unwrap();
        assert!((net.hop_kinds()[kind].barrier_ev - 0.6).abs() < 1e-12);
        assert!((net.position(2) - Vector3::new(4.0, 0.0, 0.0)).norm() < 1e-12);
        // And site 5 (atom 5 of the last image) hops +x into site 0 (wrapping around).
        assert!(net.hops(5).iter().any(|&(target, kind)| target == 0 && net.hop_kinds()[kind].vector.x > 0.0));
    }

    #[test]
    fn unconverged_rows_are_rejected_unless_accepted() {
        let text = format!("{HEADER}7,Li,0,1,0,0,0,2,0,0,2.0,-10.0,-10.0,-9.5,0.5,0.5,false\n");
        let table = parse_table(&text, "b.csv").unwrap();
        let err = network_from_table(&table, &TableOptions::default(), "b.csv").unwrap_err().to_string();
        assert!(err.contains("line 5") && err.contains("converged = false") && err.contains("accept_unconverged"));
        let options = TableOptions { accept_unconverged: true, supercell: [2, 1, 1], ..TableOptions::default() };
        assert!(network_from_table(&table, &options, "b.csv").is_ok());
        // An accepted unconverged band still below an end point (reverse −0.5 eV) is left out, not used.
        let below = format!("{text}8,Li,1,0,2,0,0,0,0,0,2.0,-10.0,-9.0,-9.5,0.5,-0.5,false\n");
        let table = parse_table(&below, "b.csv").unwrap();
        let rows = select_rows(&table, &options, "b.csv").unwrap();
        assert_eq!(rows.iter().map(|r| r.path_id).collect::<Vec<_>>(), [7]);
        let one_sided = TableOptions { keep_one_sided: true, ..options.clone() };
        let kept = select_rows(&table, &one_sided, "b.csv").unwrap();
        assert_eq!(kept.iter().map(|r| r.path_id).collect::<Vec<_>>(), [7, 8]);
        let only_below = format!("{HEADER}8,Li,1,0,2,0,0,0,0,0,2.0,-10.0,-9.0,-9.5,0.5,-0.5,false\n");
        let err = select_rows(&parse_table(&only_below, "b.csv").unwrap(), &options, "b.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.csv: every row has a negative barrier (the band lies below an end point); rerun the NEB"
        );
    }

    #[test]
    fn inconsistent_and_malformed_rows_are_errors() {
        // A converged band below its final state (reverse −0.5 eV) is read, then left out like an unconverged one.
        let negative = format!("{HEADER}0,Li,0,1,0,0,0,2,0,0,2.0,-10.0,-9.0,-9.5,0.5,-0.5,true\n");
        let table = parse_table(&negative, "b.csv").unwrap();
        let err = select_rows(&table, &TableOptions::default(), "b.csv").unwrap_err().to_string();
        assert!(err.contains("every row has a negative barrier"), "{err}");
        let mismatch = format!("{HEADER}0,Li,0,1,0,0,0,2,0,0,2.0,-10.0,-10.0,-9.5,0.3,0.5,true\n");
        assert!(parse_table(&mismatch, "b.csv").unwrap_err().to_string().contains("disagree"));
        let short = format!("{HEADER}0,Li,0,1,0,0,0,2,0,0\n");
        assert!(parse_table(&short, "b.csv").unwrap_err().to_string().contains("line 5: 10 fields"));
        let no_cell = "# mdrun barrier table v1\npath_id\n";
        assert!(parse_table(no_cell, "b.csv").is_err());
    }
}
