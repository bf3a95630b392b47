//! `kind = "socket"` against ASE's own i-PI client (`ase.calculators.socketio.SocketClient`, through
//! scripts/ipi_ase_client.py) and ASE's EMT and Lennard-Jones calculators:
//! - energies, forces and the virial equal ASE's direct evaluation to 1e-10 relative;
//! - 200 steps of MD through the socket equal the same run with mdrun's in-process `lj`;
//! - the EMT Cu vacancy-hop NEB barrier equals ASE's NEB on the same endpoints (tests/data/socket/, with the
//!   script that made the reference);
//! - a client killed mid-run gives an error naming the stage, the step and the client, the checkpoint stays, and
//!   `--restart` with a new client ends where the uninterrupted run ends;
//! - a stage that removes an atom (vacancy) runs through one client, and cell relaxation refuses a client that
//!   sends no stress.
//!
//! Python with ASE comes from `MDRUN_PYTHON` or the clone's `.venv` (what `.ci/run` makes); without it the tests
//! say they were skipped, or fail under `MDRUN_REQUIRE_REFERENCE=1`.

mod common;

use mdrun::potentials::{Evaluation, Evaluator, PotentialSettings};
use mdrun::system::{Cell, System};
use nalgebra::Vector3;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ipi_ase_client.py");

/// The Python that has ASE, or `None` after saying the test is skipped.
fn python() -> Option<PathBuf> {
    let python = match mdrun::potentials::socket::ase_python(Path::new(env!("CARGO_MANIFEST_DIR"))) {
        Ok(python) => return Some(python),
        Err(tried) => tried,
    };
    assert!(
        !common::reference_required(),
        "{} has no ASE and MDRUN_REQUIRE_REFERENCE=1: .ci/run installs it in .venv",
        python.display()
    );
    eprintln!("skipped: no Python with ASE at {} (set MDRUN_PYTHON)", python.display());
    None
}

fn toml_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", "))
}

/// The client command for `calculator` (e.g. `["emt"]`), launched by mdrun on `{unix_socket}`.
fn client_command(python: &Path, calculator: &[&str]) -> Vec<String> {
    let mut command =
        vec![python.display().to_string(), CLIENT.to_string(), "--unix-socket".into(), "{unix_socket}".into()];
    command.extend(calculator.iter().map(|s| s.to_string()));
    command
}

const ARGON_LJ: [&str; 7] = ["lj", "--sigma", "3.405", "--epsilon", "0.0103", "--rc", "8.5"];

/// A `[potential]` table of kind socket that launches `clients` clients.
fn socket_potential(socket: &Path, command: &[String], clients: usize) -> String {
    format!(
        "kind = \"socket\"\nunix_socket = \"{}\"\nclients = {clients}\ncommand = {}\nconnect_timeout_s = 60\nresponse_timeout_s = 60\n",
        socket.display(),
        toml_list(command)
    )
}

fn build(table: &str) -> Evaluator {
    let mut settings: PotentialSettings = toml::from_str(table).unwrap();
    settings.resolve_paths(Path::new("."));
    settings.validate().unwrap();
    Evaluator::new(settings.build().unwrap(), 0.0)
}

/// ASE's direct evaluation of `system` with `calculator` ("emt" or "lj" as in [`ARGON_LJ`]): energy, forces and
/// the virial −V·σ.
fn ase_direct(python: &Path, system: &System, calculator: &str) -> Evaluation {
    let input = serde_json::json!({
        "symbols": (0..system.len()).map(|i| system.symbol(i)).collect::<Vec<_>>(),
        "positions": system.positions.iter().map(|r| [r.x, r.y, r.z]).collect::<Vec<_>>(),
        "cell": (0..3).map(|k| system.cell.vector(k)).map(|v| [v.x, v.y, v.z]).collect::<Vec<_>>(),
        "calculator": calculator,
    });
    let script = r#"
import json, sys
import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
d = json.load(sys.stdin)
atoms = Atoms(d["symbols"], positions=d["positions"], cell=d["cell"], pbc=True)
atoms.calc = EMT() if d["calculator"] == "emt" else LennardJones(sigma=3.405, epsilon=0.0103, rc=8.5, smooth=False)
virial = -atoms.get_volume() * atoms.get_stress(voigt=False)
print(json.dumps({"energy": atoms.get_potential_energy(), "forces": atoms.get_forces().tolist(), "virial": virial.tolist()}))
"#;
    let mut child =
        Command::new(python).args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.to_string().as_bytes()).unwrap();
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    let vector = |v: &Value| Vector3::new(v[0].as_f64().unwrap(), v[1].as_f64().unwrap(), v[2].as_f64().unwrap());
    Evaluation {
        energy: value["energy"].as_f64().unwrap(),
        forces: value["forces"].as_array().unwrap().iter().map(vector).collect(),
        virial: nalgebra::Matrix3::from_fn(|r, c| value["virial"][r][c].as_f64().unwrap()),
        ..Default::default()
    }
}

