#pragma once
/// @file
/// What training reports: per-epoch figures and the final outcome. Numerical outcomes (divergence,
/// early stopping) are results here, not exceptions.

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "plugen/core/check.hpp"

namespace plugen {

/// How training ended.
enum class TrainStatus {
  completed,            ///< ran every epoch
  early_stopped,        ///< validation NLL stopped improving for `patience` epochs
  diverged,             ///< a NaN/inf loss or gradient: the last good weights were kept
  stopped_by_callback,  ///< a callback returned true
};

/// Name of a training status ("completed", ...).
inline const char* to_string(TrainStatus s) noexcept {
  switch (s) {
    case TrainStatus::completed:
      return "completed";
    case TrainStatus::early_stopped:
      return "early_stopped";
    case TrainStatus::diverged:
      return "diverged";
    case TrainStatus::stopped_by_callback:
      return "stopped_by_callback";
  }
  return "unknown";
}

/// Parses a training status name.
inline TrainStatus parse_train_status(const std::string& s) {
  for (auto t :
       {TrainStatus::completed, TrainStatus::early_stopped, TrainStatus::diverged, TrainStatus::stopped_by_callback})
    if (s == to_string(t)) return t;
  throw ConfigError(fmt::format("training report: unknown status '{}'", s));
}

/// Figures of one epoch. NLLs are in nats per latent dimension, standardization included, so runs
/// on the same latents are comparable.
struct EpochStats {
  /// Epoch index, from 0.
  int64_t epoch = 0;
  /// Mean training NLL over the epoch's batches (nats/dim).
  double train_nll = 0;
  /// Validation NLL at the epoch's end (nats/dim); NaN without a validation split.
  double val_nll = std::nan("");
  /// Prior sigma used in this epoch.
  double sigma = 0;
  /// Learning rate used in this epoch.
  double lr = 0;
  /// Mean gradient norm before clipping.
  double grad_norm = 0;
  /// Wall time of the epoch in seconds.
  double seconds = 0;
};

/// Outcome of a training run.
struct TrainReport {
  /// How training ended.
  TrainStatus status = TrainStatus::completed;
  /// Epochs run.
  int64_t epochs_run = 0;
  /// Epoch whose weights were kept (best validation NLL, or last epoch without validation).
  int64_t best_epoch = -1;
  /// Validation NLL of the kept weights (nats/dim; NaN without validation).
  double best_val_nll = std::nan("");
  /// Training NLL of the last completed epoch (nats/dim).
  double final_train_nll = std::nan("");
  /// Prior sigma at the end (the plugin's default label temperature).
  double final_sigma = 0;
  /// Wall time of training in seconds.
  double seconds = 0;
  /// Training and validation rows.
  int64_t train_rows = 0, val_rows = 0;
  /// Intra-op threads used.
  int threads = 0;
  /// Human-readable detail (e.g. where training diverged).
  std::string message;
  /// Per-epoch figures.
  std::vector<EpochStats> history;

  /// The report as JSON (history included when `with_history`; wall times and thread count only when
  /// `with_timing`, so files that embed the report are bitwise reproducible).
  nlohmann::json to_json(bool with_history = false, bool with_timing = true) const {
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json j = {{"status", to_string(status)},
                        {"epochs_run", epochs_run},
                        {"best_epoch", best_epoch},
                        {"best_val_nll", num(best_val_nll)},
                        {"final_train_nll", num(final_train_nll)},
                        {"final_sigma", final_sigma},
                        {"seconds", seconds},
                        {"train_rows", train_rows},
                        {"val_rows", val_rows},
                        {"threads", threads},
                        {"message", message}};
    if (!with_timing) {
      j.erase("seconds");
      j.erase("threads");
    }
    if (with_history) {
      nlohmann::json h = nlohmann::json::array();
      for (const auto& e : history) {
        auto ej = epoch_json(e);
        if (!with_timing) ej.erase("seconds");
        h.push_back(ej);
      }
      j["history"] = h;
    }
    return j;
  }

  /// One epoch's figures as JSON.
  static nlohmann::json epoch_json(const EpochStats& e) {
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    return {{"epoch", e.epoch}, {"train_nll", num(e.train_nll)}, {"val_nll", num(e.val_nll)}, {"sigma", e.sigma},
            {"lr", e.lr},       {"grad_norm", num(e.grad_norm)}, {"seconds", e.seconds}};
  }

  /// Reads a report written by `to_json` (history is not restored).
  static TrainReport from_json(const nlohmann::json& j) {
    auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : std::nan(""); };
    // Integer fields keep their default unless the file holds an integer that fits (a NaN or huge number cast to
    // an integer type is undefined behaviour; plugin files are untrusted input).
    auto integer = [&](const char* k, int64_t fallback) {
      const double v = num(k);
      return std::isfinite(v) && std::abs(v) < 9.0e15 ? static_cast<int64_t>(v) : fallback;
    };
    TrainReport r;
    PLUGEN_CHECK(j.is_object() && j.contains("status") && j["status"].is_string(), ConfigError,
                 "training report: expected an object with a \"status\" string");
    r.status = parse_train_status(j["status"].get<std::string>());
    r.epochs_run = integer("epochs_run", r.epochs_run);
    r.best_epoch = integer("best_epoch", r.best_epoch);
    r.best_val_nll = num("best_val_nll");
    r.final_train_nll = num("final_train_nll");
    r.final_sigma = num("final_sigma");
    r.seconds = num("seconds");
    r.train_rows = integer("train_rows", r.train_rows);
    r.val_rows = integer("val_rows", r.val_rows);
    const int64_t threads = integer("threads", r.threads);
    r.threads = threads >= 0 && threads < 1'000'000 ? static_cast<int>(threads) : r.threads;
    if (j.contains("message") && j["message"].is_string()) r.message = j["message"].get<std::string>();
    return r;
  }
};

}  // namespace plugen
