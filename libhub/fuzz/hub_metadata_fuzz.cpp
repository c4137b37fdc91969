// libFuzzer target for the Hub's metadata answer (GET /api/models/{repo}/revision/{rev}), bytes
// from the network: parse_repo_info must give a RepoInfo or an error for any input, without a
// crash, an uncaught exception, an out-of-bounds access (ASan) or undefined behaviour (UBSan).
// What it accepts must be safe to act on: every file name relative and inside the model folder,
// every hash of its kind's length, and the file selection must not fail in any other way.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ragkit/hub/hub_metadata.h"
#include "ragkit/hub/model_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ragkit::hub;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  ragkit::Result<RepoInfo> info = parse_repo_info(json, "fuzz");
  if (!info.ok()) return 0;
  if (info->commit.size() != 40) std::abort();
  for (const RepoFile& file : info->files) {
    // Each '/'-separated part must be a plain name: never empty, "." or "..".
    if (file.path.empty() || file.path.front() == '/') std::abort();
    size_t start = 0;
    while (start <= file.path.size()) {
      const size_t end = std::min(file.path.find('/', start), file.path.size());
      const std::string_view part(file.path.data() + start, end - start);
      if (part.empty() || part == "." || part == "..") std::abort();
      start = end + 1;
    }
    const size_t want = file.digest.kind == HashKind::kSha256 ? 64 : 40;
    if (file.digest.hex.size() != want) std::abort();
    if (info->find(file.path) == nullptr) std::abort();
  }
  (void)select_model_files(*info, {});
  (void)select_model_files(*info, {"*.gguf"});
  return 0;
}
