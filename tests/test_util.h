// Helpers shared by the tests: temporary directories and paths into the source tree and ../shared/data.
#pragma once
#include <filesystem>
#include <fstream>
#include <functional>
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
// The `mqa` program of this build.
inline std::string mqa_binary() { return binary_dir() + "/mqa"; }

inline std::string source_path(const std::string& rel) { return source_dir() + "/" + rel; }
// ../shared/data beside the checkout (the real corpora), or ../../shared/data for a git worktree one level deeper
// (/work/wt/NAME); tests that need it skip when it is absent.
inline std::string shared_data(const std::string& rel) {
  const std::string beside = source_dir() + "/../shared/data/";
  const std::string above = source_dir() + "/../../shared/data/";
  return (std::filesystem::exists(beside) || !std::filesystem::exists(above) ? beside : above) + rel;
}
inline bool have_shared_data() { return std::filesystem::exists(shared_data("README.md")); }

}  // namespace mqa::test
