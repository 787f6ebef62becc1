#include "mqa/data/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace mqa {

namespace {

constexpr char kMagic[8] = {'M', 'Q', 'A', 'S', 'H', 'R', 'D', '1'};
struct IdxHeader {
  char magic[8];
  uint64_t records;
  uint64_t tokens;
};
static_assert(sizeof(IdxHeader) == 24, "the on-disk header is 24 bytes");

std::FILE* open_for_write(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  // Large buffer: the writer is called once per sentence.
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  return f;
}

void checked_write(std::FILE* f, const void* p, size_t bytes, const std::string& path) {
  if (bytes && std::fwrite(p, 1, bytes, f) != bytes)
    throw std::runtime_error(fmt::format("{}: write failed: {}", path, std::strerror(errno)));
}

void flush_and_close(std::FILE*& f, const std::string& path) {
  bool ok = std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  f = nullptr;
  if (!ok) throw std::runtime_error(fmt::format("{}: cannot flush to disk: {}", path, std::strerror(errno)));
}

// Maps a whole file read-only; returns nullptr for an empty file.
void* map_file(const std::string& path, size_t& bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: cannot stat: {}", path, std::strerror(errno)));
  }
  bytes = static_cast<size_t>(st.st_size);
  void* p = nullptr;
  if (bytes > 0) {
    p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw std::runtime_error(fmt::format("{}: cannot mmap: {}", path, std::strerror(errno)));
    }
  }
  ::close(fd);  // the mapping keeps the file alive
  return p;
}

}  // namespace

bool shard_exists(const std::string& path) {
  return std::filesystem::exists(path + ".bin") && std::filesystem::exists(path + ".idx");
}

// ---- writer ----------------------------------------------------------------------------------------------------

ShardWriter::ShardWriter(std::string path) : path_(std::move(path)) {
  bin_ = open_for_write(path_ + ".bin.tmp");
  idx_ = open_for_write(path_ + ".idx.tmp");
  IdxHeader h{};  // placeholder, rewritten by finish() once the counts are known
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  checked_write(idx_, &h, sizeof(h), path_ + ".idx.tmp");
  write_offset(0);
}

ShardWriter::~ShardWriter() {
  if (finished_) return;
  if (bin_) std::fclose(bin_);
  if (idx_) std::fclose(idx_);
  std::error_code ec;
  std::filesystem::remove(path_ + ".bin.tmp", ec);
  std::filesystem::remove(path_ + ".idx.tmp", ec);
}

void ShardWriter::write_offset(int64_t offset) { checked_write(idx_, &offset, sizeof(offset), path_ + ".idx.tmp"); }

void ShardWriter::add(const int32_t* ids, int64_t n) {
  if (finished_) throw std::logic_error(path_ + ": ShardWriter::add after finish");
  checked_write(bin_, ids, sizeof(int32_t) * static_cast<size_t>(n), path_ + ".bin.tmp");
  tokens_ += n;
  records_ += 1;
  write_offset(tokens_);
}

void ShardWriter::finish() {
  if (finished_) return;
  IdxHeader h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.records = static_cast<uint64_t>(records_);
  h.tokens = static_cast<uint64_t>(tokens_);
  if (std::fseek(idx_, 0, SEEK_SET) != 0)
    throw std::runtime_error(fmt::format("{}.idx.tmp: seek failed: {}", path_, std::strerror(errno)));
  checked_write(idx_, &h, sizeof(h), path_ + ".idx.tmp");
  flush_and_close(bin_, path_ + ".bin.tmp");
  flush_and_close(idx_, path_ + ".idx.tmp");
  // .bin first: a reader only trusts a shard whose .idx exists, and the .idx names the .bin's exact size.
  std::filesystem::rename(path_ + ".bin.tmp", path_ + ".bin");
  std::filesystem::rename(path_ + ".idx.tmp", path_ + ".idx");
  finished_ = true;
}

// ---- reader ----------------------------------------------------------------------------------------------------

ShardReader::ShardReader(std::string path) : path_(std::move(path)) {
  const std::string idx = path_ + ".idx", bin = path_ + ".bin";
  for (const auto& f : {idx, bin})
    if (!std::filesystem::exists(f))
      throw std::runtime_error(fmt::format("{}: shard file not found (run mqa prepare)", f));
  idx_map_ = map_file(idx, idx_bytes_);
  bin_map_ = map_file(bin, bin_bytes_);
  bin_fd_ = ::open(bin.c_str(), O_RDONLY | O_CLOEXEC);
  if (bin_fd_ < 0) {
    unmap();
    throw std::runtime_error(fmt::format("{}: cannot open: {}", bin, std::strerror(errno)));
  }
  auto fail = [&](const std::string& what) {
    std::string msg = fmt::format("{}: malformed shard index: {} (re-run mqa prepare)", idx, what);
    unmap();
    throw std::runtime_error(msg);
  };
  if (idx_bytes_ < sizeof(IdxHeader)) fail(fmt::format("{} bytes, shorter than the 24-byte header", idx_bytes_));
  IdxHeader h;
  std::memcpy(&h, idx_map_, sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) fail("bad magic, expected MQASHRD1");
  records_ = static_cast<int64_t>(h.records);
  tokens_ = static_cast<int64_t>(h.tokens);
  const size_t want_idx = sizeof(IdxHeader) + sizeof(int64_t) * (h.records + 1);
  if (idx_bytes_ != want_idx)
    fail(fmt::format("{} bytes, expected {} for {} records", idx_bytes_, want_idx, records_));
  if (bin_bytes_ != sizeof(int32_t) * h.tokens)
    fail(fmt::format("{} holds {} bytes, expected {} for {} tokens", bin, bin_bytes_, sizeof(int32_t) * h.tokens,
                     tokens_));
  offsets_ = reinterpret_cast<const int64_t*>(static_cast<const char*>(idx_map_) + sizeof(IdxHeader));
  ids_ = static_cast<const int32_t*>(bin_map_);
  if (offsets_[0] != 0 || offsets_[records_] != tokens_)
    fail(fmt::format("offsets run from {} to {}, expected 0 to {}", offsets_[0], offsets_[records_], tokens_));
}

ShardReader::~ShardReader() { unmap(); }

void ShardReader::unmap() {
  if (bin_map_) ::munmap(bin_map_, bin_bytes_);
  if (idx_map_) ::munmap(idx_map_, idx_bytes_);
  bin_map_ = idx_map_ = nullptr;
  if (bin_fd_ >= 0) ::close(bin_fd_);
  bin_fd_ = -1;
}

void ShardReader::read(int64_t offset, int64_t n, int32_t* dst) const {
  size_t want = sizeof(int32_t) * static_cast<size_t>(n), done = 0;
  off_t at = static_cast<off_t>(sizeof(int32_t) * offset);
  while (done < want) {
    ssize_t got = ::pread(bin_fd_, reinterpret_cast<char*>(dst) + done, want - done, at + static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      throw std::runtime_error(fmt::format("{}.bin: read of {} bytes at {} failed: {}", path_, want, at,
                                           got < 0 ? std::strerror(errno) : "unexpected end of file"));
    done += static_cast<size_t>(got);
  }
}

void ShardReader::release_pages() const {
  // MADV_DONTNEED on a read-only shared file mapping drops only this process's page-table entries; the data
  // stays in the page cache and later reads fault it back in without I/O.
  if (bin_map_) ::madvise(bin_map_, bin_bytes_, MADV_DONTNEED);
  if (idx_map_) ::madvise(idx_map_, idx_bytes_, MADV_DONTNEED);
}

}  // namespace mqa
