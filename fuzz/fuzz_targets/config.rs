//! The config loader must never panic: arbitrary YAML text, then NUL-separated `--set`
//! strings, through parsing, overrides, sweep expansion and validation.
#![no_main]

use ae_runner::config::{parse_set, Document};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let yaml = parts.next().unwrap_or_default().to_string();
    let sets: Vec<_> = parts.filter_map(|s| parse_set(s).ok()).collect();
    if let Ok(doc) = Document::parse(Path::new("fuzz.yaml"), yaml, &sets) {
        let _ = ae_runner::config::plan(&doc);
    }
});
