// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <string_view>

namespace strait {

enum class log_level { debug, info, warning, error };

// One line from the library. `module` names the stage that wrote it ("config", "tls",
// "transport", "rpc", ...); `text` already names the connection and peer where there is one.
struct log_record {
  log_level level;
  std::string_view module;
  std::string_view text;
};

using log_sink = std::function<void(const log_record&)>;

// Sets the process-wide sink. strait writes nothing until a sink is set; an empty sink silences
// it again. The sink may be called from any of strait's threads, one call at a time.
void set_log_sink(log_sink sink);

// Lines below `level` are not formatted or passed to the sink. Default: info.
void set_log_level(log_level level);

// "debug", "info", "warning" or "error".
std::string_view to_string(log_level level) noexcept;

}  // namespace strait
