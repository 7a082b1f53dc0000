"""Rate-distortion on the MNIST test set: aekit's learned codec vs JPEG, WebP and PNG (Pillow).

    AEKIT_DATA_DIR=../shared/data python benchmarks/compression.py --model-dir runs/compression-models
    python benchmarks/compression.py --models "epochs=1,steps=1/2" --limit-train 5000 --limit-test 500 \
        --tag compression-quick                                                   # a quick check

Every codec codes each of the 10,000 test images (28x28 grey, uint8) as its own file / stream, and every
byte of it counts (headers, checksums). Quality is the per-image PSNR (peak 255) of the decoded uint8
image, averaged over the images, for every codec. aekit: one Compressor per ``--models`` spec (training
rate weight, size, fixed number of epochs on the 60,000 training images); each trained model gives one
point per quantisation step of its spec (tables refitted, network unchanged), optionally with
encoder-side refinement (``refine``). aekit's curve is the lower envelope over all its points.
The comparison with WebP interpolates both rate-distortion curves (their Pareto fronts,
linearly in PSNR); below WebP's lowest quality point WebP's smallest file is used, since WebP cannot go
smaller. Writes benchmarks/results/<tag>.md, .json and _rd.png.
"""
from __future__ import annotations

import argparse
import io
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS_DB = (20.0, 22.5, 25.0, 27.5, 30.0)


def psnr_per_image(ref: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """PSNR in dB (peak 255) of each uint8 image; identical images count as 100 dB."""
    err = ((ref.astype(np.float64) - rec.astype(np.float64)) ** 2).reshape(len(ref), -1).mean(1)
    return np.where(err > 0, 10 * np.log10(255.0 ** 2 / np.maximum(err, 1e-12)), 100.0)


def pillow_codec(images: np.ndarray, fmt: str, **options) -> tuple[float, float]:
    from PIL import Image

    sizes, recs = [], []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format=fmt, **options)
        data = buf.getvalue()
        sizes.append(len(data))
        recs.append(np.asarray(Image.open(io.BytesIO(data)).convert("L")))
    return float(np.mean(sizes)), float(np.mean(psnr_per_image(images, np.stack(recs))))


def pareto(points: list[dict]) -> list[dict]:
    """Points no other point beats in both bytes and PSNR, sorted by PSNR."""
    pts = sorted(points, key=lambda p: (p["bytes"], -p["psnr_db"]))
    front, best = [], -np.inf
    for p in pts:
        if p["psnr_db"] > best:
            front.append(p)
            best = p["psnr_db"]
    return front


def bytes_at(front: list[dict], db: float, *, floor_below: bool) -> float | None:
    """Bytes a codec needs for ``db`` (linear interpolation on its Pareto front). Below the front's lowest
    PSNR: its smallest size when ``floor_below`` (the codec cannot go smaller), else None."""
    q = np.array([p["psnr_db"] for p in front])
    b = np.array([p["bytes"] for p in front])
    if db < q[0]:
        return float(b[0]) if floor_below else None
    if db > q[-1]:
        return None
    return float(np.interp(db, q, b))


DEFAULT_MODELS = ("rate_weight=0.002,latent_dim=64,channels=32-64,epochs=8,steps=1.25/2/3.2/5/8/10;"
                  "rate_weight=0.002,latent_dim=64,channels=32-64,epochs=8,steps=0.6/0.8/1/1.6,refine=20;"
                  "rate_weight=0.001,latent_dim=96,channels=32-64,epochs=10,steps=0.6/0.8/1/1.3")


