#pragma once

#include <cstddef>
#include <string_view>

namespace yiban::protocol {

// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);
// Number of code points; the text must be valid UTF-8.
std::size_t utf8_length(std::string_view text);

}  // namespace yiban::protocol
