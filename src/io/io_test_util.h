// Helpers shared by the io tests: a scratch directory, whole-file reads and writes, and an
// assertion that a call throws r1::Error with given substrings in its message.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"

namespace r1::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "r1io-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) { write_bytes(path, b.data(), b.size()); }
inline void write_text(const std::string& path, const std::string& s) { write_bytes(path, s.data(), s.size()); }

// The message of the r1::Error that fn throws; fails the test if it throws nothing.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const r1::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an r1::Error";
  return "";
}

// Little-endian byte builder for hand-made (often broken) files.
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& put(T x) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &x, sizeof(T));
    b.insert(b.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  Bytes& u32(uint32_t x) { return put(x); }
  Bytes& u64(uint64_t x) { return put(x); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

}  // namespace r1::test

// EXPECT_ERROR_HAS(statement, "substring", ...): statement throws r1::Error with every substring.
#define EXPECT_ERROR_HAS(stmt, ...)                                                                   \
  do {                                                                                                \
    const std::string r1_msg_ = ::r1::test::error_of([&] { stmt; });                                   \
    const std::vector<std::string> r1_parts_{__VA_ARGS__};                                            \
    for (const std::string& r1_part_ : r1_parts_)                                                     \
      EXPECT_NE(r1_msg_.find(r1_part_), std::string::npos)                                             \
          << "message \"" << r1_msg_ << "\" lacks \"" << r1_part_ << "\"";                             \
  } while (0)
