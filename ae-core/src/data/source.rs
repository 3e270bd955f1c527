//! Where a dataset's four files come from: a folder the user names, `AE_DATA_DIR`, the
//! repository's `data/<dataset>`, Debian's dataset package, or (with the `download` feature) a
//! download into a cache folder; every file is checked against its md5 before it is used.

use super::idx;
use crate::UserError;
use anyhow::{Context, Result};
use md5::{Digest, Md5};
use std::io::Read;
use std::path::{Path, PathBuf};
#[cfg(feature = "download")]
use std::time::Duration;

/// One of the four files: its base name and the md5s of its official .gz form and of its
/// unpacked bytes (None: not checked). A .gz is accepted if either matches.
#[derive(Debug, Clone, Copy)]
pub struct FileSpec {
    pub name: &'static str,
    pub gz_md5: Option<&'static str>,
    /// The md5 of the unpacked file (None: not checked).
    pub raw_md5: Option<&'static str>,
}

/// A dataset in the MNIST layout.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub default_mirror: Option<&'static str>,
    /// A folder a system package installs the files in.
    pub system_dir: Option<&'static str>,
    pub files: [FileSpec; 4],
    /// The labels are 0 to classes - 1 (None: the user's files say).
    pub classes: Option<u8>,
}

const fn spec(
    name: &'static str,
    gz_md5: Option<&'static str>,
    raw_md5: Option<&'static str>,
) -> FileSpec {
    FileSpec {
        name,
        gz_md5,
        raw_md5,
    }
}

pub const MNIST: Source = Source {
    name: "mnist",
    default_mirror: Some("https://ossci-datasets.s3.amazonaws.com/mnist/"),
    system_dir: None,
    classes: Some(10),
    files: [
        spec(
            "train-images-idx3-ubyte",
            Some("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            Some("6bbc9ace898e44ae57da46a324031adb"),
        ),
        spec(
            "train-labels-idx1-ubyte",
            Some("d53e105ee54ea40749a09fcbcd1e9432"),
            Some("a25bea736e30d166cdddb491f175f624"),
        ),
        spec(
            "t10k-images-idx3-ubyte",
            Some("9fb629c4189551a2d022fa330f9573f3"),
            Some("2646ac647ad5339dbf082846283269ea"),
        ),
        spec(
            "t10k-labels-idx1-ubyte",
            Some("ec29112dd5afa0611ce80d1b7f02629c"),
            Some("27ae3e4e09519cfbb04c329615203637"),
        ),
    ],
};

pub const FASHION_MNIST: Source = Source {
    name: "fashion-mnist",
    default_mirror: Some("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    system_dir: Some("/usr/share/datasets/fashion-mnist"),
    classes: Some(10),
    files: [
        spec(
            "train-images-idx3-ubyte",
            Some("8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            Some("f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        ),
        spec(
            "train-labels-idx1-ubyte",
            Some("25c81989df183df01b3e8a0aad5dffbe"),
            Some("9018921c3c673c538a1fc5bad174d6f9"),
        ),
        spec(
            "t10k-images-idx3-ubyte",
            Some("bef4ecab320f06d8554ea6380940ec79"),
            Some("8181f5470baa50b63fa0f6fddb340f0a"),
        ),
        spec(
            "t10k-labels-idx1-ubyte",
            Some("bb300cfdad3c16e7a12a480ee83cd310"),
            Some("15d484375f8d13e6eb1aabb0c3f46965"),
        ),
    ],
};

/// A user's own IDX files: same names, no checksums.
pub const IDX: Source = Source {
    name: "idx",
    default_mirror: None,
    system_dir: None,
    classes: None,
    files: [
        spec("train-images-idx3-ubyte", None, None),
        spec("train-labels-idx1-ubyte", None, None),
        spec("t10k-images-idx3-ubyte", None, None),
        spec("t10k-labels-idx1-ubyte", None, None),
    ],
};

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The folders searched, in order, when `root` is not given.
pub fn search_dirs(src: &Source) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("AE_DATA_DIR") {
        let d = PathBuf::from(d);
        dirs.push(d.join(src.name));
        dirs.push(d);
    }
    dirs.push(PathBuf::from("data").join(src.name));
    // The repository this binary was built from, for `cargo install`ed binaries.
    dirs.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data")
            .join(src.name),
    );
    if let Some(d) = src.system_dir {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(cache_dir(src));
    dirs
}

/// `$XDG_CACHE_HOME/aelab/<dataset>` or `~/.cache/aelab/<dataset>`: where downloads go.
pub fn cache_dir(src: &Source) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("aelab").join(src.name)
}

/// Reads one file, gzipped or not, verifying its checksum; returns the unpacked bytes.
pub fn read_checked(path: &Path, file: &FileSpec) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let corrupt = |got: &str, want: &str| {
        UserError(format!(
            "{} is corrupt or truncated: md5 {got}, expected {want} (delete it, or copy it again)",
            path.display()
        ))
    };
    if path.extension().is_none_or(|e| e != "gz") {
        if let Some(want) = file.raw_md5 {
            let got = md5_hex(&bytes);
            if got != want {
                return Err(corrupt(&got, want).into());
            }
        }
        return Ok(bytes);
    }
    // The official .gz, or another packing of the same bytes (Debian recompresses them);
    // anything else is named with the official sum.
    let gz_got = md5_hex(&bytes);
    let mut out = Vec::new();
    let unpacked = flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .is_ok();
    match (file.gz_md5, file.raw_md5) {
        (Some(gz), _) if unpacked && gz == gz_got => Ok(out),
        (_, Some(raw)) if unpacked && raw == md5_hex(&out) => Ok(out),
        (None, None) if unpacked => Ok(out),
        (Some(gz), _) => Err(corrupt(&gz_got, gz).into()),
        (None, Some(raw)) if unpacked => Err(corrupt(&md5_hex(&out), raw).into()),
        _ => Err(UserError(format!("{} is not a valid gzip file", path.display())).into()),
    }
}

