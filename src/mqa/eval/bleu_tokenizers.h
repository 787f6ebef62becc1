// sacreBLEU's BLEU tokenizers, ported rule for rule: `13a` (mteval-v13a.pl, sacreBLEU's default), `intl`
// (mteval-v14.pl's international tokenization) and `none`. Each returns the tokens joined by single spaces, as
// sacreBLEU's do; BLEU then splits that string on whitespace.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace mqa {

enum class BleuTokenizer { k13a, kIntl, kNone };

// The name used on the command line and in the signature ("13a", "intl", "none").
std::string tokenizer_name(BleuTokenizer tok);
// Parses a name; throws std::invalid_argument listing the valid names.
BleuTokenizer parse_tokenizer(const std::string& name);

// sacrebleu/tokenizers/tokenizer_13a.py + tokenizer_re.py, on code points.
std::u32string tokenize_13a(std::u32string_view line);
// sacrebleu/tokenizers/tokenizer_intl.py (\p{P}, \p{S}, \p{N} from unicode_tables.cpp).
std::u32string tokenize_intl(std::u32string_view line);
std::u32string tokenize(BleuTokenizer tok, std::u32string_view line);
// UTF-8 in, UTF-8 out (invalid bytes become U+FFFD; see unicode_text.h).
std::string tokenize(BleuTokenizer tok, const std::string& utf8_line);

}  // namespace mqa
