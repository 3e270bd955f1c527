//! Datasets in the MNIST layout, loaded once onto the device, split into train, validation and
//! test, and batched by indexing a shuffled permutation (no per-sample work in the loop).

pub mod idx;
pub mod source;

use crate::error::{ensure, ConfigError};
use crate::rng::{Purpose, Rng, Streams};
use crate::UserError;
use anyhow::Result;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The seed that binarises the validation and test sets once, the same for every run, so that
/// runs with different seeds are evaluated on the same binary images.
pub const EVAL_BINARIZE_SEED: u64 = 0xB1_4A_12_E5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Mnist,
    FashionMnist,
    /// Any folder of IDX files named like MNIST's (needs `root`).
    Idx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binarize {
    /// Grey levels in [0, 1].
    None,
    /// A fresh Bernoulli draw of every training batch; evaluation sets drawn once.
    Dynamic,
    /// Every set drawn once.
    Fixed,
}

/// The `data:` section of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dataset: DatasetName,
    /// A folder with the four files; otherwise `AE_DATA_DIR`, `data/<dataset>`, the cache.
    pub root: Option<PathBuf>,
    /// Base address to download missing files from (default: the dataset's public mirror).
    pub mirror: Option<String>,
    pub binarize: Binarize,
    /// Images held out from the end of the training set for per-epoch validation (0: none).
    pub val_size: usize,
    /// Train on the first N training images only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test images only.
    pub test_limit: Option<usize>,
    /// Keep only these labels (e.g. one digit, for one-class experiments).
    pub classes: Option<Vec<u8>>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetName::Mnist,
            root: None,
            mirror: None,
            binarize: Binarize::None,
            val_size: 5000,
            train_limit: None,
            test_limit: None,
            classes: None,
        }
    }
}

