#!/usr/bin/python3
"""Sentence embeddings the way sentence-transformers computes them, written from scratch.

An independent reference for ragkit's encoder: it shares no code with ragkit and uses neither
transformers, tokenizers nor safetensors, only torch and numpy (Debian's python3-torch and
python3-numpy, so run it with /usr/bin/python3). Its parts follow the libraries they stand for:

  * BertTokenizer: transformers' BasicTokenizer (clean text, space out CJK ideographs, NFC,
    whitespace split, lowercase, strip accents by NFD, split punctuation) and WordpieceTokenizer
    (greedy longest match, "##" continuations, [UNK] for words over 100 characters).
  * a safetensors reader (8-byte header length, JSON header, raw little-endian data).
  * BertModel's forward pass, eager attention: embeddings (word + position + token type 0) and
    LayerNorm, then post-norm blocks (self-attention with an additive padding mask, residual,
    LayerNorm; exact erf GELU feed-forward, residual, LayerNorm).
  * sentence-transformers' Transformer -> Pooling -> Normalize modules, configured by
    sentence_bert_config.json (max_seq_length), 1_Pooling/config.json and modules.json.

The math runs in float64 (weights cast up) so the reference is exact to far below the float32
rounding the C++ encoder is judged against; the sentences go through as one padded batch and are
checked against one-by-one runs, so the padding mask is tested too.

  /usr/bin/python3 sentence_embedding_reference.py --model DIR --sentences S.json --out R.json

S.json is a JSON list of strings (or {"sentences": [...]}). R.json:
  {"model", "seed", "weights_sha256", "sentence_transformers": {"max_seq_length", "pooling",
   "normalize"}, "cases": [{"text", "ids", "n_tokens_full", "truncated", "mean", "mean_raw",
   "cls_raw", "last_raw"}]}
"mean" is the L2-normalised mean pooling (the all-MiniLM-L6-v2 pipeline); the *_raw vectors are
unnormalised mean / first-token / last-token pooling. Floats have 9 significant digits.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# Tokenizer (transformers.models.bert.tokenization_bert, re-implemented)


def _is_whitespace(ch):
    return ch in (" ", "\t", "\n", "\r") or unicodedata.category(ch) == "Zs"


def _is_control(ch):
    # \t \n \r count as whitespace, not control.
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    # ASCII non-letters such as $ ^ ` are not Unicode P* but BERT splits them too.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk_ideograph(cp):
    # The CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul, which are written with
    # spaces or are split by WordPiece like any other script).
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


class BertTokenizer:
    """vocab.txt + tokenizer_config.json -> token ids with [CLS] ... [SEP]."""

    MAX_INPUT_CHARS_PER_WORD = 100

    def __init__(self, model_dir):
        self.vocab = {}
        with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
            for index, line in enumerate(f):
                self.vocab[line.rstrip("\n")] = index
        config = {}
        path = os.path.join(model_dir, "tokenizer_config.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        self.do_lower_case = config.get("do_lower_case", True)
        self.tokenize_chinese_chars = config.get("tokenize_chinese_chars", True)
        # None means "as do_lower_case".
        self.strip_accents = config.get("strip_accents", None)
        self.unk_token = config.get("unk_token", "[UNK]")
        self.cls_token = config.get("cls_token", "[CLS]")
        self.sep_token = config.get("sep_token", "[SEP]")
        self.pad_token = config.get("pad_token", "[PAD]")
        self.mask_token = config.get("mask_token", "[MASK]")
        self.special_tokens = [
            self.unk_token, self.sep_token, self.pad_token, self.cls_token, self.mask_token
        ]
        for token in self.special_tokens:
            if token not in self.vocab:
                raise ValueError(f"{model_dir}/vocab.txt lacks the special token {token}")

    # BasicTokenizer -------------------------------------------------------------------------

    def _clean_text(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            out.append(" " if _is_whitespace(ch) else ch)
        return "".join(out)

    def _space_cjk(self, text):
        out = []
        for ch in text:
            if _is_cjk_ideograph(ord(ch)):
                out.extend((" ", ch, " "))
            else:
                out.append(ch)
        return "".join(out)

    @staticmethod
    def _strip_accents(word):
        return "".join(ch for ch in unicodedata.normalize("NFD", word)
                       if unicodedata.category(ch) != "Mn")

    @staticmethod
    def _split_punctuation(word):
        pieces = []
        current = []
        for ch in word:
            if _is_punctuation(ch):
                if current:
                    pieces.append("".join(current))
                    current = []
                pieces.append(ch)
            else:
                current.append(ch)
        if current:
            pieces.append("".join(current))
        return pieces

    def basic_tokenize(self, text):
        text = self._clean_text(text)
        if self.tokenize_chinese_chars:
            text = self._space_cjk(text)
        # transformers normalises to NFC here so that composed and decomposed inputs split alike.
        text = unicodedata.normalize("NFC", text)
        words = []
        for word in text.split():
            if self.do_lower_case:
                word = word.lower()
                if self.strip_accents is not False:
                    word = self._strip_accents(word)
            elif self.strip_accents:
                word = self._strip_accents(word)
            words.extend(self._split_punctuation(word))
        return " ".join(words).split()

    # WordpieceTokenizer ---------------------------------------------------------------------

    def wordpiece(self, word):
        if len(word) > self.MAX_INPUT_CHARS_PER_WORD:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            match = None
            while start < end:
                candidate = word[start:end]
                if start > 0:
                    candidate = "##" + candidate
                if candidate in self.vocab:
                    match = candidate
                    break
                end -= 1
            if match is None:
                return [self.unk_token]  # one unknown piece makes the whole word [UNK]
            pieces.append(match)
            start = end
        return pieces

    # Whole pipeline -------------------------------------------------------------------------

    def _split_on_special_tokens(self, text):
        """Special tokens written in the text stay whole, as transformers' added-token trie does."""
        segments = [(text, False)]
        for token in self.special_tokens:
            next_segments = []
            for segment, is_special in segments:
                if is_special or token not in segment:
                    next_segments.append((segment, is_special))
                    continue
                parts = segment.split(token)
                for i, part in enumerate(parts):
                    if i > 0:
                        next_segments.append((token, True))
                    if part:
                        next_segments.append((part, False))
            segments = next_segments
        return segments

    def tokenize(self, text):
        tokens = []
        for segment, is_special in self._split_on_special_tokens(text):
            if is_special:
                tokens.append(segment)
                continue
            for word in self.basic_tokenize(segment):
                tokens.extend(self.wordpiece(word))
        return tokens

    def encode(self, text, max_length):
        """[CLS] pieces [SEP], the pieces cut to max_length - 2; also the untruncated length."""
        ids = [self.vocab[t] for t in self.tokenize(text)]
        n_full = len(ids) + 2
        ids = ids[: max(0, max_length - 2)]
        return [self.vocab[self.cls_token]] + ids + [self.vocab[self.sep_token]], n_full


