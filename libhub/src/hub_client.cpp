#include "ragkit/hub/hub_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/Timespan.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <istream>
#include <mutex>
#include <optional>
#include <vector>

namespace ragkit::hub {
namespace {

namespace fs = std::filesystem;
using Poco::Net::HTTPResponse;

// What a request is for, in messages: "repo org/name at revision main", "file x of org/name".
using Subject = std::string_view;

// The TLS context of every HTTPS session: the system's CA certificates, peer verified.
Poco::Net::Context::Ptr client_tls_context() {
  static const Poco::Net::Context::Ptr context = [] {
    Poco::Net::initializeSSL();
    return Poco::Net::Context::Ptr(new Poco::Net::Context(
        Poco::Net::Context::TLS_CLIENT_USE, "", "", "", Poco::Net::Context::VERIFY_RELAXED, 9,
        /*loadDefaultCAs=*/true, "ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH"));
  }();
  return context;
}

bool is_redirect(int code) {
  return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// The error for an HTTP status that ends a request.
Status http_error(const Url& url, const HubEnvironment& env, Subject subject, int code,
                  const std::string& reason) {
  const std::string head = std::string(subject) + ": " + url.to_string() + " answered " +
                           std::to_string(code) + " " + reason;
  if (code == 401 || code == 403) {
    const std::string hint =
        env.token.empty()
            ? "; the repo may be private or gated (or not exist): set HF_TOKEN to a Hugging Face "
              "access token (https://huggingface.co/settings/tokens) that can read it"
            : "; HF_TOKEN is set but was refused: check that the token is valid and has access "
              "to the repo (gated models need their terms accepted on the model's page)";
    return Status::invalid_argument(head + hint);
  }
  if (code == 404) {
    return Status::not_found(head + "; check the repo name, the revision and the file name");
  }
  return Status::io_error(head);
}

// Closes a POSIX file descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close() may give (delayed write errors on some filesystems).
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

Status errno_status(const std::string& what) {
  return Status::io_error(what + ": " + std::strerror(errno));
}

Status write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status(path + ": write failed");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Status::ok_status();
}

Status fsync_path(const std::string& path, int flags) {
  FileDescriptor fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) return errno_status(path + ": cannot open to sync");
  if (::fsync(fd.get()) != 0) return errno_status(path + ": fsync failed");
  return Status::ok_status();
}

// The first byte a 206's "Content-Range: bytes START-END/TOTAL" covers, if it parses.
std::optional<uint64_t> content_range_start(const HTTPResponse& response) {
  const std::string value = response.get("Content-Range", "");
  if (!value.starts_with("bytes ")) return std::nullopt;
  uint64_t start = 0;
  size_t i = 6;
  if (i >= value.size() || value[i] < '0' || value[i] > '9') return std::nullopt;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
    if (start > (UINT64_MAX - 9) / 10) return std::nullopt;
    start = start * 10 + static_cast<uint64_t>(value[i] - '0');
  }
  return start;
}

// Deletes a .part that cannot be resumed; a failure shows when the next attempt opens it.
void discard(const std::string& part) {
  std::error_code ec;
  fs::remove(part, ec);
}

}  // namespace

struct HubClient::Impl {
  HubClientOptions options;
  Url endpoint;
  std::optional<Url> https_proxy, http_proxy;

  using BodyHandler = std::function<Status(HTTPResponse& response, std::istream& body)>;

  Status offline_error(Subject subject) const {
    return Status::io_error(std::string(subject) + ": network access is off (" +
                            options.environment.offline_reason + ")");
  }

  std::unique_ptr<Poco::Net::HTTPClientSession> session_for(const Url& url) const {
    std::unique_ptr<Poco::Net::HTTPClientSession> session;
    if (url.scheme == "https") {
      session =
          std::make_unique<Poco::Net::HTTPSClientSession>(url.host, url.port, client_tls_context());
    } else {
      session = std::make_unique<Poco::Net::HTTPClientSession>(url.host, url.port);
    }
    const std::optional<Url>& proxy = url.scheme == "https" ? https_proxy : http_proxy;
    if (proxy && !is_loopback(url.host) &&
        !bypasses_proxy(url.host, url.port, options.environment.no_proxy)) {
      session->setProxy(proxy->host, proxy->port);
      if (!proxy->user.empty()) session->setProxyCredentials(proxy->user, proxy->password);
    }
    session->setTimeout(Poco::Timespan(options.timeout_seconds, 0));
    session->setKeepAlive(false);
    return session;
  }

