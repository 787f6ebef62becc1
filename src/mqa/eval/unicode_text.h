// The few pieces of Python's string semantics that sacreBLEU's results depend on, over UTF-32 code points:
// UTF-8 decoding, str.isspace()/split()/rstrip(), str.lower(), and the \p{P} \p{S} \p{N} classes of the `regex`
// module. Tables come from scripts/gen_unicode_tables.py (Unicode version in unicode_tables.cpp).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mqa::unicode {

// Decodes UTF-8. Python would refuse invalid input (UnicodeDecodeError); a library function should not crash
// or throw on it, so each byte that does not start or continue a valid sequence (including overlong forms,
// surrogates and code points past U+10FFFF) becomes one U+FFFD. Callers that must refuse bad input, like
// `mqa bleu` reading files, check with first_invalid_utf8() first.
std::u32string decode_utf8(std::string_view bytes);
std::string encode_utf8(std::u32string_view text);
// Byte offset of the first invalid UTF-8 sequence, or std::string::npos when the text is valid.
std::size_t first_invalid_utf8(std::string_view bytes);

bool is_space(char32_t c);        // str.isspace()
bool is_punctuation(char32_t c);  // \p{P}
bool is_symbol(char32_t c);       // \p{S}
bool is_number(char32_t c);       // \p{N}

// str.lower(): full mappings (U+0130 becomes two code points) and the Final_Sigma rule for U+03A3.
std::u32string lower(std::u32string_view text);
// str.split() with no argument: runs of whitespace separate, no empty fields.
std::vector<std::u32string> split_whitespace(std::u32string_view text);
// str.rstrip() with no argument.
std::u32string_view rstrip(std::u32string_view text);

}  // namespace mqa::unicode
