#include "fake_hub_server.h"

#include <Poco/DigestEngine.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/SHA1Engine.h>
#include <Poco/SHA2Engine.h>
#include <Poco/URI.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

struct ServedFile {
  std::string bytes;
  bool lfs = false;
  std::string sha256;   // of bytes
  std::string blob_id;  // git blob sha1
};

struct Repo {
  std::string revision, commit;
  std::map<std::string, ServedFile> files;  // by relative path
};

std::string sha256_hex(const std::string& bytes) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(bytes.data(), bytes.size());
  return Poco::DigestEngine::digestToHex(engine.digest());
}

std::string git_blob_id(const std::string& bytes) {
  Poco::SHA1Engine engine;
  const std::string header = "blob " + std::to_string(bytes.size());
  engine.update(header.data(), header.size() + 1);
  engine.update(bytes.data(), bytes.size());
  return Poco::DigestEngine::digestToHex(engine.digest());
}

bool is_lfs_name(const std::string& path) {
  return path.ends_with(".safetensors") || path.ends_with(".gguf") || path.ends_with(".bin");
}

std::string decode(const std::string& text) {
  std::string out;
  Poco::URI::decode(text, out);
  return out;
}

}  // namespace

struct FakeHubState {
  mutable std::mutex mutex;
  std::map<std::string, Repo> repos;
  std::map<std::string, uint64_t> drop_once;  // path → bytes before the drop
  std::map<std::string, bool> corrupted;
  std::string token;
  std::vector<FakeHubRequest> log;
  std::string cdn_authority;  // "127.0.0.1:port" of the CDN server

  // The file `path` of `repo` at `rev` (a revision or the commit), copied under the lock.
  std::optional<ServedFile> find(const std::string& repo, const std::string& rev,
                                 const std::string& path) const {
    auto r = repos.find(repo);
    if (r == repos.end() || (rev != r->second.revision && rev != r->second.commit)) return {};
    auto f = r->second.files.find(path);
    if (f == r->second.files.end()) return {};
    return f->second;
  }
  std::optional<ServedFile> find_by_sha(const std::string& sha) const {
    for (const auto& [name, repo] : repos) {
      for (const auto& [path, file] : repo.files) {
        if (file.sha256 == sha) return file;
      }
    }
    return {};
  }
  std::string path_of_sha(const std::string& sha) const {
    for (const auto& [name, repo] : repos) {
      for (const auto& [path, file] : repo.files) {
        if (file.sha256 == sha) return path;
      }
    }
    return "";
  }
};

namespace {

class HubHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit HubHandler(std::shared_ptr<FakeHubState> state) : state_(std::move(state)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    FakeHubRequest entry{request.getHost(), request.getURI(), request.get("Range", ""),
                         request.get("Authorization", ""), 0};
    entry.status = route(request, response, entry);
    std::lock_guard lock(state_->mutex);
    state_->log.push_back(std::move(entry));
  }

 private:
  int status_only(HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
                  const std::string& message) {
    response.setStatusAndReason(status);
    response.setContentType("application/json");
    const std::string body = nlohmann::json{{"error", message}}.dump();
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
    return static_cast<int>(status);
  }

  int redirect(HTTPServerResponse& response, const std::string& location) {
    response.setStatusAndReason(HTTPResponse::HTTP_FOUND);
    response.set("Location", location);
    response.setContentLength(0);
    response.send();
    return 302;
  }

  bool authorized(const HTTPServerRequest& request) {
    std::lock_guard lock(state_->mutex);
    return state_->token.empty() || request.get("Authorization", "") == "Bearer " + state_->token;
  }

