#include "yiban/protocol/chain.h"
#include "sync/sync_client.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <spdlog/spdlog.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "store/event_archive.h"
#include "yiban/runtime/blob_fetcher.h"
#include "yiban/runtime/sqlite.h"
#include "yiban/protocol/commands.h"
#include "yiban/protocol/sync.h"

namespace yiban::edge::sync {
namespace {

namespace ps = protocol::sync;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;


enum class State { kIdle, kConnecting, kStreaming, kHalted, kRecovering };

// A store central does not know for the hall: asked again this often (an
// admin's accept-store takes effect within it).
constexpr int kStoreChangedRetryMs = 5000;

std::string_view name_of(State s) {
  switch (s) {
    case State::kIdle: return "idle";
    case State::kConnecting: return "connecting";
    case State::kStreaming: return "streaming";
    case State::kHalted: return "halted";
    case State::kRecovering: return "recovering";
  }
  return "?";
}

struct InFlight {
  std::int64_t from = 0;
  std::int64_t to = 0;
  Clock::time_point sent;
};

}  // namespace

struct SyncClient::Impl {
  SyncClientOptions options;
  std::function<void(std::string)> on_command;
  std::function<void(SyncStep)> on_step;
  zmq::context_t context{1};
  std::optional<zmq::socket_t> socket;
  runtime::Database db;
  std::optional<runtime::Statement> read_events;
  std::optional<runtime::Statement> read_last;
  std::optional<runtime::Statement> read_anchor;  // meta archive_seq: events up to it are in the archive
  std::optional<store::EventArchiveReader> archive;  // positioned at the next archived event to send
  // The archive anchor, read when next_send is set from central's acked
  // (retention archives only what central acknowledged, so it stays below
  // next_send) and again when the table lacks next_send.
  std::int64_t archived_upto = 0;
  std::optional<runtime::Statement> read_wants;  // files the hall's cases name
  std::optional<runtime::Statement> names_file;  // does a case name this file?
  std::unique_ptr<runtime::BlobStore> blobs;
  std::unique_ptr<runtime::BlobFetcher> fetcher;
  std::map<std::string, Clock::time_point> blob_not_before;  // central lacked it: ask later
  Clock::time_point next_want_scan{};
  std::atomic<bool> wants_changed{true};
  int wake_fd = -1;
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> committed_seq{0};
  std::atomic<std::int64_t> applied_down{0};
  std::atomic<bool> adopt_finished{false};  // the engine is done with the final kAdopt step
  std::string adopt_error;  // guarded by status_mutex: why an adopt step failed
  std::thread thread;

  // Sync thread only.
  State state = State::kIdle;
  Clock::time_point next_attempt{};
  Clock::time_point last_received{};
  Clock::time_point last_sent{};
  int backoff_ms = 0;
  std::int64_t acked = 0;
  std::int64_t next_send = 1;
  std::deque<InFlight> in_flight;
  std::int64_t handed_down = 0;  // highest command handed to the engine on this link
  std::int64_t down_acked_sent = -1;  // highest DOWN_ACK sent on this link
  bool announced_lag = false;
  bool queue_full = false;  // a send found the queue toward central full: drop the link
  ps::FrameBudget budget;
  // Store identity (sync thread).
  std::string store_id;  // meta store_id
  std::string down_epoch;  // meta down_epoch: the epoch down_applied counts in
  std::int64_t hello_applied = 0;  // what the last HELLO said
  std::int64_t hello_last_seq = 0;
  // Recovery of a store behind central (state kRecovering).
  std::int64_t recover_to = 0;  // central's acked
  std::optional<protocol::ChainHash> recover_chain;  // chain(recover_to) at central
  std::int64_t recover_next = 0;  // next seq to ask for; past recover_to: all handed to the engine
  bool recovering_logged = false;
  Clock::time_point refusal_logged{};  // last line about a refused message
  std::uint64_t refusals_unlogged = 0;

  mutable std::mutex status_mutex;
  SyncStatus status;  // guarded by status_mutex

  void run();
  void set_state(State s, const std::string& why);
  void connect();
  void disconnect(State next, int delay_ms, const std::string& why);
  bool send(ps::Verb verb, const std::string& header, const std::vector<std::string>& items = {});
  void receive();
  // Reads one message frame by frame without waiting (false: none waits);
  // past `budget` only the verb and header are kept, the rest is dropped.
  bool read_message(std::vector<zmq::message_t>& message);
  void refuse_message(const std::vector<zmq::message_t>& message);
  void drop_full_link();
  void handle(std::vector<zmq::message_t>& message);
  void fill_window();
  void pump_blobs();
  void on_blob_data(std::vector<zmq::message_t>& message);
  void on_blob_get(std::string_view header);
  std::int64_t last_seq();
  std::int64_t stored_down_applied();
  std::optional<std::string> stored_meta(const char* key);
  // chain(seq) of the local log (nullopt: no such event).
  std::optional<protocol::ChainHash> local_chain(std::int64_t seq);
  // The highest archived event (0: none, or no archive).
  std::int64_t archive_anchor();
  // The archive reader positioned at `from` (re-opened when it is elsewhere);
  // nullptr with a halted link when the archive cannot be read.
  store::EventArchiveReader* archive_at(std::int64_t from);
  // Sends the next batch of archived events (next_send <= anchor); false
  // when nothing could be sent.
  bool send_archived(std::int64_t anchor);
  void on_welcome(const ps::Welcome& w);
  void on_log(std::vector<zmq::message_t>& message);
  void ask_log();
  void publish_status();
};

SyncClient::SyncClient(SyncClientOptions options, std::function<void(std::string)> on_command)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->on_command = std::move(on_command);
}

