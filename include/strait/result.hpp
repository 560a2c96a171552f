// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/error.hpp>

#include <cassert>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace strait {

// A value, or the reason there is none: an error code and a sentence that quotes the input and
// says what is wrong. Either way it may carry warnings: things that were accepted but are
// probably not what the user meant.
template <class T>
class result {
 public:
  result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  static result failure(std::error_code code, std::string message) {
    result r;
    r.code_ = code;
    r.message_ = std::move(message);
    return r;
  }

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }

  // Precondition: ok().
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  std::error_code code() const noexcept { return code_; }
  // Empty when ok().
  const std::string& message() const noexcept { return message_; }

  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  void add_warning(std::string text) { warnings_.push_back(std::move(text)); }

 private:
  result() = default;

  std::optional<T> value_;
  std::error_code code_;
  std::string message_;
  std::vector<std::string> warnings_;
};

}  // namespace strait
