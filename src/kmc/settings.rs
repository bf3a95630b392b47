//! The settings of a `kind = "kmc"` stage (keys in docs/kmc.md): the sweep, the site network as a table tagged
//! by `kind` ([`Network`]) and the carriers as a table with one key ([`Carriers`]), so that a stage cannot name two
//! network sources or two carrier placements. The flat keys of the layout before issue 18 (`lattice`,
//! `barrier_table`, `carrier_fraction`, ...) are an error that spells out the new tables (`moved_keys`).
//!
//! Parse errors come from serde and appear under the `[[stage]]` line of the file; values are checked by
//! [`KmcSettings::validate`], whose errors name the full key (`stage[3].network.hop_cutoff_a`).

use super::network::Lattice;
use crate::input::{join, positive, InvalidValue};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// What hops: vacancies exchanging with ions (the ions' barriers, seen from the vacancy) or the ions themselves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierKind {
    /// Carriers are vacancies in a fully occupied ion sublattice; a vacancy at i moves to j when the ion on j
    /// makes the hop j → i.
    #[default]
    Vacancy,
    /// Carriers are mobile ions; an ion hops to an empty site.
    Ion,
}

/// How a barrier table with `structure` assigns barriers to the structure's hops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BarrierAssignment {
    /// Hops whose environments match a tabulated hop get its barrier (crystals; `equivalence`).
    #[default]
    Environment,
    /// Every pair within the hop cutoff gets a barrier drawn from the tabulated ones (glasses; `sampling`).
    Sample,
    /// Every pair within the hop cutoff gets a kinetically resolved barrier drawn from the table, on top of the
    /// vacancy energies of `site_energies` (glasses with trapping; `sampling`).
    Kra,
}

impl BarrierAssignment {
    /// The value as written in the study file, quoted.
    fn quoted(self) -> &'static str {
        match self {
            BarrierAssignment::Environment => "\"environment\"",
            BarrierAssignment::Sample => "\"sample\"",
            BarrierAssignment::Kra => "\"kra\"",
        }
    }
}

/// Settings of a `kind = "kmc"` stage.
// `remote = "Self"` makes the derived deserializer an inherent `KmcSettings::deserialize`, which the
// `Deserialize` impl below calls after checking for the keys of the old layout.
#[derive(Clone, Debug, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct KmcSettings {
    /// Temperatures of the sweep (K), each simulated independently.
    pub temperatures_k: Vec<f64>,
    /// Production events per temperature.
    pub events: u64,
    /// Events before production, discarded (default 0).
    #[serde(default)]
    pub equilibration_events: u64,
    /// Blocks the production run is cut into for the uncertainties (default 100, ≥ 2).
    #[serde(default = "default_blocks")]
    pub blocks: u64,
    /// Attempt frequency ν (Hz = s⁻¹, default 10¹³).
    #[serde(default = "default_attempt_frequency")]
    pub attempt_frequency_hz: f64,
    /// `vacancy` (default) or `ion`.
    #[serde(default)]
    pub carrier: CarrierKind,
    /// How many carriers and where they start.
    pub carriers: Carriers,
    /// With `carrier = "vacancy"`: also follow the ions (tracer D of the ions; default true).
    pub track_ions: Option<bool>,
    /// Where the sites and hops come from.
    pub network: Network,
    /// Write carrier positions every this many ps (default: no trajectory).
    pub trajectory_interval_ps: Option<f64>,
    /// Write the fraction of time each site was occupied (default false).
    #[serde(default)]
    pub site_occupancy: bool,
}

fn default_blocks() -> u64 {
    100
}

fn default_attempt_frequency() -> f64 {
    1e13
}

impl<'de> Deserialize<'de> for KmcSettings {
    /// The stage table, first checked for keys of the old flat layout (an error giving the new spelling).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = Table::deserialize(deserializer)?;
        if let Some(message) = moved_keys(&table) {
            return Err(D::Error::custom(message));
        }
        KmcSettings::deserialize(Value::Table(table)).map_err(|e| D::Error::custom(e.message()))
    }
}

/// `network = { kind = "...", ... }`: the source of the site network.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(remote = "Self", tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Network {
    /// A generated cubic lattice: `lattice`, `repeat`, `lattice_constant_a`, `barrier_ev`.
    Lattice(Lattice),
    /// A kMC catalogue file (docs/kmc.md).
    Catalogue {
        /// Relative to the input file's folder.
        path: PathBuf,
    },
    /// An NEB barrier table (`barriers.csv`, docs/barrier-table.md), optionally mapped onto a structure.
    BarrierTable(BarrierTableNetwork),
}

