//! Where a run came from, for the `provenance:` block of its config.yaml.

use crate::results::status::now;

/// Where the run came from, for config.yaml.
pub fn provenance(device: &str, threads: usize) -> serde_yaml::Value {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mut m = serde_yaml::Mapping::new();
    let mut put = |k: &str, v: serde_yaml::Value| {
        m.insert(k.into(), v);
    };
    put("git_commit", commit.into());
    put("git_dirty", dirty.into());
    put("aelab_version", env!("CARGO_PKG_VERSION").into());
    put("candle_version", env!("AE_CANDLE_VERSION").into());
    put("device", device.into());
    put("threads", (threads as u64).into());
    put("cpu", cpu.into());
    put("host_os", std::env::consts::OS.into());
    put("started", now().into());
    put(
        "command",
        std::env::args().collect::<Vec<_>>().join(" ").into(),
    );
    serde_yaml::Value::Mapping(m)
}
