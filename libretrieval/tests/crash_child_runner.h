// Runs the crash-test child (crash_child/crash_child.cpp) and SIGKILLs it at a chosen moment.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ragkit::retrieval::testing {

struct ChildRun {
  std::string output;   // everything the child printed
  bool opened = false;  // it printed its "O" line (the collection is open)
  bool killed = false;  // it was still running when killed (else it ended by itself)
};

// Starts the child with `args`, kills it after `delay` (counted from its "O" line when
// `after_open`).
inline ChildRun run_and_kill(const std::vector<std::string>& args,
                             std::chrono::microseconds delay, bool after_open) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  std::vector<char*> argv;
  std::string program = RAGKIT_STORE_CRASH_CHILD;
  argv.push_back(program.data());
  std::vector<std::string> storage(args);
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::execv(RAGKIT_STORE_CRASH_CHILD, argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  ChildRun run;
  std::mutex mutex;
  std::condition_variable opened;
  std::thread reader([&] {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      std::lock_guard lock(mutex);
      run.output.append(buf, static_cast<size_t>(n));
      if (!run.opened && run.output.find("O\n") != std::string::npos) {
        run.opened = true;
        opened.notify_all();
      }
    }
  });
  if (after_open) {
    std::unique_lock lock(mutex);
    opened.wait_for(lock, std::chrono::seconds(60), [&] { return run.opened; });
  }
  std::this_thread::sleep_for(delay);
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  reader.join();
  ::close(fds[0]);
  run.killed = WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL;
  return run;
}

}  // namespace ragkit::retrieval::testing
