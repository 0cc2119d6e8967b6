// libFuzzer target: the GGUF parser on arbitrary bytes. Any r1::Error is a correct answer; a
// crash, sanitizer report, other exception, hang or huge allocation is a bug.
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy, so AddressSanitizer sees any read past the end of the input.
  uint8_t* copy = new uint8_t[size ? size : 1];
  if (size) std::memcpy(copy, data, size);
  try {
    auto f = r1::GgufFile::from_memory(copy, size, "fuzz.gguf");
    volatile uint8_t sink = 0;
    for (const r1::TensorView& t : f->tensors()) {  // every tensor's bytes must lie inside the input
      if (!t.nbytes) continue;
      sink = sink ^ static_cast<const uint8_t*>(t.data)[0] ^ static_cast<const uint8_t*>(t.data)[t.nbytes - 1];
    }
    for (const auto& [key, value] : f->metadata()) {  // accessors must fail cleanly on any type
      try { (void)value.as_int(key); } catch (const r1::Error&) {}
      try { (void)value.as_float(key); } catch (const r1::Error&) {}
      try { (void)value.as_strings(key); } catch (const r1::Error&) {}
      try { (void)value.as_ints(key); } catch (const r1::Error&) {}
    }
  } catch (const r1::Error&) {
  }
  delete[] copy;
  return 0;
}
