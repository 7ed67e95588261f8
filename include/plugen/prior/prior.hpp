#pragma once
/// @file
/// The target-space prior p(z | y, m) of PluGeN (DESIGN.md 1.1 item 3), its marginal, and the
/// attribute read-out (posterior over label values given the label coordinates).

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "plugen/core/tensor.hpp"
#include "plugen/prior/schema.hpp"

namespace plugen {

/// Options of the target-space prior.
struct PriorOptions {
  /// Standard deviation sigma of the label coordinates around their targets (decays during training).
  TORCH_ARG(double, sigma) = 0.4;
  /// Binary attributes use s+ = sigma*sqrt(2p), s- = sigma*sqrt(2(1-p)) with p the training positive rate.
  TORCH_ARG(bool, balanced) = false;
};

namespace detail {
inline constexpr double half_log_2pi = 0.91893853320467274178;
/// log N(x; mu, s) elementwise for a scalar or tensor mean and a scalar standard deviation.
inline torch::Tensor normal_log_prob(const torch::Tensor& x, const torch::Tensor& mu, double s) {
  return -0.5 * ((x - mu) / s).pow(2) - (std::log(s) + half_log_2pi);
}
inline torch::Tensor normal_log_prob(const torch::Tensor& x, double mu, double s) {
  return -0.5 * ((x - mu) / s).pow(2) - (std::log(s) + half_log_2pi);
}
}  // namespace detail

/// What the prior reads off the label coordinates of z for every attribute: binary P(y = 1 | c),
/// categorical class probabilities, continuous value in label units. One entry per attribute.
struct AttributeReadout {
  /// Binary: (N,) probability of y = 1. Categorical: (N, C) class probabilities. Continuous: undefined.
  torch::Tensor probability;
  /// Binary: (N,) 0/1 decision. Categorical: (N,) argmax class index. Continuous: (N,) value in label units.
  torch::Tensor value;
};

/// p(z | y, m) over z = (c, s): style s ~ N(0, I); label coordinates c per attribute kind; unknown labels
/// (m = 0) marginalized over the attribute's values weighted by training frequencies, in log space.
/// Continuous attributes with unknown labels use a moment-matched Gaussian N(mean, var + sigma^2) of the
/// normalized training labels (a documented approximation of their marginal).
class TargetPrior {
 public:
  /// A prior over z in R^dim for a fitted schema; throws ConfigError if dim < the label coordinates.
  TargetPrior(Schema schema, int64_t dim, PriorOptions options = {})
      : schema_(std::move(schema)), dim_(dim), options_(options) {
    PLUGEN_CHECK(dim_ >= schema_.label_dim() && dim_ >= 1, ConfigError,
                 "TargetPrior: the latent width {} is smaller than the {} label coordinates of attributes [{}]", dim_,
                 schema_.label_dim(), schema_.names_list());
    PLUGEN_CHECK(options_.sigma() > 0 && std::isfinite(options_.sigma()), ConfigError,
                 "TargetPrior: expected sigma > 0, got {}", options_.sigma());
  }

  /// The schema (with training statistics).
  const Schema& schema() const { return schema_; }
  /// Width of z.
  int64_t dim() const { return dim_; }
  /// The options in effect.
  const PriorOptions& options() const { return options_; }
  /// Changes sigma (the training schedule calls this every epoch).
  void set_sigma(double sigma) {
    PLUGEN_CHECK(sigma > 0 && std::isfinite(sigma), ConfigError, "TargetPrior: expected sigma > 0, got {}", sigma);
    options_.sigma(sigma);
  }

  /// Standard deviations (s-, s+) of a binary attribute's coordinate for y = 0 and y = 1.
  std::pair<double, double> binary_sigmas(const Attribute& a) const {
    const double s = options_.sigma();
    if (!options_.balanced()) return {s, s};
    const double p = a.stats.frequencies.size() == 2 ? a.stats.frequencies[1] : 0.5;
    return {s * std::sqrt(2.0 * (1.0 - p)), s * std::sqrt(2.0 * p)};
  }

  /// log p(z | y, m) per row, (N,). `labels` as in `Labels` (values under a false mask are ignored).
  torch::Tensor log_prob(const torch::Tensor& z, const Labels& labels) const {
    check_batch(z, dim_, z.scalar_type(), "TargetPrior::log_prob");
    PLUGEN_CHECK(labels.rows() == z.size(0), ShapeError, "TargetPrior::log_prob: expected labels for {} rows, got {}",
                 z.size(0), labels.rows());
    auto values = labels.values.to(z.device(), z.scalar_type());
    auto mask = labels.mask.to(z.device());
    auto total = style_log_prob(z);
    for (int64_t i = 0; i < schema_.size(); ++i) {
      const auto& a = schema_[i];
      auto known = known_log_prob(z, a, values.select(1, i));
      auto missing = marginal_log_prob(z, a);
      total = total + torch::where(mask.select(1, i), known, missing);
    }
    return total;
  }

