// libFuzzer target: the safetensors header parser on arbitrary bytes. Any r1::Error is a correct
// answer; a crash, sanitizer report, other exception or hang is a bug.
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* copy = new uint8_t[size ? size : 1];  // a private copy: ASan sees reads past the end
  if (size) std::memcpy(copy, data, size);
  try {
    auto s = r1::SafetensorsSet::from_memory(copy, size, "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const r1::TensorView& t : s->tensors()) {
      if (!t.nbytes) continue;
      sink = sink ^ static_cast<const uint8_t*>(t.data)[0] ^ static_cast<const uint8_t*>(t.data)[t.nbytes - 1];
    }
  } catch (const r1::Error&) {
  }
  delete[] copy;
  return 0;
}
