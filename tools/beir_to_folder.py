#!/usr/bin/env python3
"""Writes a BEIR corpus.jsonl as a folder of text files, one per document ("<_id>.txt" holding
the title, a blank line and the text), so `rag index` can be measured end to end on it
(`make bench-index`).

    python3 tools/beir_to_folder.py CORPUS.jsonl OUT_DIR
"""
import json
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    corpus, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    n = 0
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            doc = json.loads(line)
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(doc["_id"]))
            with open(os.path.join(out, name + ".txt"), "w", encoding="utf-8") as g:
                g.write(doc.get("title", "") + "\n\n" + doc.get("text", "") + "\n")
            n += 1
    print(f"{n} documents in {out}")


if __name__ == "__main__":
    main()