def parse_models(text: str) -> list[dict]:
    """``"rate_weight=0.002,latent_dim=64,channels=32-64,epochs=8,steps=1/2/4,refine=0; ..."`` -> one dict per
    model spec (a model may appear in several specs, e.g. with other steps or refine; it is trained once)."""
    models = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        spec = {"rate_weight": 0.002, "latent_dim": 64, "channels": [32, 64], "epochs": 8, "steps": [1.0],
                "refine": 0}
        for item in part.split(","):
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in spec:
                raise SystemExit(f"--models: unknown key {key!r} in {part!r} (keys: {', '.join(spec)})")
            if key in ("channels", "steps"):
                spec[key] = [int(v) for v in value.split("-")] if key == "channels" else \
                    [float(v) for v in value.split("/")]
            else:
                spec[key] = (float if key == "rate_weight" else int)(value)
        spec["name"] = (f"rw{spec['rate_weight']:g}-k{spec['latent_dim']}-c{'x'.join(map(str, spec['channels']))}"
                        f"-e{spec['epochs']}")
        models.append(spec)
    return models


def train_or_load(spec: dict, xtr, args, log):
    """The Compressor of one model spec: loaded from ``--model-dir`` when trained before with the same
    settings, else trained (fixed epochs) and saved there. Returns (codec, training seconds or nan)."""
    from aekit import Compressor, load

    codec = Compressor(latent_dim=spec["latent_dim"], rate_weight=spec["rate_weight"], epochs=spec["epochs"],
                       batch_size=args.batch_size, lr=args.lr, random_state=0,
                       model_params={"channels": spec["channels"], "components": 3})
    key = f"{spec['name']}-n{len(xtr)}"
    if key in _TRAINED:
        return _TRAINED[key]
    folder = None if args.model_dir is None else Path(args.model_dir) / key
    if folder is not None and (folder / "config.json").is_file():
        cached = load(folder)
        if cached.get_params() != {**codec.get_params(), "step": cached.step, "refine": cached.refine}:
            raise SystemExit(f"{folder} holds a model trained with other settings; remove it or pick "
                             "another --model-dir")
        timing = folder / "benchmark-training.json"  # written when the model was trained here
        train_s = json.loads(timing.read_text())["train_seconds"] if timing.is_file() else float("nan")
        log(f"loaded {folder} (trained before in {train_s:.0f} s)")
        _TRAINED[key] = cached, train_s
        return _TRAINED[key]
    t0 = time.perf_counter()
    codec.fit(xtr)
    train_s = time.perf_counter() - t0
    log(f"trained {spec['name']}: {codec.n_iter_} epochs in {train_s:.0f} s")
    if folder is not None:
        codec.save(folder)
        (folder / "benchmark-training.json").write_text(json.dumps({"train_seconds": train_s}))
    _TRAINED[key] = codec, train_s
    return _TRAINED[key]


_TRAINED: dict = {}


def pillow_points(xte, args, log) -> list[dict]:
    """PNG, WebP and JPEG points (kept in --model-dir/points like aekit's, when given)."""
    import PIL

    cache = None if args.model_dir is None else \
        Path(args.model_dir) / "points" / f"pillow-{PIL.__version__}-test{len(xte)}.json"
    if cache is not None and cache.is_file():
        points = [{**p, "reused": True} for p in json.loads(cache.read_text())]
        log(f"PNG, WebP, JPEG: measured before ({cache.name})")
        return points
    points = [{"codec": "PNG", "setting": "lossless, optimize=True",
               **dict(zip(("bytes", "psnr_db"), pillow_codec(xte, "PNG", optimize=True)))}]
    for q in (0, 5, 10, 20, 30, 50, 70, 90):
        b, db = pillow_codec(xte, "WEBP", quality=q, method=6)
        points.append({"codec": "WebP", "setting": f"quality={q}, method=6", "bytes": b, "psnr_db": db})
    for q in (5, 10, 20, 30, 50, 70, 90):
        b, db = pillow_codec(xte, "JPEG", quality=q, optimize=True)
        points.append({"codec": "JPEG", "setting": f"quality={q}, optimize=True", "bytes": b, "psnr_db": db})
    for p in points:
        p["bits_per_pixel"] = p["bytes"] * 8 / xte[0].size
        log(f"{p['codec']} {p['setting']}: {p['bytes']:.1f} B, {p['psnr_db']:.2f} dB")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(points, indent=1))
    return points