impl Network {
    /// The files the network is read from, as written (relative to the input file's folder).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Network::Lattice(_) => Vec::new(),
            Network::Catalogue { path } => vec![path.clone()],
            Network::BarrierTable(table) => std::iter::once(table.path.clone())
                .chain(table.structure.clone())
                .chain(table.site_energies.clone())
                .collect(),
        }
    }
}

/// The values of `network.kind`, as an error message lists them.
const NETWORK_KINDS: &str = "\"lattice\", \"catalogue\" or \"barrier_table\"";

impl<'de> Deserialize<'de> for Network {
    /// Checks `kind` first, so that a missing or unknown kind is named as such; errors inside the table are
    /// prefixed with `network`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = match Value::deserialize(deserializer)? {
            Value::Table(table) => table,
            other => {
                return Err(D::Error::custom(format!(
                    "network = {other}: expected a table tagged by kind, e.g. network = {{ kind = \"catalogue\", \
                     path = \"catalogue.txt\" }}"
                )))
            }
        };
        let kind = match table.get("kind") {
            Some(Value::String(kind)) if ["lattice", "catalogue", "barrier_table"].contains(&kind.as_str()) => {
                kind.clone()
            }
            Some(other) => return Err(D::Error::custom(format!("network.kind = {other}: expected {NETWORK_KINDS}"))),
            None => return Err(D::Error::custom(format!("network.kind = (missing): expected {NETWORK_KINDS}"))),
        };
        Network::deserialize(Value::Table(table))
            .map_err(|e| D::Error::custom(format!("network (kind = \"{kind}\"): {}", e.message())))
    }
}

/// `network = { kind = "barrier_table", path = "...", ... }`. Without `structure` the network is the tabulated
/// hops (repeated `supercell` times); with it, every pair of mobile atoms of the structure gets a barrier by
/// `barrier_assignment`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarrierTableNetwork {
    /// The table (relative to the input file's folder).
    pub path: PathBuf,
    /// Use only rows of this species (default: all rows).
    pub species: Option<String>,
    /// Use rows with `converged = false` (default false: such rows are an error).
    #[serde(default)]
    pub accept_unconverged: bool,
    /// Repeat the table's cell (default [1, 1, 1]), or the structure's with `structure`.
    pub supercell: Option<[usize; 3]>,
    /// The structure the table's sites refer to (relative to the input file's folder). With it, every pair of
    /// mobile atoms whose environment matches a tabulated hop gets its barrier (symmetry-equivalent hops are
    /// replicated, see `equivalence`), or a drawn one (`barrier_assignment`).
    pub structure: Option<PathBuf>,
    /// With `structure`: `"environment"` (default; replicate tabulated hops onto pairs with matching
    /// environments, for crystals), `"sample"` (every pair within `hop_cutoff_a` gets a barrier drawn from the
    /// table's forward barriers, for glasses) or `"kra"` (drawn E_KRA on top of `site_energies`); see `sampling`.
    #[serde(default)]
    pub barrier_assignment: BarrierAssignment,
    /// With `barrier_assignment = "kra"`: a `vacancy` stage's `vacancies.csv` giving the vacancy formation energy
    /// at every site of `structure` (relative to the input file's folder).
    pub site_energies: Option<PathBuf>,
    /// With `structure`: longest hop considered (Å, default: longest tabulated hop + 0.1 Å).
    pub hop_cutoff_a: Option<f64>,
    /// With `structure` and `barrier_assignment = "environment"`: radius of the compared environments (Å,
    /// default 4.0).
    pub environment_radius_a: Option<f64>,
    /// With `structure` and `barrier_assignment = "environment"`: largest difference of matching distances (Å,
    /// default 0.02).
    pub environment_tolerance_a: Option<f64>,
}

/// `carriers = { count = N }`, `{ fraction = x }` or `{ sites = [...] }`: how many carriers and where they start.
#[derive(Clone, Debug, PartialEq)]
pub enum Carriers {
    /// This many carriers on random distinct sites (seeded).
    Count(usize),
    /// This fraction of the sites (0 < x < 1), rounded to the nearest count ≥ 1, on random distinct sites.
    Fraction(f64),
    /// These network site indices.
    Sites(Vec<usize>),
}

