#include "models_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collection_util.h"
#include "ragkit/embed/bpe_tokenizer.h"
#include "ragkit/embed/chat_template.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/spm_tokenizer.h"
#include "ragkit/embed/wordpiece_tokenizer.h"
#include "ragkit/hub/hub_client.h"
#include "ragkit/hub/model_cache.h"

namespace ragkit::cli {
namespace {

namespace fs = std::filesystem;
// Keys in the order written: `info` reads top-down from name to chat template.
using Json = nlohmann::ordered_json;

// "90.9 MB": decimal units, as the Hub shows sizes.
std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000.0 && unit + 1 < std::size(units)) {
    value /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return buf;
}

// "22.7M" parameters.
std::string human_count(uint64_t n) {
  char buf[32];
  if (n >= 1'000'000'000) {
    std::snprintf(buf, sizeof(buf), "%.2fB", static_cast<double>(n) / 1e9);
  } else if (n >= 1'000'000) {
    std::snprintf(buf, sizeof(buf), "%.1fM", static_cast<double>(n) / 1e6);
  } else if (n >= 1'000) {
    std::snprintf(buf, sizeof(buf), "%.1fK", static_cast<double>(n) / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(n));
  }
  return buf;
}

void print_json(const Json& j) {
  const std::string text = j.dump(2, ' ', false, Json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

// Download progress on stderr: a redrawn bar on a terminal (at most ten times a second), one
// line per finished file otherwise (logs, CI).
class ProgressPrinter {
 public:
  ProgressPrinter() : terminal_(isatty(STDERR_FILENO) != 0) {}

  void update(std::string_view file, uint64_t done, uint64_t total) {
    const bool finished = done >= total;
    if (!terminal_) {
      if (finished) {
        std::fprintf(stderr, "rag: fetched %.*s (%s)\n", static_cast<int>(file.size()), file.data(),
                     human_bytes(total).c_str());
      }
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!finished && file == current_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    current_ = file;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / total;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '-');
    std::fprintf(stderr, "\r  %-36.36s %10s / %-10s [%s] %3d%%", current_.c_str(),
                 human_bytes(done).c_str(), human_bytes(total).c_str(), bar.c_str(),
                 static_cast<int>(fraction * 100));
    if (finished) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool terminal_;
  std::string current_;
  std::chrono::steady_clock::time_point last_draw_;
};

Result<hub::PullResult> pull_with_progress(const std::string& repo, const std::string& revision,
                                           const std::vector<std::string>& file_patterns) {
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<hub::HubClient> client, hub::HubClient::create());
  auto progress = std::make_shared<ProgressPrinter>();
  hub::PullOptions options;
  options.revision = revision;
  options.file_patterns = file_patterns;
  options.progress = [progress](std::string_view file, uint64_t done, uint64_t total) {
    progress->update(file, done, total);
  };
  options.on_skipped = [](std::string_view file) {
    std::fprintf(stderr, "rag: %.*s is up to date\n", static_cast<int>(file.size()), file.data());
  };
  if (!client->options().environment.offline) {
    std::fprintf(stderr, "rag: pulling %s@%s from %s into %s\n", repo.c_str(), revision.c_str(),
                 client->options().environment.endpoint.c_str(),
                 (options.cache_dir / hub::model_name_for_repo(repo)).string().c_str());
  }
  Result<hub::PullResult> pulled = hub::pull_model(*client, repo, options);
  if (!pulled.ok()) return pulled.status();
  std::fprintf(stderr, "rag: %s at commit %.12s: %zu files fetched (%s), %zu already here\n",
               repo.c_str(), pulled->record.commit.c_str(), pulled->downloaded,
               human_bytes(pulled->bytes_downloaded).c_str(), pulled->skipped);
  return pulled;
}

// REPO[@REVISION] or a known short name, with the known model's --file patterns.
struct PullTarget {
  std::string repo, revision = "main";
  std::vector<std::string> patterns;
};

Result<PullTarget> parse_pull_target(const std::string& spec,
                                     const std::vector<std::string>& patterns) {
  PullTarget target;
  const size_t at = spec.find('@');
  target.repo = spec.substr(0, at);
  if (at != std::string::npos) target.revision = spec.substr(at + 1);
  if (target.revision.empty()) return Status::invalid_argument("'" + spec + "': empty revision");
  target.patterns = patterns;
  if (!hub::is_repo_id(target.repo)) {
    const hub::KnownModel* known = hub::find_known_model(target.repo);
    if (known == nullptr) {
      std::string names;
      for (const hub::KnownModel& m : hub::known_models())
        names += std::string(" ") + std::string(m.name);
      return Status::invalid_argument("'" + target.repo +
                                      "' is neither a Hub repo (org/name) nor a model ragkit "
                                      "knows by name (" +
                                      names.substr(1) + ")");
    }
    target.repo = std::string(known->repo);
    if (target.patterns.empty()) {
      target.patterns.assign(known->file_patterns.begin(), known->file_patterns.end());
    }
  }
  return target;
}

Json record_json(const hub::SourceRecord& record) {
  Json files = Json::array();
  for (const hub::RepoFile& f : record.files) {
    files.push_back({{"path", f.path},
                     {"size", f.size},
                     {"hash_kind", hub::hash_kind_name(f.digest.kind)},
                     {"hash", f.digest.hex}});
  }
  return {{"repo", record.repo},
          {"revision", record.revision},
          {"commit", record.commit},
          {"files", files}};
}

int run_pull(const std::string& spec, const std::vector<std::string>& patterns, bool json) {
  Result<PullTarget> target = parse_pull_target(spec, patterns);
  if (!target.ok()) return report_error(target.status());
  Result<hub::PullResult> pulled =
      pull_with_progress(target->repo, target->revision, target->patterns);
  if (!pulled.ok()) {
    if (pulled.status().code() != Status::Code::kIOError) return report_error(pulled.status());
    return report_error(pulled.status().message() + "\n" +
                        manual_install_instructions(target->repo));
  }
  if (json) {
    Json j = record_json(pulled->record);
    j["name"] = pulled->model_dir.filename().string();
    j["path"] = pulled->model_dir.string();
    j["downloaded"] = pulled->downloaded;
    j["skipped"] = pulled->skipped;
    j["bytes_downloaded"] = pulled->bytes_downloaded;
    print_json(j);
  } else {
    std::printf("%s\n", pulled->model_dir.string().c_str());
  }
  return finish_output();
}

const char* tokenizer_kind(const embed::Tokenizer& tokenizer) {
  if (dynamic_cast<const embed::WordPieceTokenizer*>(&tokenizer)) return "wordpiece";
  if (dynamic_cast<const embed::SpmTokenizer*>(&tokenizer)) return "sentencepiece";
  if (dynamic_cast<const embed::BpeTokenizer*>(&tokenizer)) return "byte-level-bpe";
  return "other";
}

// Model::load with stray exceptions turned into a Status (a listing must go on past a broken
// folder).
Result<std::unique_ptr<embed::Model>> load_model(const std::string& path) {
  try {
    return embed::Model::load(path);
  } catch (const std::exception& e) {
    return Status::internal(path + ": " + e.what());
  }
}

// What `rag models info --json` prints; `list` shows a few of these.
Json describe_model(const embed::Model& model) {
  const embed::ModelConfig& c = model.config();
  const bool generator = model.arch().mask == embed::AttentionMask::kCausal;
  Json j = {
      {"name", fs::is_directory(model.path()) ? fs::path(model.path()).filename().string()
                                              : fs::path(model.path()).stem().string()},
      {"path", model.path()},
      {"format", model.format()},
      {"architecture", std::string(model.arch().name)},
      {"kind", generator ? "generator" : "encoder"},
      {"parameters", model.n_params()},
      {"dtype", model.weight_type()},
      {"dimensions", c.n_embd},
      {"layers", c.n_layer},
      {"heads", c.n_head},
      {"kv_heads", c.n_head_kv},
      {"feed_forward", c.n_ff},
      {"vocab", c.n_vocab},
      {"tokenizer", tokenizer_kind(model.tokenizer())},
      {"context_length", c.n_ctx_train},
  };
  if (generator) {
    j["chat_template"] =
        model.chat_template().empty()
            ? "none"
            : embed::chat_template_name(embed::detect_chat_template(model.chat_template()));
  } else {
    const std::optional<embed::Pooling> pooling = model.declared_pooling();
    j["pooling"] = pooling ? embed::pooling_name(*pooling) : "mean (not declared)";
    j["normalize"] = model.declared_normalize().value_or(false);
    if (model.declared_max_seq_length()) {
      j["max_seq_length"] = *model.declared_max_seq_length();
    }
  }
  return j;
}

uint64_t json_u64(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0;
}

int run_list(bool json) {
  const fs::path cache = hub::models_cache_dir();
  Result<std::vector<hub::CachedModel>> listed = hub::list_cached_models(cache);
  if (!listed.ok()) return report_error(listed.status());
  Json models = Json::array();
  for (const hub::CachedModel& cached : *listed) {
    Json entry = {
        {"name", cached.name}, {"path", cached.path.string()}, {"size", cached.size_bytes}};
    if (cached.source) entry["repo"] = cached.source->repo;
    Result<std::unique_ptr<embed::Model>> model =
        load_model(hub::loadable_model_path(cached.path).string());
    if (model.ok()) {
      const Json d = describe_model(**model);
      for (const char* key : {"architecture", "kind", "parameters", "dtype"}) entry[key] = d[key];
    } else {
      entry["error"] = model.status().message();
    }
    models.push_back(std::move(entry));
  }
  if (json) {
    print_json({{"cache", cache.string()}, {"models", models}});
    return finish_output();
  }
  if (models.empty()) {
    std::fprintf(stderr, "rag: no models in %s; pull one with `rag models pull REPO`\n",
                 cache.string().c_str());
    return finish_output();
  }
  std::printf("%-28s %-12s %10s %-6s %10s  %s\n", "NAME", "ARCHITECTURE", "PARAMETERS", "DTYPE",
              "SIZE", "PATH");
  for (const Json& m : models) {
    const bool broken = m.contains("error");
    std::printf("%-28s %-12s %10s %-6s %10s  %s\n", m["name"].get<std::string>().c_str(),
                broken ? "(broken)" : m["architecture"].get<std::string>().c_str(),
                broken ? "-" : human_count(json_u64(m, "parameters")).c_str(),
                broken ? "-" : m["dtype"].get<std::string>().c_str(),
                human_bytes(json_u64(m, "size")).c_str(), m["path"].get<std::string>().c_str());
    if (broken) std::printf("    error: %s\n", m["error"].get<std::string>().c_str());
  }
  return finish_output();
}

int run_info(const std::string& spec, bool json) {
  Result<std::string> path = resolve_model(spec);
  if (!path.ok()) return report_error(path.status());
  Result<std::unique_ptr<embed::Model>> model = open_model(*path);
  if (!model.ok()) return report_error(model.status());
  Json j = describe_model(**model);
  // A GGUF model resolves to its file; the record is in the folder.
  const fs::path folder = fs::is_directory(*path) ? fs::path(*path) : fs::path(*path).parent_path();
  if (Result<hub::SourceRecord> record = hub::read_source_record(folder); record.ok()) {
    j["source"] = {
        {"repo", record->repo}, {"revision", record->revision}, {"commit", record->commit}};
  }
  if (json) {
    print_json(j);
    return finish_output();
  }
  for (const auto& [key, value] : j.items()) {
    if (key == "source") {
      std::printf("%-16s %s@%s (commit %s)\n", "source:", value["repo"].get<std::string>().c_str(),
                  value["revision"].get<std::string>().c_str(),
                  value["commit"].get<std::string>().c_str());
      continue;
    }
    std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    if (key == "parameters") text = human_count(value.get<uint64_t>()) + " (" + text + ")";
    std::printf("%-16s %s\n", (key + ":").c_str(), text.c_str());
  }
  return finish_output();
}

int run_rm(const std::string& name) {
  const fs::path cache = hub::models_cache_dir();
  Status removed = hub::remove_cached_model(cache, name);
  if (!removed.ok()) return report_error(removed);
  std::printf("removed %s\n",
              (fs::path(name).has_parent_path() ? fs::path(name) : cache / name).string().c_str());
  return finish_output();
}

struct ModelsArgs {
  std::string spec;
  std::vector<std::string> files;
  bool json = false;
};

}  // namespace

Result<std::string> pull_into_cache(const std::string& repo, const std::string& revision,
                                    const std::vector<std::string>& file_patterns) {
  RAGKIT_ASSIGN_OR_RETURN(hub::PullResult pulled,
                          pull_with_progress(repo, revision, file_patterns));
  return pulled.model_dir.string();
}

std::string manual_install_instructions(const std::string& repo) {
  const std::string name = hub::model_name_for_repo(repo);
  const hub::KnownModel* known = hub::find_known_model(name);
  std::vector<std::string> files;
  if (known != nullptr && known->repo == repo) {
    files.assign(known->files.begin(), known->files.end());
  } else {
    files = {"config.json",
             "model.safetensors (or model.safetensors.index.json and its "
             "model-*-of-*.safetensors shards)",
             "tokenizer.json, tokenizer_config.json and special_tokens_map.json (or vocab.txt, "
             "tokenizer.model: the tokenizer files the repo has)",
             "modules.json, sentence_bert_config.json and 1_Pooling/config.json when the repo "
             "has them (sentence-transformers models)"};
  }
  std::string text = "To install it by hand, download these files from " +
                     hub::hub_environment().endpoint + "/" + repo +
                     "/tree/main and copy them "
                     "into " +
                     (hub::models_cache_dir() / name).string() +
                     "/ (keeping the "
                     "sub-folders):";
  for (const std::string& f : files) text += "\n  " + f;
  return text;
}

Command add_models_command(CLI::App& app) {
  auto args = std::make_shared<ModelsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "models", "Download models from the Hugging Face Hub and manage the local model cache");
  cmd->require_subcommand(1);

  CLI::App* pull = cmd->add_subcommand(
      "pull", "Download a model (config, tokenizer and weights, each verified) into the cache");
  pull->add_option("model", args->spec,
                   "A Hub repo, org/name[@revision], or a short name ragkit knows "
                   "(all-MiniLM-L6-v2, bge-small-en-v1.5, SmolLM2-135M-Instruct)")
      ->required()
      ->option_text("REPO[@REVISION]");
  pull->add_option("--file", args->files,
                   "Also fetch the files matching this glob (repeatable); GGUF repos need it to "
                   "choose the weights, e.g. --file '*Q8_0.gguf'")
      ->option_text("PATTERN");
  pull->add_flag("--json", args->json, "Print what was pulled as JSON");

  CLI::App* list = cmd->add_subcommand("list", "List the models in the cache");
  list->add_flag("--json", args->json, "Print the list as JSON");

  CLI::App* info = cmd->add_subcommand(
      "info", "Show a model's architecture, shape, tokenizer, pooling and chat template");
  info->add_option("model", args->spec, "A model path or a name in the cache")
      ->required()
      ->option_text("MODEL");
  info->add_flag("--json", args->json, "Print the details as JSON");

  CLI::App* rm = cmd->add_subcommand("rm", "Remove a model from the cache");
  rm->add_option("model", args->spec, "The model's name in the cache (see rag models list)")
      ->required()
      ->option_text("MODEL");

  cmd->footer(
      "The cache is $RAGKIT_MODELS_DIR, else $XDG_CACHE_HOME/ragkit/models, else "
      "~/.cache/ragkit/models.\n"
      "HF_ENDPOINT, HF_TOKEN, HTTPS_PROXY and NO_PROXY are honoured; RAGKIT_OFFLINE=1 forbids the network.\n"
      "Examples:\n"
      "  rag models pull sentence-transformers/all-MiniLM-L6-v2\n"
      "  rag models pull HuggingFaceTB/SmolLM2-135M-Instruct-GGUF --file '*q8_0.gguf'\n"
      "  rag models list\n"
      "  rag models info all-MiniLM-L6-v2");
  return {cmd, [args, pull, list, info, rm] {
            if (pull->parsed()) return run_pull(args->spec, args->files, args->json);
            if (list->parsed()) return run_list(args->json);
            if (info->parsed()) return run_info(args->spec, args->json);
            if (rm->parsed()) return run_rm(args->spec);
            return report_error("rag models: no subcommand given");
          }};
}

}  // namespace ragkit::cli
