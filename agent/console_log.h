// The agent's log: one JSON line per event on the guest console, which the host captures (the
// serial port's backend). The agent cannot use kata_log (spdlog has no static library), so this is a
// minimal writer with the same field names: {"component":"agent","level":..,"msg":..,"time":..}.
#pragma once

#include <map>
#include <string>

namespace kata::agent {

class ConsoleLog {
 public:
  // Writes to fd, which the log does not own (the console stays open for the agent's lifetime).
  explicit ConsoleLog(int fd) : fd_(fd) {}

  void info(const std::string& msg, const std::map<std::string, std::string>& fields = {}) const {
    write("info", msg, fields);
  }
  void warn(const std::string& msg, const std::map<std::string, std::string>& fields = {}) const {
    write("warning", msg, fields);
  }
  void error(const std::string& msg, const std::map<std::string, std::string>& fields = {}) const {
    write("error", msg, fields);
  }
  void setFd(int fd) { fd_ = fd; }

  // One line, newline-terminated. "uptime" is seconds since boot, so lines correlate with dmesg.
  static std::string formatLine(const std::string& level, const std::string& msg,
                                const std::map<std::string, std::string>& fields);

 private:
  // Never throws: a log line that cannot be written is dropped, the agent keeps serving.
  void write(const std::string& level, const std::string& msg,
             const std::map<std::string, std::string>& fields) const noexcept;
  int fd_;
};

}  // namespace kata::agent
