// Small-sample statistics for `mqa report`: Student's t distribution, the confidence interval of a mean over seeds,
// and Welch's t-test of a difference of two means (unequal variances). Three seeds a row leave 2 degrees of
// freedom, where the normal approximation would understate the interval by half (t 4.30 against z 1.96).
#pragma once
#include <vector>

namespace mqa {

// P(T <= t) for Student's t with df > 0 degrees of freedom (df need not be an integer: Welch's df is not).
double student_t_cdf(double t, double df);

// The t with P(T <= t) = p, 0 < p < 1.
double student_t_quantile(double p, double df);

// Mean of the finite values with its two-sided confidence interval mean +- half_width (Student t over n - 1
// degrees of freedom; half_width is NaN for n < 2). NaN values (missing runs) are left out.
struct MeanInterval {
  int n = 0;
  double mean, sd, half_width;  // sd: sample standard deviation (n - 1 in the denominator)
  double lo() const { return mean - half_width; }
  double hi() const { return mean + half_width; }
};
MeanInterval mean_interval(const std::vector<double>& values, double confidence = 0.95);

// Welch's t-test of mean(a) - mean(b): the difference, its standard error, the Welch-Satterthwaite degrees of
// freedom, t, the two-sided p-value and the confidence interval of the difference. Needs two finite values on each
// side (otherwise every field but `difference` is NaN). When both samples have zero variance the difference is
// exact: the interval is the point itself and p is 0 (different means) or 1 (equal ones).
struct WelchTest {
  double difference, standard_error, df, t, p_two_sided, lo, hi;
};
WelchTest welch_test(const std::vector<double>& a, const std::vector<double>& b, double confidence = 0.95);

}  // namespace mqa
