//! A download from a local mirror on loopback, checked against the same md5 sums as the
//! shipped files.
#![cfg(feature = "download")]

use ae_core::data::source::{self, MNIST};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

fn repo_mnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")
}

/// Serves `files` (name -> bytes) over HTTP on loopback for `requests` requests.
fn serve(files: Vec<(String, Vec<u8>)>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            match files.iter().find(|(name, _)| *name == path) {
                Some((_, body)) => {
                    write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    s.write_all(body).unwrap();
                }
                None => write!(
                    s,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap(),
            }
        }
    });
    format!("http://{addr}/mirror/")
}

fn mnist_files() -> Vec<(String, Vec<u8>)> {
    MNIST
        .files
        .iter()
        .map(|f| {
            (
                format!("mirror/{}.gz", f.name),
                std::fs::read(repo_mnist().join(format!("{}.gz", f.name))).unwrap(),
            )
        })
        .collect()
}

#[test]
fn downloads_from_a_mirror_and_checks_md5() {
    let mirror = serve(mnist_files(), 4);
    let dir = tempfile::tempdir().unwrap();
    source::download(&MNIST, &mirror, dir.path()).unwrap();
    let [_, _, _, (_, labels)] = source::read_all(&MNIST, dir.path()).unwrap();
    assert_eq!(labels.len(), 8 + 10000);
}

#[test]
fn a_corrupt_download_is_refused_and_not_kept() {
    let mut files = mnist_files();
    files[0].1.truncate(1000);
    let mirror = serve(files, 1);
    let dir = tempfile::tempdir().unwrap();
    let err = source::download(&MNIST, &mirror, dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("f68b3c2dcbeaaa9fbdd348bbdeb94873"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
