#!/usr/bin/env bash
# The ragkit demo (`make demo`): embeds a few sentences with `rag embed` and prints how similar
# each pair is (cosine similarity), so you can see related sentences land close together; then
# indexes the sample folder samples/handbook (`rag index`), searches it twice (`rag search`) and
# asks it a question (`rag ask`): extractively (the sources' best sentences), then with the tiny
# real generator stories260K when $RAGKIT_MODELS_DIR has it ($RAGKIT_DEMO_GENERATOR overrides).
#
# Model, in this order:
#   1. $RAGKIT_DEMO_MODEL, if set: any model `rag embed --model` accepts;
#   2. $RAGKIT_MODELS_DIR/all-MiniLM-L6-v2, if its model.safetensors is there;
#   3. otherwise a model with all-MiniLM-L6-v2's configuration and tokenizer but RANDOM weights,
#      generated into build/demo-model. It shows the pipeline working end to end, but its
#      similarities mean nothing; the script says so and how to get the real weights.
# RAGKIT_MODELS_DIR defaults to ../shared/models beside the repository when that exists.
# RAGKIT_BUILD_DIR (default: build) is where `make build` put bin/cli/rag.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${RAGKIT_BUILD_DIR:-$root/build}
rag=$build/cli/rag
weights_url=https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/model.safetensors

die() {
  echo "demo: $*" >&2
  exit 1
}

[ -x "$rag" ] || die "$rag is not built; run 'make demo' (or 'make build' first)"

if [ -z "${RAGKIT_MODELS_DIR:-}" ]; then
  if [ -d "$root/../shared/models" ]; then
    RAGKIT_MODELS_DIR=$(cd "$root/../shared/models" && pwd)
    echo "demo: RAGKIT_MODELS_DIR is not set; using $RAGKIT_MODELS_DIR"
  else
    die "RAGKIT_MODELS_DIR is not set and $root/../shared/models does not exist.
  Point RAGKIT_MODELS_DIR at a folder holding all-MiniLM-L6-v2/ (its config.json, vocab.txt and
  tokenizer files from https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2), or set
  RAGKIT_DEMO_MODEL to any model directory or .gguf file."
  fi
fi
minilm=$RAGKIT_MODELS_DIR/all-MiniLM-L6-v2

# The trained weights, pulled into the user's cache (~/.cache/ragkit/models) on a machine that
# reaches huggingface.co; RAGKIT_OFFLINE=1 skips the attempt.
cached_minilm=${XDG_CACHE_HOME:-$HOME/.cache}/ragkit/models/all-MiniLM-L6-v2
if [ -z "${RAGKIT_DEMO_MODEL:-}" ] && [ ! -f "$minilm/model.safetensors" ] &&
   [ ! -f "$cached_minilm/model.safetensors" ] && [ -z "${RAGKIT_OFFLINE:-}" ]; then
  echo "demo: fetching all-MiniLM-L6-v2 (90 MB) from the Hugging Face Hub into $cached_minilm"
  env -u RAGKIT_MODELS_DIR timeout 600 "$rag" models pull sentence-transformers/all-MiniLM-L6-v2 \
    >/dev/null || echo "demo: could not fetch it (offline?); going on without the trained weights"
fi

random_weights=0
if [ -n "${RAGKIT_DEMO_MODEL:-}" ]; then
  model=$RAGKIT_DEMO_MODEL
elif [ -f "$minilm/model.safetensors" ]; then
  model=$minilm
elif [ -f "$cached_minilm/model.safetensors" ]; then
  model=$cached_minilm
else
  [ -f "$minilm/config.json" ] ||
    die "$minilm/config.json not found; RAGKIT_MODELS_DIR must hold all-MiniLM-L6-v2/"
  maker=$build/tools/ragkit_make_test_model
  [ -x "$maker" ] || die "$maker is not built (it comes with the tests); run 'make build'"
  model=$build/demo-model
  # Regenerated every run (about a second) so it can never be stale against the generator.
  "$maker" --source "$minilm" --out "$model" --seed 42 >/dev/null
  random_weights=1
fi

sentences=(
  "How do I reset my password?"
  "I forgot my login credentials and need new ones."
  "The cat is sleeping on the warm windowsill."
  "A kitten naps in the afternoon sun."
  "Quarterly revenue grew by twelve percent."
  "Sales rose sharply in the last three months."
)

if [ "$random_weights" -eq 1 ]; then
  cat <<EOF
================================================================================================
 RANDOM WEIGHTS. There is no model.safetensors in
   $minilm
 so this demo runs a model with all-MiniLM-L6-v2's real configuration and tokenizer but random
 weights (generated into $model).
 Every step below is real (tokenizer, transformer, pooling, normalisation), but the similarity
 numbers are MEANINGLESS. For real ones, download the trained weights (90.9 MB, sha256 53aa5117...):

   mkdir -p ~/models && cp -r $minilm ~/models/ && chmod -R u+w ~/models/all-MiniLM-L6-v2
   curl -L -o ~/models/all-MiniLM-L6-v2/model.safetensors \\
     $weights_url
   RAGKIT_DEMO_MODEL=~/models/all-MiniLM-L6-v2 make demo

 (or put model.safetensors into $minilm itself, if you may write there).
