// A whole file, read-only in memory: mapped (zero-copy; a 100 GB checkpoint costs page cache, not
// heap), or read into anonymous memory backed by transparent huge pages. Decode streams every
// weight once per token, and with 4 KiB pages of a file mapping it reads ~40-50 GB/s on 2 cores
// where 2 MiB pages give ~65 (one TLB entry per 2 MiB instead of per 4 KiB); model loads read
// files in when they fit in memory (FileLoad::Auto).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/huge_pages.h"

namespace r1 {

enum class FileLoad {
  Map,   // map the file
  Read,  // read it into huge-page-backed memory
  Auto,  // R1_MMAP=1 / R1_MMAP=0 in the environment: Map / Read; else Read when the model fits in
         // MemAvailable with max(1 GiB, 1/8 of it) to spare, else Map
};

// Auto decided for a model whose files hold total_bytes together (Map and Read stay as they are):
// a model in several files is read in whole or mapped whole.
FileLoad resolve_file_load(FileLoad load, uint64_t total_bytes);

class MappedFile {
 public:
  // Throws r1::Error "cannot open <path>: <reason>" (missing file, directory, no permission) or
  // "cannot read <path>: <reason>" (Read: an I/O error, or the file shrank while being read).
  explicit MappedFile(const std::string& path, FileLoad load = FileLoad::Map);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  // An empty file has size() 0 and a non-null data() that must not be read.
  const uint8_t* data() const { return data_; }

  // True when the bytes were read into memory (FileLoad::Read, or Auto that chose it).
  bool in_memory() const { return in_memory_; }

  // Load-time repacking (ops/repack.h) rewrites weights in place: makes the bytes writable (true) or
  // read-only again. False, and nothing changed, when the file is mapped: its pages are the page
  // cache's, and writing them would copy each one into the process.
  bool set_writable(bool on);

  // Asks the kernel to start reading the whole file in now (before a pass over every weight).
  void prefetch() const;

 private:
  bool read_into_memory(int fd);

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* region_ = nullptr;  // the mapping, when mapped
  size_t region_size_ = 0;
  HugePageRegion memory_;   // the bytes, when read into memory
  bool in_memory_ = false;
  bool writable_ = false;  // set_writable(true) in effect
};

// Load-time repacking over a model's files (GgufFile / SafetensorsSet::writable): the bytes
// [p, p + n) made writable when they lie in one of `files` read into memory, else null (a mapped
// file, or bytes in none of them). seal_files makes every file read-only again.
uint8_t* writable_bytes(const std::vector<std::unique_ptr<MappedFile>>& files, const void* p, size_t n);
void seal_files(const std::vector<std::unique_ptr<MappedFile>>& files);

}  // namespace r1
