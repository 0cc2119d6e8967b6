#include "io/file_writer.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace r1 {

FileWriter::FileWriter(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
  if (!f_) fail_errno();
}

FileWriter::~FileWriter() {
  if (f_) std::fclose(f_);
}

void FileWriter::fail_errno() const { fail("cannot write ", path_, ": ", std::strerror(errno)); }

void FileWriter::write(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, f_) != n) fail_errno();
}

void FileWriter::write_zeros(size_t n) {
  static const char zeros[4096] = {};
  while (n) {
    const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    write(zeros, k);
    n -= k;
  }
}

void FileWriter::close() {
  FILE* f = f_;
  f_ = nullptr;
  const bool flushed = std::fflush(f) == 0;
  if (std::fclose(f) != 0 || !flushed) fail_errno();
}

}  // namespace r1
