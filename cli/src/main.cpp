// rag: the ragkit command line. Each subcommand lives in its own <name>_command.{h,cpp} and is
// listed once in kCommands below; main() only parses, applies the global options and dispatches.
//
// Exit codes: 0 success, 1 the command failed (message on stderr), 2 the command line is wrong.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "ask_command.h"
#include "bench_command.h"
#include "cli_util.h"
#include "embed_command.h"
#include "eval_command.h"
#include "generate_command.h"
#include "index_command.h"
#include "models_command.h"
#include "quantize_command.h"
#include "search_command.h"
#include "serve_command.h"
#include "tokenize_command.h"

namespace ragkit::cli {
namespace {

constexpr int kUsageError = 2;

using AddCommand = Command (*)(CLI::App&);
// Adding a subcommand: write <name>_command.{h,cpp} with add_<name>_command() and list it here.
constexpr AddCommand kCommands[] = {
    add_index_command,
    add_search_command,
    add_docs_command,
    add_ask_command,
    add_chat_command,
    add_eval_command,
    add_embed_command,
    add_tokenize_command,
    add_generate_command,
    add_quantize_command,
    add_bench_command,
    add_serve_command,
    add_models_command,
};

int run(int argc, char** argv) {
  CLI::App app{
      "rag: search a folder of documents by meaning and ask it questions, all on this machine.\n"
      "Today: index a folder and search it, embed texts, inspect tokenization, generate text and\n"
      "quantize models, locally.",
      "rag"};
  // Global options (--threads) may also follow the subcommand: `rag embed --threads 2 ...`.
  app.fallthrough();
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "rag: error: " + std::string(e.what()) +
           "\nRun 'rag --help' or 'rag <command> --help' for usage.\n";
  });
  int threads = 0;
  add_threads_option(app, threads);

  std::vector<Command> commands;
  for (AddCommand add : kCommands) commands.push_back(add(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the message through failure_message
    return code == 0 ? 0 : kUsageError;
  }

  Status threads_applied = apply_threads(threads);
  if (!threads_applied.ok()) return report_error(threads_applied);

  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return report_error("no command given");  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace ragkit::cli

int main(int argc, char** argv) {
  // Exceptions stop here: whatever escapes a command becomes a message and exit code 1.
  try {
    return ragkit::cli::run(argc, argv);
  } catch (const std::exception& e) {
    return ragkit::cli::report_error(std::string("unexpected failure: ") + e.what());
  } catch (...) {
    return ragkit::cli::report_error("unexpected failure");
  }
}
