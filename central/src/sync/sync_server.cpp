#include "yiban/protocol/chain.h"
#include "sync/sync_server.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <optional>
#include <set>
#include <functional>
#include <spdlog/spdlog.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>
#include <nlohmann/json.hpp>

#include "sync/zap_handler.h"
#include "yiban/runtime/blob_fetcher.h"
#include "yiban/runtime/checkpointer.h"
#include "yiban/protocol/city_catalog.h"
#include "yiban/protocol/commands.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/sync.h"

namespace yiban::central::sync {
namespace {

namespace ps = protocol::sync;

// ZMQ_ZAP_ENFORCE_DOMAIN is only in libzmq's DRAFT header (DEPENDENCY-NOTES).
constexpr int kZapEnforceDomain = 93;
constexpr int kDownBatch = 100;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Session {
  HallSyncState state;
  std::string routing_id;  // the connection that said HELLO last; empty: none
  bool welcomed = false;
  bool connected = false;
  std::int64_t last_heard_ms = 0;  // steady clock
  std::int64_t down_sent = 0;  // highest command sent and not yet confirmed
  bool contact_dirty = false;  // last contact to be written in this turn
  // Case files this hall's cases name that central lacks (fetched one at a time).
  std::unique_ptr<runtime::BlobFetcher> fetcher;
  bool wants_dirty = true;  // look for files to fetch at the next chance
  std::int64_t next_want_scan_ms = 0;
  std::map<std::string, std::int64_t> blob_not_before;  // the hall lacked it: ask again later (steady ms)
  // Limits (SyncServerOptions).
  int events_this_turn = 0;  // EVENTS taken in this turn, waiting for its commit
  std::optional<ps::RateLimit> blob_gets;  // made on first use
  std::optional<ps::RateLimit> blob_bytes;
  std::deque<ps::BlobGet> deferred_gets;  // allowed GETs waiting for the byte rate
  // Per kind of refusal (its SyncMetrics counter): the last line logged
  // (steady ms) and the refusals since.
  struct RefusalLog {
    std::uint64_t SyncMetrics::*counter = nullptr;
    std::int64_t logged_ms = 0;
    std::uint64_t unlogged = 0;
  };
  std::vector<RefusalLog> refusal_logs;
};

// One message as read from the ROUTER: frame 0 the routing id. A message past
// the limits keeps only its first kKeptFrames frames (the rest were dropped).
struct Incoming {
  std::vector<zmq::message_t> frames;
  ps::FrameBudget::Over over = ps::FrameBudget::Over::kNone;
  std::size_t frame_count = 0;  // all frames read, kept or not
  std::size_t bytes = 0;
};
constexpr std::size_t kKeptFrames = 3;  // routing id, verb, header

// Reads one message frame by frame without waiting; false when none waits.
// Once the budget is exceeded, the rest of the message is read and dropped
// frame by frame (libzmq delivers a message whole, so it is all there).
bool read_message(zmq::socket_t& socket, ps::FrameBudget& budget, Incoming& in) {
  in.frames.clear();
  in.over = ps::FrameBudget::Over::kNone;
  budget.reset();
  zmq::message_t frame;
  if (!socket.recv(frame, zmq::recv_flags::dontwait)) return false;
  bool first = true;
  while (true) {
    const bool more = frame.more();
    // The routing id is ROUTER's, not the peer's: not counted.
    const bool within = first || budget.admit(frame.size());
    first = false;
    if (within || in.frames.size() < kKeptFrames) in.frames.push_back(std::move(frame));
    if (!more) break;
    frame = zmq::message_t();
    (void)socket.recv(frame);  // the message's next frame is already there
  }
  in.over = budget.over();
  in.frame_count = budget.frames();
  in.bytes = budget.bytes();
  return true;
}

struct Outgoing {
  std::string routing_id;
  std::vector<std::string> frames;
};

// Work handed in by other threads: run inside the turn's transaction; then
// told whether the commit succeeded.
struct Task {
  std::function<protocol::Expected<void>(CentralStore&)> apply;
  std::function<void(const protocol::Expected<void>&)> done;
};

}  // namespace

struct SyncServer::Impl {
  SyncServerOptions options;
  std::unique_ptr<CentralStore> store;
  std::unique_ptr<runtime::Checkpointer> checkpointer;
  zmq::context_t context;
  std::unique_ptr<ZapHandler> zap;
  zmq::socket_t router;
  std::string endpoint;
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::thread thread;

  // Server thread only.
  std::map<std::string, Session> sessions;  // by hall
  std::set<std::string> allowed_halls;  // from the allow-list
  std::map<std::string, std::vector<std::string>> hall_keys;  // from the allow-list; set before start, then read-only
  std::vector<Outgoing> outgoing;  // sent after the turn's commit
  std::vector<std::function<void(const protocol::Expected<void>&)>> completions;
  bool dirty = false;  // the turn's transaction holds writes
  // Work since the last stats line (one every 10 s while halls send).
  struct Stats {
    std::uint64_t messages = 0;
    std::uint64_t events = 0;
    std::uint64_t commits = 0;
    double commit_ms_total = 0;
    double commit_ms_max = 0;
    double turn_ms_max = 0;
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  } stats;
  void log_stats() {
    auto now = std::chrono::steady_clock::now();
    if (now - stats.since < std::chrono::seconds(10)) return;
    if (stats.events > 0) {
      double seconds = std::chrono::duration<double>(now - stats.since).count();
      spdlog::info("sync: {:.0f} events/s from {} messages in {} commits; commit mean {:.1f} ms, max {:.1f} ms; "
                   "longest turn {:.1f} ms",
                   static_cast<double>(stats.events) / seconds, stats.messages, stats.commits,
                   stats.commits ? stats.commit_ms_total / static_cast<double>(stats.commits) : 0.0,
                   stats.commit_ms_max, stats.turn_ms_max);
    }
    stats = Stats{};
  }
  std::int64_t last_sweep_ms = 0;
  std::int64_t last_snapshot_ms = 0;
  std::int64_t last_sla_ms = 0;
  std::int64_t next_retention_ms = 0;  // the first run is at start
  std::unique_ptr<runtime::BlobStore> blobs;
  bool cases_dirty = true;  // forwards may be ready: route in this turn

  mutable std::mutex mutex;
  std::deque<Task> tasks;  // guarded by mutex
  // Bumped after every commit; the API's live streams wait on it.
  std::mutex feed_mutex;
  std::condition_variable feed_changed;  // guarded by feed_mutex
  std::uint64_t feed_version = 0;  // guarded by feed_mutex
  bool feed_closed = false;  // guarded by feed_mutex
  SyncMetrics counters;  // guarded by mutex (halls filled on demand)

  std::vector<Session*> took_events;  // sessions whose events_this_turn is not 0
  bool deferred_pending = false;  // some hall has BLOB_GETs waiting for the byte rate

