// The writer the crash test kills: opens a collection and loops random upserts, removes and
// multi-document upserts of documents that are a deterministic function of (key, version),
// announcing each write before it starts ("B …") and acknowledging it once it returned ("A"),
// each line flushed at once, until SIGKILL.
//
//   ragkit_store_crash_child <dir> <index factory> <seed> <keys> <first version>
//
// With `upgrade` first it runs Collection::add_vectors on a lexical-only collection instead
// (embedding each text as testing::text_vector, slowly enough to be killed in the middle),
// printing "O" once open and "D <embedded> <resumed>" when done:
//
//   ragkit_store_crash_child upgrade <dir> <index factory>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ragkit/retrieval/collection.h"
#include "store_test_util.h"

namespace {

constexpr uint32_t kDim = 16;

void say(const std::string& line) {
  const std::string text = line + "\n";
  // One write(2) per line: the parent never sees half a line from a kill between two writes.
  if (::write(STDOUT_FILENO, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    std::_Exit(3);
  }
}

int upgrade(const std::string& dir, const std::string& factory) {
  using namespace ragkit::retrieval;
  auto opened = Collection::open(dir);
  if (!opened.ok()) {
    say("E " + opened.status().to_string());
    return 2;
  }
  say("O");
  VectorUpgrade spec;
  spec.model_id = "upgrade-model";
  spec.dimension = kDim;
  spec.index_factory = factory;
  spec.batch = 4;
  spec.embed = [](std::span<const std::string> texts) -> ragkit::Result<std::vector<float>> {
    ::usleep(3000);
    std::vector<float> out;
    for (const std::string& text : texts) {
      const auto v = testing::text_vector(text, kDim);
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  auto done = (*opened)->add_vectors(spec);
  if (!done.ok()) {
    say("E " + done.status().to_string());
    return 2;
  }
  say("D " + std::to_string(done->embedded) + " " + std::to_string(done->resumed));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ragkit::retrieval;
  if (argc == 4 && std::string(argv[1]) == "upgrade") return upgrade(argv[2], argv[3]);
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s dir factory seed keys first_version\n", argv[0]);
    return 1;
  }
  const std::string dir = argv[1];
  CollectionOptions options;
  options.model_id = "crash-model";
  options.dimension = kDim;
  options.index_factory = argv[2];
  options.index_save_min_changes = 40;  // saves happen often, so kills land in them too
  options.tombstone_rebuild_min = 20;   // and HNSW rebuilds
  options.tombstone_rebuild_ratio = 0.2;
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  const int keys = std::atoi(argv[4]);
  uint64_t version = std::strtoull(argv[5], nullptr, 10);

  auto opened = Collection::open(dir, options);
  if (!opened.ok()) {
    say("E " + opened.status().to_string());
    return 2;
  }
  std::unique_ptr<Collection> collection = std::move(opened).value();
  say("O");
  const auto key_name = [](uint64_t k) { return std::string("k").append(std::to_string(k)); };
  for (;;) {
    const uint64_t op = rng() % 100;
    ragkit::Status status;
    if (op < 55) {
      const std::string key = key_name(rng() % keys);
      ++version;
      say("B U " + key + " " + std::to_string(version));
      status = collection->upsert(testing::versioned_document(key, version, kDim));
    } else if (op < 80) {
      const std::string key = key_name(rng() % keys);
      say("B R " + key);
      status = collection->remove(key).status();
    } else {
      std::set<std::string> picked;
      while (picked.size() < 3) picked.insert(key_name(rng() % keys));
      std::vector<DocumentInput> docs;
      std::string line = "B M";
      for (const std::string& key : picked) {
        ++version;
        line += " " + key + " " + std::to_string(version);
        docs.push_back(testing::versioned_document(key, version, kDim));
      }
      say(line);
      status = collection->upsert_many(docs);
    }
    if (!status.ok()) {
      say("E " + status.to_string());
      return 2;
    }
    say("A");
  }
}
