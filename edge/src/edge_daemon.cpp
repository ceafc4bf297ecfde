#include "yiban/edge/edge_daemon.h"

#include <map>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "gateway/board_publisher.h"
#include "gateway/device_limiter.h"
#include "gateway/mqtt_bus.h"
#include "gateway/request_handler.h"
#include "alerts/alert_engine.h"
#include "alerts/alert_rules.h"
#include "queue/queue_engine.h"
#include "sensing/sensing.h"
#include "yiban/runtime/checkpointer.h"
#include "store/edge_store.h"
#include "store/retention.h"
#include "console/console_actions.h"
#include "console/console_api.h"
#include "bookings/booking_desk.h"
#include "cases/case_desk.h"
#include "yiban/protocol/bookings.h"
#include "yiban/runtime/blob_store.h"
#include "yiban/runtime/notifier.h"
#include "yiban/protocol/cases.h"
#include "sync/sync_client.h"
#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/commands.h"
#include "yiban/protocol/tokens.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/hall_config.h"
#include "yiban/protocol/payloads.h"
#include "yiban/protocol/time_zone.h"
#include "yiban/protocol/topics.h"

namespace yiban::edge {
namespace {

constexpr std::size_t kMaxBatch = 2000;
constexpr std::int64_t kMaxWaitMs = 100;

}  // namespace

struct EdgeDaemon::Impl {
  EdgeOptions options;
  std::shared_ptr<const Clock> clock;
  protocol::HallConfig config;
  protocol::Topics topics;
  std::unique_ptr<store::EdgeStore> store;
  std::unique_ptr<queue::QueueEngine> engine;
  std::unique_ptr<sensing::Sensing> sensing;
  std::unique_ptr<alerts::AlertEngine> alerts;
  gateway::Inbox inbox;  // its lanes: MQTT (drops), sync (blocks only sync), console (refuses)
  std::unique_ptr<gateway::MqttBus> bus;
  std::unique_ptr<gateway::DeviceLimiter> limiter;  // engine thread; reads engine->config()
  // The latest presence a device announced over its status rate, applied by
  // tick() once it has a token again (one per device in the hall config).
  std::map<std::string, gateway::InboundMessage, std::less<>> pending_status;
  std::unique_ptr<gateway::RequestHandler> handler;
  std::unique_ptr<gateway::BoardPublisher> boards;
  std::unique_ptr<store::Retention> retention;  // engine thread
  std::uint64_t retention_failures = 0;
  bool clock_behind_said = false;  // engine thread: the clock-behind warning was logged
  std::int64_t next_sensing_ms = 0;
  // Requests answered, and their time from arrival to reply (engine thread).
  std::uint64_t requests_answered = 0;
  std::int64_t request_ns_total = 0;
  std::int64_t request_ns_max = 0;
  std::unique_ptr<runtime::Checkpointer> checkpointer;
  std::uint64_t ignored_messages = 0;
  std::uint64_t slow_batches = 0;
  std::string config_text;  // hall.json with central's config.set sections applied
  std::unique_ptr<sync::SyncClient> sync;
  std::int64_t sync_notified_seq = 0;
  std::int64_t down_applied = 0;  // highest central command applied (meta down_applied)
  std::optional<std::string> notice_board;  // retained board/notice payload
  std::optional<std::string> config_text_before;  // within process(): to undo a failed commit
  console::Link console_link;
  std::unique_ptr<runtime::BlobStore> blobs;
  std::unique_ptr<cases::CaseDesk> cases;
  std::unique_ptr<bookings::BookingDesk> bookings;
  std::unique_ptr<runtime::Notifier> notifier;
  // Queues "your turn is near" for tickets with a phone number that reached
  // the front (inside the open transaction); returns how many.
  protocol::Expected<int> queue_turn_near(std::int64_t now);
  std::unique_ptr<console::Api> api;
  std::int64_t next_console_ms = 0;

  Impl(EdgeOptions o, std::shared_ptr<const Clock> c, protocol::HallConfig h)
      : options(std::move(o)), clock(std::move(c)), config(std::move(h)), topics(config.hall) {}

