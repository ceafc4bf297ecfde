#include "yiban/protocol/sealed_box.h"

#include <sodium.h>

#include <nlohmann/json.hpp>

#include "yiban/protocol/curve_cert.h"

namespace yiban::protocol {
namespace {

using nlohmann::json;

constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

std::string to_base64(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Expected<std::string> from_base64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t size = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &size, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    return error("not base64");
  out.resize(size);
  return out;
}

}  // namespace

Expected<std::string> z85_decode_key(std::string_view z85) {
  if (!is_z85_key(z85)) return error("not a 40-character Z85 key");
  std::string out;
  out.reserve(32);
  for (std::size_t i = 0; i < z85.size(); i += 5) {
    std::uint64_t value = 0;
    for (std::size_t j = 0; j < 5; ++j) value = value * 85 + kZ85.find(z85[i + j]);
    if (value > 0xFFFFFFFFull) return error("not a Z85 key (a group overflows)");
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xFF);
  }
  return out;
}

CurveKeypair new_curve_keypair() {
  (void)sodium_ready();
  unsigned char pk[crypto_box_PUBLICKEYBYTES];
  unsigned char sk[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(pk, sk);
  auto z85 = [](const unsigned char* data) {
    std::string out;
    for (std::size_t i = 0; i < 32; i += 4) {
      std::uint32_t value = (std::uint32_t{data[i]} << 24) | (std::uint32_t{data[i + 1]} << 16) |
                            (std::uint32_t{data[i + 2]} << 8) | data[i + 3];
      char group[5];
      for (int j = 4; j >= 0; --j) {
        group[j] = kZ85[value % 85];
        value /= 85;
      }
      out.append(group, 5);
    }
    return out;
  };
  CurveKeypair out{z85(pk), z85(sk)};
  sodium_memzero(sk, sizeof sk);
  return out;
}

Expected<std::vector<SealedBox>> seal_to(const std::vector<std::string>& keys, std::string_view plain) {
  if (!sodium_ready()) return error("libsodium failed to initialise");
  if (keys.empty()) return error("no public key to seal to");
  if (plain.size() > kMaxSealedPlainBytes) return error("sealed text larger than 8 KiB");
  std::vector<SealedBox> out;
  for (const auto& key : keys) {
    if (out.size() == kMaxSealedBoxes) break;
    auto raw = z85_decode_key(key);
    if (!raw) return error("public key " + key + ": " + raw.error().message);
    std::string sealed(plain.size() + crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal(reinterpret_cast<unsigned char*>(sealed.data()),
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                        reinterpret_cast<const unsigned char*>(raw->data())) != 0)
      return error("public key " + key + ": sealing failed");
    out.push_back({key, to_base64(reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size())});
  }
  return out;
}

Expected<std::string> open_sealed(const std::vector<SealedBox>& boxes, std::string_view public_key,
                                  std::string_view secret_key) {
  if (!sodium_ready()) return error("libsodium failed to initialise");
  auto pk = z85_decode_key(public_key);
  auto sk = z85_decode_key(secret_key);
  if (!pk) return error("this hall's public key: " + pk.error().message);
  if (!sk) return error("this hall's secret key: " + sk.error().message);
  for (const auto& b : boxes) {
    if (b.to != public_key) continue;
    auto sealed = from_base64(b.box);
    if (!sealed || sealed->size() < crypto_box_SEALBYTES) return error("the box for this hall is not base64 sealed bytes");
    std::string plain(sealed->size() - crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(plain.data()),
                             reinterpret_cast<const unsigned char*>(sealed->data()), sealed->size(),
                             reinterpret_cast<const unsigned char*>(pk->data()),
                             reinterpret_cast<const unsigned char*>(sk->data())) != 0)
      return error("the box for this hall does not open (damaged, or sealed to another key)");
    return plain;
  }
  return error("nothing is sealed to this hall's key " + std::string(public_key.substr(0, 8)) + "…");
}

std::string encode_sealed(const std::vector<SealedBox>& boxes) {
  json arr = json::array();
  for (const auto& b : boxes) arr.push_back({{"to", b.to}, {"box", b.box}});
  return arr.dump();
}

Expected<std::vector<SealedBox>> decode_sealed(std::string_view text, std::string_view at) {
  auto j = json::parse(text, nullptr, false);
  const std::string where(at);
  if (j.is_discarded() || !j.is_array()) return error(where + ": not an array");
  if (j.size() > kMaxSealedBoxes) return error(where + ": more than " + std::to_string(kMaxSealedBoxes) + " boxes");
  std::vector<SealedBox> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& b = j[i];
    const std::string bat = where + "[" + std::to_string(i) + "]";
    if (!b.is_object() || b.size() != 2 || !b.contains("to") || !b.contains("box") || !b["to"].is_string() ||
        !b["box"].is_string())
      return error(bat + ": an object {\"to\",\"box\"} of two strings");
    const auto& to = b["to"].get_ref<const std::string&>();
    const auto& box = b["box"].get_ref<const std::string&>();
    if (!is_z85_key(to)) return error(bat + ".to: not a 40-character Z85 key");
    if (box.empty() || box.size() > 2 * kMaxSealedPlainBytes) return error(bat + ".box: empty or too long");
    out.push_back({to, box});
  }
  return out;
}

}  // namespace yiban::protocol
