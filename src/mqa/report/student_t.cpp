#include "mqa/report/student_t.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace mqa {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Continued fraction of the regularized incomplete beta function I_x(a, b), evaluated by the modified Lentz method;
// converges quickly for x < (a + 1) / (a + b + 2) (the caller swaps the arguments otherwise).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, eps = 1e-15;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::abs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double f = d;
  for (int m = 1; m <= 10000; ++m) {
    // Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
    double num = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
    d = 1.0 + num * d;
    c = 1.0 + num / c;
    if (std::abs(d) < tiny) d = tiny;
    if (std::abs(c) < tiny) c = tiny;
    d = 1.0 / d;
    f *= d * c;
    // Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    num = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
    d = 1.0 + num * d;
    c = 1.0 + num / c;
    if (std::abs(d) < tiny) d = tiny;
    if (std::abs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    f *= delta;
    if (std::abs(delta - 1.0) < eps) break;
  }
  return f;
}

// I_x(a, b) = B(x; a, b) / B(a, b).
double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  return 1.0 - std::exp(log_front) * beta_continued_fraction(b, a, 1.0 - x) / b;
}

}  // namespace

double student_t_cdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("student_t_cdf: degrees of freedom must be positive");
  if (std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  // P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2).
  const double tail = 0.5 * regularized_incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
  return t > 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: p must lie in (0, 1)");
  if (!(df > 0)) throw std::invalid_argument("student_t_quantile: degrees of freedom must be positive");
  if (p == 0.5) return 0.0;
  if (p < 0.5) return -student_t_quantile(1.0 - p, df);
  // The cdf is increasing: widen a bracket [0, hi] until it holds p, then bisect to the last bit.
  double lo = 0.0, hi = 1.0;
  while (student_t_cdf(hi, df) < p) {
    lo = hi;
    hi *= 2.0;
  }
  for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

MeanInterval mean_interval(const std::vector<double>& values, double confidence) {
  MeanInterval m;
  m.mean = m.sd = m.half_width = kNaN;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++m.n;
  if (m.n == 0) return m;
  m.mean = sum / m.n;
  if (m.n < 2) return m;
  double ss = 0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - m.mean) * (v - m.mean);
  m.sd = std::sqrt(ss / (m.n - 1));
  m.half_width = student_t_quantile(0.5 + confidence / 2, m.n - 1) * m.sd / std::sqrt(m.n);
  return m;
}

WelchTest welch_test(const std::vector<double>& a, const std::vector<double>& b, double confidence) {
  const MeanInterval x = mean_interval(a, confidence), y = mean_interval(b, confidence);
  WelchTest w{x.mean - y.mean, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  if (x.n < 2 || y.n < 2) return w;
  const double va = x.sd * x.sd / x.n, vb = y.sd * y.sd / y.n;
  w.standard_error = std::sqrt(va + vb);
  if (w.standard_error == 0) {
    w.lo = w.hi = w.difference;
    w.p_two_sided = w.difference == 0 ? 1.0 : 0.0;
    return w;
  }
  // Welch-Satterthwaite: df = (va + vb)^2 / (va^2 / (na - 1) + vb^2 / (nb - 1)).
  w.df = (va + vb) * (va + vb) / (va * va / (x.n - 1) + vb * vb / (y.n - 1));
  w.t = w.difference / w.standard_error;
  w.p_two_sided = 2.0 * student_t_cdf(-std::abs(w.t), w.df);
  const double half = student_t_quantile(0.5 + confidence / 2, w.df) * w.standard_error;
  w.lo = w.difference - half;
  w.hi = w.difference + half;
  return w;
}

}  // namespace mqa
