#pragma once
/// @file
/// Ready-made training callbacks: a progress bar with ETA on stderr, and a stop-after-time guard.
/// Any object with some of the hooks of `Trainer` is a callback; these are the common ones.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "plugen/core/atomic_file.hpp"
#include "plugen/train/trainer.hpp"

namespace plugen {

namespace detail {
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}
}  // namespace detail

/// Progress on stderr: a redrawn bar with epoch, NLLs, sigma and ETA when stderr is a terminal; one line
/// per ~10% of the epochs otherwise (logs stay readable).
class ProgressBar {
 public:
  /// A progress bar writing to `stream` (stderr by default); `label` prefixes every line.
  explicit ProgressBar(std::string label = "train", std::FILE* stream = stderr)
      : label_(std::move(label)), stream_(stream), tty_(isatty(fileno(stream)) != 0) {}

  /// Records the start time.
  void on_train_begin(const TrainState&) { start_ = std::chrono::steady_clock::now(); }

  /// Redraws the bar mid-epoch on terminals.
  void on_batch_end(const TrainState& st, double loss) {
    if (!tty_ || st.batch % 20 != 0) return;
    draw(st, fmt::format("batch {}/{} loss {:.4f}", st.batch + 1, st.batches, loss), false);
  }

  /// Prints the epoch's figures.
  void on_epoch_end(const TrainState& st, const EpochStats& e) {
    const int64_t total = st.options.epochs();
    const int64_t step = std::max<int64_t>(1, total / 10);
    std::string figures = fmt::format("nll {:.4f}", e.train_nll);
    if (std::isfinite(e.val_nll)) figures += fmt::format(" val {:.4f}", e.val_nll);
    figures += fmt::format(" sigma {:.3f} lr {:.2g}", e.sigma, e.lr);
    if (tty_ || (e.epoch + 1) % step == 0 || e.epoch == 0 || e.epoch + 1 == total) draw(st, figures, !tty_);
  }

  /// Ends the line and prints the outcome.
  void on_train_end(const TrainReport& r) {
    if (tty_) std::fputc('\n', stream_);
    std::fprintf(stream_, "%s: %s after %lld epochs in %s (kept epoch %lld)\n", label_.c_str(), to_string(r.status),
                 static_cast<long long>(r.epochs_run), detail::format_duration(r.seconds).c_str(),
                 static_cast<long long>(r.best_epoch));
    std::fflush(stream_);
  }

 private:
  void draw(const TrainState& st, const std::string& figures, bool newline) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double done =
        (static_cast<double>(st.epoch) + static_cast<double>(st.batch) / std::max<int64_t>(st.batches, 1)) /
        static_cast<double>(st.options.epochs());
    const double eta = done > 0 ? elapsed * (1 - done) / done : NAN;
    const int width = 24;
    const int filled = static_cast<int>(done * width);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stream_, "%s%s [%s] epoch %lld/%lld %s | %s elapsed, ETA %s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
                 bar.c_str(), static_cast<long long>(st.epoch + 1), static_cast<long long>(st.options.epochs()),
                 figures.c_str(), detail::format_duration(elapsed).c_str(), detail::format_duration(eta).c_str(),
                 newline ? "\n" : "");
    std::fflush(stream_);
  }

  std::string label_;
  std::FILE* stream_;
  bool tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// Stops training once `seconds` of wall time have passed (checked after every epoch).
class TimeLimit {
 public:
  /// A guard for `seconds` of training.
  explicit TimeLimit(double seconds) : seconds_(seconds) {}
  /// Starts the clock.
  void on_train_begin(const TrainState&) { start_ = std::chrono::steady_clock::now(); }
  /// True (stop) once the time is up.
  bool on_epoch_end(const TrainState&, const EpochStats&) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() >= seconds_;
  }

 private:
  double seconds_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

/// Writes one JSON object per epoch (epoch, NLLs, sigma, lr, gradient norm, seconds) to a JSON-lines file,
/// rewritten atomically after every epoch so the file is always complete; a final line holds the report.
class JsonLog {
 public:
  /// A log written to `path`.
  explicit JsonLog(std::filesystem::path path) : path_(std::move(path)) {}
  /// Appends the epoch's line and rewrites the file.
  void on_epoch_end(const TrainState&, const EpochStats& e) {
    text_ += TrainReport::epoch_json(e).dump() + "\n";
    write_file_atomic(path_, text_);
  }
  /// Appends the final report.
  void on_train_end(const TrainReport& r) {
    text_ += nlohmann::json{{"report", r.to_json()}}.dump() + "\n";
    write_file_atomic(path_, text_);
  }

 private:
  std::filesystem::path path_;
  std::string text_;
};

}  // namespace plugen
