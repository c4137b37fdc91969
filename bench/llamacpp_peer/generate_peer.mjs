#!/usr/bin/env node
// The llama.cpp peer of `rag bench generate`: the same GGUF file, the same prompt token ids, the
// same number of threads, timed with llama.cpp itself (the prebuilt CPU build that the npm package
// node-llama-cpp ships; see README.md in this folder).
//
//   node generate_peer.mjs --model FILE.gguf --threads 2 --prompt-tokens 512 --decode-tokens 128 \
//       [--repeat 3] [--ctx N] [--kv-type f32|f16] [--print-prompt-ids] [--verbose]
//   node generate_peer.mjs --model FILE.gguf --threads 2 --greedy-check PROMPT_TEXT [--n-predict 20] [--json]
//
// Benchmark mode prints one JSON line on stdout (everything else goes to stderr).
//
// Prompt recipe (so that ragkit can feed the very same ids): N tokens,
//   id_0 = BOS                                   (id_0 = 3 if the model has no BOS token)
//   id_i = 3 + (i * 7919) % (n_vocab - 3)        for 1 <= i < N
// where n_vocab is the number of entries of the GGUF's tokenizer.ggml.tokens array
// (= llama_vocab_n_tokens). Ids 0..2 are skipped because in llama-family vocabularies they are
// <unk>, <s>, </s>.
//
// What is timed, per repeat (the KV cache is cleared between repeats; one untimed warm-up run of
// the same shape comes first):
//   prefill: ONE llama_decode of the N prompt tokens (n_batch = n_ubatch >= N, so a single
//            ubatch), logits requested for the last position only;
//   decode:  D greedy steps: the token chosen from the previous logits (argmax, lowest id on ties,
//            llama.cpp's greedy sampler; end-of-generation tokens do NOT stop the run) is fed
//            back with a 1-token llama_decode at positions N .. N+D-1. So the context needs
//            N + D cells.
// The rates come from llama.cpp's own perf counters (llama_perf_context: t_p_eval / n_p_eval for
// the prefill, t_eval / n_eval for the 1-token decodes), which time llama_decode + synchronize
// only: no JavaScript, no sampling. They are read by parsing llama_perf_context_print's output
// (node-llama-cpp's context.printTimings(), which also resets the counters). The wall-clock time
// measured in JavaScript around the same llama_decode calls (node-llama-cpp's decodeBatch: an
// N-API async worker, so it adds a thread hand-off of some tens of microseconds per call) is
// reported too, as wall_*.

import {getLlama, LlamaLogLevel} from "node-llama-cpp";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {fileURLToPath} from "node:url";

const PROMPT_STRIDE = 7919;
const FIRST_ID = 3;