SyncClient::~SyncClient() { stop(); }

protocol::Expected<void> SyncClient::start() {
  auto& d = *impl_;
  auto db = runtime::Database::open(d.options.db_path);
  if (!db) return protocol::error("sync: cannot open " + d.options.db_path + ": " + db.error().message);
  d.db = std::move(*db);
  (void)d.db.exec("PRAGMA busy_timeout=5000");
  auto events = d.db.prepare("SELECT seq, text, chain FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2");
  auto last = d.db.prepare("SELECT coalesce(max(seq), 0) FROM events");
  if (!events || !last) return protocol::error("sync: cannot prepare reads of the event log");
  d.read_events = std::move(*events);
  d.read_last = std::move(*last);
  if (!d.options.archive_dir.empty()) {
    auto anchor = d.db.prepare("SELECT value FROM meta WHERE key = 'archive_seq'");
    if (!anchor) return protocol::error("sync: cannot prepare the read of the archive anchor");
    d.read_anchor = std::move(*anchor);
  }
  if (!d.options.blob_dir.empty()) {
    auto blobs = runtime::BlobStore::open(d.options.blob_dir);
    if (!blobs) return std::unexpected(blobs.error());
    d.blobs = std::make_unique<runtime::BlobStore>(std::move(*blobs));
    d.fetcher = std::make_unique<runtime::BlobFetcher>(*d.blobs);
    auto wants = d.db.prepare("SELECT sha256, max(size) FROM case_materials GROUP BY sha256");
    auto names = d.db.prepare("SELECT 1 FROM case_materials WHERE sha256 = ?1 LIMIT 1");
    if (!wants || !names) return protocol::error("sync: cannot prepare reads of case files");
    d.read_wants = std::move(*wants);
    d.names_file = std::move(*names);
  }
  d.committed_seq.store(d.last_seq());
  d.applied_down.store(d.stored_down_applied());
  d.store_id = d.stored_meta("store_id").value_or("");
  d.down_epoch = d.stored_meta("down_epoch").value_or("");
  d.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (d.wake_fd < 0) return protocol::error("sync: eventfd failed");
  d.thread = std::thread([impl = impl_.get()] { impl->run(); });
  return {};
}

void SyncClient::stop() {
  auto& d = *impl_;
  d.stopping.store(true);
  if (d.wake_fd >= 0) {
    std::uint64_t one = 1;
    (void)!write(d.wake_fd, &one, sizeof one);
  }
  if (d.thread.joinable()) d.thread.join();
  d.socket.reset();
  if (d.wake_fd >= 0) close(d.wake_fd);
  d.wake_fd = -1;
}

void SyncClient::committed(std::int64_t last_seq) {
  auto& d = *impl_;
  std::int64_t prev = d.committed_seq.load();
  while (prev < last_seq && !d.committed_seq.compare_exchange_weak(prev, last_seq)) {
  }
  if (d.wake_fd >= 0) {
    std::uint64_t one = 1;
    (void)!write(d.wake_fd, &one, sizeof one);
  }
}

void SyncClient::applied(std::int64_t down_seq) {
  auto& d = *impl_;
  d.wants_changed.store(true);  // a case command may name files to fetch
  std::int64_t prev = d.applied_down.load();
  while (prev < down_seq && !d.applied_down.compare_exchange_weak(prev, down_seq)) {
  }
  if (d.wake_fd >= 0) {
    std::uint64_t one = 1;
    (void)!write(d.wake_fd, &one, sizeof one);
  }
}

void SyncClient::set_on_step(std::function<void(SyncStep)> on_step) { impl_->on_step = std::move(on_step); }

void SyncClient::adopted(const std::string& error) {
  if (!error.empty()) {
    std::lock_guard lock(impl_->status_mutex);
    impl_->adopt_error = error;
  }
  impl_->adopt_finished.store(true);
  if (impl_->wake_fd >= 0) {
    std::uint64_t one = 1;
    (void)!write(impl_->wake_fd, &one, sizeof one);
  }
}

SyncStatus SyncClient::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->status;
}

std::int64_t SyncClient::Impl::last_seq() {
  auto& s = *read_last;
  auto row = s.step();
  std::int64_t v = row && *row ? s.column_int(0) : 0;
  s.reset();
  return v;
}

