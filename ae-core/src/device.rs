//! `auto | cpu | cuda | cuda:N` to a candle device.
//!
//! A binary built by scripts/cuda-build.sh loads the CUDA libraries with dlopen (cudarc's
//! dynamic loading), so it starts on a machine without the NVIDIA driver; cudarc would then
//! panic on the first CUDA call. So before a CUDA device is opened, the driver is looked for
//! here: `auto` falls back to the CPU and logs why, `cuda` / `cuda:N` is a [`UserError`].

use crate::UserError;
use candle_core::Device;

/// Every spelling `train.device` and `--device` accept.
pub const ALLOWED: &str = "auto, cpu, cuda, cuda:N";

/// A device as the config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// CUDA 0 when this binary has the `cuda` feature and a GPU answers, else the CPU.
    Auto,
    Cpu,
    /// `cuda` is `cuda:0`.
    Cuda(usize),
}

impl Spec {
    pub fn parse(spec: &str) -> Result<Self, UserError> {
        match spec {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Self::Cuda(n)),
                _ => Err(UserError(format!("device `{s}` is not one of {ALLOWED}"))),
            },
        }
    }
}

/// Why no CUDA device could be had, and which devices can be used instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    pub why: String,
    /// What to ask for instead, e.g. "auto, cpu".
    pub allowed: String,
}

/// Opens the device a config or `--device` names. `auto` is CUDA 0 when this binary has the
/// `cuda` feature and a GPU answers, the CPU otherwise, and logs which it chose and why.
pub fn open(spec: &str) -> Result<Device, UserError> {
    open_with(spec, cuda)
}

/// [`open`] with the way a CUDA device is opened passed in (the tests pass their own).
pub fn open_with(
    spec: &str,
    cuda: impl Fn(usize) -> Result<Device, Unavailable>,
) -> Result<Device, UserError> {
    match Spec::parse(spec)? {
        Spec::Cpu => Ok(Device::Cpu),
        Spec::Auto => Ok(match cuda(0) {
            Ok(dev) => {
                tracing::info!("device auto: {} (a GPU answered)", describe(&dev));
                dev
            }
            Err(u) => {
                tracing::info!("device auto: cpu (cuda:0 cannot be used: {})", u.why);
                Device::Cpu
            }
        }),
        Spec::Cuda(n) => cuda(n).map_err(|u| {
            UserError(format!(
                "device `{spec}`: cuda:{n} cannot be used: {}; allowed here: {}",
                u.why, u.allowed
            ))
        }),
    }
}

/// Checks the spelling of a device without opening it (for `--check`).
pub fn is_valid_spec(spec: &str) -> bool {
    Spec::parse(spec).is_ok()
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<Device, Unavailable> {
    let cpu_only = |why: String| Unavailable {
        why,
        allowed: "auto, cpu".into(),
    };
    driver().map_err(cpu_only)?;
    // cudarc panics where a CUDA library it dlopens (cuBLAS, cuRAND) is missing: that is
    // turned into an error too, without the panic message on stderr.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(|| Device::new_cuda(ordinal));
    std::panic::set_hook(hook);
    let allowed = || match candle_core::cuda_backend::cudarc::driver::CudaContext::device_count() {
        Ok(n) if n > 0 => format!("auto, cpu, cuda:0 to cuda:{}", n - 1),
        _ => "auto, cpu".into(),
    };
    match opened {
        Ok(Ok(dev)) => Ok(dev),
        Ok(Err(e)) => Err(Unavailable {
            why: format!("opening it failed: {}", without_backtrace(&e)),
            allowed: allowed(),
        }),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a CUDA library could not be loaded".into());
            Err(cpu_only(format!("a CUDA library is missing: {msg}")))
        }
    }
}

/// candle's error without the backtrace it carries when RUST_BACKTRACE is set.
#[cfg(feature = "cuda")]
fn without_backtrace(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(inner),
        e => e.to_string(),
    }
}

