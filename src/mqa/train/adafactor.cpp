#include "mqa/train/adafactor.h"

#include <cmath>

#include "mqa/train/optimizer_state_key.h"

namespace mqa {

namespace {

torch::Tensor rms(const torch::Tensor& x) { return x.pow(2).mean().sqrt(); }

void write_double(torch::serialize::OutputArchive& a, const std::string& k, double v) { a.write(k, c10::IValue(v)); }
double read_double(torch::serialize::InputArchive& a, const std::string& k) {
  c10::IValue v;
  a.read(k, v);
  return v.toDouble();
}

}  // namespace

void AdafactorOptions::serialize(torch::serialize::OutputArchive& a) const {
  write_double(a, "lr", lr());
  write_double(a, "beta1", beta1());
  write_double(a, "decay_rate", decay_rate());
  write_double(a, "clip_threshold", clip_threshold());
  write_double(a, "eps1", eps1());
  write_double(a, "eps2", eps2());
  write_double(a, "weight_decay", weight_decay());
  a.write("scale_parameter", c10::IValue(scale_parameter()));
  a.write("relative_step", c10::IValue(relative_step()));
}

void AdafactorOptions::serialize(torch::serialize::InputArchive& a) {
  lr(read_double(a, "lr"));
  beta1(read_double(a, "beta1"));
  decay_rate(read_double(a, "decay_rate"));
  clip_threshold(read_double(a, "clip_threshold"));
  eps1(read_double(a, "eps1"));
  eps2(read_double(a, "eps2"));
  weight_decay(read_double(a, "weight_decay"));
  c10::IValue v;
  a.read("scale_parameter", v);
  scale_parameter(v.toBool());
  a.read("relative_step", v);
  relative_step(v.toBool());
}

void AdafactorParamState::serialize(torch::serialize::OutputArchive& a) const {
  a.write("step", c10::IValue(step()));
  if (exp_avg().defined()) a.write("exp_avg", exp_avg());
  if (exp_avg_sq_row().defined()) a.write("exp_avg_sq_row", exp_avg_sq_row());
  if (exp_avg_sq_col().defined()) a.write("exp_avg_sq_col", exp_avg_sq_col());
  if (exp_avg_sq().defined()) a.write("exp_avg_sq", exp_avg_sq());
}

void AdafactorParamState::serialize(torch::serialize::InputArchive& a) {
  c10::IValue v;
  a.read("step", v);
  step(v.toInt());
  torch::Tensor t;
  if (a.try_read("exp_avg", t)) exp_avg(t);
  torch::Tensor r;
  if (a.try_read("exp_avg_sq_row", r)) exp_avg_sq_row(r);
  torch::Tensor c;
  if (a.try_read("exp_avg_sq_col", c)) exp_avg_sq_col(c);
  torch::Tensor s;
  if (a.try_read("exp_avg_sq", s)) exp_avg_sq(s);
}

Adafactor::Adafactor(std::vector<torch::optim::OptimizerParamGroup> param_groups, AdafactorOptions defaults)
    : Optimizer(std::move(param_groups), std::make_unique<AdafactorOptions>(defaults)) {
  TORCH_CHECK(defaults.lr() >= 0, "Adafactor: invalid learning rate ", defaults.lr());
  TORCH_CHECK(defaults.beta1() >= 0 && defaults.beta1() < 1, "Adafactor: beta1 must be in [0, 1), got ",
              defaults.beta1());
  TORCH_CHECK(defaults.clip_threshold() > 0, "Adafactor: clip_threshold must be > 0");
}

torch::Tensor Adafactor::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    auto& o = static_cast<AdafactorOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "Adafactor does not support sparse gradients");
      auto grad = p.grad().to(torch::kFloat32);
      const bool factored = p.dim() >= 2;
      auto& slot = state_[optimizer_state_key(p)];
      if (!slot) {
        auto s = std::make_unique<AdafactorParamState>();
        auto opts = grad.options();
        if (o.beta1() > 0) s->exp_avg(torch::zeros_like(grad));
        if (factored) {
          auto row_shape = grad.sizes().vec();
          row_shape.pop_back();  // [..., R]
          auto col_shape = grad.sizes().vec();
          col_shape.erase(col_shape.end() - 2);  // [..., C]
          s->exp_avg_sq_row(torch::zeros(row_shape, opts));
          s->exp_avg_sq_col(torch::zeros(col_shape, opts));
        } else {
          s->exp_avg_sq(torch::zeros_like(grad));
        }
        slot = std::move(s);
      }
      auto& st = static_cast<AdafactorParamState&>(*slot);
      st.step(st.step() + 1);
      const double t = static_cast<double>(st.step());

      auto p32 = p.scalar_type() == torch::kFloat32 ? p : p.to(torch::kFloat32);
      double lr = o.relative_step() ? std::min(1e-2, 1.0 / std::sqrt(t)) : o.lr();
      torch::Tensor alpha;  // [] fp32 on the parameter's device: lr * parameter scale (no host sync)
      if (o.scale_parameter())
        alpha = rms(p32).clamp_min(o.eps2()).mul(lr);
      else
        alpha = torch::full({}, lr, p32.options());
      const double beta2t = 1.0 - std::pow(t, -o.decay_rate());

      auto update = grad.pow(2).add_(o.eps1());
      if (factored) {
        auto& row = st.exp_avg_sq_row();
        auto& col = st.exp_avg_sq_col();
        row.mul_(beta2t).add_(update.mean(-1), 1.0 - beta2t);  // [..., R]
        col.mul_(beta2t).add_(update.mean(-2), 1.0 - beta2t);  // [..., C]
        // v_hat = row * col / mean(row): r_factor [..., R, 1] times c_factor [..., 1, C], both as rsqrt.
        auto r_factor = (row / row.mean(-1, /*keepdim=*/true)).rsqrt_().unsqueeze(-1);
        auto c_factor = col.unsqueeze(-2).rsqrt();
        update = r_factor.mul(c_factor).mul_(grad);
      } else {
        auto& v = st.exp_avg_sq();
        v.mul_(beta2t).add_(update, 1.0 - beta2t);
        update = v.rsqrt().mul_(grad);
      }
      update.div_((rms(update) / o.clip_threshold()).clamp_min_(1.0));
      update.mul_(alpha);
      if (o.beta1() > 0) {
        auto& m = st.exp_avg();
        m.mul_(o.beta1()).add_(update, 1.0 - o.beta1());
        update = m;
      }
      if (o.weight_decay() != 0) p32.sub_(p32 * alpha * o.weight_decay());
      p32.sub_(update);
      if (!p32.is_same(p)) p.copy_(p32);
    }
  }
  return loss;
}

