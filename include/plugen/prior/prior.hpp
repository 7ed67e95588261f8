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
/// log N(x; mu, s) elementwise for a scalar mean and standard deviation.
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
    return terms(z, labels.values.to(z.device(), z.scalar_type()), labels.mask.to(z.device()));
  }

  /// log p(z) per row under the marginal prior (every label unknown), (N,).
  torch::Tensor marginal_log_prob(const torch::Tensor& z) const {
    check_batch(z, dim_, z.scalar_type(), "TargetPrior::marginal_log_prob");
    return terms(z, torch::zeros({z.size(0), schema_.size()}, z.options()),
                 torch::zeros({z.size(0), schema_.size()}, z.options().dtype(torch::kBool)));
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
  // log p(z | y, m) per row. Binary and continuous attributes take one coordinate each: their terms are computed
  // for all attributes of a kind at once (a few tensor operations instead of a dozen per attribute, which keeps
  // the autograd graph of a training step small). Categorical ones, of different widths, one by one.
  torch::Tensor terms(const torch::Tensor& z, const torch::Tensor& values, const torch::Tensor& mask) const {
    auto total = style_log_prob(z) + binary_log_prob(z, values, mask) + continuous_log_prob(z, values, mask);
    for (int64_t i = 0; i < schema_.size(); ++i) {
      const auto& a = schema_[i];
      if (a.kind != AttributeKind::categorical) continue;
      auto c = z.narrow(1, a.offset, a.width());
      auto log_p = class_log_probs(c, a);
      auto idx = values.select(1, i).clamp(0, static_cast<double>(a.width() - 1)).to(torch::kInt64).unsqueeze(1);
      auto known = log_p.gather(1, idx).squeeze(1);
      auto missing = torch::logsumexp(log_p + log_frequencies(a, z), 1);
      total = total + torch::where(mask.select(1, i), known, missing);
    }
    return total;
  }

  // The attributes of one kind (binary or continuous, one coordinate each): their indices in the schema and the
  // columns of their coordinates in z, as index tensors on z's device.
  struct OneCoordinate {
    std::vector<const Attribute*> attributes;
    torch::Tensor index, column;
  };

  OneCoordinate one_coordinate(AttributeKind kind, const torch::Tensor& z) const {
    OneCoordinate k;
    std::vector<int64_t> index, column;
    for (int64_t i = 0; i < schema_.size(); ++i)
      if (schema_[i].kind == kind) {
        k.attributes.push_back(&schema_[i]);
        index.push_back(i);
        column.push_back(schema_[i].offset);
      }
    if (!index.empty()) {
      k.index = torch::tensor(index, torch::kInt64).to(z.device());
      k.column = torch::tensor(column, torch::kInt64).to(z.device());
    }
    return k;
  }

  // A per-attribute constant as a (1, K) row in z's dtype and device.
  template <class F>
  static torch::Tensor row_of(const OneCoordinate& k, const torch::Tensor& z, F&& f) {
    std::vector<double> v;
    for (const auto* a : k.attributes) v.push_back(f(*a));
    return torch::tensor(v, torch::kFloat64).to(z.device(), z.scalar_type()).unsqueeze(0);
  }

  // log N(c; mu, s) elementwise with tensor mu and s (rows of per-attribute constants, or per-element ones).
  static torch::Tensor normal_log_prob_t(const torch::Tensor& c, const torch::Tensor& mu, const torch::Tensor& s) {
    return -0.5 * ((c - mu) / s).pow(2) - (s.log() + detail::half_log_2pi);
  }

  // Sum over binary attributes: known labels N(c; +1, s+) or N(c; -1, s-); unknown ones the frequency-weighted
  // mixture of the two. (N,); zeros without binary attributes.
  torch::Tensor binary_log_prob(const torch::Tensor& z, const torch::Tensor& values, const torch::Tensor& mask) const {
    const auto k = one_coordinate(AttributeKind::binary, z);
    if (k.attributes.empty()) return torch::zeros({z.size(0)}, z.options());
    auto c = z.index_select(1, k.column);
    auto y = values.index_select(1, k.index);
    auto m = mask.index_select(1, k.index);
    const auto s0 = row_of(k, z, [&](const Attribute& a) { return binary_sigmas(a).first; });
    const auto s1 = row_of(k, z, [&](const Attribute& a) { return binary_sigmas(a).second; });
    const auto log_f0 = row_of(k, z, [](const Attribute& a) { return std::log(a.stats.frequencies.at(0)); });
    const auto log_f1 = row_of(k, z, [](const Attribute& a) { return std::log(a.stats.frequencies.at(1)); });
    auto l0 = normal_log_prob_t(c, -torch::ones_like(s0), s0);
    auto l1 = normal_log_prob_t(c, torch::ones_like(s1), s1);
    auto known = torch::where(y > 0.5, l1, l0);
    auto missing = torch::logsumexp(torch::stack({l0 + log_f0, l1 + log_f1}, 0), 0);
    return torch::where(m, known, missing).sum(1);
  }

  // Sum over continuous attributes: known labels N(c; label mapped to [-1, 1], sigma); unknown ones the
  // moment-matched N(c; mean, var + sigma^2). (N,); zeros without continuous attributes.
  torch::Tensor continuous_log_prob(const torch::Tensor& z, const torch::Tensor& values,
                                    const torch::Tensor& mask) const {
    const auto k = one_coordinate(AttributeKind::continuous, z);
    if (k.attributes.empty()) return torch::zeros({z.size(0)}, z.options());
    auto c = z.index_select(1, k.column);
    auto y = values.index_select(1, k.index);
    auto m = mask.index_select(1, k.index);
    // target = (y - min) * 2 / range - 1, or 0 for a constant attribute (range 0).
    const auto low = row_of(k, z, [](const Attribute& a) { return a.stats.min; });
    const auto scale = row_of(k, z, [](const Attribute& a) {
      const double range = a.stats.max - a.stats.min;
      return range > 0 ? 2.0 / range : 0.0;
    });
    const auto shift = row_of(k, z, [](const Attribute& a) { return a.stats.max - a.stats.min > 0 ? -1.0 : 0.0; });
    const double sigma = options_.sigma();
    const auto mean = row_of(k, z, [](const Attribute& a) { return a.stats.normalized_mean; });
    const auto spread = row_of(k, z, [&](const Attribute& a) { return std::sqrt(a.stats.normalized_var + sigma * sigma); });
    auto mu = torch::where(m, (y - low) * scale + shift, mean);
    auto s = torch::where(m, torch::full_like(spread, sigma), spread);
    return normal_log_prob_t(c, mu, s).sum(1);
  }

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

  Schema schema_;
  int64_t dim_;
  PriorOptions options_;
};

}  // namespace plugen
