//! Bad inputs beyond the config file: broken data files, a device that is not there, an
//! output folder that cannot be written, a full disk, a checkpoint of another model, and two
//! processes on one run folder. Each gets a clear message and no panic; nothing finished is lost.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// IDX bytes: magic (u8 elements), dims, data.
fn idx(dims: &[u32], data: &[u8], magic_type: u8) -> Vec<u8> {
    let mut v = vec![0, 0, magic_type, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// A folder of IDX files: `n` 4x4 training images with `m` labels, 5 test images.
fn idx_folder(dir: &Path, n: u32, m: u32, magic_type: u8, truncate: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut images = idx(&[n, 4, 4], &vec![128u8; (n * 16) as usize], magic_type);
    images.truncate(images.len() - truncate);
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        idx(&[m], &vec![1u8; m as usize], 8),
    )
    .unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx(&[5, 4, 4], &[7u8; 80], 8),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[5], &[1u8; 5], 8)).unwrap();
}

fn run_idx(tmp: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    let out = tmp.join("results").join(data.file_name().unwrap());
    let root = format!("data.root={}", data.display());
    let mut args = vec![
        "experiments/vae.yaml",
        "--set",
        "data.dataset=idx",
        "--set",
        &root,
        "--set",
        "data.val_size=2",
        "--set",
        "train.epochs=1",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ae_runner(&args)
}

#[test]
fn broken_idx_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    /// (folder, images, labels, element type byte, bytes cut from the images, flags, expected
    /// words)
    type Case = (
        &'static str,
        u32,
        u32,
        u8,
        usize,
        &'static [&'static str],
        &'static [&'static str],
    );
    let cases: [Case; 8] = [
        ("ok", 20, 20, 8, 0, &[], &[]),
        (
            "magic",
            20,
            20,
            0x0d,
            0,
            &[],
            &[
                "training set",
                "magic/train-images-idx3-ubyte: wrong magic number 0x00000d03",
                "0x0d",
            ],
        ),
        // The header tells it: --check says so.
        (
            "magic-check",
            20,
            20,
            0x0d,
            0,
            &["--check"],
            &["magic-check/train-images-idx3-ubyte: wrong magic number 0x00000d03"],
        ),
        (
            "count",
            20,
            20,
            8,
            7,
            &[],
            &[
                "training set: ",
                "count/train-images-idx3-ubyte: 313 bytes of data",
                "say 320",
            ],
        ),
        (
            "labels",
            20,
            19,
            8,
            0,
            &[],
            &[
                "20 images but labels of shape [19]",
                "labels/train-labels-idx1-ubyte",
            ],
        ),
        (
            "labels-check",
            20,
            19,
            8,
            0,
            &["--check"],
            &[
                "20 images but labels of shape [19]",
                "labels-check/train-labels-idx1-ubyte",
            ],
        ),
        (
            "classes",
            20,
            20,
            8,
            0,
            &["--set", "data.classes=[1, 3]"],
            &[
                "data.classes: no training image in",
                "has label 3 (its labels: [1])",
            ],
        ),
        (
            "val_size",
            20,
            20,
            8,
            0,
            &["--set", "data.val_size=20", "--check"],
            &["data.val_size 20 leaves no training images: the training set has 20"],
        ),
    ];
    for (name, n, m, magic, truncate, flags, expect) in cases {
        let data = tmp.path().join(name);
        idx_folder(&data, n, m, magic, truncate);
        let o = run_idx(tmp.path(), &data, flags);
        if expect.is_empty() {
            // A user's own 4x4 images train like MNIST.
            assert!(o.status.success(), "{name}: {}", stderr(&o));
            continue;
        }
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        for e in expect {
            assert!(
                stderr(&o).contains(e),
                "{name}: {e:?} not in {}",
                stderr(&o)
            );
        }
        assert!(!stderr(&o).contains("panicked"));
    }
}

/// A magic number that gives rank 4 to images of rank 3 reads their first pixels as a size: it
/// is reported as the wrong magic number it is, not as a size mismatch.
#[test]
fn a_wrong_rank_in_the_magic_number_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("rank");
    idx_folder(&data, 20, 20, 8, 0);
    let images = data.join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&images).unwrap();
    bytes[3] = 4;
    std::fs::write(&images, bytes).unwrap();
    let o = run_idx(tmp.path(), &data, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "rank/train-images-idx3-ubyte: wrong magic number 0x00000804: it gives rank 4"
        ) && err.contains("laid out as 0x00000803 (sizes [20, 4, 4])"),
        "{err}"
    );
}

#[test]
fn cuda_without_cuda_is_a_clear_error() {
    let o = ae_runner(&[
        "experiments/vae.yaml",
        "--device",
        "cuda",
        "--out",
        "/nonexistent-never-written",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("device `cuda`: cuda:0 cannot be used: ")
            && err.contains("without the `cuda` feature")
            && err.contains("allowed here: auto, cpu")
            && !err.contains("panicked"),
        "{err}"
    );
    let o = ae_runner(&[
        "experiments/vae.yaml",
        "--set",
        "train.device=cuda:1",
        "--out",
        "/nonexistent-never-written",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("device `cuda:1`: cuda:1 cannot be used"));
}

/// `device: auto` (the default) on a machine or build without CUDA trains on the CPU and says
/// why in its log.
#[test]
fn auto_says_which_device_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let mut args = vec!["experiments/ae.yaml", "--out", out.to_str().unwrap()];
    for set in [
        "train.epochs=1",
        "data.train_limit=256",
        "data.test_limit=100",
        "eval.probe=false",
        "eval.knn_k=0",
        "eval.pictures=false",
    ] {
        args.extend(["--set", set]);
    }
    args.extend(["--device", "auto"]);
    let o = command(&args).env("RUST_LOG", "info").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "device auto: cpu (cuda:0 cannot be used: this binary was built without the `cuda` feature"
        ),
        "{}",
        stderr(&o)
    );
    let config = std::fs::read_to_string(out.join("ae/seed=0/config.yaml")).unwrap();
    assert!(config.contains("device: cpu"), "{config}");
}

