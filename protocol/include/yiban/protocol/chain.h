#pragma once
// The hall event log's hash chain (ARCHITECTURE §4):
// chain(n) = SHA-256(chain(n-1) || text(n)), chain(0) = 32 zero bytes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yiban::protocol {

using ChainHash = std::array<std::uint8_t, 32>;

inline constexpr ChainHash kChainZero{};

ChainHash chain_next(const ChainHash& previous, std::string_view event_text);
std::string to_hex(const ChainHash& hash);
std::optional<ChainHash> chain_from_hex(std::string_view hex);

// SHA-256 of bytes, as 64 lower-case hex digits (file names of case
// materials, chunk digests, versions of texts sent to halls).
std::string sha256_hex(std::string_view bytes);
// 64 lower-case hex digits?
bool is_sha256_hex(std::string_view text);

}  // namespace yiban::protocol
