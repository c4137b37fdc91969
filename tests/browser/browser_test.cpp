// Browser test: `rag serve`'s web page (services/web/index.html) in headless Chromium, driven as a
// user drives it. Chromium runs with --remote-debugging-port and the test speaks the DevTools
// protocol (CDP) to the page over a WebSocket (Poco::Net): Page.navigate to the served page,
// Runtime.evaluate to type a question and click Ask, poll document.body.dataset.state until the
// page says "done", read #answer and #sources, and Page.captureScreenshot into the build folder.
//
// The served folder is indexed with all-MiniLM-L6-v2's tokenizer and random weights (dense scores
// mean nothing, BM25 does), and answers come from stories260K (generated) or, without a
// generator, from the sources' own sentences (extractive). So the test proves the plumbing —
// request, SSE stream, rendering, citations, sources — not the quality of an answer.
//
// Chromium is Debian's `chromium` (/usr/bin/chromium, or $RAGKIT_CHROMIUM); when it is missing the
// test fails and says how to install it. Chromium and its children share one process group,
// killed when the test ends, whatever its outcome.
#include <Poco/Base64Decoder.h>
#include <Poco/Buffer.h>
#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/WebSocket.h>
#include <Poco/URI.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "rag_process.h"
#include "random_model.h"
#include "serve_process.h"
#include "test_env.h"

extern char** environ;

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Generous: under ASan the server is several times slower (Chromium is not instrumented).
constexpr std::chrono::seconds kTimeout{60};

std::string chromium_binary() {
  const char* override_path = std::getenv("RAGKIT_CHROMIUM");
  return override_path && *override_path ? override_path : "/usr/bin/chromium";
}

// Headless Chromium with a fresh profile in its own process group. The destructor kills the
// group (browser, zygotes, renderers) and reaps the browser.
class Chromium {
 public:
  Chromium() = default;
  Chromium(const Chromium&) = delete;
  Chromium& operator=(const Chromium&) = delete;
  ~Chromium() { stop(); }