def run_aekit(xtr, xte, args, log) -> list[dict]:
    from aekit.codec import HEADER_BYTES

    points = []
    for spec in args.models:
        if args.points_only is not None and args.points_only not in spec["name"]:
            continue
        for step in spec["steps"]:
            setting = f"{spec['name']}, step={step:g}" + (f", refine={spec['refine']}" if spec["refine"] else "")
            cache = None if args.model_dir is None else Path(args.model_dir) / "points" / (
                f"{spec['name']}-n{len(xtr)}-step{step:g}-refine{spec['refine']}-tab{min(args.table_images, len(xtr))}"
                f"-test{len(xte)}.json")
            if cache is not None and cache.is_file():  # measured by this script before (see --points-only)
                p = json.loads(cache.read_text())
                p["reused"] = True
                points.append(p)
                log(f"aekit {p['setting']}: {p['bytes']:.1f} B, {p['psnr_db']:.2f} dB (measured before: {cache.name})")
                continue
            codec, train_s = train_or_load(spec, xtr, args, log)
            codec.set_params(step=step, refine=spec["refine"])
            codec.fit_tables(xtr[:args.table_images])
            t1 = time.perf_counter()
            codes = codec.transform(xte)
            streams = codec.encode_codes(codes)      # compress(xte), keeping the codes for the check below
            enc_s = time.perf_counter() - t1
            t1 = time.perf_counter()
            out = codec.decompress(streams)
            dec_s = time.perf_counter() - t1
            if not np.array_equal(out, codec.inverse_transform(codes)):
                raise AssertionError("decompress(compress(x)) differs from the decoded quantised code")
            rec = np.clip(np.round(out), 0, 255).astype(np.uint8)
            sizes = np.array([len(s) for s in streams])
            p = {"codec": "aekit", "setting": setting, "model": spec["name"], "refine": spec["refine"],
                 "rate_weight": spec["rate_weight"], "latent_dim": spec["latent_dim"], "channels": spec["channels"],
                 "step": step, "bytes": float(sizes.mean()), "psnr_db": float(psnr_per_image(xte, rec).mean()),
                 "bits_per_pixel": float(sizes.mean() * 8 / xte[0].size), "header_bytes": HEADER_BYTES,
                 "train_seconds": train_s, "encode_ms_per_image": 1e3 * enc_s / len(xte),
                 "decode_ms_per_image": 1e3 * dec_s / len(xte), "epochs": codec.n_iter_}
            points.append(p)
            log(f"aekit {p['setting']}: {p['bytes']:.1f} B, {p['psnr_db']:.2f} dB")
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps(p, indent=1))
    return points


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help="one model per ';'-separated spec: rate_weight, latent_dim, channels (32-64), epochs and "
                    "the quantisation steps it is evaluated at (1/2/4)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--table-images", type=int, default=20000,
                    help="the coding tables of each step are fitted on the first this many training images")
    ap.add_argument("--limit-train", type=int)
    ap.add_argument("--limit-test", type=int)
    ap.add_argument("--data-dir")
    ap.add_argument("--model-dir", help="keep each trained model here (a git-ignored folder such as "
                    "runs/compression-models) and reuse it on the next run, e.g. to try other --steps")
    ap.add_argument("--train-only", help="only train (or load) the models whose names contain this text and "
                    "save them to --model-dir, e.g. to train several models in parallel processes")
    ap.add_argument("--points-only", help="only measure the aekit points of the models whose names contain this "
                    "text (\"pillow\": also PNG, WebP and JPEG) and keep each in --model-dir/points (a later run "
                    "reuses them), e.g. to measure one model while another trains")
    ap.add_argument("--tag", default="compression")
    args = ap.parse_args(argv)
    args.models = parse_models(args.models)

    from aekit.data import load_dataset

    torch.set_num_threads(max(1, torch.get_num_threads()))
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:6.0f}s] {msg}", flush=True)

    ds = load_dataset("mnist", data_dir=args.data_dir)
    xtr = ds.train.X.reshape(-1, 28, 28).astype(np.uint8)[:args.limit_train]
    xte = ds.test.X.reshape(-1, 28, 28).astype(np.uint8)[:args.limit_test]
    log(f"MNIST: {len(xtr)} training, {len(xte)} test images")
    if args.train_only is not None:
        if args.model_dir is None:
            raise SystemExit("--train-only needs --model-dir")
        for spec in args.models:
            if args.train_only in spec["name"]:
                train_or_load(spec, xtr, args, log)
        return 0
    if args.points_only is not None:
        if args.model_dir is None:
            raise SystemExit("--points-only needs --model-dir")
        if args.points_only in ("pillow", "PNG"):
            pillow_points(xte, args, log)
        run_aekit(xtr, xte, args, log)
        return 0

    points = pillow_points(xte, args, log)
    points += run_aekit(xtr, xte, args, log)

    ae_front = pareto([p for p in points if p["codec"] == "aekit"])
    webp_front = pareto([p for p in points if p["codec"] == "WebP"])
    comparisons = []
    for db in TARGETS_DB:
        a = bytes_at(ae_front, db, floor_below=False)
        w = bytes_at(webp_front, db, floor_below=True)
        comparisons.append({"psnr_db": db, "aekit_bytes": a, "webp_bytes": w,
                            "ratio": None if a is None else a / w})
    grid = []  # the target holds "anywhere between 20 and 30 dB": the worst ratio on a 0.05 dB grid
    for db in np.round(np.arange(20.0, 30.0 + 1e-9, 0.05), 2):
        a = bytes_at(ae_front, float(db), floor_below=False)
        grid.append(None if a is None else (a / bytes_at(webp_front, float(db), floor_below=True), float(db)))
    worst = None if any(g is None for g in grid) else max(grid)
    worst = {"ratio": None, "psnr_db": None, "covered": False} if worst is None else \
        {"ratio": worst[0], "psnr_db": worst[1], "covered": True}
    for p in ae_front:
        w = bytes_at(webp_front, p["psnr_db"], floor_below=True)
        p["webp_bytes_same_psnr"] = w
        p["ratio_to_webp"] = None if w is None else p["bytes"] / w
    result = {"args": {k: v for k, v in vars(args).items()}, "n_train": len(xtr), "n_test": len(xte),
              "psnr": "per-image PSNR (peak 255) of the decoded uint8 image, averaged over the test images",
              "points": points, "aekit_front": [p["setting"] for p in ae_front], "comparisons": comparisons,
              "worst_ratio_20_30db": worst, "reused_points": sum(bool(p.get("reused")) for p in points),
              "seconds": time.perf_counter() - t_start, "torch": torch.__version__, "python": platform.python_version()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(result, indent=2))
    (RESULTS / f"{args.tag}.md").write_text(_markdown(result, ae_front))
    _plot(points, RESULTS / f"{args.tag}_rd.png")
    log(f"wrote {RESULTS / args.tag}.md/.json/_rd.png")
    return 0


