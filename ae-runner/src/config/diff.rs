//! The difference between two resolved configs, by dotted key, one line per changed leaf:
//! `model.hidden: [256, 64] -> [256, 32]`. Lists are compared whole (a list of widths is one
//! setting), mappings key by key; a key on one side only shows `(absent)` on the other.

use crate::results::yaml::{inline, Value};

/// The changed leaves of `old` -> `new`, in `old`'s key order, then the keys only `new` has.
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &mut out);
    out
}

fn walk(key: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
    match (old, new) {
        (Some(Value::Object(o)), Some(Value::Object(n))) => {
            let keys = o.keys().chain(n.keys().filter(|k| !o.contains_key(*k)));
            for k in keys {
                let name = match key {
                    "" => k.clone(),
                    _ => format!("{key}.{k}"),
                };
                walk(&name, o.get(k), n.get(k), out);
            }
        }
        (o, n) if o != n => {
            let show = |v: Option<&Value>| v.map_or("(absent)".into(), inline);
            let key = if key.is_empty() { "(the config)" } else { key };
            out.push(format!("{key}: {} -> {}", show(o), show(n)));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        crate::results::yaml::parse(s).unwrap()
    }

    #[test]
    fn a_changed_list_is_one_line_by_its_dotted_key() {
        let old = yaml("model: {variant: plain, hidden: [256, 64]}\ntrain: {epochs: 1}\n");
        let new = yaml("model: {variant: plain, hidden: [256, 32]}\ntrain: {epochs: 1}\n");
        assert_eq!(diff(&old, &new), ["model.hidden: [256, 64] -> [256, 32]"]);
    }

    #[test]
    fn each_changed_leaf_once_in_order_with_absent_keys_named() {
        let old =
            yaml("train: {epochs: 10, seed: 0, optimizer: {kind: adam, lr: 0.001}}\nname: a\n");
        let new = yaml("train: {epochs: 12, seed: 0, optimizer: {kind: adam, lr: 0.01}, threads: 2}\nname: a\n");
        assert_eq!(
            diff(&old, &new),
            [
                "train.epochs: 10 -> 12",
                "train.optimizer.lr: 0.001 -> 0.01",
                "train.threads: (absent) -> 2",
            ]
        );
        assert_eq!(
            diff(&new, &old),
            [
                "train.epochs: 12 -> 10",
                "train.optimizer.lr: 0.01 -> 0.001",
                "train.threads: 2 -> (absent)",
            ]
        );
    }

    #[test]
    fn equal_configs_have_no_difference() {
        let v = yaml("model: {hidden: [256, 64], variant: vae}\neval: {probe: true}\n");
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn values_of_other_shapes_are_shown_inline() {
        let old =
            yaml("data: {classes: [1, 2], root: null}\nmodel: {prior: {kind: mixture, k: 10}}\n");
        let new = yaml("data: {classes: null, root: 'a: b'}\nmodel: {prior: gaussian}\n");
        assert_eq!(
            diff(&old, &new),
            [
                "data.classes: [1, 2] -> null",
                "data.root: null -> \"a: b\"",
                "model.prior: {kind: mixture, k: 10} -> gaussian",
            ]
        );
    }
}