  void run();
  void turn(std::vector<Incoming>& messages);
  void handle(Incoming& incoming);
  // Counts a refusal (counter of SyncMetrics) and logs it: the first at once,
  // then at most one line per hall per 10 s with the number since.
  void note_refusal(Session& s, std::uint64_t SyncMetrics::*counter, const std::string& what);
  // Central forgets the hall's link (it must say HELLO again).
  void forget_link(Session& s);
  // Sends the turn's replies without ever waiting; a connection whose queue
  // is full is disconnected.
  void flush_outgoing();
  void on_queue_full(const std::string& routing_id);
  // Sends one chunk if the hall's byte rate allows; false otherwise.
  bool try_serve_chunk(Session& s, const ps::BlobGet& g);
  void serve_deferred(Session& s);
  void ensure_limits(Session& s);
  void on_hello(Session* current, const std::string& routing_id, const std::string& key_hall, std::string_view header);
  void on_events(Session& s, std::vector<zmq::message_t>& message, std::string_view header);
  void on_down_ack(Session& s, std::string_view header);
  void on_log_get(Session& s, std::string_view header);
  // sync.rebased / sync.recovered events in a batch: said and counted.
  void note_store_events(Session& s, const std::vector<std::string_view>& texts);
  void on_blob_get(Session& s, std::string_view header);
  void on_blob_data(Session& s, std::vector<zmq::message_t>& message);
  void pump_blobs(Session& s);
  // Forwards ready case steps as commands (inside the turn's transaction);
  // returns the halls that got commands.
  std::vector<std::string> route_cases();
  void send_down(Session& s);
  void sweep();
  void reply(const std::string& routing_id, ps::Verb verb, std::string header, std::vector<std::string> items = {});
  void reply_error(const std::string& routing_id, std::string_view code, std::string message);
  bool ensure_txn();
  Session& session_for(const std::string& hall);
  void reload_sessions();
};

SyncServer::SyncServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SyncServer::~SyncServer() { stop(); }

protocol::Expected<std::unique_ptr<SyncServer>> SyncServer::create(SyncServerOptions options, AllowList allow_list,
                                                                   std::unique_ptr<CentralStore> store) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->store = std::move(store);
  auto halls = impl->store->load_halls();
  if (!halls) return protocol::error("loading halls: " + halls.error().message);
  for (auto& h : *halls) {
    Session s;
    s.state = std::move(h);
    std::string name = s.state.hall;
    impl->sessions.emplace(std::move(name), std::move(s));
  }
  impl->allowed_halls = allow_list.halls();
  impl->hall_keys = allow_list.keys_by_hall();
  try {
    // Two I/O threads: a hall flooding central with frames to decrypt keeps
    // one busy, the other still serves the other halls' connections.
    impl->context.set(zmq::ctxopt::io_threads, 2);
    impl->zap = std::make_unique<ZapHandler>(impl->context, std::move(allow_list));
    impl->zap->start();
    impl->router = zmq::socket_t(impl->context, zmq::socket_type::router);
    auto& r = impl->router;
    r.set(zmq::sockopt::linger, 0);
    r.set(zmq::sockopt::curve_server, 1);
    r.set(zmq::sockopt::curve_secretkey, impl->options.secret_key);
    r.set(zmq::sockopt::zap_domain, kZapDomain);
    int enforce = 1;
    if (zmq_setsockopt(r.handle(), kZapEnforceDomain, &enforce, sizeof enforce) != 0)
      throw zmq::error_t();
    r.set(zmq::sockopt::maxmsgsize, ps::kMaxFrameBytes + 1024);
    // With ROUTER_MANDATORY a full queue is EAGAIN (and an unknown peer
    // EHOSTUNREACH) instead of a silent drop; sends never wait (SNDTIMEO 0,
    // and every send says DONTWAIT).
    r.set(zmq::sockopt::router_mandatory, 1);
    r.set(zmq::sockopt::sndhwm, impl->options.send_hwm);
    r.set(zmq::sockopt::sndtimeo, 0);
    // Messages waiting per connection; the edge's window is 8 batches.
    r.set(zmq::sockopt::rcvhwm, 64);
    r.bind(impl->options.bind);
    impl->endpoint = r.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    if (impl->zap) impl->zap->stop();
    return protocol::error("sync socket " + impl->options.bind + ": " + e.what());
  }
  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0) return protocol::error("eventfd failed");
  if (!impl->options.blob_dir.empty()) {
    auto blobs = runtime::BlobStore::open(impl->options.blob_dir);
    if (!blobs) return std::unexpected(blobs.error());
    impl->blobs = std::make_unique<runtime::BlobStore>(std::move(*blobs));
  }
  if (!impl->options.db_path.empty()) impl->checkpointer = std::make_unique<runtime::Checkpointer>(impl->options.db_path);
  spdlog::info("sync: listening on {} (CURVE, {} halls known)", impl->endpoint, impl->sessions.size());
  return std::unique_ptr<SyncServer>(new SyncServer(std::move(impl)));
}

std::string SyncServer::endpoint() const { return impl_->endpoint; }

std::vector<std::string> SyncServer::hall_keys(const std::string& hall) const {
  auto it = impl_->hall_keys.find(hall);
  return it == impl_->hall_keys.end() ? std::vector<std::string>{} : it->second;
}

void SyncServer::start() {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void SyncServer::stop() {
  if (!impl_) return;
  impl_->stopping.store(true);
  if (impl_->wake_fd >= 0) {
    std::uint64_t one = 1;
    (void)!write(impl_->wake_fd, &one, sizeof one);
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  // Anything still queued is refused, not silently dropped.
  std::deque<Task> left;
  {
    std::lock_guard lock(impl_->mutex);
    left.swap(impl_->tasks);
  }
  for (auto& t : left) t.done(protocol::error("central is stopping"));
  impl_->router.close();
  if (impl_->zap) impl_->zap->stop();
  if (impl_->checkpointer) impl_->checkpointer->stop();
  if (impl_->wake_fd >= 0) close(impl_->wake_fd);
  impl_->wake_fd = -1;
}

std::future<protocol::Expected<std::int64_t>> SyncServer::enqueue_command(std::string hall, std::string type,
                                                                          std::string data_json) {
  auto promise = std::make_shared<std::promise<protocol::Expected<std::int64_t>>>();
  auto future = promise->get_future();
  if (auto ok = protocol::validate_command_data(type, data_json); !ok) {
    promise->set_value(std::unexpected(ok.error()));
    return future;
  }
  auto seq = std::make_shared<std::int64_t>(0);
  Impl* impl = impl_.get();
  Task task;
  task.apply = [impl, hall, type, data_json, seq](CentralStore& store) -> protocol::Expected<void> {
    if (!impl->sessions.contains(hall)) {
      // A hall in the allow-list that never connected yet: give it its row.
      if (!impl->allowed_halls.contains(hall)) return protocol::error("hall " + hall + " is unknown");
      if (auto ok = store.note_contact(hall, 0, 0, false, "", ""); !ok) return ok;
    }
    auto& s = impl->session_for(hall);
    auto queued = store.enqueue_command(hall, wall_ms(), type, data_json);
    if (!queued) return std::unexpected(queued.error());
    *seq = *queued;
    s.state.down_last = *queued;
    return {};
  };
  task.done = [impl, promise, seq, hall](const protocol::Expected<void>& committed) {
    if (!committed) {
      promise->set_value(std::unexpected(committed.error()));
      return;
    }
    spdlog::info("sync: command {} queued for hall {}", *seq, hall);
    auto& s = impl->session_for(hall);
    impl->send_down(s);
    promise->set_value(*seq);
  };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof one);
  return future;
}

std::future<protocol::Expected<int>> SyncServer::push_catalog(std::string text, std::string version) {
  auto promise = std::make_shared<std::promise<protocol::Expected<int>>>();
  auto future = promise->get_future();
  auto queued = std::make_shared<std::vector<std::string>>();
  Impl* impl = impl_.get();
  // The halls get the catalog with every handling hall's keys (so an origin
  // can seal a case's contact to it); what was sent is marked by the keyed
  // text's digest, so a changed allow-list re-sends it.
  std::string sent_mark = version;
  if (auto catalog = protocol::parse_city_catalog(text)) {
    for (const auto& s : catalog->services) {
      if (auto k = impl->hall_keys.find(s.hall); k != impl->hall_keys.end()) catalog->hall_keys[s.hall] = k->second;
    }
    text = protocol::encode_city_catalog(*catalog);
    sent_mark = protocol::to_hex(protocol::chain_next(protocol::kChainZero, text));
  }
  Task task;
  task.apply = [impl, text, version = sent_mark, queued](CentralStore& store) -> protocol::Expected<void> {
    for (const auto& hall : impl->allowed_halls) {
      const std::string key = "catalog:" + hall;
      auto sent = store.get_setting(key);
      if (!sent) return std::unexpected(sent.error());
      if (*sent && **sent == version) continue;
      if (!impl->sessions.contains(hall)) {
        if (auto ok = store.note_contact(hall, 0, 0, false, "", ""); !ok) return ok;
      }
      auto seq = store.enqueue_command(hall, wall_ms(), "catalog.set", text);
      if (!seq) return std::unexpected(seq.error());
      impl->session_for(hall).state.down_last = *seq;
      if (auto ok = store.set_setting(key, version); !ok) return ok;
      queued->push_back(hall);
    }
    return {};
  };
  task.done = [impl, promise, queued, version](const protocol::Expected<void>& committed) {
    if (!committed) {
      promise->set_value(std::unexpected(committed.error()));
      return;
    }
    for (const auto& hall : *queued) impl->send_down(impl->session_for(hall));
    if (!queued->empty())
      spdlog::info("sync: city catalog {} queued for {} halls", version.substr(0, 12), queued->size());
    promise->set_value(static_cast<int>(queued->size()));
  };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof one);
  return future;
}

