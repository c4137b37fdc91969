// What the Hub says about one revision of a model repository, and checking a local file against
// it.
//
// GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true answers
//   {"sha": "<commit>", "siblings": [{"rfilename": "config.json", "size": 612,
//     "blobId": "<git blob sha1>", "lfs": {"sha256": "<hex>", "size": 90868376}}, ...]}
// A file stored in Git LFS is identified by the SHA-256 of its bytes (lfs.sha256); any other file
// by its git blob id, the SHA-1 of "blob <size>\0" followed by its bytes.
//
// parse_repo_info() reads bytes from the network: it never throws and never crashes on any input
// (hub_metadata_fuzz), and rejects file names that could escape the model's folder.
//
// Thread-safety: plain values and pure functions; verify_file() only reads the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::hub {

// How a file's identity is checked.
enum class HashKind { kSha256, kGitBlobSha1 };

struct FileDigest {
  HashKind kind = HashKind::kSha256;
  std::string hex;  // lower-case hexadecimal
  bool operator==(const FileDigest&) const = default;
};

const char* hash_kind_name(HashKind kind);  // "sha256", "git-sha1"

// One file of the repository at that revision.
struct RepoFile {
  std::string path;  // relative, '/'-separated ("1_Pooling/config.json")
  uint64_t size = 0;
  FileDigest digest;  // lfs.sha256 for LFS files, else the blob id
};

struct RepoInfo {
  std::string commit;  // "sha": the commit the revision names now
  std::vector<RepoFile> files;
  const RepoFile* find(std::string_view path) const;
};

// Parses the API's JSON (`source` names it in messages). A sibling without a usable size or
// hash, or with a name that is absolute, contains "..", a backslash or a NUL, is kCorruption
// naming it: a download must never be written outside its folder nor left unchecked.
Result<RepoInfo> parse_repo_info(std::string_view json, std::string_view source);

// The digest of the file at `path` in the given kind (reads it whole, in blocks).
Result<FileDigest> digest_file(const std::string& path, HashKind kind);

// Checks the file at `path` has expected.size bytes and expected.digest; kCorruption otherwise,
// naming expected.path and both values ("model.safetensors: sha256 is ab12..., expected cd34...").
Status verify_file(const std::string& path, const RepoFile& expected);

}  // namespace ragkit::hub
