#!/usr/bin/env bash
# Regenerates the PyTorch reference of tests/fixtures/minilm-random and compares it with the
# committed one (or, with --write, replaces it). Needs Debian's python3-torch and python3-numpy
# (/usr/bin/python3) and a build with the tests on (for ragkit_make_test_model); CI needs neither,
# it only reads the committed reference.json.
#
#   tools/reference/check_fixture.sh [--write] [BUILD_DIR]     (BUILD_DIR default: build)
#
# Environment: RAGKIT_MODELS_DIR (default ../shared/models), PYTHON (default /usr/bin/python3).
set -euo pipefail

cd "$(dirname "$0")/../.."
write=0
if [ "${1:-}" = "--write" ]; then write=1; shift; fi
build_dir="${1:-build}"
models_dir="${RAGKIT_MODELS_DIR:-../shared/models}"
python="${PYTHON:-/usr/bin/python3}"
fixture=tests/fixtures/minilm-random
tool="$build_dir/tools/ragkit_make_test_model"

if [ ! -x "$tool" ]; then
  echo "check_fixture: build $tool first" \
    "(cmake --build $build_dir --target ragkit_make_test_model)" >&2
  exit 1
fi
if [ ! -d "$models_dir/all-MiniLM-L6-v2" ]; then
  echo "check_fixture: no $models_dir/all-MiniLM-L6-v2 (set RAGKIT_MODELS_DIR)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ragkit-fixture.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$tool" --source "$models_dir/all-MiniLM-L6-v2" --out "$work/model" --seed 42 --dtype F32
"$python" tools/reference/sentence_embedding_reference.py --model "$work/model" \
  --sentences "$fixture/sentences.json" --out "$work/reference.json" --name all-MiniLM-L6-v2-random

if [ "$write" = 1 ]; then
  cp "$work/reference.json" "$fixture/reference.json"
  echo "check_fixture: wrote $fixture/reference.json"
  exit 0
fi

# Numbers, not bytes: another torch build may round the last of the 9 digits differently.
"$python" - "$fixture/reference.json" "$work/reference.json" <<'EOF'
import json, sys
import numpy as np
old, new = (json.load(open(p, encoding="utf-8")) for p in sys.argv[1:3])
problems = []
if old["weights_sha256"] != new["weights_sha256"]:
    problems.append("the generated weights changed (weights_sha256 differs): random_model.cpp or "
                    "the safetensors writer changed what it writes")
if len(old["cases"]) != len(new["cases"]):
    problems.append("the number of cases differs")
for i, (a, b) in enumerate(zip(old["cases"], new["cases"])):
    for key in ("text", "ids", "n_tokens_full", "truncated"):
        if a[key] != b[key]:
            problems.append(f"case {i}: {key} differs")
    for key in ("mean", "mean_raw", "cls_raw", "last_raw"):
        x, y = np.array(a[key]), np.array(b[key])
        diff = np.abs(x - y).max() / max(1.0, np.abs(x).max())
        if diff > 1e-7:
            problems.append(f"case {i}: {key} differs by {diff:.1e}")
if problems:
    print("check_fixture: the committed reference is stale:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"check_fixture: reference.json matches ({len(new['cases'])} cases)")
EOF
