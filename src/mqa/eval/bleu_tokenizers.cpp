#include "mqa/eval/bleu_tokenizers.h"

#include <stdexcept>

#include "mqa/eval/unicode_text.h"

namespace mqa {

std::string tokenizer_name(BleuTokenizer tok) {
  switch (tok) {
    case BleuTokenizer::k13a: return "13a";
    case BleuTokenizer::kIntl: return "intl";
    case BleuTokenizer::kNone: return "none";
  }
  return "?";
}

BleuTokenizer parse_tokenizer(const std::string& name) {
  if (name == "13a") return BleuTokenizer::k13a;
  if (name == "intl") return BleuTokenizer::kIntl;
  if (name == "none") return BleuTokenizer::kNone;
  throw std::invalid_argument("unknown BLEU tokenizer '" + name + "' (expected one of: 13a, intl, none)");
}

namespace {

// Python's str.replace: every non-overlapping occurrence, scanning left to right.
void replace_all(std::u32string& s, std::u32string_view from, std::u32string_view to) {
  std::u32string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t hit = s.find(from, pos);
    if (hit == std::u32string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos, std::u32string::npos);
  s = std::move(out);
}

// re.sub(r'(A)(B)', r'<pre>\1<mid>\2<post>', s) for single-character classes A and B: matches never overlap
// and the scan resumes after a match, exactly as the regex engine does for a two-character pattern.
template <typename First, typename Second>
std::u32string sub_pair(std::u32string_view s, First first, Second second, std::u32string_view pre,
                        std::u32string_view mid, std::u32string_view post) {
  std::u32string out;
  out.reserve(s.size() + s.size() / 2);
  std::size_t i = 0;
  while (i < s.size()) {
    if (i + 1 < s.size() && first(s[i]) && second(s[i + 1])) {
      out.append(pre);
      out.push_back(s[i]);
      out.append(mid);
      out.push_back(s[i + 1]);
      out.append(post);
      i += 2;
    } else {
      out.push_back(s[i]);
      i += 1;
    }
  }
  return out;
}

// ' '.join(s.split()): whitespace runs collapse to one space, none at either end.
std::u32string normalize_spaces(std::u32string_view s) {
  std::u32string out;
  for (const auto& word : unicode::split_whitespace(s)) {
    if (!out.empty()) out.push_back(U' ');
    out.append(word);
  }
  return out;
}

bool ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }  // Python's [0-9] is ASCII only
bool not_ascii_digit(char32_t c) { return !ascii_digit(c); }
bool period_or_comma(char32_t c) { return c == U'.' || c == U','; }
bool dash(char32_t c) { return c == U'-'; }

// tokenizer_re.py's first class, [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation and symbols except the
// apostrophe, comma, hyphen and period (handled by the rules after it), and the space itself.
bool split_off_13a(char32_t c) {
  return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) ||
         (c >= 0x28 && c <= 0x2B) || (c >= 0x3A && c <= 0x40) || c == 0x2F;
}

}  // namespace

std::u32string tokenize_13a(std::u32string_view line_in) {
  std::u32string line(line_in);
  // Language-independent part of mteval-v13a, in sacreBLEU's order (so "&amp;lt;" ends as "<").
  replace_all(line, U"<skipped>", U"");
  replace_all(line, U"-\n", U"");
  replace_all(line, U"\n", U" ");
  replace_all(line, U"&quot;", U"\"");
  replace_all(line, U"&amp;", U"&");
  replace_all(line, U"&lt;", U"<");
  replace_all(line, U"&gt;", U">");
  // Padding with spaces lets a final period be split off even after a digit ("in 2019." -> "2019 .").
  std::u32string s = U" " + line + U" ";

  std::u32string spaced;
  spaced.reserve(s.size() * 2);
  for (char32_t c : s) {
    if (split_off_13a(c)) {
      spaced.push_back(U' ');
      spaced.push_back(c);
      spaced.push_back(U' ');
    } else {
      spaced.push_back(c);
    }
  }
  // Period and comma are split off unless preceded by a digit, then unless followed by one: "1,000.5" stays.
  s = sub_pair(spaced, not_ascii_digit, period_or_comma, U"", U" ", U" ");
  s = sub_pair(s, period_or_comma, not_ascii_digit, U" ", U" ", U"");
  // A dash after a digit is split off ("2-3" -> "2 - 3"), not one before it.
  s = sub_pair(s, ascii_digit, dash, U"", U" ", U" ");
  return normalize_spaces(s);
}

std::u32string tokenize_intl(std::u32string_view line) {
  auto not_number = [](char32_t c) { return !unicode::is_number(c); };
  auto punct = [](char32_t c) { return unicode::is_punctuation(c); };
  // Punctuation is split off unless it sits between two numbers (decimal and thousands separators); note that
  // without sacreBLEU-13a's padding a number's final period stays attached, as in mteval-v14.pl.
  std::u32string s = sub_pair(line, not_number, punct, U"", U" ", U" ");
  s = sub_pair(s, punct, not_number, U" ", U" ", U"");
  std::u32string out;
  out.reserve(s.size() * 2);
  for (char32_t c : s) {
    if (unicode::is_symbol(c)) {
      out.push_back(U' ');
      out.push_back(c);
      out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
  return normalize_spaces(out);
}

std::u32string tokenize(BleuTokenizer tok, std::u32string_view line) {
  switch (tok) {
    case BleuTokenizer::k13a: return tokenize_13a(line);
    case BleuTokenizer::kIntl: return tokenize_intl(line);
    case BleuTokenizer::kNone: return std::u32string(line);
  }
  return std::u32string(line);
}

std::string tokenize(BleuTokenizer tok, const std::string& utf8_line) {
  return unicode::encode_utf8(tokenize(tok, unicode::decode_utf8(utf8_line)));
}

}  // namespace mqa