std::future<protocol::Expected<std::string>> SyncServer::transact(Transaction fn) {
  auto promise = std::make_shared<std::promise<protocol::Expected<std::string>>>();
  auto future = promise->get_future();
  auto result = std::make_shared<protocol::Expected<std::string>>(std::string());
  auto queued = std::make_shared<std::vector<RoutedCommand>>();
  Impl* impl = impl_.get();
  Task task;
  task.apply = [fn = std::move(fn), result, queued](CentralStore& store) -> protocol::Expected<void> {
    *result = fn(store, *queued);
    if (!*result) return std::unexpected(result->error());
    return {};
  };
  task.done = [impl, promise, result, queued](const protocol::Expected<void>& committed) {
    if (!committed) {
      promise->set_value(std::unexpected(committed.error()));
      return;
    }
    for (const auto& q : *queued) {
      auto& s = impl->session_for(q.hall);
      s.state.down_last = std::max(s.state.down_last, q.down_seq);
      impl->send_down(s);
    }
    promise->set_value(std::move(*result));
  };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof one);
  return future;
}

std::future<protocol::Expected<void>> SyncServer::record_case_access(std::string id, std::string by,
                                                                     std::string what, std::string sha256) {
  auto promise = std::make_shared<std::promise<protocol::Expected<void>>>();
  auto future = promise->get_future();
  Task task;
  task.apply = [id, by, what, sha256](CentralStore& store) -> protocol::Expected<void> {
    return store.record_case_access(id, wall_ms(), by, what, sha256);
  };
  task.done = [promise](const protocol::Expected<void>& committed) { promise->set_value(committed); };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof one);
  return future;
}

std::future<protocol::Expected<void>> SyncServer::clear_integrity(std::string hall, std::string by) {
  auto promise = std::make_shared<std::promise<protocol::Expected<void>>>();
  auto future = promise->get_future();
  Impl* impl = impl_.get();
  Task task;
  task.apply = [impl, hall](CentralStore& store) -> protocol::Expected<void> {
    auto it = impl->sessions.find(hall);
    if (it == impl->sessions.end()) return protocol::error("hall " + hall + " is unknown");
    auto ok = store.set_integrity(hall, true, "", wall_ms());
    if (!ok) return ok;
    it->second.state.integrity_ok = true;
    it->second.state.integrity_reason.clear();
    return {};
  };
  task.done = [promise, hall, by](const protocol::Expected<void>& committed) {
    if (committed) spdlog::warn("sync: hall {}: integrity mark cleared by {}", hall, by);
    promise->set_value(committed);
  };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof one);
  return future;
}

std::future<protocol::Expected<std::string>> SyncServer::accept_store(std::string hall, std::string by) {
  auto promise = std::make_shared<std::promise<protocol::Expected<std::string>>>();
  auto future = promise->get_future();
  auto accepted = std::make_shared<std::string>();
  auto previous = std::make_shared<std::string>();
  Impl* impl = impl_.get();
  Task task;
  task.apply = [impl, hall, by, accepted, previous](CentralStore& store) -> protocol::Expected<void> {
    auto it = impl->sessions.find(hall);
    if (it == impl->sessions.end()) return protocol::error("hall " + hall + " is unknown");
    auto& st = it->second.state;
    if (st.store_refused.empty())
      return protocol::error("hall " + hall + " has no refused store to accept (its store is " +
                             (st.store_id.empty() ? std::string("not recorded yet") : st.store_id) + ")");
    if (auto ok = store.set_hall_store(hall, st.store_refused, wall_ms(), by); !ok) return ok;
    // In central's access audit with the other admin actions, in the same commit.
    if (auto ok = store.record_case_access("hall:" + hall, wall_ms(), by,
                                           "accept-store " + st.store_refused + " (was " +
                                               (st.store_id.empty() ? std::string("none") : st.store_id) + ")",
                                           "");
        !ok)
      return ok;
    *previous = st.store_id;
    *accepted = st.store_refused;
    st.store_id = st.store_refused;
    st.store_refused.clear();
    return {};
  };
  task.done = [promise, hall, by, accepted, previous](const protocol::Expected<void>& committed) {
    if (!committed) {
      promise->set_value(std::unexpected(committed.error()));
      return;
    }
    spdlog::warn("sync: hall {}: {} accepted its new store {} (was {}); central's log of the hall is kept and the "
                 "hall continues after it", hall, by, *accepted, previous->empty() ? "none" : *previous);
    promise->set_value(*accepted);
  };
  {
    std::lock_guard lock(impl_->mutex);
    impl_->tasks.push_back(std::move(task));
  }
  std::uint64_t one = 1;
  (void)!write(impl_->wake_fd, &one, sizeof one);
  return future;
}

std::uint64_t SyncServer::wait_for_change(std::uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->feed_mutex);
  impl_->feed_changed.wait_for(lock, timeout, [&] { return impl_->feed_version != seen || impl_->feed_closed; });
  return impl_->feed_version;
}

bool SyncServer::feeds_closed() const {
  std::lock_guard lock(impl_->feed_mutex);
  return impl_->feed_closed;
}

void SyncServer::close_feeds() {
  {
    std::lock_guard lock(impl_->feed_mutex);
    impl_->feed_closed = true;
  }
  impl_->feed_changed.notify_all();
}

SyncMetrics SyncServer::metrics() const {
  std::lock_guard lock(impl_->mutex);
  SyncMetrics m = impl_->counters;
  if (impl_->zap) m.refused_connections = impl_->zap->refused();
  return m;
}

Session& SyncServer::Impl::session_for(const std::string& hall) {
  auto it = sessions.find(hall);
  if (it == sessions.end()) {
    Session s;
    s.state.hall = hall;
    it = sessions.emplace(hall, std::move(s)).first;
  }
  return it->second;
}

bool SyncServer::Impl::ensure_txn() {
  if (dirty) return true;
  if (auto ok = store->begin(); !ok) {
    spdlog::error("sync: cannot begin a store transaction: {}", ok.error().message);
    return false;
  }
  dirty = true;
  return true;
}

void SyncServer::Impl::reply(const std::string& routing_id, ps::Verb verb, std::string header,
                             std::vector<std::string> items) {
  Outgoing o;
  o.routing_id = routing_id;
  o.frames.reserve(items.size() + 2);
  o.frames.emplace_back(ps::to_string(verb));
  o.frames.push_back(std::move(header));
  for (auto& i : items) o.frames.push_back(std::move(i));
  outgoing.push_back(std::move(o));
}

