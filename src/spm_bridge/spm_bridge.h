// The C interface of libmqa_spm.so, the only code that touches SentencePiece. Plain C types only: no protobuf or
// SentencePiece type crosses it, so LibTorch's protobuf and SentencePiece's bundled copy never meet: Debian's
// libsentencepiece bundles protobuf-lite 3.14 and Debian's LibTorch loads libprotobuf 3.21; linked into one
// executable they crash at start-up (either initialiser binds to the other's copy, or SentencePiece's version check
// aborts). src/mqa/data/tokenizer.cpp dlopens this library (RTLD_LOCAL, and RTLD_DEEPBIND with Debian's LibTorch:
// CMakeLists.txt says when).
#pragma once
#include <cstddef>

extern "C" {
// Loads a model from its serialized bytes (the content of a .model file, or the copy embedded in a checkpoint).
// Returns an opaque handle, or nullptr with a message in err.
void* mqa_spm_load_serialized(const char* bytes, size_t len, char* err, size_t err_cap);
void mqa_spm_free(void* handle);
int mqa_spm_vocab_size(void* handle);
// Special ids (-1 when the model has none): 0 pad, 1 unk, 2 bos, 3 eos.
int mqa_spm_special_id(void* handle, int which);
// Encodes text into ids. Returns the number of ids; when it exceeds cap only cap were written (call again).
// Returns -1 on error.
int mqa_spm_encode(void* handle, const char* text, size_t len, int* ids, int cap);
// Decodes ids into UTF-8 text. Returns the byte length; when it exceeds cap the output was cut (call again).
int mqa_spm_decode(void* handle, const int* ids, int n, char* out, int cap);
// The piece of an id, written like decode. Returns its byte length, or -1 for an id out of range.
int mqa_spm_id_to_piece(void* handle, int id, char* out, int cap);
// Trains a model with a fixed random seed; args as SentencePieceTrainer's command line ("--input=a.txt --model_prefix=m ...").
// Returns 0, or -1 with a message in err.
int mqa_spm_train(const char* args, unsigned seed, char* err, size_t err_cap);
}
