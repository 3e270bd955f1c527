//! `train.optimizer` as YAML: `kind`, the keys every kind shares (`lr`, `weight_decay`,
//! `grad_clip`) and the kind's own. A key of another kind is refused with serde's unknown-key
//! message, the key's name first (so that the runner finds its line), followed after "; " by
//! the kind and the kinds the key belongs to. Written back (config.yaml) with the chosen kind's keys only, every
//! default filled in.
//!
//! Read by hand rather than as a serde tagged enum: the keys may come in any order (`kind`
//! last), defaults depend on the kind (adamw's weight decay, rmsprop's rate), and serde's
//! `flatten` does not go with `deny_unknown_fields`.

use super::{Kind, OptimizerConfig};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The names of `train.optimizer.kind`.
pub const KINDS: &[&str] = &["adam", "adamw", "sgd", "rmsprop"];

/// Every key of a kind, in the order config.yaml writes them.
pub(super) fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "adam" | "adamw" => &[
            "kind",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "grad_clip",
        ],
        "sgd" => &[
            "kind",
            "lr",
            "momentum",
            "dampening",
            "nesterov",
            "weight_decay",
            "grad_clip",
        ],
        _ => &[
            "kind",
            "lr",
            "alpha",
            "eps",
            "momentum",
            "centered",
            "weight_decay",
            "grad_clip",
        ],
    }
}

/// A value as read, by the type its key has in every kind.
#[derive(Clone, Copy)]
enum Given {
    Number(f64),
    Flag(bool),
    Clip(Option<f64>),
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum KindName {
    Adam,
    Adamw,
    Sgd,
    Rmsprop,
}

impl KindName {
    fn name(&self) -> &'static str {
        match self {
            Self::Adam => "adam",
            Self::Adamw => "adamw",
            Self::Sgd => "sgd",
            Self::Rmsprop => "rmsprop",
        }
    }
}

impl<'de> Deserialize<'de> for OptimizerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = OptimizerConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping of optimizer keys, e.g. { kind: adam, lr: 1.0e-3 }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        // In the file's order; None: a key of no kind.
        let mut given: Vec<(String, Option<Given>)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match key.as_str() {
                "kind" => {
                    kind = Some(map.next_value::<KindName>()?);
                    continue;
                }
                "lr" | "weight_decay" | "beta1" | "beta2" | "eps" | "momentum" | "dampening"
                | "alpha" => Some(Given::Number(map.next_value()?)),
                "nesterov" | "centered" => Some(Given::Flag(map.next_value()?)),
                "grad_clip" => Some(Given::Clip(map.next_value()?)),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    None
                }
            };
            given.push((key, value));
        }
        let kind = kind.map_or("adam", |k| k.name());
        let allowed = keys_of(kind);
        let mut cfg = OptimizerConfig::of_kind(kind).expect("a kind of KINDS");
        for (key, value) in given {
            let Some(value) = value else {
                return Err(de::Error::unknown_field(&key, allowed));
            };
            if !allowed.contains(&key.as_str()) {
                let owners: Vec<&str> = KINDS
                    .iter()
                    .copied()
                    .filter(|k| keys_of(k).contains(&key.as_str()))
                    .collect();
                let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
                return Err(de::Error::custom(format!(
                    "unknown field `{key}`, expected one of {}; for kind `{kind}` (it is a key \
                     of {})",
                    list.join(", "),
                    owners.join(" and ")
                )));
            }
            set(&mut cfg, &key, value);
        }
        Ok(cfg)
    }
}

/// Sets `key`, a key of `cfg`'s kind, to the value read.
fn set(cfg: &mut OptimizerConfig, key: &str, value: Given) {
    match (key, value) {
        ("grad_clip", Given::Clip(c)) => cfg.grad_clip = c,
        (key, Given::Flag(b)) => match (&mut cfg.kind, key) {
            (Kind::Sgd(s), "nesterov") => s.nesterov = b,
            (Kind::RmsProp(r), "centered") => r.centered = b,
            _ => unreachable!("{key} is not a flag of {}", cfg.kind.name()),
        },
        (key, Given::Number(x)) => {
            let slot = match (&mut cfg.kind, key) {
                (_, "lr") => &mut cfg.lr,
                (_, "weight_decay") => &mut cfg.weight_decay,
                (Kind::Adam(a) | Kind::AdamW(a), "beta1") => &mut a.beta1,
                (Kind::Adam(a) | Kind::AdamW(a), "beta2") => &mut a.beta2,
                (Kind::Adam(a) | Kind::AdamW(a), "eps") => &mut a.eps,
                (Kind::Sgd(s), "momentum") => &mut s.momentum,
                (Kind::Sgd(s), "dampening") => &mut s.dampening,
                (Kind::RmsProp(r), "alpha") => &mut r.alpha,
                (Kind::RmsProp(r), "eps") => &mut r.eps,
                (Kind::RmsProp(r), "momentum") => &mut r.momentum,
                (kind, key) => unreachable!("{key} is not a number of {}", kind.name()),
            };
            *slot = x;
        }
        (key, Given::Clip(_)) => unreachable!("{key} read as grad_clip"),
    }
}

impl Serialize for OptimizerConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.kind.name())?;
        m.serialize_entry("lr", &self.lr)?;
        match &self.kind {
            Kind::Adam(a) | Kind::AdamW(a) => {
                m.serialize_entry("beta1", &a.beta1)?;
                m.serialize_entry("beta2", &a.beta2)?;
                m.serialize_entry("eps", &a.eps)?;
            }
            Kind::Sgd(k) => {
                m.serialize_entry("momentum", &k.momentum)?;
                m.serialize_entry("dampening", &k.dampening)?;
                m.serialize_entry("nesterov", &k.nesterov)?;
            }
            Kind::RmsProp(r) => {
                m.serialize_entry("alpha", &r.alpha)?;
                m.serialize_entry("eps", &r.eps)?;
                m.serialize_entry("momentum", &r.momentum)?;
                m.serialize_entry("centered", &r.centered)?;
            }
        }
        m.serialize_entry("weight_decay", &self.weight_decay)?;
        m.serialize_entry("grad_clip", &self.grad_clip)?;
        m.end()
    }
}