/// The keys a `carriers` table may hold; exactly one of them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CarriersTable {
    count: Option<usize>,
    fraction: Option<f64>,
    sites: Option<Vec<usize>>,
}

const CARRIERS_EXPECTED: &str =
    "a table with exactly one of count, fraction, sites, e.g. carriers = { count = 1 } or { fraction = 0.01 }";

impl<'de> Deserialize<'de> for Carriers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let Value::Table(table) = &value else {
            return Err(D::Error::custom(format!("carriers = {value}: expected {CARRIERS_EXPECTED}")));
        };
        let keys = CarriersTable::deserialize(value.clone())
            .map_err(|e| D::Error::custom(format!("carriers: {}", e.message())))?;
        match keys {
            CarriersTable { count: Some(n), fraction: None, sites: None } => Ok(Carriers::Count(n)),
            CarriersTable { count: None, fraction: Some(x), sites: None } => Ok(Carriers::Fraction(x)),
            CarriersTable { count: None, fraction: None, sites: Some(s) } => Ok(Carriers::Sites(s)),
            _ => Err(D::Error::custom(format!("carriers = {}: expected {CARRIERS_EXPECTED}", inline(table)))),
        }
    }
}

/// A table as an inline TOML table, `{ a = 1, b = "x" }` (`{}` when empty).
fn inline<'a>(entries: impl IntoIterator<Item = (&'a String, &'a Value)>) -> String {
    let entries: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
    match entries.is_empty() {
        true => "{}".into(),
        false => format!("{{ {} }}", entries.join(", ")),
    }
}

/// Keys of the flat layout before issue 18 that now live in the `network` table.
const MOVED_NETWORK_KEYS: [&str; 12] = [
    "lattice",
    "catalogue",
    "barrier_table",
    "species",
    "accept_unconverged",
    "supercell",
    "structure",
    "barrier_assignment",
    "site_energies",
    "hop_cutoff_a",
    "environment_radius_a",
    "environment_tolerance_a",
];

/// If the stage table uses keys of the flat layout before issue 18 (a network source and its keys at the stage
/// level; `carriers = N`, `carrier_fraction`, `carrier_sites`), the error naming them and the tables to write
/// instead, built from their values.
fn moved_keys(stage: &Table) -> Option<String> {
    let network: Vec<(&String, &Value)> = MOVED_NETWORK_KEYS.iter().filter_map(|k| stage.get_key_value(*k)).collect();
    let carriers = [("carriers", "count"), ("carrier_fraction", "fraction"), ("carrier_sites", "sites")]
        .into_iter()
        .filter_map(|(old, new)| stage.get(old).filter(|v| !v.is_table()).map(|v| (old, new, v)))
        .collect::<Vec<_>>();
    if network.is_empty() && carriers.is_empty() {
        return None;
    }
    let mut old: Vec<String> = network.iter().map(|(k, v)| old_key(k, v)).collect();
    old.extend(carriers.iter().map(|(k, _, v)| old_key(k, v)));
    let mut new = Vec::new();
    if !network.is_empty() {
        new.push(format!("network = {}", network_table(&network)));
    }
    for (_, key, value) in &carriers {
        new.push(format!("carriers = {{ {key} = {value} }}"));
    }
    Some(format!(
        "{}: these kMC keys moved into the network and carriers tables; write instead (docs/kmc.md, \"Moved keys\"):\n{}",
        old.join(", "),
        new.join("\n")
    ))
}

fn old_key(key: &str, value: &Value) -> String {
    match value {
        Value::Table(_) => format!("[stage.{key}]"),
        _ => format!("{key} = {value}"),
    }
}

/// The `network` table holding the old keys: the lattice's keys (its `kind` becoming `lattice`), the catalogue's
/// path, or the barrier table's path and keys.
fn network_table(old: &[(&String, &Value)]) -> String {
    let get = |key: &str| old.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let mut entries = Vec::new();
    let kind = if let Some(Value::Table(lattice)) = get("lattice") {
        entries.extend(lattice.iter().map(|(k, v)| (if k == "kind" { "lattice" } else { k.as_str() }, v.clone())));
        "lattice"
    } else if let Some(path) = get("catalogue") {
        entries.push(("path", path.clone()));
        "catalogue"
    } else {
        let path = get("barrier_table").cloned().unwrap_or_else(|| Value::String("barriers.csv".into()));
        entries.push(("path", path));
        let keys = old.iter().filter(|(k, _)| !["lattice", "catalogue", "barrier_table"].contains(&k.as_str()));
        entries.extend(keys.map(|(k, v)| (k.as_str(), (*v).clone())));
        "barrier_table"
    };
    let entries: Vec<String> = entries.iter().map(|(k, v)| format!(", {k} = {v}")).collect();
    format!("{{ kind = \"{kind}\"{} }}", entries.concat())
}

