#pragma once
// Splitting an operator's command line into words (internal to yiban_devices).

#include <string>
#include <string_view>
#include <vector>

namespace yiban::devices {

// Words separated by spaces or tabs; a trailing '\r' is ignored.
std::vector<std::string> split_words(std::string_view line);
// What follows the first word, trimmed ("" when nothing).
std::string rest_after_first_word(std::string_view line);

}  // namespace yiban::devices
