#!/usr/bin/python3
"""GPT-2's forward pass written from scratch: a reference for ragkit's gpt2 architecture.

It follows transformers' GPT2LMHeadModel (eager attention) and shares no code with ragkit: token
plus learned position embeddings; per block x += c_proj(attn(ln_1(x))), x += mlp(ln_2(x)) with
Conv1D linears (y = x @ W + b, W stored [in, out]), causal softmax(QK^T / sqrt(head_dim)),
"gelu_new" (the tanh approximation); then ln_f and the LM head tied to wte. float64 throughout.
Only torch-free numpy is needed, plus the safetensors reader of sentence_embedding_reference.py.

  /usr/bin/python3 gpt2_reference.py --model DIR --out R.json

The committed fixture came from the model tests build themselves (seed 42):
  build/tools/ragkit_make_test_model --arch gpt2 --out /tmp/gpt2-random
  /usr/bin/python3 tools/reference/gpt2_reference.py --model /tmp/gpt2-random \
      --out tests/fixtures/gpt2-random/reference.json

R.json: {"model", "weights_sha256", "cases": [{"ids", "last_logits", "argmax"}]} where argmax[i]
is the most likely next token after the prefix ids[:i+1] (every position checks the causal mask)
and last_logits are the full logits after the last id. Floats have 9 significant digits.
"""

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sentence_embedding_reference import read_safetensors  # noqa: E402

# Fixed inputs: short, medium and the whole 64-position context.
CASES = [
    [5, 17, 200, 3, 99, 511, 42],
    [i * 37 % 512 for i in range(1, 21)],
    [(i * i * 13 + 7) % 512 for i in range(64)],
]


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def forward(t, cfg, ids):
    d, n_head = cfg["n_embd"], cfg["n_head"]
    hd = d // n_head
    eps = cfg["layer_norm_epsilon"]
    g = lambda name: t["transformer." + name].astype(np.float64)  # noqa: E731
    n = len(ids)
    x = g("wte.weight")[ids] + g("wpe.weight")[:n]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        h = layer_norm(x, g(p + "ln_1.weight"), g(p + "ln_1.bias"), eps)
        qkv = h @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias")
        q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
        out = np.zeros((n, d))
        for head in range(n_head):
            s = slice(head * hd, (head + 1) * hd)
            scores = q[:, s] @ k[:, s].T / math.sqrt(hd) + mask
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            out[:, s] = scores @ v[:, s]
        x = x + out @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias")
        h = layer_norm(x, g(p + "ln_2.weight"), g(p + "ln_2.bias"), eps)
        h = gelu_new(h @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias"))
        x = x + h @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias")
    x = layer_norm(x, g("ln_f.weight"), g("ln_f.bias"), eps)
    return x @ g("wte.weight").T  # [n][vocab]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    weights_path = os.path.join(args.model, "model.safetensors")
    tensors, _ = read_safetensors(weights_path)
    with open(weights_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    cases = []
    for ids in CASES:
        logits = forward(tensors, cfg, ids)
        cases.append({
            "ids": ids,
            "last_logits": [float(f"{v:.9g}") for v in logits[-1]],
            "argmax": [int(a) for a in logits.argmax(-1)],
        })
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"model": "gpt2-random", "weights_sha256": sha, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
