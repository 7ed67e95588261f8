#pragma once
/// @file
/// The inverse of the monotone step for one coordinate, shared by the LibTorch path (CPU tensors) and the Eigen
/// path. Torch-free.

#include <cmath>

namespace plugen::detail {

/// Solves y = x + a tanh((x - m) / s) for x, where k = expm1(b) and a = s k (so the map is increasing:
/// dy/dx = 1 + k sech^2(...) > 0). Newton steps kept inside a bracket that starts as [y - |a|, y + |a|] and
/// shrinks with every evaluation; a step that would leave it bisects instead. It stops when a step no longer
/// moves x, which Newton reaches in a few steps and bisection within the type's precision (64 halvings take
/// any float or double bracket down to adjacent numbers), or when y is not finite (the result then is not
/// either). One tanh per step: about 5 for typical steps, where the 32 (float) or 64 (double) bisection steps
/// this replaces evaluated 32 or 64, as tensor operations over the whole batch.
template <class T>
T monotone_solve(T y, T a, T m, T s, T k) {
  if (!std::isfinite(y)) return y + a;  // not finite in, not finite out
  T lo = y - std::abs(a), hi = y + std::abs(a);
  T x = y;
  for (int step = 0; step < 200; ++step) {
    const T t = std::tanh((x - m) / s);
    const T f = x + a * t - y;
    if (f == T(0)) break;
    if (f > T(0))
      hi = x;
    else
      lo = x;
    T next = x - f / (T(1) + k * (T(1) - t * t));
    if (!(next > lo && next < hi)) next = lo + (hi - lo) / T(2);
    if (next == x || next <= lo || next >= hi) break;  // the bracket holds no other number
    x = next;
  }
  return x;
}

}  // namespace plugen::detail