def _fmt(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def _markdown(r, ae_front) -> str:
    a = r["args"]
    lines = [f"# Compression: rate-distortion on MNIST ({r['n_test']} test images, 28x28 grey)", "",
             f"`benchmarks/compression.py` (batch {a['batch_size']}, lr {a['lr']}, {r['n_train']} training images, "
             f"coding tables fitted on the first {min(a['table_images'], r['n_train'])}; "
             f"this run {r['seconds'] / 60:.1f} min on the 2-core machine"
             + (f", reusing {r['reused_points']} points measured before by this script and kept in --model-dir/points"
                if r.get("reused_points") else "") + "). aekit models (each a separate codec "
             "operating point, trained for a fixed number of epochs; its points vary the quantisation step, "
             "and `refine` is the number of encoder-side optimisation steps per image):", ""]
    seen = set()
    for m in a["models"]:
        lines.append(f"- `{m['name']}`: rate_weight {m['rate_weight']:g}, latent_dim {m['latent_dim']}, channels "
                     f"{m['channels']}, {m['epochs']} epochs; steps {m['steps']}, refine {m['refine']}"
                     + (" (same trained model as above)" if m["name"] in seen else ""))
        seen.add(m["name"])
    lines += ["", "Every item is its own file / stream and every byte counts (aekit: 9-byte header and checksum "
              "included). Quality: " + r["psnr"] + ", the same for every codec.", "",
             "## aekit vs WebP at equal PSNR", "",
             "| PSNR (dB) | aekit bytes | WebP bytes | aekit / WebP |", "|---:|---:|---:|---:|"]
    for c in r["comparisons"]:
        lines.append(f"| {c['psnr_db']:g} | {_fmt(c['aekit_bytes'])} | {_fmt(c['webp_bytes'])} | "
                     f"{_fmt(c['ratio'], '.3f')} |")
    w = r["worst_ratio_20_30db"]
    lines += ["", ("aekit's curve does not cover all of 20-30 dB." if not w["covered"] else
                   f"Largest aekit / WebP ratio anywhere in 20-30 dB (0.05 dB grid): **{w['ratio']:.3f}** at "
                   f"{w['psnr_db']:.2f} dB (target: at most 1/3 = 0.333).")]
    lines += ["", "Both curves are interpolated linearly in PSNR on their Pareto fronts (aekit's: the lower "
              "envelope over all its models and settings); below WebP's lowest quality (quality=0) WebP's "
              "smallest file is used (it cannot go smaller). — : out of aekit's range (in the last column: a "
              "point off aekit's front).", "",
              "## Every point", "", "| codec | setting | mean bytes | bits/pixel | mean PSNR (dB) | "
              "aekit / WebP at this PSNR |", "|---|---|---:|---:|---:|---:|"]
    for p in r["points"]:
        ratio = p.get("ratio_to_webp") if p["codec"] == "aekit" else None
        lines.append(f"| {p['codec']} | {p['setting']} | {p['bytes']:.1f} | {p['bits_per_pixel']:.3f} | "
                     f"{p['psnr_db']:.2f} | {_fmt(ratio, '.3f')} |")
    ae = [p for p in r["points"] if p["codec"] == "aekit"]
    if ae:
        trained = {p["model"]: p["train_seconds"] for p in ae}
        lines += ["", "aekit timings (secondary, machine shared with other jobs): training "
                  + ", ".join(f"{v:.0f} s ({k})" for k, v in trained.items())
                  + f"; encode {np.mean([p['encode_ms_per_image'] for p in ae]):.2f} ms and decode "
                  f"{np.mean([p['decode_ms_per_image'] for p in ae]):.2f} ms per image on average over the points "
                  "(batched network, one range-coded stream per image; encoding with refine takes longer, see "
                  "the JSON)."]
    lines += ["", "![rate-distortion](" + f"{Path(r['args']['tag']).name}_rd.png)", ""]
    return "\n".join(lines)


def _plot(points, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for codec, style in (("aekit", "o-"), ("WebP", "s-"), ("JPEG", "^-")):
        pts = [p for p in points if p["codec"] == codec]
        if codec == "aekit":
            pts = pareto(pts)
        pts.sort(key=lambda p: p["bytes"])
        ax.plot([p["bytes"] for p in pts], [p["psnr_db"] for p in pts], style, label=codec, ms=4)
    ax.set_xscale("log")
    ax.set_xlabel("mean bytes per image (every byte of the file / stream)")
    ax.set_ylabel("mean per-image PSNR (dB)")
    png = [p for p in points if p["codec"] == "PNG"]
    if png:  # lossless: infinite PSNR, so it is a vertical line rather than a point
        ax.axvline(png[0]["bytes"], color="grey", ls=":", label=f"PNG, lossless ({png[0]['bytes']:.0f} B)")
    ax.set_title("MNIST test set, 28x28 grey")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
