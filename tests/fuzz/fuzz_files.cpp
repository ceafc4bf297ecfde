// Fuzz target: key and token files central and the edge read at start-up
// (ARCHITECTURE §11). The first byte chooses:
//   even  parse_token_file, then a TokenTable lookup of each granted token
//   odd   parse_curve_cert; a certificate that parses is formatted again
//         (public and secret) and must parse to the same keys and metadata
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "yiban/protocol/curve_cert.h"
#include "yiban/protocol/tokens.h"

namespace {

using namespace yiban::protocol;
using yiban::fuzz::split_input;

void fuzz_tokens(std::string_view text) {
  auto grants = parse_token_file(text);
  if (!grants) {
    YIBAN_FUZZ_CHECK(!grants.error().message.empty());
    return;
  }
  const TokenTable table(*grants);
  for (const auto& grant : *grants) {
    YIBAN_FUZZ_CHECK(table.find(grant.token).has_value());
    YIBAN_FUZZ_CHECK(!holder_of(grant).empty());
  }
  (void)table.find(text);
}

void fuzz_cert(std::string_view text) {
  auto cert = parse_curve_cert(text);
  if (!cert) {
    YIBAN_FUZZ_CHECK(!cert.error().message.empty());
    return;
  }
  YIBAN_FUZZ_CHECK(is_z85_key(cert->public_key));
  auto again = parse_curve_cert(format_curve_cert(*cert, true, "fuzz"));
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(again->public_key == cert->public_key && again->secret_key == cert->secret_key &&
                   again->metadata == cert->metadata);
  auto open = parse_curve_cert(format_curve_cert(*cert, false, "fuzz"));
  YIBAN_FUZZ_CHECK(open.has_value() && !open->secret_key.has_value() &&
                   open->public_key == cert->public_key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = split_input(data, size);
  if (input.selector % 2 == 0) {
    fuzz_tokens(input.text);
  } else {
    fuzz_cert(input.text);
  }
  return 0;
}
