//! Property-based robustness of every file reader: random bytes, and random mutations of a valid file (a
//! token replaced by a hostile value — huge counts, 1e300, NaN, negative numbers —, lines deleted, duplicated
//! or swapped, the file cut short), must give `Ok` or an error. Never a panic (proptest reports it and shrinks
//! the input), a hang (each case must finish within [`CASE_SECONDS`], and a watchdog ends the process after
//! [`WATCHDOG_SECONDS`]), or an allocation beyond a bound ([`BoundedAllocator`] refuses any single request above
//! 1 GiB and any growth past 4 GiB live, which aborts the test).
//!
//! Cases per reader and strategy: 32, or `PROPTEST_CASES`.
//!
//! This test found chemfiles 0.10's LAMMPS data reader looping forever on random bytes
//! (`LAMMPSDataFormat::read_next`, LAMMPSData.cpp:230); LAMMPS data files now have their own reader.

mod common;

use mdrun::io;
use mdrun::potentials::eam::Eam;
use mdrun::potentials::nnp::NnpPotential;
use mdrun::system::{Cell, System};
use mdrun::train::dataset::{read_labelled, DataFormat};
use nalgebra::Vector3;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System as SystemAllocator};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The largest single allocation a reader may ask for.
const SINGLE_LIMIT: usize = 1 << 30;
/// The most memory the test process may hold at once.
const LIVE_LIMIT: usize = 4 << 30;
const CASE_SECONDS: u64 = 10;
const WATCHDOG_SECONDS: u64 = 600;