  // Starts the browser on about:blank and waits for its DevTools port. Throws with the browser's
  // log when it does not come up.
  void start(const std::string& work_dir) {
    profile_dir_ = work_dir + "/profile";
    log_path_ = work_dir + "/chromium.log";
    fs::create_directories(profile_dir_);
    // Everything the child needs is prepared before fork(): after it, only async-signal-safe
    // calls. HOME points into the work folder so nothing is written to the real one.
    std::vector<std::string> args = {chromium_binary(),
                                     "--headless=new",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--remote-debugging-port=0",
                                     "--remote-debugging-address=127.0.0.1",
                                     "--user-data-dir=" + profile_dir_,
                                     "--window-size=1100,1000",
                                     "--hide-scrollbars",
                                     "--no-first-run",
                                     "--no-default-browser-check",
                                     "--disable-extensions",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--disable-breakpad",
                                     "--disable-crash-reporter",
                                     "--password-store=basic",
                                     "--use-mock-keychain",
                                     "--mute-audio",
                                     "about:blank"};
    std::vector<char*> argv;
    for (std::string& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      if (entry.rfind("HOME=", 0) == 0 || entry.rfind("XDG_CONFIG_HOME=", 0) == 0 ||
          entry.rfind("XDG_CACHE_HOME=", 0) == 0) {
        continue;
      }
      env_strings.push_back(entry);
    }
    env_strings.push_back("HOME=" + work_dir);
    env_strings.push_back("XDG_CONFIG_HOME=" + work_dir + "/config");
    env_strings.push_back("XDG_CACHE_HOME=" + work_dir + "/cache");
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::setpgid(0, 0);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (null_fd < 0 || log_fd < 0) ::_exit(126);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so the group exists before either side runs on
    pid_ = pid;

    // Chromium writes "<port>\n<browser target path>" once it listens.
    const std::string port_file = profile_dir_ + "/DevToolsActivePort";
    const auto deadline = Clock::now() + kTimeout;
    while (Clock::now() < deadline) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string how = WIFEXITED(status)
                                    ? "exit code " + std::to_string(WEXITSTATUS(status))
                                    : "signal " + std::to_string(WTERMSIG(status));
        throw std::runtime_error("chromium exited before opening its DevTools port (" + how +
                                 "); its log:\n" + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("chromium did not open its DevTools port within " +
                             std::to_string(kTimeout.count()) + " s; its log:\n" + log());
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string log() const { return read_whole_file(log_path_).substr(0, 4000); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string profile_dir_, log_path_;
};

// A DevTools protocol session with one page target: commands with ids, their replies awaited
// one at a time; events in between are dropped, except the page's console output and uncaught
// exceptions, kept in `page_log` for failure messages.
class DevToolsPage {
 public:
  // Attaches to the first "page" target of the browser listening on 127.0.0.1:`port`.
  void connect(int port) {
    session_ = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    session_->setTimeout(Poco::Timespan(kTimeout.count(), 0));
    Poco::Net::HTTPRequest list_request(Poco::Net::HTTPRequest::HTTP_GET, "/json/list",
                                        Poco::Net::HTTPMessage::HTTP_1_1);
    session_->sendRequest(list_request);
    Poco::Net::HTTPResponse list_response;
    std::istream& body = session_->receiveResponse(list_response);
    std::stringstream ss;
    ss << body.rdbuf();
    const json targets = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    std::string ws_url;
    if (targets.is_array()) {
      for (const json& target : targets) {
        if (target.value("type", "") == "page" && target.contains("webSocketDebuggerUrl")) {
          ws_url = target["webSocketDebuggerUrl"];
          break;
        }
      }
    }
    if (ws_url.empty()) throw std::runtime_error("no page target in /json/list: " + ss.str());

    // A fresh session for the WebSocket upgrade: the list request's connection is done.
    session_ = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    session_->setTimeout(Poco::Timespan(kTimeout.count(), 0));
    Poco::Net::HTTPRequest upgrade(Poco::Net::HTTPRequest::HTTP_GET,
                                   Poco::URI(ws_url).getPathAndQuery(),
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    Poco::Net::HTTPResponse upgrade_response;
    socket_ = std::make_unique<Poco::Net::WebSocket>(*session_, upgrade, upgrade_response);
    socket_->setReceiveTimeout(Poco::Timespan(kTimeout.count(), 0));
    socket_->setMaxPayloadSize(64 << 20);  // screenshots are the largest replies
    call("Runtime.enable");
    call("Page.enable");
  }

  // Sends `method` and returns its reply's "result"; throws on a protocol error or timeout.
  json call(const std::string& method, const json& params = json::object()) {
    const int id = next_id_++;
    const std::string message = json{{"id", id}, {"method", method}, {"params", params}}.dump();
    socket_->sendFrame(message.data(), static_cast<int>(message.size()),
                       Poco::Net::WebSocket::FRAME_TEXT);
    const auto deadline = Clock::now() + kTimeout;
    while (Clock::now() < deadline) {
      json reply = receive();
      if (reply.contains("id") && reply["id"] == id) {
        if (reply.contains("error")) {
          throw std::runtime_error(method + " failed: " + reply["error"].dump());
        }
        return reply.value("result", json::object());
      }
      note_event(reply);
    }
    throw std::runtime_error(method + ": no reply within " + std::to_string(kTimeout.count()) +
                             " s");
  }

  // The value of a JavaScript expression in the page (promises awaited); throws with the
  // exception's text when it throws.
  json evaluate(const std::string& expression) {
    const json result =
        call("Runtime.evaluate",
             {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
    if (result.contains("exceptionDetails")) {
      throw std::runtime_error("page script failed: " + expression + "\n" +
                               result["exceptionDetails"].dump());
    }
    return result.contains("result") ? result["result"].value("value", json()) : json();
  }

  // Loads `url` and waits until the document is complete and the page's script has run.
  void navigate(const std::string& url) {
    const json result = call("Page.navigate", {{"url", url}});
    if (result.contains("errorText")) {
      throw std::runtime_error("navigating to " + url + ": " + result["errorText"].dump());
    }
    wait_for("document.readyState === 'complete' && !!document.getElementById('ask')",
             "the page to load");
  }

  // Polls `condition` (a JavaScript boolean expression) until it holds; throws after kTimeout.
  void wait_for(const std::string& condition, const std::string& what) {
    const auto deadline = Clock::now() + kTimeout;
    while (Clock::now() < deadline) {
      if (evaluate(condition) == json(true)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("timed out after " + std::to_string(kTimeout.count()) +
                             " s waiting for " + what + "; page log:\n" + page_log());
  }

  bool connected() const { return socket_ != nullptr; }

  // The visible viewport as PNG bytes.
  std::string screenshot() {
    const json result = call("Page.captureScreenshot", {{"format", "png"}});
    std::istringstream encoded(result.value("data", ""));
    Poco::Base64Decoder decoder(encoded);
    std::string png((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
    return png;
  }

  std::string page_log() const {
    std::string all;
    for (const std::string& line : page_log_) all += line + "\n";
    return all.empty() ? "(nothing logged)\n" : all;
  }

 private:
  json receive() {
    Poco::Buffer<char> buffer(0);
    int flags = 0;
    do {
      const int n = socket_->receiveFrame(buffer, flags);
      if (n == 0 && flags == 0) throw std::runtime_error("DevTools closed the connection");
      if ((flags & Poco::Net::WebSocket::FRAME_OP_BITMASK) ==
          Poco::Net::WebSocket::FRAME_OP_CLOSE) {
        throw std::runtime_error("DevTools closed the connection");
      }
    } while ((flags & Poco::Net::WebSocket::FRAME_FLAG_FIN) == 0);
    json message = json::parse(buffer.begin(), buffer.begin() + buffer.size(), nullptr,
                               /*allow_exceptions=*/false);
    if (message.is_discarded())
      throw std::runtime_error("DevTools sent a message that is not JSON");
    return message;
  }

  void note_event(const json& event) {
    const std::string method = event.value("method", "");
    if (method == "Runtime.exceptionThrown") {
      page_log_.push_back("exception: " +
                          event["params"]["exceptionDetails"].dump().substr(0, 600));
    } else if (method == "Runtime.consoleAPICalled") {
      std::string line = "console." + event["params"].value("type", "log") + ":";
      for (const json& arg : event["params"].value("args", json::array())) {
        line += " " + (arg.contains("value") ? arg["value"].dump() : arg.value("description", ""));
      }
      page_log_.push_back(line.substr(0, 600));
    }
  }

  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
  std::unique_ptr<Poco::Net::WebSocket> socket_;
  int next_id_ = 1;
  std::vector<std::string> page_log_;
};

// What the page shows once an ask or a search has finished.
struct PageView {
  std::string state, status, kind, answer;
  json sources;  // [{"n", "location", "cited", "text"}]
  int citation_links = 0;
};

PageView read_page(DevToolsPage& page) {
  const json view = page.evaluate(R"JS(({
    state: document.body.dataset.state || "",
    status: document.getElementById("status").textContent,
    kind: document.body.dataset.kind || "",
    answer: document.getElementById("answer").textContent,
    citation_links: document.querySelectorAll("#answer a.cite").length,
    sources: [...document.querySelectorAll("#sources li.source")].map((li) => ({
      n: Number(li.dataset.n),
      location: li.querySelector(".path").textContent,
      cited: li.classList.contains("cited"),
      text: li.querySelector(".passage").textContent,
    })),
  }))JS");
  PageView result;
  result.state = view.value("state", "");
  result.status = view.value("status", "");
  result.kind = view.value("kind", "");
  result.answer = view.value("answer", "");
  result.citation_links = view.value("citation_links", 0);
  result.sources = view.value("sources", json::array());
  return result;
}

class BrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // No skipping: a machine without Chromium cannot vouch for the page.
    if (::access(chromium_binary().c_str(), X_OK) != 0) {
      FAIL() << chromium_binary()
             << " is missing: the browser test needs Debian's chromium package (`make deps`, or "
                "`apt-get install chromium`), or RAGKIT_CHROMIUM pointing at a Chromium binary";
    }
    ASSERT_FALSE(random_minilm_model().empty());
    base_ = make_temp_dir("ragkit-browser");
    ASSERT_FALSE(base_.empty());
    notes_ = base_ + "/notes";
    db_ = base_ + "/db";
    fs::create_directories(notes_);
    write_whole_file(notes_ + "/rotation.txt",
                     "Key rotation.\n"
                     "\n"
                     "Rotate the signing keys every ninety days.\n"
                     "The zebracorn procedure replaces the old key after the new one is live.\n");
    write_whole_file(notes_ + "/install.md",
                     "# Guide\n"
                     "\n"
                     "## Install\n"
                     "\n"
                     "Run the installer with the quokkafish flag before the first start.\n");
    write_whole_file(notes_ + "/oncall.txt",
                     "The on-call engineer answers pages within fifteen minutes.\n"
                     "Escalations go to the platypod channel.\n");
    RunResult r = run_rag({"index", notes_, "--db", db_, "--model", random_minilm_model()});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  std::string base_, notes_, db_;
};

// Saves the page as <build>/test-output/browser/<test><suffix>.png and names it in the test's
// output (stdout and the XML report's "screenshot" property).
void save_screenshot(DevToolsPage& page, const std::string& suffix = "") {
  const std::string dir = build_dir() + "/test-output/browser";
  const std::string path =
      dir + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + suffix + ".png";
  try {
    fs::create_directories(dir);
    write_whole_file(path, page.screenshot());
    ::testing::Test::RecordProperty("screenshot", path);
    std::cout << "screenshot: " << path << std::endl;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "could not save the screenshot " << path << ": " << e.what();
  }
}

// Starts Chromium, attaches to its page and runs `body` on it. Exceptions from the DevTools
// plumbing (timeouts included) become test failures, with a screenshot of where the page got
// to; Chromium is killed on every path.
template <typename Body>
void run_in_browser(const std::string& work_dir, Body body) {
  Chromium chromium;
  DevToolsPage page;
  std::string failure;
  try {
    chromium.start(work_dir);
    page.connect(chromium.port());
    body(page);
    return;
  } catch (const Poco::Exception& e) {
    failure = "DevTools: " + e.displayText() + "\nchromium log:\n" + chromium.log();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  ADD_FAILURE() << failure;
  if (page.connected()) save_screenshot(page, "-failed");
}

std::string served_url(const ServeProcess& server, const std::string& path_and_query) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + path_and_query;
}

std::string describe_view(const PageView& view) {
  return "state " + view.state + ", status \"" + view.status + "\", kind " + view.kind +
         ", answer \"" + view.answer.substr(0, 300) + "\", sources " + view.sources.dump();
}

TEST_F(BrowserTest, AsksTheGeneratorAndShowsTheStreamedAnswerWithItsSources) {
  const std::string models = models_dir();
  ASSERT_FALSE(models.empty());
  ServeProcess server({"--db", db_, "--generator", models + "/stories260K/stories260K.gguf"});
  ASSERT_NE(server.port(), 0) << server.stderr_text();

  run_in_browser(base_ + "/browser", [&](DevToolsPage& page) {
    page.navigate(served_url(server, "/"));
    EXPECT_EQ(page.evaluate("document.title"), "ragkit");
    // Counts the answer's renderings while the answer is still streaming in.
    page.evaluate(R"JS((() => {
      window.streamedUpdates = 0;
      new MutationObserver(() => {
        if (document.body.dataset.state === "asking") window.streamedUpdates++;
      }).observe(document.getElementById("answer"), { childList: true, subtree: true });
    })())JS");
    // Typed as a user would: the box, then the button.
    page.evaluate(R"JS((() => {
      const box = document.getElementById("question");
      box.focus();
      box.value = "How often are the signing keys rotated?";
      box.dispatchEvent(new Event("input", { bubbles: true }));
      document.getElementById("ask").click();
    })())JS");
    page.wait_for("['done', 'error'].includes(document.body.dataset.state)", "the answer");
    PageView view = read_page(page);
    // Open the first source's passage, as a click on it does.
    page.evaluate("document.querySelector('#sources li.source summary')?.click()");
    save_screenshot(page);

    ASSERT_EQ(view.state, "done") << describe_view(view) << "\npage log:\n" << page.page_log();
    EXPECT_EQ(view.kind, "generated") << describe_view(view);
    EXPECT_FALSE(view.answer.empty()) << describe_view(view);
    // Streamed: the text grew piece by piece before the final answer arrived.
    EXPECT_GE(page.evaluate("window.streamedUpdates").get<int>(), 2);
    ASSERT_FALSE(view.sources.empty()) << describe_view(view);
    bool found_indexed_file = false;
    for (const json& source : view.sources) {
      const std::string location = source["location"];
      EXPECT_EQ(location.rfind("notes/", 0), 0u) << location;
      EXPECT_FALSE(source["text"].get<std::string>().empty()) << source.dump();
      if (location.rfind("notes/rotation.txt", 0) == 0) found_indexed_file = true;
    }
    EXPECT_TRUE(found_indexed_file) << describe_view(view);
    EXPECT_EQ(page.evaluate("document.querySelector('#sources li.source details').open"), true);

    // Search only: the passages without an answer.
    page.evaluate(R"JS((() => {
      document.getElementById("question").value = "zebracorn";
      document.getElementById("mode").value = "lexical";
      document.getElementById("search").click();
    })())JS");
    page.wait_for("['done', 'error'].includes(document.body.dataset.state)", "the search");
    const json results = page.evaluate(
        "[...document.querySelectorAll('#results li')].map((li) => "
        "li.querySelector('.path').textContent)");
    ASSERT_TRUE(results.is_array() && !results.empty()) << results.dump() << "\n"
                                                        << page.page_log();
    EXPECT_EQ(results[0].get<std::string>().rfind("notes/rotation.txt", 0), 0u) << results.dump();
  });
}

TEST_F(BrowserTest, AnswersExtractivelyWithoutAGeneratorFromTheQueryInTheLink) {
  ServeProcess server({"--db", db_});
  ASSERT_NE(server.port(), 0) << server.stderr_text();

  run_in_browser(base_ + "/browser", [&](DevToolsPage& page) {
    // ?q= fills the box and asks on load.
    std::string query;
    Poco::URI::encode("What does the zebracorn procedure replace?", "?&=#+", query);
    page.navigate(served_url(server, "/?mode=lexical&q=" + query));
    page.wait_for("['done', 'error'].includes(document.body.dataset.state)", "the answer");
    PageView view = read_page(page);
    // Follow the answer's first citation: it opens and highlights its source.
    page.evaluate("document.querySelector('#answer a.cite')?.click()");
    const json opened = page.evaluate(
        "[...document.querySelectorAll('#sources li.source')]"
        ".filter((li) => li.querySelector('details').open).map((li) => Number(li.dataset.n))");
    save_screenshot(page);

    ASSERT_EQ(view.state, "done") << describe_view(view) << "\npage log:\n" << page.page_log();
    EXPECT_EQ(view.kind, "extractive") << describe_view(view);
    EXPECT_NE(view.answer.find("zebracorn"), std::string::npos) << describe_view(view);
    EXPECT_GE(view.citation_links, 1) << describe_view(view);
    bool found_expected_file = false;
    for (const json& source : view.sources) {
      if (source["location"].get<std::string>().rfind("notes/rotation.txt", 0) == 0) {
        found_expected_file = true;
      }
    }
    EXPECT_TRUE(found_expected_file) << describe_view(view);
    EXPECT_EQ(page.evaluate("document.getElementById('question').value"),
              "What does the zebracorn procedure replace?");
    ASSERT_TRUE(opened.is_array() && opened.size() == 1) << opened.dump();
  });
}

TEST_F(BrowserTest, AsksForTheApiKeyAndSendsItOnceTyped) {
  const std::string key_file = base_ + "/keys.txt";
  write_whole_file(key_file, "# the browser test's key\nbrowser-test-key\n");
  ServeProcess server({"--db", db_, "--api-key-file", key_file});
  ASSERT_NE(server.port(), 0) << server.stderr_text();

  run_in_browser(base_ + "/browser", [&](DevToolsPage& page) {
    page.navigate(served_url(server, "/?mode=lexical&q=quokkafish"));
    page.wait_for("['done', 'error'].includes(document.body.dataset.state)", "the refusal");
    PageView refused = read_page(page);
    EXPECT_EQ(refused.state, "error") << describe_view(refused);
    EXPECT_NE(refused.status.find("API key required"), std::string::npos) << describe_view(refused);

    // The key, typed into its field, is kept for the next visit and sent as a Bearer token.
    page.evaluate(R"JS((() => {
      const key = document.getElementById("api-key");
      key.value = "browser-test-key";
      key.dispatchEvent(new Event("input", { bubbles: true }));
      document.getElementById("ask").click();
    })())JS");
    page.wait_for("['done', 'error'].includes(document.body.dataset.state)", "the answer");
    PageView view = read_page(page);
    save_screenshot(page);
    ASSERT_EQ(view.state, "done") << describe_view(view) << "\npage log:\n" << page.page_log();
    EXPECT_NE(view.answer.find("quokkafish"), std::string::npos) << describe_view(view);
    ASSERT_FALSE(view.sources.empty()) << describe_view(view);
    EXPECT_EQ(view.sources[0]["location"].get<std::string>().rfind("notes/install.md", 0), 0u)
        << describe_view(view);
    EXPECT_EQ(page.evaluate("localStorage.getItem('ragkit.apiKey')"), "browser-test-key");
  });
}

}  // namespace
}  // namespace ragkit::testing
