// Runs the built `rag` binary in a child process, as a user or a script would, for the
// end-to-end tests: its exit code, signal, stdout and stderr.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ragkit::testing {

struct RunResult {
  int exit_code = -1;  // -1 when the process was killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

std::string read_whole_file(const std::string& path);
void write_whole_file(const std::string& path, const std::string& bytes);

// Runs `rag args...` with `stdin_text` on its stdin. Output goes through files rather than pipes
// so a chatty child can never block on a full pipe while we wait for it.
RunResult run_rag(const std::vector<std::string>& args, const std::string& stdin_text = "");

// Exit code, signal and the start of both streams, for failure messages.
std::string describe(const RunResult& r);

// stdout parsed as JSON (a failed expectation when it is not).
nlohmann::json parse_json(const RunResult& r);

}  // namespace ragkit::testing
