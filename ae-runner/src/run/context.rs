//! What a run is built from, and what one process reuses from run to run: the thread count,
//! the model freshly initialised from its seed, and a cache of loaded datasets.

use crate::config::Experiment;
use crate::results::naming::count;
use ae_core::data::{Binarize, DataConfig, Dataset};
use ae_core::rng::Streams;
use ae_variants::{Autoencoder, BuildContext};
use anyhow::Result;
use candle_core::Device;

/// The experiment's model, freshly initialised from its seed, for images like `data`'s.
pub fn build(
    exp: &Experiment,
    data: &Dataset,
    device: &Device,
    streams: Streams,
) -> Result<Box<dyn Autoencoder>> {
    let ctx = BuildContext {
        device,
        input_dim: data.dim(),
        image_shape: data.image_shape,
        classes: data.classes,
        optimizer: &exp.train.optimizer,
        streams,
    };
    exp.spec.build(&exp.model, &ctx)
}

/// candle sizes its matmul thread pool from RAYON_NUM_THREADS when it first runs one: call
/// this before any tensor work. 0 keeps candle's default, every core.
pub fn set_threads(threads: usize) {
    if threads > 0 {
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}

/// What one process reuses from run to run of a sweep (or of `ae-runner eval`): the devices
/// opened (each once, so the log names it once and every run's tensors share it); the datasets
/// of the last runs (a run's own and the every-class one its evaluation uses), when the data
/// config, device and (with fixed binarisation, which draws from the seed) seed are the same,
/// so the files are read, checked and decoded once; and the raw-pixel classifiers'
/// accuracies, which depend on the data and the evaluation settings only.
#[derive(Default)]
pub struct DataCache {
    devices: Vec<(String, Device)>,
    datasets: Vec<(DataKey, Dataset)>,
    pixels: Vec<(String, Vec<(String, f64)>)>,
}

type DataKey = (DataConfig, String, Option<u64>);

impl DataCache {
    /// The device `spec` names (`auto`, `cpu`, `cuda:1`), opened the first time it is asked for,
    /// which the log then says with the thread count.
    pub fn device(&mut self, spec: &str) -> Result<Device> {
        if let Some((_, dev)) = self.devices.iter().find(|(s, _)| s == spec) {
            return Ok(dev.clone());
        }
        let dev = ae_core::device::open(spec)?;
        tracing::info!(
            "device {} ({})",
            ae_core::device::describe(&dev),
            count(candle_core::utils::get_num_threads(), "thread")
        );
        self.devices.push((spec.to_string(), dev.clone()));
        Ok(dev)
    }

    pub fn get(
        &mut self,
        cfg: &DataConfig,
        device: &Device,
        streams: &Streams,
        seed: u64,
    ) -> Result<Dataset> {
        let key = (
            cfg.clone(),
            ae_core::device::describe(device),
            (cfg.binarize == Binarize::Fixed).then_some(seed),
        );
        if let Some((_, data)) = self.datasets.iter().find(|(k, _)| *k == key) {
            return Ok(data.clone());
        }
        let data = Dataset::load(cfg, device, streams)?;
        if self.datasets.len() == 2 {
            self.datasets.remove(0);
        }
        self.datasets.push((key, data.clone()));
        Ok(data)
    }

    /// The metrics stored under `key`, computed by `compute` the first time.
    pub fn pixel_metrics(
        &mut self,
        key: String,
        compute: impl FnOnce() -> Result<Vec<(String, f64)>>,
    ) -> Result<Vec<(String, f64)>> {
        if let Some((_, v)) = self.pixels.iter().find(|(k, _)| *k == key) {
            return Ok(v.clone());
        }
        let v = compute()?;
        self.pixels.push((key, v.clone()));
        Ok(v)
    }
}
