#include "booking/booking_service.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <spdlog/spdlog.h>

#include "store/booking_tables.h"
#include "yiban/runtime/http_server.h"
#include "yiban/protocol/cases.h"
#include "yiban/protocol/ids.h"

namespace yiban::central::booking {
namespace {

using nlohmann::json;
using protocol::Role;
namespace pb = protocol::bookings;

void send_error(runtime::HttpResponse& res, int status, std::string_view code, std::string_view message) {
  runtime::send_json_error(res, status, code, message);
}

// booking.add data with the phone and the special need sealed to the hall's
// keys; a hall without keys (not in the allow-list) gets neither, never clear.
std::string sealed_add(pb::BookingAdd add, const std::vector<std::string>& hall_keys) {
  if (!hall_keys.empty()) {
    if (auto ok = pb::seal_private(add, hall_keys); ok) return pb::encode_booking_add(add);
    else spdlog::error("booking {}: sealing to hall keys failed: {}", add.code, ok.error().message);
  }
  if (!add.phone.empty() || !add.special_need.empty())
    spdlog::warn("booking {}: no key to seal to; the hall gets it without phone and special need", add.code);
  add.phone.clear();
  add.special_need.clear();
  return pb::encode_booking_add(add);
}

void send_json(runtime::HttpResponse& res, std::string body, int status = 200) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

bool may_book(const protocol::TokenGrant& g) { return g.role == Role::kCentralOperator || g.role == Role::kAdmin; }

}  // namespace

struct BookingService::Impl {
  BookingServiceOptions options;
  sync::SyncServer& sync;
  protocol::TimeZone zone;
  std::mt19937_64 rng{std::random_device{}()};
  std::mutex rng_mutex;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wake;  // guarded by mutex
  bool stopping = false;  // guarded by mutex
  ReaderAccess reader;  // set by add_routes (metrics, the recovery report)

  Impl(BookingServiceOptions o, sync::SyncServer& s, protocol::TimeZone z)
      : options(std::move(o)), sync(s), zone(std::move(z)) {}

  std::int64_t now() const { return options.clock(); }
  std::string new_code() {
    std::lock_guard lock(rng_mutex);
    return pb::booking_code(rng());
  }
  const pb::BookingConfig& config() const { return options.config; }
  // [local midnight, next local midnight) of a yyyymmdd day in UTC ms (the
  // zone's offset within ±12 h).
  std::pair<std::int64_t, std::int64_t> day_bounds(int day) const {
    std::tm tm{};
    tm.tm_year = day / 10000 - 1900;
    tm.tm_mon = day / 100 % 100 - 1;
    tm.tm_mday = day % 100;
    tm.tm_hour = 12;
    const std::int64_t end = zone.next_midnight_ms(static_cast<std::int64_t>(timegm(&tm)) * 1000);
    return {end - 86400000, end};
  }

  // Checks a slot of the request; an error message when it cannot be booked.
  std::optional<std::string> check_slot(const pb::HallSlots& hall, const pb::ServiceSlots& service,
                                        std::int64_t start, pb::Slot& slot) const {
    auto found = pb::slot_at(hall, service, start, zone);
    if (!found) return "slot_start: hall " + hall.hall + " has no " + service.code + " slot starting then";
    const std::int64_t t = now();
    if (found->start <= t) return std::string("slot_start: the slot has begun or is past");
    if (found->start > t + static_cast<std::int64_t>(config().horizon_days) * 86400000)
      return "slot_start: beyond the booking horizon of " + std::to_string(config().horizon_days) + " days";
    slot = *found;
    return std::nullopt;
  }

  NewBooking rules_for(const pb::ServiceSlots& service) const {
    NewBooking b;
    b.now = now();
    b.central_quota = service.central_quota();
    b.no_show_count = config().no_show_limit.count;
    b.no_show_within_ms = static_cast<std::int64_t>(config().no_show_limit.within_days) * 86400000;
    b.no_show_block_ms = static_cast<std::int64_t>(config().no_show_limit.block_days) * 86400000;
    return b;
  }

