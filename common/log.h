// Structured logging. Every line carries the component that wrote it ("kata-ctl", "vmmd", "agent",
// "shim") and, where known, the sandbox and container it concerns. Two formats, as runc has them:
//   text: time="2026-11-23T18:11:24.123456789Z" level=error msg="container does not exist" component=kata-ctl
//   json: {"component":"kata-ctl","level":"error","msg":"container does not exist","time":"..."}
// containerd reads the last "level":"error" JSON line of --log to report a failed command.
#pragma once

#include <spdlog/logger.h>

#include <map>
#include <memory>
#include <string>

namespace kata {

enum class LogFormat { kText, kJson };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct LogOptions {
  std::string path;  // empty: standard error
  LogFormat format = LogFormat::kText;
  LogLevel level = LogLevel::kWarn;
  std::string component;
};

LogFormat parseLogFormat(const std::string& name);  // throws kInvalidArgument for anything else

class Logger {
 public:
  explicit Logger(const LogOptions& options);
  // A logger writing to the same destination with one more context field (sandbox, container, ...).
  Logger with(const std::string& key, const std::string& value) const;

  void debug(const std::string& msg) const { write(LogLevel::kDebug, msg); }
  void info(const std::string& msg) const { write(LogLevel::kInfo, msg); }
  void warn(const std::string& msg) const { write(LogLevel::kWarn, msg); }
  void error(const std::string& msg) const { write(LogLevel::kError, msg); }
  void write(LogLevel level, const std::string& msg) const;
  LogFormat format() const { return format_; }

  // Formats one line without writing it; exposed for tests and for callers that must emit a line
  // on a channel other than the log (e.g. the error a CLI prints to stderr).
  static std::string formatLine(LogFormat format, LogLevel level, const std::string& msg,
                                const std::map<std::string, std::string>& fields,
                                const std::string& time);

 private:
  Logger(std::shared_ptr<spdlog::logger> sink, LogFormat format, LogLevel level,
         std::map<std::string, std::string> fields)
      : sink_(std::move(sink)), format_(format), level_(level), fields_(std::move(fields)) {}
  std::shared_ptr<spdlog::logger> sink_;
  LogFormat format_;
  LogLevel level_;
  std::map<std::string, std::string> fields_;
};

}  // namespace kata
