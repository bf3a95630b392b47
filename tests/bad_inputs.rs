//! Every file in tests/bad_inputs/ is a study that must fail: `NAME.toml` is run with `mdrun check` from that
//! folder, and its standard error must be exactly `NAME.expected`. A study named `warn_*.toml` is valid but
//! probably not meant: `mdrun check` must succeed and print exactly the warnings of `warn_*.expected`.

mod common;

use std::path::Path;

#[test]
fn each_bad_input_gives_its_exact_error() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    names.sort();
    for input in names {
        let expected_path = input.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no {}", input.display(), expected_path.display()));
        let output = common::mdrun()
            .current_dir(&folder)
            .args(["check", input.file_name().unwrap().to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let warns = input.file_name().unwrap().to_str().unwrap().starts_with("warn_");
        if warns != output.status.success() {
            let outcome =
                if warns { "failed, expected success with warnings" } else { "succeeded, expected the error" };
            failures.push(format!("{}: {outcome}\n{expected}\n{stderr}", input.display()));
        } else if stderr.trim_end() != expected.trim_end() {
            failures.push(format!(
                "{}:\n  expected: {}\n  got:      {}",
                input.display(),
                expected.trim_end(),
                stderr.trim_end()
            ));
        }
        assert!(!stderr.contains("panicked"), "{} panicked: {stderr}", input.display());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} bad inputs found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
