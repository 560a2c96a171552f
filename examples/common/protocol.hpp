// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

// The message types that straitd serves and strait sends. An embedder picks its own numbers;
// these are the examples' only.
namespace strait::examples {

// Echo: the response is the request.
inline constexpr std::uint32_t ping_message = 1;
// `show variables`: the request is a LIKE pattern; the response holds one row per line, fields
// separated by tabs: name, value, scope, source.
inline constexpr std::uint32_t show_variables_message = 2;

}  // namespace strait::examples