  // GETs `start`, following redirects, and hands the first non-redirect answer with a 2xx
  // status (or 416 for a range request) to `handler`; any other status is an error. A range
  // request (range_start > 0) sends "Range: bytes=range_start-" on every hop.
  Status get(const Url& start, uint64_t range_start, Subject subject,
             const BodyHandler& handler) const {
    if (options.environment.offline) return offline_error(subject);
    Url url = start;
    for (int hop = 0;; ++hop) {
      try {
        std::unique_ptr<Poco::Net::HTTPClientSession> session = session_for(url);
        Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, url.target,
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("User-Agent", options.user_agent);
        // The token is for the Hub; a CDN on another host gets a signed URL instead.
        if (!options.environment.token.empty() && url.scheme == endpoint.scheme &&
            url.authority() == endpoint.authority()) {
          request.set("Authorization", "Bearer " + options.environment.token);
        }
        if (range_start > 0) request.set("Range", "bytes=" + std::to_string(range_start) + "-");
        session->sendRequest(request);
        HTTPResponse response;
        std::istream& body = session->receiveResponse(response);
        const int code = static_cast<int>(response.getStatus());
        if (is_redirect(code)) {
          if (hop + 1 > options.max_redirects) {
            return Status::out_of_range(std::string(subject) + ": more than " +
                                        std::to_string(options.max_redirects) +
                                        " redirects, the last to " + url.to_string());
          }
          Result<Url> next = resolve_location(url, response.get("Location", ""));
          if (!next.ok()) return next.status().with_context(std::string(subject) + ": redirect");
          url = *next;
          continue;
        }
        if ((code >= 200 && code < 300) || (code == 416 && range_start > 0)) {
          return handler(response, body);
        }
        return http_error(url, options.environment, subject, code, response.getReason());
      } catch (const Poco::Exception& e) {
        return Status::io_error(std::string(subject) + ": " + url.to_string() + ": " +
                                e.displayText());
      } catch (const std::exception& e) {
        return Status::io_error(std::string(subject) + ": " + url.to_string() + ": " + e.what());
      }
    }
  }

  // One attempt at the body of `file` into `part`, which holds `have` bytes already.
  Status fetch_into_part(const Url& url, const RepoFile& file, const std::string& part,
                         uint64_t& have, Subject subject, const ProgressCallback& progress) const {
    return get(url, have, subject, [&](HTTPResponse& response, std::istream& body) -> Status {
      const int code = static_cast<int>(response.getStatus());
      if (code == 416) {
        // Nothing past `have`: the .part is whole (verified next), or longer than the file.
        if (have == file.size) return Status::ok_status();
        discard(part);
        have = 0;
        return Status::io_error(std::string(subject) +
                                ": the server refused to resume; "
                                "starting over");
      }
      bool append = false;
      if (code == 206) {
        if (content_range_start(response) != have) {
          discard(part);
          have = 0;
          return Status::io_error(std::string(subject) +
                                  ": the server resumed at another byte "
                                  "than asked (Content-Range: " +
                                  response.get("Content-Range", "none") + "); starting over");
        }
        append = true;
      } else {
        have = 0;  // a 200: the whole file again
      }
      FileDescriptor fd(::open(
          part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644));
      if (fd.get() < 0) return errno_status(part + ": cannot open for writing");
      if (progress) progress(file.path, have, file.size);
      std::vector<char> buffer(size_t{1} << 16);
      while (body) {
        body.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const size_t n = static_cast<size_t>(body.gcount());
        if (n == 0) break;
        if (have + n > file.size) {
          discard(part);
          have = 0;
          return Status::corruption(std::string(subject) + ": the server sent more than the " +
                                    std::to_string(file.size) + " bytes the Hub lists");
        }
        RAGKIT_RETURN_IF_ERROR(write_all(fd.get(), buffer.data(), n, part));
        have += n;
        if (progress) progress(file.path, have, file.size);
      }
      if (!fd.close()) return errno_status(part + ": close failed");
      if (have < file.size) {
        return Status::io_error(std::string(subject) + ": the connection closed after " +
                                std::to_string(have) + " of " + std::to_string(file.size) +
                                " bytes");
      }
      return Status::ok_status();
    });
  }
};

HubClient::HubClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HubClient::~HubClient() = default;

