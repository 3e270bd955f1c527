//! Where a run came from, for the `provenance:` block of its config.yaml.

use crate::results::status::now;
use crate::results::yaml::{Map, Value};

/// Where the run came from, for config.yaml.
pub fn provenance(device: &str, threads: usize) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    // The build's, from build.rs: the folder the binary runs in may be any repository or none.
    put("git_commit", env!("AE_GIT_COMMIT").into());
    put("git_dirty", (env!("AE_GIT_DIRTY") == "true").into());
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
    Value::Object(m)
}
