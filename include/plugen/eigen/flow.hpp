#pragma once
/// @file
/// The flow of a trained plugin evaluated with Eigen (no LibTorch): standardization, couplings (affine or
/// additive) with their MLP conditioners, LU-parametrized linear layers and the monotone step, forward and
/// inverse, for any floating-point `Scalar`. The same maps as plugen/flow/ (see there for the math).

#include <Eigen/Dense>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "plugen/core/check.hpp"
#include "plugen/core/detail/cpu.hpp"
#include "plugen/eigen/detail/tensors.hpp"
#include "plugen/flow/detail/kinds.hpp"
#include "plugen/flow/detail/monotone_solve.hpp"
#include "plugen/flow/detail/permutation.hpp"
#include "plugen/flow/partition.hpp"
#include "plugen/plugin/detail/metadata.hpp"

namespace plugen::eigen {

/// Row-major dynamic matrix: a batch of rows, one sample (or one flow row) per row, like a (N, D) tensor.
template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Dynamic column vector: one value per row of a batch, like a (N,) tensor.
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
/// Dynamic row vector: one value per coordinate, like a (D,) tensor.
template <class Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

namespace detail {

/// Applies the conditioner nonlinearity to `h` in place (LibTorch's definitions: leaky_relu x or slope*x,
/// elu with alpha 1, exact (erf) gelu, silu x*sigmoid(x)).
template <class Scalar>
void activate(Matrix<Scalar>& h, Activation activation, Scalar slope) {
  auto a = h.array();
  switch (activation) {
    case Activation::relu:
      a = a.max(Scalar(0));
      break;
    case Activation::leaky_relu:
      a = (a > Scalar(0)).select(a, a * slope);
      break;
    case Activation::tanh:
      a = a.tanh();
      break;
    case Activation::elu:
      a = (a > Scalar(0)).select(a, a.unaryExpr([](Scalar x) { return std::expm1(x); }));
      break;
    case Activation::gelu:
      a = a.unaryExpr([](Scalar x) { return Scalar(0.5) * x * (Scalar(1) + std::erf(x * Scalar(M_SQRT1_2))); });
      break;
    case Activation::silu:
      a = a / (Scalar(1) + (-a).exp());
      break;
  }
}

/// One linear layer y = x W^T + b, stored as W^T (in, out) so one input row scales contiguous rows of it.
template <class Scalar>
struct Dense {
  /// Transposed weight W^T, (in, out).
  Matrix<Scalar> weight_t;
  /// Bias b, (out,).
  RowVector<Scalar> bias;
};

/// Rows up to which `apply_dense` runs one row at a time through `affine_row` instead of a matrix product.
inline constexpr Eigen::Index small_batch = 4;

/// y = b + sum_i x_i W^T[i, :] for one row: axpy over the rows of W^T (vectorizes without reassociating sums).
template <class T>
inline void affine_row(const T* x, const T* weight_t, const T* bias, T* y, Eigen::Index in, Eigen::Index out) {
  for (Eigen::Index o = 0; o < out; ++o) y[o] = bias[o];
  for (Eigen::Index i = 0; i < in; ++i) {
    const T xi = x[i];
    const T* w = weight_t + i * out;
    for (Eigen::Index o = 0; o < out; ++o) y[o] += xi * w[o];
  }
}

#if defined(PLUGEN_HAVE_AVX2_KERNELS)
/// `affine_row` compiled for AVX2 and FMA, used when the CPU has them (whatever the flags of the including
/// translation unit): one-row products stream the weights; with SSE2 alone they ran at half the memory bandwidth.
/// Four rows of W^T per pass over y: y is loaded and stored a quarter as often (10% faster on the official preset,
/// where the loop then streams the weights at about 90 GB/s from the L3 cache).
__attribute__((target("avx2,fma"))) inline void affine_row_avx2(const float* x, const float* weight_t,
                                                                const float* bias, float* y, Eigen::Index in,
                                                                Eigen::Index out) {
  for (Eigen::Index o = 0; o < out; ++o) y[o] = bias[o];
  Eigen::Index i = 0;
  for (; i + 4 <= in; i += 4) {
    const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
    const float* w0 = weight_t + i * out;
    const float *w1 = w0 + out, *w2 = w1 + out, *w3 = w2 + out;
    for (Eigen::Index o = 0; o < out; ++o) y[o] += x0 * w0[o] + x1 * w1[o] + x2 * w2[o] + x3 * w3[o];
  }
  for (; i < in; ++i) {
    const float xi = x[i];
    const float* w = weight_t + i * out;
    for (Eigen::Index o = 0; o < out; ++o) y[o] += xi * w[o];
  }
}
#endif

/// y = x W^T + b for a batch of rows: small batches row by row (`affine_row`), larger ones by Eigen's product.
template <class Scalar>
void apply_dense(const Matrix<Scalar>& x, const Dense<Scalar>& d, Matrix<Scalar>& y) {
  const Eigen::Index in = d.weight_t.rows(), out = d.weight_t.cols();
  y.resize(x.rows(), out);
  if (x.rows() > small_batch) {
    y.noalias() = x * d.weight_t;
    y.rowwise() += d.bias;
    return;
  }
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
#if defined(PLUGEN_HAVE_AVX2_KERNELS)
    if constexpr (std::is_same_v<Scalar, float>) {
      if (plugen::detail::cpu_has_avx2_fma()) {
        affine_row_avx2(x.row(r).data(), d.weight_t.data(), d.bias.data(), y.row(r).data(), in, out);
        continue;
      }
    }
#endif
    affine_row(x.row(r).data(), d.weight_t.data(), d.bias.data(), y.row(r).data(), in, out);
  }
}

/// Column indices as Eigen wants them for indexed views.
inline std::vector<Eigen::Index> eigen_indices(const std::vector<int64_t>& v) {
  return std::vector<Eigen::Index>(v.begin(), v.end());
}

}  // namespace detail