std::optional<std::string> SyncClient::Impl::stored_meta(const char* key) {
  auto s = db.prepare("SELECT value FROM meta WHERE key = ?1");
  if (!s) return std::nullopt;
  s->bind(1, key);
  auto row = s->step();
  if (!row || !*row) return std::nullopt;
  return s->column_text(0);
}

std::optional<protocol::ChainHash> SyncClient::Impl::local_chain(std::int64_t seq) {
  if (seq == 0) return protocol::kChainZero;
  auto s = db.prepare("SELECT chain FROM events WHERE seq = ?1");
  if (!s) return std::nullopt;
  s->bind(1, seq);
  auto row = s->step();
  if (!row || !*row) return std::nullopt;
  std::string blob = s->column_blob(0);
  protocol::ChainHash h{};
  if (blob.size() != h.size()) return std::nullopt;
  std::copy(blob.begin(), blob.end(), h.begin());
  return h;
}

std::int64_t SyncClient::Impl::archive_anchor() {
  if (!read_anchor) return 0;
  auto& s = *read_anchor;
  std::int64_t anchor = 0;
  if (auto row = s.step(); row && *row) {
    try {
      anchor = std::stoll(s.column_text(0));
    } catch (const std::exception&) {
      anchor = 0;
    }
  }
  s.reset();
  return anchor;
}

store::EventArchiveReader* SyncClient::Impl::archive_at(std::int64_t from) {
  if (archive && archive->next_seq() == from) return &*archive;
  archive.reset();
  const auto started = Clock::now();
  auto opened = store::EventArchiveReader::open(options.archive_dir, from);
  if (!opened) {
    disconnect(State::kHalted, options.halt_retry_ms,
               "events up to " + std::to_string(from - 1) + " are archived but the archive cannot be read: " +
                   opened.error().message);
    return nullptr;
  }
  archive = std::move(*opened);
  spdlog::info("sync: reading the event archive {} from event {} ({} ms to find it)", options.archive_dir, from,
               std::chrono::duration_cast<Ms>(Clock::now() - started).count());
  return &*archive;
}

bool SyncClient::Impl::send_archived(std::int64_t anchor) {
  auto* reader = archive_at(next_send);
  if (!reader) return false;
  const std::int64_t from = next_send;
  auto texts = reader->read(anchor, static_cast<std::size_t>(options.batch_max), ps::kMaxBatchBytes);
  if (!texts) {
    archive.reset();
    disconnect(State::kHalted, options.halt_retry_ms, "the event archive cannot be read: " + texts.error().message);
    return false;
  }
  if (texts->empty()) return false;
  ps::EventsHeader header{from, from + static_cast<std::int64_t>(texts->size()) - 1, reader->chain()};
  if (!send(ps::Verb::kEvents, ps::encode(header), *texts)) return false;
  in_flight.push_back({header.from, header.to, Clock::now()});
  next_send = header.to + 1;
  if (next_send > anchor)
    spdlog::info("sync: archived events {}..{} resent to central; the rest come from the store", from, anchor);
  return true;
}

std::int64_t SyncClient::Impl::stored_down_applied() {
  auto s = db.prepare("SELECT value FROM meta WHERE key = 'down_applied'");
  if (!s) return 0;
  auto row = s->step();
  if (!row || !*row) return 0;
  try {
    return std::stoll(s->column_text(0));
  } catch (const std::exception&) {
    return 0;
  }
}

void SyncClient::Impl::publish_status() {
  std::lock_guard lock(status_mutex);
  status.state = std::string(name_of(state));
  status.acked = acked;
  status.sent = next_send - 1;
  status.down_applied = applied_down.load();
}

void SyncClient::Impl::set_state(State s, const std::string& why) {
  if (s == state) return;
  state = s;
  if (!why.empty()) {
    std::lock_guard lock(status_mutex);
    status.last_error = why;
  }
  publish_status();
}

