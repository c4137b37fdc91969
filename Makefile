# ragkit: the commands a developer and CI run. CMake does the building; this file only names the
# configurations (Release, ASan, fuzzing) and the order of steps, so that `make test` here and in
# .ci/run is one and the same thing.
#
#   make deps    install the Debian packages the build needs (apt-get; sudo when not root)
#   make build   Release build in build/ (BUILD=...)
#   make test    deps + build + every test (ctest)
#   make asan    deps + clang AddressSanitizer/UBSan build in build-asan/ + its tests
#   make fuzz    deps + the same build (its libFuzzer targets) + every fuzzer for FUZZ_SECONDS
#   make demo    deps + build + tools/demo.sh
#   make bench   build + `rag bench embed`
#   make bench-generate   build + `rag bench generate` (F32, Q8_0, Q4_K) beside llama.cpp
#   make bench-store      build + `rag bench store` (Flat, HNSW32, IVF4096,PQ48) beside bare FAISS
#   make bench-index      build + `rag index` over SciFact as a folder, and search latency per mode
#   make clean   remove the build folders

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Steps run in the order written even under `make -j`: deps before build before ctest.
.NOTPARALLEL:
# cmake --build runs make inside this make; keep its output free of "Entering directory" lines.
MAKEFLAGS += --no-print-directory

JOBS ?= $(shell nproc)
# Build folders; override to keep several checkouts' builds apart (make test BUILD=build-mine).
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_SECONDS ?= 60
CMAKE ?= cmake
CTEST ?= ctest

# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes for clang; libomp-dev: OpenMP for
# FAISS when building with clang; libgmock-dev: GTest's CMake package refers to gmock; chromium:
# the browser test of the service's web page (headless); wrk: `make bench-serve`'s load.
DEB_PACKAGES := build-essential cmake pkg-config clang libclang-rt-14-dev libomp-dev \
	libgtest-dev libgmock-dev libbenchmark-dev libicu-dev libopenblas-dev nlohmann-json3-dev \
	libcli11-dev libfaiss-dev librocksdb-dev libpoco-dev libstemmer-dev \
	libpoppler-cpp-dev libcmark-dev libgumbo-dev libxxhash-dev python3 wrk chromium

# Tests, the demo and the fuzzers read the shared data (models, tokenizers, golden outputs,
# datasets) through these variables. Set them to use other folders; unset, they point at
# ../shared beside the repository when it is there (a test that needs a missing one fails and
# names the variable).
export RAGKIT_MODELS_DIR ?= $(realpath $(CURDIR)/../shared/models)
export RAGKIT_TOKENIZERS_DIR ?= $(realpath $(CURDIR)/../shared/tokenizers)
export RAGKIT_GOLDEN_DIR ?= $(realpath $(CURDIR)/../shared/golden)
export RAGKIT_DATA_DIR ?= $(realpath $(CURDIR)/../shared/datasets)

# -g1: line tables and function names, what sanitizer and fuzzer reports print; full debug
# information costs a third more compile time in these builds.
ASAN_FLAGS := -O1 -g1
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps build test sanitized asan fuzz demo bench bench-generate bench-store bench-index \
	bench-serve clean

all: build

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null)" = "install ok installed" ] \
	    || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "make deps: all packages present"; exit 0; fi; \
	echo "make deps: installing$$missing"; \
	sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo="sudo"; fi; \
	$$sudo apt-get update; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

build:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build $(BUILD) -j$(JOBS)

test: deps build
	$(CTEST) --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# One clang build under AddressSanitizer + UBSan serves both `make asan` (the tests) and
