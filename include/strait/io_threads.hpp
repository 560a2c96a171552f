// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

namespace strait {

namespace asio = boost::asio;

// Threads that run an io_context, for embedders that do not bring their own (`rpcThreads`).
// Servers and clients take its executor; each connection keeps to its own strand, so any
// number of threads is safe.
class io_threads {
 public:
  explicit io_threads(std::size_t count);
  // Stops the context and joins the threads.
  ~io_threads();
  io_threads(const io_threads&) = delete;
  io_threads& operator=(const io_threads&) = delete;

  asio::any_io_executor executor() { return context_.get_executor(); }
  asio::io_context& context() noexcept { return context_; }

  // Lets the threads return once no work is left, and waits for them.
  void join();
  // Stops at once; handlers not yet run are dropped.
  void stop();

 private:
  asio::io_context context_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace strait
