#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "util/memory_usage.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// Stands in for the data of an empty file: mmap cannot map zero bytes.
const uint8_t kEmpty[1] = {0};

[[noreturn]] void fail_errno(const std::string& path, int err) { fail("cannot open ", path, ": ", std::strerror(err)); }

}  // namespace

FileLoad resolve_file_load(FileLoad load, uint64_t total_bytes) {
  if (load != FileLoad::Auto) return load;
  if (const char* env = std::getenv("R1_MMAP"); env && *env) return std::string(env) == "0" ? FileLoad::Read : FileLoad::Map;
  const int64_t available = proc_kib_field("/proc/meminfo", "MemAvailable:");
  if (available < 0) return FileLoad::Map;  // no /proc/meminfo (not Linux)
  const uint64_t spare = std::max<uint64_t>(uint64_t{1} << 30, total_bytes / 8);
  return total_bytes + spare <= static_cast<uint64_t>(available) ? FileLoad::Read : FileLoad::Map;
}

MappedFile::MappedFile(const std::string& path, FileLoad load) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno(path, errno);
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail_errno(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_errno(path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) {
    ::close(fd);
    data_ = kEmpty;
    return;
  }
  if (resolve_file_load(load, size_) == FileLoad::Read && read_into_memory(fd)) {
    ::close(fd);
    return;
  }
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) fail_errno(path, err);
  data_ = static_cast<const uint8_t*>(p);
  region_ = p;
  region_size_ = size_;
}

// Anonymous memory in huge pages (util/huge_pages.h), the file read into it with pread (the page
// cache's copy is not mapped here, so it does not count in this process's RSS), then made read-only
// like a mapping. False when the memory is not there (the caller maps instead); an I/O error throws.
// Slices of kReadSlice bytes go to every core: each 2 MiB page is zeroed by the kernel at its first
// touch and then filled by the copy, both on the reading thread, which made one thread's read the
// bulk of a load (Qwen-1.5B F16, 3.4 GB: 65% of the load's samples in clear_page_erms).
bool MappedFile::read_into_memory(int fd) {
  HugePageRegion memory(size_);
  if (!memory.ok()) return false;
  uint8_t* dst = memory.data();
  constexpr size_t kReadSlice = size_t{64} << 20;
  run_jobs_on_threads((size_ + kReadSlice - 1) / kReadSlice, [&](size_t slice) {
    const size_t end = std::min(size_, (slice + 1) * kReadSlice);
    for (size_t done = slice * kReadSlice; done < end;) {
      const ssize_t n = ::pread(fd, dst + done, end - done, off_t(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : 0;
        if (err) fail("cannot read ", path_, ": ", std::strerror(err));
        fail("cannot read ", path_, ": the file ended at byte ", done, " of ", size_, " (changed while being read?)");
      }
      done += size_t(n);
    }
  });
  ::mprotect(memory.base(), memory.span(), PROT_READ);
  data_ = dst;
  memory_ = std::move(memory);
  in_memory_ = true;
  return true;
}

bool MappedFile::set_writable(bool on) {
  if (!in_memory_) return false;
  // A repacking pass asks once per tensor; mprotect walks the whole region, so only on a change.
  if (writable_ == on) return true;
  if (::mprotect(memory_.base(), memory_.span(), on ? PROT_READ | PROT_WRITE : PROT_READ) != 0) return false;
  writable_ = on;
  return true;
}

uint8_t* writable_bytes(const std::vector<std::unique_ptr<MappedFile>>& files, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& f : files)
    if (b >= f->data() && b + n <= f->data() + f->size()) return f->set_writable(true) ? const_cast<uint8_t*>(b) : nullptr;
  return nullptr;
}

void seal_files(const std::vector<std::unique_ptr<MappedFile>>& files) {
  for (const auto& f : files) f->set_writable(false);
}

MappedFile::~MappedFile() {
  if (region_) ::munmap(region_, region_size_);
}

void MappedFile::prefetch() const {
  if (region_ && !in_memory_) ::madvise(region_, region_size_, MADV_WILLNEED);
}

}  // namespace r1
