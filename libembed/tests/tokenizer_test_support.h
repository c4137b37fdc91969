// Helpers shared by the tokenizer tests: llama.cpp's golden tokenization files, tokenizers
// loaded from the shared GGUF vocabularies, and SciFact's abstracts for throughput.
#pragma once

#include <gtest/gtest.h>
#include <time.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/mapped_file.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/tokenizer.h"
#include "test_env.h"
#include "tokenizer/gguf_tokenizer.h"

namespace ragkit::embed::test_support {

struct GoldenCase {
  std::string text;
  std::vector<TokenId> ids;
};

// X.inp holds the strings, each followed by "\n__ggml_vocab_test__\n" (a string may be empty or
// contain newlines); X.out has one line of space-separated ids per string.
inline std::vector<GoldenCase> load_golden(const std::string& base) {
  std::vector<GoldenCase> cases;
  auto inp = read_file(base + ".inp");
  auto outp = read_file(base + ".out");
  if (!inp.ok() || !outp.ok()) {
    ADD_FAILURE() << (inp.ok() ? outp.status() : inp.status()).to_string();
    return cases;
  }
  static constexpr std::string_view kMarker = "\n__ggml_vocab_test__\n";
  const std::string_view in = *inp;
  size_t pos = 0;
  for (size_t found; (found = in.find(kMarker, pos)) != std::string_view::npos;) {
    cases.push_back({std::string(in.substr(pos, found - pos)), {}});
    pos = found + kMarker.size();
  }
  EXPECT_EQ(pos, in.size()) << base << ".inp: text after the last marker";
  std::istringstream lines(*outp);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    if (i >= cases.size()) {
      ADD_FAILURE() << base << ".out has more lines than .inp has strings";
      break;
    }
    std::istringstream ids(line);
    for (TokenId id; ids >> id;) cases[i].ids.push_back(id);
    ++i;
  }
  EXPECT_EQ(i, cases.size()) << base << ".out has fewer lines than .inp has strings";
  return cases;
}

// The tokenizer of a GGUF file; null (after a test failure) when it does not load.
inline std::unique_ptr<Tokenizer> load_gguf_file_tokenizer(const std::string& path) {
  auto gguf = GgufFile::open(path);
  if (!gguf.ok()) {
    ADD_FAILURE() << gguf.status().to_string();
    return nullptr;
  }
  auto tokenizer = load_gguf_tokenizer(**gguf);
  if (!tokenizer.ok()) {
    ADD_FAILURE() << tokenizer.status().to_string();
    return nullptr;
  }
  return std::move(tokenizer).value();
}

// ggml-vocab-<name>.gguf from $RAGKIT_TOKENIZERS_DIR.
inline std::unique_ptr<Tokenizer> vocab_tokenizer(const std::string& name) {
  const std::string dir = ragkit::testing::tokenizers_dir();
  if (dir.empty()) return nullptr;
  return load_gguf_file_tokenizer(dir + "/ggml-vocab-" + name + ".gguf");
}

// Escapes control and non-ASCII bytes, for failure messages.
inline std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// The value of "key": "..." in one JSON line, unescaped (enough for SciFact: \uXXXX included).
inline std::string json_string_field(std::string_view line, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\": \"";
  size_t i = line.find(needle);
  std::string out;
  if (i == std::string_view::npos) return out;
  auto append = [&](uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else if (cp < 0x10000) {
      out += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
              static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
      out += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
              static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
  };
  for (i += needle.size(); i < line.size() && line[i] != '"'; ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out.push_back(line[i]);
      continue;
    }
    const char e = line[++i];
    if (e == 'n') {
      out.push_back('\n');
    } else if (e == 't') {
      out.push_back('\t');
    } else if (e == 'r') {
      out.push_back('\r');
    } else if (e == 'u' && i + 4 < line.size()) {
      uint32_t cp = std::stoul(std::string(line.substr(i + 1, 4)), nullptr, 16);
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < line.size() && line[i + 1] == '\\') {
        const uint32_t lo = std::stoul(std::string(line.substr(i + 3, 4)), nullptr, 16);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      }
      append(cp);
    } else {
      out.push_back(e);
    }
  }
  return out;
}

// SciFact's abstracts (title + text), one string each.
inline std::vector<std::string> scifact_abstracts() {
  std::vector<std::string> texts;
  const std::string data = ragkit::testing::data_dir();
  if (data.empty()) return texts;
  std::ifstream in(data + "/scifact/corpus.jsonl");
  if (!in) {
    ADD_FAILURE() << data << "/scifact/corpus.jsonl is missing";
    return texts;
  }
  for (std::string line; std::getline(in, line);) {
    texts.push_back(json_string_field(line, "title") + " " + json_string_field(line, "text"));
  }
  return texts;
}

inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace ragkit::embed::test_support
