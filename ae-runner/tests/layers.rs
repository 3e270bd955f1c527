//! The structure the code promises (docs/design.md): no module of any crate uses one that,
//! directly or through others, uses it back; the runner's folders are layers, each using only
//! those below it; and `results/` knows no tensor. Read from the sources' `crate::` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The runner's layers, bottom first.
const LAYERS: &[&str] = &["results", "config", "run", "eval", "experiment"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every .rs file under `dir`, by its module path (`run/mod.rs` -> ["run"]).
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<Vec<String>, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && p.file_name().is_some_and(|n| n == "bin") {
                // Binaries are crates of their own.
            } else if p.is_dir() {
                walk(&p, src, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap().with_extension("");
                let mut path: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
                    path.pop();
                }
                let text = std::fs::read_to_string(&p).unwrap();
                // Code only: unit tests at the end of a file may reach anywhere.
                let code = text.split("#[cfg(test)]").next().unwrap().to_string();
                let code: String = code
                    .lines()
                    .map(|l| l.split("//").next().unwrap())
                    .collect::<Vec<_>>()
                    .join("\n");
                out.insert(path, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

fn ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The paths a use tree names, from the text just after `prefix::`: `a::b`, `a::{b, c::d}`.
fn use_paths(text: &str) -> Vec<Vec<String>> {
    let seg: String = text.chars().take_while(|&c| ident(c)).collect();
    if seg.is_empty() {
        if let Some(inner) = text.strip_prefix('{') {
            // Split the group at its top-level commas.
            let (mut depth, mut start, mut out) = (0, 0, Vec::new());
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.extend(use_paths(inner[start..i].trim_start()));
                        return out;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(use_paths(inner[start..i].trim_start()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        }
        return vec![];
    }
    let rest = &text[seg.len()..];
    match rest.strip_prefix("::") {
        Some(more) => {
            let tails = use_paths(more);
            if tails.is_empty() {
                vec![vec![seg]]
            } else {
                tails
                    .into_iter()
                    .map(|t| std::iter::once(seg.clone()).chain(t).collect())
                    .collect()
            }
        }
        None => vec![vec![seg]],
    }
}

/// The module files each module uses: `crate::` paths, and in a module with children, paths
/// through a child's name.
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules(src);
    let resolve = |p: &[String]| -> Option<Vec<String>> {
        (1..=p.len())
            .rev()
            .map(|n| p[..n].to_vec())
            .find(|m| mods.contains_key(m))
    };
    let mut g = BTreeMap::new();
    for (path, code) in &mods {
        let mut uses = BTreeSet::new();
        let children: Vec<String> = mods
            .keys()
            .filter(|k| k.len() == path.len() + 1 && k.starts_with(path))
            .map(|k| k.last().unwrap().clone())
            .collect();
        let mut prefixes = vec![("crate::".to_string(), vec![])];
        for c in &children {
            prefixes.push((format!("{c}::"), path.iter().chain([c]).cloned().collect()));
        }
        for (prefix, base) in &prefixes {
            for (i, _) in code.match_indices(prefix.as_str()) {
                let before = code[..i].chars().next_back();
                if before.is_some_and(|b| ident(b) || b == ':') {
                    continue;
                }
                for p in use_paths(&code[i + prefix.len()..]) {
                    let full: Vec<String> = base.iter().cloned().chain(p).collect();
                    if let Some(m) = resolve(&full) {
                        if m != *path {
                            uses.insert(m);
                        }
                    }
                }
            }
        }
        g.insert(path.clone(), uses);
    }
    g
}

/// A cycle of the graph, if there is one.
fn cycle(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == n) {
            return Some(
                stack[at..]
                    .iter()
                    .chain([n])
                    .map(|m| m.join("::"))
                    .collect(),
            );
        }
        if !done.insert(n.clone()) {
            return None;
        }
        stack.push(n.clone());
        for m in &g[n] {
            if let Some(c) = visit(m, g, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|n| visit(n, g, &mut vec![], &mut done))
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    for krate in ["ae-core", "ae-variants", "ae-runner"] {
        let g = graph(&root().join(krate).join("src"));
        assert!(g.len() > 5, "{krate}: read {} modules", g.len());
        if let Some(c) = cycle(&g) {
            panic!("{krate}: an import circle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_runners_layers_use_only_those_below() {
    let g = graph(&root().join("ae-runner/src"));
    let layer = |m: &[String]| {
        LAYERS
            .iter()
            .position(|l| m.first().is_some_and(|f| f == l))
    };
    let mut seen = 0;
    for (m, uses) in &g {
        let Some(mine) = layer(m) else { continue };
        for u in uses {
            seen += 1;
            let theirs = layer(u).unwrap_or(usize::MAX);
            assert!(
                theirs <= mine,
                "{} uses {}, a layer above it (order: {LAYERS:?})",
                m.join("::"),
                u.join("::")
            );
        }
    }
    assert!(seen > 20, "only {seen} uses read");
}

#[test]
fn results_know_no_tensor() {
    let mods = modules(&root().join("ae-runner/src"));
    let mut files = 0;
    for (m, code) in mods
        .iter()
        .filter(|(m, _)| m.first().is_some_and(|f| f == "results"))
    {
        files += 1;
        for banned in ["candle_core", "candle_nn", "ae_variants", "Tensor"] {
            // Whole names: TensorBoard's `TensorProto` message is not a tensor.
            let named = code.match_indices(banned).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                let after = code[i + banned.len()..].chars().next();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            });
            assert!(!named, "{} names {banned}", m.join("::"));
        }
        for (i, _) in code.match_indices("ae_core::") {
            assert!(
                code[i..].starts_with("ae_core::UserError"),
                "{} uses ae_core beyond its error type",
                m.join("::")
            );
        }
    }
    assert!(files >= 5);
}

#[test]
fn the_reader_sees_a_circle_when_there_is_one() {
    // The checks above are only as good as this reader: a made-up crate with a circle.
    let tmp = std::env::temp_dir().join(format!("aelab-layers-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("run")).unwrap();
    std::fs::write(tmp.join("lib.rs"), "pub mod run;\n").unwrap();
    std::fs::write(
        tmp.join("run/mod.rs"),
        "pub mod a;\nuse a::X;\npub struct Y;\n",
    )
    .unwrap();
    std::fs::write(
        tmp.join("run/a.rs"),
        "use crate::{run::{self, Y}, other};\npub struct X;\n",
    )
    .unwrap();
    let g = graph(&tmp);
    let c = cycle(&g).map(|c| c.join(" -> "));
    std::fs::remove_dir_all(&tmp).unwrap();
    assert_eq!(c.as_deref(), Some("run -> run::a -> run"));
}
