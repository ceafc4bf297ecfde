// Fuzz target: configuration texts (ARCHITECTURE §10, protocol/BOOKINGS.md,
// city_catalog.h). The first byte chooses:
//   0  parse_hall_config
//   1  replace_config_sections(config, sections) (config NUL sections; without
//      a NUL the input is the sections and the config a small valid hall),
//      then parse_hall_config of the result
//   2  parse_booking_config, round trip through encode_booking_config (whole
//      config and each hall's share)
//   3  parse_city_catalog, round trip through encode_city_catalog
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "yiban/protocol/bookings.h"
#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/hall_config.h"

namespace {

using namespace yiban::protocol;
using yiban::fuzz::split_at_nul;
using yiban::fuzz::split_input;

constexpr std::string_view kBaseConfig =
    R"({"hall":"qd-ls-03","name":"便民服务中心","region":"370213",
"capacity":80,"priority_classes":["elderly"],
"services":[{"code":"A","name":"社保医保","max_wait_min":30,"avg_service_min":8},{"code":"F","name":"户籍"}],
"counters":[{"id":"1","name":"1号窗口","services":["A"],"backup":["F"]},{"id":"2","name":"2号窗口","services":["F"]}],
"devices":[{"id":"kiosk-1","kind":"kiosk"},{"id":"counter-1","kind":"counter","counter":"1"},
{"id":"rating-1","kind":"rating","counter":"1"},{"id":"env-1","kind":"environment"}]})";

void fuzz_hall_config(std::string_view text) {
  auto config = parse_hall_config(text);
  if (!config) {
    YIBAN_FUZZ_CHECK(!config.error().message.empty());
    return;
  }
  // Lookups on what the parser accepted.
  for (const auto& counter : config->counters) {
    YIBAN_FUZZ_CHECK(config->find_counter(counter.id) != nullptr);
    for (const auto& code : counter.services)
      YIBAN_FUZZ_CHECK(config->find_service(code) != nullptr);
  }
  for (const auto& device : config->devices)
    YIBAN_FUZZ_CHECK(config->find_device(device.id) != nullptr);
}

void fuzz_replace_sections(std::string_view text) {
  const auto parts = split_at_nul(text);
  const std::string_view config = parts.has_second ? parts.first : kBaseConfig;
  const std::string_view sections = parts.has_second ? parts.second : parts.first;
  auto replaced = replace_config_sections(config, sections);
  if (!replaced) return;
  (void)parse_hall_config(*replaced);
}

void fuzz_booking_config(std::string_view text) {
  auto config = bookings::parse_booking_config(text);
  if (!config) return;
  const std::string encoded = bookings::encode_booking_config(*config);
  auto again = bookings::parse_booking_config(encoded);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(bookings::encode_booking_config(*again) == encoded);
  for (const auto& hall : config->halls) {
    YIBAN_FUZZ_CHECK(config->find(hall.hall) != nullptr);
    for (const auto& service : hall.services) {
      YIBAN_FUZZ_CHECK(service.hall_quota() >= 0 && service.central_quota() >= 0);
    }
    const std::string share = bookings::encode_booking_config(*config, hall.hall);
    YIBAN_FUZZ_CHECK(bookings::parse_booking_config(share).has_value());
  }
}

void fuzz_city_catalog(std::string_view text) {
  auto catalog = parse_city_catalog(text);
  if (!catalog) return;
  const std::string encoded = encode_city_catalog(*catalog);
  auto again = parse_city_catalog(encoded);
  YIBAN_FUZZ_CHECK(again.has_value());
  YIBAN_FUZZ_CHECK(encode_city_catalog(*again) == encoded);
  YIBAN_FUZZ_CHECK(catalog_version(*again) == catalog_version(*catalog));
  for (const auto& service : catalog->services)
    YIBAN_FUZZ_CHECK(catalog->find(service.code) != nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = split_input(data, size);
  switch (input.selector % 4) {
    case 0:
      fuzz_hall_config(input.text);
      break;
    case 1:
      fuzz_replace_sections(input.text);
      break;
    case 2:
      fuzz_booking_config(input.text);
      break;
    default:
      fuzz_city_catalog(input.text);
      break;
  }
  return 0;
}