/// The per-dimension standardization u = (w - mean) / std of a plugin (see `plugen::Standardize`).
template <class Scalar>
class Standardize {
 public:
  /// A map with the given (dim,) mean and positive std.
  Standardize(RowVector<Scalar> mean, RowVector<Scalar> std) : mean_(std::move(mean)), std_(std::move(std)) {
    log_det_ = -std_.array().log().sum();
  }
  /// u = (w - mean) / std, row by row.
  Matrix<Scalar> forward(const Matrix<Scalar>& w) const {
    return ((w.rowwise() - mean_).array().rowwise() / std_.array()).matrix();
  }
  /// w = u * std + mean, row by row.
  Matrix<Scalar> inverse(const Matrix<Scalar>& u) const {
    return ((u.array().rowwise() * std_.array()).rowwise() + mean_.array()).matrix();
  }
  /// log|det| of the forward map (the same for every row): -sum(log std).
  Scalar log_det() const { return log_det_; }
  /// The per-dimension mean.
  const RowVector<Scalar>& mean() const { return mean_; }
  /// The per-dimension standard deviation.
  const RowVector<Scalar>& std() const { return std_; }

 private:
  RowVector<Scalar> mean_, std_;
  Scalar log_det_ = 0;
};

/// A plugin's flow z = F(u) evaluated with Eigen: LU layers, affine or additive couplings, monotone step, read
/// from a plugin file's tensors. Forward returns z and log|det dz/du| per row; inverse is exact up to rounding.
/// Immutable once built: every method is const and may run on several threads at once.
/// @tparam Scalar `float` or `double` (any Eigen floating-point scalar): the arithmetic type.
template <class Scalar>
class Flow {
 public:
  /// Reads the flow described by `spec` from `tensors` (names as `load_plugin` expects: flow.partition{k}.kept,
  /// flow.linear{k}.{lu,log_s,sign,perm} (sign and perm from format 2 on), flow.coupling{k}.conditioner.linear{l}.
  /// {weight,bias}, flow.monotone.{b,m,r}), stored with the safetensors dtype `dtype`, in plugin file format
  /// `format_version`. Every problem is an IoError naming `who` and the tensor.
  static Flow read(const plugen::detail::FlowSpec& spec, detail::TensorTable& tensors, std::string_view dtype,
                   const std::string& who, int format_version = plugin_format_version) {
    Flow f;
    f.spec_ = spec;
    std::vector<std::pair<size_t, size_t>> splits;
    std::vector<Partition> partitions;
    for (int64_t k = 0; k < spec.couplings; ++k) {
      const auto name = fmt::format("flow.partition{}.kept", k);
      auto kept = tensors.indices(name);
      try {
        partitions.push_back(Partition::from_kept(spec.dim, std::move(kept)));
      } catch (const ConfigError& e) {
        throw IoError(fmt::format("{}: tensor '{}' is not a valid partition: {}", who, name, e.what()));
      }
      splits.emplace_back(partitions.back().kept.size(), partitions.back().changed.size());
    }
    plugen::detail::check_plugin_parameter_bound(spec, splits, tensors.values(), who);
    const int64_t per = spec.kind == FlowKind::affine ? 2 : 1;
    for (int64_t k = 0; k < spec.couplings; ++k) {
      const auto& p = partitions[static_cast<size_t>(k)];
      if (spec.has_linear(k))
        f.linears_.push_back(
            read_linear(tensors, fmt::format("flow.linear{}", k), spec.dim, dtype, format_version, who));
      else
        f.linears_.emplace_back();
      Coupling c;
      c.kept = detail::eigen_indices(p.kept);
      c.changed = detail::eigen_indices(p.changed);
      int64_t width = static_cast<int64_t>(p.kept.size());
      for (int64_t l = 0; l < spec.layers; ++l) {
        const bool last = l + 1 == spec.layers;
        const int64_t next = last ? per * static_cast<int64_t>(p.changed.size()) : spec.hidden;
        const auto prefix = fmt::format("flow.coupling{}.conditioner.linear{}", k, l);
        detail::Dense<Scalar> d;
        const auto weight = tensors.floats<Scalar>(prefix + ".weight", {next, width}, dtype);
        d.weight_t = Eigen::Map<const Matrix<Scalar>>(weight.data(), next, width).transpose();
        d.bias =
            Eigen::Map<const RowVector<Scalar>>(tensors.floats<Scalar>(prefix + ".bias", {next}, dtype).data(), next);
        c.layers.push_back(std::move(d));
        width = next;
      }
      f.couplings_.push_back(std::move(c));
    }
    if (spec.monotone) {
      auto b = tensors.floats<double>("flow.monotone.b", {spec.dim}, dtype);
      auto m = tensors.floats<Scalar>("flow.monotone.m", {spec.dim}, dtype);
      auto r = tensors.floats<Scalar>("flow.monotone.r", {spec.dim}, dtype);
      Monotone mono;
      mono.m = Eigen::Map<const RowVector<Scalar>>(m.data(), spec.dim).array();
      mono.s.resize(spec.dim);
      mono.a.resize(spec.dim);
      mono.expm1_b.resize(spec.dim);
      for (int64_t i = 0; i < spec.dim; ++i) {
        // As LibTorch computes them, in the plugin's dtype: s = softplus(r) + 1e-3 (softplus(x) = x above 20).
        const Scalar ri = r[static_cast<size_t>(i)];
        const Scalar s = (ri > Scalar(20) ? ri : std::log1p(std::exp(ri))) + Scalar(1e-3);
        const Scalar e = std::expm1(static_cast<Scalar>(b[static_cast<size_t>(i)]));
        mono.s[i] = s;
        mono.expm1_b[i] = e;
        mono.a[i] = s * e;
      }
      f.monotone_ = std::move(mono);
      f.has_monotone_ = true;
    }
    return f;
  }

