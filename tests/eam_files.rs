//! Malformed EAM potential files, each with the exact error it must produce (file and line named).

mod common;

use mdrun::potentials::eam::{Eam, EamConfig};
use mdrun::potentials::Potential;
use std::path::{Path, PathBuf};

const FUNCFL: &str = "\
Cu test funcfl
29 63.55 3.615 FCC
6 0.1 6 1.0 4.0
0 -1 -2 -3
-4 -5
1 0.8 0.5 0.2 0.1 0.0
0 0.5 0.3 0.1 0.05 0.0
";

const SETFL: &str = "\
comment 1
comment 2
comment 3
2 Ni Cu
5 0.1 5 1.0 4.0
28 58.69 3.52 FCC
0 -1 -2 -3 -4
0.9 0.5 0.3 0.1 0.0
29 63.55 3.615 FCC
0 -1.1 -2.1 -3.1 -4.1
1 0.6 0.3 0.1 0.0
5 3 1 0.2 0
5 3 1 0.2 0
5 3 1 0.2 0
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn funcfl_error(dir: &Path, text: &str) -> (String, PathBuf) {
    let path = write(dir, "bad.eam", text);
    (Eam::read_funcfl(&[path.as_path()]).unwrap_err().to_string(), path)
}

fn setfl_error(dir: &Path, text: &str) -> (String, PathBuf) {
    let path = write(dir, "bad.eam.alloy", text);
    (Eam::read_setfl(&path).unwrap_err().to_string(), path)
}

#[test]
fn well_formed_small_files_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let funcfl = write(dir.path(), "ok.eam", FUNCFL);
    assert_eq!(Eam::read_funcfl(&[funcfl.as_path()]).unwrap().masses(), vec![(29, 63.55)]);
    let setfl = write(dir.path(), "ok.eam.alloy", SETFL);
    assert_eq!(Eam::read_setfl(&setfl).unwrap().masses(), vec![(28, 58.69), (29, 63.55)]);
}

#[test]
fn malformed_funcfl_files_name_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(String, &str)> = vec![
        (FUNCFL.replace("-4 -5\n", "-4 x5\n"), "5: value 6 of F(rho) for Cu: expected a finite number, found 'x5'"),
        (
            FUNCFL.replace("0 0.5 0.3 0.1 0.05 0.0\n", "0 0.5 0.3\n"),
            "8: unexpected end of file: expected 6 values of rho(r) for Cu, found 3",
        ),
        (FUNCFL.replace("29 63.55", "0 63.55"), "2: atomic number = 0: expected a known element's Z"),
        (FUNCFL.replace("29 63.55", "29 -1"), "2: mass = -1: expected a positive number"),
        (FUNCFL.replace("6 0.1 6 1.0 4.0", "6 0.1 5 1.0 4.0"), "3: Nr = 5: expected an integer of at least 6"),
        (FUNCFL.replace("6 0.1 6 1.0 4.0", "6 0.1 6 0 4.0"), "3: dr = 0: expected a positive number"),
        (
            FUNCFL.replace("6 0.1 6 1.0 4.0", "6 0.1 6 1.0"),
            "3: expected the grid line 'Nrho drho Nr dr cutoff', found '6 0.1 6 1.0'",
        ),
        (
            FUNCFL.replace("-4 -5\n", "-4 -5 -6\n"),
            "5: unexpected extra value '-6' after the end of a table (do the tables hold the Nrho and Nr values the \
             grid line announces?)",
        ),
        (format!("{FUNCFL}7\n"), "8: unexpected value '7' after the last table"),
        (FUNCFL.replace("1 0.8 0.5", "1 NaN 0.5"), "6: value 2 of Z(r) for Cu: expected a finite number, found 'NaN'"),
        (
            "comment only\n".to_string(),
            "2: unexpected end of file: expected the element line 'Z mass lattice-constant lattice-type'",
        ),
    ];
    for (text, expected) in cases {
        let (message, path) = funcfl_error(dir.path(), &text);
        assert_eq!(message, format!("{}:{expected}", path.display()));
    }
}

#[test]
fn malformed_setfl_files_name_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(String, &str)> = vec![
        (SETFL.replace("2 Ni Cu", "3 Ni Cu"), "4: Nelements = 3 but 2 element symbols follow ('3 Ni Cu')"),
        (SETFL.replace("2 Ni Cu", "2 Ni Xx"), "4: unknown element 'Xx': expected a chemical symbol such as Cu"),
        (SETFL.replace("2 Ni Cu", "2 Ni Ni"), "4: element Ni is listed twice"),
        (SETFL.replace("2 Ni Cu", "two Ni Cu"), "4: Nelements = two: expected a positive integer"),
        (SETFL.replace("5 0.1 5 1.0 4.0", "5 0.1 5 1.0 -4.0"), "5: cutoff = -4.0: expected a positive number"),
        (
            SETFL.replace("29 63.55 3.615 FCC", "29 heavy 3.615 FCC"),
            "9: mass of Cu: expected a finite number, found 'heavy'",
        ),
        (
            SETFL.trim_end().rsplit_once('\n').unwrap().0.to_string(),
            "14: unexpected end of file: expected 5 values of r*phi(r) for Cu-Cu, found 0",
        ),
        (
            SETFL.replace("0.9 0.5 0.3 0.1 0.0\n", "0.9 0.5 0.3 0.1\n"),
            "9: unexpected extra value '63.55' after the end of a table (do the tables hold the Nrho and Nr values \
             the grid line announces?)",
        ),
    ];
    for (text, expected) in cases {
        let (message, path) = setfl_error(dir.path(), &text);
        assert_eq!(message, format!("{}:{expected}", path.display()));
    }
}

#[test]
fn missing_file_duplicate_elements_and_unknown_format_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.eam");
    assert_eq!(
        Eam::read_funcfl(&[missing.as_path()]).unwrap_err().to_string(),
        format!("{}: cannot open: No such file or directory (os error 2)", missing.display())
    );
    let a = write(dir.path(), "a.eam", FUNCFL);
    let b = write(dir.path(), "b.eam", FUNCFL);
    assert_eq!(
        Eam::read_funcfl(&[a.as_path(), b.as_path()]).unwrap_err().to_string(),
        format!("funcfl files {} and {} both describe Cu", a.display(), b.display())
    );
    let config: EamConfig = toml::from_str("file = \"Cu.potential\"").unwrap();
    assert_eq!(
        Eam::from_config(&config, "potential").unwrap_err().to_string(),
        "potential.file = \"Cu.potential\": expected a name ending in .eam (funcfl) or .eam.alloy/.alloy/.setfl \
         (setfl), or an explicit format = \"funcfl\" | \"setfl\""
    );
    let renamed = write(dir.path(), "Cu.potential", SETFL);
    let config = EamConfig { file: renamed, format: Some(mdrun::potentials::eam::EamFormat::Setfl) };
    assert_eq!(Eam::from_config(&config, "potential").unwrap().species(), vec![28, 29]);
}