  // Runs one booking change on the sync thread; sends its command(s) to the hall.
  BookingOutcome run(std::function<protocol::Expected<BookingOutcome>(CentralStore&, std::vector<RoutedCommand>&)> fn) {
    auto outcome = std::make_shared<BookingOutcome>();
    auto done = sync.transact([fn = std::move(fn), outcome](CentralStore& store, std::vector<RoutedCommand>& queued)
                                  -> protocol::Expected<std::string> {
      auto r = fn(store, queued);
      if (!r) return std::unexpected(r.error());
      *outcome = std::move(*r);
      return std::string();
    }).get();
    if (!done) return BookingOutcome{503, "unavailable", "the booking could not be recorded: " + done.error().message, {}};
    return *outcome;
  }

  void push_configs() {
    auto done = sync.transact([this](CentralStore& store, std::vector<RoutedCommand>& queued)
                                  -> protocol::Expected<std::string> {
      int sent = 0;
      for (const auto& hall : config().halls) {
        const std::string text = pb::encode_booking_config(config(), hall.hall);
        const std::string version = pb::text_version(text);
        const std::string key = "booking:" + hall.hall;
        auto known = store.get_setting(key);
        if (!known) return std::unexpected(known.error());
        if (*known && **known == version) continue;
        auto seq = store.enqueue_command(hall.hall, now(), pb::kConfigCommand, text);
        if (!seq) return std::unexpected(seq.error());
        queued.push_back({hall.hall, *seq});
        if (auto ok = store.set_setting(key, version); !ok) return std::unexpected(ok.error());
        ++sent;
      }
      return std::to_string(sent);
    }).get();
    if (!done) spdlog::error("booking: cannot send the halls their slots: {}", done.error().message);
    else if (*done != "0") spdlog::info("booking: slot configuration queued for {} halls", *done);
  }

  // After a restore (store/booking_tables.h): a hall is recovering until it
  // has re-sent everything it has; until then central neither books its
  // slots nor moves seats to it, since the bookings and moves central lost
  // are still on their way back.
  static protocol::Expected<bool> recovering(CentralStore& store, std::string_view hall) {
    auto prev = store.get_setting("down_epoch_prev");
    if (!prev) return std::unexpected(prev.error());
    auto epoch = store.get_setting("down_epoch");
    if (!epoch) return std::unexpected(epoch.error());
    auto report = store.get_setting(store::BookingTables::recovery_key(hall));
    if (!report) return std::unexpected(report.error());
    return store::BookingTables::recovering_from(*prev, *epoch, *report);
  }
  static BookingOutcome recovering_refusal(const std::string& hall) {
    return BookingOutcome{503, "recovering",
                          "central was restored from a backup and has not yet heard back everything hall " + hall +
                              " knows (its bookings and seats); try again once the hall has reconnected",
                          {}};
  }

  // Marks the halls that caught up (connected, all their events stored).
  void update_recovery(const sync::SyncMetrics& metrics) {
    std::set<std::string> caught_up;
    for (const auto& h : metrics.halls)
      if (h.connected && h.acked >= h.edge_last_seq) caught_up.insert(h.hall);
    auto done = sync.transact([this, caught_up](CentralStore& store, std::vector<RoutedCommand>&)
                                  -> protocol::Expected<std::string> {
      std::string said;
      for (const auto& hall : config().halls) {
        if (!caught_up.contains(hall.hall)) continue;
        auto rec = recovering(store, hall.hall);
        if (!rec) return std::unexpected(rec.error());
        if (!*rec) continue;
        const std::string key = store::BookingTables::recovery_key(hall.hall);
        auto text = store.get_setting(key);
        if (!text) return std::unexpected(text.error());
        auto epoch = store.get_setting("down_epoch");
        if (!epoch) return std::unexpected(epoch.error());
        json j = *text ? json::parse(**text, nullptr, false) : json::object();
        if (!j.is_object()) j = json::object();
        j["caught_up_epoch"] = epoch->value_or("");
        j["caught_up_ts"] = now();
        if (auto ok = store.set_setting(key, j.dump()); !ok) return std::unexpected(ok.error());
        said += fmt::format("{}hall {}: {} bookings and {} moved seats central had lost were taken back from its "
                            "log, {} reschedules",
                            said.empty() ? "" : "; ", hall.hall, j.value("lost_bookings", 0),
                            j.value("relearned_moved_seats", 0), j.value("relearned_reschedules", 0));
      }
      return said;
    }).get();
    if (!done) spdlog::error("booking: recovery check failed: {}", done.error().message);
    else if (!done->empty()) spdlog::warn("recovery after restore complete for {}; booking open again", *done);
  }

