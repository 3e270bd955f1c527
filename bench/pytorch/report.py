"""Merge the per-script JSON files into bench/results/pytorch-baseline.{json,md}.

  python report.py --inputs ae.json vae.json ae_fast.json --commands commands.txt
"""
import argparse
import json
import os
import platform
import statistics as st

import torch

RESULTS = os.path.join(os.path.dirname(__file__), "..", "results")


def ms(xs, fmt):
    """'mean ± std' (sample std, n-1) of a list."""
    sd = st.stdev(xs) if len(xs) > 1 else 0.0
    return f"{fmt.format(st.mean(xs))} ± {fmt.format(sd)}"


def secs(runs):
    all_s = [s for r in runs for s in r["sec_per_epoch"]]
    return f"median {st.median(all_s):.1f} s (range {min(all_s):.1f}-{max(all_s):.1f}, {len(all_s)} epochs)"


def ae_section(res):
    runs, ep = res["runs"], res["config"]["epochs"]
    cols = [0, ep - 1] if ep > 1 else [0]
    head = " | ".join(f"test MSE/pixel after epoch {c + 1}" for c in cols)
    lines = [f"### Seed AE, {res['loop']} loop ({ep} epoch{'s' if ep > 1 else ''}, batch {res['config']['batch']})", "",
             f"| seed | {head} | s/epoch (mean) |", "|---" * (len(cols) + 2) + "|"]
    for r in runs:
        vals = " | ".join(f"{r['test_mse'][c]:.6f}" for c in cols)
        lines.append(f"| {r['seed']} | {vals} | {st.mean(r['sec_per_epoch']):.1f} |")
    agg = " | ".join(ms([r["test_mse"][c] for r in runs], "{:.6f}") for c in cols)
    lines += [f"| mean ± std | {agg} | |", "", f"Seconds per epoch (training loop only): {secs(runs)}.", ""]
    return lines


def vae_section(res):
    runs, ep = res["runs"], res["config"]["epochs"]
    lines = [f"### VAE, fast loop ({ep} epoch{'s' if ep > 1 else ''}, batch {res['config']['batch']})", "",
             "Test negative ELBO (nats/image, one sampled z per image) per epoch:", "",
             "| seed | " + " | ".join(str(e + 1) for e in range(ep)) + " |", "|---" * (ep + 1) + "|"]
    for r in runs:
        lines.append(f"| {r['seed']} | " + " | ".join(f"{v:.2f}" for v in r["test_neg_elbo"]) + " |")
    lines += ["", f"| seed | test neg-ELBO after epoch {ep} | test MSE/pixel of sigmoid(dec(mu)) | s/epoch (mean) |",
              "|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['seed']} | {r['test_neg_elbo'][-1]:.2f} | {r['test_mse'][-1]:.6f} | "
                     f"{st.mean(r['sec_per_epoch']):.1f} |")
    lines += [f"| mean ± std | {ms([r['test_neg_elbo'][-1] for r in runs], '{:.2f}')} | "
              f"{ms([r['test_mse'][-1] for r in runs], '{:.6f}')} | |",
              "", f"Seconds per epoch (training loop only): {secs(runs)}.", ""]
    return lines


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--inputs", nargs="+", required=True)
    p.add_argument("--commands", help="text file with the exact commands that were run")
    args = p.parse_args()
    parts = [json.load(open(f)) for f in args.inputs]
    commands = open(args.commands).read().strip().splitlines() if args.commands else []
    meta = {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), "torch_threads": parts[0]["config"]["threads"],
            "commands": commands}
    with open(os.path.join(RESULTS, "pytorch-baseline.json"), "w") as f:
        json.dump({"meta": meta, "results": parts}, f, indent=1)

    md = ["# PyTorch baseline (reference numbers for the Rust port)", "",
          f"torch {meta['torch']}, Python {meta['python']}, CPU only, "
          f"`torch.set_num_threads({meta['torch_threads']})`, run under `nice -n 5` on a shared 2-core machine "
          "(a Rust build was running at the same time, so timings are indicative only).", "",
          "Scripts: `bench/pytorch/seed_ae.py`, `bench/pytorch/seed_vae.py` (see their docstrings for the exact "
          "model, loss and metric definitions). Raw per-epoch numbers: `pytorch-baseline.json`. "
          "Std is the sample standard deviation (n-1).", ""]
    for res in parts:
        md += ae_section(res) if res["model"] == "seed_ae" else vae_section(res)
    md += ["## Commands", "", "```"] + commands + ["```", ""]
    with open(os.path.join(RESULTS, "pytorch-baseline.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