  /// The flow's options as stored in the plugin file.
  const plugen::detail::FlowSpec& spec() const { return spec_; }
  /// Width D.
  int64_t dim() const { return spec_.dim; }

  /// Maps u (N, D) to (z, log|det dz/du|).
  std::pair<Matrix<Scalar>, Vector<Scalar>> forward(const Matrix<Scalar>& u) const {
    Matrix<Scalar> x = u;
    Vector<Scalar> log_det = Vector<Scalar>::Zero(u.rows());
    for (size_t k = 0; k < couplings_.size(); ++k) {
      if (linears_[k].present) {
        Matrix<Scalar> y;
        detail::apply_dense(x, linears_[k].forward, y);
        x.swap(y);
        log_det.array() += linears_[k].log_det;
      }
      couplings_[k].template apply<true>(x, log_det, spec_);
    }
    if (has_monotone_) {
      const auto& mo = monotone_;
      Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> t =
          ((x.array().rowwise() - mo.m).rowwise() / mo.s).tanh();
      x.array() += t.rowwise() * mo.a;
      log_det.array() += ((Scalar(1) - t * t).rowwise() * mo.expm1_b).log1p().rowwise().sum();
    }
    return {std::move(x), std::move(log_det)};
  }

  /// Maps z (N, D) back to u.
  Matrix<Scalar> inverse(const Matrix<Scalar>& z) const {
    Matrix<Scalar> x = has_monotone_ ? monotone_inverse(z) : z;
    Vector<Scalar> unused;
    for (size_t k = couplings_.size(); k-- > 0;) {
      couplings_[k].template apply<false>(x, unused, spec_);
      if (linears_[k].present) {
        Matrix<Scalar> y;
        detail::apply_dense(x, linears_[k].inverse, y);
        x.swap(y);
      }
    }
    return x;
  }

