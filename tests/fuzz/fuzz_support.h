#pragma once
// Helpers shared by the fuzz targets (tests/fuzz): splitting an input into a
// selector byte and a text, and a check that aborts (so libFuzzer records the
// input) when a round trip breaks.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace yiban::fuzz {

// Aborts with a message: libFuzzer saves the input as a crash artifact.
#define YIBAN_FUZZ_CHECK(cond)                                                            \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

// The first byte of the input chooses a decoder; the rest is its text.
struct Input {
  std::uint8_t selector = 0;
  std::string_view text;
};

inline Input split_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {};
  return {data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)};
}

// Splits text at its first NUL byte: two texts for two-argument functions.
// Without a NUL, first is the whole text and has_second is false.
struct Pair {
  std::string_view first;
  std::string_view second;
  bool has_second = false;
};

inline Pair split_at_nul(std::string_view text) {
  const auto nul = text.find('\0');
  if (nul == std::string_view::npos) return {text, {}, false};
  return {text.substr(0, nul), text.substr(nul + 1), true};
}

}  // namespace yiban::fuzz
