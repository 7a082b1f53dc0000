#!/usr/bin/env bash
# Short benchmark check: the five benchmarks on a shortened, load-independent budget (fixed epochs / steps,
# no wall-clock budgets), to show that a change of the training core leaves their figures unchanged.
#
#   bash benchmarks/short_check.sh            # from a checkout root; about 10-15 min on the 2-core machine
#   PYTHON=/path/to/venv/bin/python bash benchmarks/short_check.sh   # another interpreter
#
# Runs the checkout's own aekit (PYTHONPATH=<checkout root>, checked before anything runs: an editable
# install of another checkout would otherwise be imported, since `python benchmarks/x.py` puts
# benchmarks/ rather than the root on sys.path). Torch runs on one thread (OMP_NUM_THREADS=1), so that the
# figures do not depend on the thread count and the run suffers less from a busy machine.
# Data: $AEKIT_DATA_DIR, default ../shared/data beside the checkout.
# Writes benchmarks/results/short-{reduction,anomaly-mnist,anomaly-adbench,restoration,compression}.md/.json
# (+ PNGs), short-check.log (commands, times) and short-figures.md (the key figures, full precision: diff
# it between two runs). Exit status: the number of failed steps.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
export PYTHONPATH="$ROOT" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONHASHSEED=0
export AEKIT_DATA_DIR="${AEKIT_DATA_DIR:-$ROOT/../shared/data}"
RES="$ROOT/benchmarks/results"
LOG="$RES/short-check.log"
mkdir -p "$RES"

# checked from / so that, as for `python benchmarks/x.py`, the current folder is not what finds aekit
found="$(cd / && "$PYTHON" -c 'import aekit, os; print(os.path.realpath(aekit.__file__))')" || exit 99
if [ "$found" != "$(realpath "$ROOT/aekit/__init__.py")" ]; then
    echo "aekit resolves to $found, not to this checkout ($ROOT); stopping" >&2
    exit 99
fi
{
    echo "# short_check.sh in $ROOT, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed file(s)"
    echo "python: $PYTHON ($("$PYTHON" -V 2>&1)); aekit: $found; AEKIT_DATA_DIR=$AEKIT_DATA_DIR; OMP_NUM_THREADS=1"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
} | tee "$LOG"

failed=0
step() {  # step NAME ARGS... : run one benchmark, log its command, output and wall time
    local name="$1"; shift
    echo "== $name: $*" | tee -a "$LOG"
    local t0=$SECONDS
    "$PYTHON" "$@" >"$RES/short-$name.out" 2>&1
    local rc=$?
    tail -n 25 "$RES/short-$name.out" >>"$LOG"
    echo "== $name: exit $rc, $((SECONDS - t0)) s wall" | tee -a "$LOG"
    [ $rc -eq 0 ] || failed=$((failed + 1))
}
T0=$SECONDS

# 1. reduction: PCA-32, aekit conv-32 and linear-32 for 1 epoch each (not a wall-clock budget), and
#    aekit's MLP racing to test MSE 0.0130 (fixed evaluation every 50 steps; the tutorial loops left out)
step reduction benchmarks/reduction.py --sizes 32 --epochs 1 --race-aekit-only --repeats 1 --tag short-reduction
# 2. one-class MNIST, digits 0 and 1, the benchmark's aekit configuration (20 epochs) and its peers
step anomaly-mnist benchmarks/anomaly.py --mnist --digits 0,1 --tag short-anomaly-mnist
# 3. ADBench, five small tables, seed 0, aekit's defaults (2000 steps minimum), without PyOD's AutoEncoder
step anomaly-adbench benchmarks/anomaly.py --adbench --datasets breastw,glass,Hepatitis,Pima,wine --seeds 0 \
    --skip-pyod-ae --tag short-anomaly-adbench
# 4. restoration: super-resolution x2 on MNIST (5 epochs on 6,000 digits, 1,000 test digits) vs bicubic
rm -f "$RES/short-restoration.json"   # the script merges sections into an existing JSON
step restoration benchmarks/restoration.py --only sr_mnist --tag short-restoration
# 5. compression: one Compressor (3 epochs on 5,000 training images) at one quantisation step, 500 test images
step compression benchmarks/compression.py --models "rate_weight=0.002,latent_dim=64,channels=32-64,epochs=3,steps=1" \
    --limit-train 5000 --limit-test 500 --tag short-compression

echo "== total: $((SECONDS - T0)) s wall, $failed failed step(s)" | tee -a "$LOG"

# the key figures at full precision, from the JSON files
"$PYTHON" - "$RES" <<'EOF' | tee "$RES/short-figures.md"
import json, sys
from pathlib import Path

res = Path(sys.argv[1])


def load(tag):
    p = res / f"short-{tag}.json"
    return json.loads(p.read_text()) if p.is_file() else None


print("# Short benchmark check: key figures\n")
r = load("reduction")
print("## reduction (MNIST, code size 32; test MSE per pixel)\n")
if r:
    for row in r["rows"]:
        extra = f", clipped {row['test_mse_clipped']:.8f}" if "test_mse_clipped" in row else ""
        print(f"- {row['method']}: test MSE {row['test_mse']:.8f}{extra}"
              + (f" ({row['epochs']} epochs)" if "epochs" in row else ""))
    for row in r["race"]:
        print(f"- race, {row['method']}: reached {row['reached']} after {row['epochs']} epochs, "
              f"final test MSE {row['final_test_mse']:.8f}")
else:
    print("- missing")
m = load("anomaly-mnist")
print("\n## one-class MNIST (ROC-AUC x100)\n")
if m:
    for row in m["rows"]:
        print(f"- digit {row['digit']}: " + ", ".join(f"{k} {row[k]:.4f}" for k in
                                                      ("aekit", "PCA-32", "IsolationForest", "PyOD AutoEncoder")))
else:
    print("- missing")
a = load("anomaly-adbench")
print("\n## ADBench, seed 0 (ROC-AUC x100 / AP x100)\n")
if a:
    names = [k for k in a["mean"] if not k.endswith(" AP")]
    for ds, t in a["per_dataset"].items():
        print(f"- {ds}: " + ", ".join(f"{k} {t[k]:.4f} / {t[k + ' AP']:.4f}" for k in names))
    print("- mean: " + ", ".join(f"{k} {a['mean'][k]:.4f} / {a['mean'][k + ' AP']:.4f}" for k in names))
else:
    print("- missing")
s = load("restoration")
print("\n## restoration, sr_mnist (PSNR dB / SSIM)\n")
if s and "sr_mnist" in s:
    for row in s["sr_mnist"]["rows"]:
        print(f"- {row['method']}: {row['psnr_db']:.4f} dB / {row['ssim']:.5f}")
    print(f"- gain {s['sr_mnist']['gain_db']:.4f} dB ({s['sr_mnist']['epochs']} epochs)")
else:
    print("- missing")
c = load("compression")
print("\n## compression (mean bytes / mean PSNR dB)\n")
if c:
    for p in c["points"]:
        if p["codec"] == "aekit" or p["setting"].startswith(("lossless", "quality=50")):
            print(f"- {p['codec']} {p['setting']}: {p['bytes']:.3f} B / {p['psnr_db']:.4f} dB"
                  + (f" ({p['epochs']} epochs)" if "epochs" in p else ""))
else:
    print("- missing")
EOF
exit $failed
