//! The kernel matrix and the README agree (text only, nothing boots here; `tests/kernels/run`
//! boots the kernels): every kernel of `tests/kernels/kernels.tsv` proves a row of the README's
//! kernel table (its *matrix kernel* column) and every kernel that column names is in the
//! matrix; and the matrix builds the binaries with the flags of `src/static_build.rs`.

use std::collections::BTreeSet;

use landlock_tests::static_build::{
    SHIM_RUSTFLAGS, SHIM_TARGET, STATIC_RUSTFLAGS, STATIC_TARGET, rustflags, workspace_root,
};

fn read(path: &str) -> String {
    let path = workspace_root().join(path);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// The kernel names of kernels.tsv (first field of each non-comment line).
fn matrix_kernels() -> BTreeSet<String> {
    read("tests/kernels/kernels.tsv")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(
                fields.len(),
                5,
                "kernels.tsv line {line:?}: 5 tab-separated fields"
            );
            fields[0].to_owned()
        })
        .collect()
}

/// The rows of the README's kernel table: (ABI cell, matrix kernel cell).
fn readme_rows() -> Vec<(String, String)> {
    let readme = read("README.md");
    let section = readme
        .split("## Kernel requirements")
        .nth(1)
        .expect("README has a section ## Kernel requirements");
    let table: Vec<Vec<String>> = section
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect();
    let header = table.first().expect("the kernel table has a header");
    let column = header
        .iter()
        .position(|cell| cell == "matrix kernel")
        .unwrap_or_else(|| panic!("the kernel table has no `matrix kernel` column: {header:?}"));
    table
        .iter()
        .skip(2)
        .map(|row| (row[0].clone(), row.get(column).cloned().unwrap_or_default()))
        .collect()
}

/// The backquoted names in a cell.
fn names_in(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_readme_kernel_row_names_matrix_kernels_and_every_matrix_kernel_proves_a_row() {
    let matrix = matrix_kernels();
    assert!(!matrix.is_empty(), "kernels.tsv lists no kernel");
    let rows = readme_rows();
    assert!(!rows.is_empty(), "the README's kernel table has no rows");
    let mut referenced = BTreeSet::new();
    for (abi, cell) in &rows {
        let names = names_in(cell);
        assert!(
            !names.is_empty(),
            "README kernel table, ABI {abi}: no matrix kernel named"
        );
        for name in names {
            assert!(
                matrix.contains(&name),
                "README kernel table, ABI {abi}: `{name}` is not a kernel of tests/kernels/kernels.tsv ({matrix:?})"
            );
            referenced.insert(name);
        }
    }
    let unreferenced: Vec<_> = matrix.difference(&referenced).collect();
    assert!(
        unreferenced.is_empty(),
        "kernels of tests/kernels/kernels.tsv that no row of the README's kernel table names: {unreferenced:?}"
    );
}

#[test]
fn the_matrix_builds_with_the_static_build_flags() {
    let run = read("tests/kernels/run");
    assert!(
        run.contains(&format!("STATIC_RUSTFLAGS='{STATIC_RUSTFLAGS}'")),
        "tests/kernels/run does not use STATIC_RUSTFLAGS of src/static_build.rs ({STATIC_RUSTFLAGS})"
    );
    assert!(
        run.contains(&format!("SHIM_RUSTFLAGS='{SHIM_RUSTFLAGS}'")),
        "tests/kernels/run does not use SHIM_RUSTFLAGS of src/static_build.rs ({SHIM_RUSTFLAGS})"
    );
    assert_eq!(
        rustflags("landlock-shim"),
        format!("{STATIC_RUSTFLAGS} {SHIM_RUSTFLAGS}")
    );
    assert!(
        run.contains("--profile shim --locked"),
        "the shim's profile"
    );
    assert!(
        run.contains(&format!("--target {SHIM_TARGET} -p init-shim")),
        "the shim's target"
    );
    assert!(run.contains("--release --locked"), "the webhook's profile");
    assert!(
        run.contains(&format!("--target {STATIC_TARGET} -p webhook")),
        "the webhook's target"
    );
}