================================================================================================

EOF
fi

echo "model: $model"
echo
echo "\$ rag tokenize --model MODEL --verbose \"${sentences[0]}\""
"$rag" tokenize --model "$model" --verbose "${sentences[0]}" | paste -sd' ' | sed 's/\t/:/g'
echo
echo "\$ rag embed --model MODEL \"${sentences[0]}\" ...   # one line of numbers per sentence"
vectors=$("$rag" embed --model "$model" "${sentences[@]}")
dim=$(head -n 1 <<<"$vectors" | wc -w)
echo "$(head -n 1 <<<"$vectors" | cut -d' ' -f1-6) ... ($dim numbers)"
echo

for i in "${!sentences[@]}"; do
  printf '  [%d] %s\n' "$((i + 1))" "${sentences[$i]}"
done
echo
echo "cosine similarity (1 = same direction, 0 = unrelated):"
# Each line of `rag embed` output is one vector; cosine = dot / (|a| |b|), computed in awk so the
# demo needs nothing beyond the rag binary and a POSIX shell.
awk '
  { n = NR; d = NF; for (j = 1; j <= NF; j++) v[NR, j] = $j }
  END {
    for (a = 1; a <= n; a++) {
      s = 0; for (j = 1; j <= d; j++) s += v[a, j] * v[a, j]; len[a] = sqrt(s)
    }
    printf "     "; for (b = 1; b <= n; b++) printf " %5s", "[" b "]"; printf "\n"
    best = -2
    for (a = 1; a <= n; a++) {
      printf " %4s", "[" a "]"
      for (b = 1; b <= n; b++) {
        s = 0; for (j = 1; j <= d; j++) s += v[a, j] * v[b, j]
        c = (len[a] > 0 && len[b] > 0) ? s / (len[a] * len[b]) : 0
        printf " %5.2f", c
        if (a < b && c > best) { best = c; ba = a; bb = b }
      }
      printf "\n"
    }
    printf "\nmost similar pair: [%d] and [%d] (%.2f)\n", ba, bb, best
  }' <<<"$vectors"

if [ "$random_weights" -eq 1 ]; then
  echo
  echo "(random weights: the numbers above say nothing about meaning; see the note at the top)"
fi

# --- Index the sample folder and search it -------------------------------------------------------
# samples/handbook holds four short documents the project wrote itself (text, Markdown, HTML and a
# two-page PDF made by tools/make_sample_pdf.py). The collection goes to $build/demo-db.
samples=$root/samples/handbook
db=$build/demo-db
rm -rf "$db"
echo
# Without trained weights the folder is indexed for words only (--model none): BM25 search and
# extractive answers are real; random-weight vectors would only add noise to them.
index_model=$model
[ "$random_weights" -eq 1 ] && index_model=none
echo "\$ rag index samples/handbook --db $db --model $([ "$index_model" = none ] && echo none || echo MODEL)"
"$rag" index "$samples" --db "$db" --model "$index_model"
for query in "how often are signing keys rotated" "what happened when the certificate expired"; do
  echo
  echo "\$ rag search \"$query\" --db $db -k 2"
  "$rag" search "$query" --db "$db" -k 2
done
if [ "$random_weights" -eq 1 ]; then
  echo "(no trained weights: these are BM25 results; with all-MiniLM-L6-v2's weights the search"
  echo " is hybrid, by meaning and by words)"
fi

# --- Ask it ------------------------------------------------------------------------------------
question="How often are the signing keys rotated?"
echo
echo "\$ rag ask \"$question\" --db $db --extractive"
"$rag" ask "$question" --db "$db" --extractive
generator=${RAGKIT_DEMO_GENERATOR:-$RAGKIT_MODELS_DIR/stories260K/stories260K.gguf}
if [ -f "$generator" ]; then
  echo
  echo "\$ rag ask \"$question\" --db $db --generator $generator --max-tokens 60"
  "$rag" ask "$question" --db "$db" --generator "$generator" --max-tokens 60 --temperature 0
  if [ -z "${RAGKIT_DEMO_GENERATOR:-}" ]; then
    echo "(stories260K is a 260K-parameter model that only knows children's stories: the answer"
    echo " is nonsense, but retrieval, the token budget, the prompt with numbered sources and the"
    echo " streaming are real. RAGKIT_DEMO_GENERATOR=path/to/SmolLM2-360M-Instruct-Q8_0.gguf"
    echo " make demo uses a real instruction-tuned model.)"
  fi
else
  echo "(no generator at $generator: set RAGKIT_DEMO_GENERATOR to a .gguf chat model to see a"
  echo " written answer)"
fi
