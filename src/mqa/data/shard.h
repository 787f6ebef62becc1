// Binary token shards: a corpus of variable-length records (sentences) of int32 token ids, stored as two files.
//
//   PATH.bin   the ids of all records, back to back (int32, native little-endian)
//   PATH.idx   header {magic "MQASHRD1", uint64 records, uint64 tokens} + int64 offsets[records + 1]
//              (record r is bin[offsets[r] .. offsets[r+1]))
//
// ShardWriter streams records to disk (its memory does not depend on the corpus size) and publishes both files
// atomically on finish(): they are written as *.tmp, flushed, then renamed, .bin before .idx, so a shard whose
// .idx exists is complete. ShardReader maps both files read-only; the kernel pages them in on demand.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace mqa {

class ShardWriter {
 public:
  explicit ShardWriter(std::string path);  // PATH without extension
  ~ShardWriter();                           // without finish(): removes the temporary files
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(const int32_t* ids, int64_t n);
  void add(const std::vector<int32_t>& ids) { add(ids.data(), static_cast<int64_t>(ids.size())); }
  void finish();  // flushes, fsyncs and renames into place
  int64_t records() const { return records_; }
  int64_t tokens() const { return tokens_; }

 private:
  void write_offset(int64_t offset);
  std::string path_;
  std::FILE* bin_ = nullptr;
  std::FILE* idx_ = nullptr;
  int64_t records_ = 0, tokens_ = 0;
  bool finished_ = false;
};

class ShardReader {
 public:
  explicit ShardReader(std::string path);  // PATH without extension; throws naming the file when malformed
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  int64_t records() const { return records_; }
  int64_t tokens() const { return tokens_; }
  int64_t length(int64_t r) const { return offsets_[r + 1] - offsets_[r]; }
  int64_t offset(int64_t r) const { return offsets_[r]; }
  const int32_t* data(int64_t r) const { return ids_ + offsets_[r]; }
  const int32_t* ids() const { return ids_; }  // all tokens, [tokens()]
  const std::string& path() const { return path_; }
  // Copies tokens [offset, offset + n) of the .bin into dst with one pread() (no mapping touched): the loader's
  // `data.read: pread` path, whose resident memory stays flat however large the corpus is.
  void read(int64_t offset, int64_t n, int32_t* dst) const;
  // Unmaps the pages read so far (they stay in the page cache and fault back in cheaply), so that the process's
  // resident set does not grow to the size of the corpus over an epoch.
  void release_pages() const;

 private:
  void unmap();
  std::string path_;
  void* bin_map_ = nullptr;
  void* idx_map_ = nullptr;
  size_t bin_bytes_ = 0, idx_bytes_ = 0;
  int bin_fd_ = -1;
  const int32_t* ids_ = nullptr;
  const int64_t* offsets_ = nullptr;
  int64_t records_ = 0, tokens_ = 0;
};

// True when PATH.bin and PATH.idx both exist.
bool shard_exists(const std::string& path);

}  // namespace mqa
