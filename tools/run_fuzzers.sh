#!/usr/bin/env bash
# Runs every libFuzzer target built in a build folder (default build-asan) for FUZZ_SECONDS each,
# starting from a seed corpus of real inputs, and fails if any of them finds a crash, a leak or a
# hang. Used by `make fuzz`; run it by hand the same way:
#
#   FUZZ_SECONDS=300 tools/run_fuzzers.sh build-asan
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
#   text_analyzer_fuzz  the first 200 documents of $RAGKIT_DATA_DIR/scifact/corpus.jsonl and a
#                     few hand-written texts (scripts, punctuation, invalid UTF-8), one per file
#   markdown_loader_fuzz, html_loader_fuzz, pdf_loader_fuzz, chunker_fuzz
#                     small documents of their format written by python3 below (the PDFs with
#                     hand-computed xref offsets); chunker_fuzz's start with its 3 option bytes
#   hub_metadata_fuzz a few Hub metadata replies (api/models/.../revision/...?blobs=true) written
#                     by python3 below
#   anything else     starts from an empty corpus
# Reproducers are kept in <build>/fuzz-artifacts/ so a failure can be replayed:
#   <build>/.../gguf_fuzz <build>/fuzz-artifacts/gguf_fuzz-crash-<hash>
#
# Fuzzers that are not written yet are simply absent: the script runs whatever *_fuzz exists.
# FUZZ_JOBS (default: the number of cores) fuzzers run at once; each is single-threaded.
set -euo pipefail

build_dir=${1:-build-asan}
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

seed_texts() {  # $1: corpus folder
  python3 - "$1" "${RAGKIT_DATA_DIR:-}" <<'EOF'
import json, os, sys
out, data = sys.argv[1], sys.argv[2]
texts = [
    "Hello, world! It's 3.14 and 1,000 dogs (e.g. snake_case) -- ok?",
    "Stra\u00dfe STRASSE \u039f\u0394\u039f\u03a3 \u041c\u043e\u0441\u043a\u0432\u0430 John\u2019s",
    "\u5317\u4eac\u5927\u5b66\u7684\u5b66\u751f\u3002\u6771\u4eac\u30bf\u30ef\u30fc "
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "e\u0301te\u0301 \U0001F600 \u200d\u0301x",
]
for i, t in enumerate(texts):
    with open(os.path.join(out, "text-%02d" % i), "wb") as f:
        f.write(t.encode())
with open(os.path.join(out, "invalid-utf8"), "wb") as f:
    f.write(b"caf\xc3 ok\x80\xbfyes \xc0\xafno \xed\xa0\x80sur \xff\xfeend \xe2\x82")
corpus = os.path.join(data, "scifact", "corpus.jsonl")
if data and os.path.isfile(corpus):
    with open(corpus, encoding="utf-8") as lines:
        for i, line in enumerate(lines):
            if i == 200:
                break
            doc = json.loads(line)
            with open(os.path.join(out, "scifact-%03d" % i), "wb") as f:
                f.write((doc["title"] + " " + doc["text"]).encode())
else:
    print("run_fuzzers: warning: RAGKIT_DATA_DIR is not set or has no scifact corpus; "
          "its seeds are left out", file=sys.stderr)
EOF
}

