#include "mqa/data/position_fit.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "mqa/data/prepare.h"

namespace mqa {

namespace {

bool fits(const Dataset& data, int64_t i, int64_t max_positions) {
  return data.source_length(i) <= max_positions && data.target_length(i) <= longest_fitting_target(max_positions);
}

// The examples `ids` of `base`, renumbered 0 .. ids.size() - 1.
class ExampleSubset final : public Dataset {
 public:
  ExampleSubset(std::shared_ptr<const Dataset> base, std::vector<int64_t> ids)
      : base_(std::move(base)), ids_(std::move(ids)) {
    pad_id = base_->pad_id;
    unk_id = base_->unk_id;
    bos_id = base_->bos_id;
    eos_id = base_->eos_id;
  }
  bool is_lm() const override { return base_->is_lm(); }
  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  std::vector<int32_t> source(int64_t i) const override { return base_->source(ids_[i]); }
  std::vector<int32_t> target(int64_t i) const override { return base_->target(ids_[i]); }
  int64_t source_length(int64_t i) const override { return base_->source_length(ids_[i]); }
  int64_t target_length(int64_t i) const override { return base_->target_length(ids_[i]); }
  void copy_source(int64_t i, int64_t* dst) const override { base_->copy_source(ids_[i], dst); }
  void copy_target(int64_t i, int64_t* dst) const override { base_->copy_target(ids_[i], dst); }
  void release_pages() const override { base_->release_pages(); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> ids_;
};

}  // namespace

int64_t longest_fitting_target(int64_t max_positions) { return max_positions - 1; }

PositionFit check_position_fit(const Dataset& data, int64_t max_positions) {
  PositionFit fit;
  fit.examples = data.size();
  if (data.is_lm()) return fit;
  for (int64_t i = 0; i < fit.examples; ++i) {
    fit.longest_source = std::max(fit.longest_source, data.source_length(i));
    fit.longest_target = std::max(fit.longest_target, data.target_length(i));
    if (!fits(data, i, max_positions)) ++fit.too_long;
  }
  return fit;
}

std::shared_ptr<const Dataset> keep_fitting_examples(std::shared_ptr<const Dataset> data, int64_t max_positions,
                                                     int64_t* dropped) {
  if (dropped) *dropped = 0;
  if (!data || data->is_lm() || check_position_fit(*data, max_positions).too_long == 0) return data;
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(data->size()));
  for (int64_t i = 0; i < data->size(); ++i)
    if (fits(*data, i, max_positions)) ids.push_back(i);
  if (dropped) *dropped = data->size() - static_cast<int64_t>(ids.size());
  return std::make_shared<ExampleSubset>(std::move(data), std::move(ids));
}

void check_prepared_fits_model(const Config& config) {
  if (config.model.type != "seq2seq") return;
  const int64_t positions = config.model.max_positions;
  for (const char* split : {"train", "valid"}) {
    auto data = Dataset::open(config.data, config.model.type, split);
    const PositionFit fit = check_position_fit(*data, positions);
    if (fit.too_long == 0) continue;
    throw std::runtime_error(fmt::format(
        "{}: {} of the {} {} pairs do not fit model.max_positions ({}): the longest source has {} tokens (at most "
        "{} fit), the longest target {} (at most {} fit, the decoder adds bos). The directory was prepared with a "
        "larger data.max_len, or before `mqa prepare` filtered every split. Re-prepare it: delete {} and run "
        "`mqa prepare CONFIG` with data.max_len <= {}",
        config.data.dir, fit.too_long, fit.examples, split, positions, fit.longest_source, positions,
        fit.longest_target, longest_fitting_target(positions), prepared_marker_path(config.data),
        longest_fitting_target(positions)));
  }
}

}  // namespace mqa
