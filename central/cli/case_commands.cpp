#include "case_commands.h"

#include <fmt/core.h>
#include "yiban/protocol/chain.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <system_error>

namespace yiban::cli::internal {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxFileBytes = 20u * 1024 * 1024;  // CASES.md: materials ≤ 20 MiB

// --- helpers

// application/pdf, image/jpeg or image/png from the first bytes; "" otherwise.
std::string sniff_type(std::string_view head) {
  if (head.starts_with("%PDF-")) return "application/pdf";
  if (head.starts_with("\xFF\xD8\xFF")) return "image/jpeg";
  if (head.starts_with(std::string_view("\x89PNG\r\n\x1A\n", 8))) return "image/png";
  return {};
}

bool is_hex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isxdigit(c) != 0;
  });
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string short_sha(const json& m) {
  std::string sha = cell(m, "sha256");
  return sha == "-" ? sha : sha.substr(0, 12);
}

// 张三 → 张*, 张小三 → 张*三 (as protocol/cases.h mask_name); a name that is
// already masked (the server's events carry masks) is kept.
std::string masked_name(const std::string& name) {
  if (name == "-" || name.find('*') != std::string::npos) return name;
  std::vector<std::string> chars;
  for (std::size_t i = 0; i < name.size();) {
    auto b = static_cast<unsigned char>(name[i]);
    std::size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
    chars.push_back(name.substr(i, n));
    i += n;
  }
  if (chars.empty()) return name;
  if (chars.size() == 1) return "*";
  std::string out = chars.front();
  if (chars.size() == 2) return out + "*";
  out.append(chars.size() - 2, '*');
  return out + chars.back();
}

// A file given with --file, read and checked before anything is uploaded.
struct LocalFile {
  std::string path;
  std::string name;  // base name, sent as the material's name
  std::string type;
  std::string bytes;
  std::string sha256;
};

LocalFile read_material(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw UsageError{fmt::format("--file {}: no such file", path)};
  if (!fs::is_regular_file(st)) throw UsageError{fmt::format("--file {}: not a regular file", path)};
  std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw UsageError{fmt::format("--file {}: cannot read it: {}", path, ec.message())};
  if (size > kMaxFileBytes)
    throw UsageError{fmt::format("--file {}: {} bytes is over the 20 MiB limit for materials",
                                 path, size)};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError{fmt::format("--file {}: cannot read it", path)};
  LocalFile f;
  f.path = path;
  f.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError{fmt::format("--file {}: cannot read it", path)};
  if (f.bytes.size() > kMaxFileBytes)
    throw UsageError{fmt::format("--file {}: over the 20 MiB limit for materials", path)};
  f.type = sniff_type(f.bytes);
  if (f.type.empty())
    throw UsageError{fmt::format("--file {}: not a PDF, JPEG or PNG file (checked from its content)",
                                 path)};
  f.name = fs::path(path).filename().string();
  if (f.name.empty()) throw UsageError{fmt::format("--file {}: not a file name", path)};
  f.sha256 = protocol::sha256_hex(f.bytes);
  return f;
}

