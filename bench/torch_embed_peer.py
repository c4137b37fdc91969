#!/usr/bin/python3
"""The PyTorch peer of `rag bench embed`: the same model, the same token ids, timed on the same
machine with the same number of threads.

It runs what sentence-transformers runs for a BERT embedding model, minus the tokenizer (ragkit
hands over the ids, [CLS] and [SEP] included, so tokenization cannot skew the comparison): inputs
sorted by length, batches of --batch right-padded with an attention mask, BertModel's forward in
float32 under torch.inference_mode(), mean pooling over the real tokens, L2 normalisation.

It needs torch and numpy only (Debian's python3-torch, python3-numpy: run it with
/usr/bin/python3). The BERT module is a float32 copy of the one in
tools/reference/sentence_embedding_reference.py (kept self-contained so the peer can be run from
anywhere); nn.Linear / nn.LayerNorm / nn.Embedding and the eager attention of transformers'
BertModel, so PyTorch's own kernels are what is measured.

  /usr/bin/python3 torch_embed_peer.py --model DIR --input IDS.jsonl --threads N --batch 32 \\
      --out RESULT.json

IDS.jsonl: one {"ids": [...]} per line. RESULT.json: {"passages", "tokens", "seconds",
"tokens_per_s", "passages_per_s", "peak_rss_mb", "threads", "batch", "torch_version"}; seconds
covers the whole pass after one warm-up batch (padding, forward, pooling), not loading.
"""

import argparse
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    header.pop("__metadata__", None)
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = data[base + begin : base + end]
        if info["dtype"] == "BF16":
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
            array = np.frombuffer(raw, dtype=dtype)
        tensors[name] = array.reshape(tuple(info["shape"]))
    return tensors


def read_model_weights(model_dir):
    """model.safetensors, or the shards of model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index):
        sys.exit(f"torch_embed_peer: {model_dir} has no model.safetensors (the peer reads Hugging "
                 "Face model folders, not GGUF files)")
    with open(index, encoding="utf-8") as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for shard in shards:
        tensors.update(read_safetensors(os.path.join(model_dir, shard)))
    return tensors


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids):  # ids [batch, seq] -> [batch, seq, hidden]
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = (self.word_embeddings(ids) + self.position_embeddings(positions)
             + self.token_type_embeddings(torch.zeros_like(ids)))
        return self.LayerNorm(x)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.n_heads = c["num_attention_heads"]
        self.head_dim = h // self.n_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attention_output = nn.Linear(h, h)
        self.attention_norm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.intermediate = nn.Linear(h, c["intermediate_size"])
        self.output = nn.Linear(c["intermediate_size"], h)
        self.output_norm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        if c.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {c['hidden_act']!r}: only exact (erf) gelu is "
                             "implemented")

    def _heads(self, x):  # [b, s, h] -> [b, heads, s, head_dim]
        b, s, _ = x.shape
        return x.view(b, s, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x, additive_mask):
        # x [b, s, h]; additive_mask [b, 1, 1, s]: 0 for real keys, dtype's min for padding.
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + additive_mask
        context = torch.matmul(torch.softmax(scores, dim=-1), v)  # [b, heads, s, head_dim]
        context = context.transpose(1, 2).reshape(x.shape)
        x = self.attention_norm(x + self.attention_output(context))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))


class BertModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config["num_hidden_layers"]))

    def forward(self, ids, mask):
        # ids, mask [b, s] (mask 1 for tokens, 0 for padding) -> states [b, s, hidden]
        x = self.embeddings(ids)
        additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, additive)
        return x

    def load(self, tensors, dtype):
        """Hugging Face names, with or without a "bert." prefix."""
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
        names = {
            "embeddings.word_embeddings.weight": self.embeddings.word_embeddings.weight,
            "embeddings.position_embeddings.weight": self.embeddings.position_embeddings.weight,
            "embeddings.token_type_embeddings.weight": self.embeddings.token_type_embeddings.weight,
            "embeddings.LayerNorm.weight": self.embeddings.LayerNorm.weight,
            "embeddings.LayerNorm.bias": self.embeddings.LayerNorm.bias,
        }
        for i, layer in enumerate(self.layers):
            p = f"encoder.layer.{i}."
            for hf, module in (
                ("attention.self.query", layer.query),
                ("attention.self.key", layer.key),
                ("attention.self.value", layer.value),
                ("attention.output.dense", layer.attention_output),
                ("attention.output.LayerNorm", layer.attention_norm),
                ("intermediate.dense", layer.intermediate),
                ("output.dense", layer.output),
                ("output.LayerNorm", layer.output_norm),
            ):
                names[p + hf + ".weight"] = module.weight
                names[p + hf + ".bias"] = module.bias
        with torch.no_grad():
            for name, param in names.items():
                if prefix + name not in tensors:
                    raise KeyError(f"tensor {prefix + name} is missing")
                value = torch.from_numpy(np.array(tensors[prefix + name], dtype=np.float32))
                if tuple(value.shape) != tuple(param.shape):
                    raise ValueError(f"{prefix + name}: shape {tuple(value.shape)}, "
                                     f"expected {tuple(param.shape)}")
                param.data = value.to(dtype)
        return self.to(dtype)


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    config.setdefault("type_vocab_size", 2)
    config.setdefault("layer_norm_eps", 1e-12)
    return config


def make_batch(rows):
    longest = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), longest), dtype=torch.long)  # pad id 0
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def embed_batch(model, rows):
    """Mean pooling over real tokens, then L2 normalisation: [len(rows), hidden]."""
    ids, mask = make_batch(rows)
    states = model(ids, mask)
    m = mask.unsqueeze(-1).to(states.dtype)
    mean = (states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
    return F.normalize(mean, p=2, dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face model folder (safetensors)")
    parser.add_argument("--input", required=True, help='JSONL of {"ids": [...]}')
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--embeddings-out", help="also write the vectors (JSON, input order)")
    args = parser.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)  # one forward at a time: no inter-op parallelism
    except RuntimeError:
        pass

    config = load_config(args.model)
    model = BertModel(config).load(read_model_weights(args.model), torch.float32).eval()

    inputs = []
    with open(args.input, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                inputs.append(json.loads(line)["ids"])
    if not inputs:
        sys.exit(f"torch_embed_peer: {args.input} has no inputs")
    limit = config["max_position_embeddings"]
    if any(len(ids) > limit for ids in inputs):
        sys.exit(f"torch_embed_peer: an input is longer than the {limit} positions of the model")

    # Sorted by length so each batch pads little, as sentence-transformers' encode() does.
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    batches = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
    vectors = [None] * len(inputs)
    with torch.inference_mode():
        embed_batch(model, [inputs[i] for i in batches[0]])  # warm-up: allocator, thread pool
        start = time.perf_counter()
        for batch in batches:
            out = embed_batch(model, [inputs[i] for i in batch])
            for row, i in enumerate(batch):
                vectors[i] = out[row]
        seconds = time.perf_counter() - start

    tokens = sum(len(ids) for ids in inputs)
    result = {
        "passages": len(inputs),
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "passages_per_s": len(inputs) / seconds,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "torch_version": torch.__version__,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    if args.embeddings_out:
        with open(args.embeddings_out, "w", encoding="utf-8") as f:
            json.dump([v.tolist() for v in vectors], f)
    print(f"torch {torch.__version__}: {len(inputs)} passages, {tokens} tokens in {seconds:.3f} s "
          f"({tokens / seconds:.0f} tokens/s, {torch.get_num_threads()} threads)", file=sys.stderr)


if __name__ == "__main__":
    main()
