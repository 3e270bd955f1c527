//! One event file in a run's TensorBoard folder, written as torch's SummaryWriter writes it:
//! scalars as `simple_value`, images as PNG `Summary.Image`, histograms, text for the text
//! plugin. A resumed run rewrites its folder's events up to the checkpoint's step into a new
//! file, so that TensorBoard sees each step once.

use super::proto::{
    Dim, Event, HParams, HParamsPluginData, HistogramProto, Image, Kind, PluginData, Summary,
    SummaryMetadata, TensorProto, TensorShapeProto, Value, What, DT_STRING,
};
use super::record::{frame, payloads};
use crate::results::files::{sync_rename, tmp_path};
use anyhow::{Context, Result};
use prost::Message;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A PNG and what Summary.Image says of it.
pub struct Png {
    pub width: u32,
    pub height: u32,
    /// 1 grayscale, 3 RGB.
    pub channels: u32,
    pub bytes: Vec<u8>,
}

pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

/// Marks the files TensorBoard reads as event files.
const MARK: &str = "tfevents";

/// Seconds since the Unix epoch, as events and HParams records carry them.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its length; the name is cut at its first NUL.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    match ok {
        true => String::from_utf8_lossy(&buf[..end]).replace(['/', '.'], "_"),
        false => "localhost".into(),
    }
}

/// The event files of `dir`, in the order TensorBoard reads them (by name).
pub fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(MARK) && !n.ends_with(".tmp"))
        })
        .collect();
    files.sort();
    files
}

/// The seconds in an event file's name (`events.out.tfevents.<secs>.<host>...`).
fn stamp(path: &Path) -> u64 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.split('.')
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Every whole event in `dir`'s files, in reading order (a torn last record is left out).
pub fn read_events(dir: &Path) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    for path in event_files(dir) {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for p in payloads(&bytes) {
            events.push(Event::decode(p).with_context(|| format!("decoding {}", path.display()))?);
        }
    }
    Ok(events)
}

impl EventWriter {
    /// A new event file in `dir` (created if need be), which replaces the folder's earlier
    /// ones. With `after`, their summaries up to that step are carried into it: the events of
    /// a run resumed from a checkpoint at that step, each step once.
    pub fn open(dir: &Path, after: Option<i64>) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let old = event_files(dir);
        // Named after every earlier file: TensorBoard moves on to files that sort later.
        let secs = (now() as u64).max(old.iter().map(|p| stamp(p) + 1).max().unwrap_or(0));
        let name = format!(
            "events.out.tfevents.{secs:010}.{}.{}.aelab",
            host(),
            std::process::id()
        );
        let path = dir.join(name);
        let tmp = tmp_path(&path);
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut writer = Self {
            out: BufWriter::new(file),
            path: path.clone(),
        };
        writer.event(Event {
            wall_time: now(),
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".into())),
        })?;
        if let Some(after) = after {
            for e in read_events(dir)? {
                let summary = matches!(e.what, Some(What::Summary(_)));
                if summary && e.step <= after {
                    writer.event(e)?;
                }
            }
        }
        writer.flush()?;
        sync_rename(&tmp, &path)?;
        for p in old.iter().filter(|p| **p != path) {
            std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
        }
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn event(&mut self, e: Event) -> Result<()> {
        self.out
            .write_all(&frame(&e.encode_to_vec()))
            .with_context(|| format!("writing {}", self.path.display()))
    }

    fn summary(&mut self, step: i64, value: Vec<Value>) -> Result<()> {
        self.event(Event {
            wall_time: now(),
            step,
            what: Some(What::Summary(Summary { value })),
        })
    }

    /// Scalars at `step`, one event.
    pub fn scalars(&mut self, step: i64, values: &[(String, f64)]) -> Result<()> {
        let value = values
            .iter()
            .map(|(tag, v)| Value {
                tag: tag.clone(),
                metadata: None,
                value: Some(Kind::SimpleValue(*v as f32)),
            })
            .collect();
        self.summary(step, value)
    }

    pub fn image(&mut self, step: i64, tag: &str, png: Png) -> Result<()> {
        let image = Image {
            height: png.height as i32,
            width: png.width as i32,
            colorspace: png.channels as i32,
            encoded_image_string: png.bytes,
        };
        self.summary(step, vec![plain(tag, Kind::Image(image))])
    }

