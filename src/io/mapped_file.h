// A whole file mapped read-only into memory. Model weights are used straight from the mapping
// (zero-copy), so a 100 GB checkpoint costs page cache, not heap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace r1 {

class MappedFile {
 public:
  // Throws r1::Error "cannot open <path>: <reason>" (missing file, directory, no permission).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  // An empty file has size() 0 and a non-null data() that must not be read.
  const uint8_t* data() const { return data_; }

  // Asks the kernel to start reading the whole file in now (before a pass over every weight).
  void prefetch() const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

}  // namespace r1
