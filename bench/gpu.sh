#!/usr/bin/env bash
# GPU readiness (issue 13, item 5): on a machine with a CUDA device, run the ensemble, barrier
# and landscape benchmarks there in under five minutes and write their figures to one file.
#
#     bench/gpu.sh                  # figures to docs/results/gpu.md
#     bench/gpu.sh /tmp/gpu.md      # … elsewhere
#
# Without a CUDA device it runs nothing: it says so on stderr and exits 0 (set GPU_REQUIRED=1 to
# exit 2 instead, for a job that must not pass without one). Each step has its own time limit
# (STEP_SECONDS, default 80) so that the whole stays under five minutes; a step that runs out of
# time is a line saying so, not a failure of the others. Steps:
#
#   1. host-device syncs: one training segment and one ensemble on CUDA under torch's sync
#      debug mode, counting the synchronizing calls per epoch (the hot loops copy nothing to
#      the host per step: the losses are checked once per epoch);
#   2. the ensemble: bench/bench_ensemble.py --device cuda (100 members, 20 epochs, against the
#      same runs one at a time on the GPU);
#   3. barriers: `catdsl run --device cuda` of examples/paper/homotopy_classes.cat (a 100-run
#      sweep and its homotopy classes: the barrier jobs);
#   4. landscapes: `catdsl run --device cuda` of
#      examples/paper/persistence_vs_generalization.cat (31 × 31 loss landscapes).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-docs/results/gpu.md}
STEP_SECONDS=${STEP_SECONDS:-80}

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "bench/gpu.sh: no CUDA device found (torch.cuda.is_available() is false here); nothing was run" >&2
    [ "${GPU_REQUIRED:-0}" = 1 ] && exit 2
    exit 0
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$(dirname "$OUT")"
{
    echo "# GPU figures"
    echo
    echo "Written by \`bench/gpu.sh\` on $(date -u +%Y-%m-%dT%H:%MZ):"
    "$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")'
    echo
} > "$OUT"

step() {  # step TITLE COMMAND...: run it with a time limit, its output and wall time into $OUT
    local title=$1
    shift
    echo "## $title" >> "$OUT"
    echo >> "$OUT"
    echo '```' >> "$OUT"
    local start=$SECONDS
    timeout "$STEP_SECONDS" "$@" > "$TMP/out" 2>&1
    local rc=$?
    tail -n 40 "$TMP/out" >> "$OUT"
    case $rc in
        0) echo "(done in $((SECONDS - start)) s)" >> "$OUT" ;;
        124) echo "(ran past $STEP_SECONDS s and was stopped)" >> "$OUT" ;;
        *) echo "(failed with exit $rc after $((SECONDS - start)) s)" >> "$OUT" ;;
    esac
    echo '```' >> "$OUT"
    echo >> "$OUT"
    echo "bench/gpu.sh: $title: exit $rc, $((SECONDS - start)) s" >&2
}

step "Host-device syncs per epoch (torch.cuda sync debug mode)" "$PY" - <<'PYTHON'
import warnings

import torch

from backends.torch.data import DataSpec, load_dataset
from backends.torch.ensemble import train_ensemble
from backends.torch.models import Linear, ReLU
from backends.torch.train import OptimizerSpec, init_state, train

data = load_dataset(DataSpec.of("digits"))
model = Linear(64, 32) >> ReLU() >> Linear(32, 10)
start = init_state(model, data.input_shape, 0)
epochs = 3
steps = epochs * -(-len(data.y_train) // 64)


def syncs(run) -> int:
    run()  # warm-up: kernels, caches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


for name, opt in (("sgd, momentum 0.9", OptimizerSpec("sgd", lr=0.05, momentum=0.9, epochs=epochs)),
                  ("adam", OptimizerSpec("adam", lr=1e-3, epochs=epochs))):
    one = syncs(lambda: train(start, model, data, opt, device="cuda"))
    many = syncs(lambda: train_ensemble([start] * 8, model, data, [opt.replace(seed=i) for i in range(8)],
                                        device="cuda"))
    print(f"{name}: train {one} syncs in {epochs} epochs ({steps} steps); "
          f"ensemble of 8 {many} syncs in {epochs} epochs")
PYTHON

step "Ensemble vs one at a time on the GPU" "$PY" bench/bench_ensemble.py --device cuda --members 100 --epochs 20 \
    --no-end-to-end --methods bmm,vmap

for example in homotopy_classes persistence_vs_generalization; do
    cp "examples/paper/$example.cat" "$TMP/$example.cat"
    step "catdsl run --device cuda examples/paper/$example.cat" "$PY" -c \
        'from catdsl.cli import entry; entry()' run "$TMP/$example.cat" --device cuda \
        --store "$TMP/store-$example"
done

echo "bench/gpu.sh: figures written to $OUT" >&2