    /// A histogram of `values` in `buckets` equal buckets between their least and greatest.
    pub fn histogram(
        &mut self,
        step: i64,
        tag: &str,
        values: &[f64],
        buckets: usize,
    ) -> Result<()> {
        self.summary(
            step,
            vec![plain(tag, Kind::Histo(histogram(values, buckets)))],
        )
    }

    /// Markdown for the text plugin.
    pub fn text(&mut self, step: i64, tag: &str, markdown: &str) -> Result<()> {
        let tensor = TensorProto {
            dtype: DT_STRING,
            tensor_shape: Some(TensorShapeProto {
                dim: vec![Dim { size: 1 }],
            }),
            string_val: vec![markdown.as_bytes().to_vec()],
        };
        let value = Value {
            tag: tag.into(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: "text".into(),
                    content: vec![],
                }),
            }),
            value: Some(Kind::TensorProto(tensor)),
        };
        self.summary(step, vec![value])
    }

    /// A record of the HParams dashboard (no value: its content is the metadata).
    pub fn hparams(&mut self, step: i64, tag: &str, data: HParams) -> Result<()> {
        let content = HParamsPluginData {
            version: 0,
            data: Some(data),
        };
        let value = Value {
            tag: tag.into(),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: "hparams".into(),
                    content: content.encode_to_vec(),
                }),
            }),
            value: None,
        };
        self.summary(step, vec![value])
    }

    /// Hands what was written to the file, for a TensorBoard reading it live.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

fn plain(tag: &str, kind: Kind) -> Value {
    Value {
        tag: tag.into(),
        metadata: None,
        value: Some(kind),
    }
}

/// Bucket `i` counts the values in (limit[i-1], limit[i]]; the first holds the least value.
pub fn histogram(values: &[f64], buckets: usize) -> HistogramProto {
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let buckets = buckets.max(1);
    let (min, max) = if values.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    };
    let width = (max - min) / buckets as f64;
    let bucket_limit: Vec<f64> = (1..=buckets)
        .map(|i| {
            if i == buckets {
                max
            } else {
                min + width * i as f64
            }
        })
        .collect();
    let mut bucket = vec![0.0; buckets];
    for &v in values {
        let i = bucket_limit.partition_point(|&l| l < v).min(buckets - 1);
        bucket[i] += 1.0;
    }
    HistogramProto {
        min,
        max,
        num: values.len() as f64,
        sum: values.iter().sum(),
        sum_squares: values.iter().map(|v| v * v).sum(),
        bucket_limit,
        bucket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_hand() {
        let h = histogram(&[0.0, 1.0, 2.0, 2.5, 4.0], 4);
        assert_eq!(h.bucket_limit, [1.0, 2.0, 3.0, 4.0]);
        // (.., 1] holds 0 and 1; (1, 2] holds 2; (2, 3] holds 2.5; (3, 4] holds 4.
        assert_eq!(h.bucket, [2.0, 1.0, 1.0, 1.0]);
        assert_eq!((h.min, h.max, h.num, h.sum), (0.0, 4.0, 5.0, 9.5));
        assert_eq!(h.sum_squares, 0.0 + 1.0 + 4.0 + 6.25 + 16.0);
    }

    /// A resumed writer keeps the summaries up to its step, drops the later ones and a torn
    /// tail, and leaves one file.
    #[test]
    fn a_resumed_stream_keeps_each_step_once() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("aelab-tb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = EventWriter::open(&dir, None)?;
        for step in 1..=5 {
            w.scalars(step, &[("loss".into(), step as f64)])?;
        }
        w.flush()?;
        let first = w.path().to_path_buf();
        drop(w);
        // A kill mid-record.
        let mut bytes = std::fs::read(&first)?;
        bytes.extend_from_slice(&frame(b"a record cut short")[..10]);
        std::fs::write(&first, bytes)?;
        let mut w = EventWriter::open(&dir, Some(3))?;
        w.scalars(4, &[("loss".into(), 40.0)])?;
        w.flush()?;
        assert_eq!(event_files(&dir), [w.path().to_path_buf()]);
        assert!(
            w.path() > first.as_path(),
            "the new file sorts after the old"
        );
        let steps: Vec<(i64, f32)> = read_events(&dir)?
            .into_iter()
            .filter_map(|e| match e.what {
                Some(What::Summary(s)) => match s.value[0].value {
                    Some(Kind::SimpleValue(v)) => Some((e.step, v)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(steps, [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
