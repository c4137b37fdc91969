// HubClient: talks to the Hugging Face Hub (or anything that answers like it) over HTTP(S):
// fetches a revision's metadata and downloads single files, resuming, following redirects and
// verifying each against that metadata before it takes its final name.
//
// A download goes to "<dest>.part" and is renamed to <dest> only after its size and hash match
// (then fsync'd file and folder), so <dest> is either absent or complete and verified. A .part
// left by an interrupted run is resumed with "Range: bytes=N-" (206 appends; a 200 means the
// server ignored the range and the file starts over). A connection that drops mid-body is retried
// from where it stopped, up to HubClientOptions::max_attempts times. A wrong hash deletes the
// .part and says which file, expected against got.
//
// Redirects (the Hub answers /resolve/ for LFS files with 302 to a CDN on another host) are
// followed up to max_redirects hops, relative Locations included; the token is sent to the Hub's
// own host only, never to a redirect target elsewhere.
//
// Errors say what to do: 401/403 → set HF_TOKEN (or check its access to the repo), 404 → the
// repo, revision or file named, no network → the exception's text and the URL. Poco exceptions
// stop here and become a Status.
//
// Thread-safety: a HubClient holds only its options; its methods may run concurrently (each
// request uses its own session), though two downloads to one destination must not.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"
#include "ragkit/hub/hub_metadata.h"
#include "ragkit/hub/hub_url.h"

namespace ragkit::hub {

// Progress of one file: bytes on disk so far (a resumed download starts above 0) of `total`.
using ProgressCallback = std::function<void(std::string_view file, uint64_t done, uint64_t total)>;

struct HubClientOptions {
  // The Hub, the token, proxies and offline mode. Default: hub_environment().
  HubEnvironment environment = hub_environment();
  // Redirect hops followed per request before giving up. Default: 10.
  int max_redirects = 10;
  // Tries per file when the connection drops mid-body; each resumes the .part. Default: 3.
  int max_attempts = 3;
  // Connect/send/receive timeout per socket operation, in seconds. Default: 60.
  int timeout_seconds = 60;
  // The metadata answer is read whole; a longer one is an error. Default: 64 MiB.
  size_t max_metadata_bytes = size_t{64} << 20;
  // "User-Agent" of every request. Default: "ragkit/0.1".
  std::string user_agent = "ragkit/0.1";
};

class HubClient {
 public:
  // Fails (kInvalidArgument) when the endpoint or a proxy does not parse.
  static Result<std::unique_ptr<HubClient>> create(HubClientOptions options = {});
  ~HubClient();
  HubClient(const HubClient&) = delete;
  HubClient& operator=(const HubClient&) = delete;

  const HubClientOptions& options() const;

  // The files and commit of `repo` ("org/name") at `revision` (a branch, tag or commit).
  Result<RepoInfo> fetch_repo_info(std::string_view repo, std::string_view revision) const;

  // Downloads `file` of `repo` at `commit` to `dest` (its folder must exist), resuming
  // "<dest>.part", verifying against `file`, then renaming. `progress` may be empty.
  Status download_file(std::string_view repo, std::string_view commit, const RepoFile& file,
                       const std::string& dest, const ProgressCallback& progress = {}) const;

  // "{endpoint}/{repo}/resolve/{revision}/{path}": where a file is fetched from (and what a user
  // downloads by hand).
  std::string file_url(std::string_view repo, std::string_view revision,
                       std::string_view path) const;

 private:
  struct Impl;
  explicit HubClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ragkit::hub