 private:
  struct Linear {
    bool present = false;
    detail::Dense<Scalar> forward;  // x W^T with W = L (U + diag(exp(log_s))), zero bias
    detail::Dense<Scalar> inverse;  // y W^-T, zero bias
    Scalar log_det = 0;             // sum(log_s)
  };

  struct Monotone {
    Eigen::Array<Scalar, 1, Eigen::Dynamic> m, s, a, expm1_b;
  };

  struct Coupling {
    std::vector<Eigen::Index> kept, changed;
    std::vector<detail::Dense<Scalar>> layers;

    Matrix<Scalar> conditioner(const Matrix<Scalar>& xa, const plugen::detail::FlowSpec& spec) const {
      Matrix<Scalar> h = xa;
      for (size_t l = 0; l < layers.size(); ++l) {
        Matrix<Scalar> next;
        detail::apply_dense(h, layers[l], next);
        if (l + 1 < layers.size()) detail::activate(next, spec.activation, static_cast<Scalar>(spec.negative_slope));
        h.swap(next);
      }
      return h;
    }

    // Forward (y_b = x_b exp(log_s) + t, log_det += sum log_s) or inverse (x_b = (y_b - t) exp(-log_s)), in place.
    template <bool Forward>
    void apply(Matrix<Scalar>& x, Vector<Scalar>& log_det, const plugen::detail::FlowSpec& spec) const {
      const Matrix<Scalar> xa = x(Eigen::all, kept);
      const Matrix<Scalar> h = conditioner(xa, spec);
      const auto nb = static_cast<Eigen::Index>(changed.size());
      if (spec.kind == FlowKind::additive) {
        if constexpr (Forward)
          x(Eigen::all, changed) += h;
        else
          x(Eigen::all, changed) -= h;
        return;
      }
      const auto bound = static_cast<Scalar>(spec.scale_bound);
      const Matrix<Scalar> log_s = ((h.leftCols(nb).array() / bound).tanh() * bound).matrix();
      Matrix<Scalar> xb = x(Eigen::all, changed);
      if constexpr (Forward) {
        xb = (xb.array() * log_s.array().exp() + h.rightCols(nb).array()).matrix();
        log_det += log_s.rowwise().sum();
      } else {
        xb = ((xb - h.rightCols(nb)).array() * (-log_s.array()).exp()).matrix();
      }
      x(Eigen::all, changed) = xb;
    }
  };

