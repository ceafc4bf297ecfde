#include "yiban/protocol/chain.h"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "yiban/protocol/utf8.h"

namespace yiban::protocol {
namespace {

// Expected digests were computed outside this code, e.g.
//   { head -c 32 /dev/zero; printf '%s' "$text"; } | sha256sum
// and, for later links, with the previous digest as the prefix:
//   { printf '%s' "$previous_hex" | xxd -r -p; printf '%s' "$text"; } | sha256sum

ChainHash from_hex_or_fail(std::string_view hex) {
  auto hash = chain_from_hex(hex);
  if (!hash) FAIL("not a chain hash: " << hex);
  return *hash;
}

TEST_CASE("chain(0) is 32 zero bytes", "[protocol][chain]") {
  CHECK(kChainZero.size() == 32);
  for (auto b : kChainZero) CHECK(b == 0);
  CHECK(to_hex(kChainZero) == std::string(64, '0'));
}

TEST_CASE("chain_next hashes the previous link followed by the event text", "[protocol][chain]") {
  SECTION("empty text: SHA-256 of the 32 zero bytes alone") {
    CHECK(to_hex(chain_next(kChainZero, "")) ==
          "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
  }
  SECTION("short text after the zero link") {
    CHECK(to_hex(chain_next(kChainZero, "abc")) ==
          "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
  }
  SECTION("a non-zero previous link is part of the input") {
    ChainHash ones{};
    ones.fill(0xff);
    CHECK(to_hex(chain_next(ones, "abc")) ==
          "0ed2e495fb5f84bf4c529fea115af3b3ab65b0987474fb29b91e4d5c188ae151");
  }
  SECTION("it is not the plain SHA-256 of the text") {
    CHECK(to_hex(chain_next(kChainZero, "abc")) !=
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}

TEST_CASE("a chain of three events matches independently computed links", "[protocol][chain]") {
  constexpr std::string_view kEvent1 =
      R"({"hall":"qd-sn-01","seq":1,"ts":1764141802123,"type":"ticket.issued",)"
      R"("data":{"number":"A001"}})";
  constexpr std::string_view kEvent2 =
      R"({"hall":"qd-sn-01","seq":2,"ts":1764141803000,"type":"ticket.called",)"
      R"("data":{"number":"A001","counter":"7"}})";
  constexpr std::string_view kEvent3 =
      R"({"hall":"qd-sn-01","seq":3,"ts":1764141900000,"type":"rating.submitted",)"
      R"("data":{"score":5,"note":"很好"}})";

  ChainHash h1 = chain_next(kChainZero, kEvent1);
  ChainHash h2 = chain_next(h1, kEvent2);
  ChainHash h3 = chain_next(h2, kEvent3);
  CHECK(to_hex(h1) == "eba4bf157d834eb988cf7d5c364b8a55a7317eff3fa84000b1f59e6aa43545e4");
  CHECK(to_hex(h2) == "afcc7acb341a38933668728afdb0e798d97d0ab1324ed11e0252259645351695");
  CHECK(to_hex(h3) == "ee5903029a100e775a2dfa264661c876e7c01e403003ed283cd77b7bf5c668e6");

  SECTION("editing one byte of an earlier event changes every later link") {
    std::string edited(kEvent2);
    edited.replace(edited.find("\"7\""), 3, "\"8\"");
    ChainHash e2 = chain_next(h1, edited);
    CHECK(e2 != h2);
    CHECK(chain_next(e2, kEvent3) != h3);
  }
  SECTION("swapping two events changes the chain") {
    CHECK(chain_next(chain_next(kChainZero, kEvent2), kEvent1) != h2);
  }
  SECTION("a link resumed from its hex form continues the chain") {
    CHECK(chain_next(from_hex_or_fail(to_hex(h2)), kEvent3) == h3);
  }
}

TEST_CASE("chain hashes round-trip through lower-case hex", "[protocol][chain]") {
  ChainHash h{};
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint8_t>(i * 8 + 1);
  std::string hex = to_hex(h);
  CHECK(hex == "0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9");
  CHECK(from_hex_or_fail(hex) == h);

  ChainHash ff{};
  ff.fill(0xff);
  CHECK(to_hex(ff) == std::string(64, 'f'));
  CHECK(from_hex_or_fail(std::string(64, 'f')) == ff);
}

TEST_CASE("chain_from_hex accepts upper-case digits", "[protocol][chain]") {
  auto hash = chain_from_hex("66687AADF862BD776C8FC18B8E9F8E20089714856EE233B3902A591D0D5F2925");
  REQUIRE(hash);
  CHECK(*hash == chain_next(kChainZero, ""));
}

TEST_CASE("chain_from_hex rejects anything but 64 hex digits", "[protocol][chain]") {
  const std::string good = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
  REQUIRE(chain_from_hex(good));

  CHECK_FALSE(chain_from_hex(""));
  CHECK_FALSE(chain_from_hex(good.substr(0, 63)));
  CHECK_FALSE(chain_from_hex(good.substr(0, 62)));
  CHECK_FALSE(chain_from_hex(good + "0"));
  CHECK_FALSE(chain_from_hex(good + "00"));
  CHECK_FALSE(chain_from_hex("0x" + good.substr(2)));
  CHECK_FALSE(chain_from_hex(" " + good.substr(1)));
  CHECK_FALSE(chain_from_hex(good.substr(1) + "\n"));
  for (char bad : std::string_view("gGzZ-+: /@`[\0", 13)) {
    std::string hex = good;
    hex[17] = bad;
    INFO("bad digit code " << static_cast<int>(bad));
    CHECK_FALSE(chain_from_hex(hex));
  }
  std::string high = good;
  high[0] = '\xc3';
  CHECK_FALSE(chain_from_hex(high));
}

TEST_CASE("valid UTF-8 is accepted", "[protocol][utf8]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8(std::string_view("nul\0inside", 10)));
  CHECK(is_valid_utf8("政务服务大厅"));
  CHECK(is_valid_utf8("请A007号到7号窗口"));
  CHECK(is_valid_utf8("\xc2\x80"));          // U+0080, smallest two-byte
  CHECK(is_valid_utf8("\xdf\xbf"));          // U+07FF
  CHECK(is_valid_utf8("\xe0\xa0\x80"));      // U+0800, smallest three-byte
  CHECK(is_valid_utf8("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  CHECK(is_valid_utf8("\xee\x80\x80"));      // U+E000, just above them
  CHECK(is_valid_utf8("\xef\xbf\xbf"));      // U+FFFF
  CHECK(is_valid_utf8("\xf0\x90\x80\x80"));  // U+10000, smallest four-byte
  CHECK(is_valid_utf8("\xf0\x9f\x98\x80"));  // U+1F600
  CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
}

TEST_CASE("overlong encodings are rejected", "[protocol][utf8]") {
  CHECK_FALSE(is_valid_utf8("\xc0\x80"));          // U+0000 in two bytes
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // '/' in two bytes
  CHECK_FALSE(is_valid_utf8("\xc1\xbf"));          // U+007F in two bytes
  CHECK_FALSE(is_valid_utf8("\xe0\x80\x80"));      // U+0000 in three bytes
  CHECK_FALSE(is_valid_utf8("\xe0\x9f\xbf"));      // U+07FF in three bytes
  CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\x80"));  // U+0000 in four bytes
  CHECK_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));  // U+FFFF in four bytes
}

TEST_CASE("UTF-16 surrogates encoded as UTF-8 are rejected", "[protocol][utf8]") {
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));              // U+D800
  CHECK_FALSE(is_valid_utf8("\xed\xaf\xbf"));              // U+DBFF
  CHECK_FALSE(is_valid_utf8("\xed\xb0\x80"));              // U+DC00
  CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));              // U+DFFF
  CHECK_FALSE(is_valid_utf8("\xed\xa0\xbd\xed\xb8\x80"));  // a CESU-8 style pair
}

TEST_CASE("code points above U+10FFFF and impossible lead bytes are rejected", "[protocol][utf8]") {
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xf7\xbf\xbf\xbf"));
  CHECK_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));      // five-byte form
  CHECK_FALSE(is_valid_utf8("\xfc\x84\x80\x80\x80\x80"));  // six-byte form
  CHECK_FALSE(is_valid_utf8("\xfe"));
  CHECK_FALSE(is_valid_utf8("\xff"));
}

