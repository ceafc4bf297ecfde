#include "yiban/protocol/curve_cert.h"

#include <string>

namespace yiban::protocol {
namespace {

constexpr std::string_view kZ85Chars =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.'))
      return false;
  }
  return true;
}

}  // namespace

bool is_z85_key(std::string_view text) {
  return text.size() == 40 && text.find_first_not_of(kZ85Chars) == std::string_view::npos;
}

Expected<CurveCert> parse_curve_cert(std::string_view text) {
  if (text.size() > 64 * 1024) return error("certificate larger than 64 KiB");
  CurveCert cert;
  std::string section;
  int line_no = 0;
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_no;
    auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    bool indented = raw.front() == ' ' || raw.front() == '\t';
    auto eq = line.find('=');
    if (!indented) {
      if (eq != std::string_view::npos || !is_name(line)) return error(where + "expected a section name");
      section = std::string(line);
      continue;
    }
    if (section.empty()) return error(where + "a value outside any section");
    if (eq == std::string_view::npos) continue;  // a nested section name: not used by certificates
    auto name = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (!is_name(name)) return error(where + "bad name");
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (section == "curve") {
      if (name == "public-key") {
        if (!is_z85_key(value)) return error(where + "public-key is not a 40-character Z85 key");
        cert.public_key = std::string(value);
      } else if (name == "secret-key") {
        if (!is_z85_key(value)) return error(where + "secret-key is not a 40-character Z85 key");
        cert.secret_key = std::string(value);
      }
    } else if (section == "metadata") {
      cert.metadata[std::string(name)] = std::string(value);
    }
  }
  if (cert.public_key.empty()) return error("no curve public-key");
  return cert;
}

std::string format_curve_cert(const CurveCert& cert, bool with_secret, std::string_view generated_on) {
  std::string out = "#   ****  Generated on " + std::string(generated_on) + " by yiban (CZMQ format)  ****\n";
  if (with_secret) {
    out += "#   ZeroMQ CURVE **Secret** Certificate\n"
           "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n";
  } else {
    out += "#   ZeroMQ CURVE Public Certificate\n"
           "#   Exchange securely, or use a secure mechanism to verify the contents\n"
           "#   of this file after exchange.\n\n";
  }
  out += "metadata\n";
  for (const auto& [name, value] : cert.metadata) out += "    " + name + " = \"" + value + "\"\n";
  out += "curve\n    public-key = \"" + cert.public_key + "\"\n";
  if (with_secret && cert.secret_key) out += "    secret-key = \"" + *cert.secret_key + "\"\n";
  return out;
}

}  // namespace yiban::protocol
