// Small string helpers shared by the config system, the CLI and the text tools.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mqa {

std::string trim(const std::string& s);
std::string to_lower(std::string s);
std::string join(const std::vector<std::string>& parts, const std::string& sep);
std::vector<std::string> split(const std::string& s, char sep);
bool starts_with(const std::string& s, const std::string& prefix);
bool ends_with(const std::string& s, const std::string& suffix);
// Whitespace-separated words of a line (isspace in the C locale): the "words" of per-word perplexity.
int64_t count_words(const std::string& line);

// Edit distance (insertions, deletions, substitutions), for "did you mean" suggestions.
int edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word`, or "" when none is close enough to be a plausible typo.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace mqa