TEST_CASE("truncated sequences and stray continuation bytes are rejected", "[protocol][utf8]") {
  CHECK_FALSE(is_valid_utf8("\x80"));
  CHECK_FALSE(is_valid_utf8("a\xbf"));
  CHECK_FALSE(is_valid_utf8("\xc3"));
  CHECK_FALSE(is_valid_utf8("\xe4\xb8"));      // 中 without its last byte
  CHECK_FALSE(is_valid_utf8("\xe4\xb8\x61"));  // ... followed by "a"
  CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98"));  // emoji cut short
  CHECK_FALSE(is_valid_utf8("中文\xe6"));      // cut in the last character
  CHECK_FALSE(is_valid_utf8("\xe4\x41\xad"));  // ASCII in place of a continuation
  CHECK_FALSE(is_valid_utf8("\xc3\xa9\xa9"));  // one continuation too many
  std::string text = "政务服务大厅";
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    if (cut % 3 == 0) continue;
    INFO("cut at byte " << cut);
    CHECK_FALSE(is_valid_utf8(std::string_view(text).substr(0, cut)));
  }
}

TEST_CASE("utf8_length counts code points, not bytes", "[protocol][utf8]") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length("\xc3\xa9") == 1);
  CHECK(utf8_length("中文") == 2);
  CHECK(std::string_view("中文").size() == 6);
  CHECK(utf8_length("请A007号到7号窗口") == 11);
  CHECK(utf8_length("\xf0\x9f\x98\x80") == 1);
  CHECK(utf8_length("a\xf4\x8f\xbf\xbf\x62") == 3);
}

}  // namespace
}  // namespace yiban::protocol