Result<std::unique_ptr<HubClient>> HubClient::create(HubClientOptions options) {
  auto impl = std::make_unique<Impl>();
  Result<Url> endpoint = parse_url(options.environment.endpoint);
  if (!endpoint.ok()) return endpoint.status().with_context("HF_ENDPOINT");
  impl->endpoint = *endpoint;
  if (!options.environment.https_proxy.empty()) {
    Result<Url> proxy = parse_proxy(options.environment.https_proxy);
    if (!proxy.ok()) return proxy.status().with_context("HTTPS_PROXY");
    impl->https_proxy = *proxy;
  }
  if (!options.environment.http_proxy.empty()) {
    Result<Url> proxy = parse_proxy(options.environment.http_proxy);
    if (!proxy.ok()) return proxy.status().with_context("HTTP_PROXY");
    impl->http_proxy = *proxy;
  }
  if (options.max_redirects < 0 || options.max_attempts < 1 || options.timeout_seconds < 1) {
    return Status::invalid_argument(
        "HubClientOptions: max_redirects >= 0, max_attempts >= 1, timeout_seconds >= 1");
  }
  impl->options = std::move(options);
  return std::unique_ptr<HubClient>(new HubClient(std::move(impl)));
}

const HubClientOptions& HubClient::options() const { return impl_->options; }

std::string HubClient::file_url(std::string_view repo, std::string_view revision,
                                std::string_view path) const {
  return impl_->options.environment.endpoint + "/" + url_encode_path(repo, true) + "/resolve/" +
         url_encode_path(revision, false) + "/" + url_encode_path(path, true);
}

Result<RepoInfo> HubClient::fetch_repo_info(std::string_view repo,
                                            std::string_view revision) const {
  const std::string subject = "repo " + std::string(repo) + " at revision " + std::string(revision);
  RAGKIT_ASSIGN_OR_RETURN(Url url, parse_url(impl_->options.environment.endpoint + "/api/models/" +
                                             url_encode_path(repo, true) + "/revision/" +
                                             url_encode_path(revision, false) + "?blobs=true"));
  std::string text;
  RAGKIT_RETURN_IF_ERROR(
      impl_->get(url, 0, subject, [&](HTTPResponse&, std::istream& body) -> Status {
        std::vector<char> buffer(size_t{1} << 16);
        while (body) {
          body.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
          text.append(buffer.data(), static_cast<size_t>(body.gcount()));
          if (text.size() > impl_->options.max_metadata_bytes) {
            return Status::out_of_range(subject + ": the metadata is larger than " +
                                        std::to_string(impl_->options.max_metadata_bytes) +
                                        " bytes");
          }
        }
        return Status::ok_status();
      }));
  return parse_repo_info(text, subject + " (" + url.to_string() + ")");
}

Status HubClient::download_file(std::string_view repo, std::string_view commit,
                                const RepoFile& file, const std::string& dest,
                                const ProgressCallback& progress) const {
  const std::string subject = file.path + " of " + std::string(repo);
  const std::string part = dest + ".part";
  RAGKIT_ASSIGN_OR_RETURN(Url url, parse_url(file_url(repo, commit, file.path)));
  std::error_code ec;
  Status fetched;
  for (int attempt = 1; attempt <= impl_->options.max_attempts; ++attempt) {
    uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
    if (ec || have > file.size) {
      fs::remove(part, ec);
      have = 0;
    }
    if (have == file.size && file.size > 0) {
      fetched = Status::ok_status();  // an earlier run got every byte; verified below
      break;
    }
    fetched = impl_->fetch_into_part(url, file, part, have, subject, progress);
    // Network trouble (and a refused resume) is worth another try from where it stopped; a 404,
    // a 401 or too many bytes is not.
    if (fetched.ok() || fetched.code() != Status::Code::kIOError) break;
  }
  RAGKIT_RETURN_IF_ERROR(fetched);
  Status verified = verify_file(part, file);
  if (!verified.ok()) {
    fs::remove(part, ec);
    return verified.with_context(std::string(repo));
  }
  RAGKIT_RETURN_IF_ERROR(fsync_path(part, O_RDONLY));
  fs::rename(part, dest, ec);
  if (ec) return Status::io_error(dest + ": cannot rename the verified download: " + ec.message());
  return fsync_path(fs::path(dest).parent_path().string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace ragkit::hub