  /// log p(z) per row under the marginal prior (every label unknown), (N,).
  torch::Tensor marginal_log_prob(const torch::Tensor& z) const {
    check_batch(z, dim_, z.scalar_type(), "TargetPrior::marginal_log_prob");
    auto total = style_log_prob(z);
    for (const auto& a : schema_.attributes()) total = total + marginal_log_prob(z, a);
    return total;
  }

  /// Reads every attribute off the label coordinates of z (posterior under this prior).
  std::vector<AttributeReadout> read(const torch::Tensor& z) const {
    check_batch(z, dim_, z.scalar_type(), "TargetPrior::read");
    std::vector<AttributeReadout> out;
    for (const auto& a : schema_.attributes()) {
      AttributeReadout r;
      auto c = z.narrow(1, a.offset, a.width());
      if (a.kind == AttributeKind::binary) {
        auto [s0, s1] = binary_sigmas(a);
        auto c0 = c.select(1, 0);
        auto l1 = detail::normal_log_prob(c0, 1.0, s1) + std::log(a.stats.frequencies.at(1));
        auto l0 = detail::normal_log_prob(c0, -1.0, s0) + std::log(a.stats.frequencies.at(0));
        r.probability = torch::sigmoid(l1 - l0);
        r.value = (r.probability >= 0.5).to(z.scalar_type());
      } else if (a.kind == AttributeKind::categorical) {
        auto logits = class_log_probs(c, a) + log_frequencies(a, z);
        r.probability = torch::softmax(logits, 1);
        r.value = logits.argmax(1);
      } else {
        const double range = a.stats.max - a.stats.min;
        r.value = a.stats.min + (c.select(1, 0) + 1.0) * (0.5 * range);
      }
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  torch::Tensor style_log_prob(const torch::Tensor& z) const {
    const int64_t k = schema_.label_dim();
    auto s = z.narrow(1, k, dim_ - k);
    return (-0.5 * s.pow(2) - detail::half_log_2pi).sum(1);
  }

  // (N, C): log N(c | class k) for every class k: +1 at coordinate k, -1 elsewhere.
  torch::Tensor class_log_probs(const torch::Tensor& c, const Attribute&) const {
    const double s = options_.sigma();
    auto lp_minus = detail::normal_log_prob(c, -1.0, s);
    auto lp_plus = detail::normal_log_prob(c, 1.0, s);
    return lp_minus.sum(1, /*keepdim=*/true) + (lp_plus - lp_minus);
  }

  static torch::Tensor log_frequencies(const Attribute& a, const torch::Tensor& like) {
    return torch::tensor(a.stats.frequencies, torch::TensorOptions().dtype(torch::kFloat64))
        .to(like.device(), like.scalar_type())
        .log();
  }

  torch::Tensor known_log_prob(const torch::Tensor& z, const Attribute& a, const torch::Tensor& y) const {
    auto c = z.narrow(1, a.offset, a.width());
    switch (a.kind) {
      case AttributeKind::binary: {
        auto [s0, s1] = binary_sigmas(a);
        auto c0 = c.select(1, 0);
        return torch::where(y > 0.5, detail::normal_log_prob(c0, 1.0, s1), detail::normal_log_prob(c0, -1.0, s0));
      }
      case AttributeKind::categorical: {
        auto idx = y.clamp(0, static_cast<double>(a.width() - 1)).to(torch::kInt64).unsqueeze(1);
        return class_log_probs(c, a).gather(1, idx).squeeze(1);
      }
      case AttributeKind::continuous: {
        const double range = a.stats.max - a.stats.min;
        auto target = range > 0 ? (y - a.stats.min) * (2.0 / range) - 1.0 : torch::zeros_like(y);
        return detail::normal_log_prob(c.select(1, 0), target, options_.sigma());
      }
    }
    return {};
  }

  torch::Tensor marginal_log_prob(const torch::Tensor& z, const Attribute& a) const {
    auto c = z.narrow(1, a.offset, a.width());
    switch (a.kind) {
      case AttributeKind::binary: {
        auto [s0, s1] = binary_sigmas(a);
        auto c0 = c.select(1, 0);
        auto l1 = detail::normal_log_prob(c0, 1.0, s1) + std::log(a.stats.frequencies.at(1));
        auto l0 = detail::normal_log_prob(c0, -1.0, s0) + std::log(a.stats.frequencies.at(0));
        return torch::logsumexp(torch::stack({l0, l1}, 1), 1);
      }
      case AttributeKind::categorical:
        return torch::logsumexp(class_log_probs(c, a) + log_frequencies(a, z), 1);
      case AttributeKind::continuous: {
        const double s = std::sqrt(a.stats.normalized_var + options_.sigma() * options_.sigma());
        return detail::normal_log_prob(c.select(1, 0), a.stats.normalized_mean, s);
      }
    }
    return {};
  }

  Schema schema_;
  int64_t dim_;
  PriorOptions options_;
};

}  // namespace plugen