impl DataConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.dataset != DatasetName::Idx || self.root.is_some(),
            "data.root",
            || {
                "dataset `idx` needs data.root: a folder with train-images-idx3-ubyte[.gz] and the three other files".into()
            },
        )?;
        ensure(self.train_limit != Some(0), "data.train_limit", || {
            "must be at least 1 (or absent for all)".into()
        })?;
        ensure(self.test_limit != Some(0), "data.test_limit", || {
            "must be at least 1 (or absent for all)".into()
        })?;
        if let Some(c) = &self.classes {
            ensure(!c.is_empty(), "data.classes", || {
                "must list at least one label".into()
            })?;
            if let Some(n) = self.dataset.source().classes {
                if let Some(bad) = c.iter().find(|&&c| c >= n) {
                    return Err(ConfigError::new(
                        "data.classes",
                        format!(
                            "{bad} is not a class of {}: its labels are 0 to {}",
                            self.dataset,
                            n - 1
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// data.val_size must leave training images: of the `all` the training set (`images`) has,
    /// or of the `kept` of data.classes.
    fn check_val_size(
        &self,
        all: usize,
        kept: Option<usize>,
        images: &Path,
    ) -> Result<(), UserError> {
        let n = kept.unwrap_or(all);
        if self.val_size < n {
            return Ok(());
        }
        let of = match (&self.classes, kept) {
            (Some(c), Some(k)) => format!(
                "data.classes {c:?} keeps {k} of the {all} of the training set ({})",
                images.display()
            ),
            _ => format!("the training set has {all} ({})", images.display()),
        };
        Err(UserError(format!(
            "data.val_size {} leaves no training images: {of}; it must be below {n} (0: no \
             validation set)",
            self.val_size
        )))
    }

    /// What the headers of the data files tell without reading the files (for `--check`):
    /// that they are IDX files of images and labels, and that data.val_size leaves training
    /// images. Files not on this machine (yet) are the run's to find, download or name.
    pub fn check_headers(&self) -> Result<()> {
        let src = self.dataset.source();
        let Some(dir) = source::find_local(&src, self.root.as_deref())? else {
            return Ok(());
        };
        let (ipath, images) = source::read_header(&dir, &src.files[0])?;
        let (lpath, labels) = source::read_header(&dir, &src.files[1])?;
        let (n, _) = layout(
            "training set",
            (&ipath, &images.dims),
            (&lpath, &labels.dims),
        )?;
        Ok(self.check_val_size(n, None, &ipath)?)
    }
}

impl DatasetName {
    fn source(self) -> source::Source {
        match self {
            DatasetName::Mnist => source::MNIST,
            DatasetName::FashionMnist => source::FASHION_MNIST,
            DatasetName::Idx => source::IDX,
        }
    }
}

/// As the config writes it: `mnist`, `fashion-mnist`, `idx`.
impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.source().name)
    }
}

/// Images (one row of pixels in [0, 1] each) and their labels (u32), on the device: a split of
/// a dataset, or one batch of it.
#[derive(Debug, Clone)]
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> usize {
        self.images.dim(0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same images and labels on `device`.
    pub fn to_device(&self, device: &Device) -> Result<Split> {
        Ok(Split {
            images: self.images.to_device(device)?,
            labels: self.labels.to_device(device)?,
        })
    }

    /// The `len` images from `start` and their labels.
    pub fn narrow(&self, start: usize, len: usize) -> Result<Split> {
        Ok(Split {
            images: self.images.narrow(0, start, len)?,
            labels: self.labels.narrow(0, start, len)?,
        })
    }

    /// Consecutive batches of at most `size` images, in a fixed order (for evaluation).
    pub fn chunks(&self, size: usize) -> Result<Vec<Split>> {
        let n = self.len();
        (0..n)
            .step_by(size.max(1))
            .map(|s| self.narrow(s, size.min(n - s)))
            .collect()
    }
}

/// Train, validation and test splits of one dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub train: Split,
    pub val: Option<Split>,
    pub test: Split,
    /// (channels, height, width) of one image.
    pub image_shape: (usize, usize, usize),
    /// The labels are 0 to classes - 1: the dataset's classes (its own count, or one more than
    /// the largest label of its files), whatever `data.classes` keeps, so that a model
    /// conditioned on the label reads every label of the evaluation's every-class data.
    pub classes: usize,
    /// Where the files were read from.
    pub dir: PathBuf,
    pub binarize: Binarize,
}

/// One split as read from its two IDX files.
struct Decoded {
    /// Pixels as f32 in [0, 1], one image after another.
    px: Vec<f32>,
    labels: Vec<u32>,
    /// (channels, height, width).
    shape: (usize, usize, usize),
}

/// A file as read: where it is, and its unpacked bytes.
type FileBytes = (PathBuf, Vec<u8>);

/// The number and shape of images of sizes `im` with labels of sizes `lb` (each with its
/// file), or what is wrong with them.
fn layout(
    name: &str,
    (ipath, im): (&Path, &[usize]),
    (lpath, lb): (&Path, &[usize]),
) -> Result<(usize, (usize, usize, usize)), UserError> {
    let (n, shape) = match *im {
        [n, h, w] => (n, (1, h, w)),
        [n, c, h, w] => (n, (c, h, w)),
        _ => {
            return Err(UserError(format!(
                "{name}: {}: images of rank {} (expected 3, or 4 with channels)",
                ipath.display(),
                im.len()
            )))
        }
    };
    if lb != [n] {
        return Err(UserError(format!(
            "{name}: {n} images but labels of shape {lb:?} in {}",
            lpath.display()
        )));
    }
    Ok((n, shape))
}

fn decode((ipath, images): &FileBytes, (lpath, labels): &FileBytes, name: &str) -> Result<Decoded> {
    let parse = |path: &Path, bytes: &[u8]| {
        idx::parse(bytes).map_err(|e| UserError(format!("{name}: {}: {e}", path.display())))
    };
    let im = parse(ipath, images)?;
    let lb = parse(lpath, labels)?;
    let (_, shape) = layout(name, (ipath, &im.dims), (lpath, &lb.dims))?;
    let px = im.data.iter().map(|&b| b as f32 / 255.0).collect();
    Ok(Decoded {
        px,
        labels: lb.data.iter().map(|&l| l as u32).collect(),
        shape,
    })
}

/// Keeps the rows whose label is in `classes`.
fn filter(
    px: Vec<f32>,
    labels: Vec<u32>,
    d: usize,
    classes: Option<&[u8]>,
) -> (Vec<f32>, Vec<u32>) {
    let Some(classes) = classes else {
        return (px, labels);
    };
    let keep: Vec<usize> = (0..labels.len())
        .filter(|&i| classes.contains(&(labels[i] as u8)))
        .collect();
    let px = keep
        .iter()
        .flat_map(|&i| px[i * d..(i + 1) * d].iter().copied())
        .collect();
    (px, keep.iter().map(|&i| labels[i]).collect())
}

fn to_split(
    px: &[f32],
    labels: &[u32],
    d: usize,
    range: std::ops::Range<usize>,
    dev: &Device,
) -> Result<Split> {
    let n = range.len();
    Ok(Split {
        images: Tensor::from_slice(&px[range.start * d..range.end * d], (n, d), dev)?,
        labels: Tensor::from_slice(&labels[range], n, dev)?,
    })
}

impl Dataset {
    /// Locates, verifies and loads the dataset onto `dev`, binarising as configured.
    pub fn load(cfg: &DataConfig, dev: &Device, streams: &Streams) -> Result<Dataset> {
        let src = cfg.dataset.source();
        let dir = source::locate(&src, cfg.root.as_deref(), cfg.mirror.as_deref())?;
        let [tri, trl, tei, tel] = source::read_all(&src, &dir)?;
        let Decoded { px, labels, shape } = decode(&tri, &trl, "training set")?;
        let d = shape.0 * shape.1 * shape.2;
        let classes = cfg.classes.as_deref();
        if let Some(c) = classes
            .unwrap_or_default()
            .iter()
            .find(|&&c| !labels.contains(&u32::from(c)))
        {
            let mut have = labels.clone();
            have.sort_unstable();
            have.dedup();
            return Err(UserError(format!(
                "data.classes: no training image in {} has label {c} (its labels: {have:?})",
                trl.0.display()
            ))
            .into());
        }
        let all = labels.len();
        let largest = labels.iter().max().copied();
        let (px, labels) = filter(px, labels, d, classes);
        let n = labels.len();
        cfg.check_val_size(all, classes.map(|_| n), &tri.0)?;
        let n_train = (n - cfg.val_size).min(cfg.train_limit.unwrap_or(usize::MAX));
        let train = to_split(&px, &labels, d, 0..n_train, dev)?;
        let val = (cfg.val_size > 0)
            .then(|| to_split(&px, &labels, d, n - cfg.val_size..n, dev))
            .transpose()?;

        let Decoded {
            px: tpx,
            labels: tlabels,
            shape: tshape,
        } = decode(&tei, &tel, "test set")?;
        if tshape != shape {
            return Err(UserError(format!(
                "test images are {tshape:?}, training images {shape:?}"
            ))
            .into());
        }
        let largest = largest.max(tlabels.iter().max().copied()).unwrap_or(0) as usize;
        let class_count = src.classes.map_or(largest + 1, usize::from);
        let (tpx, tlabels) = filter(tpx, tlabels, d, classes);
        let n_test = tlabels.len().min(cfg.test_limit.unwrap_or(usize::MAX));
        if n_test == 0 {
            return Err(UserError("no test images left after data.classes".into()).into());
        }
        let test = to_split(&tpx, &tlabels, d, 0..n_test, dev)?;

        let mut ds = Dataset {
            train,
            val,
            test,
            image_shape: shape,
            classes: class_count,
            dir,
            binarize: cfg.binarize,
        };
        if cfg.binarize != Binarize::None {
            let mut eval_rng = Streams::new(EVAL_BINARIZE_SEED).stream(Purpose::Binarize, 0);
            ds.test.images = eval_rng.binarize(&ds.test.images)?;
            if let Some(v) = &mut ds.val {
                v.images = eval_rng.binarize(&v.images)?;
            }
        }
        if cfg.binarize == Binarize::Fixed {
            ds.train.images = streams
                .stream(Purpose::Binarize, u64::from(u32::MAX))
                .binarize(&ds.train.images)?;
        }
        Ok(ds)
    }

    /// Pixels per image.
    pub fn dim(&self) -> usize {
        self.image_shape.0 * self.image_shape.1 * self.image_shape.2
    }
}

/// One epoch's training batches: a permutation of the training set cut into batches (the
/// last one may be smaller), each gathered on the device and binarised if dynamic.
pub struct Batches<'a> {
    train: &'a Split,
    perm: Tensor,
    batch_size: usize,
    pos: usize,
    binarize: Option<Rng>,
}

impl<'a> Batches<'a> {
    pub fn new(ds: &'a Dataset, batch_size: usize, streams: &Streams, epoch: u64) -> Result<Self> {
        let n = ds.train.len();
        let perm = streams
            .stream(Purpose::Shuffle, epoch)
            .permutation(n, ds.train.images.device())?;
        // Drawn ahead on a GPU: uniforms only, uploaded in blocks rather than per batch.
        let binarize = (ds.binarize == Binarize::Dynamic).then(|| {
            streams
                .stream(Purpose::Binarize, epoch)
                .ahead(ds.train.images.device())
        });
        Ok(Self {
            train: &ds.train,
            perm,
            batch_size,
            pos: 0,
            binarize,
        })
    }

    pub fn len(&self) -> usize {
        self.perm.dim(0).unwrap_or(0).div_ceil(self.batch_size)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<Split>;

    fn next(&mut self) -> Option<Self::Item> {
        let n = self.perm.dim(0).ok()?;
        if self.pos >= n {
            return None;
        }
        let len = self.batch_size.min(n - self.pos);
        let batch = (|| -> Result<Split> {
            let idx = self.perm.narrow(0, self.pos, len)?;
            let x = self.train.images.index_select(&idx, 0)?;
            Ok(Split {
                images: match &mut self.binarize {
                    Some(rng) => rng.binarize(&x)?,
                    None => x,
                },
                labels: self.train.labels.index_select(&idx, 0)?,
            })
        })();
        self.pos += len;
        Some(batch)
    }
}

/// Consecutive chunks of an evaluation set, in a fixed order.
pub fn chunks(images: &Tensor, size: usize) -> Result<Vec<Tensor>> {
    let n = images.dim(0)?;
    (0..n)
        .step_by(size.max(1))
        .map(|s| Ok(images.narrow(0, s, size.min(n - s))?))
        .collect()
}
