#pragma once
// Hall-facing (Chinese) text for replies, shared by every agent that prints one.

#include <optional>
#include <string>

#include "yiban/protocol/error.h"
#include "yiban/protocol/payloads.h"

namespace yiban::devices {

// "A007 前面 3 人 预计等待 5 分钟" (minutes rounded up).
std::string ticket_text(const protocol::TicketView& ticket);
// "办理失败：当前无人排队 (queue_empty)".
std::string failure_text(const protocol::Failure& failure);
// A request that got no reply at all.
std::string no_reply_text(const protocol::Error& error);
// The text for a request that got no reply or a refusal; nothing when it succeeded.
std::optional<std::string> problem_text(const protocol::Expected<protocol::Reply>& reply);

}  // namespace yiban::devices
