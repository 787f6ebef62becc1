#include "mqa/data/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "mqa/util/strings.h"

namespace mqa {

namespace {

// The bridge's entry points, resolved once per process.
struct SpmBridge {
  void* (*load_serialized)(const char*, size_t, char*, size_t) = nullptr;
  void (*free)(void*) = nullptr;
  int (*vocab_size)(void*) = nullptr;
  int (*special_id)(void*, int) = nullptr;
  int (*encode)(void*, const char*, size_t, int*, int) = nullptr;
  int (*decode)(void*, const int*, int, char*, int) = nullptr;
  int (*id_to_piece)(void*, int, char*, int) = nullptr;
  int (*train)(const char*, unsigned, char*, size_t) = nullptr;
};

std::string executable_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return std::filesystem::path(buf).parent_path().string();
}

const SpmBridge& bridge() {
  static SpmBridge b;
  static std::once_flag once;
  std::call_once(once, [] {
    // MQA_SPM_LIBRARY overrides; otherwise the library sits next to the executable (the build directory).
    const char* env = std::getenv("MQA_SPM_LIBRARY");
    std::string path = env ? env : executable_dir() + "/libmqa_spm.so";
    // RTLD_DEEPBIND (Debian's LibTorch): SentencePiece binds to its bundled protobuf, not LibTorch's (they are
    // incompatible). CMakeLists.txt says when it is left out.
#ifdef MQA_SPM_DEEPBIND
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#else
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
    if (!lib)
      throw std::runtime_error(fmt::format(
          "cannot load the SentencePiece bridge {}: {} (it is built beside the mqa executable; set "
          "MQA_SPM_LIBRARY to its path if you moved mqa)", path, dlerror()));
    auto sym = [&](const char* name) {
      void* p = dlsym(lib, name);
      if (!p) throw std::runtime_error(fmt::format("{}: missing symbol {}", path, name));
      return p;
    };
    b.load_serialized = reinterpret_cast<decltype(b.load_serialized)>(sym("mqa_spm_load_serialized"));
    b.free = reinterpret_cast<decltype(b.free)>(sym("mqa_spm_free"));
    b.vocab_size = reinterpret_cast<decltype(b.vocab_size)>(sym("mqa_spm_vocab_size"));
    b.special_id = reinterpret_cast<decltype(b.special_id)>(sym("mqa_spm_special_id"));
    b.encode = reinterpret_cast<decltype(b.encode)>(sym("mqa_spm_encode"));
    b.decode = reinterpret_cast<decltype(b.decode)>(sym("mqa_spm_decode"));
    b.id_to_piece = reinterpret_cast<decltype(b.id_to_piece)>(sym("mqa_spm_id_to_piece"));
    b.train = reinterpret_cast<decltype(b.train)>(sym("mqa_spm_train"));
  });
  return b;
}

// Calls fn(buffer, cap) -> needed length, growing the buffer once if it was too small.
template <class Fn>
std::string read_text(Fn fn) {
  std::string out(256, '\0');
  int n = fn(out.data(), static_cast<int>(out.size()));
  if (n < 0) return {};
  if (n > static_cast<int>(out.size())) {
    out.assign(n, '\0');
    n = fn(out.data(), n);
  }
  out.resize(std::max(n, 0));
  return out;
}

// The whole file; throws naming it when it cannot be read.
std::string read_model_file(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error(fmt::format("{}: vocabulary not found (train one with mqa spm train or mqa prepare)",
                                         path));
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::string bytes(in ? static_cast<size_t>(in.tellg()) : 0, '\0');
  if (in) in.seekg(0).read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the vocabulary", path));
  return bytes;
}

}  // namespace

Tokenizer::Tokenizer(const std::string& model_path) : Tokenizer(read_model_file(model_path), model_path) {}

std::unique_ptr<Tokenizer> Tokenizer::from_bytes(std::string bytes, const std::string& origin) {
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(bytes), origin));
}

Tokenizer::Tokenizer(std::string bytes, std::string origin) : path_(std::move(origin)), bytes_(std::move(bytes)) {
  char err[1024] = {0};
  handle_ = bridge().load_serialized(bytes_.data(), bytes_.size(), err, sizeof(err));
  if (!handle_) throw std::runtime_error(fmt::format("{}: cannot load SentencePiece model: {}", path_, err));
  vocab_size_ = bridge().vocab_size(handle_);
  pad_ = bridge().special_id(handle_, 0);
  unk_ = bridge().special_id(handle_, 1);
  bos_ = bridge().special_id(handle_, 2);
  eos_ = bridge().special_id(handle_, 3);
}

Tokenizer::~Tokenizer() {
  if (handle_) bridge().free(handle_);
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids(text.size() + 8);
  int n = bridge().encode(handle_, text.data(), text.size(), ids.data(), static_cast<int>(ids.size()));
  if (n < 0) throw std::runtime_error(fmt::format("{}: SentencePiece could not encode a line", path_));
  if (n > static_cast<int>(ids.size())) {
    ids.resize(n);
    n = bridge().encode(handle_, text.data(), text.size(), ids.data(), n);
  }
  ids.resize(n);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::vector<int> kept;
  kept.reserve(ids.size());
  for (int id : ids)
    if (id != pad_ && id != bos_ && id != eos_ && id >= 0 && id < vocab_size_) kept.push_back(id);
  return read_text([&](char* out, int cap) {
    return bridge().decode(handle_, kept.data(), static_cast<int>(kept.size()), out, cap);
  });
}

std::string Tokenizer::piece(int id) const {
  return read_text([&](char* out, int cap) { return bridge().id_to_piece(handle_, id, out, cap); });
}

void Tokenizer::train(const SpmTrainOptions& o) {
  if (o.inputs.empty()) throw std::runtime_error("SentencePiece training needs at least one input file");
  for (const auto& f : o.inputs)
    if (!std::filesystem::exists(f)) throw std::runtime_error(fmt::format("{}: training text not found", f));
  std::string args = fmt::format(
      "--input={} --model_prefix={} --vocab_size={} --model_type={} --character_coverage={} "
      "--input_sentence_size={} --shuffle_input_sentence=true --num_threads={} "
      "--pad_id=0 --unk_id=1 --bos_id=2 --eos_id=3 --minloglevel=1 --hard_vocab_limit=false",
      join(o.inputs, ","), o.model_prefix, o.vocab_size, o.model_type, o.character_coverage, o.input_sentence_size,
      o.num_threads);
  char err[2048] = {0};
  if (bridge().train(args.c_str(), static_cast<unsigned>(o.seed), err, sizeof(err)) != 0)
    throw std::runtime_error(fmt::format("SentencePiece training failed: {}", err));
}

}  // namespace mqa
