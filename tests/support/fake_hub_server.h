// FakeHubServer: a Hugging Face Hub look-alike on loopback for the pull tests (libhub's and the
// end-to-end `rag models pull`), so that no test ever needs the internet.
//
// It serves, from local folders, what the real pull code asks the Hub for:
//   GET /api/models/{repo}/revision/{rev}?blobs=true   {"sha", "siblings": [{"rfilename",
//       "size", "blobId", "lfs": {"sha256", "size"}}]}; LFS are *.safetensors, *.gguf, *.bin
//   GET /{repo}/resolve/{rev}/{path}   the bytes; for an LFS file a 302 with a relative Location
//       (/cdn-redirect/<sha256>) that answers a second 302 to another server ("the CDN", another
//       port of 127.0.0.1, so another host for the token rule) which serves the bytes
// It also acts as an HTTP proxy for any host: a request in absolute form ("GET http://h/x") is
// served as "/x". Every byte answer honours "Range: bytes=N-" with 206. Faults for the tests: a connection
// dropped once after N bytes of a file, a file served with a flipped byte (metadata unchanged),
// a token required on the Hub's own paths (401 without it). Unknown repos and files are 404.
// The hashes are computed here with Poco's SHA engines, independently of libhub's code.
//
// Thread-safety: the server's threads and the test share state under a mutex; every method may
// be called while requests are served.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ragkit::testing {

struct FakeHubState;  // the repos, faults and log the server threads share

struct FakeHubRequest {
  std::string host;  // "127.0.0.1:port" the request reached (hub or CDN)
  std::string uri;
  std::string range;          // the Range header, "" when absent
  std::string authorization;  // the Authorization header, "" when absent
  int status = 0;             // what the server answered
};

class FakeHubServer {
 public:
  FakeHubServer();  // listening on 127.0.0.1, ephemeral ports
  ~FakeHubServer();
  FakeHubServer(const FakeHubServer&) = delete;
  FakeHubServer& operator=(const FakeHubServer&) = delete;

  // "http://127.0.0.1:PORT": what HF_ENDPOINT points at.
  std::string endpoint() const;

  // Serves every regular file under `dir` (recursively) as `repo` at `revision` (and at the
  // made-up commit commit(repo)). The files are read now.
  void add_repo(const std::string& repo, const std::string& dir,
                const std::string& revision = "main");
  std::string commit(const std::string& repo) const;

  // The next answer with the bytes of `path` (any repo) declares the full length and closes the
  // connection after `after_bytes` body bytes; later answers are whole.
  void drop_connection_once(const std::string& path, uint64_t after_bytes);
  // Serves `path` with its middle byte flipped; the metadata keeps the true hash.
  void corrupt(const std::string& path);
  // Answers 401 on the Hub's paths unless "Authorization: Bearer <token>" (the CDN never asks).
  void require_token(const std::string& token);

  std::vector<FakeHubRequest> requests() const;
  void clear_requests();

 private:
  std::shared_ptr<FakeHubState> state_;
  struct Servers;
  std::unique_ptr<Servers> servers_;
};

}  // namespace ragkit::testing
