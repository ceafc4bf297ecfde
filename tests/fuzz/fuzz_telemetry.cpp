// Fuzz target: sensor telemetry payloads (ARCHITECTURE §5, telemetry.h). The
// whole input is the MQTT payload. A sample that decodes is encoded again and
// must decode to the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "yiban/protocol/telemetry.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace yiban::protocol;
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  auto sample = decode_telemetry(payload);
  if (!sample) {
    YIBAN_FUZZ_CHECK(!sample.error().message.empty());
    return 0;
  }
  YIBAN_FUZZ_CHECK(!sample->metrics.empty() && sample->metrics.size() <= kMaxMetrics);
  const std::string text = encode_telemetry(*sample);
  auto again = decode_telemetry(text);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(again->ts == sample->ts && again->metrics == sample->metrics);
  YIBAN_FUZZ_CHECK(encode_telemetry(*again) == text);
  return 0;
}