impl KmcSettings {
    /// Checks every value; `key` is the stage prefix, e.g. `stage[3]`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        if self.temperatures_k.is_empty() {
            return Err(InvalidValue::new(join(key, "temperatures_k"), "[]", "at least one temperature"));
        }
        for (i, &t) in self.temperatures_k.iter().enumerate() {
            positive(key, &format!("temperatures_k[{i}]"), t)?;
        }
        if self.blocks < 2 {
            return Err(InvalidValue::new(join(key, "blocks"), self.blocks, "an integer ≥ 2"));
        }
        if self.events < self.blocks {
            return Err(InvalidValue::new(
                join(key, "events"),
                self.events,
                format!("at least one event per block (blocks = {})", self.blocks),
            ));
        }
        positive(key, "attempt_frequency_hz", self.attempt_frequency_hz)?;
        self.network.validate(&join(key, "network"))?;
        if self.network.uses_site_energies() && self.carrier != CarrierKind::Vacancy {
            return Err(InvalidValue::new(
                join(key, "carrier"),
                "\"ion\"",
                "\"vacancy\" with barrier_assignment = \"kra\" (the site energies are vacancy formation energies)",
            ));
        }
        self.carriers.validate(&join(key, "carriers"))?;
        if self.carrier == CarrierKind::Ion && self.track_ions == Some(true) {
            return Err(InvalidValue::new(join(key, "track_ions"), true, "track_ions only with carrier = \"vacancy\""));
        }
        if let Some(dt) = self.trajectory_interval_ps {
            positive(key, "trajectory_interval_ps", dt)?;
        }
        Ok(())
    }

    pub(super) fn track_ions(&self) -> bool {
        self.carrier == CarrierKind::Vacancy && self.track_ions.unwrap_or(true)
    }
}

impl Network {
    /// Checks the values of the table; `key` is its full key, e.g. `stage[3].network`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        match self {
            Network::Lattice(lattice) => {
                positive(key, "lattice_constant_a", lattice.lattice_constant_a)?;
                if !(lattice.barrier_ev >= 0.0 && lattice.barrier_ev.is_finite()) {
                    return Err(InvalidValue::new(join(key, "barrier_ev"), lattice.barrier_ev, "a finite barrier ≥ 0"));
                }
                if lattice.repeat.iter().any(|&n| n < 2) {
                    let repeat = format!("{:?}", lattice.repeat);
                    return Err(InvalidValue::new(join(key, "repeat"), repeat, "three integers ≥ 2"));
                }
                let sites = crate::system::replicated_count(lattice.kind.basis_count(), lattice.repeat);
                if sites > super::network::MAX_SITES as u128 {
                    return Err(InvalidValue::new(
                        join(key, "repeat"),
                        format!("{:?}", lattice.repeat),
                        format!("at most {:e} sites in all (this gives {sites})", super::network::MAX_SITES),
                    ));
                }
                Ok(())
            }
            Network::Catalogue { path } => file_path(key, path),
            Network::BarrierTable(table) => table.validate(key),
        }
    }

    /// Whether the vacancy energies of `site_energies` enter the barriers (`barrier_assignment = "kra"`).
    pub fn uses_site_energies(&self) -> bool {
        matches!(self, Network::BarrierTable(t) if t.barrier_assignment == BarrierAssignment::Kra)
    }
}

/// Requires a non-empty `path`.
fn file_path(key: &str, path: &Path) -> Result<(), InvalidValue> {
    match path.as_os_str().is_empty() {
        true => Err(InvalidValue::new(join(key, "path"), "\"\"", "a file path, relative to the study file's folder")),
        false => Ok(()),
    }
}