std::vector<std::string> file_options(const po::variables_map& vm) {
  return vm.count("file") ? vm["file"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

// Reads every --file (all checked before the first upload).
std::vector<LocalFile> read_materials(const po::variables_map& vm) {
  std::vector<LocalFile> files;
  for (const auto& path : file_options(vm)) files.push_back(read_material(path));
  return files;
}

// Uploads each file (POST /api/v1/blobs) and answers the materials array
// [{"sha256","name"}], or nullopt with *code set when an upload failed.
std::optional<json> upload(Session& s, const std::vector<LocalFile>& files, int& code) {
  json materials = json::array();
  for (const auto& f : files) {
    Reply r = s.api.post_bytes("/api/v1/blobs", f.bytes, f.type);
    if (r.code) {
      s.err << fmt::format("yiban: the upload of {} failed; nothing was submitted\n", f.path);
      code = r.code;
      return std::nullopt;
    }
    std::string sha = cell(r.body, "sha256");
    if (sha != f.sha256) {
      s.err << fmt::format(
          "yiban: the server stored {} as {}, but its SHA-256 is {}; nothing was submitted\n",
          f.path, sha, f.sha256);
      code = kApiError;
      return std::nullopt;
    }
    if (!s.globals.json)
      s.out << fmt::format("uploaded {} ({}, {} bytes, sha256 {})\n", f.name, f.type,
                           f.bytes.size(), f.sha256.substr(0, 12));
    materials.push_back(json{{"sha256", sha}, {"name", f.name}});
  }
  return materials;
}

std::string case_path(const std::string& id) {
  return "/api/v1/cases/" + url_encode(id);
}

// The due time that matters in the case's state: pre-review while it waits for
// it, completion once accepted; "-" otherwise.
std::string due_cell(const json& c) {
  const std::string state = cell(c, "state");
  if (state == "submitted" || state == "received") return time_cell(c, "prereview_due");
  if (state == "accepted") return time_cell(c, "complete_due");
  return "-";
}

std::string with_name(const json& o, const char* key, const char* name_key) {
  std::string text = cell(o, key);
  if (std::string name = cell(o, name_key); name != "-") text += "  " + name;
  return text;
}

// "case ID is STATE (handler H)" after a step.
int print_step(Session& s, const Reply& r, const std::string& id, const char* what) {
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  std::string shown = cell(r.body, "case");
  if (shown == "-") shown = id;
  s.out << fmt::format("case {} {}: state {}", shown, what, cell(r.body, "state"));
  if (std::string handler = cell(r.body, "handler"); handler != "-")
    s.out << fmt::format(", handler {}", handler);
  s.out << '\n';
  return kOk;
}

// --- actions; args are the arguments after the action word.

int case_submit(Session& s, const po::variables_map& vm, const std::vector<std::string>&) {
  json body{{"service", required(vm, "service")},
            {"applicant_name", required(vm, "applicant-name")},
            {"applicant_id", required(vm, "applicant-id")},
            {"contact_name", required(vm, "contact-name")}};
  if (vm.count("contact-phone")) body["contact_phone"] = opt(vm, "contact-phone");
  if (vm.count("note")) body["note"] = opt(vm, "note");
  if (!vm.count("file")) throw UsageError{"--file is required: the application's materials"};
  auto files = read_materials(vm);
  int code = kOk;
  auto materials = upload(s, files, code);
  if (!materials) return code;
  body["materials"] = *materials;
  Reply r = s.api.post("/api/v1/cases", body);
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  s.out << fmt::format("case {} submitted: state {}, handler {}", cell(r.body, "case"),
                       cell(r.body, "state"), cell(r.body, "handler"));
  if (integer(r.body, "prereview_due"))
    s.out << fmt::format(", pre-review due {}", time_cell(r.body, "prereview_due"));
  s.out << '\n';
  return kOk;
}

int case_list(Session& s, const po::variables_map& vm, const std::vector<std::string>&) {
  const std::string role = opt(vm, "role");
  if (vm.count("role") && role != "origin" && role != "handler")
    throw UsageError{"--role: origin (cases this hall submitted) or handler (cases it handles)"};
  static const std::set<std::string> kStates{"submitted", "received",  "accepted",
                                             "more_needed", "rejected", "completed"};
  std::string state = opt(vm, "state");
  if (state == "more-needed") state = "more_needed";
  if (vm.count("state") && !kStates.contains(state))
    throw UsageError{
        "--state: submitted, received, accepted, more_needed, rejected or completed"};
  std::string limit, offset;
  if (vm.count("limit")) {
    int n = vm["limit"].as<int>();
    if (n < 1) throw UsageError{"--limit: at least 1"};
    limit = std::to_string(n);
  }
  if (vm.count("offset")) {
    int n = vm["offset"].as<int>();
    if (n < 0) throw UsageError{"--offset: not negative"};
    offset = std::to_string(n);
  }
  Reply r = s.api.get("/api/v1/cases" + query({{"hall", opt(vm, "hall")},
                                                {"state", state},
                                                {"role", role},
                                                {"late", vm.count("late") ? "1" : ""},
                                                {"limit", limit},
                                                {"offset", offset}}));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& cases = list(r.body, "cases");
  if (cases.empty()) {
    s.out << "no cases";
    if (auto total = integer(r.body, "total"); total && *total > 0)
      s.out << fmt::format(" here ({} in total)", *total);
    s.out << '\n';
    return kOk;
  }
  Table t({"CASE", "SERVICE", "ORIGIN", "HANDLER", "STATE", "ATTEMPT", "APPLICANT", "DUE", "LATE"},
          {L, L, L, L, L, R, L, L, L});
  for (const auto& c : cases)
    t.add_row({cell(c, "case"), cell(c, "service"), cell(c, "origin"), cell(c, "handler"),
               cell(c, "state"), cell(c, "attempt"),
               masked_name(cell(object(c, "applicant"), "name")), due_cell(c),
               flag(c, "late") ? "LATE" : ""});
  t.render(s.out);
  s.out << fmt::format("{} of {} cases\n", cases.size(), cell(r.body, "total"));
  return kOk;
}

void print_material_table(std::ostream& out, const json& materials) {
  Table t({"NAME", "TYPE", "SIZE", "ATTEMPT", "PRESENT", "SHA256"}, {L, L, R, R, L, L});
  for (const auto& m : materials)
    t.add_row({cell(m, "name"), cell(m, "type"), cell(m, "size"), cell(m, "attempt"),
               flag(m, "present") ? "yes" : "no", short_sha(m)});
  t.render(out);
}

int case_show(Session& s, const po::variables_map&, const std::vector<std::string>& args) {
  Reply r = s.api.get(case_path(args[0]));
  if (r.code) return r.code;
  if (s.globals.json) return print_json(s, r.body), kOk;
  const json& c = r.body;
  const json& applicant = object(c, "applicant");
  const json& contact = object(c, "contact");

  Table header({});
  header.add_row({"Case", cell(c, "case")});
  header.add_row({"Service", with_name(c, "service", "service_name")});
  header.add_row({"Origin", with_name(c, "origin", "origin_name")});
  header.add_row({"Handler", cell(c, "handler")});
  if (c.contains("role")) header.add_row({"Role here", cell(c, "role")});
  std::string state = cell(c, "state");
  if (flag(c, "late")) state += " (LATE)";
  header.add_row({"State", state});
  header.add_row({"Attempt", cell(c, "attempt")});
  header.add_row({"Applicant", cell(applicant, "name") + "  " + cell(applicant, "id")});
  std::string contact_text = cell(contact, "name");
  if (std::string phone = cell(contact, "phone"); phone != "-") contact_text += "  " + phone;
  header.add_row({"Contact", contact_text});
  header.add_row({"Submitted", time_cell(c, "submitted_ts")});
  header.add_row({"Updated", time_cell(c, "updated_ts")});
  header.add_row({"Pre-review due", time_cell(c, "prereview_due")});
  header.add_row({"Completion due", time_cell(c, "complete_due")});
  header.add_row({"Note", cell(c, "note")});
  header.render(s.out);

  const json& materials = list(c, "materials");
  s.out << "\nMaterials" << (materials.empty() ? ": none\n" : "\n");
  if (!materials.empty()) print_material_table(s.out, materials);

  const json& timeline = list(c, "timeline");
  s.out << "\nTimeline" << (timeline.empty() ? ": none\n" : "\n");
  if (!timeline.empty()) {
    Table t({"TIME", "STEP", "HALL", "BY", "NOTE"});
    for (const auto& e : timeline)
      t.add_row({time_cell(e, "ts"), cell(e, "step"), cell(e, "hall"), cell(e, "by"),
                 cell(e, "note")});
    t.render(s.out);
  }

  const json& result = object(c, "result");
  if (result.is_object()) {
    s.out << "\nResult\n";
    print_material_table(s.out, json::array({result}));
  } else {
    s.out << "\nResult: none\n";
  }

  if (c.contains("access")) {
    const json& access = list(c, "access");
    s.out << "\nAccess" << (access.empty() ? ": none\n" : "\n");
    if (!access.empty()) {
      Table t({"TIME", "HALL", "BY", "WHAT", "SHA256"});
      for (const auto& a : access)
        t.add_row({time_cell(a, "ts"), cell(a, "hall"), cell(a, "by"), cell(a, "what"),
                   short_sha(a)});
      t.render(s.out);
    }
  }
  return kOk;
}

int case_review(Session& s, const po::variables_map& vm, const std::vector<std::string>& args) {
  const std::string& word = args[1];
  std::string decision;
  if (word == "accept") {
    decision = "accept";
  } else if (word == "more-needed" || word == "more_needed") {
    decision = "more_needed";
    if (opt(vm, "note").empty())
      throw UsageError{"more-needed needs --note: what the applicant must still provide"};
  } else if (word == "reject") {
    decision = "reject";
    if (opt(vm, "note").empty())
      throw UsageError{"reject needs --note: why the case is rejected"};
  } else {
    throw UsageError{fmt::format("unknown decision '{}': accept, more-needed or reject", word)};
  }
  Reply r = s.api.post(case_path(args[0]) + "/review",
                       json{{"decision", decision}, {"note", opt(vm, "note")}});
  return print_step(s, r, args[0], "reviewed");
}

int case_complete(Session& s, const po::variables_map& vm, const std::vector<std::string>& args) {
  if (file_options(vm).size() > 1) throw UsageError{"--file: one result document at most"};
  auto files = read_materials(vm);
  json body{{"note", opt(vm, "note")}};
  if (!files.empty()) {
    int code = kOk;
    auto materials = upload(s, files, code);
    if (!materials) return code;
    body["result"] = materials->at(0);
  }
  Reply r = s.api.post(case_path(args[0]) + "/complete", body);
  return print_step(s, r, args[0], "completed");
}

int case_resubmit(Session& s, const po::variables_map& vm, const std::vector<std::string>& args) {
  if (!vm.count("file")) throw UsageError{"--file is required: the materials asked for"};
  auto files = read_materials(vm);
  int code = kOk;
  auto materials = upload(s, files, code);
  if (!materials) return code;
  Reply r = s.api.post(case_path(args[0]) + "/resubmit",
                       json{{"note", opt(vm, "note")}, {"materials", *materials}});
  return print_step(s, r, args[0], "resubmitted");
}

int case_fetch(Session& s, const po::variables_map& vm, const std::vector<std::string>& args) {
  const std::string& id = args[0];
  const std::string& wanted = args[1];
  Reply r = s.api.get(case_path(id));
  if (r.code) return r.code;

  // The case's materials and its result document, one entry per file.
  std::vector<json> all;
  for (const auto& m : list(r.body, "materials")) all.push_back(m);
  if (const json& result = object(r.body, "result"); result.is_object()) all.push_back(result);
  auto describe = [](const std::vector<const json*>& ms) {
    std::string text;
    for (const json* m : ms) text += fmt::format("\n  {}  {}", cell(*m, "name"), cell(*m, "sha256"));
    return text.empty() ? std::string(" none") : text;
  };
  std::vector<const json*> every;
  for (const auto& m : all) every.push_back(&m);

  std::map<std::string, const json*> matches;  // by sha256: a file listed twice is one
  for (const auto& m : all)
    if (cell(m, "name") == wanted) matches.emplace(cell(m, "sha256"), &m);
  if (matches.empty() && wanted.size() >= 8 && is_hex(wanted)) {
    const std::string prefix = lower(wanted);
    for (const auto& m : all)
      if (lower(cell(m, "sha256")).starts_with(prefix)) matches.emplace(cell(m, "sha256"), &m);
  }
  if (matches.empty()) {
    std::string hint = is_hex(wanted) && wanted.size() < 8 ? " (give at least 8 hex characters of a SHA-256)" : "";
    s.err << fmt::format("yiban: case {} has no material '{}'{}; its materials:{}\n", id, wanted,
                         hint, describe(every));
    return kNotFound;
  }
  if (matches.size() > 1) {
    std::vector<const json*> candidates;
    for (const auto& [sha, m] : matches) candidates.push_back(m);
    throw UsageError{fmt::format("'{}' matches more than one material of case {}; give more of "
                                 "the SHA-256:{}",
                                 wanted, id, describe(candidates))};
  }
  const json& material = *matches.begin()->second;
  const std::string sha = lower(cell(material, "sha256"));
  if (sha.size() != 64 || !is_hex(sha)) {
    s.err << fmt::format("yiban: the server's detail of case {} has a bad sha256 for '{}'\n", id,
                         cell(material, "name"));
    return kApiError;
  }

  fs::path out_path;
  if (vm.count("out")) {
    out_path = opt(vm, "out");
  } else {
    // Only the base name of what the server calls it, in the current directory.
    std::string name = fs::path(cell(material, "name")).filename().string();
    if (name.empty() || name == "-" || name == "." || name == "..") name = sha;
    out_path = name;
  }
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out_path, ec)) && !vm.count("force"))
    throw UsageError{fmt::format("{} already exists: use --force to overwrite it, or --out",
                                 out_path.string())};

  auto bytes = s.api.get_bytes(case_path(id) + "/materials/" + url_encode(sha));
  if (bytes.code) return bytes.code;
  const std::string got = protocol::sha256_hex(bytes.body);
  if (got != sha) {
    s.err << fmt::format(
        "yiban: the download of '{}' does not match its SHA-256 (expected {}, got {}); "
        "nothing was written\n",
        cell(material, "name"), sha, got);
    return kApiError;
  }

  fs::path temp = out_path;
  temp += ".yiban-partial";
  {
    std::ofstream f(temp, std::ios::binary | std::ios::trunc);
    if (f) f.write(bytes.body.data(), static_cast<std::streamsize>(bytes.body.size()));
    if (f) f.close();
    if (!f) {
      fs::remove(temp, ec);
      s.err << fmt::format("yiban: cannot write {}\n", temp.string());
      return kUsage;
    }
  }
  fs::rename(temp, out_path, ec);
  if (ec) {
    fs::remove(temp, ec);
    s.err << fmt::format("yiban: cannot write {}: {}\n", out_path.string(), ec.message());
    return kUsage;
  }
  if (s.globals.json) {
    print_json(s, json{{"case", id},
                       {"name", cell(material, "name")},
                       {"sha256", sha},
                       {"size", bytes.body.size()},
                       {"path", out_path.string()}});
    return kOk;
  }
  s.out << fmt::format("saved {} ({} bytes, SHA-256 verified) to {}\n", cell(material, "name"),
                       bytes.body.size(), out_path.string());
  return kOk;
}