/// Finds `file` (as `.gz` or unpacked) in a folder.
fn find_in(dir: &Path, file: &FileSpec) -> Option<PathBuf> {
    [format!("{}.gz", file.name), file.name.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// The folder on this machine that holds all four files: `root` (an error if it lacks one),
/// else the first complete folder of the search path; None if there is none (yet).
pub fn find_local(src: &Source, root: Option<&Path>) -> Result<Option<PathBuf>> {
    let complete = |d: &Path| src.files.iter().all(|f| find_in(d, f).is_some());
    let Some(root) = root else {
        return Ok(search_dirs(src).into_iter().find(|d| complete(d)));
    };
    if complete(root) {
        return Ok(Some(root.to_path_buf()));
    }
    let missing: Vec<_> = src
        .files
        .iter()
        .filter(|f| find_in(root, f).is_none())
        .map(|f| f.name)
        .collect();
    Err(UserError(format!(
        "data.root {} lacks {} (as .gz or unpacked)",
        root.display(),
        missing.join(", ")
    ))
    .into())
}

/// Resolves the folder that holds all four files. With `root`, only there; otherwise the search
/// path, and at last a download from `mirror` (or the dataset's default) into the cache folder.
pub fn locate(src: &Source, root: Option<&Path>, mirror: Option<&str>) -> Result<PathBuf> {
    if let Some(d) = find_local(src, root)? {
        return Ok(d);
    }
    let Some(mirror) = mirror.or(src.default_mirror) else {
        return Err(UserError(format!(
            "dataset `{}` needs data.root: a folder with the four IDX files",
            src.name
        ))
        .into());
    };
    #[cfg(feature = "download")]
    {
        let dir = cache_dir(src);
        download(src, mirror, &dir)?;
        Ok(dir)
    }
    #[cfg(not(feature = "download"))]
    Err(not_found(src, mirror).into())
}

/// What a build without downloads says when no folder holds the files: which are missing from
/// the folder closest to complete, every folder searched, and the two ways to get them.
#[cfg(not(feature = "download"))]
fn not_found(src: &Source, mirror: &str) -> UserError {
    let dirs = search_dirs(src);
    let missing_in = |d: &Path| -> Vec<&str> {
        src.files
            .iter()
            .filter(|f| find_in(d, f).is_none())
            .map(|f| f.name)
            .collect()
    };
    let (best, missing) = dirs
        .iter()
        .map(|d| (d, missing_in(d)))
        .min_by_key(|(_, missing)| missing.len())
        .expect("the search path is never empty");
    let all: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    UserError(format!(
        "dataset `{}`: {} (.gz or unpacked) not found in {}; looked in {}. Put the four files in \
         one of these folders (or set data.root or AE_DATA_DIR to a folder that has them), or \
         build with the `download` feature to fetch them from {mirror} into {}",
        src.name,
        missing.join(", "),
        best.display(),
        all.join(", "),
        cache_dir(src).display(),
    ))
}

/// The longest a mirror may take to accept the connection, and then to send the next bytes:
/// without them a stalled mirror hangs the run forever.
#[cfg(feature = "download")]
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
#[cfg(feature = "download")]
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads the missing `.gz` files into `dir`, each checked before it is renamed into place.
#[cfg(feature = "download")]
pub fn download(src: &Source, mirror: &str, dir: &Path) -> Result<()> {
    download_within(src, mirror, dir, READ_TIMEOUT)
}

/// [`download`], failing when the mirror sends nothing for `read_timeout`.
#[cfg(feature = "download")]
fn download_within(src: &Source, mirror: &str, dir: &Path, read_timeout: Duration) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(read_timeout)
        .build();
    for file in &src.files {
        if find_in(dir, file).is_some() {
            continue;
        }
        let url = format!("{}/{}.gz", mirror.trim_end_matches('/'), file.name);
        tracing::info!("downloading {url}");
        // ureq's errors name the address; an error while reading the body does not.
        let failed = |what: &str, e: &(dyn std::error::Error + 'static)| {
            let timed_out = std::iter::successors(Some(e), |e| e.source()).any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
            });
            let why = if timed_out {
                format!(
                    ": the mirror stalled (no connection within {CONNECT_TIMEOUT:?} or no data \
                     for {read_timeout:?}); try again later or set data.mirror to another mirror"
                )
            } else {
                String::new()
            };
            UserError(format!(
                "{what}{e}{why} (or set data.root or AE_DATA_DIR to a folder with the files)"
            ))
        };
        let mut body = Vec::new();
        agent
            .get(&url)
            .call()
            .map_err(|e| failed("downloading ", &e))?
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| failed(&format!("reading {url}: "), &e))?;
        if let Some(want) = file.gz_md5 {
            let got = md5_hex(&body);
            if got != want {
                return Err(UserError(format!("{url}: md5 {got}, expected {want}")).into());
            }
        }
        let dest = dir.join(format!("{}.gz", file.name));
        let tmp = dest.with_extension("gz.part");
        std::fs::write(&tmp, &body).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &dest)?;
    }
    Ok(())
}

