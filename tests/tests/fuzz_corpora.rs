//! The fuzz corpora (`tests/fuzz/corpus/<target>/`), replayed through the same target bodies
//! the libFuzzer binaries run (`landlock_tests::fuzz`): every input the fuzzer kept, and every
//! crash it ever found once fixed and added, must still pass. Fast; no cargo-fuzz needed.

use landlock_tests::fuzz::TARGETS;
use landlock_tests::static_build::workspace_root;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = workspace_root().join("tests/fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target needs a corpus)", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{}: empty corpus", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).expect("read a corpus input");
            // A panic names the input: replay it with `tests/fuzz/run --replay FILE`.
            eprintln!("{name}: {}", input.display());
            target(&data);
        }
    }
}
