// Anonymous memory for large arrays that are streamed once per token (weights, attention caches):
// 2 MiB-aligned and advised for transparent huge pages. With THP in its common "madvise" mode the
// kernel backs only advised memory with 2 MiB pages; 4 KiB pages cost a TLB entry per 4 KiB and stop
// the hardware prefetchers at every page boundary, which made decode read weights ~1.3-1.5x slower
// (docs/PERFORMANCE.md, Loading) and attention over a 4096-position cache ~1.5x slower
// (BM_attention_cold).
#pragma once
#include <cstddef>
#include <cstdint>

namespace r1 {

// At least `bytes` of zero-filled, 2 MiB-aligned, read-write anonymous memory advised for huge
// pages; pages become resident when first touched. ok() is false when the memory is not there.
class HugePageRegion {
 public:
  HugePageRegion() = default;
  explicit HugePageRegion(size_t bytes);
  ~HugePageRegion();
  HugePageRegion(HugePageRegion&& o) noexcept { *this = static_cast<HugePageRegion&&>(o); }
  HugePageRegion& operator=(HugePageRegion&& o) noexcept;
  HugePageRegion(const HugePageRegion&) = delete;
  HugePageRegion& operator=(const HugePageRegion&) = delete;

  bool ok() const { return data_ != nullptr; }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // The whole mapping (for mprotect): base() .. base() + span().
  void* base() const { return base_; }
  size_t span() const { return span_; }

 private:
  void* base_ = nullptr;
  size_t span_ = 0;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A HugePageRegion of n elements of `size` bytes; throws r1::Error naming `what` when they do not
// fit in the address space or the memory is not there.
HugePageRegion huge_region(size_t n, size_t size, const char* what);

// n elements of T in a HugePageRegion (zeros), for the attention caches (floats, or F16 bits).
template <class T>
class HugeArray {
 public:
  HugeArray(size_t n, const char* what) : region_(huge_region(n, sizeof(T), what)), n_(n) {}
  T* data() { return reinterpret_cast<T*>(region_.data()); }
  const T* data() const { return reinterpret_cast<const T*>(region_.data()); }
  size_t size() const { return n_; }

 private:
  HugePageRegion region_;
  size_t n_;
};
using HugeFloatArray = HugeArray<float>;

}  // namespace r1
