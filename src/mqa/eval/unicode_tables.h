// Unicode property tables generated from Python's own Unicode data (scripts/gen_unicode_tables.py), so that the
// sacreBLEU port classifies characters exactly as sacreBLEU's Python does. Query them through unicode_text.h.
#pragma once
#include <cstddef>

namespace mqa::unicode_tables {

struct CodeRange {
  char32_t lo, hi;  // inclusive
};
struct LowerMapping {
  char32_t from;
  char32_t to[3];  // 0-padded
};

extern const char* const unicode_version;
extern const CodeRange punctuation[], symbol[], number[], whitespace[], case_ignorable[], cased[];
extern const std::size_t punctuation_size, symbol_size, number_size, whitespace_size, case_ignorable_size, cased_size;
extern const LowerMapping lowercase[];
extern const std::size_t lowercase_size;

}  // namespace mqa::unicode_tables