/// The system allocator, refusing (null: the process aborts with "memory allocation of N bytes failed") any
/// request above [`SINGLE_LIMIT`] or one that takes the live total past [`LIVE_LIMIT`].
struct BoundedAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for BoundedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { SystemAllocator.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !reserve(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { SystemAllocator.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { SystemAllocator.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !reserve(new_size) {
            return std::ptr::null_mut();
        }
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { SystemAllocator.realloc(ptr, layout, new_size) }
    }
}

fn reserve(size: usize) -> bool {
    if size > SINGLE_LIMIT || LIVE.fetch_add(size, Ordering::Relaxed) + size > LIVE_LIMIT {
        return false;
    }
    true
}

#[global_allocator]
static ALLOCATOR: BoundedAllocator = BoundedAllocator;

/// Values that have broken readers: sizes beyond memory or an integer type, non-finite and extreme numbers.
const HOSTILE: [&str; 18] = [
    "0",
    "-1",
    "1e300",
    "-1e300",
    "1e-300",
    "nan",
    "inf",
    "2147483648",
    "4294967296",
    "1000000000",
    "4611686018427387904",
    "18446744073709551616",
    "",
    "x",
    "\"",
    "1e9",
    "-0",
    "99999999999999999999999",
];

/// One edit of a text file.
#[derive(Clone, Debug)]
enum Mutation {
    /// The n-th whitespace-separated token (modulo their count) becomes a hostile value.
    ReplaceToken(usize, usize),
    /// A hostile value inserted after the n-th token.
    InsertToken(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// The text cut at the n-th character (modulo its length).
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let hostile = 0..HOSTILE.len();
    prop_oneof![
        3 => (any::<usize>(), hostile.clone()).prop_map(|(n, h)| Mutation::ReplaceToken(n, h)),
        1 => (any::<usize>(), hostile).prop_map(|(n, h)| Mutation::InsertToken(n, h)),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let token_edit = |n: usize, h: usize, insert: bool, lines: &mut Vec<String>| {
        let tokens: Vec<(usize, usize)> = lines
            .iter()
            .enumerate()
            .flat_map(|(l, line)| (0..line.split_whitespace().count()).map(move |t| (l, t)))
            .collect();
        if tokens.is_empty() {
            return;
        }
        let (l, t) = tokens[n % tokens.len()];
        let mut words: Vec<&str> = lines[l].split_whitespace().collect();
        if insert {
            words.insert(t + 1, HOSTILE[h]);
        } else {
            words[t] = HOSTILE[h];
        }
        lines[l] = words.join(" ");
    };
    match *mutation {
        Mutation::ReplaceToken(n, h) => token_edit(n, h, false, &mut lines),
        Mutation::InsertToken(n, h) => token_edit(n, h, true, &mut lines),
        Mutation::DeleteLine(n) if !lines.is_empty() => {
            let n = n % lines.len();
            lines.remove(n);
        }
        Mutation::DuplicateLine(n) if !lines.is_empty() => {
            let n = n % lines.len();
            lines.insert(n, lines[n].clone());
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let len = lines.len();
            lines.swap(a % len, b % len);
        }
        Mutation::Truncate(n) => {
            let cut = text.char_indices().map(|(i, _)| i).nth(n % text.len().max(1)).unwrap_or(0);
            return text[..cut].to_string();
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

/// A reader under test: reads the file at the path; `Ok` or any error is fine.
type Reader = fn(&Path) -> bool;

/// Runs `reader` on `bytes` written to `name` in a fresh folder (with `companions`, unmutated files the reader
/// also needs, copied beside it), within [`CASE_SECONDS`].
fn read_case(reader: Reader, name: &str, bytes: &[u8], companions: &[PathBuf]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    for companion in companions {
        std::fs::copy(companion, dir.path().join(companion.file_name().unwrap())).unwrap();
    }
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let started = Instant::now();
    reader(&path);
    let elapsed = started.elapsed();
    prop_assert!(elapsed < Duration::from_secs(CASE_SECONDS), "{name}: {elapsed:?} for one read");
    Ok(())
}

/// Checks `reader` on its valid `seed` (which must read), then on random bytes and on mutations of the seed.
fn fuzz(reader: Reader, name: &str, seed: &str, companions: &[PathBuf]) {
    start_watchdog();
    let dir = tempfile::tempdir().unwrap();
    for companion in companions {
        std::fs::copy(companion, dir.path().join(companion.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join(name), seed).unwrap();
    assert!(reader(&dir.path().join(name)), "{name}: the unmutated seed must read");
    let config = ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config.clone());
    let bytes = proptest::collection::vec(any::<u8>(), 0..2048);
    runner.run(&bytes, |bytes| read_case(reader, name, &bytes, companions)).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let mutations = proptest::collection::vec(mutation(), 1..6);
    runner
        .run(&mutations, |mutations| {
            let text = mutations.iter().fold(seed.to_string(), |text, m| apply(&text, m));
            read_case(reader, name, text.as_bytes(), companions)
        })
        .unwrap();
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}

fn start_watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(WATCHDOG_SECONDS));
            eprintln!("fuzz_readers: still running after {WATCHDOG_SECONDS} s: a reader hangs");
            std::process::exit(1);
        });
    });
}

fn crate_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn structure(path: &Path) -> bool {
    io::read_structure(path).is_ok()
}

/// Four argon atoms with energy and forces, as n2p2 `input.data`.
fn n2p2_seed() -> String {
    let mut system = System::new(Cell::orthorhombic(5.26, 5.26, 5.26).unwrap());
    for p in [[0.0, 0.0, 0.0], [0.0, 2.63, 2.63], [2.63, 0.0, 2.63], [2.63, 2.63, 0.1]] {
        system.push(18, Vector3::from(p));
    }
    let forces = vec![Vector3::new(0.01, -0.02, 0.03); 4];
    io::n2p2::format(&system, "argon", -0.3, &forces)
}

#[test]
fn structure_readers_survive_random_and_mutated_files() {
    fuzz(structure, "POSCAR", &crate_file("inputs/cu-fcc.vasp"), &[]);
    fuzz(structure, "argon.xyz", &crate_file("tests/data/argon-fcc.xyz"), &[]);
    fuzz(structure, "input.data", &n2p2_seed(), &[]);
    fuzz(structure, "nacl.cif", &crate_file("tests/data/nacl.cif"), &[]);
    fuzz(structure, "li2o.data", &crate_file("tests/data/li2o-triclinic.data"), &[]);
}

#[test]
fn training_data_readers_survive_random_and_mutated_files() {
    let extxyz: Reader = |path| read_labelled(path, DataFormat::Extxyz, 1.0, 1.0).is_ok();
    let n2p2: Reader = |path| read_labelled(path, DataFormat::N2p2, 1.0, 1.0).is_ok();
    let seed = "4\nLattice=\"5.26 0 0 0 5.26 0 0 0 5.26\" Properties=species:S:1:pos:R:3:forces:R:3 energy=-0.3 \
                pbc=\"T T T\"\nAr 0 0 0 0.01 0 0\nAr 0 2.63 2.63 0 0.01 0\nAr 2.63 0 2.63 0 0 0.01\nAr 2.63 2.63 0 0 0 0\n";
    fuzz(extxyz, "train.xyz", seed, &[]);
    fuzz(n2p2, "input.data", &n2p2_seed(), &[]);
}

#[test]
fn eam_readers_survive_random_and_mutated_files() {
    let (Some(funcfl), Some(setfl)) = (
        common::reference("../shared/reference/eam/Cu_u3.eam"),
        common::reference("../shared/reference/eam/CuNi.eam.alloy"),
    ) else {
        return;
    };
    let read = |path: &str| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    fuzz(|path| Eam::read_funcfl(&[path]).is_ok(), "Cu_u3.eam", &read(funcfl.to_str().unwrap()), &[]);
    fuzz(|path| Eam::read_setfl(path).is_ok(), "CuNi.eam.alloy", &read(setfl.to_str().unwrap()), &[]);
}

#[test]
fn nnp_files_survive_random_and_mutated_files() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("inputs/li3po4-nnp");
    let files = ["input.nn", "scaling.data", "weights.003.data", "weights.008.data", "weights.015.data"];
    let load: Reader = |path| NnpPotential::load_directory(path.parent().unwrap(), 1.0, 1.0).is_ok();
    for mutated in ["input.nn", "scaling.data", "weights.008.data"] {
        let companions: Vec<PathBuf> = files.iter().filter(|&&f| f != mutated).map(|f| directory.join(f)).collect();
        fuzz(load, mutated, &std::fs::read_to_string(directory.join(mutated)).unwrap(), &companions);
    }
}

#[test]
fn kmc_files_survive_random_and_mutated_files() {
    let table = "# mdrun barrier table v1\n# structure: migration_structure.extxyz\n# cell: 14.46 0 0 0 14.46 0 0 0 14.46\n\
                 path_id,species,from_site,to_site,from_x,from_y,from_z,to_x,to_y,to_z,hop_distance_a,initial_energy_ev,\
                 final_energy_ev,saddle_energy_ev,forward_barrier_ev,reverse_barrier_ev,converged\n\
                 0,Cu,1,0,1.807500,1.807500,0.000000,0.000000,0.000000,0.000000,2.556191,-901.41515521,-901.41515521,\
                 -900.74443699,0.67071822,0.67071822,true\n\
                 1,Cu,2,0,1.807500,0.000000,1.807500,0.000000,0.000000,0.000000,2.556191,-901.41515521,-901.41515521,\
                 -900.74443699,0.67071822,0.67071822,true\n";
    fuzz(|path| io::barrier_table::read_table(path).is_ok(), "barriers.csv", table, &[]);
    let trajectory = "# mdrun kmc trajectory v1\n# temperature_k: 450\ntime_ps,carrier,x_a,y_a,z_a\n\
                      0.00000000e0,0,1.000000,0.000000,0.000000\n0.00000000e0,1,3.000000,0.000000,0.000000\n\
                      1.50000000e0,0,1.000000,2.500000,0.000000\n1.50000000e0,1,3.000000,0.000000,2.500000\n";
    fuzz(|path| io::kmc_trajectory::read(path).is_ok(), "kmc_trajectory_0.csv", trajectory, &[]);
}