impl BarrierTableNetwork {
    /// Checks the values and which keys go together; `key` is the table's full key, e.g. `stage[3].network`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        file_path(key, &self.path)?;
        if let Some(n) = self.supercell.filter(|n| n.contains(&0)) {
            return Err(InvalidValue::new(join(key, "supercell"), format!("{n:?}"), "three positive integers"));
        }
        match self.structure {
            None => self.validate_without_structure(key)?,
            Some(_) => self.validate_with_structure(key)?,
        }
        for (name, given) in self.lengths() {
            given.map_or(Ok(()), |v| positive(key, name, v))?;
        }
        Ok(())
    }

    /// The optional lengths (Å), by key: the hop cutoff, the environment radius and tolerance.
    fn lengths(&self) -> [(&'static str, Option<f64>); 3] {
        [
            ("hop_cutoff_a", self.hop_cutoff_a),
            ("environment_radius_a", self.environment_radius_a),
            ("environment_tolerance_a", self.environment_tolerance_a),
        ]
    }

    /// Without `structure` the tabulated hops are the network: no key about mapping them onto a structure.
    fn validate_without_structure(&self, key: &str) -> Result<(), InvalidValue> {
        if self.barrier_assignment != BarrierAssignment::Environment {
            let value = self.barrier_assignment.quoted();
            return Err(InvalidValue::new(join(key, "barrier_assignment"), value, "this value only with structure"));
        }
        if let Some(path) = &self.site_energies {
            let value = format!("\"{}\"", path.display());
            return Err(InvalidValue::new(join(key, "site_energies"), value, "this key only with structure"));
        }
        match self.lengths().into_iter().find_map(|(name, given)| Some((name, given?))) {
            Some((name, value)) => Err(InvalidValue::new(join(key, name), value, "this key only with structure")),
            None => Ok(()),
        }
    }

    /// `site_energies` exactly with `barrier_assignment = "kra"`; the environment keys only with `"environment"`.
    fn validate_with_structure(&self, key: &str) -> Result<(), InvalidValue> {
        let assignment = self.barrier_assignment;
        match (assignment, &self.site_energies) {
            (BarrierAssignment::Kra, None) => {
                let expected =
                    "the vacancies.csv of a vacancy stage over every site, with barrier_assignment = \"kra\"";
                return Err(InvalidValue::new(join(key, "site_energies"), "(missing)", expected));
            }
            (BarrierAssignment::Environment | BarrierAssignment::Sample, Some(path)) => {
                let value = format!("\"{}\"", path.display());
                let expected = "this key only with barrier_assignment = \"kra\"";
                return Err(InvalidValue::new(join(key, "site_energies"), value, expected));
            }
            _ => {}
        }
        if assignment == BarrierAssignment::Environment {
            return Ok(());
        }
        let [_, radius, tolerance] = self.lengths();
        match [radius, tolerance].into_iter().find_map(|(name, given)| Some((name, given?))) {
            Some((name, value)) => {
                let expected = format!("no environment key with barrier_assignment = {}", assignment.quoted());
                Err(InvalidValue::new(join(key, name), value, expected))
            }
            None => Ok(()),
        }
    }
}

