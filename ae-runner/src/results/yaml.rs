//! The one way YAML is read and written: experiment files, `--set` values and config.yaml.
//! Values are serde_json's tree in the file's key order (run folders are named in that order).

use serde::Serialize;
pub use serde_json::{Map, Value};
use serde_saphyr::{DuplicateKeyPolicy, Options};

/// YAML 1.2's core schema, as the files were read before: `yes`, `on` and `0755` stay
/// strings, a repeated key is an error, and a non-finite number is refused rather than becoming
/// `null` in the tree.
fn options() -> Options {
    let mut o = Options::default();
    o.strict_booleans = true;
    o.leading_zero_numbers_as_strings = true;
    o.underscored_numbers_as_strings = true;
    o.duplicate_keys = DuplicateKeyPolicy::Error;
    o.with_snippet = false;
    o
}

/// A YAML syntax or shape error: its message and where (1-based line and column), if known.
#[derive(Debug)]
pub struct YamlError {
    pub message: String,
    pub at: Option<(u64, u64)>,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses one YAML document (an empty text is `null`).
pub fn parse(text: &str) -> Result<Value, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| YamlError {
        message: e.to_string(),
        at: e.location().map(|l| (l.line(), l.column())),
    })
}

/// Writes a value as a YAML document.
pub fn write<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).expect("a tree of YAML values serialises")
}

/// A value on one line as YAML's flow style writes it: `[256, 64]`, `{kind: adam, lr: 0.001}`.
pub fn inline(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", inline(&Value::String(k.clone())), inline(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        // `1e-7` and `0.001`, as serde_yaml wrote them (the YAML writer says `1.0e-7`).
        Value::Number(n) => n.to_string(),
        // Other scalars as the writer writes them: strings are quoted where YAML needs it.
        scalar => write(scalar).trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_scalars_keep_their_types() {
        let v =
            parse("a: yes\nb: 0755\nc: 1_000\nd: true\ne: 1.0e-3\nf: 3\ng: ~\nh: '2'\n").unwrap();
        assert_eq!(v["a"], Value::from("yes"));
        assert_eq!(v["b"], Value::from("0755"));
        assert_eq!(v["c"], Value::from("1_000"));
        assert_eq!(v["d"], Value::from(true));
        assert_eq!(v["e"], Value::from(0.001));
        assert_eq!(v["f"], Value::from(3u64));
        assert_eq!(v["g"], Value::Null);
        assert_eq!(v["h"], Value::from("2"));
    }

    #[test]
    fn keys_keep_the_file_order() {
        let v = parse("z: 1\na: 2\nm: 3\n").unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn bad_text_says_where() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.at.map(|(l, _)| l), Some(2), "{e}");
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.at.is_some(), "{e}");
        assert!(parse("a: .inf\n").is_err());
    }

    #[test]
    fn written_text_reads_back_equal() {
        let v = parse("name: x\nmodel: {hidden: [256, 64], kl_weight: 1.0, lr: 1.0e-7}\nroot: 'a: b'\nn: null\nt: 'yes'\n").unwrap();
        assert_eq!(parse(&write(&v)).unwrap(), v, "{}", write(&v));
    }
}
