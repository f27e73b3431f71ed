// Small string helpers: edit distance for "did you mean", joining.
#pragma once

#include <string>
#include <vector>

namespace cvgate {

/// Levenshtein distance.
std::size_t editDistance(const std::string& a, const std::string& b);

/// The closest candidate within a small distance, or "" when none is close.
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" or "".
std::string didYouMean(const std::string& word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, const std::string& sep);

/// printf-style double formatting with `digits` significant decimals.
std::string fmtNum(double v, int decimals = 3);

/// Text for HTML element content or a double-quoted attribute: & < > " escaped.
std::string htmlEscape(const std::string& s);

/// Text on one line: control characters (a newline a parser quoted from its
/// input, say) written as C escapes (\n, \t, \xNN), so that an error message
/// stays one line however hostile the input it quotes.
std::string oneLine(const std::string& s);

/// Text for one Markdown table cell: '|' escaped, newlines as spaces.
std::string markdownCell(const std::string& s);

}  // namespace cvgate
