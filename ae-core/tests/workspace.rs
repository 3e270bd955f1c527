//! The workspace's `rust-version` is the one every member declares, and it is new enough for
//! the code (AVX-512 target features need 1.89). The manifests are read as text: no TOML
//! parser is among the dependencies.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The lines of `[name]` in a manifest, comments and surrounding blanks removed.
fn section(manifest: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]");
    manifest
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value of `key = ...` in a section's lines, as one line (a list may span several).
fn value(lines: &[String], key: &str) -> Option<String> {
    let start = lines
        .iter()
        .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))?;
    let mut v = lines[start].split_once('=').unwrap().1.trim().to_string();
    for l in &lines[start + 1..] {
        if !v.starts_with('[') || v.ends_with(']') {
            break;
        }
        v.push_str(l);
    }
    Some(v)
}

/// The quoted strings of a TOML value.
fn strings(v: &str) -> Vec<String> {
    v.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_member_inherits_a_rust_version_of_at_least_1_89() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members = strings(&value(&section(&manifest, "workspace"), "members").unwrap());
    assert!(members.contains(&"ae-core".to_string()), "{members:?}");
    let declared = value(&section(&manifest, "workspace.package"), "rust-version")
        .expect("the workspace declares rust-version");
    let version: Vec<u32> = strings(&declared)[0]
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        version >= vec![1, 89],
        "rust-version {declared} is older than 1.89"
    );
    for member in members {
        let path = root().join(&member).join("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let package = section(&text, "package");
        assert_eq!(
            value(&package, "rust-version.workspace").as_deref(),
            Some("true"),
            "{} does not take rust-version from the workspace",
            path.display()
        );
    }
}
