// Writes a file front to back, turning every failure (no directory, disk full) into an r1::Error
// "cannot write <path>: <reason>". Used by the GGUF and safetensors writers.
#pragma once
#include <cstddef>
#include <cstdio>
#include <string>

namespace r1 {

class FileWriter {
 public:
  explicit FileWriter(const std::string& path);  // creates or truncates
  ~FileWriter();                                 // closes without checking: call close() to finish
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void write(const void* data, size_t n);
  void write_zeros(size_t n);
  void close();  // flushes; throws if any write failed

 private:
  [[noreturn]] void fail_errno() const;
  std::string path_;
  FILE* f_ = nullptr;
};

}  // namespace r1