  int route(HTTPServerRequest& request, HTTPServerResponse& response, const FakeHubRequest&) {
    std::string uri = request.getURI();
    // A proxy's request names the whole URL ("GET http://hub.invalid/api/..."): serve its path.
    if (uri.starts_with("http://")) {
      const size_t slash = uri.find('/', 7);
      uri = slash == std::string::npos ? "/" : uri.substr(slash);
    }
    const std::string path = uri.substr(0, uri.find('?'));
    if (path.starts_with("/cdn/")) {
      std::optional<ServedFile> file;
      std::string name;
      {
        std::lock_guard lock(state_->mutex);
        file = state_->find_by_sha(path.substr(5));
        name = state_->path_of_sha(path.substr(5));
      }
      if (!file) return status_only(response, HTTPResponse::HTTP_NOT_FOUND, "no such blob");
      return send_bytes(request, response, name, *file);
    }
    if (!authorized(request)) {
      return status_only(response, HTTPResponse::HTTP_UNAUTHORIZED, "Invalid credentials");
    }
    if (path.starts_with("/cdn-redirect/")) {
      std::lock_guard lock(state_->mutex);
      return redirect(response, "http://" + state_->cdn_authority + "/cdn/" + path.substr(14));
    }
    if (path.starts_with("/api/models/")) {
      const std::string rest = path.substr(12);
      const size_t at = rest.find("/revision/");
      if (at == std::string::npos) return status_only(response, HTTPResponse::HTTP_NOT_FOUND, "?");
      return send_metadata(response, decode(rest.substr(0, at)), decode(rest.substr(at + 10)));
    }
    const size_t resolve = path.find("/resolve/");
    if (resolve != std::string::npos) {
      const std::string repo = decode(path.substr(1, resolve - 1));
      const std::string rest = path.substr(resolve + 9);
      const size_t slash = rest.find('/');
      if (slash == std::string::npos) {
        return status_only(response, HTTPResponse::HTTP_NOT_FOUND, "no file");
      }
      const std::string rev = decode(rest.substr(0, slash));
      const std::string file_path = decode(rest.substr(slash + 1));
      std::optional<ServedFile> file;
      {
        std::lock_guard lock(state_->mutex);
        file = state_->find(repo, rev, file_path);
      }
      if (!file) return status_only(response, HTTPResponse::HTTP_NOT_FOUND, "Entry not found");
      if (file->lfs) return redirect(response, "/cdn-redirect/" + file->sha256);
      return send_bytes(request, response, file_path, *file);
    }
    return status_only(response, HTTPResponse::HTTP_NOT_FOUND, "Repository not found");
  }

  int send_metadata(HTTPServerResponse& response, const std::string& repo_name,
                    const std::string& rev) {
    nlohmann::json siblings = nlohmann::json::array();
    std::string commit;
    {
      std::lock_guard lock(state_->mutex);
      auto r = state_->repos.find(repo_name);
      if (r == state_->repos.end() || (rev != r->second.revision && rev != r->second.commit)) {
        return status_only(response, HTTPResponse::HTTP_NOT_FOUND, "Repository not found");
      }
      commit = r->second.commit;
      for (const auto& [path, file] : r->second.files) {
        nlohmann::json s = {
            {"rfilename", path}, {"size", file.bytes.size()}, {"blobId", file.blob_id}};
        if (file.lfs) {
          s["lfs"] = {{"sha256", file.sha256}, {"size", file.bytes.size()}, {"pointerSize", 134}};
        }
        siblings.push_back(std::move(s));
      }
    }
    const std::string body =
        nlohmann::json{{"id", repo_name}, {"sha", commit}, {"siblings", siblings}}.dump();
    response.setContentType("application/json");
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body;
    return 200;
  }

