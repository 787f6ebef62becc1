#include "spm_bridge/spm_bridge.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <dlfcn.h>

#include <cstring>
#include <iostream>
#include <new>
#include <string>
#include <vector>

namespace {
void write_error(char* err, size_t cap, const std::string& msg) {
  if (!err || cap == 0) return;
  std::strncpy(err, msg.c_str(), cap - 1);
  err[cap - 1] = '\0';
}
int copy_out(const std::string& s, char* out, int cap) {
  if (out && cap > 0) std::memcpy(out, s.data(), std::min<size_t>(s.size(), static_cast<size_t>(cap)));
  return static_cast<int>(s.size());
}
// This library is dlopen'ed with RTLD_DEEPBIND, so it and SentencePiece resolve std::cout / std::cerr / std::clog to
// libstdc++'s own definitions. But a PIE executable that names those streams (mqa and mqa_tests do) carries copy
// relocations of them: libstdc++'s ios_base::Init constructs the executable's copies, and libstdc++'s own storage
// stays raw, never-constructed memory. SentencePiece logs to std::cerr (its trainer always does), which then
// segfaults. So, when the process's streams (found through the main program's scope) are not the ones we see, we construct
// ours on the same stream buffers, just as ios_base::Init does (placement new on the raw storage).
__attribute__((constructor)) void adopt_process_streams() {
  // The main program's handle searches its global scope, executable first (RTLD_DEFAULT would start with ours).
  void* program = dlopen(nullptr, RTLD_NOW);
  if (!program) return;
  auto adopt = [&](std::ostream& ours, const char* symbol) {
    auto* process = static_cast<std::ostream*>(dlsym(program, symbol));
    if (process && process != &ours) new (&ours) std::ostream(process->rdbuf());
  };
  adopt(std::cout, "_ZSt4cout");
  adopt(std::cerr, "_ZSt4cerr");
  adopt(std::clog, "_ZSt4clog");
  dlclose(program);
}

}  // namespace

extern "C" {

void* mqa_spm_load_serialized(const char* bytes, size_t len, char* err, size_t err_cap) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto status = sp->LoadFromSerializedProto(absl::string_view(bytes, len));
  if (!status.ok()) {
    write_error(err, err_cap, status.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

void mqa_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

int mqa_spm_vocab_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

int mqa_spm_special_id(void* handle, int which) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  switch (which) {
    case 0: return sp->pad_id();
    case 1: return sp->unk_id();
    case 2: return sp->bos_id();
    case 3: return sp->eos_id();
    default: return -1;
  }
}

int mqa_spm_encode(void* handle, const char* text, size_t len, int* ids, int cap) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  std::vector<int> out;
  if (!sp->Encode(std::string(text, len), &out).ok()) return -1;
  std::memcpy(ids, out.data(), sizeof(int) * std::min<size_t>(out.size(), static_cast<size_t>(std::max(cap, 0))));
  return static_cast<int>(out.size());
}

int mqa_spm_decode(void* handle, const int* ids, int n, char* out, int cap) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  std::string text;
  if (!sp->Decode(std::vector<int>(ids, ids + n), &text).ok()) return -1;
  return copy_out(text, out, cap);
}

int mqa_spm_id_to_piece(void* handle, int id, char* out, int cap) {
  auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  if (id < 0 || id >= sp->GetPieceSize()) return -1;
  return copy_out(sp->IdToPiece(id), out, cap);
}

int mqa_spm_train(const char* args, unsigned seed, char* err, size_t err_cap) {
  sentencepiece::SetRandomGeneratorSeed(seed);  // sentence sampling and shuffling follow the run's seed
  auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) {
    write_error(err, err_cap, status.ToString());
    return -1;
  }
  return 0;
}

}  // extern "C"