void SyncClient::Impl::connect() {
  try {
    socket.emplace(context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::curve_serverkey, options.server_public_key);
    socket->set(zmq::sockopt::curve_publickey, options.public_key);
    socket->set(zmq::sockopt::curve_secretkey, options.secret_key);
    socket->set(zmq::sockopt::maxmsgsize, ps::kMaxFrameBytes + 1024);
    socket->set(zmq::sockopt::sndhwm, options.send_hwm);
    socket->set(zmq::sockopt::sndtimeo, 0);  // sends never wait (and each says DONTWAIT)
    socket->set(zmq::sockopt::rcvhwm, options.receive_hwm);
    socket->set(zmq::sockopt::reconnect_ivl, 100);
    socket->set(zmq::sockopt::reconnect_ivl_max, 5000);
    socket->connect(options.endpoint);
  } catch (const zmq::error_t& e) {
    socket.reset();
    disconnect(State::kIdle, options.backoff_max_ms, std::string("cannot connect: ") + e.what());
    return;
  }
  in_flight.clear();
  queue_full = false;
  handed_down = applied_down.load();
  down_acked_sent = -1;
  const auto now = Clock::now();
  last_received = now;
  // The engine may have moved the log (adopted central's events): read it.
  committed_seq.store(std::max(committed_seq.load(), last_seq()));
  ps::Hello hello;
  hello.hall = options.hall;
  hello.last_seq = committed_seq.load();
  hello.down_applied = applied_down.load();
  hello.name = options.name;
  hello.region = options.region;
  hello.capacity = options.capacity;
  if (on_step) {  // store identity needs an engine that records re-bases and adopts events
    hello.store = store_id;
    hello.down_epoch = down_epoch;
  }
  hello_applied = hello.down_applied;
  hello_last_seq = hello.last_seq;
  state = State::kConnecting;
  send(ps::Verb::kHello, ps::encode(hello));
  publish_status();
}

void SyncClient::Impl::disconnect(State next, int delay_ms, const std::string& why) {
  socket.reset();
  in_flight.clear();
  if (fetcher) fetcher->link_lost();
  next_attempt = Clock::now() + Ms(delay_ms);
  if (state != next || next == State::kHalted) {
    if (next == State::kHalted) {
      spdlog::error("sync: halted: {}; retrying in {} s", why, delay_ms / 1000);
    } else if (state == State::kStreaming) {
      spdlog::warn("sync: link to central lost: {}; central holds {} of {} events; retrying", why, acked,
                   committed_seq.load());
    } else {
      spdlog::debug("sync: {}; retrying in {} ms", why, delay_ms);
    }
  }
  set_state(next, why);
}

bool SyncClient::Impl::send(ps::Verb verb, const std::string& header, const std::vector<std::string>& items) {
  if (!socket || queue_full) return false;
  constexpr auto kMore = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
  constexpr auto kLast = zmq::send_flags::dontwait;
  try {
    auto verb_text = ps::to_string(verb);
    if (!socket->send(zmq::buffer(verb_text), kMore)) {
      // EAGAIN at the first frame: send_hwm messages wait for central. The
      // run loop drops the link (never waits here).
      queue_full = true;
      return false;
    }
    // Past the first frame libzmq takes the whole message.
    (void)socket->send(zmq::buffer(header), items.empty() ? kLast : kMore);
    for (std::size_t i = 0; i < items.size(); ++i)
      (void)socket->send(zmq::buffer(items[i]), i + 1 < items.size() ? kMore : kLast);
  } catch (const zmq::error_t& e) {
    spdlog::warn("sync: send failed: {}", e.what());
    return false;
  }
  last_sent = Clock::now();
  return true;
}

void SyncClient::Impl::run() {
  spdlog::info("sync: replicating hall {} to {}", options.hall, options.endpoint);
  while (!stopping.load()) {
    const auto now = Clock::now();
    if ((state == State::kIdle || state == State::kHalted) && now >= next_attempt) connect();

    zmq::pollitem_t items[2] = {{socket ? socket->handle() : nullptr, 0, ZMQ_POLLIN, 0},
                                {nullptr, wake_fd, ZMQ_POLLIN, 0}};
    try {
      if (socket) {
        zmq::poll(items, 2, Ms(100));
      } else {
        zmq::poll(&items[1], 1, Ms(100));
      }
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("sync: poll failed: {}", e.what());
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::uint64_t n;
      (void)!read(wake_fd, &n, sizeof n);
    }
    if (socket && (items[0].revents & ZMQ_POLLIN)) receive();
    if (socket && queue_full) {
      drop_full_link();
      continue;
    }
    if (!socket || stopping.load()) continue;

    const auto t = Clock::now();
    if (state == State::kRecovering && recover_next > recover_to && adopt_finished.exchange(false)) {
      // The engine took central's log: HELLO again. Or it could not: halt.
      std::string error;
      {
        std::lock_guard lock(status_mutex);
        error.swap(adopt_error);
      }
      if (error.empty()) {
        disconnect(State::kIdle, options.backoff_min_ms, "log recovery finished");
      } else {
        disconnect(State::kHalted, options.halt_retry_ms, "cannot take central's log of this hall: " + error);
      }
      continue;
    }
    if (state == State::kStreaming) {
      fill_window();
      pump_blobs();
      std::int64_t applied = applied_down.load();
      if (applied > down_acked_sent && applied > 0) {
        if (send(ps::Verb::kDownAck, ps::encode(ps::DownAck{applied}))) down_acked_sent = applied;
      }
      if (!in_flight.empty() && t - in_flight.front().sent > Ms(options.timeout_ms)) {
        backoff_ms = options.backoff_min_ms;
        disconnect(State::kIdle, backoff_ms, "no ACK for events " + std::to_string(in_flight.front().from) + ".." +
                                                 std::to_string(in_flight.front().to) + " within " +
                                                 std::to_string(options.timeout_ms / 1000) + " s");
        continue;
      }
    }
    if (t - last_received > Ms(options.timeout_ms)) {
      backoff_ms = state == State::kStreaming ? options.backoff_min_ms
                                              : std::min(options.backoff_max_ms,
                                                         std::max(options.backoff_min_ms, backoff_ms * 2));
      disconnect(State::kIdle, backoff_ms,
                 state == State::kConnecting ? "central does not answer at " + options.endpoint
                                             : "central silent for " + std::to_string(options.timeout_ms / 1000) + " s");
      continue;
    }
    if (state == State::kStreaming && t - last_sent > Ms(options.ping_ms)) send(ps::Verb::kPing, "{}");
    if (socket && queue_full) drop_full_link();
  }
  socket.reset();
  spdlog::info("sync: stopped; central holds {} of {} events", acked, committed_seq.load());
}