/// Whether the NVIDIA driver's libcuda.so.1 can be loaded, as cudarc will load it (the
/// binary's rpath, LD_LIBRARY_PATH, the system's library folders).
#[cfg(feature = "cuda")]
fn driver() -> Result<(), String> {
    const NAME: &std::ffi::CStr = c"libcuda.so.1";
    // SAFETY: dlopen with a NUL-terminated name; dlerror's message is copied before any other
    // dl* call; the handle is closed (cudarc opens the library again itself).
    unsafe {
        let handle = libc::dlopen(NAME.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            let err = libc::dlerror();
            let detail = if err.is_null() {
                "dlopen failed".to_string()
            } else {
                std::ffi::CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            return Err(format!("there is no NVIDIA driver here ({detail})"));
        }
        libc::dlclose(handle);
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize) -> Result<Device, Unavailable> {
    Err(Unavailable {
        why: "this binary was built without the `cuda` feature \
              (scripts/cuda-build.sh builds one with it)"
            .into(),
        allowed: "auto, cpu".into(),
    })
}

/// A short human name for logs and provenance: `cpu`, `cuda:0 (NVIDIA H200)`.
pub fn describe(dev: &Device) -> String {
    match dev {
        Device::Cpu => "cpu".into(),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            let ctx = d.cuda_stream();
            let ctx = ctx.context();
            match ctx.name() {
                Ok(name) => format!("cuda:{} ({name})", ctx.ordinal()),
                Err(_) => format!("cuda:{}", ctx.ordinal()),
            }
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => format!("{:?}", dev.location()),
        Device::Metal(_) => "metal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_gpu(ordinal: usize) -> Result<Device, Unavailable> {
        Err(Unavailable {
            why: format!("no driver for cuda:{ordinal}"),
            allowed: "auto, cpu".into(),
        })
    }

    #[test]
    fn specs_parse_and_bad_ones_name_what_is_allowed() {
        assert_eq!(Spec::parse("auto").unwrap(), Spec::Auto);
        assert_eq!(Spec::parse("cpu").unwrap(), Spec::Cpu);
        assert_eq!(Spec::parse("cuda").unwrap(), Spec::Cuda(0));
        assert_eq!(Spec::parse("cuda:3").unwrap(), Spec::Cuda(3));
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", ""] {
            let e = Spec::parse(bad).unwrap_err().0;
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains(ALLOWED),
                "{e}"
            );
            assert!(!is_valid_spec(bad));
        }
        assert!(is_valid_spec("cuda:12"));
    }

    #[test]
    fn auto_falls_back_to_the_cpu_and_cuda_is_an_error_naming_why() {
        assert!(matches!(open_with("auto", no_gpu).unwrap(), Device::Cpu));
        assert!(matches!(open_with("cpu", no_gpu).unwrap(), Device::Cpu));
        let e = open_with("cuda", no_gpu).unwrap_err().0;
        assert_eq!(
            e,
            "device `cuda`: cuda:0 cannot be used: no driver for cuda:0; allowed here: auto, cpu"
        );
        let e = open_with("cuda:2", no_gpu).unwrap_err().0;
        assert!(e.contains("no driver for cuda:2"), "{e}");
        // `cpu` never asks for CUDA.
        let never = |_| -> Result<Device, Unavailable> { panic!("cpu opened CUDA") };
        assert!(matches!(open_with("cpu", never).unwrap(), Device::Cpu));
    }

    #[test]
    fn auto_takes_the_gpu_that_answers() {
        // A stand-in for a GPU: the opener is asked for ordinal 0 and its device is used.
        let asked = std::cell::Cell::new(None);
        let fake = |n| {
            asked.set(Some(n));
            Ok(Device::Cpu)
        };
        open_with("auto", fake).unwrap();
        assert_eq!(asked.get(), Some(0));
    }

    /// What this build does with no GPU: on CI's machines (no `cuda` feature, or no driver)
    /// `auto` is the CPU and `cuda` an error that says why and what is allowed.
    #[test]
    fn this_build_without_a_gpu() {
        if cfg!(feature = "cuda") && std::path::Path::new("/proc/driver/nvidia").exists() {
            return; // a GPU machine: nothing of this holds there
        }
        assert!(matches!(open("auto").unwrap(), Device::Cpu));
        let e = open("cuda:1").unwrap_err().0;
        assert!(
            e.starts_with("device `cuda:1`: ") && e.ends_with("allowed here: auto, cpu"),
            "{e}"
        );
    }
}
