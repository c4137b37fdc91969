#!/bin/sh
# Runs the llama.cpp peer of `rag bench generate` (generate_peer.mjs) with the node-llama-cpp
# installed in this folder. All arguments go to generate_peer.mjs, e.g.
#
#   bench/llamacpp_peer/run.sh --model M.gguf --threads 2 --prompt-tokens 512 --decode-tokens 128
#
# Exit status: what generate_peer.mjs returns (0 ok, 1 error, 2 bad arguments), or 3 when node or
# the pinned node_modules are missing (the message names the command that installs them).
# Nothing is downloaded or built here; it runs offline once `npm ci` has been run.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
node=${NODE:-node}

if ! command -v "$node" >/dev/null 2>&1; then
    echo "llamacpp_peer: node not found (Node.js >= 20 is needed; Debian 12: /usr/bin/node)" >&2
    exit 3
fi
major=$("$node" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "llamacpp_peer: Node.js >= 20 is needed; $node is $("$node" --version)" >&2
    exit 3
fi

# The installed node-llama-cpp and its CPU binary must be the versions package.json pins.
if ! "$node" -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    const want = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).dependencies;
    for (const [name, version] of Object.entries(want)) {
        const file = path.join(dir, "node_modules", name, "package.json");
        if (!fs.existsSync(file) || JSON.parse(fs.readFileSync(file, "utf8")).version !== version) process.exit(1);
    }
' "$dir"; then
    echo "llamacpp_peer: node-llama-cpp is not installed in $dir/node_modules (or not the pinned version)." >&2
    echo "Install it from the lockfile (needs the npm registry once; afterwards everything runs offline):" >&2
    echo "  npm ci --prefix $dir" >&2
    exit 3
fi

# Belt and braces: the script itself asks for gpu=false, build="never", skipDownload=true.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
NODE_LLAMA_CPP_GPU=false
export NODE_LLAMA_CPP_SKIP_DOWNLOAD NODE_LLAMA_CPP_GPU

exec "$node" "$dir/generate_peer.mjs" "$@"