// --- the command

struct CaseAction {
  const char* name;
  std::vector<const char*> args;     // positional argument names after the action
  std::vector<const char*> options;  // the options it takes
  bool edge;                         // only a hall's edge serves it
  int (*run)(Session&, const po::variables_map&, const std::vector<std::string>&);
};

const std::vector<CaseAction>& case_actions() {
  static const std::vector<CaseAction> kActions{
      {"submit",
       {},
       {"service", "applicant-name", "applicant-id", "contact-name", "contact-phone", "note",
        "file"},
       true,
       case_submit},
      {"list", {}, {"state", "role", "limit", "offset", "hall", "late"}, false, case_list},
      {"show", {"ID"}, {}, false, case_show},
      {"review", {"ID", "DECISION"}, {"note"}, true, case_review},
      {"complete", {"ID"}, {"note", "file"}, true, case_complete},
      {"resubmit", {"ID"}, {"note", "file"}, true, case_resubmit},
      {"fetch", {"ID", "FILE"}, {"out", "force"}, false, case_fetch},
  };
  return kActions;
}

const CaseAction* find_action(const po::variables_map& vm) {
  const std::string name = vm.count("action") ? vm["action"].as<std::string>() : "";
  for (const auto& a : case_actions())
    if (name == a.name) return &a;
  return nullptr;
}