void SyncServer::Impl::reply_error(const std::string& routing_id, std::string_view code, std::string message) {
  {
    std::lock_guard lock(mutex);
    ++counters.errors_sent;
  }
  reply(routing_id, ps::Verb::kError, ps::encode(ps::ErrorHeader{std::string(code), std::move(message)}));
}

void SyncServer::Impl::reload_sessions() {
  auto halls = store->load_halls();
  if (!halls) {
    spdlog::error("sync: reloading halls after a failed commit: {}", halls.error().message);
    return;
  }
  for (auto& h : *halls) {
    auto& s = session_for(h.hall);
    s.state = std::move(h);
    s.down_sent = s.state.down_applied;
  }
}

void SyncServer::Impl::run() {
  spdlog::info("sync: serving");
  std::vector<Incoming> messages;
  ps::FrameBudget budget;
  while (!stopping.load()) {
    zmq::pollitem_t items[2] = {{router.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd, ZMQ_POLLIN, 0}};
    try {
      // GETs waiting for a hall's byte rate are served within a few ms.
      zmq::poll(items, 2, std::chrono::milliseconds(deferred_pending ? 5 : 200));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("sync: poll failed: {}", e.what());
      break;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::uint64_t n;
      (void)!read(wake_fd, &n, sizeof n);
    }
    std::size_t taken = 0;
    std::size_t frames = 0;
    while (taken < options.max_messages_per_turn && frames < options.max_frames_per_turn) {
      if (messages.size() <= taken) messages.emplace_back();
      try {
        if (!read_message(router, budget, messages[taken])) break;
      } catch (const zmq::error_t& e) {
        spdlog::warn("sync: receive failed: {}", e.what());
        break;
      }
      frames += messages[taken].frame_count;
      ++taken;
    }
    messages.resize(taken);
    turn(messages);
  }
  spdlog::info("sync: stopped");
}

void SyncServer::Impl::turn(std::vector<Incoming>& messages) {
  const auto turn_start = std::chrono::steady_clock::now();
  stats.messages += messages.size();
  std::deque<Task> todo;
  {
    std::lock_guard lock(mutex);
    todo.swap(tasks);
  }
  for (auto& m : messages) handle(m);
  for (Session* s : took_events) s->events_this_turn = 0;
  took_events.clear();
  std::vector<std::function<void(const protocol::Expected<void>&)>> task_done;
  std::vector<protocol::Expected<void>> task_result;
  for (auto& t : todo) {
    if (!ensure_txn()) {
      t.done(protocol::error("store unavailable"));
      continue;
    }
    // Each task in its own savepoint would be nicer; a failed task is
    // reported and the others still commit because tasks only fail before
    // writing (unknown hall) or on a store error, which fails the commit too.
    auto r = t.apply(*store);
    task_done.push_back(std::move(t.done));
    task_result.push_back(std::move(r));
  }
  const std::int64_t now = steady_ms();
  if (now - last_sweep_ms >= 1000) {
    last_sweep_ms = now;
    sweep();
  }
  std::vector<std::string> routed_to;
  if (cases_dirty) {
    cases_dirty = false;
    routed_to = route_cases();
  }
  if (now - last_sla_ms >= options.case_sla_sweep_ms && ensure_txn()) {
    last_sla_ms = now;
    if (auto changed = store->sweep_case_sla(wall_ms()); !changed) {
      spdlog::error("sync: checking case SLAs: {}", changed.error().message);
    } else if (*changed > 0) {
      spdlog::warn("sync: {} case SLA alerts raised or resolved", *changed);
    }
  }
  if (now >= next_retention_ms && ensure_txn()) {
    next_retention_ms = now + options.retention_period_ms;
    if (auto removed = store->prune(wall_ms(), options.retention); !removed) {
      spdlog::error("retention: {}", removed.error().message);
    } else {
      {
        std::lock_guard lock(mutex);
        counters.retention_commands += static_cast<std::uint64_t>(removed->commands);
        counters.retention_outbox += static_cast<std::uint64_t>(removed->outbox);
        counters.retention_tickets += static_cast<std::uint64_t>(removed->tickets);
      }
      if (removed->total() > 0) {
        spdlog::info("retention: removed {} applied commands older than {} d, {} delivered/dead notifications "
                     "older than {} d, {} finished tickets older than {} d",
                     removed->commands, options.retention.commands_days, removed->outbox,
                     options.retention.outbox_days, removed->tickets, options.retention.tickets_days);
      }
      const std::int64_t batch = options.retention.batch;
      if (removed->commands >= batch || removed->outbox >= batch || removed->tickets >= batch)
        next_retention_ms = now + 1000;  // a backlog: catch up soon, one bounded batch at a time
    }
  }
  deferred_pending = false;
  for (auto& [hall, s] : sessions) {
    if (!s.welcomed || !blobs) continue;
    pump_blobs(s);
    if (!s.deferred_gets.empty()) {
      serve_deferred(s);
      deferred_pending = deferred_pending || !s.deferred_gets.empty();
    }
  }
  for (auto& [hall, s] : sessions) {
    if (!s.contact_dirty) continue;
    s.contact_dirty = false;
    if (!ensure_txn()) break;
    (void)store->note_contact(hall, s.state.edge_last_seq, wall_ms(), s.connected, "", "");
  }
  protocol::Expected<void> committed;
  if (dirty) {
    const auto commit_start = std::chrono::steady_clock::now();
    committed = store->commit();
    const auto commit_end = std::chrono::steady_clock::now();
    dirty = false;
    using FMs = std::chrono::duration<double, std::milli>;
    stats.commit_ms_total += FMs(commit_end - commit_start).count();
    stats.commit_ms_max = std::max(stats.commit_ms_max, FMs(commit_end - commit_start).count());
    stats.turn_ms_max = std::max(stats.turn_ms_max, FMs(commit_end - turn_start).count());
    ++stats.commits;
    if (!committed) {
      spdlog::error("sync: commit failed, nothing of this turn answered: {}", committed.error().message);
      store->rollback();
      outgoing.clear();
      reload_sessions();
    } else {
      if (checkpointer) checkpointer->notify();
      {
        std::lock_guard lock(mutex);
        ++counters.commits;
      }
      {
        std::lock_guard lock(feed_mutex);
        ++feed_version;
      }
      feed_changed.notify_all();
    }
  }
  for (std::size_t i = 0; i < task_done.size(); ++i) {
    task_done[i](committed ? task_result[i] : committed);
  }
  if (committed) {
    for (const auto& hall : routed_to) send_down(session_for(hall));
  }
  flush_outgoing();
  log_stats();
  // Snapshot for /metrics, at most twice a second (a turn can be 50 µs).
  if (now - last_snapshot_ms < 500) return;
  last_snapshot_ms = now;
  std::lock_guard lock(mutex);
  counters.halls.clear();
  for (const auto& [hall, s] : sessions) {
    counters.halls.push_back({hall, s.connected, s.state.acked, s.state.edge_last_seq,
                              s.state.down_last - s.state.down_applied, s.state.integrity_ok});
  }
}

void SyncServer::Impl::sweep() {
  const std::int64_t now = steady_ms();
  for (auto& [hall, s] : sessions) {
    if (s.connected && now - s.last_heard_ms > options.session_timeout_ms) {
      s.connected = false;
      s.welcomed = false;
      s.routing_id.clear();
      s.contact_dirty = true;
      s.deferred_gets.clear();
      spdlog::warn("sync: hall {} silent for {} s: disconnected (acked {}, edge at {})", hall,
                   options.session_timeout_ms / 1000, s.state.acked, s.state.edge_last_seq);
    }
    for (auto& r : s.refusal_logs) {
      if (r.unlogged == 0 || now - r.logged_ms < 10000) continue;
      spdlog::warn("sync: hall {}: {} more refusals of the kind logged {} s ago", hall, r.unlogged,
                   (now - r.logged_ms) / 1000);
      r.unlogged = 0;
      r.logged_ms = now;
    }
  }
}

