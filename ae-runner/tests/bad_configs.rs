//! A catalogue of the user's mistakes: each exits with code 2, names what is wrong and where
//! (file and line, or the --set flag), and writes nothing under the results folder.

mod common;
use common::*;

/// A valid small experiment (line numbers matter: the cases below edit it).
const BASE: &str = "\
name: case
data:
  dataset: mnist
  train_limit: 256
  val_size: 100
model:
  variant: vae
  hidden: [32]
  latent_dim: 4
  kl_weight: 1.0
train:
  epochs: 1
  batch_size: 64
  optimizer: { kind: adam, lr: 1.0e-3 }
";

struct Case {
    name: &'static str,
    /// (from, to) replacements applied to BASE.
    edit: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    /// Every one must appear in stderr.
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "unknown eval key",
        edit: &[(
            "lr: 1.0e-3 }\n",
            "lr: 1.0e-3 }\neval:\n  iwae_kk: 50\n",
        )],
        args: &[],
        expect: &["case.yaml:16", "eval.iwae_kk", "did you mean `iwae_k`"],
    },
    Case {
        name: "more neighbours than fit images",
        edit: &[],
        args: &["--set", "eval.knn_k=50", "--set", "eval.fit_images=10"],
        expect: &["eval.knn_k", "at most eval.fit_images (10)"],
    },
    Case {
        name: "yaml syntax",
        edit: &[("  latent_dim: 4", "  latent_dim: [4")],
        args: &[],
        expect: &["case.yaml:", "YAML syntax error"],
    },
    Case {
        name: "tab indentation",
        edit: &[("  kl_weight: 1.0", "\tkl_weight: 1.0")],
        args: &[],
        expect: &[
            "case.yaml:10: YAML syntax error",
            "line 10 is indented with a tab",
        ],
    },
    Case {
        name: "--set of a misspelt section",
        edit: &[],
        args: &["--set", "modle.latent_dim=3"],
        expect: &["--set modle.latent_dim=3", "unknown key `modle`", "did you mean `model`"],
    },
    Case {
        name: "unknown top key",
        edit: &[("train:", "trian:")],
        args: &[],
        expect: &[
            "case.yaml:11",
            "unknown key `trian`",
            "did you mean `train`",
        ],
    },
    Case {
        name: "unknown model key",
        edit: &[("kl_weight: 1.0", "kl_wieght: 1.0")],
        args: &[],
        expect: &[
            "case.yaml:10",
            "model.kl_wieght",
            "did you mean `kl_weight`",
        ],
    },
    Case {
        name: "misspelt shared model key",
        edit: &[("latent_dim: 4", "latent_dm: 4")],
        args: &[],
        expect: &["case.yaml:9", "did you mean `latent_dim`"],
    },
    Case {
        name: "unknown train key",
        edit: &[("epochs: 1", "epoch: 1")],
        args: &[],
        expect: &["case.yaml:12", "train.epoch", "did you mean `epochs`"],
    },
    Case {
        name: "unknown data key",
        edit: &[("val_size: 100", "valsize: 100")],
        args: &[],
        expect: &["case.yaml:5", "did you mean `val_size`"],
    },
    Case {
        name: "wrong type",
        edit: &[("epochs: 1", "epochs: ten")],
        args: &[],
        expect: &["case.yaml:12", "train.epochs", "invalid type"],
    },
    Case {
        name: "lr zero",
        edit: &[("lr: 1.0e-3", "lr: 0")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.lr", "must be > 0"],
    },
    Case {
        name: "lr negative by --set",
        edit: &[],
        args: &["--set", "train.optimizer.lr=-1"],
        expect: &["--set train.optimizer.lr", "must be > 0"],
    },
    Case {
        name: "beta2 one",
        edit: &[("lr: 1.0e-3", "lr: 1.0e-3, beta2: 1.0")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.beta2", "[0, 1)"],
    },
    Case {
        name: "batch zero",
        edit: &[("batch_size: 64", "batch_size: 0")],
        args: &[],
        expect: &["case.yaml:13", "train.batch_size", "at least 1"],
    },
    Case {
        name: "epochs zero",
        edit: &[],
        args: &["--set", "train.epochs=0"],
        expect: &["--set train.epochs", "at least 1"],
    },
    Case {
        name: "latent zero",
        edit: &[("latent_dim: 4", "latent_dim: 0")],
        args: &[],
        expect: &["case.yaml:9", "model.latent_dim", "at least 1"],
    },
    Case {
        name: "hidden width zero",
        edit: &[("hidden: [32]", "hidden: [32, 0]")],
        args: &[],
        expect: &["case.yaml:8", "model.hidden"],
    },
    Case {
        name: "unknown variant",
        edit: &[("variant: vae", "variant: vea")],
        args: &[],
        expect: &[
            "case.yaml:7",
            "model.variant",
            "plain, denoising, dropout, adversarial, vae",
        ],
    },
    Case {
        name: "missing variant",
        edit: &[("  variant: vae\n", "")],
        args: &[],
        expect: &["case.yaml:6", "model.variant", "missing"],
    },
    Case {
        name: "missing model",
        edit: &[(
            "model:\n  variant: vae\n  hidden: [32]\n  latent_dim: 4\n  kl_weight: 1.0\n",
            "",
        )],
        args: &[],
        expect: &["model", "missing"],
    },
    Case {
        name: "vae with relu code",
        edit: &[("latent_dim: 4", "latent_dim: 4\n  code_activation: relu")],
        args: &[],
        expect: &["case.yaml:10", "model.code_activation", "none"],
    },
    Case {
        name: "negative kl weight",
        edit: &[("kl_weight: 1.0", "kl_weight: -0.5")],
        args: &[],
        expect: &["case.yaml:10", "model.kl_weight", ">= 0"],
    },
    Case {
        name: "bad likelihood",
        edit: &[("kl_weight: 1.0", "likelihood: poisson")],
        args: &[],
        expect: &["case.yaml:10", "model.likelihood", "bernoulli"],
    },
    Case {
        name: "zero training samples",
        edit: &[("kl_weight: 1.0", "kl_weight: 1.0\n  train_samples: 0")],
        args: &[],
        expect: &["case.yaml:11", "model.train_samples", "at least 1"],
    },
    Case {
        name: "kl weight with the k-sample bound",
        edit: &[("kl_weight: 1.0", "kl_weight: 0.5\n  train_samples: 5")],
        args: &[],
        expect: &["case.yaml:10", "model.kl_weight", "model.train_samples = 5"],
    },
    Case {
        name: "kl warm-up with the k-sample bound",
        edit: &[(
            "kl_weight: 1.0",
            "kl_weight: 1.0\n  warmup_epochs: 2\n  train_samples: 5",
        )],
        args: &[],
        expect: &["case.yaml:11", "model.warmup_epochs", "model.train_samples = 5"],
    },
    Case {
        name: "negative mmd weight",
        edit: &[
            ("variant: vae", "variant: wae"),
            ("  kl_weight: 1.0\n", "  mmd_weight: -1\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.mmd_weight", ">= 0"],
    },
    Case {
        name: "negative rae decoder weight",
        edit: &[
            ("variant: vae", "variant: rae"),
            ("  kl_weight: 1.0\n", "  decoder_weight: -1.0e-7\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.decoder_weight", ">= 0"],
    },
    Case {
        name: "contractive on the conv backbone",
        edit: &[
            ("variant: vae", "variant: contractive"),
            ("  kl_weight: 1.0\n", "  arch: conv\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.arch", "`variant: contractive`", "allowed: mlp"],
    },
    Case {
        name: "contractive set to conv",
        edit: &[
            ("variant: vae", "variant: contractive"),
            ("  kl_weight: 1.0\n", ""),
        ],
        args: &["--set", "model.arch=conv"],
        expect: &["--set model.arch", "`conv` is not allowed"],
    },
    Case {
        name: "vqvae code not divisible into positions",
        edit: &[
            ("variant: vae", "variant: vqvae"),
            ("  kl_weight: 1.0\n", "  embedding_dim: 3\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.embedding_dim", "must divide model.latent_dim (4)"],
    },
    Case {
        name: "cvae misspelt key (the VAE's keys, read through its config)",
        edit: &[
            ("variant: vae", "variant: cvae"),
            ("kl_weight: 1.0", "kl_wieght: 1.0"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.kl_wieght", "did you mean `kl_weight`"],
    },
    Case {
        name: "cvae negative kl weight",
        edit: &[
            ("variant: vae", "variant: cvae"),
            ("kl_weight: 1.0", "kl_weight: -1.0"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.kl_weight", "must be >= 0"],
    },
    Case {
        name: "dropout rate one",
        edit: &[
            ("variant: vae", "variant: dropout"),
            ("  kl_weight: 1.0\n", "  dropout: 1.0\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.dropout", "[0, 1)"],
    },
    Case {
        name: "hidden dropout negative",
        edit: &[
            ("variant: vae", "variant: dropout"),
            ("  kl_weight: 1.0\n", "  hidden_dropout: -0.1\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.hidden_dropout"],
    },
    Case {
        name: "vae key on a dropout model",
        edit: &[("variant: vae", "variant: dropout")],
        args: &[],
        expect: &[
            "case.yaml:10",
            "unknown key `kl_weight`",
            "allowed: loss, dropout, hidden_dropout",
        ],
    },
    Case {
        name: "unknown noise",
        edit: &[
            ("variant: vae", "variant: denoising"),
            ("  kl_weight: 1.0\n", "  noise: speckle\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.noise", "gaussian"],
    },
    Case {
        name: "negative gaussian std",
        edit: &[
            ("variant: vae", "variant: denoising"),
            ("  kl_weight: 1.0\n", "  noise_level: -0.2\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.noise_level", ">= 0"],
    },
    Case {
        name: "masking probability above one",
        edit: &[
            ("variant: vae", "variant: denoising"),
            (
                "  kl_weight: 1.0\n",
                "  noise: masking\n  noise_level: 1.5\n",
            ),
        ],
        args: &[],
        expect: &["case.yaml:11", "model.noise_level", "[0, 1]"],
    },
    Case {
        name: "aae prior std zero",
        edit: &[
            ("variant: vae", "variant: adversarial"),
            ("  kl_weight: 1.0\n", "  prior_std: 0\n"),
        ],
        args: &[],
        expect: &["case.yaml:10", "model.prior_std"],
    },
    Case {
        name: "bad activation",
        edit: &[("latent_dim: 4", "latent_dim: 4\n  activation: sigmoidd")],
        args: &[],
        expect: &["case.yaml:10", "model.activation", "relu"],
    },
    Case {
        name: "unknown dataset",
        edit: &[("dataset: mnist", "dataset: cifar")],
        args: &[],
        expect: &["case.yaml:3", "data.dataset", "fashion-mnist"],
    },
    Case {
        name: "idx without root",
        edit: &[("dataset: mnist", "dataset: idx")],
        args: &[],
        expect: &["case.yaml:2", "data.root"],
    },
    Case {
        name: "bad binarize",
        edit: &[("dataset: mnist", "dataset: mnist\n  binarize: yes")],
        args: &[],
        expect: &["case.yaml:4", "data.binarize", "dynamic"],
    },
    Case {
        name: "bad device in file",
        edit: &[("epochs: 1", "epochs: 1\n  device: gpu")],
        args: &[],
        expect: &["case.yaml:13", "train.device", "cuda:N"],
    },
    Case {
        name: "bad --device",
        edit: &[],
        args: &["--device", "gpu"],
        expect: &["--device gpu", "cuda:N"],
    },
    Case {
        name: "--set without =",
        edit: &[],
        args: &["--set", "train.epochs"],
        expect: &["--set train.epochs", "key=value"],
    },
    Case {
        name: "--set through a scalar",
        edit: &[],
        args: &["--set", "name.x=1"],
        expect: &["--set name.x", "not a mapping"],
    },
    Case {
        name: "name with a slash",
        edit: &[("name: case", "name: a/b")],
        args: &[],
        expect: &["case.yaml:1", "name", "slashes"],
    },
    Case {
        name: "not a mapping",
        edit: &[(BASE, "- 1\n- 2\n")],
        args: &[],
        expect: &["case.yaml", "mapping"],
    },
    Case {
        name: "missing data root",
        edit: &[(
            "dataset: mnist",
            "dataset: mnist\n  root: /nonexistent/mnist",
        )],
        args: &[],
        expect: &["/nonexistent/mnist", "train-images-idx3-ubyte"],
    },
    Case {
        name: "validation larger than the data",
        edit: &[("val_size: 100", "val_size: 60000")],
        args: &[],
        expect: &["data.val_size", "60000"],
    },
    Case {
        name: "val_size of the whole training set (--check reads the header)",
        edit: &[("val_size: 100", "val_size: 60000")],
        args: &["--check"],
        expect: &[
            "data.val_size 60000 leaves no training images: the training set has 60000",
            "train-images-idx3-ubyte",
        ],
    },
    Case {
        name: "a class MNIST does not have (--check)",
        edit: &[("dataset: mnist", "dataset: mnist\n  classes: [3, 10]")],
        args: &["--check"],
        expect: &["case.yaml:4", "data.classes", "10 is not a class of mnist: its labels are 0 to 9"],
    },
    Case {
        name: "a class MNIST does not have, by --set",
        edit: &[],
        args: &["--set", "data.classes=[10]"],
        expect: &["--set data.classes=", "10 is not a class of mnist"],
    },
    Case {
        name: "--jobs 0",
        edit: &[],
        args: &["--jobs", "0"],
        expect: &["--jobs", "J must be at least 1"],
    },
    Case {
        name: "--jobs 0 (--check)",
        edit: &[],
        args: &["--jobs", "0", "--check"],
        expect: &["--jobs", "J must be at least 1"],
    },
    Case {
        name: "classes empty",
        edit: &[("dataset: mnist", "dataset: mnist\n  classes: []")],
        args: &[],
        expect: &["case.yaml:4", "data.classes"],
    },
    Case { name: "empty sweep list", edit: &[("  optimizer: { kind: adam, lr: 1.0e-3 }\n", "  optimizer: { kind: adam, lr: 1.0e-3 }\nsweep:\n  model.kl_weight: []\n")], args: &[], expect: &["case.yaml:16", "sweep.model.kl_weight", "empty list"] },
    Case { name: "sweep over an unknown key", edit: &[("  optimizer: { kind: adam, lr: 1.0e-3 }\n", "  optimizer: { kind: adam, lr: 1.0e-3 }\nsweep:\n  model.kl_wieght: [1, 2]\n")], args: &[], expect: &["case.yaml:16", "run 1 of 2", "did you mean `kl_weight`"] },
    Case { name: "sweep over a misspelt section", edit: &[("  optimizer: { kind: adam, lr: 1.0e-3 }\n", "  optimizer: { kind: adam, lr: 1.0e-3 }\nsweep:\n  modle.kl_weight: [1, 2]\n")], args: &[], expect: &["case.yaml:16", "run 1 of 2", "modle.kl_weight = 1", "did you mean `model`"] },
    Case { name: "bad value deep in the grid", edit: &[("  optimizer: { kind: adam, lr: 1.0e-3 }\n", "  optimizer: { kind: adam, lr: 1.0e-3 }\nsweep:\n  train.seed: [0, 1]\n  model.kl_weight: [1, 2, -3]\n")], args: &[], expect: &["case.yaml:17", "run 3 of 6 (seed=0,kl_weight=-3)", "model.kl_weight = -3"] },
    Case { name: "two cases, one run", edit: &[("  optimizer: { kind: adam, lr: 1.0e-3 }\n", "  optimizer: { kind: adam, lr: 1.0e-3 }\ncases:\n  - {model.kl_weight: 2}\n  - {model.kl_weight: 2.0}\n")], args: &[], expect: &["runs 1 and 2 resolve to the same run"] },
    Case { name: "sweep over train.threads (--check)", edit: &[("  optimizer: { kind: adam, lr: 1.0e-3 }\n", "  optimizer: { kind: adam, lr: 1.0e-3 }\nsweep:\n  train.threads: [1, 2]\n")], args: &["--check"], expect: &["case.yaml:16", "run 2 of 2 (threads=2), train.threads = 2", "once per process", "--jobs"] },
    Case { name: "checkpoint_every zero", edit: &[("epochs: 1", "epochs: 1\n  checkpoint_every: 0")], args: &[], expect: &["case.yaml:13", "train.checkpoint_every"] },
    Case { name: "negative grad_clip", edit: &[("lr: 1.0e-3", "lr: 1.0e-3, grad_clip: -1")], args: &[], expect: &["case.yaml:14", "train.optimizer.grad_clip"] },
    // Schedules, the monitor and early stopping (line 15: the line after the optimizer's).
    Case { name: "unknown schedule kind", edit: &[("lr: 1.0e-3 }\n", "lr: 1.0e-3 }\n  schedule: { kind: cosin }\n")], args: &[], expect: &["case.yaml:15", "train.schedule", "cosin", "cosine", "plateau"] },
    Case { name: "key of another schedule kind", edit: &[("lr: 1.0e-3 }\n", "lr: 1.0e-3 }\n  schedule: { kind: step, step_size: 2, t_max: 5 }\n")], args: &[], expect: &["case.yaml:15", "train.schedule", "t_max"] },
    Case { name: "piecewise epochs that do not increase", edit: &[("lr: 1.0e-3 }\n", "lr: 1.0e-3 }\n  schedule: { kind: piecewise, points: [[0, 1.0], [5, 0.5], [3, 0.1]] }\n")], args: &[], expect: &["case.yaml:15", "train.schedule.points[2]", "must increase"] },
    Case { name: "multistep without milestones", edit: &[], args: &["--set", "train.schedule={kind: multistep, milestones: []}"], expect: &["--set train.schedule", "train.schedule.milestones", "empty list"] },
    Case { name: "warm-up as long as the cosine", edit: &[], args: &["--set", "train.schedule={kind: cosine, t_max: 10, warmup: 10}"], expect: &["train.schedule.warmup", "before t_max (10)"] },
    Case { name: "plateau factor 1", edit: &[], args: &["--set", "train.monitor=val_neg_elbo", "--set", "train.schedule={kind: plateau, factor: 1.0}"], expect: &["train.schedule.factor", "(0, 1)"] },
    Case { name: "plateau without a monitor", edit: &[("lr: 1.0e-3 }\n", "lr: 1.0e-3 }\n  schedule: { kind: plateau }\n")], args: &["--check"], expect: &["train.monitor", "plateau needs it", "val_neg_elbo", "val_kl"] },
    Case { name: "monitor that names no metric of the model", edit: &[("lr: 1.0e-3 }\n", "lr: 1.0e-3 }\n  monitor: val_accuracy\n")], args: &["--check"], expect: &["train.monitor", "`val_accuracy` is not a validation metric", "allowed: val_mse, val_psnr, val_bce, val_neg_elbo"] },
    Case { name: "monitor without the val_ prefix", edit: &[], args: &["--set", "train.monitor=neg_elbo"], expect: &["--set train.monitor", "`neg_elbo` is not a validation metric", "val_neg_elbo"] },
    Case { name: "monitor without validation images", edit: &[("val_size: 100", "val_size: 0")], args: &["--check", "--set", "train.monitor=val_neg_elbo"], expect: &["train.monitor", "data.val_size is 0"] },
    Case { name: "plateau mode against the metric", edit: &[], args: &["--set", "train.monitor=val_psnr", "--set", "train.schedule={kind: plateau}"], expect: &["train.schedule.mode", "val_psnr, which is better higher: mode max"] },
    Case { name: "early stopping without a monitor", edit: &[], args: &["--set", "train.early_stopping={patience: 3}"], expect: &["train.monitor", "train.early_stopping needs it"] },
    Case { name: "early stopping patience 0", edit: &[], args: &["--set", "train.monitor=val_neg_elbo", "--set", "train.early_stopping={patience: 0}"], expect: &["train.early_stopping.patience", "at least 1"] },
    Case { name: "negative min_delta", edit: &[], args: &["--set", "train.monitor=val_neg_elbo", "--set", "train.early_stopping={min_delta: -0.1}"], expect: &["train.early_stopping.min_delta", "must be >= 0"] },
    Case { name: "best weights without a monitor", edit: &[], args: &["--set", "train.test_weights=best"], expect: &["train.monitor", "train.test_weights best needs it"] },
    Case { name: "bound every epoch of a model without a likelihood", edit: &[("variant: vae", "variant: plain"), ("  kl_weight: 1.0\n", "")], args: &["--set", "eval.every=1"], expect: &["--set eval.every", "eval.every", "a model with a likelihood"] },
    Case { name: "bound every epoch without samples", edit: &[], args: &["--set", "eval.every=1", "--set", "eval.iwae_k=0"], expect: &["eval.every", "needs eval.iwae_k > 0"] },
    Case { name: "bound every epoch without validation images", edit: &[("val_size: 100", "val_size: 0")], args: &["--set", "eval.every=1"], expect: &["eval.every", "data.val_size is 0"] },
    Case { name: "unknown test weights", edit: &[], args: &["--set", "train.test_weights=first"], expect: &["train.test_weights", "first", "last", "best"] },
    Case {
        name: "an sgd key under adam",
        edit: &[("lr: 1.0e-3", "lr: 1.0e-3, momentum: 0.9")],
        args: &[],
        expect: &[
            "case.yaml:14",
            "train.optimizer.momentum: unknown key `momentum` for kind `adam`",
            "a key of sgd and rmsprop",
        ],
    },
    Case {
        name: "an adam key under rmsprop, a line of its own",
        edit: &[(
            "  optimizer: { kind: adam, lr: 1.0e-3 }\n",
            "  optimizer:\n    kind: rmsprop\n    lr: 1.0e-3\n    momentum: 0.9\n    beta2: 0.99\n",
        )],
        args: &[],
        expect: &[
            "case.yaml:18",
            "train.optimizer.beta2",
            "for kind `rmsprop` (it is a key of adam and adamw)",
            "allowed: kind, lr, alpha, eps, momentum, centered",
        ],
    },
    Case {
        name: "an rmsprop key under sgd, by --set",
        edit: &[],
        args: &["--set", "train.optimizer.kind=sgd", "--set", "train.optimizer.centered=true"],
        expect: &[
            "--set train.optimizer.centered=true",
            "for kind `sgd` (it is a key of rmsprop)",
        ],
    },
    Case {
        name: "unknown optimizer kind",
        edit: &[("kind: adam", "kind: adagrad")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.kind", "`adamw`, `sgd`, `rmsprop`"],
    },
    Case {
        name: "negative sgd momentum",
        edit: &[("kind: adam", "kind: sgd, momentum: -0.9")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.momentum", "must be >= 0"],
    },
    Case {
        name: "sgd dampening above one",
        edit: &[("kind: adam", "kind: sgd, momentum: 0.9, dampening: 1.5")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.dampening", "[0, 1]"],
    },
    Case {
        name: "nesterov without momentum",
        edit: &[("kind: adam", "kind: sgd, nesterov: true")],
        args: &[],
        expect: &[
            "case.yaml:14",
            "train.optimizer.nesterov",
            "needs momentum > 0 and dampening 0",
        ],
    },
    Case {
        name: "nesterov with dampening, by --set",
        edit: &[("kind: adam", "kind: sgd, momentum: 0.9, dampening: 0.1")],
        args: &["--set", "train.optimizer.nesterov=true"],
        expect: &["--set train.optimizer.nesterov=true", "dampening 0.1"],
    },
    Case {
        name: "nesterov not a flag",
        edit: &[("kind: adam", "kind: sgd, momentum: 0.9, nesterov: 1")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.nesterov", "invalid type"],
    },
    Case {
        name: "rmsprop alpha one",
        edit: &[("kind: adam", "kind: rmsprop, alpha: 1.0")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.alpha", "[0, 1)"],
    },
    Case {
        name: "rmsprop eps zero",
        edit: &[("kind: adam", "kind: rmsprop, eps: 0")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.eps", "must be > 0"],
    },
    Case {
        name: "negative rmsprop momentum",
        edit: &[("kind: adam", "kind: rmsprop, momentum: -0.5")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.momentum", "must be >= 0"],
    },
    Case {
        name: "adamw negative weight decay",
        edit: &[("kind: adam", "kind: adamw, weight_decay: -0.01")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.weight_decay", "must be >= 0"],
    },
    Case {
        name: "adam beta1 negative",
        edit: &[("lr: 1.0e-3", "lr: 1.0e-3, beta1: -0.1")],
        args: &[],
        expect: &["case.yaml:14", "train.optimizer.beta1", "[0, 1)"],
    },
];

#[test]
fn every_bad_config_exits_2_naming_the_key_and_writes_nothing() {
    assert!(CASES.len() >= 30);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in CASES {
        let mut text = BASE.to_string();
        for (from, to) in case.edit {
            assert!(
                text.contains(from),
                "{}: {from:?} not in the base config",
                case.name
            );
            text = text.replacen(from, to, 1);
        }
        let file = tmp.path().join("case.yaml");
        std::fs::write(&file, &text).unwrap();
        let out = tmp.path().join("results");
        let mut args = vec![file.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(case.args);
        let o = ae_runner(&args);
        let err = stderr(&o);
        if o.status.code() != Some(2) {
            failures.push(format!(
                "{}: exit {:?}, stderr: {err}",
                case.name,
                o.status.code()
            ));
        } else if let Some(missing) = case.expect.iter().find(|e| !err.contains(*e)) {
            failures.push(format!("{}: {missing:?} not in: {err}", case.name));
        } else if err.contains("panicked") {
            failures.push(format!("{}: panicked: {err}", case.name));
        } else if let Some(rust) = ["run 1 of 1", "Some(", "None"]
            .iter()
            .find(|r| err.contains(*r))
        {
            failures.push(format!("{}: {rust:?} (not for users) in: {err}", case.name));
        }
        if out.exists() {
            failures.push(format!("{}: wrote {}", case.name, out.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn a_missing_experiment_file_is_named() {
    let o = ae_runner(&["experiments/nope.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("experiments/nope.yaml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_truncated_data_file_is_named_with_its_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnist");
    std::fs::create_dir(&data).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        let bytes = std::fs::read(root().join("data/mnist").join(f)).unwrap();
        let keep = if f.starts_with("t10k-images") {
            bytes.len() / 2
        } else {
            bytes.len()
        };
        std::fs::write(data.join(f), &bytes[..keep]).unwrap();
    }
    let out = tmp.path().join("results");
    let o = ae_runner(&[
        "experiments/vae.yaml",
        "--set",
        &format!("data.root={}", data.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("t10k-images-idx3-ubyte.gz")
            && err.contains("9fb629c4189551a2d022fa330f9573f3"),
        "{err}"
    );
    assert!(!out.exists());
}