void case_options(po::options_description& d) {
  d.add_options()
      // submit
      ("service", po::value<std::string>()->value_name("S"), "submit: the service code (required)")(
          "applicant-name", po::value<std::string>()->value_name("N"),
          "submit: the applicant's name (required)")(
          "applicant-id", po::value<std::string>()->value_name("ID"),
          "submit: the applicant's ID number (required)")(
          "contact-name", po::value<std::string>()->value_name("C"),
          "submit: the contact person's name (required)")(
          "contact-phone", po::value<std::string>()->value_name("P"),
          "submit: the contact's phone number")(
          "file", po::value<std::vector<std::string>>()->composing()->value_name("F"),
          "submit, resubmit: a material (PDF, JPEG or PNG, at most 20 MiB; repeat for more); complete: the result document")(
          "note", po::value<std::string>()->value_name("T"),
          "submit, resubmit, complete: a note; review: required with more-needed (what is missing) and reject (why)")
      // list
      ("state", po::value<std::string>()->value_name("S"),
       "list: only cases in this state (submitted, received, accepted, more_needed, rejected, completed)")("role", po::value<std::string>()->value_name("origin|handler"),
                               "list at an edge: cases this hall submitted, or handles")(
          "hall", po::value<std::string>()->value_name("H"),
          "list at central: cases whose origin or handler is hall H")(
          "late", "list at central: only cases past their due time")(
          "limit", po::value<int>()->value_name("N"), "list: at most N cases")(
          "offset", po::value<int>()->value_name("N"), "list: skip the first N cases")
      // fetch
      ("out", po::value<std::string>()->value_name("PATH"),
       "fetch: where to write the file (default: the material's name, here)")(
          "force", "fetch: overwrite an existing file");
}