# --------------------------------------------------------------------------------------------
# safetensors reader

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U8": np.uint8, "BOOL": np.bool_,
}


def read_safetensors(path):
    """Returns ({name: float32/float64/int numpy array}, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = data[base + begin : base + end]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            # bfloat16 is the top half of a float32.
            halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = halves.view(np.float32)
        else:
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]]).newbyteorder("<")
            array = np.frombuffer(raw, dtype=dtype)
        count = int(np.prod(shape)) if shape else 1
        if array.size != count:
            raise ValueError(f"{path}: {name} has {array.size} values for shape {shape}")
        tensors[name] = array.reshape(shape)
    return tensors, metadata


# --------------------------------------------------------------------------------------------
# BERT (the math of transformers' BertModel, eager attention)


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
    """Token states of a BERT encoder; load() maps Hugging Face tensor names onto it."""

    def __init__(self, config):
        super().__init__()
        self.config = config
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
        """Copies HF-named weights ("embeddings.*", "encoder.layer.N.*", with or without a
        "bert." prefix) into the module, cast to `dtype`; every parameter must be found."""
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
                value = torch.from_numpy(np.array(tensors[prefix + name], dtype=np.float64))
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
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are implemented")
    return config


# --------------------------------------------------------------------------------------------
# sentence-transformers modules


def sentence_transformers_config(model_dir, config):
    """max_seq_length, pooling mode and whether a Normalize module follows."""
    max_seq_length = config["max_position_embeddings"]
    path = os.path.join(model_dir, "sentence_bert_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            max_seq_length = json.load(f).get("max_seq_length", max_seq_length)
    pooling = "mean"
    path = os.path.join(model_dir, "1_Pooling", "config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            p = json.load(f)
        modes = [name for key, name in (("pooling_mode_cls_token", "cls"),
                                        ("pooling_mode_mean_tokens", "mean"),
                                        ("pooling_mode_max_tokens", "max"),
                                        ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
                                        ("pooling_mode_lasttoken", "last")) if p.get(key)]
        if len(modes) != 1:
            raise ValueError(f"{path}: exactly one pooling mode expected, got {modes}")
        pooling = modes[0]
    normalize = False
    path = os.path.join(model_dir, "modules.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            normalize = any(m.get("type", "").endswith("Normalize") for m in json.load(f))
    return {"max_seq_length": max_seq_length, "pooling": pooling, "normalize": normalize}


def pool_batch(states, mask):
    """states [b, s, h], mask [b, s] -> dict of [b, h] mean / first / last-token poolings.
    Mean is over every real token, [CLS] and [SEP] included, as sentence-transformers does."""
    m = mask.to(states.dtype).unsqueeze(-1)
    lengths = mask.sum(dim=1)
    mean = (states * m).sum(dim=1) / lengths.to(states.dtype).unsqueeze(-1)
    cls = states[:, 0]
    last = states[torch.arange(states.shape[0]), lengths - 1]
    return {"mean_raw": mean, "cls_raw": cls, "last_raw": last}


def embed(model, batch_ids):
    """Runs lists of ids as one right-padded batch; returns the poolings."""
    longest = max(len(ids) for ids in batch_ids)
    ids = torch.zeros((len(batch_ids), longest), dtype=torch.long)  # pad id 0 ([PAD])
    mask = torch.zeros((len(batch_ids), longest), dtype=torch.long)
    for i, row in enumerate(batch_ids):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    with torch.no_grad():
        return pool_batch(model(ids, mask), mask)


def _rounded(values):
    return [float(f"{v:.9g}") for v in values]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face model folder")
    parser.add_argument("--sentences", required=True, help="JSON list of strings")
    parser.add_argument("--out", required=True, help="where to write the reference JSON")
    parser.add_argument("--name", help="model name to record (default: the folder's name)")
    args = parser.parse_args(argv)

    torch.set_grad_enabled(False)
    config = load_config(args.model)
    st = sentence_transformers_config(args.model, config)
    tokenizer = BertTokenizer(args.model)
    weights_path = os.path.join(args.model, "model.safetensors")
    tensors, metadata = read_safetensors(weights_path)
    with open(weights_path, "rb") as f:
        weights_sha256 = hashlib.sha256(f.read()).hexdigest()
    model = BertModel(config).load(tensors, torch.float64).eval()

    with open(args.sentences, encoding="utf-8") as f:
        sentences = json.load(f)
    if isinstance(sentences, dict):
        sentences = sentences["sentences"]

    encoded = [tokenizer.encode(s, st["max_seq_length"]) for s in sentences]
    batch_ids = [ids for ids, _ in encoded]
    batched = embed(model, batch_ids)
    # One by one: padding must not change a single value beyond float64 rounding.
    for i, ids in enumerate(batch_ids):
        alone = embed(model, [ids])
        for key, value in alone.items():
            diff = (value[0] - batched[key][i]).abs().max().item()
            if diff > 1e-9:
                sys.exit(f"padding changed case {i} ({key}) by {diff}: the mask is broken")

    cases = []
    for i, (text, (ids, n_full)) in enumerate(zip(sentences, encoded)):
        mean_raw = batched["mean_raw"][i]
        cases.append({
            "text": text,
            "ids": ids,
            "n_tokens_full": n_full,
            "truncated": n_full > len(ids),
            "mean": _rounded(F.normalize(mean_raw, dim=0).tolist()),
            "mean_raw": _rounded(mean_raw.tolist()),
            "cls_raw": _rounded(batched["cls_raw"][i].tolist()),
            "last_raw": _rounded(batched["last_raw"][i].tolist()),
        })

    seed = metadata.get("ragkit_random_seed")
    header = {
        "model": args.name or os.path.basename(os.path.normpath(args.model)),
        "seed": int(seed) if seed is not None else None,
        "weights_sha256": weights_sha256,
        "generator": "reference: tools/reference/sentence_embedding_reference.py (float64, torch "
                     + torch.__version__ + ")",
        "sentence_transformers": st,
    }
    # One case per line keeps diffs of regenerated fixtures readable.
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("{\n")
        for key, value in header.items():
            f.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        f.write('"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases))
        f.write("\n]\n}\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()
