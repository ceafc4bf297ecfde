#pragma once
// Personal data for one hall only (issue 15, protocol/CASES.md "Sealed
// fields"): a text sealed to a hall's CURVE public key with libsodium's
// crypto_box_seal (anonymous sender, X25519 + XSalsa20-Poly1305). CURVE keys
// are X25519 keys, so the hall opens the box with the secret key of its
// CURVE certificate. Central carries and stores the boxes and cannot read
// them. A hall may have several keys (rotation): the text is sealed once to
// each, and the hall opens the box addressed to its own key.
//
// Wire form: [{"to":"<Z85 public key>","box":"<base64 of the sealed bytes>"}, …]

#include <string>
#include <string_view>
#include <vector>

#include "yiban/protocol/error.h"

namespace yiban::protocol {

struct SealedBox {
  std::string to;  // Z85 public key (40 characters) of the recipient
  std::string box;  // base64 (standard alphabet, padded) of crypto_box_seal's output
};

inline constexpr std::size_t kMaxSealedPlainBytes = 8 * 1024;
inline constexpr std::size_t kMaxSealedBoxes = 8;

// Z85 (ZeroMQ RFC 32) to bytes; an error on a bad key.
Expected<std::string> z85_decode_key(std::string_view z85);
// A fresh X25519 keypair as Z85 texts (what a CURVE certificate holds).
struct CurveKeypair {
  std::string public_key;
  std::string secret_key;
};
CurveKeypair new_curve_keypair();
// One box per key. Errors name the bad key; an empty key list is an error.
Expected<std::vector<SealedBox>> seal_to(const std::vector<std::string>& z85_public_keys, std::string_view plain);
// Opens the box addressed to public_key with secret_key (both Z85). Errors:
// no box for this key, or a box that does not open (tampered, wrong key).
Expected<std::string> open_sealed(const std::vector<SealedBox>& boxes, std::string_view z85_public_key,
                                  std::string_view z85_secret_key);

// JSON text of the wire form, and its strict reader (errors name `at`).
std::string encode_sealed(const std::vector<SealedBox>& boxes);
Expected<std::vector<SealedBox>> decode_sealed(std::string_view json_text, std::string_view at);

}  // namespace yiban::protocol
