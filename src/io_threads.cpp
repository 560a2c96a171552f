// SPDX-License-Identifier: Apache-2.0
#include <strait/io_threads.hpp>

namespace strait {

io_threads::io_threads(std::size_t count) : work_(context_.get_executor()) {
  threads_.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    threads_.emplace_back([this] { context_.run(); });
}

io_threads::~io_threads() {
  stop();
  join();
}

void io_threads::join() {
  work_.reset();
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
}

void io_threads::stop() {
  context_.stop();
}

}  // namespace strait
