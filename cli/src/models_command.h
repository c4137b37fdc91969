// `rag models`: the models a user has and the ones they do not have yet.
//
//   rag models pull REPO[@REVISION] [--file PATTERN]...   download from the Hugging Face Hub into
//                                                          the cache (a known short name works too)
//   rag models list [--json]                               what the cache holds
//   rag models info MODEL [--json]                         one model's shape, tokenizer, template
//   rag models rm MODEL                                    remove a model from the cache
//
// The cache, the Hub's environment variables and the verification are libhub's
// (ragkit/hub/model_cache.h, hub_client.h). pull_into_cache() is also what resolve_model()
// (collection_util.h) calls when --model names a model the cache does not have.
#pragma once

#include <string>
#include <vector>

#include "cli_util.h"
#include "ragkit/common/status.h"

namespace ragkit::cli {

Command add_models_command(CLI::App& app);

// Pulls `repo` (org/name) at `revision` into the cache, showing progress on stderr (a bar on a
// terminal, a line per file otherwise). Returns the model's folder.
Result<std::string> pull_into_cache(const std::string& repo, const std::string& revision,
                                    const std::vector<std::string>& file_patterns);

// What to copy where when a pull cannot run (offline, no DNS, refused): the cache folder of
// `repo` and its files, one per line.
std::string manual_install_instructions(const std::string& repo);

}  // namespace ragkit::cli