void SyncServer::Impl::handle(Incoming& incoming) {
  auto& message = incoming.frames;
  if (message.size() < 2) return;
  const std::string routing_id = message[0].to_string();
  if (message.size() < 3) {
    reply_error(routing_id, ps::error_code::kBadFrame, "a message is verb, header, items…");
    return;
  }
  // The hall the connection's key is bound to (set by the ZAP handler).
  std::string key_hall;
  try {
    key_hall = message[1].gets("User-Id");
  } catch (const zmq::error_t&) {
  }
  if (key_hall.empty()) return;  // cannot happen with ZAP enforced
  if (incoming.over != ps::FrameBudget::Over::kNone) {
    const bool frames = incoming.over == ps::FrameBudget::Over::kFrames;
    std::string what = fmt::format("a {} message of {} frames and {} bytes (limits {} frames, {} bytes)",
                                   message[1].to_string_view().substr(0, 16), incoming.frame_count,
                                   incoming.bytes, ps::kMaxMessageFrames, ps::kMaxMessageBytes);
    note_refusal(session_for(key_hall),
                 frames ? &SyncMetrics::refused_message_frames : &SyncMetrics::refused_message_bytes, what);
    reply_error(routing_id, ps::error_code::kLimit, what + ": refused, nothing applied");
    return;
  }
  auto verb = ps::verb_from_string(message[1].to_string_view());
  if (!verb) {
    reply_error(routing_id, ps::error_code::kBadFrame, "unknown verb");
    return;
  }
  const std::string_view header = message[2].to_string_view();
  auto it = sessions.find(key_hall);
  Session* s = it == sessions.end() ? nullptr : &it->second;
  if (s && s->routing_id == routing_id) {
    s->last_heard_ms = steady_ms();
  }
  switch (*verb) {
    case ps::Verb::kHello:
      on_hello(s, routing_id, key_hall, header);
      return;
    case ps::Verb::kPing:
      // A link central does not know (it restarted while the hall was idle)
      // must say HELLO again, or commands for the hall would never leave.
      if (!s || !s->welcomed || s->routing_id != routing_id) {
        reply_error(routing_id, ps::error_code::kNotWelcomed, "say HELLO first");
        return;
      }
      reply(routing_id, ps::Verb::kPong, "{}");
      return;
    case ps::Verb::kPong:
      return;
    case ps::Verb::kError: {
      auto e = ps::decode_error(header);
      spdlog::warn("sync: hall {} reports an error: {}", key_hall,
                   e ? e->code + ": " + e->message : std::string("(unreadable)"));
      return;
    }
    default:
      break;
  }
  if (!s || !s->welcomed || s->routing_id != routing_id) {
    reply_error(routing_id, ps::error_code::kNotWelcomed, "say HELLO first");
    return;
  }
  switch (*verb) {
    case ps::Verb::kEvents:
      on_events(*s, message, header);
      return;
    case ps::Verb::kDownAck:
      on_down_ack(*s, header);
      return;
    case ps::Verb::kLogGet:
      on_log_get(*s, header);
      return;
    case ps::Verb::kBlobGet:
      on_blob_get(*s, header);
      return;
    case ps::Verb::kBlobData:
      on_blob_data(*s, message);
      return;
    case ps::Verb::kBlobMissing: {
      auto m = ps::decode_blob_missing(header);
      if (!m) return reply_error(routing_id, ps::error_code::kBadHeader, m.error().message);
      if (s->fetcher && s->fetcher->busy() && s->fetcher->current() == m->sha256) s->fetcher->abandon();
      s->blob_not_before[m->sha256] = steady_ms() + 30000;
      spdlog::warn("sync: hall {} does not have file {}… its case names: {}", key_hall, m->sha256.substr(0, 12),
                   m->message);
      return;
    }
    default:
      reply_error(routing_id, ps::error_code::kBadFrame,
                  "verb " + std::string(ps::to_string(*verb)) + " is not sent by a hall");
  }
}

void SyncServer::Impl::on_hello(Session* current, const std::string& routing_id, const std::string& key_hall,
                                std::string_view header) {
  auto hello = ps::decode_hello(header);
  if (!hello) {
    reply_error(routing_id, hello.error().message.find("proto") != std::string::npos ? ps::error_code::kProtoVersion
                                                                                      : ps::error_code::kBadHeader,
                hello.error().message);
    return;
  }
  if (hello->hall != key_hall) {
    spdlog::warn("sync: a key bound to hall {} said HELLO as hall {}: refused", key_hall, hello->hall);
    reply_error(routing_id, ps::error_code::kWrongHall,
                "this key belongs to hall " + key_hall + ", not " + hello->hall);
    return;
  }
  Session& s = current ? *current : session_for(key_hall);
  if (!ensure_txn()) return;
  // A store other than the recorded one: nothing of it is stored, not even its contact.
  if (!hello->store.empty() && !s.state.store_id.empty() && hello->store != s.state.store_id) {
    s.welcomed = false;
    if (s.state.store_refused != hello->store) {
      if (auto ok = store->note_store_refused(key_hall, hello->store); !ok) {
        spdlog::error("sync: hall {}: cannot record the refused store: {}", key_hall, ok.error().message);
        return;
      }
      s.state.store_refused = hello->store;
      spdlog::error("sync: hall {} connected with store {} but central knows store {} (hall re-installed, or its "
                    "disk restored from another box): refused, nothing of it is stored until an admin runs "
                    "'yiban hall accept-store {}'", key_hall, hello->store, s.state.store_id, key_hall);
    }
    {
      std::lock_guard lock(mutex);
      ++counters.store_changed_refused;
    }
    reply_error(routing_id, ps::error_code::kStoreChanged,
                "hall " + key_hall + " now runs store " + hello->store + " but central holds the log of store " +
                    s.state.store_id + "; an admin must accept the new store (yiban hall accept-store " + key_hall +
                    ", or POST /api/v1/halls/" + key_hall + "/accept-store) if this box is the hall's");
    return;
  }
  if (auto ok = store->note_contact(key_hall, hello->last_seq, wall_ms(), true, hello->name, hello->region,
                                         hello->capacity); !ok) {
    spdlog::error("sync: hall {}: cannot record contact: {}", key_hall, ok.error().message);
    return;
  }
  const bool was_connected = s.connected;
  s.routing_id = routing_id;
  s.connected = true;
  s.last_heard_ms = steady_ms();
  s.state.edge_last_seq = hello->last_seq;
  if (!hello->store.empty() && s.state.store_id.empty()) {  // first HELLO that names its store
    if (auto ok = store->set_hall_store(key_hall, hello->store, 0, ""); !ok) {
      spdlog::error("sync: hall {}: cannot record its store id: {}", key_hall, ok.error().message);
      return;
    }
    s.state.store_id = hello->store;
    spdlog::info("sync: hall {}: store {} recorded", key_hall, hello->store);
  }
  if (!s.state.integrity_ok) {
    s.welcomed = false;
    reply_error(routing_id, ps::error_code::kIntegrityBroken,
                "hall " + key_hall + "'s log failed verification (" + s.state.integrity_reason +
                    "); an operator must clear it");
    return;
  }
  s.welcomed = true;
  if (hello->last_seq < s.state.acked) {
    spdlog::warn("sync: hall {} says its log ends at {} but central holds {} (store restored or re-installed): it "
                 "fetches central's log back (LOG_GET) and continues after it", key_hall, hello->last_seq,
                 s.state.acked);
  }
  const auto identity = store->store_identity();
  ps::Welcome welcome;
  welcome.acked = s.state.acked;
  welcome.store = identity.store_id;
  welcome.down_epoch = identity.down_epoch;
  welcome.down_epoch_prev = identity.down_epoch_prev;
  welcome.down_base = s.state.down_base;
  welcome.down_confirmed = s.state.down_applied;
  if (s.state.acked > 0) welcome.chain = s.state.chain;
  std::int64_t edge_applied = hello->down_applied;
  if (!hello->store.empty()) {  // an edge that knows epochs: its count in this store's numbering
    auto r = ps::rebase_down(hello->down_epoch, hello->down_applied, hello->last_seq, welcome);
    edge_applied = r.applied;
    if (r.rebased && hello->down_epoch != identity.down_epoch)
      spdlog::warn("sync: hall {} counted commands in DOWN epoch {}, this store's is {}: its {} applied count as {} "
                   "here{}", key_hall, hello->down_epoch.empty() ? "(none)" : hello->down_epoch.substr(0, 8),
                   identity.down_epoch.substr(0, 8), hello->down_applied, r.applied,
                   r.lost > 0 ? fmt::format("; {} it applied are not in this store", r.lost) : std::string());
  }
  std::int64_t applied = std::min(edge_applied, s.state.down_last);
  if (applied != s.state.down_applied && !hello->store.empty()) {
    if (auto ok = store->rebase_down_applied(key_hall, applied); !ok) {
      spdlog::error("sync: hall {}: cannot record applied commands: {}", key_hall, ok.error().message);
      return;
    }
    s.state.down_applied = applied;
  }
  if (edge_applied < s.state.down_applied) {
    spdlog::warn("sync: hall {} says it applied commands up to {} but confirmed {} before: resending from {}",
                 key_hall, hello->down_applied, s.state.down_applied, hello->down_applied + 1);
  }
  if (applied != s.state.down_applied) {
    if (auto ok = store->set_down_applied(key_hall, applied); !ok) {
      spdlog::error("sync: hall {}: cannot record applied commands: {}", key_hall, ok.error().message);
      return;
    }
    s.state.down_applied = applied;
  }
  s.down_sent = s.state.down_applied;
  s.wants_dirty = true;
  s.deferred_gets.clear();
  if (s.fetcher) s.fetcher->link_lost();
  s.blob_not_before.clear();
  cases_dirty = true;  // forwards waiting for this hall may be ready
  spdlog::info("sync: hall {} {}: edge at {}, central holds {}, {} commands pending", key_hall,
               was_connected ? "reconnected" : "connected", hello->last_seq, s.state.acked,
               s.state.down_last - s.state.down_applied);
  welcome.down_next = s.state.down_applied + 1;
  reply(routing_id, ps::Verb::kWelcome, ps::encode(welcome));
  send_down(s);
}

