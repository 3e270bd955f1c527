//! Records, for each run's provenance, the candle version from Cargo.lock and the commit this
//! binary is built from (with whether its tree had changes): taken here, at build time, because
//! an installed binary runs in folders that are not its repository.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"candle-core\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=AE_CANDLE_VERSION={version}");

    let (commit, dirty) = match git(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            watch_git();
            // Without optional locks, git status does not rewrite the index it is watched by.
            let status = git(&[
                "--no-optional-locks",
                "status",
                "--porcelain",
                "--untracked-files=no",
            ]);
            (commit, status.is_some_and(|s| !s.is_empty()))
        }
        None => ("unknown".to_string(), false),
    };
    println!("cargo:rustc-env=AE_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=AE_GIT_DIRTY={dirty}");
}

/// git's output in this crate's folder, trimmed; None without git or outside a repository.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs this script again when the commit or the tree's state can have changed: HEAD and the
/// index (a worktree has its own), the branch's ref (a commit moves it, not HEAD), and the
/// sources of the workspace's crates (an edit makes the tree dirty without touching the index).
fn watch_git() {
    let mut paths = vec![
        "HEAD".to_string(),
        "index".to_string(),
        "packed-refs".into(),
    ];
    paths.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for p in paths {
        if let Some(path) = git(&["rev-parse", "--git-path", &p]) {
            // Relative to this crate's folder, as cargo reads them; a path that does not exist
            // would make cargo run this script on every build.
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    for dir in [".", "../ae-core", "../ae-variants", "../Cargo.toml"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