  int send_bytes(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& name,
                 ServedFile file) {
    std::optional<uint64_t> drop_after;
    {
      std::lock_guard lock(state_->mutex);
      if (auto it = state_->drop_once.find(name); it != state_->drop_once.end()) {
        drop_after = it->second;
        state_->drop_once.erase(it);
      }
      if (state_->corrupted.count(name) && !file.bytes.empty()) {
        file.bytes[file.bytes.size() / 2] ^= 0x5a;
      }
    }
    uint64_t start = 0;
    const std::string range = request.get("Range", "");
    int status = 200;
    if (range.starts_with("bytes=") && range.ends_with("-")) {
      start = std::stoull(range.substr(6, range.size() - 7));
      if (start >= file.bytes.size()) {
        response.setStatusAndReason(HTTPResponse::HTTP_REQUESTED_RANGE_NOT_SATISFIABLE);
        response.set("Content-Range", "bytes */" + std::to_string(file.bytes.size()));
        response.setContentLength(0);
        response.send();
        return 416;
      }
      status = 206;
      response.setStatusAndReason(HTTPResponse::HTTP_PARTIAL_CONTENT);
      response.set("Content-Range", "bytes " + std::to_string(start) + "-" +
                                        std::to_string(file.bytes.size() - 1) + "/" +
                                        std::to_string(file.bytes.size()));
    }
    const std::string_view body = std::string_view(file.bytes).substr(start);
    response.setContentType("application/octet-stream");
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    response.setKeepAlive(false);
    std::ostream& out = response.send();
    const size_t n = drop_after ? std::min<size_t>(*drop_after, body.size()) : body.size();
    out.write(body.data(), static_cast<std::streamsize>(n));
    out.flush();
    // A drop: returning with fewer bytes than declared closes the connection (no keep-alive).
    return status;
  }

  std::shared_ptr<FakeHubState> state_;
};

class HubHandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit HubHandlerFactory(std::shared_ptr<FakeHubState> state) : state_(std::move(state)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new HubHandler(state_);
  }

 private:
  std::shared_ptr<FakeHubState> state_;
};

std::unique_ptr<Poco::Net::HTTPServer> start_server(const std::shared_ptr<FakeHubState>& state,
                                                    uint16_t& port) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  port = socket.address().port();
  auto params = Poco::AutoPtr<Poco::Net::HTTPServerParams>(new Poco::Net::HTTPServerParams);
  params->setMaxThreads(4);
  params->setKeepAlive(false);
  auto server =
      std::make_unique<Poco::Net::HTTPServer>(new HubHandlerFactory(state), socket, params);
  server->start();
  return server;
}

}  // namespace

struct FakeHubServer::Servers {
  uint16_t hub_port = 0, cdn_port = 0;
  std::unique_ptr<Poco::Net::HTTPServer> hub, cdn;
};

FakeHubServer::FakeHubServer()
    : state_(std::make_shared<FakeHubState>()), servers_(std::make_unique<Servers>()) {
  servers_->hub = start_server(state_, servers_->hub_port);
  servers_->cdn = start_server(state_, servers_->cdn_port);
  std::lock_guard lock(state_->mutex);
  state_->cdn_authority = "127.0.0.1:" + std::to_string(servers_->cdn_port);
}

FakeHubServer::~FakeHubServer() {
  servers_->hub->stopAll(true);
  servers_->cdn->stopAll(true);
}

std::string FakeHubServer::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(servers_->hub_port);
}

void FakeHubServer::add_repo(const std::string& repo, const std::string& dir,
                             const std::string& revision) {
  Repo r;
  r.revision = revision;
  r.commit = git_blob_id(repo + "@" + revision);  // 40 hex digits, stable per repo
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    ServedFile file;
    file.bytes = bytes.str();
    const std::string path = fs::relative(entry.path(), dir).generic_string();
    file.lfs = is_lfs_name(path);
    file.sha256 = sha256_hex(file.bytes);
    file.blob_id = git_blob_id(file.bytes);
    r.files[path] = std::move(file);
  }
  std::lock_guard lock(state_->mutex);
  state_->repos[repo] = std::move(r);
}

std::string FakeHubServer::commit(const std::string& repo) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->repos.find(repo);
  return it == state_->repos.end() ? "" : it->second.commit;
}

void FakeHubServer::drop_connection_once(const std::string& path, uint64_t after_bytes) {
  std::lock_guard lock(state_->mutex);
  state_->drop_once[path] = after_bytes;
}

void FakeHubServer::corrupt(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  state_->corrupted[path] = true;
}

void FakeHubServer::require_token(const std::string& token) {
  std::lock_guard lock(state_->mutex);
  state_->token = token;
}

std::vector<FakeHubRequest> FakeHubServer::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->log;
}

void FakeHubServer::clear_requests() {
  std::lock_guard lock(state_->mutex);
  state_->log.clear();
}

}  // namespace ragkit::testing
