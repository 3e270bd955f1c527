//! `sweep:` (a grid of dotted keys -> lists of values) times `cases:` (a list of override
//! maps) -> the runs of an experiment, each validated before anything runs.

use crate::config::document::{set_dotted, Document, Override, RunOrigin};
use crate::config::schema::{parse_experiment, Experiment};
use crate::results::naming::run_name;
use crate::results::yaml::{Map, Value};
use ae_core::{ConfigError, UserError};
use std::collections::HashMap;
use std::hash::Hash;

/// One run of an experiment: its folder name, the values that make it this run, its config.
pub struct PlannedRun {
    pub name: String,
    /// (dotted key, value) of the swept keys and the case's overrides, in order.
    pub values: Vec<(String, Value)>,
    pub exp: Experiment,
}

/// Every run of an experiment file.
pub struct Plan {
    pub name: String,
    pub runs: Vec<PlannedRun>,
    /// The keys that vary between runs (grid keys, then case keys), in order.
    pub keys: Vec<String>,
}

/// More runs than anyone means to start from one file.
pub const MAX_RUNS: usize = 100_000;

/// The grid's combinations, first key slowest: (key, value, where written).
fn grid(sweep: &Map<String, Value>) -> Result<Vec<Vec<Override>>, ConfigError> {
    let mut combos: Vec<Vec<Override>> = vec![vec![]];
    for (key, values) in sweep {
        let at = format!("sweep.{key}");
        let Value::Array(values) = values else {
            return Err(ConfigError::new(
                at,
                "must be a list of values, e.g. [0.5, 1, 2]",
            ));
        };
        if values.is_empty() {
            return Err(ConfigError::new(
                at,
                "is an empty list: a sweep needs at least one value",
            ));
        }
        let total = combos.len().saturating_mul(values.len());
        if total > MAX_RUNS {
            return Err(ConfigError::new(
                at,
                format!("makes the sweep {total} runs or more; at most {MAX_RUNS}"),
            ));
        }
        let mut next = Vec::with_capacity(total);
        for c in &combos {
            for v in values {
                let mut c = c.clone();
                c.push((key.clone(), at.clone(), v.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    Ok(combos)
}

/// One process runs every run with the thread count of its first.
const THREADS: &str = "train.threads";

/// The first run that repeats an earlier one (the same folder name or the same config), as
/// (earlier, later) indices from 0. One pass over hash maps from each name and each config to
/// the run that has it: checking every pair would be 5 billion comparisons for 100,000 runs.
pub fn first_repeat<N: Hash + Eq, C: Hash + Eq>(
    runs: impl IntoIterator<Item = (N, C)>,
) -> Option<(usize, usize)> {
    let (mut names, mut configs) = (HashMap::new(), HashMap::new());
    for (j, (name, config)) in runs.into_iter().enumerate() {
        let earlier = [names.get(&name), configs.get(&config)];
        if let Some(&i) = earlier.into_iter().flatten().min() {
            return Some((i, j));
        }
        names.insert(name, j);
        configs.insert(config, j);
    }
    None
}

/// Expands and validates every run of `doc`.
pub fn plan(doc: &Document) -> Result<Plan, UserError> {
    let mut base = doc.value.clone();
    let top = base
        .as_object_mut()
        .expect("Document::read checks for a mapping");
    let sweep = top.remove("sweep");
    let cases = top.remove("cases");
    let here = |e: ConfigError| doc.error(e, None);
    let sweep = match sweep {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(here(ConfigError::new(
                "sweep",
                "must map dotted keys to lists, e.g. model.kl_weight: [0.5, 1]",
            )))
        }
    };
    let cases: Vec<Vec<Override>> = match cases {
        None => vec![vec![]],
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(j, c)| match c {
                Value::Object(m) => Ok(m
                    .iter()
                    .map(|(k, v)| (k.clone(), format!("cases[{j}].{k}"), v.clone()))
                    .collect()),
                _ => Err(ConfigError::new(
                    format!("cases[{j}]"),
                    "must be a map of dotted keys to values",
                )),
            })
            .collect::<Result<_, _>>()
            .map_err(here)?,
        Some(_) => {
            return Err(here(ConfigError::new(
                "cases",
                "must be a non-empty list of maps of dotted keys to values",
            )))
        }
    };
    let grid = grid(&sweep).map_err(here)?;
    let mut keys: Vec<String> = Vec::new();
    for (k, _, _) in grid.iter().chain(&cases).flatten() {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    if grid.len().saturating_mul(cases.len()) > MAX_RUNS {
        return Err(here(ConfigError::new(
            "cases",
            format!("grid x cases is more than {MAX_RUNS} runs"),
        )));
    }
    let combos: Vec<Vec<Override>> = cases
        .iter()
        .flat_map(|case| {
            grid.iter()
                .map(move |g| g.iter().chain(case).cloned().collect())
        })
        .collect();
    let total = combos.len();
    let label = |i: usize| {
        let values: Vec<(String, Value)> = combos[i]
            .iter()
            .map(|(k, _, v)| (k.clone(), v.clone()))
            .collect();
        let name = run_name(&values, &keys, 0);
        match total {
            1 => format!("run {name}"),
            _ => format!("run {} of {total} ({name})", i + 1),
        }
    };
    let mut runs: Vec<PlannedRun> = Vec::with_capacity(total);
    let mut resolved: Vec<String> = Vec::with_capacity(total);
    for (i, overrides) in combos.iter().enumerate() {
        let mut value = base.clone();
        let values: Vec<(String, Value)> = overrides
            .iter()
            .map(|(k, _, v)| (k.clone(), v.clone()))
            .collect();
        // The only run, with nothing of its own, needs no label.
        let origin = (total > 1 || !overrides.is_empty()).then(|| RunOrigin {
            label: label(i),
            overrides,
        });
        for (k, _, v) in overrides {
            set_dotted(&mut value, k, v.clone())
                .map_err(|m| doc.error(ConfigError::new(k.clone(), m), origin.as_ref()))?;
        }
        let exp = parse_experiment(value, &doc.default_name())
            .map_err(|e| doc.error(e, origin.as_ref()))?;
        if let Some(first) = runs.first() {
            let (theirs, ours) = (first.exp.train.threads, exp.train.threads);
            if theirs != ours {
                // Name the entry that sets it: this run's, or else the first run's.
                let sets = |o: &[Override]| {
                    o.iter()
                        .any(|(k, _, _)| k == THREADS || THREADS.starts_with(&format!("{k}.")))
                };
                let (j, o) = if sets(overrides) {
                    (i, &overrides[..])
                } else {
                    (0, &combos[0][..])
                };
                let origin = RunOrigin {
                    label: label(j),
                    overrides: o,
                };
                let message = format!(
                    "differs between runs ({theirs} in run 1, {ours} in run {}): candle sizes its thread pool once per process, from the first run, so the others would run with its count while recording their own; compare thread counts in separate experiments (or with --set train.threads=N), and run a sweep's runs side by side with --jobs",
                    i + 1
                );
                return Err(doc.error(ConfigError::new(THREADS, message), Some(&origin)));
            }
        }
        let name = run_name(&values, &keys, exp.train.seed);
        resolved.push(exp.resolved().to_string());
        runs.push(PlannedRun { name, values, exp });
    }
    let pairs = runs.iter().zip(&resolved);
    if let Some((i, j)) = first_repeat(pairs.map(|(r, text)| (r.name.as_str(), text.as_str()))) {
        return Err(UserError(format!(
            "{}: runs {} and {} resolve to the same run `{}` (same folder or same config): give them different values",
            doc.path.display(),
            i + 1,
            j + 1,
            runs[j].name
        )));
    }
    let name = runs[0].exp.name.clone();
    Ok(Plan { name, runs, keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.yaml");
        std::fs::write(&path, text).unwrap();
        Document::read(&path, &[]).unwrap()
    }

    const BASE: &str = "model: {variant: vae}\n";

    #[test]
    fn grid_times_cases_in_order_with_readable_names() {
        let d = doc(&format!(
            "{BASE}sweep:\n  model.kl_weight: [0.5, 2]\n  train.seed: [0, 1]\ncases:\n  - {{model.likelihood: bernoulli}}\n  - {{model.likelihood: gaussian, model.sigma: 0.2}}\n"
        ));
        let p = plan(&d).unwrap();
        let names: Vec<&str> = p.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.len(), 8);
        assert_eq!(names[0], "kl_weight=0.5,seed=0,likelihood=bernoulli");
        assert_eq!(names[1], "kl_weight=0.5,seed=1,likelihood=bernoulli");
        assert_eq!(names[7], "kl_weight=2,seed=1,likelihood=gaussian,sigma=0.2");
        assert_eq!(
            p.keys,
            vec![
                "model.kl_weight",
                "train.seed",
                "model.likelihood",
                "model.sigma"
            ]
        );
        assert_eq!(p.runs[7].exp.train.seed, 1);
        assert_eq!(p.runs[7].exp.spec.resolved()["sigma"].as_f64(), Some(0.2));
    }

    #[test]
    fn no_sweep_is_one_run_named_by_its_seed() {
        let p = plan(&doc(BASE)).unwrap();
        assert_eq!(p.runs.len(), 1);
        assert_eq!(p.runs[0].name, "seed=0");
        assert_eq!(p.name, "x");
    }

    #[test]
    fn a_bad_value_deep_in_the_grid_fails_before_anything_runs_naming_it() {
        let d = doc(&format!(
            "{BASE}sweep:\n  train.seed: [0, 1, 2]\n  model.kl_weight: [1, 2, -1]\n"
        ));
        let e = plan(&d).err().unwrap().to_string();
        assert!(
            e.contains("x.yaml:4")
                && e.contains("run 3 of 9")
                && e.contains("model.kl_weight = -1"),
            "{e}"
        );
    }

    #[test]
    fn sweep_mistakes_are_named() {
        let e = |t: &str| plan(&doc(&format!("{BASE}{t}"))).err().unwrap().to_string();
        assert!(e("sweep:\n  model.kl_weight: []\n").contains("empty list"));
        assert!(e("sweep:\n  model.kl_weight: 0.5\n").contains("must be a list"));
        let unknown = e("sweep:\n  model.kl_wieght: [1]\n");
        assert!(
            unknown.contains("x.yaml:3") && unknown.contains("did you mean `kl_weight`"),
            "{unknown}"
        );
        let same = e("cases:\n  - {model.kl_weight: 1}\n  - {model.kl_weight: 1.0}\n");
        assert!(same.contains("resolve to the same run"), "{same}");
        assert!(e("cases: []\n").contains("non-empty list"));
    }

    #[test]
    fn runs_that_differ_in_threads_are_refused_naming_the_entry() {
        let e = |t: &str| plan(&doc(&format!("{BASE}{t}"))).err().unwrap().to_string();
        let grid = e("sweep:\n  train.threads: [1, 2]\n");
        assert!(
            grid.contains("x.yaml:3")
                && grid.contains("run 2 of 2 (threads=2), train.threads = 2")
                && grid.contains("once per process")
                && grid.contains("--jobs"),
            "{grid}"
        );
        // The first run sets it, the second keeps the default: the first's entry is named.
        let cases = e("cases:\n  - {train.threads: 4}\n  - {train.seed: 1}\n");
        assert!(
            cases.contains("x.yaml:3: run 1 of 2 (threads=4), train.threads = 4")
                && cases.contains("(4 in run 1, 1 in run 2)"),
            "{cases}"
        );
        // One count for every run is fine, from the file, a sweep or --set.
        let same = "sweep:\n  train.threads: [2]\n  train.seed: [0, 1]\n";
        assert!(plan(&doc(&format!("{BASE}{same}"))).is_ok());
    }

    /// A key that counts its comparisons, to show how many a check makes.
    struct Counted(String);

    impl Hash for Counted {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    thread_local! {
        static COMPARED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    impl PartialEq for Counted {
        fn eq(&self, other: &Self) -> bool {
            COMPARED.with(|c| c.set(c.get() + 1));
            self.0 == other.0
        }
    }

    impl Eq for Counted {}

    #[test]
    fn the_repeat_check_is_linear_and_finds_the_right_pair() {
        const N: usize = 100_000;
        // The last entry repeats entry `earlier`'s config, or its name if `by_name`.
        let entries = |earlier: usize, by_name: bool| {
            (0..N).map(move |j| {
                let i = if j == N - 1 { earlier } else { j };
                let (name, config) = if by_name { (i, j) } else { (j, i) };
                (format!("seed={name}"), Counted(format!("config {config}")))
            })
        };
        COMPARED.with(|c| c.set(0));
        assert_eq!(first_repeat(entries(41_234, false)), Some((41_234, N - 1)));
        let compared = COMPARED.with(|c| c.get());
        // Hash matches only: far below the N * (N - 1) / 2 of every pair.
        assert!(compared < 2 * N, "{compared} comparisons");
        assert_eq!(first_repeat(entries(7, true)), Some((7, N - 1)));
        assert_eq!(
            first_repeat((0..N).map(|j| (j, Counted(format!("{j}"))))),
            None
        );
    }
}
