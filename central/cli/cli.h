#pragma once
// `yiban`, the command-line client central staff use against central's HTTP
// API (ARCHITECTURE.md §8, §12), and hall managers against their hall edge's
// console API (edge/README.md). run() is the whole program; main() only
// calls it, so tests drive it in-process against a real local HTTP server.
//
// Exit codes are a contract scripts rely on: see ExitCode.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yiban::cli {

enum ExitCode : int {
  kOk = 0,
  kApiError = 1,      // the server answered with an error (4xx other than below, 5xx) or nonsense
  kUsage = 2,         // bad options, unknown command, unreadable input file
  kUnreachable = 3,   // no connection, or no answer within --timeout
  kUnauthorized = 4,  // HTTP 401 or 403
  kNotFound = 5,      // HTTP 404
};

// Runs `yiban` with argv as given to main(). Normal output goes to out,
// diagnostics to err; returns the process exit code. Reads the environment
// (YIBAN_SERVER, YIBAN_TOKEN, YIBAN_CA_FILE) and the local time zone; never prints the token.
// Not thread-safe only in that it calls localtime_r/mktime (tz state).
int run(int argc, char** argv, std::ostream& out, std::ostream& err);

// Terminal columns that UTF-8 text takes: East Asian wide and fullwidth
// characters count 2, combining marks 0, everything else (invalid bytes too) 1.
std::size_t display_width(std::string_view text);

// text padded with spaces on the right (left) to width display columns;
// text already wider is returned unchanged.
std::string pad_right(std::string_view text, std::size_t width);
std::string pad_left(std::string_view text, std::size_t width);

// Seconds as "m:ss" (minutes are not wrapped into hours: 75:03), rounded to
// the nearest second; negative or non-finite values give "-".
std::string format_duration(double seconds);

// A ratio 0..1 as a percentage with one decimal: 0.125 → "12.5%".
std::string format_percent(double ratio);

// Milliseconds since the Unix epoch as local "YYYY-MM-DD HH:MM:SS"; values
// <= 0 give "-".
std::string format_local_time(std::int64_t epoch_ms);

// Milliseconds since the Unix epoch as local "HH:MM:SS"; values <= 0 give "-".
std::string format_local_clock(std::int64_t epoch_ms);

// A local "YYYY-MM-DDTHH:MM" as milliseconds since the epoch; nullopt when the
// text is malformed or names an impossible date or time.
std::optional<std::int64_t> parse_local_minute(std::string_view text);

// An integer day yyyymmdd as "YYYY-MM-DD".
std::string format_day(std::int64_t yyyymmdd);

// Percent-encodes everything but RFC 3986 unreserved characters, for a path
// segment or a query value.
std::string url_encode(std::string_view text);

// Rows of text cells rendered with columns aligned by display width, two
// spaces apart, without trailing spaces.
class Table {
 public:
  enum class Align { kLeft, kRight };

  // headers may be empty (no header line); align defaults to kLeft per column.
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});

  // Missing cells render empty; extra cells are kept (left-aligned).
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void render(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace yiban::cli
