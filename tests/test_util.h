// Helpers shared by the tests: temporary directories, running commands (mqa), paths into the source tree and the
// real corpora.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <random>
#include <string>

namespace mqa::test {

// A fresh directory under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    root_ = std::filesystem::temp_directory_path() / ("mqa_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(root_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::string path(const std::string& rel = "") const { return (root_ / rel).string(); }
  std::string write(const std::string& rel, const std::string& text) const {
    auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::filesystem::path root_;
};

// The message of the exception fn throws, or "<no error>".
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

// Runs a shell command line: its exit status (-1 when it did not exit normally) and what it wrote to stdout (`out`)
// and stderr (`err`); with merge_stderr both go to `out`, in the order written, and `err` stays empty.
struct CommandResult {
  int status = -1;
  std::string out, err;
};
inline CommandResult run_command(const std::string& command, bool merge_stderr = true) {
  CommandResult r;
  char err_path[] = "/tmp/mqa_test_stderr_XXXXXX";
  if (!merge_stderr) {
    const int fd = mkstemp(err_path);
    if (fd < 0) return r;
    close(fd);
  }
  const std::string redirect = merge_stderr ? " 2>&1" : std::string(" 2> '") + err_path + "'";
  FILE* pipe = popen(("(" + command + ")" + redirect).c_str(), "r");
  if (pipe) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
    const int status = pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  if (!merge_stderr) {
    std::ifstream e(err_path, std::ios::binary);
    r.err.assign(std::istreambuf_iterator<char>(e), {});
    unlink(err_path);
  }
  return r;
}

// The whole file, bytes as they are.
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The source tree and the build directory (tests/test_paths.cpp).
std::string source_dir();
std::string binary_dir();
// The `mqa` program of this build; quoted for a shell command line.
inline std::string mqa_binary() { return binary_dir() + "/mqa"; }
inline std::string mqa_executable() { return "'" + mqa_binary() + "'"; }

inline std::string source_path(const std::string& rel) { return source_dir() + "/" + rel; }
// The real corpora (multi30k/, sotu/: README "Data"): the folder $MQA_TEST_DATA names; without it ../shared/data
// beside the checkout, or ../../shared/data beside a git worktree one level deeper (this project's machines keep
// them there). Tests that need them skip, with shared_data_missing() as the message, when they are absent.
inline std::string shared_data(const std::string& rel) {
  if (const char* env = std::getenv("MQA_TEST_DATA"); env && *env) return std::string(env) + "/" + rel;
  const std::string beside = source_dir() + "/../shared/data/";
  const std::string above = source_dir() + "/../../shared/data/";
  return (std::filesystem::exists(beside) || !std::filesystem::exists(above) ? beside : above) + rel;
}
inline bool have_shared_data() { return std::filesystem::exists(shared_data("multi30k")); }
inline std::string shared_data_missing() {
  return "needs the real corpora (multi30k/, sotu/) in " + shared_data("") +
         ": set MQA_TEST_DATA=DIR to their folder (README \"Data\")";
}

}  // namespace mqa::test