  protocol::Expected<int> rebalance() {
    std::set<std::string> connected;
    const auto metrics = sync.metrics();
    update_recovery(metrics);
    for (const auto& h : metrics.halls)
      if (h.connected) connected.insert(h.hall);
    auto moved = std::make_shared<int>(0);
    auto done = sync.transact([this, connected, moved](CentralStore& store, std::vector<RoutedCommand>& queued)
                                  -> protocol::Expected<std::string> {
      const std::int64_t t = now();
      const std::int64_t until = t + static_cast<std::int64_t>(config().rebalance_before_min) * 60000;
      for (const auto& hall : config().halls) {
        if (!connected.contains(hall.hall)) continue;
        auto rec = recovering(store, hall.hall);
        if (!rec) return std::unexpected(rec.error());
        if (*rec) continue;
        for (const auto& service : hall.services) {
          auto counts = store.slot_counts(hall.hall, service.code, t, until + 1);
          if (!counts) return std::unexpected(counts.error());
          std::map<std::int64_t, SlotCount> by_start;
          for (const auto& c : *counts) by_start[c.slot_start] = c;
          for (int day : {zone.local_day(t), zone.local_day(until)}) {
            for (const auto& slot : pb::slots_of_day(hall, service, day, zone)) {
              if (slot.start <= t || slot.start > until) continue;
              const auto c = by_start[slot.start];
              const int unused = service.central_quota() - c.moved - c.central;
              if (unused <= 0) continue;
              if (auto ok = store.add_moved_seats(hall.hall, service.code, slot.start, unused, t); !ok)
                return std::unexpected(ok.error());
              auto seq = store.enqueue_command(hall.hall, t, pb::kQuotaCommand,
                                               pb::encode_booking_quota({service.code, slot.start, unused}));
              if (!seq) return std::unexpected(seq.error());
              queued.push_back({hall.hall, *seq});
              *moved += unused;
              by_start[slot.start].moved += unused;
            }
            if (zone.local_day(t) == zone.local_day(until)) break;
          }
        }
      }
      return std::string();
    }).get();
    if (!done) return std::unexpected(done.error());
    if (*moved > 0) spdlog::info("booking: {} unused central seats moved to their halls before their slots", *moved);
    return *moved;
  }

  void remind() {
    auto done = sync.transact([this](CentralStore& store, std::vector<RoutedCommand>&) -> protocol::Expected<std::string> {
      auto n = store.queue_booking_reminders(now());
      if (!n) return std::unexpected(n.error());
      return std::to_string(*n);
    }).get();
    if (!done) {
      spdlog::error("booking: queuing reminders failed: {}", done.error().message);
    } else if (*done != "0") {
      spdlog::info("booking: {} day-before reminders queued", *done);
      if (options.notify_wake) options.notify_wake();
    }
  }

  void run_thread() {
    push_configs();
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      if (auto r = rebalance(); !r) spdlog::error("booking: rebalancing failed: {}", r.error().message);
      if (options.notify) remind();
      lock.lock();
      wake.wait_for(lock, std::chrono::milliseconds(options.rebalance_every_ms), [&] { return stopping; });
    }
  }
};

BookingService::BookingService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BookingService::~BookingService() { stop(); }

protocol::Expected<std::unique_ptr<BookingService>> BookingService::create(BookingServiceOptions options,
                                                                           sync::SyncServer& sync) {
  auto zone = protocol::TimeZone::load(options.config.timezone, options.zoneinfo_root);
  if (!zone) return protocol::error("booking config timezone: " + zone.error().message);
  if (options.case_key.size() < 32)
    return protocol::error("bookings need the city's case key (--case-key-file, at least 32 bytes) to hash IDs");
  if (!options.clock) {
    options.clock = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  return std::unique_ptr<BookingService>(
      new BookingService(std::make_unique<Impl>(std::move(options), sync, std::move(*zone))));
}

void BookingService::start() {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run_thread(); });
}

void BookingService::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

protocol::Expected<int> BookingService::rebalance() { return impl_->rebalance(); }