void SyncServer::Impl::on_events(Session& s, std::vector<zmq::message_t>& message, std::string_view header) {
  if (s.events_this_turn++ == 0) took_events.push_back(&s);
  if (s.events_this_turn > options.max_events_in_flight) {
    note_refusal(s, &SyncMetrics::refused_events_in_flight,
                 fmt::format("EVENTS beyond {} batches in flight", options.max_events_in_flight));
    reply_error(s.routing_id, ps::error_code::kLimit,
                fmt::format("more than {} EVENTS batches unacknowledged: refused, send again after the ACKs",
                            options.max_events_in_flight));
    return;
  }
  auto h = ps::decode_events(header);
  if (!h) {
    reply_error(s.routing_id, ps::error_code::kBadHeader, h.error().message);
    return;
  }
  const std::size_t count = static_cast<std::size_t>(h->to - h->from + 1);
  if (message.size() != count + 3) {
    reply_error(s.routing_id, ps::error_code::kBadFrame,
                "EVENTS " + std::to_string(h->from) + ".." + std::to_string(h->to) + " carries " +
                    std::to_string(message.size() - 3) + " events");
    return;
  }
  if (!s.state.integrity_ok) {
    reply_error(s.routing_id, ps::error_code::kIntegrityBroken, "hall's log failed verification; nothing accepted");
    return;
  }
  s.state.edge_last_seq = std::max(s.state.edge_last_seq, h->to);
  if (h->to <= s.state.acked) {  // a resend of what is stored
    reply(s.routing_id, ps::Verb::kAck, ps::encode(ps::Ack{s.state.acked}));
    return;
  }
  if (h->from != s.state.acked + 1) {  // gap or overlap: tell the edge where we are
    spdlog::info("sync: hall {} sent {}..{} but central holds {}: resync", s.state.hall, h->from, h->to,
                 s.state.acked);
    ps::Welcome resync;
    resync.acked = s.state.acked;
    resync.down_next = s.state.down_applied + 1;
    reply(s.routing_id, ps::Verb::kWelcome, ps::encode(resync));
    return;
  }
  std::vector<std::string_view> texts;
  texts.reserve(count);
  protocol::ChainHash chain = s.state.chain;
  bool has_case_event = false;
  for (std::size_t i = 0; i < count; ++i) {
    auto text = message[i + 3].to_string_view();
    if (text.size() > ps::kMaxItemBytes) {
      reply_error(s.routing_id, ps::error_code::kBadFrame,
                  "event " + std::to_string(h->from + static_cast<std::int64_t>(i)) + " is larger than 64 KiB");
      return;
    }
    has_case_event = has_case_event || text.find(R"("type":"case.)") != std::string_view::npos;
    texts.push_back(text);
    chain = protocol::chain_next(chain, text);
  }
  if (!ensure_txn()) return;
  if (chain != h->chain) {
    std::string why = "chain mismatch in events " + std::to_string(h->from) + ".." + std::to_string(h->to);
    spdlog::error("sync: hall {}: {}; nothing stored, hall flagged until an operator clears it", s.state.hall, why);
    if (auto ok = store->set_integrity(s.state.hall, false, why, wall_ms()); !ok)
      spdlog::error("sync: hall {}: cannot record the integrity mark: {}", s.state.hall, ok.error().message);
    s.state.integrity_ok = false;
    s.state.integrity_reason = why;
    s.welcomed = false;
    reply_error(s.routing_id, ps::error_code::kChainMismatch, why);
    return;
  }
  auto stored = store->append_events(s.state.hall, h->from, texts, chain);
  if (!stored) {
    std::string why = "bad event: " + stored.error().message;
    spdlog::error("sync: hall {}: {}; nothing of {}..{} stored, hall flagged", s.state.hall, why, h->from, h->to);
    (void)store->set_integrity(s.state.hall, false, why, wall_ms());
    s.state.integrity_ok = false;
    s.state.integrity_reason = why;
    s.welcomed = false;
    reply_error(s.routing_id, ps::error_code::kBadEvent, why);
    return;
  }
  s.state.acked = h->to;
  s.state.chain = chain;
  note_store_events(s, texts);
  if (has_case_event) {
    cases_dirty = true;
    s.wants_dirty = true;
  }
  stats.events += count;
  s.contact_dirty = true;
  {
    std::lock_guard lock(mutex);
    counters.events_ingested += count;
    ++counters.batches;
  }
  reply(s.routing_id, ps::Verb::kAck, ps::encode(ps::Ack{s.state.acked}));
}

void SyncServer::Impl::on_down_ack(Session& s, std::string_view header) {
  auto ack = ps::decode_down_ack(header);
  if (!ack) {
    reply_error(s.routing_id, ps::error_code::kBadHeader, ack.error().message);
    return;
  }
  if (ack->applied > s.state.down_last) {
    reply_error(s.routing_id, ps::error_code::kBadHeader,
                "DOWN_ACK.applied " + std::to_string(ack->applied) + " is beyond the last command " +
                    std::to_string(s.state.down_last));
    return;
  }
  if (ack->applied <= s.state.down_applied) return;
  if (!ensure_txn()) return;
  if (auto ok = store->set_down_applied(s.state.hall, ack->applied); !ok) {
    spdlog::error("sync: hall {}: cannot record applied commands: {}", s.state.hall, ok.error().message);
    return;
  }
  s.state.down_applied = ack->applied;
  if (s.down_sent <= ack->applied) s.down_sent = ack->applied;
  spdlog::info("sync: hall {} applied commands up to {}", s.state.hall, ack->applied);
  send_down(s);
}

