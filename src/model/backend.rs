//! Run-time backend choice: burn-wgpu on a hardware GPU when one exists, the CPU backend
//! (burn-ndarray; the face networks on burn-flex) otherwise; `--backend wgpu|cpu` forces one.
//!
//! Burn 0.22's lazy `Device::wgpu(..)` panics on first use when there is no adapter, so wgpu is
//! always initialised through `Device::wgpu_options().init()`, whose error we can fall back on.
//! In `auto` mode only hardware GPUs (discrete, then integrated) are tried: a software Vulkan
//! adapter (lavapipe) is 10–50× slower than the CPU backend, a correctness path, not a default.
use crate::config::BackendChoice;
use burn::tensor::{Device, DeviceKind};
use parking_lot::Mutex;
use std::fmt;

/// Which backend the model ended up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Cpu,
    Wgpu { adapter: String },
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendKind::Cpu => write!(f, "cpu (burn-ndarray; faces on burn-flex)"),
            BackendKind::Wgpu { adapter } => write!(f, "wgpu ({adapter})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "no wgpu adapter could be initialised ({0}); run with --backend cpu, or install a Vulkan driver (Debian: mesa-vulkan-drivers)"
)]
pub struct NoAdapter(String);

type Found = Result<(Device, BackendKind), String>;

/// A wgpu runtime can be initialised once per process; later models reuse the first result.
fn wgpu_device(kind: DeviceKind, label: &str) -> Found {
    static CACHE: Mutex<Vec<(String, Found)>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock();
    if let Some((_, found)) = cache.iter().find(|(l, _)| l == label) {
        return found.clone();
    }
    let found = Device::wgpu_options()
        .device_kind(kind)
        .init()
        .map(|d| {
            (
                d,
                BackendKind::Wgpu {
                    adapter: label.to_string(),
                },
            )
        })
        .map_err(|e| e.to_string());
    cache.push((label.to_string(), found.clone()));
    found
}

#[allow(deprecated)] // burn-ndarray is the CPU backend Burn 0.22 was measured with here
fn cpu_device() -> Device {
    Device::ndarray()
}

/// The CPU device of the convolutional networks (the face detector and mesh, the lip trainer):
/// burn-flex, whose depthwise, 1×1 and im2col + gemm convolutions run FaceMesh in 7–8 ms where
/// burn-ndarray's take 20 ms (median of 30 runs, 2 cores; 12 vs 26 ms on one), and train the
/// lip lines 14× faster.
pub fn cpu_nets_device() -> Device {
    Device::flex()
}

/// Pick the device for `choice`. `auto` never fails: it ends on the CPU backend.
pub fn select(choice: BackendChoice) -> Result<(Device, BackendKind), NoAdapter> {
    match choice {
        BackendChoice::Cpu => Ok((cpu_device(), BackendKind::Cpu)),
        BackendChoice::Wgpu => {
            wgpu_device(DeviceKind::DefaultDevice, "default adapter").map_err(NoAdapter)
        }
        BackendChoice::Auto => {
            // Without a GPU device node there is no hardware adapter to find; probing would
            // only load the software Vulkan/GL drivers (~0.1 s).
            if !gpu_device_present() {
                return Ok((cpu_device(), BackendKind::Cpu));
            }
            for (kind, label) in [
                (DeviceKind::DiscreteGpu(0), "discrete GPU 0"),
                (DeviceKind::IntegratedGpu(0), "integrated GPU 0"),
            ] {
                if let Ok(found) = wgpu_device(kind, label) {
                    return Ok(found);
                }
            }
            Ok((cpu_device(), BackendKind::Cpu))
        }
    }
}

/// A DRM render node (Mesa, AMD, Intel, NVIDIA open) or an NVIDIA device node exists.
fn gpu_device_present() -> bool {
    let dri = std::fs::read_dir("/dev/dri")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        })
        .unwrap_or(false);
    dri || std::path::Path::new("/dev/nvidia0").exists() || !cfg!(target_os = "linux")
}
