// UTF-8 and Unicode helpers the tokenizer needs: validity scanning (input text may be any bytes),
// NFC normalization (utf8proc), and GPT-2's byte <-> printable-character map used by byte-level BPE.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace r1 {

// Length of the well-formed UTF-8 sequence starting at s[i] (1..4), or 0 if the bytes there are
// not a complete, valid sequence (stray continuation byte, overlong form, surrogate, > U+10FFFF,
// or truncated at the end of s).
size_t utf8_sequence_length(std::string_view s, size_t i);

// True if s[i..] (which runs to the end of s) is a proper prefix of some valid UTF-8 sequence,
// i.e. more bytes could still complete a character.
bool utf8_incomplete_tail(std::string_view s, size_t i);

// The number of bytes at the start of s that form complete, valid UTF-8.
size_t utf8_valid_prefix(std::string_view s);

// NFC of valid UTF-8 text (ASCII-only text is returned unchanged without calling utf8proc).
std::string nfc(std::string_view valid_utf8);

// GPT-2 bytes_to_unicode(): each byte maps to one printable character; printable Latin-1 bytes
// map to themselves, the other 68 bytes to U+0100 + k in byte order. Byte-level BPE vocabularies
// spell tokens in these characters, so "Ġ" (U+0120) is the space byte.
const std::array<std::string, 256>& byte_level_chars();  // UTF-8 of the character for each byte
std::string byte_level_encode(std::string_view bytes);

// Inverse: the bytes a byte-level token string stands for. Returns false (out unspecified) if
// the string holds a character outside the map, i.e. it is not a byte-level spelling.
bool byte_level_decode(std::string_view token, std::string& out);

}  // namespace r1
