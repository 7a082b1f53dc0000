"""Start-up time of the command line: wall seconds of ``aekit --help`` and ``aekit <cmd> --help``.

    python benchmarks/startup.py                                   # this checkout, 5 runs per command
    python benchmarks/startup.py --checkout ../before --tag startup-before

Each command runs ``--runs`` times in a fresh interpreter (the one that runs this script) as
``python -S -m aekit.cli``, with ``PYTHONPATH`` = the checkout, then this interpreter's site-packages: ``-S``
keeps an editable install of another checkout out of the way, so both checkouts are timed the same way.
The figure is the median wall time, with the peak
resident memory of the child (``wait4``'s ``ru_maxrss``) beside it. Writes benchmarks/results/<tag>.md and .json.
Run it alone: other jobs on the machine slow every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
COMMANDS = (["--help"], ["train", "--help"], ["fit", "--help"], ["detect", "--help"],
            ["restore", "--help"])


def time_once(argv: list[str], env: dict, checkout: str) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one ``python -m aekit.cli ARGV`` run in ``checkout`` (``-m`` puts
    the working directory first on the path)."""
    t0 = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-S", "-m", "aekit.cli", *argv], env=env, cwd=checkout,
                             stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"aekit {' '.join(argv)} exited {child.returncode}")
    return wall, usage.ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--checkout", default=str(Path(__file__).resolve().parents[1]),
                    help="the aekit checkout to time (default: this one)")
    ap.add_argument("--tag", default="startup")
    args = ap.parse_args(argv)
    import site

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(args.checkout).resolve()), *site.getsitepackages()])}
    rows = []
    for command in COMMANDS:
        time_once(command, env, args.checkout)  # warm the file cache
        runs = [time_once(command, env, args.checkout) for _ in range(args.runs)]
        walls = [w for w, _ in runs]
        rows.append({"command": "aekit " + " ".join(command), "median_s": statistics.median(walls),
                     "min_s": min(walls), "max_s": max(walls), "peak_mb": max(m for _, m in runs),
                     "runs": args.runs})
        print(f"{rows[-1]['command']:<24} median {rows[-1]['median_s']:.3f} s", file=sys.stderr)
    load = os.getloadavg()
    lines = [f"# Command-line start-up ({args.tag})", "",
             f"`python benchmarks/startup.py --tag {args.tag}` on {os.cpu_count()} cores, load average before the "
             f"end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; checkout {args.checkout}.", "",
             "| command | median (s) | min (s) | max (s) | peak memory (MB) | runs |", "|---|---|---|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} | {r['peak_mb']:.0f} "
              f"| {r['runs']} |" for r in rows]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"load_average": load, "rows": rows}, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
