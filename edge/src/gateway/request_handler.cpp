#include "gateway/request_handler.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "alerts/alert_rules.h"
#include "yiban/protocol/event.h"
#include "yiban/protocol/payloads.h"
#include "yiban/protocol/utf8.h"

namespace yiban::edge::gateway {
namespace {

using protocol::DeviceKind;
using protocol::ErrorCode;
using protocol::Op;

constexpr std::size_t kMaxCorrelationBytes = 256;
constexpr std::size_t kMaxResponseTopicBytes = 256;

}  // namespace

RequestHandler::RequestHandler(const protocol::HallConfig& config, const protocol::Topics& topics,
                               store::EdgeStore& store, queue::QueueEngine& engine, alerts::AlertEngine& alerts)
    : config_(config), topics_(topics), store_(store), engine_(engine), alerts_(alerts) {}

void RequestHandler::log_limited(const std::string& device, std::int64_t now) {
  if (!limiter_->should_log(device, now)) return;
  auto t = limiter_->device_totals(device);
  spdlog::warn("device {}: over its limits ({} requests/s, burst {}): {} requests refused, {} refused requests left "
               "unanswered so far; next report in a minute",
               device.empty() ? "(not in the hall config)" : device, config_.limits.requests_per_s,
               config_.limits.request_burst, t.limited, t.unanswered);
}

void RequestHandler::reload() {
  if (auto ok = engine_.load(); !ok) spdlog::error("reloading the queue: {}", ok.error().message);
  if (auto ok = alerts_.load(); !ok) spdlog::error("reloading alerts: {}", ok.error().message);
}

bool RequestHandler::allowed(DeviceKind kind, Op op) {
  switch (kind) {
    case DeviceKind::kKiosk:
      return op == Op::kTicketTake || op == Op::kAppointmentCheckin || op == Op::kHelpRequest;
    case DeviceKind::kCounter:
      return op == Op::kCounterOpen || op == Op::kCounterPause || op == Op::kCounterClose ||
             op == Op::kCounterCallNext || op == Op::kCounterRecall || op == Op::kCounterStart ||
             op == Op::kCounterFinish || op == Op::kCounterNoShow || op == Op::kCounterTransfer ||
             op == Op::kHelpRequest;
    case DeviceKind::kRating:
      return op == Op::kRatingSubmit;
    case DeviceKind::kStaff:
      return op == Op::kHelpAnswer || op == Op::kAlertAck || op == Op::kAlertResolve;
    default:
      return false;
  }
}

// The reply goes where the device asked, but never onto the hall's own
// topics (board, catalog, another device): only under the device's own
// subtree or outside yiban/ altogether (mosquitto_rr users pick their own).
std::string RequestHandler::reply_topic(const protocol::DeviceTopic& topic, const InboundMessage& message,
                                        bool& refused) const {
  refused = false;
  std::string fallback = topics_.device_response(topic.device);
  if (!message.response_topic) return fallback;
  const std::string& wanted = *message.response_topic;
  std::string own = topics_.root() + "/devices/" + topic.device + "/";
  bool well_formed = !wanted.empty() && wanted.size() <= kMaxResponseTopicBytes &&
                     wanted.find_first_of("+#") == std::string::npos && protocol::is_valid_utf8(wanted) &&
                     wanted.find('\0') == std::string::npos;
  bool permitted = wanted.starts_with(own) || (!wanted.starts_with("yiban/") && !wanted.starts_with("$"));
  if (well_formed && permitted) return wanted;
  refused = true;
  return fallback;
}

Outgoing RequestHandler::refusal(const protocol::DeviceTopic& topic, const InboundMessage& message,
                                 const protocol::Failure& failure) const {
  bool refused_topic = false;
  return Outgoing{reply_topic(topic, message, refused_topic), protocol::encode_failure(failure), 1, false,
                  message.correlation};
}

RequestHandler::Handled RequestHandler::handle(const protocol::DeviceTopic& topic, const InboundMessage& message,
                                               std::int64_t now) {
  Handled out;
  bool refused_topic = false;
  out.reply.topic = reply_topic(topic, message, refused_topic);
  out.reply.qos = 1;
  out.reply.correlation = message.correlation;
  auto refuse = [&](ErrorCode code, std::string text) {
    out.reply.payload = protocol::encode_failure({code, std::move(text)});
    if (code != ErrorCode::kInternal && limiter_ && !limiter_->answer_refusal(topic.device, now)) {
      out.answer = false;
      log_limited(topic.device, now);
    }
    return out;
  };
  if (message.correlation && message.correlation->size() > kMaxCorrelationBytes)
    return refuse(ErrorCode::kBadRequest, "correlation data longer than 256 bytes");
  if (refused_topic)
    return refuse(ErrorCode::kBadRequest, "response topic must be under " + topics_.root() + "/devices/" +
                                              topic.device + "/ or outside yiban/, without wildcards");
  const auto* device = config_.find_device(topic.device);
  if (!device) return refuse(ErrorCode::kUnknownDevice, "device \"" + topic.device + "\" is not in this hall");
  if (message.oversize_bytes > 0)
    return refuse(ErrorCode::kBadJson, "payload larger than 16 KiB (" + std::to_string(message.oversize_bytes) +
                                           " bytes)");
  auto request = protocol::decode_request(topic.op, message.payload);
  if (!request) return refuse(request.error().code, request.error().message);
  if (!allowed(device->kind, request->op))
    return refuse(ErrorCode::kNotAllowed, "a " + std::string(protocol::to_string(device->kind)) + " may not " +
                                              std::string(protocol::to_string(request->op)));
  if (limiter_) {
    bool reply = false;
    if (!limiter_->admit_request(device->id, now, reply)) {
      out.limited = true;
      out.answer = reply;
      out.reply.payload = protocol::encode_failure(
          {ErrorCode::kBadRequest, "rate limit: this device sends more than " +
                                       std::to_string(config_.limits.requests_per_s) +
                                       " requests/s; nothing was done, try again in a second"});
      log_limited(device->id, now);
      return out;
    }
  }

  if (message.correlation) {
    auto previous = store_.find_reply(topic.device, *message.correlation);
    if (!previous) return refuse(ErrorCode::kInternal, "store unavailable");
    if (*previous) {
      out.reply.payload = std::move(**previous);
      // A retry's answer may still be uncommitted (same batch): wait for the commit.
      out.wrote = true;
      return out;
    }
  }

  if (auto ok = store_.savepoint(); !ok) return refuse(ErrorCode::kInternal, "store unavailable");
  auto reply = dispatch(*device, *request, now);
  if (!reply && reply.error().code == ErrorCode::kInternal) {
    spdlog::error("request {} from {} failed: {}", topic.op, topic.device, reply.error().message);
    store_.rollback_to_savepoint();
    reload();
    return refuse(ErrorCode::kInternal, "the hall could not record this request; try again");
  }
  out.reply.payload = reply ? std::move(*reply) : protocol::encode_failure(reply.error());
  if (message.correlation) {
    auto saved = store_.save_reply(topic.device, *message.correlation, topic.op, out.reply.payload, now);
    if (!saved) {
      spdlog::error("recording the reply for {} from {}: {}", topic.op, topic.device, saved.error().message);
      store_.rollback_to_savepoint();
      reload();
      return refuse(ErrorCode::kInternal, "the hall could not record this request; try again");
    }
  }
  if (auto ok = store_.release(); !ok) {
    store_.rollback_to_savepoint();
    reload();
    return refuse(ErrorCode::kInternal, "the hall could not record this request; try again");
  }
  out.wrote = true;
  out.changes = engine_.take_changes();
  return out;
}

protocol::Result<std::string> RequestHandler::staff(const protocol::DeviceConfig& device,
                                                    const protocol::Request& request, std::int64_t now) {
  const auto& action = std::get<protocol::StaffAction>(request.body);
  if (request.op == Op::kHelpAnswer) {
    auto state = store_.help_state(action.target);
    if (!state) return protocol::fail(ErrorCode::kInternal, "store: " + state.error().message);
    if (!*state) return protocol::fail(ErrorCode::kBadRequest, "help: no help request \"" + action.target + "\"");
    if (**state != "open")
      return protocol::fail(ErrorCode::kInvalidState, "help request " + action.target + " is already " + **state);
    auto answered = store_.answer_help(action.target, now, device.id);
    if (!answered) return protocol::fail(ErrorCode::kInternal, "store: " + answered.error().message);
    nlohmann::json data{{"help", action.target}, {"device", device.id}};
    if (action.note) data["note"] = *action.note;
    if (auto seq = store_.append_event(now, protocol::event_type::kHelpAnswered, data.dump()); !seq)
      return protocol::fail(ErrorCode::kInternal, "store: " + seq.error().message);
    if (auto ok = alerts_.resolve_subject("help", action.target, device.id, now); !ok) return std::unexpected(ok.error());
    return protocol::encode_ok_help(action.target);
  }
  auto row = request.op == Op::kAlertAck ? alerts_.acknowledge(action.target, device.id, now)
                                         : alerts_.resolve(action.target, device.id, action.note, now);
  if (!row) return std::unexpected(row.error());
  return protocol::encode_ok_alert(alerts::view_of(*row));
}

protocol::Result<std::string> RequestHandler::dispatch(const protocol::DeviceConfig& device,
                                                       const protocol::Request& request, std::int64_t now) {
  const std::string counter = device.counter.value_or("");
  auto ticket = [](const protocol::Result<protocol::TicketView>& r) -> protocol::Result<std::string> {
    if (!r) return std::unexpected(r.error());
    return protocol::encode_ok_ticket(*r);
  };
  auto counter_reply = [](const protocol::Result<protocol::CounterView>& r) -> protocol::Result<std::string> {
    if (!r) return std::unexpected(r.error());
    return protocol::encode_ok_counter(*r);
  };
  switch (request.op) {
    case Op::kTicketTake:
      return ticket(engine_.take_ticket(std::get<protocol::TicketTake>(request.body), device.id, now));
    case Op::kAppointmentCheckin:
      return ticket(engine_.check_in(std::get<protocol::AppointmentCheckin>(request.body), device.id, now));
    case Op::kCounterOpen:
      return counter_reply(engine_.open_counter(counter, device.id, now));
    case Op::kCounterPause:
      return counter_reply(engine_.pause_counter(counter, device.id, now));
    case Op::kCounterClose:
      return counter_reply(engine_.close_counter(counter, device.id, now));
    case Op::kCounterCallNext:
      return ticket(engine_.call_next(counter, device.id, now));
    case Op::kCounterRecall:
      return ticket(engine_.recall(counter, device.id, now));
    case Op::kCounterStart:
      return ticket(engine_.start(counter, device.id, now));
    case Op::kCounterFinish:
      return ticket(engine_.finish(counter, device.id, now));
    case Op::kCounterNoShow:
      return ticket(engine_.no_show(counter, device.id, now));
    case Op::kCounterTransfer:
      return ticket(engine_.transfer(counter, std::get<protocol::CounterTransfer>(request.body), device.id, now));
    case Op::kRatingSubmit: {
      const auto& rating = std::get<protocol::RatingSubmit>(request.body);
      auto r = engine_.submit_rating(counter, rating, device.id, now);
      if (!r) return std::unexpected(r.error());
      if (rating.score <= 2) {
        // A bad rating is a follow-up for the hall manager.
        std::string subject = r->value_or("counter:" + counter + ":" + std::to_string(now));
        std::string message = counter + "号窗口收到" + std::to_string(rating.score) + "分差评" +
                              (*r ? "（" + **r + "）" : "") + "，请跟进";
        auto raised = alerts_.raise("bad_rating", subject, message, engine_.zone().local_day(now), now);
        if (!raised) return std::unexpected(raised.error());
      }
      return protocol::encode_ok();
    }
    case Op::kHelpRequest: {
      const auto& help = std::get<protocol::HelpRequest>(request.body);
      auto r = engine_.request_help(device.id, device.counter, help, now);
      if (!r) return std::unexpected(r.error());
      auto raised = alerts_.raise("help", *r, device.id + "求助：" + help.need, engine_.zone().local_day(now), now,
                                  device.id + "求助");
      if (!raised) return std::unexpected(raised.error());
      return protocol::encode_ok_help(*r);
    }
    case Op::kHelpAnswer:
    case Op::kAlertAck:
    case Op::kAlertResolve:
      return staff(device, request, now);
  }
  return protocol::fail(ErrorCode::kUnknownOp, "unknown op");
}

}  // namespace yiban::edge::gateway