const AdafactorParamState* Adafactor::state_of(const torch::Tensor& p) const {
  auto it = state_.find(optimizer_state_key(p));
  return it == state_.end() ? nullptr : static_cast<const AdafactorParamState*>(it->second.get());
}

void Adafactor::save(torch::serialize::OutputArchive& archive) const {
  archive.write("optimizer", c10::IValue(std::string("adafactor")));
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    torch::serialize::OutputArchive group_archive(archive.compilation_unit());
    group.options().serialize(group_archive);
    archive.write("group" + std::to_string(g) + "/options", group_archive);
    for (size_t i = 0; i < group.params().size(); ++i) {
      const auto& p = group.params()[i];
      auto it = state_.find(optimizer_state_key(p));
      if (it == state_.end()) continue;
      torch::serialize::OutputArchive param_archive(archive.compilation_unit());
      it->second->serialize(param_archive);
      param_archive.write("shape", torch::tensor(p.sizes().vec()));
      archive.write("group" + std::to_string(g) + "/param" + std::to_string(i), param_archive);
    }
  }
}

void Adafactor::load(torch::serialize::InputArchive& archive) {
  c10::IValue kind;
  if (!archive.try_read("optimizer", kind) || !kind.isString() || kind.toStringRef() != "adafactor")
    throw std::runtime_error("Adafactor::load: the stored optimizer state is not Adafactor's");
  state_.clear();
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    auto& group = param_groups_[g];
    torch::serialize::InputArchive group_archive;
    if (!archive.try_read("group" + std::to_string(g) + "/options", group_archive))
      throw std::runtime_error("Adafactor::load: the stored state has no parameter group " + std::to_string(g));
    static_cast<AdafactorOptions&>(group.options()).serialize(group_archive);
    for (size_t i = 0; i < group.params().size(); ++i) {
      const auto& p = group.params()[i];
      torch::serialize::InputArchive param_archive;
      if (!archive.try_read("group" + std::to_string(g) + "/param" + std::to_string(i), param_archive)) continue;
      torch::Tensor shape;
      param_archive.read("shape", shape);
      auto stored = shape.to(torch::kCPU).to(torch::kLong);
      std::vector<int64_t> dims(stored.data_ptr<int64_t>(), stored.data_ptr<int64_t>() + stored.numel());
      if (dims != p.sizes().vec())
        throw std::runtime_error("Adafactor::load: parameter " + std::to_string(i) + " of group " +
                                 std::to_string(g) + " has shape " + c10::str(p.sizes()) +
                                 " but the stored state is for shape " + c10::str(c10::IntArrayRef(dims)));
      auto s = std::make_unique<AdafactorParamState>();
      s->serialize(param_archive);
      // Move the state to the parameter's device (a checkpoint may be loaded on another device).
      if (s->exp_avg().defined()) s->exp_avg(s->exp_avg().to(p.device()));
      if (s->exp_avg_sq_row().defined()) s->exp_avg_sq_row(s->exp_avg_sq_row().to(p.device()));
      if (s->exp_avg_sq_col().defined()) s->exp_avg_sq_col(s->exp_avg_sq_col().to(p.device()));
      if (s->exp_avg_sq().defined()) s->exp_avg_sq(s->exp_avg_sq().to(p.device()));
      state_[optimizer_state_key(p)] = std::move(s);
    }
  }
}

}  // namespace mqa