/// One of a dataset's files in `dir`, as .gz or unpacked.
fn path_of(dir: &Path, f: &FileSpec) -> Result<PathBuf> {
    Ok(find_in(dir, f)
        .ok_or_else(|| UserError(format!("{} not found in {}", f.name, dir.display())))?)
}

/// Reads a dataset's four files from `dir`: (path, unpacked bytes) each.
pub fn read_all(src: &Source, dir: &Path) -> Result<[(PathBuf, Vec<u8>); 4]> {
    let read = |f: &FileSpec| -> Result<(PathBuf, Vec<u8>)> {
        let path = path_of(dir, f)?;
        let bytes = read_checked(&path, f)?;
        Ok((path, bytes))
    };
    Ok([
        read(&src.files[0])?,
        read(&src.files[1])?,
        read(&src.files[2])?,
        read(&src.files[3])?,
    ])
}

/// The IDX header of one of a dataset's files in `dir`, from its first bytes only (unpacked
/// if it is a .gz), without its checksum: what `--check` can tell quickly.
pub fn read_header(dir: &Path, f: &FileSpec) -> Result<(PathBuf, idx::Header)> {
    let path = path_of(dir, f)?;
    let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let reader: Box<dyn Read> = match path.extension().is_some_and(|e| e == "gz") {
        true => Box::new(flate2::read::GzDecoder::new(file)),
        false => Box::new(file),
    };
    let mut start = Vec::new();
    reader
        .take(idx::MAX_HEADER as u64)
        .read_to_end(&mut start)
        .map_err(|e| UserError(format!("{}: cannot be read: {e}", path.display())))?;
    let header = idx::header(&start).map_err(|e| UserError(format!("{}: {e}", path.display())))?;
    Ok((path, header))
}

#[cfg(all(test, feature = "download"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Instant;

    /// A mirror that stops sending, before its headers or in the middle of the body, is an
    /// error naming the stall, not a hang.
    #[test]
    fn a_stalled_mirror_is_an_error() {
        for sent in [
            "",
            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npart of it",
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let _ = s.read(&mut [0u8; 2048]);
                s.write_all(sent.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_secs(5));
            });
            let dir = tempfile::tempdir().unwrap();
            let start = Instant::now();
            let mirror = format!("http://{addr}/");
            let err = download_within(&MNIST, &mirror, dir.path(), Duration::from_millis(200))
                .unwrap_err()
                .to_string();
            assert!(err.contains("the mirror stalled"), "{err}");
            assert!(start.elapsed() < Duration::from_secs(3), "{err}");
        }
    }
}
