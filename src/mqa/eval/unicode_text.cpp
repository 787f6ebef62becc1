#include "mqa/eval/unicode_text.h"

#include <algorithm>

#include "mqa/eval/unicode_tables.h"

namespace mqa::unicode {

namespace tables = mqa::unicode_tables;

namespace {

bool in_ranges(const tables::CodeRange* ranges, std::size_t n, char32_t c) {
  // First range whose upper end is >= c; c is inside iff that range starts at or before c.
  const tables::CodeRange* end = ranges + n;
  const tables::CodeRange* it =
      std::lower_bound(ranges, end, c, [](const tables::CodeRange& r, char32_t v) { return r.hi < v; });
  return it != end && it->lo <= c;
}

// Length of the valid UTF-8 sequence at bytes[i], or 0 when it is invalid (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF). Writes the code point to *cp.
std::size_t valid_sequence(std::string_view bytes, std::size_t i, char32_t* cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  unsigned char c0 = b(i);
  if (c0 < 0x80) {
    *cp = c0;
    return 1;
  }
  std::size_t len;
  char32_t value;
  char32_t min;
  if ((c0 & 0xE0) == 0xC0) {
    len = 2, value = c0 & 0x1F, min = 0x80;
  } else if ((c0 & 0xF0) == 0xE0) {
    len = 3, value = c0 & 0x0F, min = 0x800;
  } else if ((c0 & 0xF8) == 0xF0) {
    len = 4, value = c0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > bytes.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (b(i + k) & 0x3F);
  }
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *cp = value;
  return len;
}

}  // namespace

std::u32string decode_utf8(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    char32_t cp = 0;
    std::size_t len = valid_sequence(bytes, i, &cp);
    if (len == 0) {
      out.push_back(0xFFFD);
      i += 1;
    } else {
      out.push_back(cp);
      i += len;
    }
  }
  return out;
}

std::size_t first_invalid_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    char32_t cp = 0;
    std::size_t len = valid_sequence(bytes, i, &cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string::npos;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool is_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return in_ranges(tables::whitespace, tables::whitespace_size, c);
}
bool is_punctuation(char32_t c) { return in_ranges(tables::punctuation, tables::punctuation_size, c); }
bool is_symbol(char32_t c) { return in_ranges(tables::symbol, tables::symbol_size, c); }
bool is_number(char32_t c) { return in_ranges(tables::number, tables::number_size, c); }

namespace {
bool is_case_ignorable(char32_t c) { return in_ranges(tables::case_ignorable, tables::case_ignorable_size, c); }
bool is_cased(char32_t c) { return in_ranges(tables::cased, tables::cased_size, c); }

// CPython's handle_capital_sigma: U+03A3 lowers to final sigma U+03C2 when a cased letter precedes it and none
// follows it, skipping case-ignorable characters in both directions; otherwise to U+03C3.
char32_t lower_capital_sigma(std::u32string_view text, std::size_t i) {
  std::size_t j = i;
  char32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = text[--j];
    if (!is_case_ignorable(c)) {
      found = true;
      break;
    }
  }
  if (!found || !is_cased(c)) return 0x3C3;
  for (j = i + 1; j < text.size(); ++j) {
    if (!is_case_ignorable(text[j])) return is_cased(text[j]) ? 0x3C3 : 0x3C2;
  }
  return 0x3C2;
}
}  // namespace

std::u32string lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const tables::LowerMapping* begin = tables::lowercase;
  const tables::LowerMapping* end = tables::lowercase + tables::lowercase_size;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
      continue;
    }
    if (c == 0x3A3) {
      out.push_back(lower_capital_sigma(text, i));
      continue;
    }
    auto it = std::lower_bound(begin, end, c, [](const tables::LowerMapping& m, char32_t v) { return m.from < v; });
    if (it == end || it->from != c) {
      out.push_back(c);
      continue;
    }
    for (char32_t t : it->to)
      if (t != 0) out.push_back(t);
  }
  return out;
}

std::vector<std::u32string> split_whitespace(std::u32string_view text) {
  std::vector<std::u32string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::u32string_view rstrip(std::u32string_view text) {
  std::size_t n = text.size();
  while (n > 0 && is_space(text[n - 1])) --n;
  return text.substr(0, n);
}

}  // namespace mqa::unicode