function usage(message) {
    if (message) process.stderr.write(`generate_peer: ${message}\n`);
    process.stderr.write(
        "usage: node generate_peer.mjs --model FILE.gguf --threads N --prompt-tokens N --decode-tokens D\n" +
        "           [--repeat R (3)] [--ctx C (N + D)] [--kv-type f32|f16 (f32)] [--print-prompt-ids] [--verbose]\n" +
        "       node generate_peer.mjs --model FILE.gguf --threads N --greedy-check PROMPT_TEXT [--n-predict 20] [--json]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {repeat: 3, kvType: "f32", nPredict: 20, json: false, verbose: false, printPromptIds: false};
    const intOpt = (name, value, min) => {
        if (value === undefined) usage(`${name} needs a value`);
        if (!/^[0-9]+$/.test(value)) usage(`${name} must be a whole number, not "${value}"`);
        const n = Number(value);
        if (n < min) usage(`${name} must be at least ${min}`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => argv[++i];
        switch (a) {
            case "--model": opts.model = next(); break;
            case "--threads": opts.threads = intOpt(a, next(), 1); break;
            case "--prompt-tokens": opts.promptTokens = intOpt(a, next(), 1); break;
            case "--decode-tokens": opts.decodeTokens = intOpt(a, next(), 1); break;
            case "--repeat": opts.repeat = intOpt(a, next(), 1); break;
            case "--ctx": opts.ctx = intOpt(a, next(), 1); break;
            case "--kv-type": opts.kvType = (next() ?? "").toLowerCase(); break;
            case "--greedy-check": opts.greedyCheck = next(); if (opts.greedyCheck === undefined) usage(`${a} needs a value`); break;
            case "--n-predict": opts.nPredict = intOpt(a, next(), 1); break;
            case "--json": opts.json = true; break;
            case "--verbose": opts.verbose = true; break;
            case "--print-prompt-ids": opts.printPromptIds = true; break;
            case "-h": case "--help": usage(); break;
            default: usage(`unknown argument "${a}"`);
        }
    }
    if (!opts.model) usage("--model is required");
    if (!fs.existsSync(opts.model)) { process.stderr.write(`generate_peer: no such file: ${opts.model}\n`); process.exit(1); }
    if (opts.threads === undefined) usage("--threads is required (the benchmark never picks a thread count itself)");
    if (opts.greedyCheck === undefined) {
        if (opts.promptTokens === undefined) usage("--prompt-tokens is required");
        if (opts.decodeTokens === undefined) usage("--decode-tokens is required");
    }
    if (opts.kvType !== "f32" && opts.kvType !== "f16") usage("--kv-type must be f32 or f16");
    return opts;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

function nodeLlamaCppVersion() {
    const file = path.join(HERE, "node_modules", "node-llama-cpp", "package.json");
    return JSON.parse(fs.readFileSync(file, "utf8")).version;
}

// The prebuilt binary's own build metadata (which llama.cpp release it was compiled from).
function prebuiltBuildMetadata() {
    try {
        const file = path.join(HERE, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64",
                               "_nlcBuildMetadata.json");
        return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
        return null;
    }
}

// Which of the prebuilt ggml CPU backend variants (libggml-cpu-<microarchitecture>.so) ggml picked
// for this CPU: the one mapped into this process.
function loadedCpuBackend() {
    try {
        const maps = fs.readFileSync("/proc/self/maps", "utf8");
        const found = new Set();
        for (const m of maps.matchAll(/(libggml-cpu[^/\s]*\.so)/g)) found.add(m[1]);
        return found.size ? [...found].join(",") : null;
    } catch {
        return null;
    }
}

// A log sink: llama.cpp's log lines arrive through node-llama-cpp's logger, asynchronously.
class LogSink {
    constructor(verbose) { this.lines = []; this.verbose = verbose; }
    push(level, message) {
        for (const line of String(message).split("\n")) {
            this.lines.push(line);
            if (this.verbose) process.stderr.write(`[llama.cpp ${level}] ${line}\n`);
        }
    }
    // Waits (yielding to the event loop) until a line matching re shows up after index `from`.
    async waitFor(re, from, timeoutMs = 5000) {
        const t0 = Date.now();
        for (;;) {
            for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i])) return i;
            if (Date.now() - t0 > timeoutMs) return -1;
            await new Promise((r) => setTimeout(r, 1));
        }
    }
}

async function readPerf(context, sink) {
    // llama_perf_context_print + llama_perf_context_reset.
    const from = sink.lines.length;
    context._ctx.printTimings();
    const end = await sink.waitFor(/llama_perf_context_print:\s+graphs reused/, from);
    if (end < 0) throw new Error("llama_perf_context_print output did not arrive (log level must be info)");
    const text = sink.lines.slice(from, end + 1).join("\n");
    const pe = /prompt eval time =\s*([0-9.]+) ms \/\s*([0-9]+) tokens/.exec(text);
    const ev = /\beval time =\s*([0-9.]+) ms \/\s*([0-9]+) runs/.exec(text.replace(/prompt eval time[^\n]*/, ""));
    if (!pe || !ev) throw new Error(`cannot parse llama_perf_context_print output:\n${text}`);
    return {pEvalMs: Number(pe[1]), nPEval: Number(pe[2]), evalMs: Number(ev[1]), nEval: Number(ev[2])};
}

