#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>

#include "common/error.h"
#include "common/fd.h"
#include "common/time.h"

namespace kata {
namespace {

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warning";
    case LogLevel::kError: return "error";
  }
  return "unknown";
}

spdlog::level::level_enum toSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::err;
}

// logfmt quoting as logrus does it: bare when the value is a plain word, quoted and escaped otherwise.
std::string logfmtValue(const std::string& v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '/' ||
          c == '@' || c == '^' || c == '+')) {
      plain = false;
      break;
    }
  }
  if (plain) return v;
  return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

LogFormat parseLogFormat(const std::string& name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  fail(ErrorKind::kInvalidArgument, "invalid log-format: " + name + " (expected text or json)");
}

Logger::Logger(const LogOptions& options) : format_(options.format), level_(options.level) {
  spdlog::sink_ptr sink;
  if (options.path.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // spdlog would create missing parent directories; a mistyped --log must fail instead.
    UniqueFd probe(::open(options.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    if (!probe) throwSysError(errno, "cannot open log file " + options.path);
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.path, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      fail(ErrorKind::kInvalidArgument, "cannot open log file " + options.path + ": " + e.what());
    }
  }
  sink->set_pattern("%v");
  sink_ = std::make_shared<spdlog::logger>(options.component, std::move(sink));
  sink_->set_level(spdlog::level::trace);
  sink_->flush_on(spdlog::level::trace);
  if (!options.component.empty()) fields_["component"] = options.component;
}

Logger Logger::with(const std::string& key, const std::string& value) const {
  auto fields = fields_;
  fields[key] = value;
  return Logger(sink_, format_, level_, std::move(fields));
}

void Logger::write(LogLevel level, const std::string& msg) const {
  if (level < level_) return;
  sink_->log(toSpd(level), "{}", formatLine(format_, level, msg, fields_, rfc3339Nano(nowUtc())));
}

std::string Logger::formatLine(LogFormat format, LogLevel level, const std::string& msg,
                               const std::map<std::string, std::string>& fields,
                               const std::string& time) {
  if (format == LogFormat::kJson) {
    nlohmann::json j = fields;
    j["level"] = levelName(level);
    j["msg"] = msg;
    j["time"] = time;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line = "time=\"" + time + "\" level=" + levelName(level) + " msg=" +
                     nlohmann::json(msg).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (const auto& [k, v] : fields) line += " " + k + "=" + logfmtValue(v);
  return line;
}

}  // namespace kata