void SyncClient::Impl::drop_full_link() {
  {
    std::lock_guard lock(status_mutex);
    ++status.send_queue_full;
  }
  backoff_ms = options.backoff_min_ms;
  disconnect(State::kIdle, backoff_ms,
             "central is not taking our messages (" + std::to_string(options.send_hwm) + " queued)");
}

bool SyncClient::Impl::read_message(std::vector<zmq::message_t>& message) {
  constexpr std::size_t kKeptFrames = 2;  // verb, header
  message.clear();
  budget.reset();
  zmq::message_t frame;
  if (!socket->recv(frame, zmq::recv_flags::dontwait)) return false;
  while (true) {
    const bool more = frame.more();
    // Past the limits, frames are dropped as they are read.
    if (budget.admit(frame.size()) || message.size() < kKeptFrames) message.push_back(std::move(frame));
    if (!more) break;
    frame = zmq::message_t();
    (void)socket->recv(frame);  // the message's next frame is already there
  }
  return true;
}

void SyncClient::Impl::receive() {
  std::vector<zmq::message_t> message;
  for (int i = 0; i < 1000 && socket; ++i) {
    try {
      if (!read_message(message)) return;
    } catch (const zmq::error_t& e) {
      spdlog::warn("sync: receive failed: {}", e.what());
      return;
    }
    last_received = Clock::now();
    if (budget.over() != ps::FrameBudget::Over::kNone) {
      refuse_message(message);
      continue;
    }
    handle(message);
  }
}

void SyncClient::Impl::refuse_message(const std::vector<zmq::message_t>& message) {
  {
    std::lock_guard lock(status_mutex);
    ++status.refused_messages;
  }
  const std::string what = fmt::format("a {} message of {} frames and {} bytes from central (limits {} frames, {} bytes)",
                                       message.empty() ? "" : message[0].to_string_view().substr(0, 16),
                                       budget.frames(), budget.bytes(), ps::kMaxMessageFrames, ps::kMaxMessageBytes);
  ++refusals_unlogged;
  const auto now = Clock::now();
  if (refusal_logged == Clock::time_point{} || now - refusal_logged >= std::chrono::seconds(10)) {
    spdlog::warn("sync: refused {} ({} refused since the last such line)", what, refusals_unlogged);
    refusals_unlogged = 0;
    refusal_logged = now;
  }
  send(ps::Verb::kError, ps::encode(ps::ErrorHeader{std::string(ps::error_code::kLimit), what + ": refused"}));
}