void SyncServer::Impl::note_store_events(Session& s, const std::vector<std::string_view>& texts) {
  for (auto text : texts) {
    if (text.find(R"("type":"sync.re)") == std::string_view::npos) continue;
    auto e = protocol::parse_event(text);
    if (!e) continue;
    auto data = nlohmann::json::parse(e->data_json, nullptr, false);
    if (!data.is_object()) continue;
    if (e->type == "sync.rebased") {
      const auto lost = data.value("lost", std::int64_t{0});
      if (lost > 0) {
        std::lock_guard lock(mutex);
        counters.commands_lost += static_cast<std::uint64_t>(lost);
      }
      spdlog::warn("sync: hall {} re-based its applied commands from DOWN epoch {} ({}) to {} ({}){}", s.state.hall,
                   data.value("from_epoch", std::string()).substr(0, 8), data.value("applied_before", std::int64_t{0}),
                   data.value("to_epoch", std::string()).substr(0, 8), data.value("applied_after", std::int64_t{0}),
                   lost > 0 ? fmt::format(": {} commands it had applied are not in this store and cannot be resent",
                                          lost)
                            : std::string());
    } else if (e->type == "sync.recovered") {
      spdlog::warn("sync: hall {} fetched back events {}..{} of its log from central; {} of its own events renumbered "
                   "after them", s.state.hall, data.value("from", std::int64_t{0}), data.value("to", std::int64_t{0}),
                   data.value("renumbered", std::int64_t{0}));
    }
  }
}

void SyncServer::Impl::on_log_get(Session& s, std::string_view header) {
  auto g = ps::decode_log_get(header);
  if (!g) return reply_error(s.routing_id, ps::error_code::kBadHeader, g.error().message);
  if (g->from > s.state.acked)
    return reply_error(s.routing_id, ps::error_code::kBadHeader,
                       fmt::format("LOG_GET.from {} is beyond the {} events central holds", g->from, s.state.acked));
  const std::int64_t to = std::min(g->to, s.state.acked);
  auto texts = store->events_after(s.state.hall, g->from - 1, static_cast<int>(to - g->from + 1));
  if (!texts) {
    spdlog::error("sync: hall {}: reading its log for LOG_GET: {}", s.state.hall, texts.error().message);
    return reply_error(s.routing_id, ps::error_code::kInternal, "cannot read the hall's log");
  }
  std::vector<std::string> items;
  std::size_t bytes = 0;
  for (auto& t : *texts) {
    if (!items.empty() && bytes + t.size() > ps::kMaxBatchBytes) break;
    bytes += t.size();
    items.push_back(std::move(t));
  }
  if (items.empty()) return reply_error(s.routing_id, ps::error_code::kInternal, "the hall's log has a gap");
  const std::int64_t last = g->from + static_cast<std::int64_t>(items.size()) - 1;
  {
    std::lock_guard lock(mutex);
    counters.log_events_served += items.size();
  }
  reply(s.routing_id, ps::Verb::kLog, ps::encode(ps::LogHeader{g->from, last}), std::move(items));
}

void SyncServer::Impl::send_down(Session& s) {
  if (!s.welcomed || s.routing_id.empty()) return;
  if (s.down_sent > s.state.down_applied) return;  // one DOWN in flight at a time
  if (s.state.down_last <= s.state.down_applied) return;
  auto commands = store->commands_after(s.state.hall, s.state.down_applied, kDownBatch);
  if (!commands || commands->empty()) {
    if (!commands) spdlog::error("sync: hall {}: reading commands: {}", s.state.hall, commands.error().message);
    return;
  }
  std::vector<std::string> items;
  std::size_t bytes = 0;
  std::int64_t to = commands->front().down_seq;
  for (auto& c : *commands) {
    if (!items.empty() && bytes + c.text.size() > ps::kMaxBatchBytes) break;  // the receiver's message limit
    bytes += c.text.size();
    to = c.down_seq;
    items.push_back(std::move(c.text));
  }
  const std::int64_t from = commands->front().down_seq;
  s.down_sent = to;
  reply(s.routing_id, ps::Verb::kDown, ps::encode(ps::DownHeader{from, to}), std::move(items));
}

std::vector<std::string> SyncServer::Impl::route_cases() {
  std::vector<std::string> halls;
  if (!ensure_txn()) {
    cases_dirty = true;
    return halls;
  }
  auto routed = store->route_cases(wall_ms(), [this](std::string_view hall) {
    return allowed_halls.contains(std::string(hall));
  });
  if (!routed) {
    spdlog::error("sync: routing cases: {}", routed.error().message);
    return halls;
  }
  for (const auto& r : *routed) {
    auto& s = session_for(r.hall);
    s.state.down_last = std::max(s.state.down_last, r.down_seq);
    if (std::find(halls.begin(), halls.end(), r.hall) == halls.end()) halls.push_back(r.hall);
  }
  if (!routed->empty()) {
    std::lock_guard lock(mutex);
    counters.cases_routed += routed->size();
  }
  return halls;
}

void SyncServer::Impl::pump_blobs(Session& s) {
  if (!s.fetcher) s.fetcher = std::make_unique<runtime::BlobFetcher>(*blobs);
  const std::int64_t now = steady_ms();
  if (!s.fetcher->busy() && (s.wants_dirty || now >= s.next_want_scan_ms)) {
    s.wants_dirty = false;
    s.next_want_scan_ms = now + 5000;
    auto wants = store->blobs_wanted_from(s.state.hall);
    if (!wants) {
      spdlog::error("sync: hall {}: reading wanted files: {}", s.state.hall, wants.error().message);
      return;
    }
    for (const auto& w : *wants) {
      if (auto it = s.blob_not_before.find(w.sha256); it != s.blob_not_before.end() && it->second > now) continue;
      if (blobs->has(w.sha256)) {  // here already (another case, or a restart after the rename)
        if (ensure_txn() && store->set_blob_present(w.sha256, wall_ms())) cases_dirty = true;
        continue;
      }
      if (auto ok = s.fetcher->start(w.sha256, w.size); !ok) {
        spdlog::error("sync: cannot fetch file {}…: {}", w.sha256.substr(0, 12), ok.error().message);
        s.blob_not_before[w.sha256] = now + 30000;
        continue;
      }
      spdlog::info("sync: fetching file {}… ({} bytes) from hall {}{}", w.sha256.substr(0, 12), w.size, s.state.hall,
                   s.fetcher->received() > 0 ? fmt::format(", resuming at {}", s.fetcher->received()) : "");
      break;
    }
  }
  if (!s.fetcher->busy()) return;
  for (const auto& g : s.fetcher->requests(now)) reply(s.routing_id, ps::Verb::kBlobGet, ps::encode(g));
}

void SyncServer::Impl::on_blob_data(Session& s, std::vector<zmq::message_t>& message) {
  auto h = ps::decode_blob_data(message[2].to_string_view());
  if (!h) return reply_error(s.routing_id, ps::error_code::kBadHeader, h.error().message);
  if (message.size() != 4) return reply_error(s.routing_id, ps::error_code::kBadFrame, "BLOB_DATA carries one chunk");
  if (!s.fetcher) return;
  std::string why;
  const auto outcome = s.fetcher->on_data(*h, message[3].to_string_view(), steady_ms(), why);
  switch (outcome) {
    case runtime::BlobFetcher::Outcome::kDone:
      spdlog::info("sync: file {}… received from hall {} ({} bytes), digest verified", h->sha256.substr(0, 12),
                   s.state.hall, h->total);
      if (ensure_txn()) {
        if (auto ok = store->set_blob_present(h->sha256, wall_ms()); !ok)
          spdlog::error("sync: recording file {}…: {}", h->sha256.substr(0, 12), ok.error().message);
      }
      cases_dirty = true;
      s.wants_dirty = true;
      {
        std::lock_guard lock(mutex);
        ++counters.files_received;
      }
      break;
    case runtime::BlobFetcher::Outcome::kBadChunk:
      spdlog::warn("sync: hall {}: {}", s.state.hall, why);
      {
        std::lock_guard lock(mutex);
        ++counters.bad_chunks;
      }
      break;
    case runtime::BlobFetcher::Outcome::kRestart:
      spdlog::error("sync: hall {}: {}", s.state.hall, why);
      s.wants_dirty = true;
      break;
    case runtime::BlobFetcher::Outcome::kFailed:
      spdlog::error("sync: cannot store a file from hall {}: {}", s.state.hall, why);
      s.blob_not_before[h->sha256] = steady_ms() + 30000;
      break;
    default:
      break;
  }
  pump_blobs(s);
}

void SyncServer::Impl::on_blob_get(Session& s, std::string_view header) {
  ensure_limits(s);
  if (!s.blob_gets->take(1, steady_ms())) {
    note_refusal(s, &SyncMetrics::refused_blob_gets,
                 fmt::format("BLOB_GET over {:.0f} a second", options.blob_gets_per_s));
    return;  // dropped: a fetcher asks again after its timeout
  }
  auto g = ps::decode_blob_get(header);
  if (!g) return reply_error(s.routing_id, ps::error_code::kBadHeader, g.error().message);
  auto missing = [&](std::string_view code, std::string why) {
    reply(s.routing_id, ps::Verb::kBlobMissing, ps::encode(ps::BlobMissing{g->sha256, std::string(code), std::move(why)}));
  };
  if (!blobs) return missing("not_found", "central keeps no case files");
  auto allowed = store->blob_allowed(s.state.hall, g->sha256);
  if (!allowed) return missing("not_found", "store unavailable");
  if (!*allowed) {
    note_refusal(s, &SyncMetrics::refused_blob_denied,
                 fmt::format("file {}…, named by no case it is a party to", g->sha256.substr(0, 12)));
    return missing("denied", "no case of hall " + s.state.hall + " names this file");
  }
  if (!blobs->has(g->sha256)) return missing("not_found", "central is still fetching this file");
  auto total = blobs->size_of(g->sha256);
  if (!total || g->offset >= *total) return missing("not_found", "offset beyond the file");
  if (s.deferred_gets.empty() && try_serve_chunk(s, *g)) return;
  if (s.deferred_gets.size() < static_cast<std::size_t>(options.blob_gets_deferred)) {
    s.deferred_gets.push_back(std::move(*g));
    deferred_pending = true;
    return;
  }
  note_refusal(s, &SyncMetrics::refused_blob_bytes,
               fmt::format("BLOB_GET over {:.1f} MiB/s of chunks with {} waiting",
                           options.blob_bytes_per_s / (1024 * 1024), s.deferred_gets.size()));
}

bool SyncServer::Impl::try_serve_chunk(Session& s, const ps::BlobGet& g) {
  auto missing = [&](std::string why) {
    reply(s.routing_id, ps::Verb::kBlobMissing, ps::encode(ps::BlobMissing{g.sha256, "not_found", std::move(why)}));
    return true;
  };
  auto total = blobs->size_of(g.sha256);
  if (!total || g.offset >= *total) return missing("offset beyond the file");
  const std::int64_t length = std::min(g.length, *total - g.offset);
  ensure_limits(s);
  if (!s.blob_bytes->take(static_cast<double>(length), steady_ms())) return false;
  auto bytes = blobs->read(g.sha256, g.offset, length);
  if (!bytes) return missing(bytes.error().message);
  ps::BlobData d{g.sha256, g.offset, *total, protocol::sha256_hex(*bytes)};
  std::vector<std::string> items;
  items.push_back(std::move(*bytes));
  reply(s.routing_id, ps::Verb::kBlobData, ps::encode(d), std::move(items));
  std::lock_guard lock(mutex);
  ++counters.chunks_served;
  return true;
}

void SyncServer::Impl::serve_deferred(Session& s) {
  while (!s.deferred_gets.empty() && try_serve_chunk(s, s.deferred_gets.front())) s.deferred_gets.pop_front();
}

void SyncServer::Impl::ensure_limits(Session& s) {
  if (!s.blob_gets) s.blob_gets.emplace(options.blob_gets_per_s, options.blob_gets_burst);
  if (!s.blob_bytes) s.blob_bytes.emplace(options.blob_bytes_per_s, options.blob_bytes_burst);
}

void SyncServer::Impl::note_refusal(Session& s, std::uint64_t SyncMetrics::*counter, const std::string& what) {
  {
    std::lock_guard lock(mutex);
    ++(counters.*counter);
  }
  const std::int64_t now = steady_ms();
  auto it = std::find_if(s.refusal_logs.begin(), s.refusal_logs.end(),
                         [&](const Session::RefusalLog& r) { return r.counter == counter; });
  if (it == s.refusal_logs.end()) {
    s.refusal_logs.push_back({counter, now, 0});
    spdlog::warn("sync: hall {}: refused {}", s.state.hall, what);
    return;
  }
  ++it->unlogged;
  if (now - it->logged_ms < 10000) return;
  spdlog::warn("sync: hall {}: refused {} ({} such refusals since the last such line)", s.state.hall, what,
               it->unlogged);
  it->unlogged = 0;
  it->logged_ms = now;
}

void SyncServer::Impl::forget_link(Session& s) {
  s.connected = false;
  s.welcomed = false;
  s.routing_id.clear();
  s.contact_dirty = true;
  s.deferred_gets.clear();
  s.down_sent = s.state.down_applied;  // a DOWN queued for the old link is sent again after HELLO
  if (s.fetcher) s.fetcher->link_lost();
}

void SyncServer::Impl::on_queue_full(const std::string& routing_id) {
  for (auto& [hall, s] : sessions) {
    if (s.routing_id != routing_id) continue;
    note_refusal(s, &SyncMetrics::send_queue_full,
                 fmt::format("more replies: its send queue is full ({} messages), it is not reading; "
                             "disconnected, it must say HELLO again", options.send_hwm));
    forget_link(s);
    return;
  }
}

void SyncServer::Impl::flush_outgoing() {
  std::set<std::string> full;  // connections found full in this turn: nothing more is tried
  std::uint64_t dropped = 0;
  for (auto& o : outgoing) {
    if (!full.empty() && full.contains(o.routing_id)) {
      ++dropped;
      continue;
    }
    try {
      if (!router.send(zmq::buffer(o.routing_id), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        full.insert(o.routing_id);  // EAGAIN: the connection's queue is full
        ++dropped;
        on_queue_full(o.routing_id);
        continue;
      }
      // Past the routing id libzmq takes the whole message (its queue limit
      // counts messages, checked at the first frame).
      for (std::size_t i = 0; i < o.frames.size(); ++i) {
        const auto more = i + 1 < o.frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
        (void)router.send(zmq::buffer(o.frames[i]), more | zmq::send_flags::dontwait);
      }
    } catch (const zmq::error_t& e) {
      // EHOSTUNREACH: the edge went away; it resumes with HELLO.
      ++dropped;
      spdlog::debug("sync: reply not sent: {}", e.what());
    }
  }
  outgoing.clear();
  if (dropped > 0) {
    std::lock_guard lock(mutex);
    counters.replies_dropped += dropped;
  }
}

}  // namespace yiban::central::sync