  void process(std::vector<gateway::InboxItem> items);
  void handle_telemetry(const protocol::DeviceTopic& topic, const gateway::InboundMessage& message,
                        std::int64_t now, bool& in_txn);
  // After a failed write: memory back in line with the store.
  void reload(std::int64_t now);
  // Publishes the open alerts (retained) when they changed, or always when forced.
  void publish_alerts(std::int64_t now, bool force);
  void handle_status(const protocol::DeviceTopic& topic, const gateway::InboundMessage& message, std::int64_t now,
                     bool& in_txn);
  bool ensure_transaction(bool& in_txn);
  // Applies one command from central inside the open transaction. Returns
  // whether the config changed (the caller reloads after the commit).
  // What one process() call changed beyond the store.
  struct ProcessState {
    bool config_changed = false;
    bool notice_changed = false;
    std::optional<protocol::HallConfig> previous_config;  // to undo a failed commit
    std::optional<std::optional<std::string>> previous_notice;  // likewise
    std::vector<std::pair<std::shared_ptr<std::promise<console::Result>>, console::Result>> console_replies;
    bool adopt_finished = false;  // a final kAdopt step was handled (committed or not)
    std::string adopt_error;  // why an adopt step failed ("": none)
  };
  struct StagedConfig {
    protocol::HallConfig old_config;
    std::string new_text;
    std::string new_override;
  };
  // Validates config.set sections against the current config and
  // reconfigures the engine; returns why not, empty when staged. The caller
  // records the change (or undoes it with old_config) and calls keep_staged.
  std::string stage_config(const std::string& sections_json, StagedConfig& staged);
  void keep_staged(StagedConfig& staged, ProcessState& ps);
  void apply_command(const std::string& text, std::int64_t now, bool& in_txn, ProcessState& ps);
  // A re-base onto central's DOWN epoch, or central's events of this hall
  // adopted into a store behind them (protocol/README.md "Store identity").
  void apply_sync_step(const sync::SyncStep& step, std::int64_t now, bool& in_txn, ProcessState& ps);
  void apply_console(console::Request& request, std::int64_t now, bool& in_txn, ProcessState& ps);
  // Rebuilds the console's snapshot of the engine (engine thread).
  void publish_console(std::int64_t now);
  void notify_sync() {
    if (store->last_seq() == sync_notified_seq) return;
    sync_notified_seq = store->last_seq();
    if (sync) sync->committed(sync_notified_seq);
    if (api) console_link.committed(sync_notified_seq);
  }
  void tick();
  void on_connected(std::int64_t now);
  // Processes everything already in the inbox, without waiting for more.
  void drain() {
    for (auto items = inbox.pop_batch(std::chrono::milliseconds(0), kMaxBatch); !items.empty();
         items = inbox.pop_batch(std::chrono::milliseconds(0), kMaxBatch)) {
      process(std::move(items));
    }
  }
};

EdgeDaemon::EdgeDaemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EdgeDaemon::~EdgeDaemon() = default;

protocol::Expected<std::unique_ptr<EdgeDaemon>> EdgeDaemon::create(EdgeOptions options,
                                                                   std::shared_ptr<const Clock> clock) {
  auto text = protocol::read_hall_config_text(options.hall_config);
  if (!text) return protocol::error("hall config " + text.error().message);
  auto config = protocol::parse_hall_config(*text);
  if (!config) return protocol::error("hall config " + options.hall_config.string() + ": " + config.error().message);
  auto store = store::EdgeStore::open(options.db.string(), config->hall);
  if (!store) return std::unexpected(store.error());
  // Sections central changed (config.set) stay changed across restarts.
  auto override_text = (*store)->get_meta("config_override");
  if (!override_text) return std::unexpected(override_text.error());
  if (*override_text) {
    auto merged = protocol::replace_config_sections(*text, **override_text);
    auto merged_config = merged ? protocol::parse_hall_config(*merged) : std::unexpected(merged.error());
    if (!merged_config) {
      spdlog::error("central's config changes no longer fit {} ({}); running on the file alone",
                    options.hall_config.string(), merged_config.error().message);
    } else {
      spdlog::info("applying central's config changes to {}", options.hall_config.string());
      *text = std::move(*merged);
      config = std::move(merged_config);
    }
  }
  auto zone = protocol::TimeZone::load(config->timezone, options.zoneinfo_root);
  if (!zone) return protocol::error("hall config timezone: " + zone.error().message);
  if (options.mqtt_client_id.empty()) options.mqtt_client_id = "yiban-edge-" + config->hall;

  auto impl = std::make_unique<Impl>(std::move(options), std::move(clock), std::move(*config));
  impl->config_text = std::move(*text);
  impl->store = std::move(*store);
  auto applied = impl->store->get_meta("down_applied");
  if (!applied) return std::unexpected(applied.error());
  if (*applied) impl->down_applied = std::stoll(**applied);
  auto notice = impl->store->get_meta("notice");
  if (!notice) return std::unexpected(notice.error());
  impl->notice_board = *notice;
  impl->checkpointer = std::make_unique<runtime::Checkpointer>(impl->options.db.string());
  impl->engine = std::make_unique<queue::QueueEngine>(impl->config, std::move(*zone), *impl->store);
  if (auto ok = impl->engine->load(); !ok) return protocol::error("loading the queue: " + ok.error().message);
  impl->sensing = std::make_unique<sensing::Sensing>(impl->engine->config(), impl->engine->zone(), *impl->store,
                                                     *impl->engine);
  if (auto ok = impl->sensing->load(impl->clock->now_ms()); !ok)
    return protocol::error("loading telemetry: " + ok.error().message);
  if (impl->options.blob_dir.empty()) {
    const auto& db_path = impl->options.db;
    impl->options.blob_dir = db_path.parent_path() / (db_path.stem().string() + ".blobs");
  }
  auto blobs = runtime::BlobStore::open(impl->options.blob_dir);
  if (!blobs) return std::unexpected(blobs.error());
  impl->blobs = std::make_unique<runtime::BlobStore>(std::move(*blobs));
  impl->cases = std::make_unique<cases::CaseDesk>(*impl->store, *impl->blobs, impl->options.case_key,
                                                  impl->engine->config(), impl->engine->zone(),
                                                  impl->options.hall_public_key, impl->options.hall_secret_key);
  impl->retention = std::make_unique<store::Retention>(*impl->store, impl->engine->config(), impl->engine->zone(),
                                                       store::archive_dir_of(impl->options.db), impl->blobs.get());
  impl->alerts = std::make_unique<alerts::AlertEngine>(impl->engine->config(), *impl->store);
  if (auto ok = impl->alerts->load(); !ok) return protocol::error("loading alerts: " + ok.error().message);
  if (!impl->options.notify_url.empty()) {
    runtime::Notifier::Options no;
    no.db_path = impl->options.db.string();
    no.url = impl->options.notify_url;
    no.secret = impl->options.notify_secret;
    auto notifier = runtime::Notifier::create(std::move(no));
    if (!notifier) return protocol::error("--notify-url: " + notifier.error().message);
    impl->notifier = std::move(*notifier);
  }
  impl->bookings = std::make_unique<bookings::BookingDesk>(*impl->store, *impl->alerts, impl->options.case_key,
                                                           impl->engine->config(), impl->engine->zone(),
                                                           impl->options.hall_public_key,
                                                           impl->options.hall_secret_key);

  gateway::MqttOptions mqtt;
  mqtt.uri = impl->options.mqtt_uri;
  mqtt.client_id = impl->options.mqtt_client_id;
  mqtt.user = impl->options.mqtt_user;
  mqtt.password = impl->options.mqtt_password;
  mqtt.ca_file = impl->options.mqtt_ca_file;
  mqtt.request_filter = impl->topics.all_requests();
  try {
    impl->bus = std::make_unique<gateway::MqttBus>(std::move(mqtt), impl->inbox);
  } catch (const std::exception& e) {
    return protocol::error("mqtt " + impl->options.mqtt_uri + ": " + e.what());
  }
  // The engine's config lives in the engine; the handler and boards read it there.
  impl->handler = std::make_unique<gateway::RequestHandler>(impl->engine->config(), impl->topics, *impl->store,
                                                            *impl->engine, *impl->alerts);
  impl->limiter = std::make_unique<gateway::DeviceLimiter>(impl->engine->config());
  impl->handler->set_limiter(impl->limiter.get());
  impl->boards = std::make_unique<gateway::BoardPublisher>(impl->topics, *impl->bus, *impl->engine);
  if (!impl->options.central_uri.empty()) {
    sync::SyncClientOptions so;
    so.endpoint = impl->options.central_uri;
    so.server_public_key = impl->options.central_public_key;
    so.public_key = impl->options.hall_public_key;
    so.secret_key = impl->options.hall_secret_key;
    so.hall = impl->config.hall;
    so.name = impl->config.name;
    so.region = impl->config.region;
    so.capacity = impl->config.capacity;
    so.db_path = impl->options.db.string();
    so.blob_dir = impl->options.blob_dir.string();
    so.archive_dir = store::archive_dir_of(impl->options.db).string();
    Impl* d = impl.get();
    impl->sync = std::make_unique<sync::SyncClient>(
        std::move(so), [d](std::string text) { d->inbox.push_command(gateway::CentralCommand{std::move(text), nullptr}); });
    impl->sync->set_on_step([d](sync::SyncStep step) {
      d->inbox.push_command(gateway::CentralCommand{{}, std::make_shared<const sync::SyncStep>(std::move(step))});
    });
  } else {
    spdlog::info("no --central: this hall runs alone and keeps its whole log");
  }
  if (!impl->options.http_host.empty()) {
    auto grants = protocol::parse_token_file(impl->options.tokens_text);
    if (!grants) return protocol::error("--tokens: " + grants.error().message);
    console::ApiOptions ao;
    ao.host = impl->options.http_host;
    ao.port = impl->options.http_port;
    ao.tokens = protocol::TokenTable(std::move(*grants));
    ao.web_dir = impl->options.web_dir;
    ao.http.tls_cert = impl->options.http_tls_cert;
    ao.http.tls_key = impl->options.http_tls_key;
    ao.http.header_timeout = std::chrono::milliseconds(impl->options.http_header_timeout_ms);
    ao.http.max_connections = impl->options.http_max_connections;
    ao.http.max_connections_per_peer = impl->options.http_max_connections_per_peer;
    ao.db_path = impl->options.db.string();
    ao.blobs = impl->blobs.get();
    Impl* d = impl.get();
    auto api = console::Api::create(
        std::move(ao), impl->console_link,
        [d](console::Request r) {
          if (!d->inbox.push_console(r))
            r.done->set_value(console::error_result(503, "unavailable", "the hall is busy; try again in a moment"));
        },
        [d] {
          console::SyncView v;
          if (d->sync) {
            auto st = d->sync->status();
            v.state = st.state.empty() ? "idle" : st.state;
            v.acked = st.acked;
            v.refused_messages = st.refused_messages;
            v.send_queue_full = st.send_queue_full;
          }
          return v;
        });
    if (!api) return std::unexpected(api.error());
    impl->api = std::move(*api);
  }
  return std::unique_ptr<EdgeDaemon>(new EdgeDaemon(std::move(impl)));
}

int EdgeDaemon::run(const std::atomic<bool>& stop) {
  Impl& d = *impl_;
  const auto& cfg = d.engine->config();
  spdlog::info("hall {} ({}): {} services, {} counters, {} devices; store {} at event {}; business day {}", cfg.hall,
               cfg.name, cfg.services.size(), cfg.counters.size(), cfg.devices.size(), d.options.db.string(),
               d.store->last_seq(), d.engine->business_day());
  d.tick();  // closes a business day that ended while the daemon was down
  if (d.sync) {
    if (auto ok = d.sync->start(); !ok) {
      spdlog::critical("{}", ok.error().message);
      return 1;
    }
    d.sync_notified_seq = d.store->last_seq();
  }
  d.bus->start();
  if (d.notifier) d.notifier->start();
  if (d.api) {
    d.publish_console(d.clock->now_ms());
    d.api->start();
  }
  while (!stop.load()) {
    auto items = d.inbox.pop_batch(std::chrono::milliseconds(kMaxWaitMs), kMaxBatch);
    if (!items.empty()) d.process(std::move(items));
    d.tick();
  }
  spdlog::info("stopping: answering {} received messages", d.inbox.size());
  if (d.api) d.console_link.close();
  d.drain();
  if (d.api) d.api->stop();
  d.bus->stop(std::chrono::milliseconds(2000));
  // Anything that arrived during the disconnect is applied too: its reply is
  // recorded, so the device's retry gets it after the restart.
  d.drain();
  if (d.sync) {
    auto st = d.sync->status();
    d.sync->stop();
    spdlog::info("sync: central holds {} of {} events; {} batches acknowledged, slowest {:.1f} ms", st.acked,
                 d.store->last_seq(), st.batches_acked, st.ack_ms_max);
  }
  if (d.notifier) d.notifier->stop();
  d.checkpointer->stop();
  d.store->checkpoint();
  {
    const auto bus = d.bus->counters();
    const auto inbox = d.inbox.counters();
    const auto& limited = d.limiter->counters();
    spdlog::info("device gateway refused: {} payloads over 16 KiB, {} retained requests, {} messages with the inbox "
                 "full, {} requests over rate ({} unanswered refusals), {} presence changes held back",
                 bus.oversize_dropped, bus.retained_requests_dropped, inbox.mqtt_dropped, limited.requests_limited,
                 limited.refusals_unanswered, limited.status_changes_deferred);
  }
  spdlog::info("answered {} requests, arrival to reply: mean {:.3f} ms, max {:.3f} ms", d.requests_answered,
               d.requests_answered ? d.request_ns_total / 1e6 / static_cast<double>(d.requests_answered) : 0.0,
               d.request_ns_max / 1e6);
  spdlog::info("stopped cleanly at event {}", d.store->last_seq());
  return 0;
}

bool EdgeDaemon::Impl::ensure_transaction(bool& in_txn) {
  if (in_txn) return true;
  auto ok = store->begin();
  if (!ok) {
    spdlog::error("store: cannot begin a transaction: {}", ok.error().message);
    return false;
  }
  in_txn = true;
  return true;
}

void EdgeDaemon::Impl::process(std::vector<gateway::InboxItem> items) {
  const std::int64_t now = clock->now_ms();
  const auto began = std::chrono::steady_clock::now();
  struct Pending {
    gateway::Outgoing reply;
    bool wrote;
    std::int64_t received_ns;
  };
  std::vector<Pending> replies;
  queue::Changes changes;
  bool in_txn = false;
  bool connected = false;
  ProcessState ps;
  const std::int64_t applied_before = down_applied;
  for (auto& item : items) {
    if (auto* event = std::get_if<gateway::BusEvent>(&item)) {
      connected = connected || *event == gateway::BusEvent::kConnected;
      continue;
    }
    if (auto* command = std::get_if<gateway::CentralCommand>(&item)) {
      if (command->step) {
        apply_sync_step(*command->step, now, in_txn, ps);
      } else {
        apply_command(command->text, now, in_txn, ps);
      }
      continue;
    }
    if (auto* request = std::get_if<console::Request>(&item)) {
      apply_console(*request, now, in_txn, ps);
      continue;
    }
    auto& message = std::get<gateway::InboundMessage>(item);
    auto topic = protocol::parse_device_topic(config.hall, message.topic);
    if (!topic) {
      ++ignored_messages;
      continue;
    }
    if (topic->kind == protocol::DeviceTopicKind::kStatus) {
      handle_status(*topic, message, now, in_txn);
    } else if (topic->kind == protocol::DeviceTopicKind::kRequest) {
      if (!ensure_transaction(in_txn)) {
        replies.push_back({handler->refusal(*topic, message, {protocol::ErrorCode::kInternal, "store unavailable"}),
                           false, message.received_ns});
        continue;
      }
      auto handled = handler->handle(*topic, message, now);
      if (handled.answer) replies.push_back({std::move(handled.reply), handled.wrote, message.received_ns});
      changes.merge(std::move(handled.changes));
    } else if (topic->kind == protocol::DeviceTopicKind::kTelemetry) {
      handle_telemetry(*topic, message, now, in_txn);
    } else {
      ++ignored_messages;
    }
  }
  const auto applied = std::chrono::steady_clock::now();
  if (in_txn) {
    if (auto ok = store->commit(); !ok) {
      if (store::is_storage_full(ok.error()))
        spdlog::critical("store: the disk is full; {} messages refused, nothing of them applied (free space: "
                         "requests succeed again at once)",
                         items.size());
      else
        spdlog::error("store: commit of {} messages failed, nothing of them applied: {}", items.size(),
                      ok.error().message);
      if (ps.previous_config) {
        (void)engine->reconfigure(*ps.previous_config);
        config = engine->config();
        if (config_text_before) config_text = *config_text_before;
        ps.config_changed = false;
      }
      down_applied = applied_before;
      if (ps.previous_notice) notice_board = *ps.previous_notice;
      ps.notice_changed = false;
      for (auto& [done, result] : ps.console_replies)
        result = console::error_result(500, "internal", "the hall could not record this change; try again");
      reload(now);
      auto refusal = store::is_storage_full(ok.error())
                         ? store::store_failure(ok.error())
                         : protocol::Failure{protocol::ErrorCode::kInternal,
                                             "the hall could not record this request; try again"};
      for (auto& p : replies) {
        if (p.wrote) p.reply.payload = protocol::encode_failure(refusal);
      }
      changes = queue::Changes{};
    } else {
      checkpointer->notify();
    }
  }
  config_text_before.reset();
  if (sync && down_applied != applied_before) sync->applied(down_applied);
  if (sync && ps.adopt_finished) sync->adopted(ps.adopt_error);
  if (ps.config_changed) {
    limiter->reconfigure();
    reload(now);
    boards->republish_all(now);
  }
  if (ps.notice_changed && notice_board) bus->publish(topics.board_notice(), *notice_board, 1, true, std::nullopt);
  const auto committed = std::chrono::steady_clock::now();
  const std::int64_t answered_ns = committed.time_since_epoch().count();
  constexpr auto kSlowBatch = std::chrono::milliseconds(10);
  if (committed - began > kSlowBatch) {
    using Ms = std::chrono::duration<double, std::milli>;
    ++slow_batches;
    spdlog::warn("slow batch: {} messages, apply {:.1f} ms, commit {:.1f} ms", items.size(),
                 Ms(applied - began).count(), Ms(committed - applied).count());
  }
  for (const auto& p : replies) {
    bus->publish(p.reply.topic, p.reply.payload, p.reply.qos, false, p.reply.correlation);
    if (p.received_ns == 0) continue;
    std::int64_t took = answered_ns - p.received_ns;
    ++requests_answered;
    request_ns_total += took;
    request_ns_max = std::max(request_ns_max, took);
  }
  // The console's snapshot first, then the "committed" signal: a browser
  // told of a change must read the new state.
  if (api && in_txn) publish_console(now);
  notify_sync();
  for (auto& [done, result] : ps.console_replies) done->set_value(std::move(result));
  boards->apply(changes, now);
  publish_alerts(now, false);
  if (connected) on_connected(now);
}

void EdgeDaemon::Impl::reload(std::int64_t now) {
  if (auto ok = engine->load(); !ok) spdlog::error("reloading the queue: {}", ok.error().message);
  if (auto ok = sensing->load(now); !ok) spdlog::error("reloading telemetry: {}", ok.error().message);
  if (auto ok = alerts->load(); !ok) spdlog::error("reloading alerts: {}", ok.error().message);
}

void EdgeDaemon::Impl::publish_alerts(std::int64_t now, bool force) {
  if (!alerts->take_changed() && !force) return;
  std::vector<protocol::AlertView> views;
  for (const auto& a : alerts->open()) views.push_back(alerts::view_of(a));
  bus->publish(topics.alerts(), protocol::encode_alerts(now, views), 1, true, std::nullopt);
}

void EdgeDaemon::Impl::handle_telemetry(const protocol::DeviceTopic& topic, const gateway::InboundMessage& message,
                                        std::int64_t now, bool& in_txn) {
  if (!ensure_transaction(in_txn) || !store->savepoint()) return;
  auto outcome = sensing->ingest(topic.device, message.payload, now);
  if (!outcome) {
    spdlog::error("device {}: cannot store telemetry: {}", topic.device, outcome.error().message);
    store->rollback_to_savepoint();
    reload(now);
    return;
  }
  (void)store->release();
}

void EdgeDaemon::Impl::handle_status(const protocol::DeviceTopic& topic, const gateway::InboundMessage& message,
                                     std::int64_t now, bool& in_txn) {
  if (message.payload.empty()) return;  // a cleared retained status
  auto status = protocol::decode_device_status(message.payload);
  if (!status) {
    spdlog::debug("device {}: ignoring status: {}", topic.device, status.error().message);
    return;
  }
  bool online = status->state == "online";
  if (engine->device_online(topic.device) == online) {
    pending_status.erase(topic.device);  // a held-back change undone: nothing to apply
    return;
  }
  if (!config.find_device(topic.device)) {
    spdlog::warn("device {} announced itself {} but is not in the hall config", topic.device, status->state);
    return;
  }
  if (!limiter->admit_status(topic.device, now)) {
    pending_status.insert_or_assign(topic.device, message);  // the latest wins
    if (limiter->should_log(topic.device, now))
      spdlog::warn("device {}: presence changing more than {} times a minute; its latest state is applied when the "
                   "rate allows ({} changes held back so far)",
                   topic.device, config.limits.status_changes_per_min,
                   limiter->device_totals(topic.device).deferred);
    return;
  }
  pending_status.erase(topic.device);
  if (!ensure_transaction(in_txn)) return;
  if (!store->savepoint()) return;
  auto changed = engine->set_device_presence(topic.device, online, status->version, now);
  if (!changed) {
    store->rollback_to_savepoint();
    (void)engine->load();
    spdlog::error("device {}: cannot record presence: {}", topic.device, changed.error().message);
    return;
  }
  (void)store->release();
  if (*changed) spdlog::info("device {} is {}", topic.device, status->state);
}

void EdgeDaemon::Impl::on_connected(std::int64_t now) {
  bus->subscribe({{topics.all_requests(), 1}, {topics.all_statuses(), 1}, {topics.all_telemetry(), 0}});
  boards->republish_all(now);
  publish_alerts(now, true);
  if (notice_board) bus->publish(topics.board_notice(), *notice_board, 1, true, std::nullopt);
}

void EdgeDaemon::Impl::tick() {
  const std::int64_t now = clock->now_ms();
  bus->poll(now);
  const int today = engine->zone().local_day(now);
  if (today < engine->business_day()) {
    // The clock went back across midnight: the business day never goes back
    // (QueueEngine::roll_day), so there is nothing to commit; said once.
    if (!clock_behind_said) {
      spdlog::warn("clock: the hall's date {} is before business day {} (the clock went back); the day stays until "
                   "the clock reaches it", today, engine->business_day());
      clock_behind_said = true;
    }
  } else if (today > engine->business_day()) {
    clock_behind_said = false;
    bool ok = static_cast<bool>(store->begin());
    auto cancelled = ok ? engine->roll_day(now) : protocol::Result<int>(0);
    if (ok && cancelled && store->commit()) {
      spdlog::info("business day {} begins; {} tickets still waiting were cancelled", engine->business_day(),
                   *cancelled);
    } else {
      store->rollback();
      (void)engine->load();
      spdlog::error("could not close the business day; retrying");
    }
  }
  if (now >= next_sensing_ms) {
    next_sensing_ms = now + 1000;
    if (store->begin()) {
      auto written = sensing->tick(now);
      protocol::Result<int> raised = 0;
      protocol::Result<int> escalated = 0;
      if (written) {
        auto conditions = alerts::collect_conditions(config, *engine, *sensing, now);
        for (auto& c : cases->late_conditions(now)) conditions.push_back(std::move(c));
        raised = alerts->evaluate(conditions, engine->zone().local_day(now), now);
      }
      if (written && raised) escalated = alerts->escalate(now);
      if (written && raised && escalated && notifier) {
        if (auto near = queue_turn_near(now); !near)
          escalated = std::unexpected(protocol::Failure{protocol::ErrorCode::kInternal, near.error().message});
      }
      if (written && raised && escalated) {
        if (auto no_shows = bookings->mark_no_shows(now); !no_shows) {
          escalated = std::unexpected(protocol::Failure{protocol::ErrorCode::kInternal, no_shows.error().message});
        } else if (*no_shows > 0) {
          spdlog::info("{} bookings were not checked in: no-shows", *no_shows);
        }
      }
      if (!written || !raised || !escalated || !store->commit()) {
        store->rollback();
        reload(now);
      } else {
        if (*written + *raised + *escalated > 0) checkpointer->notify();
        if (notifier) notifier->wake();
      }
    }
  }
  // Retention (store/retention.h): one small transaction per tick while a
  // run lasts, so requests keep being answered between its steps.
  if (retention->due(now)) {
    const std::int64_t acked = sync ? sync->status().acked : 0;
    auto finished = retention->step(now, acked);
    if (!finished) {
      ++retention_failures;
      spdlog::error("retention: a step failed, the run resumes next period: {}", finished.error().message);
      reload(now);
    } else if (*finished) {
      const auto& r = retention->last_run();
      spdlog::info("retention: removed {} in {:.1f} ms", r.summary(), retention->last_run_ms());
      if (r.total() > 0) checkpointer->notify();
    }
  }
  if (!pending_status.empty()) {
    std::vector<gateway::InboxItem> due;
    for (auto it = pending_status.begin(); it != pending_status.end();) {
      if (!limiter->status_ready(it->first, now)) {
        ++it;
        continue;
      }
      due.emplace_back(std::move(it->second));
      it = pending_status.erase(it);
    }
    if (!due.empty()) process(std::move(due));
  }
  boards->apply(engine->take_changes(), now);
  boards->tick(now);
  publish_alerts(now, false);
  // Between batches the snapshot still ages (waits grow, sensors report).
  if (api && (store->last_seq() != sync_notified_seq || now >= next_console_ms + 1000)) publish_console(now);
  notify_sync();
}

std::string EdgeDaemon::Impl::stage_config(const std::string& sections_json, StagedConfig& staged) {
  auto merged = protocol::replace_config_sections(config_text, sections_json);
  auto parsed = merged ? protocol::parse_hall_config(*merged) : std::unexpected(merged.error());
  if (!parsed) return "the changed config is invalid: " + parsed.error().message;
  auto old_override = store->get_meta("config_override");
  if (!old_override) return "store: " + old_override.error().message;
  auto combined = *old_override ? protocol::replace_config_sections(**old_override, sections_json)
                                : protocol::Expected<std::string>(sections_json);
  if (!combined) return combined.error().message;
  protocol::HallConfig old = engine->config();
  // The queue refuses to drop a service someone waits for, or a busy counter.
  if (auto re = engine->reconfigure(std::move(*parsed)); !re) return re.error().message;
  staged.old_config = std::move(old);
  staged.new_text = std::move(*merged);
  staged.new_override = std::move(*combined);
  return {};
}

void EdgeDaemon::Impl::keep_staged(StagedConfig& staged, ProcessState& ps) {
  if (!ps.previous_config) ps.previous_config = std::move(staged.old_config);
  if (!config_text_before) config_text_before = config_text;
  config = engine->config();
  config_text = std::move(staged.new_text);
  ps.config_changed = true;
}

void EdgeDaemon::Impl::apply_sync_step(const sync::SyncStep& step, std::int64_t now, bool& in_txn,
                                       ProcessState& ps) {
  if (step.final_chain) ps.adopt_finished = true;
  if (!ensure_transaction(in_txn) || !store->savepoint()) return;
  bool written = true;
  if (step.kind == sync::SyncStep::Kind::kRebase) {
    written = static_cast<bool>(store->set_meta("down_applied", std::to_string(step.applied_after))) &&
              static_cast<bool>(store->set_meta("down_epoch", step.to_epoch));
    const bool said = !step.from_epoch.empty() || step.applied_after != step.applied_before;
    if (written && said) {
      nlohmann::json data{{"from_epoch", step.from_epoch}, {"to_epoch", step.to_epoch},
                          {"applied_before", step.applied_before}, {"applied_after", step.applied_after},
                          {"lost", step.lost}};
      written = static_cast<bool>(store->append_event(now, "sync.rebased", data.dump()));
    }
    if (!written) {
      store->rollback_to_savepoint();
      spdlog::error("sync: cannot record the re-base onto central's DOWN epoch {}; it is made again at the next "
                    "connection", step.to_epoch.substr(0, 8));
      return;
    }
    (void)store->release();
    down_applied = step.applied_after;
    if (said)
      spdlog::warn("sync: hall re-based onto central's DOWN epoch {}: applied commands {} -> {}{}",
                   step.to_epoch.substr(0, 8), step.applied_before, step.applied_after,
                   step.lost > 0 ? fmt::format(" ({} applied here are not held by central)", step.lost)
                                 : std::string());
    return;
  }
  const std::int64_t before = store->last_seq();
  auto adopted = store->adopt_events(step.from, step.texts, step.final_chain);
  if (adopted && step.final_chain) {
    const std::int64_t to = step.from + static_cast<std::int64_t>(step.texts.size()) - 1;
    nlohmann::json data{{"to", to}, {"store_ended_at", before}, {"adopted", adopted->adopted},
                        {"renumbered", adopted->renumbered},
                        {"not_recovered", "hall state tables (tickets, counters, bookings) are as this store had them; "
                                          "only the log was completed from central"}};
    if (auto ok = store->append_event(now, "sync.recovered", data.dump()); !ok) adopted = std::unexpected(ok.error());
    if (adopted)
      spdlog::warn("sync: event log completed from central up to {} ({} events adopted, {} of this hall's own "
                   "renumbered after them); state tables not rebuilt from them", to, adopted->adopted,
                   adopted->renumbered);
  }
  if (!adopted) {
    store->rollback_to_savepoint();
    spdlog::error("sync: cannot adopt central's events from {}: {}", step.from, adopted.error().message);
    ps.adopt_error = adopted.error().message;
    return;
  }
  (void)store->release();
}

void EdgeDaemon::Impl::apply_command(const std::string& text, std::int64_t now, bool& in_txn, ProcessState& ps) {
  auto command = protocol::parse_command(text);
  if (!command) {
    // Central validated it; a command we cannot read is a protocol fault. It
    // is neither applied nor confirmed: central keeps it queued.
    spdlog::error("central sent a command that cannot be read: {}", command.error().message);
    return;
  }
  if (command->down_seq <= down_applied) {
    if (sync) sync->applied(down_applied);  // a resend: confirm again
    return;
  }
  if (command->down_seq != down_applied + 1) {
    spdlog::warn("central command {} arrived before {}; waiting for it", command->down_seq, down_applied + 1);
    return;
  }
  if (!ensure_transaction(in_txn) || !store->savepoint()) return;
  // Work out the outcome first; memory changes only with the record.
  std::string failure;
  std::optional<std::string> new_notice;
  std::optional<StagedConfig> staged;
  if (command->type == protocol::command_type::kNotice) {
    auto notice = protocol::decode_notice(command->data_json);
    if (notice) new_notice = protocol::encode_notice_board(*notice, now);
    else failure = notice.error().message;
  } else if (command->type == protocol::command_type::kConfigSet) {
    staged.emplace();
    failure = stage_config(command->data_json, *staged);
    if (!failure.empty()) staged.reset();
  } else if (command->type == protocol::command_type::kCatalogSet) {
    auto catalog = protocol::parse_city_catalog(command->data_json);
    if (!catalog) {
      failure = catalog.error().message;
    } else {
      auto version = protocol::catalog_version(*catalog);
      bool ok = static_cast<bool>(store->set_meta("city_catalog", protocol::encode_city_catalog(*catalog))) &&
                static_cast<bool>(store->append_event(
                    now, protocol::event_type::kCatalogUpdated,
                    R"({"version":")" + version + R"(","services":)" + std::to_string(catalog->services.size()) + "}"));
      if (!ok) failure = "store: cannot keep the catalog";
    }
  } else if (command->type == protocol::command_type::kAlertAck || command->type == protocol::command_type::kAlertResolve) {
    auto target = protocol::decode_alert_action(command->data_json);
    if (!target) {
      failure = target.error().message;
    } else {
      auto row = command->type == protocol::command_type::kAlertAck
                     ? alerts->acknowledge(target->alert, "central:" + target->by, now)
                     : alerts->resolve(target->alert, "central:" + target->by, target->comment, now);
      if (!row) failure = row.error().message;
    }
  } else if (command->type == protocol::bookings::kAddCommand) {
    if (auto done = bookings->apply_add(command->data_json, now); !done) failure = done.error().message;
  } else if (command->type == protocol::bookings::kCancelCommand) {
    if (auto done = bookings->apply_cancel(command->data_json, now); !done) failure = done.error().message;
  } else if (command->type == protocol::bookings::kQuotaCommand) {
    if (auto done = bookings->apply_quota(command->data_json, now); !done) failure = done.error().message;
  } else if (command->type == protocol::bookings::kConfigCommand) {
    if (auto done = bookings->apply_config(command->data_json, now); !done) failure = done.error().message;
  } else if (command->type == protocol::cases::kAssignCommand) {
    if (auto done = cases->apply_assign(command->data_json, now); !done) failure = done.error().message;
  } else if (command->type == protocol::cases::kUpdateCommand) {
    if (auto done = cases->apply_update(command->data_json, now); !done) failure = done.error().message;
  } else {
    failure = "unknown command type " + command->type;
  }
  const bool ok = failure.empty();
  bool written = static_cast<bool>(store->set_meta("down_applied", std::to_string(command->down_seq)));
  if (written && new_notice) written = static_cast<bool>(store->set_meta("notice", *new_notice));
  if (written && staged) written = static_cast<bool>(store->set_meta("config_override", staged->new_override));
  if (written) {
    written = static_cast<bool>(store->append_event(
        now, protocol::event_type::kCommandApplied,
        protocol::encode_command_applied(command->down_seq, command->type, ok, failure)));
  }
  if (!written) {
    store->rollback_to_savepoint();
    if (staged) (void)engine->reconfigure(staged->old_config);
    (void)alerts->load();
    spdlog::error("central command {}: cannot record it; it will be applied when resent", command->down_seq);
    return;
  }
  (void)store->release();
  down_applied = command->down_seq;
  if (new_notice) {
    if (!ps.previous_notice) ps.previous_notice = notice_board;
    notice_board = *new_notice;
    ps.notice_changed = true;
  }
  if (staged) keep_staged(*staged, ps);
  if (ok) spdlog::info("central command {} ({}) applied", command->down_seq, command->type);
  else spdlog::warn("central command {} ({}) refused: {}", command->down_seq, command->type, failure);
}

void EdgeDaemon::Impl::apply_console(console::Request& request, std::int64_t now, bool& in_txn, ProcessState& ps) {
  auto answer = [&](console::Result r) { ps.console_replies.emplace_back(request.done, std::move(r)); };
  if (!ensure_transaction(in_txn) || !store->savepoint()) {
    answer(console::error_result(503, "unavailable", "the hall's store is unavailable"));
    return;
  }
  if (request.action == "counter.services") {
    auto sections = console::counter_services_sections(engine->config(), request);
    if (!sections) {
      store->rollback_to_savepoint();
      answer(console::error_result(404, "not_found", sections.error().message));
      return;
    }
    StagedConfig staged;
    auto failure = stage_config(*sections, staged);
    if (!failure.empty()) {
      store->rollback_to_savepoint();
      answer(console::error_result(409, "invalid_state", failure));
      return;
    }
    bool written = static_cast<bool>(store->set_meta("config_override", staged.new_override)) &&
                   static_cast<bool>(store->append_event(now, protocol::event_type::kCounterServicesChanged,
                                                         console::audit_data(request, true))) &&
                   static_cast<bool>(store->append_event(now, protocol::event_type::kActionPerformed,
                                                         console::audit_data(request, true)));
    if (!written) {
      store->rollback_to_savepoint();
      (void)engine->reconfigure(staged.old_config);
      answer(console::error_result(500, "internal", "the hall could not record the change"));
      return;
    }
    (void)store->release();
    keep_staged(staged, ps);
    answer({200, console::counter_body(*engine, request.target)});
    spdlog::info("console: counter {} services changed by {}", request.target, request.by);
    return;
  }
  if (request.action == "booking.walk_up") {
    auto r = bookings->walk_up(request.body, request.by, now);
    if (r.status >= 300) {
      store->rollback_to_savepoint();
      (void)alerts->load();
    } else {
      (void)store->release();
    }
    answer(std::move(r));
    return;
  }
  if (request.action.starts_with("case.")) {
    console::Result r;
    if (request.action == "case.submit") r = cases->submit(request.body, request.by, now);
    else if (request.action == "case.resubmit") r = cases->resubmit(request.target, request.body, request.by, now);
    else if (request.action == "case.review") r = cases->review(request.target, request.body, request.by, now);
    else if (request.action == "case.complete") r = cases->complete(request.target, request.body, request.by, now);
    else if (request.action == "case.viewed") r = cases->viewed(request.target, request.by, request.comment, now);
    else r = console::error_result(404, "not_found", "unknown action " + request.action);
    if (r.status >= 300) store->rollback_to_savepoint();
    else (void)store->release();
    answer(std::move(r));
    return;
  }
  auto applied = console::apply(request, *engine, *alerts, *store, now);
  if (applied.result.status >= 300) {
    store->rollback_to_savepoint();
    if (applied.wrote) reload(now);
  } else {
    (void)store->release();
    spdlog::info("console: {} {} by {}", request.action, request.target, request.by);
  }
  answer(std::move(applied.result));
}

void EdgeDaemon::Impl::publish_console(std::int64_t now) {
  if (!api) return;
  console::Snapshot s;
  const auto& cfg = engine->config();
  s.hall = cfg.hall;
  s.name = cfg.name;
  s.region = cfg.region;
  s.business_day = engine->business_day();
  s.utc_offset_s = engine->zone().offset_s(now);
  std::int64_t local_ms = now + static_cast<std::int64_t>(s.utc_offset_s) * 1000;
  s.day_start_ms = now - (local_ms % 86400000);
  s.capacity = cfg.capacity;
  s.occupancy = sensing->occupancy();
  for (const auto& q : engine->queues()) {
    const auto* svc = cfg.find_service(q.service);
    s.services.push_back({q, svc ? svc->enabled : true, engine->oldest_waiting(q.service)});
  }
  for (const auto& c : cfg.counters) {
    auto view = engine->counter_view(c.id);
    s.counters.push_back({c.id, c.name, view ? view->state : "closed", c.services, c.backup,
                          view ? view->current_ticket : std::nullopt});
  }
  for (const auto& d : cfg.devices) s.devices.push_back({d.id, std::string(protocol::to_string(d.kind)), d.counter});
  s.alerts_open = alerts->open().size();
  s.last_seq = store->last_seq();
  s.requests_answered = requests_answered;
  s.slow_batches = slow_batches;
  const auto bus_counters = bus->counters();
  const auto inbox_counters = inbox.counters();
  const auto& limited = limiter->counters();
  s.mqtt_oversize_dropped = bus_counters.oversize_dropped;
  s.mqtt_retained_requests_dropped = bus_counters.retained_requests_dropped;
  s.mqtt_inbox_dropped = inbox_counters.mqtt_dropped;
  s.mqtt_inbox_waiting = inbox_counters.mqtt_waiting;
  s.console_busy = inbox_counters.console_refused;
  s.requests_rate_limited = limited.requests_limited;
  s.refusals_unanswered = limited.refusals_unanswered;
  s.status_changes_deferred = limited.status_changes_deferred;
  for (const auto& [device, st] : sensing->stats()) s.telemetry_dropped += st.limited + st.bad;
  s.retention = retention->totals();
  s.retention_runs = retention->runs();
  s.retention_failures = retention_failures;
  s.retention_last_run_ms = retention->last_run_ms();
  console_link.publish(std::move(s));
  next_console_ms = now;
}

protocol::Expected<int> EdgeDaemon::Impl::queue_turn_near(std::int64_t now) {
  const int places = engine->config().appointments.turn_near_places;
  int queued = 0;
  for (const auto& [rowid, ahead] : engine->fronts(places + 1, now)) {
    if (ahead > places) continue;
    auto row = store->ticket_by_rowid(rowid);
    if (!row) return std::unexpected(row.error());
    if (!*row || !(*row)->phone) continue;
    const auto& t = **row;
    auto sent = store->database().prepare("INSERT INTO turn_near_sent(ticket, ts) VALUES(?1, ?2) ON CONFLICT DO NOTHING");
    if (!sent) return std::unexpected(sent.error());
    if (auto ok = sent->bind(1, t.id).bind(2, now).run(); !ok) return std::unexpected(ok.error());
    if (store->database().changes() == 0) continue;  // told already
    nlohmann::json body{{"hall", config.hall}, {"hall_name", config.name}, {"ticket", t.id}, {"number", t.number},
                        {"service", t.service}, {"waiting_ahead", ahead}, {"phone", *t.phone},
                        {"text", "【一办】您的号码 " + t.number + " 前面还有 " + std::to_string(ahead) + " 人，请留意叫号。"}};
    auto id = runtime::enqueue_notification(store->database(), "ticket.turn_near", body.dump(), now);
    if (!id) return std::unexpected(id.error());
    ++queued;
  }
  return queued;
}

}  // namespace yiban::edge