/// Largest difference between `a` and `b` relative to the largest magnitude of `b`, over energy, forces and virial.
fn relative_differences(a: &Evaluation, b: &Evaluation) -> [f64; 3] {
    let energy = (a.energy - b.energy).abs() / b.energy.abs();
    let largest = b.forces.iter().map(|f| f.amax()).fold(0.0, f64::max);
    let forces = a.forces.iter().zip(&b.forces).map(|(f, g)| (f - g).amax()).fold(0.0, f64::max) / largest;
    let virial = (a.virial - b.virial).amax() / b.virial.amax();
    [energy, forces, virial]
}

/// An fcc crystal of `n`×`n`×`n` conventional cells in a slightly sheared box, atoms displaced by up to 0.15 Å.
fn distorted_fcc(z: u8, a: f64, n: usize) -> System {
    let perfect = mdrun::system::fcc(z, a, n);
    let length = a * n as f64;
    let cell = Cell::from_vectors(
        Vector3::new(length, 0.0, 0.0),
        Vector3::new(0.03 * length, length * 1.01, 0.0),
        Vector3::new(-0.02 * length, 0.04 * length, length * 0.99),
    )
    .unwrap();
    let mut system = System::new(cell.clone());
    for (i, r) in perfect.positions.iter().enumerate() {
        let s = perfect.cell.fractional(r);
        let wobble = Vector3::new((i as f64 * 0.7).sin(), (i as f64 * 1.3).cos(), (i as f64 * 2.9).sin()) * 0.15;
        system.push(z, cell.cartesian(&s) + wobble);
    }
    system
}

#[test]
fn energies_forces_and_virial_equal_ase_to_1e_10() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, calculator, system) in
        [("emt", vec!["emt"], distorted_fcc(29, 3.6, 3)), ("lj", ARGON_LJ.to_vec(), distorted_fcc(18, 5.26, 3))]
    {
        let socket = dir.path().join(format!("{name}.sock"));
        let mut evaluator = build(&socket_potential(&socket, &client_command(&python, &calculator), 1));
        let through_socket = evaluator.evaluate(&system).unwrap();
        let direct = ase_direct(&python, &system, name);
        let differences = relative_differences(&through_socket, &direct);
        println!(
            "{name}: E = {:.10} eV, relative differences (E, F, W) = {:?}",
            direct.energy,
            differences.map(|d| format!("{d:.1e}"))
        );
        assert!(differences.iter().all(|&d| d < 1e-10), "{name}: {differences:?}");
        assert!(through_socket.has_virial && through_socket.atom_energies.is_empty());
        drop(evaluator);
        assert!(!socket.exists(), "the socket file is removed when the potential is dropped");
    }
}

