//! Finds the line of each key of a YAML file, so that a config error can say where it is
//! (a parsed value keeps no positions): the events of the YAML library's own parser.

use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::HashMap;

enum Frame {
    /// Inside a mapping: the key whose value is being read, if any.
    Map(Option<String>),
    /// Inside a sequence: the index of the current item.
    Seq(usize),
}

/// Dotted key paths (`model.kl_weight`, `model.hidden[1]`) to 1-based line numbers.
pub fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    let path = |stack: &[Frame]| {
        let mut p = String::new();
        for f in stack {
            match f {
                Frame::Map(Some(k)) if p.is_empty() => p.push_str(k),
                Frame::Map(Some(k)) => {
                    p.push('.');
                    p.push_str(k);
                }
                Frame::Seq(i) => p.push_str(&format!("[{i}]")),
                Frame::Map(None) => {}
            }
        }
        p
    };
    let value_done = |stack: &mut Vec<Frame>| match stack.last_mut() {
        Some(Frame::Map(k)) => *k = None,
        Some(Frame::Seq(i)) => *i += 1,
        None => {}
    };
    while let Some(Ok((event, span))) = parser.next_event() {
        let line = span.start.line();
        match event {
            Event::StreamEnd => break,
            Event::MappingStart(..) => stack.push(Frame::Map(None)),
            Event::SequenceStart(..) => stack.push(Frame::Seq(0)),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                value_done(&mut stack);
            }
            Event::Scalar(v, ..) => match stack.last_mut() {
                Some(Frame::Map(k @ None)) => {
                    *k = Some(v.into_owned());
                    lines.entry(path(&stack)).or_insert(line);
                }
                _ => {
                    lines.entry(path(&stack)).or_insert(line);
                    value_done(&mut stack);
                }
            },
            Event::Alias(_) => value_done(&mut stack),
            _ => {}
        }
    }
    lines
}

/// The line of `key`, or of its nearest enclosing key that is in the file.
pub fn line_of(lines: &HashMap<String, usize>, key: &str) -> Option<usize> {
    let mut k = key;
    loop {
        if let Some(&l) = lines.get(k) {
            return Some(l);
        }
        k = &k[..k.rfind(['.', '['])?];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_list_items() {
        let text = "name: x\nmodel:\n  variant: vae\n  hidden: [256, 64]\n  kl_weight: 1.0\ntrain:\n  optimizer: { kind: adam, lr: 0.1 }\n  epochs: 3\n";
        let l = key_lines(text);
        assert_eq!(l["name"], 1);
        assert_eq!(l["model"], 2);
        assert_eq!(l["model.variant"], 3);
        assert_eq!(l["model.hidden[1]"], 4);
        assert_eq!(l["model.kl_weight"], 5);
        assert_eq!(l["train.optimizer.lr"], 7);
        assert_eq!(l["train.epochs"], 8);
        assert_eq!(line_of(&l, "model.warmup_epochs"), Some(2));
        assert_eq!(line_of(&l, "data.root"), None);
    }
}
