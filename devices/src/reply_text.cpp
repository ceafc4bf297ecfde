#include "yiban/devices/reply_text.h"

namespace yiban::devices {

namespace {

std::string_view reason(protocol::ErrorCode code) {
  using protocol::ErrorCode;
  switch (code) {
    case ErrorCode::kBadJson:
    case ErrorCode::kBadRequest:
      return "请求格式有误";
    case ErrorCode::kUnknownOp:
      return "暂不支持该操作";
    case ErrorCode::kUnknownDevice:
      return "本设备未登记";
    case ErrorCode::kNotAllowed:
      return "本设备无权办理该操作";
    case ErrorCode::kUnknownService:
      return "没有这项业务";
    case ErrorCode::kServiceClosed:
      return "该业务暂停办理";
    case ErrorCode::kCounterClosed:
      return "窗口未开放";
    case ErrorCode::kQueueEmpty:
      return "当前无人排队";
    case ErrorCode::kNoCurrentTicket:
      return "当前没有正在办理的号";
    case ErrorCode::kInvalidState:
      return "当前状态不能这样操作";
    case ErrorCode::kInternal:
      return "系统内部错误";
  }
  return "未知错误";
}

}  // namespace

std::string ticket_text(const protocol::TicketView& ticket) {
  int minutes = (ticket.estimated_wait_s + 59) / 60;
  return ticket.number + " 前面 " + std::to_string(ticket.waiting_ahead) + " 人 预计等待 " +
         std::to_string(minutes) + " 分钟";
}

std::string failure_text(const protocol::Failure& failure) {
  return "办理失败：" + std::string(reason(failure.code)) + " (" +
         std::string(protocol::to_string(failure.code)) + ")";
}

std::string no_reply_text(const protocol::Error& error) {
  return "网络异常，请稍后再试 (" + error.message + ")";
}

std::optional<std::string> problem_text(const protocol::Expected<protocol::Reply>& reply) {
  if (!reply) return no_reply_text(reply.error());
  if (reply->ok) return std::nullopt;
  return failure_text(reply->failure.value_or(
      protocol::Failure{protocol::ErrorCode::kInternal, "no error in reply"}));
}

}  // namespace yiban::devices
