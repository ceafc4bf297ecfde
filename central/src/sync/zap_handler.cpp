#include "sync/zap_handler.h"

#include <array>
#include <chrono>
#include <map>
#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

namespace yiban::central::sync {

ZapHandler::ZapHandler(zmq::context_t& context, AllowList allow_list)
    : context_(context), allow_list_(std::move(allow_list)) {}

ZapHandler::~ZapHandler() { stop(); }

void ZapHandler::start() {
  socket_ = zmq::socket_t(context_, zmq::socket_type::rep);
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { run(); });
}

void ZapHandler::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
  socket_.close();
}

void ZapHandler::run() {
  // Refusals are logged once per key and minute, so a stranger hammering the
  // port cannot flood the log.
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged;
  while (!stopping_.load()) {
    std::vector<zmq::message_t> request;
    try {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
      if (!zmq::recv_multipart(socket_, std::back_inserter(request))) continue;
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      spdlog::error("zap: receive failed: {}", e.what());
      continue;
    }
    // version, request id, domain, address, routing id, mechanism, credentials…
    std::string version = request.size() > 0 ? request[0].to_string() : "";
    std::string request_id = request.size() > 1 ? request[1].to_string() : "";
    std::string domain = request.size() > 2 ? request[2].to_string() : "";
    std::string address = request.size() > 3 ? request[3].to_string() : "";
    std::string mechanism = request.size() > 5 ? request[5].to_string() : "";
    std::string status = "400";
    std::string status_text = "not allowed";
    std::string user_id;
    std::string key_text;
    if (version == "1.0" && domain == kZapDomain && mechanism == "CURVE" && request.size() == 7 &&
        request[6].size() == 32) {
      std::array<char, 41> z85{};
      zmq_z85_encode(z85.data(), static_cast<const std::uint8_t*>(request[6].data()), 32);
      key_text = z85.data();
      if (auto hall = allow_list_.hall_of(key_text)) {
        status = "200";
        status_text = "OK";
        user_id = *hall;
      } else {
        status_text = "unknown key";
      }
    }
    if (status == "200") {
      accepted_.fetch_add(1);
      spdlog::debug("zap: accepted hall {} from {}", user_id, address);
    } else {
      refused_.fetch_add(1);
      auto now = std::chrono::steady_clock::now();
      auto& last = last_logged[key_text];
      if (last == std::chrono::steady_clock::time_point{} || now - last > std::chrono::minutes(1)) {
        last = now;
        spdlog::warn("sync: refused a connection from {}: {} (mechanism {}, key {})", address, status_text,
                     mechanism.empty() ? "?" : mechanism, key_text.empty() ? "-" : key_text);
      }
      if (last_logged.size() > 10000) last_logged.clear();
    }
    std::array<zmq::const_buffer, 6> reply{zmq::buffer(version), zmq::buffer(request_id), zmq::buffer(status),
                                           zmq::buffer(status_text), zmq::buffer(user_id), zmq::const_buffer()};
    try {
      zmq::send_multipart(socket_, reply);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      spdlog::error("zap: reply failed: {}", e.what());
    }
  }
}

}  // namespace yiban::central::sync