void SyncClient::Impl::handle(std::vector<zmq::message_t>& message) {
  if (message.size() < 2) {
    spdlog::warn("sync: central sent a message of {} frames; ignored", message.size());
    return;
  }
  auto verb = ps::verb_from_string(message[0].to_string_view());
  const auto header = message[1].to_string_view();
  if (!verb) {
    spdlog::warn("sync: central sent an unknown verb; ignored");
    return;
  }
  switch (*verb) {
    case ps::Verb::kWelcome: {
      auto w = ps::decode_welcome(header);
      if (!w) {
        spdlog::warn("sync: bad WELCOME: {}", w.error().message);
        return;
      }
      if (state == State::kRecovering) return;  // a resync WELCOME while fetching: the fetch goes on
      if (!w->down_epoch.empty() && state == State::kConnecting && on_step) {
        on_welcome(*w);
        return;
      }
      const std::int64_t local = committed_seq.load();
      if (w->acked > local) {
        disconnect(State::kHalted, options.halt_retry_ms,
                   "central holds " + std::to_string(w->acked) + " events of this hall but the store ends at " +
                       std::to_string(local) + " (was the store replaced?)");
        return;
      }
      if (state != State::kStreaming) {
        spdlog::info("sync: connected to central; it holds {} of our {} events, we applied {} commands", w->acked,
                     local, applied_down.load());
      }
      acked = w->acked;
      next_send = acked + 1;
      archived_upto = archive_anchor();
      in_flight.clear();
      backoff_ms = 0;
      down_acked_sent = w->down_next - 1;
      set_state(State::kStreaming, "");
      fill_window();
      return;
    }
    case ps::Verb::kAck: {
      auto a = ps::decode_ack(header);
      if (!a) {
        spdlog::warn("sync: bad ACK: {}", a.error().message);
        return;
      }
      const auto now = Clock::now();
      while (!in_flight.empty() && in_flight.front().to <= a->acked) {
        double ms = std::chrono::duration<double, std::milli>(now - in_flight.front().sent).count();
        std::lock_guard lock(status_mutex);
        ++status.batches_acked;
        status.ack_ms_max = std::max(status.ack_ms_max, ms);
        in_flight.pop_front();
      }
      acked = std::max(acked, a->acked);
      publish_status();
      fill_window();
      return;
    }
    case ps::Verb::kDown: {
      auto h = ps::decode_down(header);
      if (!h || message.size() != static_cast<std::size_t>(h->to - h->from + 1) + 2) {
        spdlog::warn("sync: bad DOWN from central: {}", h ? "frame count" : h.error().message);
        send(ps::Verb::kError, ps::encode(ps::ErrorHeader{std::string(ps::error_code::kBadFrame), "bad DOWN"}));
        return;
      }
      for (std::size_t i = 2; i < message.size(); ++i) {
        std::int64_t seq = h->from + static_cast<std::int64_t>(i - 2);
        if (seq <= handed_down) continue;
        if (seq != handed_down + 1) break;  // a gap: central resends after our DOWN_ACK
        handed_down = seq;
        on_command(message[i].to_string());
      }
      return;
    }
    case ps::Verb::kLog:
      on_log(message);
      return;
    case ps::Verb::kPing:
      send(ps::Verb::kPong, "{}");
      return;
    case ps::Verb::kPong:
      return;
    case ps::Verb::kBlobGet:
      on_blob_get(header);
      return;
    case ps::Verb::kBlobData:
      on_blob_data(message);
      return;
    case ps::Verb::kBlobMissing: {
      auto m = ps::decode_blob_missing(header);
      if (!m) return;
      if (fetcher && fetcher->busy() && fetcher->current() == m->sha256) fetcher->abandon();
      // not_found: central is still fetching it from the other hall.
      blob_not_before[m->sha256] = Clock::now() + (m->code == "denied" ? Ms(60000) : Ms(1000));
      if (m->code == "denied")
        spdlog::warn("sync: central refuses file {}…: {}", m->sha256.substr(0, 12), m->message);
      return;
    }
    case ps::Verb::kError: {
      auto e = ps::decode_error(header);
      std::string code = e ? e->code : "?";
      std::string text = e ? e->message : "(unreadable ERROR)";
      if (code == ps::error_code::kChainMismatch || code == ps::error_code::kIntegrityBroken ||
          code == ps::error_code::kWrongHall || code == ps::error_code::kBadEvent ||
          code == ps::error_code::kProtoVersion) {
        disconnect(State::kHalted, options.halt_retry_ms, "central refused our log: " + code + ": " + text);
      } else if (code == ps::error_code::kStoreChanged) {
        disconnect(State::kHalted, kStoreChangedRetryMs,
                   "central refuses this store " + store_id + ": store_changed: " + text);
      } else if (code == ps::error_code::kNotWelcomed) {
        spdlog::info("sync: central does not know this link ({}); saying HELLO again", text);
        disconnect(State::kIdle, 0, "not welcomed");
      } else {
        spdlog::warn("sync: central reports {}: {}", code, text);
      }
      return;
    }
    default:
      spdlog::warn("sync: central sent {}, which only halls send; ignored", ps::to_string(*verb));
  }
}

