//! The fuzzer's corpus (fuzz/corpus/config, inputs that reached distinct paths of the config
//! loader) replayed on stable Rust: none may panic, whatever YAML library reads them. Each
//! input is YAML text, then NUL-separated `--set` strings, as in fuzz/fuzz_targets/config.rs.

use ae_runner::config::{parse_set, plan, Document};
use std::path::Path;

#[test]
fn no_corpus_input_panics_the_config_loader() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/config");
    let (mut n, mut planned) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&data);
        let mut parts = text.split('\0');
        let yaml = parts.next().unwrap_or_default().to_string();
        let sets: Vec<_> = parts.filter_map(|s| parse_set(s).ok()).collect();
        let outcome = std::panic::catch_unwind(|| {
            Document::parse(Path::new("fuzz.yaml"), yaml, &sets)
                .ok()
                .map(|doc| plan(&doc).is_ok())
        });
        match outcome {
            Ok(Some(true)) => planned += 1,
            Ok(_) => {}
            Err(_) => panic!("{} panics the config loader", path.display()),
        }
        n += 1;
    }
    assert!(n > 1000, "only {n} corpus inputs in {}", dir.display());
    // Valid experiments are in the corpus too: the loader is exercised past the parser.
    assert!(planned > 0, "no corpus input plans");
    eprintln!("{n} inputs, {planned} plan");
}