std::string BookingService::metrics_text() {
  const auto& reader = impl_->reader;
  if (!reader.store) return {};
  std::string recovering, lost, seats;
  std::lock_guard lock(*reader.mutex);
  auto prev = reader.store->get_setting("down_epoch_prev");
  auto epoch = reader.store->get_setting("down_epoch");
  if (!prev || !epoch) return {};
  for (const auto& hall : impl_->config().halls) {
    auto text = reader.store->get_setting(store::BookingTables::recovery_key(hall.hall));
    if (!text) return {};
    json j = *text ? json::parse(**text, nullptr, false) : json::object();
    if (!j.is_object()) j = json::object();
    recovering += fmt::format("yiban_central_hall_recovering{{hall=\"{}\"}} {}\n", hall.hall,
                              store::BookingTables::recovering_from(*prev, *epoch, *text) ? 1 : 0);
    lost += fmt::format("yiban_central_recovery_lost_bookings{{hall=\"{}\"}} {}\n", hall.hall,
                        j.value("lost_bookings", 0));
    seats += fmt::format("yiban_central_recovery_moved_seats_relearned{{hall=\"{}\"}} {}\n", hall.hall,
                         j.value("relearned_moved_seats", 0));
  }
  return "# HELP yiban_central_hall_recovering 1 while central, restored from a backup, waits for the hall to re-send "
         "what it knows (no booking of its slots meanwhile).\n# TYPE yiban_central_hall_recovering gauge\n" +
         recovering +
         "# HELP yiban_central_recovery_lost_bookings Central's bookings its restored store lacked, taken back from "
         "the hall's log.\n# TYPE yiban_central_recovery_lost_bookings counter\n" +
         lost +
         "# HELP yiban_central_recovery_moved_seats_relearned Seats moved to the hall that the restored store did not "
         "count, taken back from the hall's log.\n# TYPE yiban_central_recovery_moved_seats_relearned counter\n" +
         seats;
}

