//! A build without the `download` feature: a missing dataset is an error that says where it
//! looked and how to get the files. Its own test binary, because it sets environment variables.
#![cfg(not(feature = "download"))]

use ae_core::data::source::{self, Source, MNIST};

#[test]
fn missing_files_name_the_file_the_folders_and_the_remedies() {
    let empty = tempfile::tempdir().unwrap();
    // The repository's data/ holds MNIST itself: a dataset of another name is missing
    // everywhere but in an empty AE_DATA_DIR, which is searched first.
    std::env::set_var("AE_DATA_DIR", empty.path());
    std::env::set_var("XDG_CACHE_HOME", empty.path().join("cache"));
    let src = Source {
        name: "not-shipped",
        ..MNIST
    };
    let err = source::locate(&src, None, None).unwrap_err().to_string();
    let folder = empty.path().join("not-shipped");
    for want in [
        "train-images-idx3-ubyte",
        &format!("not found in {}", folder.display()),
        &format!("{}", empty.path().join("cache/aelab/not-shipped").display()),
        "Put the four files in one of these folders",
        "the `download` feature",
        MNIST.default_mirror.unwrap(),
    ] {
        assert!(err.contains(want), "no {want:?} in: {err}");
    }
}