void SyncClient::Impl::on_welcome(const ps::Welcome& w) {
  // 1. The DOWN numbering: re-based when central's epoch is not ours.
  auto r = ps::rebase_down(down_epoch, hello_applied, hello_last_seq, w);
  if (r.rebased) {
    if (r.applied != w.down_next - 1)
      spdlog::warn("sync: central resumes commands at {} but this hall counts {} applied in its epoch", w.down_next,
                   r.applied);
    if (!down_epoch.empty() || r.applied != hello_applied) {
      spdlog::warn("sync: central's DOWN epoch is {} (was {}): applied commands re-based from {} to {}{}",
                   w.down_epoch.substr(0, 8), down_epoch.empty() ? std::string("none") : down_epoch.substr(0, 8),
                   hello_applied, r.applied,
                   r.lost > 0 ? fmt::format("; {} commands this hall applied are not held by central", r.lost)
                              : std::string());
    }
    if (on_step) {
      SyncStep step;
      step.kind = SyncStep::Kind::kRebase;
      step.from_epoch = down_epoch;
      step.to_epoch = w.down_epoch;
      step.applied_before = hello_applied;
      step.applied_after = r.applied;
      step.lost = r.lost;
      on_step(std::move(step));  // ahead of the epoch's commands: the engine takes them in order
    }
    down_epoch = w.down_epoch;
    applied_down.store(r.applied);
  }
  handed_down = applied_down.load();
  down_acked_sent = w.down_next - 1;
  // 2. The event log: central holds more of it, or another chain(acked).
  const std::int64_t local = committed_seq.load();
  bool behind = w.acked > local;
  if (!behind && w.chain && w.acked > 0) {
    auto mine = local_chain(w.acked);
    behind = mine && *mine != *w.chain;
    if (const std::int64_t anchor = archive_anchor(); !mine && w.acked <= anchor) {
      // Central holds less than the hot table begins with: its chain(acked)
      // is checked against the archive, which the resend then reads on from.
      spdlog::warn("sync: central holds events 1..{} of this hall; {}..{} are in the event archive and are resent "
                   "from it", w.acked, w.acked + 1, anchor);
      auto* reader = archive_at(w.acked + 1);
      if (!reader) return;
      if (reader->chain() != *w.chain) {
        archive.reset();
        disconnect(State::kHalted, options.halt_retry_ms,
                   "central's chain at event " + std::to_string(w.acked) +
                       " differs from this hall's event archive: central holds another history of this hall "
                       "(its archived events cannot be adopted; compare the logs before clearing central's)");
        return;
      }
    }
  }
  if (behind) {
    if (!on_step) {
      disconnect(State::kHalted, options.halt_retry_ms,
                 "central holds " + std::to_string(w.acked) + " events of this hall but the store ends at " +
                     std::to_string(local) + " (was the store replaced?)");
      return;
    }
    spdlog::warn("sync: central holds events 1..{} of this hall but this store {}: fetching central's log back; the "
                 "hall's own events after the first difference are renumbered after it", w.acked,
                 w.acked > local ? "ends at " + std::to_string(local) : std::string("has another history"));
    acked = w.acked;
    recover_to = w.acked;
    recover_chain = w.chain;
    recover_next = 1;
    in_flight.clear();
    backoff_ms = 0;
    adopt_finished.store(false);
    set_state(State::kRecovering, "");
    ask_log();
    return;
  }
  spdlog::info("sync: connected to central (store {}); it holds {} of our {} events, we applied {} commands",
               w.store.substr(0, 8), w.acked, local, applied_down.load());
  acked = w.acked;
  next_send = acked + 1;
  archived_upto = archive_anchor();
  in_flight.clear();
  backoff_ms = 0;
  set_state(State::kStreaming, "");
  fill_window();
}

void SyncClient::Impl::ask_log() {
  if (recover_next > recover_to) return;
  const std::int64_t to = std::min(recover_to, recover_next + static_cast<std::int64_t>(ps::kMaxItems) - 1);
  send(ps::Verb::kLogGet, ps::encode(ps::LogGet{recover_next, to}));
}

void SyncClient::Impl::on_log(std::vector<zmq::message_t>& message) {
  auto h = ps::decode_log(message[1].to_string_view());
  if (state != State::kRecovering || !h || h->from != recover_next || h->to > recover_to ||
      message.size() != static_cast<std::size_t>(h->to - h->from + 1) + 2) {
    spdlog::warn("sync: unexpected LOG from central ({}); ignored", h ? "range or frame count" : h.error().message);
    return;
  }
  SyncStep step;
  step.kind = SyncStep::Kind::kAdopt;
  step.from = h->from;
  step.texts.reserve(message.size() - 2);
  for (std::size_t i = 2; i < message.size(); ++i) step.texts.push_back(message[i].to_string());
  if (h->to == recover_to) step.final_chain = recover_chain.value_or(protocol::kChainZero);
  recover_next = h->to + 1;
  on_step(std::move(step));
  if (recover_next <= recover_to) {
    ask_log();
  } else {
    spdlog::info("sync: central's log 1..{} handed to the hall; HELLO again once it is adopted", recover_to);
  }
}

void SyncClient::Impl::fill_window() {
  if (state != State::kStreaming) return;
  std::int64_t last = committed_seq.load();
  while (static_cast<int>(in_flight.size()) < options.window && next_send <= last) {
    if (next_send <= archived_upto) {
      if (!send_archived(archived_upto)) return;
      continue;
    }
    archive.reset();
    auto& s = *read_events;
    s.bind(1, next_send).bind(2, options.batch_max);
    std::vector<std::string> texts;
    std::string chain;
    std::int64_t from = next_send;
    std::int64_t to = next_send - 1;
    std::size_t bytes = 0;
    for (auto row = s.step(); row && *row; row = s.step()) {
      std::int64_t seq = s.column_int(0);
      if (seq != to + 1) break;  // cannot happen: seq is gap-free
      texts.push_back(s.column_text(1));
      chain = s.column_blob(2);
      to = seq;
      bytes += texts.back().size();
      if (bytes >= ps::kMaxBatchBytes) break;
    }
    s.reset();
    if (texts.empty() || chain.size() != 32) {
      // Archived meanwhile (a retention step that still saw the last link's
      // acked): the archive serves them. Otherwise committed but not yet
      // visible to this reader; the next wake retries.
      if (const std::int64_t anchor = archive_anchor(); anchor >= next_send) {
        archived_upto = anchor;
        continue;
      }
      return;
    }
    ps::EventsHeader header{from, to, {}};
    std::copy(chain.begin(), chain.end(), header.chain.begin());
    if (!send(ps::Verb::kEvents, ps::encode(header), texts)) return;
    in_flight.push_back({from, to, Clock::now()});
    next_send = to + 1;
  }
  publish_status();
}

