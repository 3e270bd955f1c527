"""TensorBoard's own reader and server on what aelab wrote (run by tests/tensorboard.rs).

    python tensorboard_client.py WHOLE KILLED
    python tensorboard_client.py --sweep EXP_DIR
    python tensorboard_client.py --live STREAM_DIR CWD -- COMMAND...

WHOLE and KILLED are run folders (`<out>/<exp>/<run>`) of the same config: one trained without
a stop, one killed mid-epoch and resumed. Their streams are `<out>/<exp>/tensorboard/<run>`.
Checks, failing with an AssertionError:

1. TensorBoard's EventAccumulator reads every scalar of WHOLE's metrics.csv at its epoch's
   step, `final/` as run.json's metrics, the last images as reconstructions.png and
   samples.png (byte for byte), the histogram of codes and the config text.
2. `tensorboard --logdir` on a loopback port serves the same scalars, images and text over its
   HTTP data API; KILLED's series have each step once and equal WHOLE's; a copy of WHOLE's
   stream with its last record cut short (as a kill leaves it) is still served up to there.
3. With --live, a server on a killed run's stream while COMMAND resumes it: at the end it
   serves each step once, as the files hold it.
4. With --sweep, the HParams dashboard of the experiment folder EXP_DIR (its tensorboard/
   served): its columns are the swept keys and the final metrics, each run a row with its
   values and metrics as summary.csv has them.
"""

import csv
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.compat.proto import event_pb2

# Columns whose values depend on the clock, not on the training.
TIMING = {"epoch/seconds", "epoch/images_per_sec"}


def stream(run_dir):
    run_dir = os.path.abspath(run_dir)
    exp, run = os.path.split(run_dir)
    return os.path.join(exp, "tensorboard", run)


def tag(column):
    for split in ("train", "val", "test"):
        if column.startswith(split + "_"):
            return split + "/" + column[len(split) + 1 :]
    return "epoch/" + column


def tolerance(text, value):
    """Half a unit in the CSV's last digit, and float32's rounding."""
    digits = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    half = 0.5 * 10.0**-digits if digits else 0.0
    return half + 1e-6 * abs(value) + 1e-12


def accumulator(path):
    acc = ea.EventAccumulator(
        path,
        size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0},
    )
    acc.Reload()
    return acc


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def check_reader(run_dir):
    acc = accumulator(stream(run_dir))
    tags = acc.Tags()
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    steps = acc.Scalars("epoch/seconds")[0].step
    assert steps > 0, "the first epoch ends at step 0"
    checked = 0
    for row in rows:
        epoch = int(row["epoch"])
        for column, text in row.items():
            if column == "epoch" or text == "":
                continue
            events = {e.step: e.value for e in acc.Scalars(tag(column))}
            want = float(text)
            got = events.get(epoch * steps)
            assert got is not None, f"{tag(column)} has no step {epoch * steps}: {sorted(events)}"
            assert abs(got - want) <= tolerance(text, want), (column, epoch, got, want)
            checked += 1
    epoch_steps = [e.step for e in acc.Scalars("epoch/seconds")]
    assert epoch_steps == [steps * int(r["epoch"]) for r in rows], epoch_steps
    with open(os.path.join(run_dir, "run.json")) as f:
        final = json.load(f)["test"]
    last = steps * len(rows)
    for name, want in final:
        events = acc.Scalars("final/" + name)
        assert [e.step for e in events] == [last], (name, [e.step for e in events])
        assert math.isclose(events[0].value, want, rel_tol=1e-6, abs_tol=1e-9), (name, events[0].value, want)
        checked += 1
    # Images: one per epoch; the last is the picture the run left on disk.
    for name, file in (("reconstructions", "reconstructions.png"), ("samples", "samples.png")):
        if not os.path.exists(os.path.join(run_dir, file)):
            assert name not in tags["images"], name
            continue
        images = acc.Images(name)
        assert [i.step for i in images] == epoch_steps, (name, [i.step for i in images])
        with open(os.path.join(run_dir, file), "rb") as f:
            on_disk = f.read()
        assert images[-1].encoded_image_string == on_disk, f"the last {name} differs from {file}"
        for i in images:
            assert png_size(i.encoded_image_string) == (i.width, i.height), name
        checked += len(images)
    histograms = acc.Histograms("codes")
    assert [h.step for h in histograms] == epoch_steps
    h = histograms[-1].histogram_value
    assert h.num == sum(h.bucket) and h.num > 0 and h.min <= h.max, h
    with open(os.path.join(run_dir, "config.yaml")) as f:
        config = f.read()
    text = acc.Tensors("config")[0].tensor_proto.string_val[0].decode()
    assert text == "".join("    " + line + "\n" for line in config.splitlines()), "config text"
    print(f"reader: {checked} values and pictures of {len(rows)} epochs match the run folder")
    return acc, steps


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, **query):
    url = f"http://127.0.0.1:{port}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def get_json(port, path, **query):
    return json.loads(get(port, path, **query))


