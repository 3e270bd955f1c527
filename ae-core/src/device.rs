//! `auto | cpu | cuda | cuda:N` to a candle device.

use crate::UserError;
use candle_core::Device;

/// Opens the device a config or `--device` names. `auto` is CUDA 0 when this binary has the
/// `cuda` feature and a GPU answers, the CPU otherwise.
pub fn open(spec: &str) -> Result<Device, UserError> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(cuda(0).unwrap_or(Device::Cpu)),
        "cuda" => cuda(0),
        s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => cuda(n),
            _ => Err(UserError(format!(
                "device `{s}` is not one of auto, cpu, cuda, cuda:N"
            ))),
        },
    }
}

/// Checks the spelling of a device without opening it (for `--check`).
pub fn is_valid_spec(spec: &str) -> bool {
    matches!(spec, "auto" | "cpu" | "cuda")
        || spec
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok())
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<Device, UserError> {
    Device::new_cuda(ordinal).map_err(|e| UserError(format!("cannot open cuda:{ordinal}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda(ordinal: usize) -> Result<Device, UserError> {
    Err(UserError(format!(
        "cuda:{ordinal} asked for, but this binary was built without the `cuda` feature \
         (rebuild with `--features cuda`, or use --device cpu)"
    )))
}

/// A short human name for logs and provenance.
pub fn describe(dev: &Device) -> String {
    match dev {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => format!("{:?}", dev.location()),
        Device::Metal(_) => "metal".into(),
    }
}
