#!/usr/bin/env bash
# Runs every libFuzzer target built in a build folder (default build-fuzz) for FUZZ_SECONDS each,
# starting from a seed corpus of real inputs, and fails if any of them finds a crash, a leak or a
# hang. Used by `make fuzz`; run it by hand the same way:
#
#   FUZZ_SECONDS=300 tools/run_fuzzers.sh build-fuzz
#
# Seeds (built fresh in a temp folder, never written into the shared data):
#   gguf_fuzz         GGUF files under 1.5 MB from $RAGKIT_TOKENIZERS_DIR, $RAGKIT_GOLDEN_DIR and
#                     $RAGKIT_MODELS_DIR
#   wordpiece_fuzz    the test strings of $RAGKIT_TOKENIZERS_DIR/ggml-vocab-bert-bge.gguf.inp
#   token_decoder_fuzz  the test strings of $RAGKIT_TOKENIZERS_DIR/ggml-vocab-llama-spm.gguf.inp
#                     (it also reads the vocabularies themselves from $RAGKIT_TOKENIZERS_DIR)
#   generator_gguf_fuzz the header of a tiny llama GGUF the fuzzer builds from stories260K's
#                     vocabulary ($RAGKIT_MODELS_DIR) and writes itself
#   safetensors_fuzz  small safetensors files written by python3 below
#   anything else     starts from an empty corpus
# Reproducers are kept in <build>/fuzz-artifacts/ so a failure can be replayed:
#   <build>/.../gguf_fuzz <build>/fuzz-artifacts/gguf_fuzz-crash-<hash>
#
# Fuzzers that are not written yet are simply absent: the script runs whatever *_fuzz exists.
# FUZZ_JOBS (default: the number of cores) fuzzers run at once; each is single-threaded.
set -euo pipefail

build_dir=${1:-build-fuzz}
fuzz_seconds=${FUZZ_SECONDS:-60}
fuzz_jobs=${FUZZ_JOBS:-$(nproc)}

if [ ! -d "$build_dir" ]; then
  echo "run_fuzzers: no build folder '$build_dir';" \
    "run 'make fuzz' (or configure with -DRAGKIT_FUZZ=ON)" >&2
  exit 1
fi

mapfile -t fuzzers < <(find "$build_dir" -path '*/CMakeFiles' -prune -o \
                         -type f -name '*_fuzz' -perm -u+x -print | sort)
if [ ${#fuzzers[@]} -eq 0 ]; then
  echo "run_fuzzers: no *_fuzz binaries in $build_dir; nothing to run"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ragkit-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"
artifacts=$(cd "$artifacts" && pwd)

warn_missing() {  # $1: variable name
  echo "run_fuzzers: warning: $1 is not set or not a folder; its seeds are left out" >&2
}

seed_gguf() {  # $1: corpus folder
  local var dir
  for var in RAGKIT_TOKENIZERS_DIR RAGKIT_GOLDEN_DIR RAGKIT_MODELS_DIR; do
    dir=${!var:-}
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then warn_missing "$var"; continue; fi
    find "$dir" -type f -name '*.gguf' -size -1536k -exec cp {} "$1/" \;
  done
}

seed_vocab_strings() {  # $1: corpus folder, $2: vocabulary name; one file per test string
  local inp=${RAGKIT_TOKENIZERS_DIR:-}/ggml-vocab-$2.gguf.inp
  if [ ! -f "$inp" ]; then warn_missing RAGKIT_TOKENIZERS_DIR; return; fi
  # Strings are separated by a line "__ggml_vocab_test__"; the newline before each marker belongs
  # to the separator, not to the string.
  python3 - "$inp" "$1" <<'EOF'
import os, sys
text = open(sys.argv[1], "rb").read()
for i, s in enumerate(text.split(b"\n__ggml_vocab_test__\n")):
    with open(os.path.join(sys.argv[2], "inp-%03d" % i), "wb") as f:
        f.write(s)
EOF
}

seed_safetensors() {  # $1: corpus folder
  python3 - "$1" <<'EOF'
import json, os, struct, sys

def write(name, tensors, metadata=None, pad_to=8):
    """tensors: list of (name, dtype, shape, bytes) laid out back to back."""
    header, blobs, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for tname, dtype, shape, data in tensors:
        header[tname] = {"dtype": dtype, "shape": shape,
                         "data_offsets": [offset, offset + len(data)]}
        blobs += data
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % pad_to)  # the format pads the header with spaces
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blobs)

f32 = lambda *v: struct.pack("<%df" % len(v), *v)
f16 = lambda *v: struct.pack("<%de" % len(v), *v)
write("one-f32.safetensors", [("w", "F32", [2, 2], f32(1, -2, 3.5, 0))])
write("mixed.safetensors",
      [("embeddings.word_embeddings.weight", "F32", [4, 3], f32(*range(12))),
       ("encoder.layer.0.attention.self.query.bias", "F16", [3], f16(0.5, -1, 2)),
       ("pooler.dense.bias", "BF16", [2], b"\x80\x3f\x00\x40"),
       ("ids", "I64", [2], struct.pack("<2q", 7, -1))],
      metadata={"format": "pt"})
write("empty-tensor.safetensors", [("e", "F32", [0, 5], b"")])
write("scalar.safetensors", [("s", "F32", [], f32(42))])
write("no-tensors.safetensors", [], metadata={"format": "pt"})
EOF
}