void BookingService::add_routes(
    runtime::HttpServer& server,
    std::function<std::optional<protocol::TokenGrant>(const runtime::HttpRequest&, runtime::HttpResponse&)> authenticate,
    ReaderAccess reader) {
  Impl* d = impl_.get();
  d->reader = reader;

  // The recovery after a restore: per hall what central lost and took back.
  server.Get("/api/v1/recovery", [d, authenticate, reader](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    std::lock_guard lock(*reader.mutex);
    auto prev = reader.store->get_setting("down_epoch_prev");
    auto epoch = reader.store->get_setting("down_epoch");
    if (!prev || !epoch) return send_error(res, 500, "internal", (!prev ? prev : epoch).error().message);
    json halls = json::array();
    for (const auto& hall : d->config().halls) {
      auto text = reader.store->get_setting(store::BookingTables::recovery_key(hall.hall));
      if (!text) return send_error(res, 500, "internal", text.error().message);
      json j = *text ? json::parse(**text, nullptr, false) : json::object();
      if (!j.is_object()) j = json::object();
      halls.push_back({{"hall", hall.hall},
                       {"recovering", store::BookingTables::recovering_from(*prev, *epoch, *text)},
                       {"lost_bookings", j.value("lost_bookings", 0)},
                       {"lost_booking_codes", j.value("lost_booking_codes", json::array())},
                       {"relearned_moved_seats", j.value("relearned_moved_seats", 0)},
                       {"relearned_reschedules", j.value("relearned_reschedules", 0)},
                       {"caught_up_ts", j.value("caught_up_ts", json(nullptr))}});
    }
    send_json(res, json{{"restored", prev->has_value() && !(*prev)->empty()},
                        {"down_epoch", epoch->value_or("")},
                        {"down_epoch_prev", prev->value_or("")},
                        {"halls", std::move(halls)}}
                       .dump());
  }).roles({Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/booking/slots", [d, authenticate, reader](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    const auto* hall = d->config().find(req.get_param_value("hall"));
    if (!hall) return send_error(res, 404, "not_found", "hall: no bookable hall \"" + req.get_param_value("hall") + "\"");
    const auto* service = hall->find(req.get_param_value("service"));
    if (!service) return send_error(res, 404, "not_found", "service: not bookable at " + hall->hall);
    auto day = runtime::parse_day(req.get_param_value("day"));
    if (!day) return send_error(res, 400, "bad_request", "day: YYYY-MM-DD");
    auto slots = pb::slots_of_day(*hall, *service, *day, d->zone);
    std::vector<SlotCount> counts;
    if (!slots.empty()) {
      std::lock_guard lock(*reader.mutex);
      auto c = reader.store->slot_counts(hall->hall, service->code, slots.front().start, slots.back().end);
      if (!c) return send_error(res, 500, "internal", c.error().message);
      counts = std::move(*c);
    }
    json out = json::array();
    const std::int64_t t = d->now();
    for (const auto& s : slots) {
      SlotCount c{};
      for (const auto& x : counts)
        if (x.slot_start == s.start) c = x;
      const int central = service->central_quota() - c.moved;
      const bool open = s.start > t && s.start <= t + static_cast<std::int64_t>(d->config().horizon_days) * 86400000;
      out.push_back({{"start", s.start},
                     {"end", s.end},
                     {"capacity", service->capacity},
                     {"central_quota", central},
                     {"hall_quota", service->hall_quota() + c.moved},
                     {"booked_central", c.central},
                     {"booked_hall", c.hall},
                     {"available", open ? std::max(0, central - c.central) : 0}});
    }
    send_json(res, json{{"hall", hall->hall}, {"service", service->code}, {"day", req.get_param_value("day")},
                        {"slots", std::move(out)}}
                       .dump());
  });

  server.Get("/api/v1/booking/heatmap", [d, authenticate, reader](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    if (!authenticate(req, res)) return;
    auto day = runtime::parse_day(req.get_param_value("day"));
    if (!day) return send_error(res, 400, "bad_request", "day: YYYY-MM-DD");
    json rows = json::array();
    for (const auto& hall : d->config().halls) {
      for (const auto& service : hall.services) {
        auto slots = pb::slots_of_day(hall, service, *day, d->zone);
        std::vector<SlotCount> counts;
        if (!slots.empty()) {
          std::lock_guard lock(*reader.mutex);
          auto c = reader.store->slot_counts(hall.hall, service.code, slots.front().start, slots.back().end);
          if (!c) return send_error(res, 500, "internal", c.error().message);
          counts = std::move(*c);
        }
        json cells = json::array();
        for (const auto& s : slots) {
          int booked = 0;
          for (const auto& x : counts)
            if (x.slot_start == s.start) booked = x.central + x.hall;
          cells.push_back({{"start", s.start}, {"capacity", service.capacity}, {"booked", booked}});
        }
        rows.push_back({{"hall", hall.hall}, {"service", service.code}, {"slots", std::move(cells)}});
      }
    }
    send_json(res, json{{"day", req.get_param_value("day")}, {"rows", std::move(rows)}}.dump());
  });

  server.Post("/api/v1/bookings", [d, authenticate](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    if (!may_book(*g)) return send_error(res, 403, "forbidden", "bookings are made with a central-operator token");
    auto r = pb::decode_book(req.body);
    if (!r) return send_error(res, 400, "bad_request", r.error().message);
    const auto* hall = d->config().find(r->hall);
    if (!hall) return send_error(res, 404, "not_found", "hall: " + r->hall + " takes no bookings");
    const auto* service = hall->find(r->service);
    if (!service) return send_error(res, 404, "not_found", "service: " + r->service + " is not bookable at " + r->hall);
    pb::Slot slot;
    if (auto bad = d->check_slot(*hall, *service, r->slot_start, slot)) return send_error(res, 400, "bad_request", *bad);
    auto id = protocol::cases::normalise_id(r->applicant_id);
    if (!id) return send_error(res, 400, "bad_request", id.error().message);
    auto phone = pb::normalise_phone(r->phone);
    if (!phone) return send_error(res, 400, "bad_request", phone.error().message);
    NewBooking b = d->rules_for(*service);
    b.hall = hall->hall;
    b.service = service->code;
    b.slot_start = slot.start;
    b.slot_end = slot.end;
    b.person_day = d->zone.local_day(slot.start);
    b.id_hash = protocol::cases::keyed_hash(d->options.case_key, *id);
    b.name = protocol::cases::mask_name(r->applicant_name);
    b.phone = *phone;
    b.special_need = r->special_need;
    std::vector<std::string> codes{d->new_code(), d->new_code(), d->new_code()};
    const bool notify = d->options.notify;
    // The phone and the special need reach the hall sealed to its keys (issue 15).
    const auto hall_keys = d->sync.hall_keys(b.hall);
    auto outcome = d->run([b, codes, notify, hall_keys](CentralStore& store, std::vector<RoutedCommand>& queued)
                              -> protocol::Expected<BookingOutcome> {
      NewBooking nb = b;
      auto rec = Impl::recovering(store, nb.hall);
      if (!rec) return std::unexpected(rec.error());
      if (*rec) return Impl::recovering_refusal(nb.hall);
      for (const auto& code : codes) {
        auto taken = store.booking_json(code);
        if (!taken) return std::unexpected(taken.error());
        if (*taken) continue;  // 40 random bits collided: the next code
        nb.code = code;
        auto o = store.book(nb);
        if (!o || o->status >= 300) return o;
        auto seq = store.enqueue_command(nb.hall, nb.now, pb::kAddCommand,
                                         sealed_add({nb.code, nb.service, nb.slot_start, nb.slot_end, nb.name,
                                                     nb.phone, nb.special_need, {}},
                                                    hall_keys));
        if (!seq) return std::unexpected(seq.error());
        queued.push_back({nb.hall, *seq});
        if (notify) {
          json note{{"code", nb.code}, {"hall", nb.hall}, {"service", nb.service}, {"slot_start", nb.slot_start},
                    {"slot_end", nb.slot_end}, {"name", nb.name}, {"phone", nb.phone},
                    {"text", "【一办】预约成功，预约码 " + nb.code + "，请按时到厅签到。"}};
          if (auto id = store.enqueue_notification("booking.confirmed", note.dump(), nb.now); !id)
            return std::unexpected(id.error());
        }
        return o;
      }
      return BookingOutcome{503, "unavailable", "no free booking code; try again", {}};
    });
    if (notify && outcome.status < 300 && d->options.notify_wake) d->options.notify_wake();
    if (outcome.status >= 300) return send_error(res, outcome.status, outcome.error, outcome.message);
    send_json(res, outcome.booking, 201);
  }).roles({Role::kCentralOperator, Role::kAdmin});

  server.Get("/api/v1/bookings", [d, authenticate, reader](const runtime::HttpRequest& req, runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    BookingQuery q;
    if (g->role == Role::kHallManager) q.hall = g->hall;
    else if (!may_book(*g)) return send_error(res, 403, "forbidden", "bookings hold personal data; not for viewers");
    if (req.has_param("hall")) {
      if (q.hall && *q.hall != req.get_param_value("hall"))
        return send_error(res, 403, "forbidden", "this token covers hall " + *q.hall + " only");
      q.hall = req.get_param_value("hall");
    }
    if (req.has_param("state")) {
      const std::string state = req.get_param_value("state");
      if (state != "booked" && state != "checked_in" && state != "cancelled" && state != "no_show")
        return send_error(res, 400, "bad_request", "state: booked, checked_in, cancelled or no_show");
      q.state = state;
    }
    if (req.has_param("day")) {
      auto day = runtime::parse_day(req.get_param_value("day"));
      if (!day) return send_error(res, 400, "bad_request", "day: YYYY-MM-DD");
      auto [from, to] = d->day_bounds(*day);
      q.from = from;
      q.to = to;
    }
    runtime::Page page;
    if (auto bad = runtime::parse_page(req, page, 500)) return send_error(res, 400, "bad_request", *bad);
    q.limit = page.limit;
    q.offset = page.offset;
    std::lock_guard lock(*reader.mutex);
    auto body = reader.store->bookings_json(q);
    if (!body) return send_error(res, 500, "internal", body.error().message);
    send_json(res, *body);
  });

  server.Get(R"(/api/v1/bookings/([A-Z0-9]{8}))", [authenticate, reader](const runtime::HttpRequest& req,
                                                                         runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    if (!may_book(*g) && g->role != Role::kHallManager)
      return send_error(res, 403, "forbidden", "bookings hold personal data; not for viewers");
    std::lock_guard lock(*reader.mutex);
    auto body = reader.store->booking_json(std::string(req.matches[1]));
    if (!body) return send_error(res, 500, "internal", body.error().message);
    if (!*body) return send_error(res, 404, "not_found", "no booking " + std::string(req.matches[1]));
    if (g->role == Role::kHallManager && json::parse(**body)["hall"] != g->hall)
      return send_error(res, 404, "not_found", "no booking " + std::string(req.matches[1]));
    send_json(res, **body);
  });

  server.Delete(R"(/api/v1/bookings/([A-Z0-9]{8}))", [d, authenticate](const runtime::HttpRequest& req,
                                                                       runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    if (!may_book(*g)) return send_error(res, 403, "forbidden", "bookings are changed with a central-operator token");
    const std::string code = req.matches[1];
    const std::int64_t t = d->now();
    auto outcome = d->run([code, t](CentralStore& store, std::vector<RoutedCommand>& queued)
                              -> protocol::Expected<BookingOutcome> {
      auto o = store.cancel_booking(code, t);
      if (!o || o->status >= 300) return o;
      const std::string hall = json::parse(o->booking)["hall"];
      auto seq = store.enqueue_command(hall, t, pb::kCancelCommand, json{{"code", code}}.dump());
      if (!seq) return std::unexpected(seq.error());
      queued.push_back({hall, *seq});
      return o;
    });
    if (outcome.status >= 300) return send_error(res, outcome.status, outcome.error, outcome.message);
    send_json(res, outcome.booking);
  }).roles({Role::kCentralOperator, Role::kAdmin});

  server.Post(R"(/api/v1/bookings/([A-Z0-9]{8})/reschedule)", [d, authenticate, reader](const runtime::HttpRequest& req,
                                                                                         runtime::HttpResponse& res) {
    auto g = authenticate(req, res);
    if (!g) return;
    if (!may_book(*g)) return send_error(res, 403, "forbidden", "bookings are changed with a central-operator token");
    const std::string code = req.matches[1];
    auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("slot_start") || !body["slot_start"].is_number_integer())
      return send_error(res, 400, "bad_request", "slot_start: missing or not a time (UTC ms)");
    std::optional<std::string> existing;
    {
      std::lock_guard lock(*reader.mutex);
      auto e = reader.store->booking_json(code);
      if (!e) return send_error(res, 500, "internal", e.error().message);
      existing = *e;
    }
    if (!existing) return send_error(res, 404, "not_found", "no booking " + code);
    const json e = json::parse(*existing);
    const auto* hall = d->config().find(e["hall"].get<std::string>());
    const auto* service = hall ? hall->find(e["service"].get<std::string>()) : nullptr;
    if (!service) return send_error(res, 409, "invalid_state", "the booking's hall or service takes no bookings now");
    pb::Slot slot;
    if (auto bad = d->check_slot(*hall, *service, body["slot_start"].get<std::int64_t>(), slot))
      return send_error(res, 400, "bad_request", *bad);
    NewBooking to = d->rules_for(*service);
    to.slot_start = slot.start;
    to.slot_end = slot.end;
    to.person_day = d->zone.local_day(slot.start);
    auto outcome = d->run([code, to, d](CentralStore& store, std::vector<RoutedCommand>& queued)
                              -> protocol::Expected<BookingOutcome> {
      if (auto existing = store.booking_json(code); existing && *existing) {
        const std::string hall = json::parse(**existing)["hall"];
        auto rec = Impl::recovering(store, hall);
        if (!rec) return std::unexpected(rec.error());
        if (*rec) return Impl::recovering_refusal(hall);
      }
      auto o = store.reschedule_booking(code, to);
      if (!o || o->status >= 300) return o;
      const json b = json::parse(o->booking);
      auto seq = store.enqueue_command(
          b["hall"].get<std::string>(), to.now, pb::kAddCommand,
          sealed_add({code, b["service"], to.slot_start, to.slot_end, b["name"], "",
                      b["special_need"].is_string() ? b["special_need"].get<std::string>() : "", {}},
                     d->sync.hall_keys(b["hall"].get<std::string>())));
      if (!seq) return std::unexpected(seq.error());
      queued.push_back({b["hall"].get<std::string>(), *seq});
      o->status = 200;
      return o;
    });
    if (outcome.status >= 300) return send_error(res, outcome.status, outcome.error, outcome.message);
    send_json(res, outcome.booking);
  }).roles({Role::kCentralOperator, Role::kAdmin});
}

}  // namespace yiban::central::booking
