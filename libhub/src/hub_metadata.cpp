#include "ragkit/hub/hub_metadata.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA1Engine.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace ragkit::hub {
namespace {

bool is_hex(const std::string& text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A relative path that stays inside the folder it is joined to.
bool is_safe_relative_path(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  if (path.find('\\') != std::string::npos || path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part(path.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// A non-negative integer that fits uint64_t.
bool read_size(const nlohmann::json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

const nlohmann::json* member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<RepoFile> parse_sibling(const nlohmann::json& sibling, std::string_view source,
                               size_t index) {
  const std::string where = std::string(source) + ": siblings[" + std::to_string(index) + "]";
  const nlohmann::json* name = member(sibling, "rfilename");
  if (name == nullptr || !name->is_string()) {
    return Status::corruption(where + " has no \"rfilename\" string");
  }
  RepoFile file;
  file.path = name->get<std::string>();
  if (!is_safe_relative_path(file.path)) {
    return Status::corruption(where + ": file name '" + file.path +
                              "' is not a plain relative path; refusing to write it");
  }
  const std::string named = std::string(source) + ": " + file.path;
  if (const nlohmann::json* lfs = member(sibling, "lfs"); lfs != nullptr && !lfs->is_null()) {
    const nlohmann::json* sha = member(*lfs, "sha256");
    const nlohmann::json* size = member(*lfs, "size");
    if (sha == nullptr || !sha->is_string() || !is_hex(sha->get<std::string>(), 64)) {
      return Status::corruption(named + ": lfs.sha256 is missing or not 64 hex digits");
    }
    if (size == nullptr || !read_size(*size, file.size)) {
      return Status::corruption(named + ": lfs.size is missing or not a size");
    }
    file.digest = {HashKind::kSha256, lower(sha->get<std::string>())};
    return file;
  }
  const nlohmann::json* blob = member(sibling, "blobId");
  const nlohmann::json* size = member(sibling, "size");
  if (blob == nullptr || !blob->is_string() || !is_hex(blob->get<std::string>(), 40)) {
    return Status::corruption(named +
                              ": blobId is missing or not 40 hex digits (was the "
                              "metadata asked for with ?blobs=true?)");
  }
  if (size == nullptr || !read_size(*size, file.size)) {
    return Status::corruption(named + ": size is missing or not a size");
  }
  file.digest = {HashKind::kGitBlobSha1, lower(blob->get<std::string>())};
  return file;
}

}  // namespace

const char* hash_kind_name(HashKind kind) {
  return kind == HashKind::kSha256 ? "sha256" : "git-sha1";
}

const RepoFile* RepoInfo::find(std::string_view path) const {
  for (const RepoFile& file : files) {
    if (file.path == path) return &file;
  }
  return nullptr;
}

Result<RepoInfo> parse_repo_info(std::string_view json, std::string_view source) {
  const nlohmann::json root = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                                    /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return Status::corruption(std::string(source) + ": not a JSON object");
  }
  RepoInfo info;
  const nlohmann::json* sha = member(root, "sha");
  if (sha == nullptr || !sha->is_string() || !is_hex(sha->get<std::string>(), 40)) {
    return Status::corruption(std::string(source) +
                              ": \"sha\" (the commit) is missing or not "
                              "40 hex digits");
  }
  info.commit = lower(sha->get<std::string>());
  const nlohmann::json* siblings = member(root, "siblings");
  if (siblings == nullptr || !siblings->is_array()) {
    return Status::corruption(std::string(source) + ": \"siblings\" (the files) is missing");
  }
  for (size_t i = 0; i < siblings->size(); ++i) {
    RAGKIT_ASSIGN_OR_RETURN(RepoFile file, parse_sibling((*siblings)[i], source, i));
    if (info.find(file.path) != nullptr) {
      return Status::corruption(std::string(source) + ": file '" + file.path + "' listed twice");
    }
    info.files.push_back(std::move(file));
  }
  return info;
}

Result<FileDigest> digest_file(const std::string& path, HashKind kind) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error(path + ": cannot open for reading");
  Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);
  Poco::SHA1Engine sha1;
  Poco::DigestEngine& engine =
      kind == HashKind::kSha256 ? static_cast<Poco::DigestEngine&>(sha256) : sha1;
  if (kind == HashKind::kGitBlobSha1) {
    in.seekg(0, std::ios::end);
    const std::string header = "blob " + std::to_string(static_cast<uint64_t>(in.tellg()));
    in.seekg(0, std::ios::beg);
    engine.update(header.data(), header.size() + 1);  // with its terminating NUL
  }
  std::vector<char> buffer(size_t{1} << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) engine.update(buffer.data(), static_cast<unsigned>(in.gcount()));
  }
  if (in.bad()) return Status::io_error(path + ": read failed");
  return FileDigest{kind, Poco::DigestEngine::digestToHex(engine.digest())};
}

Status verify_file(const std::string& path, const RepoFile& expected) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::io_error(path + ": " + ec.message());
  if (size != expected.size) {
    return Status::corruption(expected.path + ": " + std::to_string(size) + " bytes, expected " +
                              std::to_string(expected.size));
  }
  RAGKIT_ASSIGN_OR_RETURN(FileDigest got, digest_file(path, expected.digest.kind));
  if (got != expected.digest) {
    return Status::corruption(expected.path + ": " + hash_kind_name(got.kind) + " is " + got.hex +
                              ", expected " + expected.digest.hex +
                              " (the download is damaged "
                              "or the file changed on the Hub)");
  }
  return Status::ok_status();
}

}  // namespace ragkit::hub