seed_documents() {  # $1: corpus folder, $2: markdown | html | pdf | chunker
  python3 - "$1" "$2" <<'EOF'
import os, sys
out, kind = sys.argv[1], sys.argv[2]

def pdf(pages, title="Seed"):
    """A PDF with one Helvetica text page per entry; xref offsets computed here."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", None,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = ("BT /F1 12 Tf 14 TL 72 720 Td " +
                  " ".join("(%s) Tj T*" % line for line in text.split("\n")) + " ET").encode()
        kids.append(len(objs) + 1)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                    b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (len(objs) + 2))
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    objs.append(b"<< /Title (%s) >>" % title.encode())
    body, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (i + 1, o)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    body += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, len(objs), xref)
    return body

markdown = [
    b"# Install\n\nSome *emphasis* and a [link](http://example.org) here.\n\n## Linux\n\n"
    b"Run `make` &amp; wait. ![alt](i.png)\n\n```\nint x;\n```\n\n- one\n- two\n\n> quote\n",
    b"Title\n=====\n\n<div>html</div>\n\n1. a\n   * b\n\n    indented code\n\n---\n\xff\xfe bad\n",
]
html = [
    b"<!DOCTYPE html><html><head><title>T &amp; t</title><style>p{}</style>"
    b"<script>x=1</script></head><body><h1>Top</h1><p>Hello &amp; <b>world</b><br>next</p>"
    b"<h2>Sub</h2><ul><li>one<li>two</ul><pre>  code\n  more</pre><table><tr><td>c</table>",
    b"<p>unclosed <i>tags <div>and &notanentity; &#x1F600; \xc3( bad",
]
pdfs = [pdf(["Hello page one.\nStill page one.", "Second page."]), pdf([""])]
texts = [b"Mr. Smith went to Washington. He saw e.g. the monument.\n\nA new paragraph " * 8,
         b"x" * 300 + b" long word. " + b"word " * 100 + b"end.\n"]
# chunker_fuzz: byte 0 the loader, byte 1 the budget, byte 2 the overlap; then the file.
seeds = {"markdown": markdown, "html": html, "pdf": pdfs,
         "chunker": [bytes([0, 20, 0x81]) + texts[0], bytes([1, 7, 0x13]) + texts[1],
                     bytes([2, 30, 0xF1]) + markdown[0], bytes([3, 12, 0x42]) + html[0]]}[kind]
for i, s in enumerate(seeds):
    with open(os.path.join(out, "seed-%02d" % i), "wb") as f:
        f.write(s)
EOF
}

seed_hub_metadata() {  # $1: corpus folder
  python3 - "$1" <<'EOF'
import json, os, sys
replies = [
    {"id": "sentence-transformers/all-MiniLM-L6-v2", "sha": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
     "siblings": [{"rfilename": "config.json", "size": 612,
                   "blobId": "72b987fd805cfa2b58c4c8c952b274a11bfd5a00"},
                  {"rfilename": "model.safetensors", "size": 90868376,
                   "blobId": "a3d2a9c5e4f6b7c8d9e0f1a2b3c4d5e6f7a8b9c0",
                   "lfs": {"sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                           "size": 90868376}},
                  {"rfilename": "1_Pooling/config.json", "size": 190,
                   "blobId": "d1514c3162bbe87b343f565fadc62e6c06f04f03"}]},
    {"sha": "0" * 40, "siblings": []},
    {"sha": "abc", "siblings": [{"rfilename": "../escape", "size": -1}]},
]
for i, r in enumerate(replies):
    with open(os.path.join(sys.argv[1], "reply-%02d" % i), "w") as f:
        json.dump(r, f)
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
    text_analyzer_fuzz) seed_texts "$2" ;;
    markdown_loader_fuzz) seed_documents "$2" markdown ;;
    html_loader_fuzz) seed_documents "$2" html ;;
    pdf_loader_fuzz) seed_documents "$2" pdf ;;
    chunker_fuzz) seed_documents "$2" chunker ;;
    hub_metadata_fuzz) seed_hub_metadata "$2" ;;
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
      # The cause first: a CI log may keep only the start of this report, and the tail of a long
      # run is mostly progress lines.
      grep -m 12 -E "ERROR:|runtime error:|SUMMARY:|deadly signal|out-of-memory|timeout after" \
        "$log" | sed "s/^/  $name cause| /" || true
      grep -v -E "^[[:space:]]*NEW_FUNC|(NEW|REDUCE|pulse) +cov:" "$log" | tail -n 60 |
        sed "s/^/  $name| /"
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