def serve(logdir, want):
    """A server on `logdir`, once it serves each run of `want` with its scalar tags."""
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"aelab-tensorboard-{os.getpid()}.log"), "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
         "--port", str(port), "--reload_interval", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while True:
        assert server.poll() is None, "tensorboard exited: see tensorboard.log"
        try:
            tags = get_json(port, "/data/plugin/scalars/tags")
            if all(set(t) <= set(tags.get(r, {})) for r, t in want.items()):
                return server, port
        except OSError:
            pass
        assert time.time() < deadline, "tensorboard served no scalars in 120 s"
        time.sleep(0.5)


def served_scalars(port, run, name):
    return [(s, v) for _, s, v in get_json(port, "/data/plugin/scalars/scalars", run=run, tag=name)]


def check_server(whole_dir, killed_dir, acc):
    work = tempfile.mkdtemp()
    logdir = os.path.join(work, "logdir")
    os.makedirs(logdir)
    shutil.copytree(stream(whole_dir), os.path.join(logdir, "whole"))
    shutil.copytree(stream(killed_dir), os.path.join(logdir, "killed"))
    torn = os.path.join(logdir, "torn")
    shutil.copytree(stream(whole_dir), torn)
    (events,) = [f for f in os.listdir(torn) if "tfevents" in f]
    path = os.path.join(torn, events)
    with open(path, "rb") as f:
        data = f.read()
    starts, pos = [], 0
    while pos + 12 <= len(data):
        starts.append(pos)
        pos += 16 + struct.unpack("<Q", data[pos : pos + 8])[0]
    last = event_pb2.Event.FromString(data[starts[-1] + 12 : len(data) - 4])
    lost = {(v.tag, last.step) for v in last.summary.value}
    # Cut in the middle of the last record, as a kill mid-write would.
    with open(path, "r+b") as f:
        f.truncate((starts[-1] + len(data)) // 2)
    scalar_tags = acc.Tags()["scalars"]
    kept = [t for t in scalar_tags if any(e.step != last.step for e in acc.Scalars(t)) or (t, last.step) not in lost]
    server, port = serve(logdir, {"whole": scalar_tags, "killed": scalar_tags, "torn": kept})
    try:
        checked = 0
        for name in scalar_tags:
            want = [(e.step, e.value) for e in acc.Scalars(name)]
            got = served_scalars(port, "whole", name)
            assert [s for s, _ in got] == [s for s, _ in want], (name, got, want)
            assert all(math.isclose(a, b, rel_tol=1e-7) for (_, a), (_, b) in zip(got, want)), name
            killed = served_scalars(port, "killed", name)
            steps = [s for s, _ in killed]
            assert steps == sorted(set(steps)), f"killed run: {name} repeats steps: {steps}"
            if name not in TIMING:
                assert killed == got, f"killed run: {name} {killed} != {got}"
            checked += 1
        # The torn copy: everything but its cut last record.
        for name in scalar_tags:
            want = [(st, v) for st, v in served_scalars(port, "whole", name) if (name, st) not in lost]
            got = served_scalars(port, "torn", name) if want else []
            assert got == want, f"torn stream: {name} {got} != {want}"
        for name in ("reconstructions", "samples"):
            file = os.path.join(whole_dir, name + ".png")
            if not os.path.exists(file):
                continue
            entries = get_json(port, "/data/plugin/images/images", run="whole", tag=name, sample=0)
            assert [e["step"] for e in entries] == [i.step for i in acc.Images(name)], entries
            last = get(port, "/data/plugin/images/individualImage?" + entries[-1]["query"])
            with open(file, "rb") as f:
                assert last == f.read(), f"served {name} differs from {file}"
            checked += 1
        (text,) = get_json(port, "/data/plugin/text/text", run="whole", tag="config")
        assert "name:" in text["text"], text
        print(f"server: {checked} series and pictures served as written; the killed run has each "
              f"step once; a torn stream is served up to its cut")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def post_json(port, path, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def check_sweep(exp_dir):
    """The HParams dashboard, as the server serves it, against summary.csv."""
    with open(os.path.join(exp_dir, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    logdir = os.path.join(exp_dir, "tensorboard")
    runs = [r["run"] for r in rows]
    server, port = serve(logdir, {r: ["final/mse"] for r in runs})
    try:
        experiment = post_json(port, "/data/plugin/hparams/experiment", {"experimentName": ""})
        hparams = [h["name"] for h in experiment["hparamInfos"]]
        metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
        assert all(h in rows[0] for h in hparams), (hparams, list(rows[0]))
        wanted = [m for m in rows[0] if "final/" + m in metrics]
        assert "mse" in wanted and len(wanted) == len(metrics), (wanted, metrics)
        for h in experiment["hparamInfos"]:
            domain = sorted(float(r[h["name"]]) for r in rows)
            assert sorted(set(domain)) == sorted(h["domainDiscrete"]), (h, domain)
        body = {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [{"hparam": h} for h in hparams]
            + [{"metric": {"group": "", "tag": m}} for m in metrics],
            "startIndex": 0,
            "sliceSize": 1000,
        }
        groups = post_json(port, "/data/plugin/hparams/session_groups", body)["sessionGroups"]
        assert sorted(g["name"] for g in groups) == sorted(runs), [g["name"] for g in groups]
        checked = 0
        for g in groups:
            (row,) = [r for r in rows if r["run"] == g["name"]]
            for h, v in g["hparams"].items():
                assert v == float(row[h]), (g["name"], h, v, row[h])
            values = {m["name"]["tag"]: m["value"] for m in g["metricValues"]}
            for m in wanted:
                want = float(row[m])
                assert math.isclose(values["final/" + m], want, rel_tol=1e-6, abs_tol=1e-9), (m, values, want)
                checked += 1
            assert [s["status"] for s in g["sessions"]] == ["STATUS_SUCCESS"], g["sessions"]
        print(f"hparams: {len(groups)} runs, {len(hparams)} swept keys and {checked} final "
              f"metrics served as summary.csv has them")
    finally:
        server.terminate()
        server.wait(timeout=30)


def check_live_resume(stream_dir, cwd, command):
    """A server started on a killed run's stream keeps serving it while the run is resumed
    (`command`, run in `cwd`); at the end it serves each step once, as the files now hold it."""
    logdir, run = os.path.split(os.path.abspath(stream_dir))
    server, port = serve(logdir, {run: ["step/loss"]})
    try:
        before = [s for s, _ in served_scalars(port, run, "step/loss")]
        env = {**os.environ, "RUST_LOG": "warn"}
        subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while "final/mse" not in get_json(port, "/data/plugin/scalars/tags").get(run, {}):
            assert time.time() < deadline, "the server never showed the resumed run's end"
            time.sleep(0.5)
        acc = accumulator(stream_dir)
        for name in acc.Tags()["scalars"]:
            got = served_scalars(port, run, name)
            steps = [s for s, _ in got]
            assert steps == sorted(set(steps)), f"live: {name} repeats steps: {steps}"
            want = [(e.step, e.value) for e in acc.Scalars(name)]
            assert got == want, f"live: {name} {got} != {want}"
        print(f"live: the server served steps {before[0]}..{before[-1]} of the killed run, then "
              f"the resumed run's {len(acc.Tags()['scalars'])} series with each step once")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    if sys.argv[1] == "--sweep":
        check_sweep(sys.argv[2])
        return
    if sys.argv[1] == "--live":
        stream_dir, cwd, sep = sys.argv[2:5]
        assert sep == "--"
        check_live_resume(stream_dir, cwd, sys.argv[5:])
        return
    whole, killed = sys.argv[1:3]
    acc, _ = check_reader(whole)
    check_reader(killed)
    check_server(whole, killed, acc)


if __name__ == "__main__":
    main()