seed_corpus() {  # $1: fuzzer name, $2: corpus folder, $3: fuzzer binary
  case "$1" in
    gguf_fuzz) seed_gguf "$2" ;;
    wordpiece_fuzz) seed_vocab_strings "$2" bert-bge ;;
    token_decoder_fuzz) seed_vocab_strings "$2" llama-spm ;;
    # The valid header of the tiny llama model the fuzzer builds itself (-runs=0: write and exit).
    generator_gguf_fuzz) RAGKIT_FUZZ_WRITE_SEED="$2" "$3" -runs=0 >/dev/null 2>&1 ;;
    safetensors_fuzz) seed_safetensors "$2" ;;
    *) ;;
  esac
}

run_one() {  # $1: fuzzer binary; writes $work/<name>.report, returns non-zero on a finding
  local fuzzer=$1 name corpus log report rc=0 found runs
  name=$(basename "$fuzzer")
  corpus="$work/corpus-$name"
  log="$work/$name.log"
  report="$work/$name.report"
  mkdir -p "$corpus"
  seed_corpus "$name" "$corpus" "$fuzzer" 2>>"$report"
  local n_seeds
  n_seeds=$(find "$corpus" -type f | wc -l)
  # -timeout: an input that takes 25 s is a hang worth reporting, not a slow case to wait out.
  "$fuzzer" "$corpus" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -max_len=65536 \
    -timeout=25 -artifact_prefix="$artifacts/$name-" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  found=$(grep -oE "Test unit written to [^ ]+" "$log" | sed 's/Test unit written to //' || true)
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    {
      echo "FAIL $name (exit code $rc)"
      tail -n 60 "$log" | sed "s/^/  $name| /"
      if [ -n "$found" ]; then
        echo "  reproducer: $found"
        echo "  replay:     $fuzzer $found"
      fi
    } >>"$report"
    return 1
  fi
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" || echo "?")
  echo "ok   $name: $runs inputs in ${fuzz_seconds}s from $n_seeds seed(s)" >>"$report"
}

# Waits for one background run and prints its report whole, so parallel runs never interleave.
collect() {  # $1: pid, $2: fuzzer name
  local rc=0
  wait "$1" || rc=$?
  cat "$work/$2.report"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

echo "run_fuzzers: ${#fuzzers[@]} fuzzer(s), ${fuzz_seconds}s each, $fuzz_jobs at a time"
failed=0
pids=()
names=()
for fuzzer in "${fuzzers[@]}"; do
  run_one "$fuzzer" &
  pids+=($!)
  names+=("$(basename "$fuzzer")")
  if [ ${#pids[@]} -ge "$fuzz_jobs" ]; then
    collect "${pids[0]}" "${names[0]}"
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  collect "${pids[$i]}" "${names[$i]}"
done

if [ "$failed" -ne 0 ]; then
  echo "run_fuzzers: $failed fuzzer(s) found a problem; reproducers are in $artifacts" >&2
  exit 1
fi
echo "run_fuzzers: all ${#fuzzers[@]} fuzzer(s) ran ${fuzz_seconds}s without a finding"
