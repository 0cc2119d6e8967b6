#include "util/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

#include "core/error.h"

namespace r1 {

HugePageRegion::HugePageRegion(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes > SIZE_MAX - 2 * kHuge) return;  // no address space for it
  // One spare huge page, so that the 2 MiB-aligned start leaves `bytes` after it.
  const size_t span = (bytes + kHuge - 1) / kHuge * kHuge + kHuge;
  void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  auto* base = static_cast<uint8_t*>(p);
  auto* aligned = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(base) + kHuge - 1) & ~uintptr_t{kHuge - 1});
#ifdef MADV_HUGEPAGE
  ::madvise(aligned, span - size_t(aligned - base), MADV_HUGEPAGE);
#endif
  base_ = p;
  span_ = span;
  data_ = aligned;
  size_ = bytes;
}

HugePageRegion& HugePageRegion::operator=(HugePageRegion&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(base_, span_);
    base_ = o.base_, span_ = o.span_, data_ = o.data_, size_ = o.size_;
    o.base_ = nullptr, o.span_ = 0, o.data_ = nullptr, o.size_ = 0;
  }
  return *this;
}

HugePageRegion::~HugePageRegion() {
  if (base_) ::munmap(base_, span_);
}

HugePageRegion huge_region(size_t n, size_t size, const char* what) {
  if (n > SIZE_MAX / size) fail(what, ": ", n, " elements of ", size, " bytes do not fit in the address space");
  HugePageRegion region(n * size);
  if (!region.ok()) fail(what, ": cannot allocate ", n * size, " bytes");
  return region;
}

}  // namespace r1