# `make fuzz` (the libFuzzer targets): the libraries carry libFuzzer's coverage instrumentation
# everywhere, which the tests do not notice, and CI compiles the libraries once instead of twice.
# A build folder configured with another compiler (older checkouts used gcc) is started afresh.
sanitized: deps
	@if [ -f $(ASAN_BUILD)/CMakeCache.txt ] && \
	    ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' $(ASAN_BUILD)/CMakeCache.txt; then \
	  echo "make: $(ASAN_BUILD) was configured with another compiler; starting it afresh"; \
	  rm -rf $(ASAN_BUILD); \
	fi
	$(CMAKE) -S . -B $(ASAN_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=Debug -DRAGKIT_SANITIZE=ON -DRAGKIT_FUZZ=ON -DRAGKIT_BUILD_BENCH=OFF \
	  -DCMAKE_C_FLAGS_DEBUG="$(ASAN_FLAGS)" -DCMAKE_CXX_FLAGS_DEBUG="$(ASAN_FLAGS)"
	$(CMAKE) --build $(ASAN_BUILD) -j$(JOBS)

asan: sanitized
	$(ASAN_ENV) $(CTEST) --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

fuzz: sanitized
	FUZZ_SECONDS=$(FUZZ_SECONDS) tools/run_fuzzers.sh $(ASAN_BUILD)

demo: deps build
	RAGKIT_BUILD_DIR=$(abspath $(BUILD)) tools/demo.sh

# The figures of the embedding issue: a random-weight model with all-MiniLM-L6-v2's exact
# configuration (the real weights are not needed for speed), 2 threads, PyTorch side by side.
BENCH_MODEL ?= $(BUILD)/bench-minilm-random
BENCH_THREADS ?= 2
bench: build
	[ -f $(BENCH_MODEL)/model.safetensors ] || $(BUILD)/tools/ragkit_make_test_model \
	  --source "$(RAGKIT_MODELS_DIR)/all-MiniLM-L6-v2" --out $(BENCH_MODEL) --seed 42
	$(BUILD)/cli/rag --threads $(BENCH_THREADS) bench embed --model $(BENCH_MODEL)

# The figures of the generator issue: a random-weight llama model of SmolLM2-135M's shape (576
# wide, 30 layers, 9/3 heads, ffn 1536, StarCoder's 49,152-token vocabulary, tied embeddings) in
# F32, quantized by `rag quantize` to Q8_0 and Q4_K; llama.cpp (bench/llamacpp_peer, installed
# from npm once with `npm ci --prefix bench/llamacpp_peer`) runs the same files side by side.
BENCH_GEN_MODEL ?= $(BUILD)/bench-smollm2
# The KV cache type of both sides (f16: llama.cpp's default; f32: every bit).
BENCH_CACHE_TYPE ?= f16
bench-generate: build
	[ -f $(BENCH_GEN_MODEL)-F32.gguf ] || $(BUILD)/tools/ragkit_make_test_model --arch llama \
	  --source "$(RAGKIT_TOKENIZERS_DIR)/ggml-vocab-starcoder.gguf" --out $(BENCH_GEN_MODEL)-F32.gguf
	for t in Q8_0 Q4_K; do [ -f $(BENCH_GEN_MODEL)-$$t.gguf ] || $(BUILD)/cli/rag quantize \
	  $(BENCH_GEN_MODEL)-F32.gguf $(BENCH_GEN_MODEL)-$$t.gguf $$t > /dev/null; done
	for t in F32 Q8_0 Q4_K; do $(BUILD)/cli/rag --threads $(BENCH_THREADS) bench generate \
	  --model $(BENCH_GEN_MODEL)-$$t.gguf --cache-type $(BENCH_CACHE_TYPE); done

# The store issue's figures: random 384-dimensional unit vectors in Flat, HNSW32 and IVF4096,PQ48
# collections of 100k and 1M vectors beside bare FAISS indexes of the same types (long: building
# HNSW32 over 1M vectors takes a while on 2 cores). STORE_SIZES=100000 for the short run;
# STORE_DATA=anisotropic for vectors with a decaying spectrum, as text embeddings have.
STORE_SIZES ?= 100000,1000000
STORE_DATA ?= uniform
bench-store: build
	$(BUILD)/cli/rag --threads $(BENCH_THREADS) bench store --sizes $(STORE_SIZES) \
	  --data $(STORE_DATA)

# The indexing issue's figures: SciFact's 5,183 abstracts as a folder of text files, indexed end to
# end by `rag index` with the random-weight all-MiniLM-L6-v2 of `make bench` (documents/s,
# tokens/s, the share of time spent embedding), then `rag bench search`: the latency of SciFact's
# 1,109 queries on that collection, p50/p99 per mode.
bench-index: build
	[ -f $(BENCH_MODEL)/model.safetensors ] || $(BUILD)/tools/ragkit_make_test_model \
	  --source "$(RAGKIT_MODELS_DIR)/all-MiniLM-L6-v2" --out $(BENCH_MODEL) --seed 42
	[ -d $(BUILD)/bench-scifact ] || python3 tools/beir_to_folder.py \
	  "$(RAGKIT_DATA_DIR)/scifact/corpus.jsonl" $(BUILD)/bench-scifact
	rm -rf $(BUILD)/bench-scifact-db
	$(BUILD)/cli/rag --threads $(BENCH_THREADS) index $(BUILD)/bench-scifact \
	  --db $(BUILD)/bench-scifact-db --model $(BENCH_MODEL) --json
	$(BUILD)/cli/rag --threads $(BENCH_THREADS) bench search --db $(BUILD)/bench-scifact-db \
	  --queries "$(RAGKIT_DATA_DIR)/scifact/queries.jsonl"

# The service's figures: `rag serve` over samples/handbook indexed with the random-weight
# all-MiniLM-L6-v2 of `make bench`, loaded by wrk (2 threads, 100 connections, 60 s) with hybrid
# searches (tools/wrk_search.lua): p50/p99 latency and requests/s.
SERVE_PORT ?= 18080
bench-serve: build
	[ -f $(BENCH_MODEL)/model.safetensors ] || $(BUILD)/tools/ragkit_make_test_model \
	  --source "$(RAGKIT_MODELS_DIR)/all-MiniLM-L6-v2" --out $(BENCH_MODEL) --seed 42
	rm -rf $(BUILD)/bench-serve-db
	$(BUILD)/cli/rag --threads $(BENCH_THREADS) index samples/handbook \
	  --db $(BUILD)/bench-serve-db --model $(BENCH_MODEL) > /dev/null
	$(BUILD)/cli/rag --threads $(BENCH_THREADS) serve --db $(BUILD)/bench-serve-db \
	  --port $(SERVE_PORT) --http-threads 16 > $(BUILD)/bench-serve.log & pid=$$!; \
	for i in $$(seq 300); do grep -q listening $(BUILD)/bench-serve.log && break; sleep 0.1; done; \
	wrk -t2 -c100 -d60s -s tools/wrk_search.lua http://127.0.0.1:$(SERVE_PORT); status=$$?; \
	kill -TERM $$pid; wait $$pid; exit $$status

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