#[test]
fn an_output_folder_that_cannot_be_written_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = file.join("results");
    let mut args = vec!["experiments/vae.yaml", "--out", out.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    let o = ae_runner(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a-file/results"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn a_full_disk_stops_the_run_with_a_message_and_keeps_the_finished_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    // 600 KiB: room for the config and metrics, not for the VAE's 1.1 MB checkpoint.
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=600k",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let mut args = vec!["experiments/vae.yaml", "--out", mnt.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    let o = ae_runner(&args);
    let metrics = std::fs::read_to_string(mnt.join("vae/seed=0/metrics.csv"));
    let status = std::fs::read_to_string(mnt.join("vae/seed=0/run.json"));
    Command::new("umount").arg(&mnt).status().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("No space left on device") && err.contains("checkpoint.safetensors"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let metrics = metrics.unwrap();
    assert!(
        metrics.lines().nth(1).is_some_and(|l| l.starts_with("1,")),
        "epoch 1 kept: {metrics}"
    );
    assert!(status.unwrap().contains("\"failed\""));
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let outs = out.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["experiments/vae.yaml", "--out", outs];
        args.extend_from_slice(SMALL);
        args.extend_from_slice(extra);
        ae_runner(&args)
    };
    // Two finished runs of different widths; give the first the second's checkpoint, and
    // mark it unfinished so that the next command resumes it.
    assert!(run(&[]).status.success());
    let other = tmp.path().join("other");
    let mut args = vec![
        "experiments/vae.yaml",
        "--out",
        other.to_str().unwrap(),
        "--set",
        "model.hidden=[32]",
    ];
    args.extend_from_slice(SMALL);
    assert!(ae_runner(&args).status.success());
    let dir = out.join("vae/seed=0");
    std::fs::copy(
        other.join("vae/seed=0/checkpoint.safetensors"),
        dir.join("checkpoint.safetensors"),
    )
    .unwrap();
    let status = std::fs::read_to_string(dir.join("run.json"))
        .unwrap()
        .replace("\"finished\"", "\"running\"");
    std::fs::write(dir.join("run.json"), status).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("checkpoint.safetensors")
            && err.contains("another architecture")
            && err.contains("--fresh"),
        "{err}"
    );
    assert!(run(&["--fresh"]).status.success());
}

#[test]
fn two_processes_on_one_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let args = [
        "experiments/vae.yaml",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "train.epochs=50",
        "--set",
        "data.train_limit=2000",
        "--device",
        "cpu",
    ];
    let mut first = spawn(&args, false);
    let lock = out.join("vae/seed=0.lock");
    let t0 = std::time::Instant::now();
    let written = || std::fs::read_to_string(&lock).is_ok_and(|s| !s.is_empty());
    while !written() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let second = ae_runner(&args);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!(" pid {})", first.id())),
        "{}",
        stderr(&second)
    );
    // The first process died without removing its lock file; the OS released its lock.
    assert!(lock.exists());
    let mut small = vec![
        "experiments/vae.yaml",
        "--out",
        out.to_str().unwrap(),
        "--fresh",
    ];
    small.extend_from_slice(SMALL);
    let third = ae_runner(&small);
    assert!(third.status.success(), "{}", stderr(&third));
}

/// A checkpoint cut short (a copy that stopped half-way, a full disk elsewhere) is not resumed
/// silently from scratch: the warning names the file, why it cannot be read and where the old
/// folder went, and --dry-run says the same beforehand.
#[test]
fn a_truncated_checkpoint_is_said_loudly_and_its_folder_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let run = |extra: &[&str]| run_small("experiments/vae.yaml", &out, extra);
    let one_epoch = ["--set", "train.epochs=1"];
    assert!(run(&one_epoch).status.success());
    let dir = out.join("vae/seed=0");
    let ckpt = dir.join("checkpoint.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &bytes[..bytes.len() / 2]).unwrap();
    let status = std::fs::read_to_string(dir.join("run.json"))
        .unwrap()
        .replace("\"finished\"", "\"interrupted\"");
    std::fs::write(dir.join("run.json"), status).unwrap();
    let dry = run(&[&one_epoch[..], &["--dry-run"]].concat());
    assert!(
        stdout(&dry).contains("checkpoint.safetensors cannot be read: truncated"),
        "{}",
        stdout(&dry)
    );
    let o = run(&one_epoch);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("WARN")
            && err.contains("vae/seed=0/checkpoint.safetensors cannot be read (truncated: its")
            && err.contains("starts again from epoch 0")
            && err.contains("kept as ")
            && err.contains("vae/seed=0.old-1"),
        "{err}"
    );
    let kept = std::fs::read(out.join("vae/seed=0.old-1/checkpoint.safetensors")).unwrap();
    assert_eq!(kept.len(), bytes.len() / 2);
}
