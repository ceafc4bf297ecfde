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

}  // namespace yiban::protocol