/// The argon MD study of these tests: 108 atoms, Nosé–Hoover at 90 K, 200 steps of 4 fs, a checkpoint every 50
/// steps; `potential` is the `[potential]` table.
fn argon_md_study(dir: &Path, potential: &str) -> PathBuf {
    let structure = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/argon-fcc.xyz");
    let text = format!(
        r#"[system]
structure = "{}"
supercell = [3, 3, 3]
seed = 11

[potential]
{potential}
[[stage]]
kind = "md"
timestep_fs = 4.0
steps = 200
temperature_k = 90
initial_temperature_k = 90
thermostat = {{ kind = "nose-hoover", damping_fs = 200 }}
thermo_every = 10
checkpoint_every = 50
"#,
        structure.display()
    );
    let path = dir.join("study.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The positions of the last frame of an extended-XYZ file.
fn final_positions(path: &Path) -> Vec<Vector3<f64>> {
    mdrun::io::read_structure(path).unwrap().positions
}

fn largest_distance(a: &[Vector3<f64>], b: &[Vector3<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max)
}

#[test]
fn md_through_the_socket_equals_the_in_process_run() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let in_process = argon_md_study(
        dir.path(),
        "kind = \"lj\"\ncutoff = 8.5\nshift = true\npairs = [{ species = [\"Ar\", \"Ar\"], epsilon = 0.0103, sigma = 3.405 }]\n",
    );
    let reference = dir.path().join("in-process");
    common::mdrun_ok(&["-q", in_process.to_str().unwrap(), "-o", reference.to_str().unwrap()]);
    let socket_dir = dir.path().join("socket");
    std::fs::create_dir(&socket_dir).unwrap();
    let command = client_command(&python, &ARGON_LJ);
    let study = argon_md_study(&socket_dir, &socket_potential(Path::new("{output}/ipi.sock"), &command, 1));
    let run = socket_dir.join("run");
    common::mdrun_ok(&["-q", study.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    let moved = largest_distance(
        &final_positions(&reference.join("00-md/final.xyz")),
        &final_positions(&run.join("00-md/final.xyz")),
    );
    println!("200 steps: largest position difference socket vs in-process {moved:.2e} Å");
    assert!(moved < 1e-8, "{moved}");
    let thermo = |dir: &Path| std::fs::read_to_string(dir.join("00-md/thermo.csv")).unwrap();
    let (a, b) = (thermo(&reference), thermo(&run));
    let last = |text: &str| -> Vec<f64> {
        text.lines().last().unwrap().split(',').map(|x| x.trim().parse().unwrap_or(f64::NAN)).collect()
    };
    for (x, y) in last(&a).iter().zip(last(&b)) {
        assert!((x - y).abs() <= 1e-8 * x.abs().max(1.0) || (x.is_nan() && y.is_nan()), "{a}\n{b}");
    }
    assert!(!run.join("ipi.sock").exists());
}

/// A client started by hand on `socket`, which dies at its `die_after`-th evaluation if given.
fn hand_started_client(python: &Path, socket: &Path, die_after: Option<u32>) -> Child {
    let mut command = Command::new(python);
    command.args([CLIENT, "--unix-socket", socket.to_str().unwrap(), "--wait", "60"]);
    if let Some(n) = die_after {
        command.args(["--die-after", &n.to_string()]);
    }
    command.args(ARGON_LJ).stdout(Stdio::null()).spawn().unwrap()
}

#[test]
fn a_killed_client_stops_the_run_with_its_checkpoint_and_restart_continues() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ipi.sock");
    let potential = format!("kind = \"socket\"\nunix_socket = \"{}\"\nconnect_timeout_s = 60\n", socket.display());
    let study = argon_md_study(dir.path(), &potential);
    let run = dir.path().join("run");
    let args = ["-q", study.to_str().unwrap(), "-o", run.to_str().unwrap()];

    let mut dying = hand_started_client(&python, &socket, Some(130));
    let error = common::mdrun_err(&args);
    dying.wait().unwrap();
    println!("{error}");
    assert!(error.contains("stage 0 (md)"), "{error}");
    assert!(error.contains("md: step 129 (the last checkpoint is intact: continue with --restart)"), "{error}");
    assert!(error.contains("client 1 of 1 on UNIX socket"), "{error}");
    // The client dies on reading the positions: mdrun is then writing or awaiting the STATUS that follows them.
    assert!(
        error.contains("the client closed the connection while mdrun waited for the answer to STATUS after POSDATA")
            || error.contains("the client closed the connection while mdrun was sending STATUS"),
        "{error}"
    );
    let checkpoint = run.join("00-md/checkpoint.json");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["step"], 100);
    let thermo = std::fs::read_to_string(run.join("00-md/thermo.csv")).unwrap();
    assert!(thermo.lines().any(|l| l.starts_with("120,")), "thermo rows up to the failure are kept:\n{thermo}");

    // A longer response timeout is a connection setting: the restart accepts the run folder.
    let text = std::fs::read_to_string(&study).unwrap();
    std::fs::write(
        &study,
        text.replace("connect_timeout_s = 60\n", "connect_timeout_s = 60\nresponse_timeout_s = 120\n"),
    )
    .unwrap();
    let mut fresh = hand_started_client(&python, &socket, None);
    let mut restart = args.to_vec();
    restart.push("--restart");
    common::mdrun_ok(&restart);
    fresh.wait().unwrap();

    let straight = dir.path().join("straight");
    let mut client = hand_started_client(&python, &socket, None);
    common::mdrun_ok(&["-q", study.to_str().unwrap(), "-o", straight.to_str().unwrap()]);
    client.wait().unwrap();
    let moved = largest_distance(
        &final_positions(&run.join("00-md/final.xyz")),
        &final_positions(&straight.join("00-md/final.xyz")),
    );
    assert_eq!(moved, 0.0, "the restarted run ends where the uninterrupted one does");
}

#[test]
fn a_hung_client_times_out_naming_the_stage_step_and_client() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut command = client_command(&python, &ARGON_LJ);
    command.splice(4..4, ["--hang-after".to_string(), "31".to_string()]);
    let potential = socket_potential(Path::new("{output}/ipi.sock"), &command, 1)
        .replace("response_timeout_s = 60", "response_timeout_s = 2");
    let study = argon_md_study(dir.path(), &potential);
    let run = dir.path().join("run");
    let started = std::time::Instant::now();
    let error = common::mdrun_err(&["-q", study.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    println!("{error}");
    assert!(started.elapsed().as_secs() < 60, "mdrun must give up on a hung client");
    assert!(error.contains("stage 0 (md) failed: md: step 30 (the last checkpoint is intact"), "{error}");
    assert!(error.contains("client 1 of 1 on UNIX socket"), "{error}");
    assert!(error.contains("the client sent nothing for 2 s while mdrun waited for the answer to STATUS after POSDATA (potential.response_timeout_s = 2)"), "{error}");
    assert!(run.join("00-md/thermo.csv").exists());
}

#[test]
fn the_emt_vacancy_hop_barrier_equals_ase_neb() {
    let Some(python) = python() else { return };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/socket");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("neb-reference.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[system]
structure = "{}"
seed = 1

[potential]
{}
[[stage]]
kind = "neb"
final_structure = "{}"
images = 5
interpolation = "linear"
spring_ev_per_a2 = 0.1
climb = true
relax_endpoints = false
fmax_ev_per_a = 0.001
max_steps = 5000
"#,
        data.join("cu-vacancy-initial.xyz").display(),
        socket_potential(Path::new("{output}/ipi.sock"), &client_command(&python, &["emt"]), 2),
        data.join("cu-vacancy-final.xyz").display(),
    );
    let study = dir.path().join("neb.toml");
    std::fs::write(&study, text).unwrap();
    let run = dir.path().join("run");
    common::mdrun_ok(&["-q", study.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let result = &summary["stages"][0]["result"];
    let barrier = result["forward_barrier_ev"].as_f64().unwrap();
    let expected = reference["barrier_ev"].as_f64().unwrap();
    println!("EMT Cu vacancy hop: barrier {barrier:.6} eV through the socket, ASE NEB {expected:.6} eV");
    assert!(result["converged"].as_bool().unwrap());
    assert!((barrier - expected).abs() < 1e-4, "{barrier} against {expected}");
}

#[test]
fn a_vacancy_stage_runs_through_one_client_and_cell_relaxation_needs_stress() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let structure = Path::new(env!("CARGO_MANIFEST_DIR")).join("inputs/cu-fcc.vasp");
    let study = |potential: String, stage: &str| {
        let text = format!(
            "[system]\nstructure = \"{}\"\nsupercell = [2, 2, 2]\nseed = 1\n\n[potential]\n{potential}\n[[stage]]\n{stage}\n",
            structure.display()
        );
        let path = dir.path().join("study.toml");
        std::fs::write(&path, text).unwrap();
        path
    };
    let emt = client_command(&python, &["emt"]);
    let vacancy = study(
        socket_potential(Path::new("{output}/ipi.sock"), &emt, 1),
        "kind = \"vacancy\"\nspecies = \"Cu\"\nfmax_ev_per_a = 0.01",
    );
    let run = dir.path().join("vacancy");
    common::mdrun_ok(&["-q", vacancy.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let unrelaxed = summary["stages"][0]["result"]["unrelaxed_formation_energy_ev"].as_f64().unwrap();
    let perfect = mdrun::io::read_structure(&structure).unwrap().supercell([2, 2, 2]);
    let mut defect = perfect.clone();
    defect.remove(0);
    let expected = ase_direct_energy(&python, &defect) - 31.0 / 32.0 * ase_direct_energy(&python, &perfect);
    println!("EMT Cu unrelaxed vacancy formation energy {unrelaxed:.8} eV through the socket, ASE {expected:.8} eV");
    assert!((unrelaxed - expected).abs() < 1e-9, "{unrelaxed} against {expected}");

    let mut no_stress = emt.clone();
    no_stress.insert(2, "--no-stress".into());
    let relax =
        study(socket_potential(Path::new("{output}/ipi.sock"), &no_stress, 1), "kind = \"relax\"\nrelax_cell = true");
    let run = dir.path().join("relax");
    let error = common::mdrun_err(&["-q", relax.to_str().unwrap(), "-o", run.to_str().unwrap()]);
    assert!(error.contains("relax_cell = true needs the stress, and the potential sent no virial"), "{error}");
}

fn ase_direct_energy(python: &Path, system: &System) -> f64 {
    let mut system = system.clone();
    system.wrap();
    ase_direct(python, &system, "emt").energy
}
