// Where the checkout and the build are, for the tests that read files of the source tree or run the built `mqa`.
// This is the one test file compiled with the two paths (CMakeLists.txt), so that every other one compiles to the
// same object in any clone and a clean CI checkout takes them from ccache.
#include <string>

namespace mqa::test {

std::string source_dir() { return MQA_SOURCE_DIR; }
std::string binary_dir() { return MQA_BINARY_DIR; }

}  // namespace mqa::test