void SyncClient::Impl::pump_blobs() {
  if (!fetcher || state != State::kStreaming) return;
  const auto now = Clock::now();
  if (!fetcher->busy() && (wants_changed.exchange(false) || now >= next_want_scan)) {
    next_want_scan = now + Ms(2000);
    auto& s = *read_wants;
    for (auto row = s.step(); row && *row; row = s.step()) {
      std::string sha = s.column_text(0);
      if (blobs->has(sha)) continue;
      if (auto it = blob_not_before.find(sha); it != blob_not_before.end() && it->second > now) continue;
      if (auto ok = fetcher->start(sha, s.column_int(1)); !ok) {
        spdlog::error("sync: cannot fetch file {}…: {}", sha.substr(0, 12), ok.error().message);
        blob_not_before[sha] = now + Ms(30000);
        continue;
      }
      spdlog::info("sync: fetching file {}… ({} bytes) from central{}", sha.substr(0, 12), s.column_int(1),
                   fetcher->received() > 0 ? fmt::format(", resuming at {}", fetcher->received()) : "");
      break;
    }
    s.reset();
  }
  if (!fetcher->busy()) return;
  const std::int64_t now_ms = std::chrono::duration_cast<Ms>(now.time_since_epoch()).count();
  for (const auto& g : fetcher->requests(now_ms)) send(ps::Verb::kBlobGet, ps::encode(g));
}

void SyncClient::Impl::on_blob_data(std::vector<zmq::message_t>& message) {
  auto h = ps::decode_blob_data(message[1].to_string_view());
  if (!h || message.size() != 3 || !fetcher) {
    spdlog::warn("sync: bad BLOB_DATA from central: {}", h ? "frame count" : h.error().message);
    return;
  }
  const std::int64_t now_ms = std::chrono::duration_cast<Ms>(Clock::now().time_since_epoch()).count();
  std::string why;
  const std::int64_t total = h->total;
  switch (fetcher->on_data(*h, message[2].to_string_view(), now_ms, why)) {
    case runtime::BlobFetcher::Outcome::kDone: {
      spdlog::info("sync: file {}… received from central ({} bytes), digest verified", h->sha256.substr(0, 12), total);
      wants_changed.store(true);  // the next file at once
      std::lock_guard lock(status_mutex);
      ++status.files_received;
      break;
    }
    case runtime::BlobFetcher::Outcome::kBadChunk: {
      spdlog::warn("sync: {}", why);
      std::lock_guard lock(status_mutex);
      ++status.bad_chunks;
      break;
    }
    case runtime::BlobFetcher::Outcome::kRestart:
      spdlog::error("sync: file from central: {}", why);
      wants_changed.store(true);
      break;
    case runtime::BlobFetcher::Outcome::kFailed:
      spdlog::error("sync: cannot store a file from central: {}", why);
      blob_not_before[h->sha256] = Clock::now() + Ms(30000);
      break;
    default:
      break;
  }
  pump_blobs();
}

void SyncClient::Impl::on_blob_get(std::string_view header) {
  auto g = ps::decode_blob_get(header);
  if (!g) {
    send(ps::Verb::kError, ps::encode(ps::ErrorHeader{std::string(ps::error_code::kBadHeader), g.error().message}));
    return;
  }
  auto missing = [&](std::string why) {
    send(ps::Verb::kBlobMissing, ps::encode(ps::BlobMissing{g->sha256, "not_found", std::move(why)}));
  };
  if (!blobs) return missing("this hall keeps no case files");
  auto& named = *names_file;
  named.bind(1, g->sha256);
  auto row = named.step();
  const bool known = row && *row;
  named.reset();
  if (!known || !blobs->has(g->sha256)) return missing("no case of this hall names this file");
  auto total = blobs->size_of(g->sha256);
  if (!total || g->offset >= *total) return missing("offset beyond the file");
  auto bytes = blobs->read(g->sha256, g->offset, std::min(g->length, *total - g->offset));
  if (!bytes) return missing(bytes.error().message);
  ps::BlobData d{g->sha256, g->offset, *total, protocol::sha256_hex(*bytes)};
  send(ps::Verb::kBlobData, ps::encode(d), {std::move(*bytes)});
  std::lock_guard lock(status_mutex);
  ++status.chunks_served;
}

}  // namespace yiban::edge::sync