function median(values) {
    const s = [...values].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x, digits = 3) => Number(x.toFixed(digits));

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const sink = new LogSink(opts.verbose);

    // CPU only, prebuilt binary only: never build, never download (NoBinaryFoundError instead).
    const llama = await getLlama({
        gpu: false,
        build: "never",
        skipDownload: true,
        usePrebuiltBinaries: true,
        existingPrebuiltBinaryMustMatchBuildOptions: false,
        progressLogs: false,
        maxThreads: opts.threads,
        logLevel: LlamaLogLevel.info,
        logger: (level, message) => sink.push(level, message),
    });
    if (llama.gpu !== false) throw new Error(`expected the CPU build, got gpu=${llama.gpu}`);
    if (llama.buildType !== "prebuilt") throw new Error(`expected the prebuilt binary, got buildType=${llama.buildType}`);

    const model = await llama.loadModel({modelPath: opts.model, gpuLayers: 0, useMmap: true});
    const nVocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
    if (!nVocab || nVocab <= FIRST_ID) throw new Error("the model has no tokenizer.ggml.tokens array");
    const trainCtx = model.trainContextSize;
    const bos = model.tokens.bos;

    const nPrompt = opts.greedyCheck !== undefined ? null : opts.promptTokens;
    const promptIds = [];
    if (nPrompt !== null) {
        for (let i = 0; i < nPrompt; i++) {
            promptIds.push(i === 0 && bos != null ? bos : FIRST_ID + (i * PROMPT_STRIDE) % (nVocab - FIRST_ID));
        }
    } else {
        // llama_tokenize(add_special=true, parse_special=true): node-llama-cpp's tokenize is
        // common_tokenize(add_special=false, parse_special), so BOS/EOS are added here exactly
        // when the vocabulary asks for them (llama_vocab_get_add_bos / _add_eos).
        const text = opts.greedyCheck;
        const body = text === "" ? [] : Array.from(model.tokenize(text, true));
        if (model.tokens.shouldPrependBosToken) promptIds.push(bos);
        promptIds.push(...body);
        if (model.tokens.shouldAppendEosToken) promptIds.push(model.tokens.eos);
        if (promptIds.length === 0) throw new Error("the prompt has no tokens");
    }

    const nGen = opts.greedyCheck !== undefined ? opts.nPredict : opts.decodeTokens;
    const needed = promptIds.length + nGen;
    const ctxSize = opts.ctx ?? needed;
    if (ctxSize < needed) usage(`--ctx ${ctxSize} is smaller than prompt + decode tokens (${needed})`);
    if (needed > trainCtx) {
        process.stderr.write(`generate_peer: prompt + decode tokens (${needed}) exceed the model's context length ` +
                             `(${trainCtx}); use fewer tokens\n`);
        process.exit(1);
    }

    const kvGgml = opts.kvType.toUpperCase();
    const context = await model.createContext({
        contextSize: ctxSize,
        batchSize: promptIds.length,   // n_batch = n_ubatch = prompt length: the prefill is one ubatch
        sequences: 1,
        threads: {ideal: opts.threads, min: opts.threads},
        flashAttention: false,
        performanceTracking: true,     // no_perf = false: llama_perf_context counts
        experimentalKvCacheKeyType: kvGgml,
        experimentalKvCacheValueType: kvGgml,
        ignoreMemorySafetyChecks: true,
        failedCreationRemedy: false,
    });
    const ctx = context._ctx;          // node-llama-cpp's AddonContext: llama_decode on a batch we fill
    if (ctx.getThreads() !== opts.threads) throw new Error(`context runs ${ctx.getThreads()} threads, not ${opts.threads}`);
    ctx.setThreads(opts.threads);      // llama_set_n_threads(ctx, n, n): generation and batch threads

    const sampler = new llama._bindings.AddonSampler(model._model);
    sampler.applyConfig({temperature: 0});   // llama_sampler_init_greedy

    // The KV cache type llama.cpp really allocated ("llama_kv_cache: ... K (f32): ..., V (f32): ...").
    await sink.waitFor(/K \(([a-z0-9_]+)\):.*V \(([a-z0-9_]+)\)/, 0, 2000);
    const kvLine = sink.lines.find((l) => /K \(([a-z0-9_]+)\):.*V \(([a-z0-9_]+)\)/.test(l));
    let kvCacheType = null;
    if (kvLine) {
        const m = /K \(([a-z0-9_]+)\):.*V \(([a-z0-9_]+)\)/.exec(kvLine);
        kvCacheType = m[1] === m[2] ? m[1] : `K ${m[1]}, V ${m[2]}`;
    }
    const cpuBackend = loadedCpuBackend();

    // One prompt evaluation followed by nSteps greedy 1-token steps.
    // Returns the chosen tokens and the JS wall-clock time around the llama_decode calls.
    async function run(nSteps, stopOnEog) {
        ctx.disposeSequence(0);     // llama_memory_seq_rm(mem, 0, -1, -1): empty KV cache
        const chosen = [];
        ctx.initBatch(promptIds.length);
        const [logitIdx] = ctx.addToBatch(0, 0, Uint32Array.from(promptIds), Uint32Array.of(promptIds.length - 1));
        let t0 = process.hrtime.bigint();
        await ctx.decodeBatch();
        const prefillNs = Number(process.hrtime.bigint() - t0);
        let token = await ctx.sampleToken(logitIdx, sampler);
        chosen.push(token);
        let decodeNs = 0;
        for (let step = 0; step < nSteps; step++) {
            if (stopOnEog && model.isEogToken(token)) break;
            ctx.initBatch(1);
            const [idx] = ctx.addToBatch(0, promptIds.length + step, Uint32Array.of(token), Uint32Array.of(0));
            t0 = process.hrtime.bigint();
            await ctx.decodeBatch();
            decodeNs += Number(process.hrtime.bigint() - t0);
            token = await ctx.sampleToken(idx, sampler);
            chosen.push(token);
        }
        return {chosen, prefillNs, decodeNs};
    }

    const version = {
        peer: "llama.cpp",
        llama_cpp_version: `${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`,
        node_llama_cpp_version: nodeLlamaCppVersion(),
        build_type: llama.buildType,
    };

    if (opts.greedyCheck !== undefined) {
        // nPredict tokens: the first from the prompt's logits, then nPredict - 1 fed-back steps;
        // stops after an end-of-generation token (included), like the golden files.
        const {chosen} = await run(opts.nPredict - 1, true);
        if (opts.json) {
            process.stdout.write(JSON.stringify({...version, model: path.basename(opts.model), threads: opts.threads,
                kv_cache_type: kvCacheType, prompt: opts.greedyCheck, prompt_tokens: promptIds,
                greedy_tokens: chosen, stopped_on_eog: chosen.length < opts.nPredict}) + "\n");
        } else {
            process.stdout.write(chosen.join(" ") + "\n");
        }
        await context.dispose(); await model.dispose(); await llama.dispose();
        return;
    }

    if (opts.printPromptIds) process.stderr.write(`prompt ids: ${promptIds.join(" ")}\n`);

    // Warm-up (untimed): the same shape, so that graphs and buffers are allocated.
    await run(Math.min(opts.decodeTokens, 4), false);
    await readPerf(context, sink);   // discards and resets the counters

    const loadBefore = os.loadavg()[0];
    const runs = [];
    for (let r = 0; r < opts.repeat; r++) {
        const w = await run(opts.decodeTokens, false);
        const p = await readPerf(context, sink);
        if (p.nPEval !== promptIds.length || p.nEval !== opts.decodeTokens) {
            throw new Error(`perf counters saw ${p.nPEval} prompt tokens and ${p.nEval} decode runs, ` +
                            `expected ${promptIds.length} and ${opts.decodeTokens}`);
        }
        runs.push({
            prefill_tps: (p.nPEval * 1000) / p.pEvalMs,
            decode_tps: (p.nEval * 1000) / p.evalMs,
            wall_prefill_tps: (promptIds.length * 1e9) / w.prefillNs,
            wall_decode_tps: (opts.decodeTokens * 1e9) / w.decodeNs,
            prefill_ms: p.pEvalMs,
            decode_ms: p.evalMs,
        });
    }

    const out = {
        ...version,
        model: path.basename(opts.model),
        model_path: path.resolve(opts.model),
        threads: opts.threads,
        prompt_tokens: promptIds.length,
        decode_tokens: opts.decodeTokens,
        prefill_tokens_per_second: round(median(runs.map((r) => r.prefill_tps))),
        decode_tokens_per_second: round(median(runs.map((r) => r.decode_tps))),
        kv_cache_type: kvCacheType,
        repeat: opts.repeat,
        statistic: "median",
        timing_source: "llama_perf_context",
        prefill_tokens_per_second_best: round(Math.max(...runs.map((r) => r.prefill_tps))),
        decode_tokens_per_second_best: round(Math.max(...runs.map((r) => r.decode_tps))),
        wall_prefill_tokens_per_second: round(median(runs.map((r) => r.wall_prefill_tps))),
        wall_decode_tokens_per_second: round(median(runs.map((r) => r.wall_decode_tps))),
        runs: runs.map((r) => ({prefill_ms: round(r.prefill_ms), decode_ms: round(r.decode_ms)})),
        context_size: ctx.getContextSize(),
        batch_size: promptIds.length,
        flash_attention: false,
        n_vocab: nVocab,
        prompt_recipe: `id_0 = ${bos != null ? "BOS" : FIRST_ID}; id_i = ${FIRST_ID} + (i * ${PROMPT_STRIDE}) % (n_vocab - ${FIRST_ID})`,
        cpu_backend: cpuBackend,
        system_info: llama.systemInfo.trim(),
        // The machine's 1-minute load average before and after the timed runs: with more runnable
        // threads than cores, llama.cpp's spinning thread barriers make the figures meaningless.
        load_average_1m: [round(loadBefore, 2), round(os.loadavg()[0], 2)],
        cpu_cores: os.availableParallelism?.() ?? os.cpus().length,
        prebuilt_build: prebuiltBuildMetadata()?.buildOptions?.llamaCpp ?? null,
    };
    process.stdout.write(JSON.stringify(out) + "\n");

    sampler.dispose();
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((err) => {
    process.stderr.write(`generate_peer: ${err?.stack ?? err}\n`);
    process.exit(1);
});
