//! Helpers shared by the workflow tests (`mod common;` at the top of each file in `tests/`).
//!
//! Reference data live in `../shared/reference/` beside the clone and are read in place. A test whose data are
//! absent says it was skipped and passes, unless `MDRUN_REQUIRE_REFERENCE=1` (set by `.ci/run`), where the
//! absence is a failure: CI must never pass on skipped comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The EAM copper potential (Foiles, LAMMPS `Cu_u3.eam`) most workflow tests run on.
pub const CU_EAM: &str = "../shared/reference/eam/Cu_u3.eam";

/// Whether `MDRUN_REQUIRE_REFERENCE=1`: absent reference data fail the test instead of skipping it.
pub fn reference_required() -> bool {
    std::env::var("MDRUN_REQUIRE_REFERENCE").is_ok_and(|v| v == "1")
}

/// `path` (relative to the crate root, e.g. `../shared/reference/eam/Cu_u3.eam`) if it exists; otherwise
/// `None` after saying the test is skipped, or a failure when [`reference_required`].
pub fn reference(path: &str) -> Option<PathBuf> {
    if Path::new(env!("CARGO_MANIFEST_DIR")).join(path).exists() {
        return Some(PathBuf::from(path));
    }
    assert!(!reference_required(), "{path} is absent and MDRUN_REQUIRE_REFERENCE=1: the reference data must be there");
    eprintln!("skipped: {path} is absent (the shared reference folder is not beside the clone)");
    None
}

/// The `mdrun` binary built for these tests.
pub fn mdrun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mdrun"))
}

/// Runs `mdrun args`, which must succeed, and returns its standard output.
pub fn mdrun_ok(args: &[&str]) -> String {
    let output = mdrun().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "mdrun {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Runs `mdrun args`, which must fail without panicking, and returns its standard error.
pub fn mdrun_err(args: &[&str]) -> String {
    let output = mdrun().args(args).output().unwrap();
    assert!(!output.status.success(), "mdrun {args:?} succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}