  static Linear read_linear(detail::TensorTable& tensors, const std::string& prefix, int64_t dim,
                            std::string_view dtype, int format_version, const std::string& who) {
    // Factors in double, then rounded once to Scalar: W = P L U' with L unit lower, U' = triu(lu, 1) +
    // diag(sign * exp(log_s)), and P the fixed row permutation (format 1: identity and +1 signs).
    auto lu = tensors.floats<double>(prefix + ".lu", {dim, dim}, dtype);
    auto log_s = tensors.floats<double>(prefix + ".log_s", {dim}, dtype);
    std::vector<double> sign(static_cast<size_t>(dim), 1.0);
    std::vector<int64_t> perm(static_cast<size_t>(dim));
    for (int64_t i = 0; i < dim; ++i) perm[static_cast<size_t>(i)] = i;
    if (format_version >= 2) {
      sign = tensors.floats<double>(prefix + ".sign", {dim}, dtype);
      for (const double v : sign)
        PLUGEN_CHECK(v == 1.0 || v == -1.0, IoError, "{}: tensor '{}.sign' must hold only +1 and -1", who, prefix);
      perm = tensors.indices(prefix + ".perm");
      try {
        plugen::detail::inverse_permutation(perm, dim, "InvertibleLinear");
      } catch (const ConfigError& e) {
        throw IoError(fmt::format("{}: tensor '{}.perm' is not a permutation: {}", who, prefix, e.what()));
      }
    }
    const Eigen::Map<const Matrix<double>> packed(lu.data(), dim, dim);
    Matrix<double> lower = Matrix<double>::Identity(dim, dim);
    lower.template triangularView<Eigen::StrictlyLower>() = packed;
    Matrix<double> upper = Matrix<double>::Zero(dim, dim);
    upper.template triangularView<Eigen::StrictlyUpper>() = packed;
    double sum = 0;
    for (int64_t i = 0; i < dim; ++i) {
      upper(i, i) = sign[static_cast<size_t>(i)] * std::exp(log_s[static_cast<size_t>(i)]);
      sum += log_s[static_cast<size_t>(i)];
    }
    Linear out;
    out.present = true;
    // Row i of W is row perm[i] of L U'.
    const Matrix<double> lu_product = lower * upper;
    Matrix<double> w(dim, dim);
    for (int64_t i = 0; i < dim; ++i) w.row(i) = lu_product.row(perm[static_cast<size_t>(i)]);
    out.forward.weight_t = w.transpose().template cast<Scalar>();
    out.forward.bias = RowVector<Scalar>::Zero(dim);
    // (L U')^-1 by two triangular solves against the identity; W^-1 = (L U')^-1 P^T: column i of W^-1 is
    // column perm[i] of (L U')^-1.
    Matrix<double> inv_lu = lower.template triangularView<Eigen::UnitLower>().solve(Matrix<double>::Identity(dim, dim));
    inv_lu = upper.template triangularView<Eigen::Upper>().solve(inv_lu);
    Matrix<double> inv(dim, dim);
    for (int64_t i = 0; i < dim; ++i) inv.col(i) = inv_lu.col(perm[static_cast<size_t>(i)]);
    out.inverse.weight_t = inv.transpose().template cast<Scalar>();
    out.inverse.bias = RowVector<Scalar>::Zero(dim);
    out.log_det = static_cast<Scalar>(sum);
    return out;
  }

  // Solves y = x + a tanh((x - m) / s) per element (plugen::detail::monotone_solve, as the LibTorch path does).
  Matrix<Scalar> monotone_inverse(const Matrix<Scalar>& y) const {
    const auto& mo = monotone_;
    Matrix<Scalar> x(y.rows(), y.cols());
    for (Eigen::Index r = 0; r < y.rows(); ++r)
      for (Eigen::Index j = 0; j < y.cols(); ++j)
        x(r, j) = plugen::detail::monotone_solve(y(r, j), mo.a[j], mo.m[j], mo.s[j], mo.expm1_b[j]);
    return x;
  }

  plugen::detail::FlowSpec spec_;
  std::vector<Linear> linears_;
  std::vector<Coupling> couplings_;
  Monotone monotone_;
  bool has_monotone_ = false;
};

}  // namespace plugen::eigen