impl Carriers {
    /// Checks the count, fraction or site list; `key` is the table's full key, e.g. `stage[3].carriers`.
    pub fn validate(&self, key: &str) -> Result<(), InvalidValue> {
        match self {
            Carriers::Count(0) => Err(InvalidValue::new(join(key, "count"), 0, "at least one carrier")),
            Carriers::Fraction(x) if !(*x > 0.0 && *x < 1.0) => {
                Err(InvalidValue::new(join(key, "fraction"), x, "a fraction of the sites, 0 < x < 1"))
            }
            Carriers::Sites(sites) if sites.is_empty() => {
                Err(InvalidValue::new(join(key, "sites"), "[]", "at least one site"))
            }
            Carriers::Count(_) | Carriers::Fraction(_) | Carriers::Sites(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWEEP: &str = "temperatures_k = [600]\nevents = 100\n";

    fn parse(text: &str) -> Result<KmcSettings, String> {
        toml::from_str(&format!("{SWEEP}{text}")).map_err(|e| e.message().to_string())
    }

    #[test]
    fn each_network_kind_and_carrier_form_parses() {
        let s = parse(
            "carriers = { fraction = 0.1 }\nnetwork = { kind = \"lattice\", lattice = \"face_centred_cubic\", \
             repeat = [2, 3, 4], lattice_constant_a = 3.6, barrier_ev = 0.7 }",
        )
        .unwrap();
        let lattice = Lattice {
            kind: super::super::LatticeKind::FaceCentredCubic,
            repeat: [2, 3, 4],
            lattice_constant_a: 3.6,
            barrier_ev: 0.7,
        };
        assert_eq!((s.network, s.carriers), (Network::Lattice(lattice), Carriers::Fraction(0.1)));
        let s = parse("carriers = { sites = [3, 1] }\nnetwork = { kind = \"catalogue\", path = \"c.txt\" }").unwrap();
        assert_eq!((s.network, s.carriers), (Network::Catalogue { path: "c.txt".into() }, Carriers::Sites(vec![3, 1])));
        let s = parse(
            "carriers = { count = 2 }\n[network]\nkind = \"barrier_table\"\npath = \"b.csv\"\nstructure = \"s.xyz\"\n\
             barrier_assignment = \"kra\"\nsite_energies = \"v.csv\"\nhop_cutoff_a = 4",
        )
        .unwrap();
        assert_eq!(s.carriers, Carriers::Count(2));
        let Network::BarrierTable(table) = &s.network else { panic!("{:?}", s.network) };
        assert_eq!(
            (table.barrier_assignment, table.hop_cutoff_a, table.supercell),
            (BarrierAssignment::Kra, Some(4.0), None)
        );
        s.validate("stage[1]").unwrap();
    }

    #[test]
    fn keys_of_another_network_kind_are_unknown_fields() {
        let err = parse("carriers = { count = 1 }\nnetwork = { kind = \"lattice\", path = \"c.txt\" }").unwrap_err();
        assert!(err.starts_with("network (kind = \"lattice\"): unknown field `path`"), "{err}");
        let err = parse("carriers = { count = 1 }\nnetwork = { path = \"c.txt\" }").unwrap_err();
        assert_eq!(err, "network.kind = (missing): expected \"lattice\", \"catalogue\" or \"barrier_table\"");
        let err = parse("carriers = { count = 1 }\nnetwork = { kind = \"catalogue\" }").unwrap_err();
        assert_eq!(err, "network (kind = \"catalogue\"): missing field `path`");
        let err = parse("carriers = { number = 1 }\nnetwork = { kind = \"catalogue\", path = \"c\" }").unwrap_err();
        assert_eq!(err, "carriers: unknown field `number`, expected one of `count`, `fraction`, `sites`");
    }

    #[test]
    fn every_old_flat_key_is_named_with_its_new_place() {
        let err = parse("catalogue = \"c.txt\"\ncarrier_sites = [0, 4]\nenvironment_radius_a = 5.0\nspecies = \"Li\"")
            .unwrap_err();
        assert_eq!(
            err,
            "catalogue = \"c.txt\", species = \"Li\", environment_radius_a = 5.0, carrier_sites = [0, 4]: these kMC \
             keys moved into the network and carriers tables; write instead (docs/kmc.md, \"Moved keys\"):\n\
             network = { kind = \"catalogue\", path = \"c.txt\" }\ncarriers = { sites = [0, 4] }"
        );
        for key in MOVED_NETWORK_KEYS {
            let err = parse(&format!("{key} = 1\ncarriers = {{ count = 1 }}")).unwrap_err();
            assert!(err.starts_with(&format!("{key} = 1: these kMC keys moved")), "{err}");
        }
    }

    #[test]
    fn validation_names_the_key_inside_the_tables() {
        let table = |extra: &str| {
            parse(&format!(
                "carriers = {{ count = 1 }}\nnetwork = {{ kind = \"barrier_table\", path = \"b.csv\"{extra} }}"
            ))
            .unwrap()
            .validate("stage[2]")
            .map_err(|e| e.to_string())
        };
        assert_eq!(table(""), Ok(()));
        assert_eq!(
            table(", hop_cutoff_a = 3.0"),
            Err("stage[2].network.hop_cutoff_a = 3: expected this key only with structure".into())
        );
        assert_eq!(
            table(", structure = \"s\", barrier_assignment = \"sample\", environment_tolerance_a = 0.1"),
            Err("stage[2].network.environment_tolerance_a = 0.1: expected no environment key with barrier_assignment = \"sample\"".into())
        );
        assert_eq!(
            table(", structure = \"s\", hop_cutoff_a = -1"),
            Err("stage[2].network.hop_cutoff_a = -1: expected a positive finite number".into())
        );
        assert_eq!(
            table(", supercell = [1, 0, 1]"),
            Err("stage[2].network.supercell = [1, 0, 1]: expected three positive integers".into())
        );
        let err =
            parse("carriers = { sites = [] }\nnetwork = { kind = \"catalogue\", path = \"\" }").unwrap().validate("k");
        assert_eq!(
            err.unwrap_err().to_string(),
            "k.network.path = \"\": expected a file path, relative to the study file's folder"
        );
    }
}
