// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace strait::detail {

// Runs `on_expiry` (typically: close the socket, which ends the pending operation with
// operation_aborted) if `deadline` passes while the guard is alive. Destroying the guard
// disarms it even when the timer has already fired and its handler is queued, so the action
// never touches a socket that is gone. Guard, timer and socket must share one executor
// (a strand, or a single-threaded io_context).
class deadline_guard {
 public:
  template <class Executor>
  deadline_guard(const Executor& executor, std::chrono::milliseconds deadline,
                 std::function<void()> on_expiry)
      : timer_(executor, deadline), state_(std::make_shared<state>()) {
    state_->on_expiry = std::move(on_expiry);
    timer_.async_wait([s = state_](boost::system::error_code ec) {
      if (ec || !s->armed) return;
      s->expired = true;
      s->on_expiry();
    });
  }
  ~deadline_guard() {
    state_->armed = false;
    timer_.cancel();
  }
  deadline_guard(const deadline_guard&) = delete;
  deadline_guard& operator=(const deadline_guard&) = delete;

  // Whether the deadline passed and the action ran.
  bool expired() const noexcept { return state_->expired; }

 private:
  struct state {
    std::function<void()> on_expiry;
    bool armed = true;
    bool expired = false;
  };
  boost::asio::steady_timer timer_;
  std::shared_ptr<state> state_;
};

}  // namespace strait::detail
