//! Every input in the fuzz corpora and every crash the fuzzers found, replayed on stable Rust
//! through the same entry points the fuzz targets call (`thermocline::fuzzing`).

use std::path::Path;

use thermocline::fuzzing;

#[test]
fn corpora_and_found_crashes_decode_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = 0;
    for target in fuzzing::TARGETS {
        for kind in ["corpus", "regressions"] {
            let dir = root.join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                fuzzing::run(target, &data);
                inputs += 1;
            }
        }
    }
    assert!(
        inputs >= 10,
        "the committed corpora are missing: {inputs} inputs"
    );
    eprintln!("fuzz regressions: {inputs} committed inputs replayed");
}
