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
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}


# The model code is the reference's (tools/reference): one implementation of BERT's math, run
# here in float32 with PyTorch's own kernels, there in float64 as the test reference.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                                "reference"))
from sentence_embedding_reference import BertModel, load_config, read_safetensors  # noqa: E402


def read_model_weights(model_dir):
    """model.safetensors, or the shards of model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)[0]
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if not os.path.exists(index):
        sys.exit(f"torch_embed_peer: {model_dir} has no model.safetensors (the peer reads Hugging "
                 "Face model folders, not GGUF files)")
    with open(index, encoding="utf-8") as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for shard in shards:
        tensors.update(read_safetensors(os.path.join(model_dir, shard))[0])
    return tensors


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