bool case_edge(const po::variables_map& vm) {
  const CaseAction* a = find_action(vm);
  return a && a->edge;
}

int cmd_case(Session& s, const po::variables_map& vm) {
  const std::string name = vm["action"].as<std::string>();
  const CaseAction* a = find_action(vm);
  if (!a)
    throw UsageError{fmt::format(
        "unknown action '{}': submit, list, show, review, complete, resubmit or fetch", name)};
  std::vector<std::string> args =
      vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (args.size() < a->args.size())
    throw UsageError{fmt::format("case {}: missing {}", name, a->args[args.size()])};
  if (args.size() > a->args.size()) throw UsageError{fmt::format("case {}: too many arguments", name)};

  po::options_description all;
  case_options(all);
  check_action_options(vm, all, "case", *a, case_actions());
  return a->run(s, vm, args);
}

}  // namespace

const std::vector<Command>& case_commands() {
  static const std::vector<Command> kCommands{
      {"case",
       "submit|list|show|review|complete|resubmit|fetch [ARGS] [options]",
       "cross-region cases: list, show, fetch (also at a hall's edge)",
       "Cross-region cases (跨域通办), taken at one hall and handled by another:\n"
       "  case submit --service S --applicant-name N --applicant-id ID --contact-name C\n"
       "              [--contact-phone P] [--note T] --file F [--file F ...]\n"
       "      uploads each file (PDF, JPEG or PNG, at most 20 MiB), then submits the case\n"
       "  case list [--state S] [--role origin|handler] [--limit N] [--offset N]\n"
       "            [--hall H] [--late]          (--role at an edge, --hall/--late at central)\n"
       "  case show ID                           header, materials, timeline, result, access\n"
       "  case review ID accept|more-needed|reject [--note T]\n"
       "  case complete ID [--note T] [--file RESULT]\n"
       "  case resubmit ID --file F [--file F ...] [--note T]\n"
       "  case fetch ID FILE [--out PATH] [--force]\n"
       "      downloads a material (FILE: its name or at least 8 hex characters of its\n"
       "      SHA-256), checks its SHA-256 and writes it\n"
       "submit, review, complete and resubmit go to a hall's edge (default\n"
       "http://127.0.0.1:8080); list, show and fetch work at an edge or at central and,\n"
       "as 'alerts', default to central (http://127.0.0.1:8090): give --server.",
       case_options,
       {"ACTION", "[ARGS...]"},
       cmd_case,
       false,
       case_edge},
  };
  return kCommands;
}

}  // namespace yiban::cli::internal
