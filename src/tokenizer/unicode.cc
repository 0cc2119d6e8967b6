#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/error.h"

namespace r1 {

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t min_cp;
  if ((b0 & 0xE0) == 0xC0) len = 2, min_cp = 0x80;
  else if ((b0 & 0xF0) == 0xE0) len = 3, min_cp = 0x800;
  else if ((b0 & 0xF8) == 0xF0) len = 4, min_cp = 0x10000;
  else return 0;
  if (i + len > s.size()) return 0;
  uint32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool utf8_incomplete_tail(std::string_view s, size_t i) {
  const size_t have = s.size() - i;
  const uint8_t b0 = static_cast<uint8_t>(s[i]);
  const size_t need = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
  if (need == 0 || have >= need) return false;
  for (size_t k = 1; k < have; ++k) {
    const uint8_t b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return false;
    if (k == 1) {  // the second byte also excludes overlong forms, surrogates and > U+10FFFF
      if ((b0 == 0xE0 && b < 0xA0) || (b0 == 0xED && b > 0x9F) || (b0 == 0xF0 && b < 0x90) || (b0 == 0xF4 && b > 0x8F))
        return false;
    }
  }
  return true;
}

size_t utf8_valid_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = utf8_sequence_length(s, i);
    if (len == 0) break;
    i += len;
  }
  return i;
}

std::string nfc(std::string_view text) {
  bool ascii = true;
  for (char c : text) ascii &= static_cast<uint8_t>(c) < 0x80;
  if (ascii) return std::string(text);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                   &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) fail("NFC normalization failed: ", utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

namespace {

// Code point for each byte, per GPT-2's bytes_to_unicode().
std::array<uint32_t, 256> make_byte_code_points() {
  std::array<uint32_t, 256> cp{};
  uint32_t next = 0x100;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    cp[b] = printable ? b : next++;
  }
  return cp;
}

std::string to_utf8(uint32_t cp) {  // only for cp < 0x800, all the map needs
  if (cp < 0x80) return std::string(1, static_cast<char>(cp));
  return {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
}

// Byte for each code point < 0x144 (the map's range), -1 where none.
const std::array<int16_t, 0x144>& code_point_bytes() {
  static const std::array<int16_t, 0x144> table = [] {
    std::array<int16_t, 0x144> t;
    t.fill(-1);
    const auto cp = make_byte_code_points();
    for (int b = 0; b < 256; ++b) t[cp[b]] = static_cast<int16_t>(b);
    return t;
  }();
  return table;
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
  static const std::array<std::string, 256> chars = [] {
    std::array<std::string, 256> c;
    const auto cp = make_byte_code_points();
    for (int b = 0; b < 256; ++b) c[b] = to_utf8(cp[b]);
    return c;
  }();
  return chars;
}

std::string byte_level_encode(std::string_view bytes) {
  const auto& chars = byte_level_chars();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char b : bytes) out += chars[static_cast<uint8_t>(b)];
  return out;
}

bool byte_level_decode(std::string_view token, std::string& out) {
  const auto& table = code_point_bytes();
  out.clear();
  for (size_t i = 0; i < token.size();) {
    const uint8_t b0 = static_cast<uint8_t>(token[i]);
    uint32_t cp;
    if (b0 < 0x80) {
      cp = b0, i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < token.size() && (static_cast<uint8_t>(token[i + 1]) & 0xC0) == 0x80) {
      cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(token[i + 1]) & 0x3Fu), i += 2;
    } else {
      return false;  // a 3- or 4-byte character (or junk) is never in the map
    }
    if (cp >= table.size() || table[cp] < 0) return false;
    out += static_cast<char>(table[cp]);
  }
  return true;
}

}  // namespace r1
