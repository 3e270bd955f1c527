//! TensorBoard's event files, written without TensorFlow: the record framing
//! ([`record`]), the protobuf messages ([`proto`]), a writer of one stream ([`writer`]) and
//! the HParams dashboard's records ([`hparams`]). Nothing here knows a tensor or a model.

pub mod hparams;
pub mod proto;
pub mod record;
pub mod writer;
