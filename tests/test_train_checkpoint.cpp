// Checkpoint files without the model: round trip of parameters, optimizer and training state; atomic replacement
// under SIGKILL; clear errors for missing and truncated files.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "mqa/config/config.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/checkpoint_writer.h"
#include "mqa/train/optimizers.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace mqa;

namespace {

using mqa::test::error_of;
using mqa::test::file_bytes;

struct TinyNetImpl : torch::nn::Module {
  explicit TinyNetImpl(int64_t n = 16) {
    a = register_module("a", torch::nn::Linear(n, n));
    b = register_module("b", torch::nn::Linear(n, 3));
    register_buffer("counts", torch::arange(5));
  }
  torch::Tensor forward(const torch::Tensor& x) { return b(torch::relu(a(x))); }
  torch::nn::Linear a{nullptr}, b{nullptr};
};
TORCH_MODULE(TinyNet);

}  // namespace

TEST(TrainCheckpoint, RoundTripRestoresModelOptimizerAndTrainState) {
  test::TempDir dir;
  torch::manual_seed(1);
  auto config = default_config({"train.optimizer=adam", "train.lr=0.01"});
  TinyNet net;
  auto opt = make_optimizer(config.config.train, net->parameters());
  auto x = torch::randn({4, 16});
  for (int i = 0; i < 3; ++i) {
    opt->zero_grad();
    net->forward(x).sum().backward();
    opt->step();
  }
  TrainState state;
  state.step = 3;
  state.epoch = 2;
  state.data_state = "epoch=2 batch=7";
  state.schedule = "inverse_sqrt";
  state.tokens = 1234;
  state.elapsed_s = 5.5;
  capture_rng(state, torch::kCPU);
  const auto draw_after_capture = torch::rand({4});
  const std::string yaml = config_to_yaml(config.config, config.origins);
  save_checkpoint(dir.path("c.pt"), yaml, *net, 50, 0, opt.get(), &state);

  torch::manual_seed(99);
  TinyNet other;
  auto other_opt = make_optimizer(config.config.train, other->parameters());
  CheckpointFile file(dir.path("c.pt"));
  EXPECT_EQ(file.kind(), "train");
  EXPECT_EQ(file.step(), 3);
  EXPECT_EQ(file.vocab_size(), 50);
  EXPECT_EQ(file.config_yaml(), yaml);
  Config expected = config.config;
  make_data_paths_absolute(expected.data);  // config() reads relative data paths against the working directory
  EXPECT_EQ(config_to_yaml(file.config()), config_to_yaml(expected));
  file.load_model_into(*other);
  file.load_optimizer_into(*other_opt);
  auto restored = file.train_state();
  EXPECT_EQ(restored.step, 3);
  EXPECT_EQ(restored.epoch, 2);
  EXPECT_EQ(restored.data_state, "epoch=2 batch=7");
  EXPECT_EQ(restored.tokens, 1234);
  EXPECT_DOUBLE_EQ(restored.elapsed_s, 5.5);
  for (size_t i = 0; i < net->parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(net->parameters()[i], other->parameters()[i]));
  // The same next step on both: identical parameters (optimizer moments restored exactly).
  for (auto* o : {opt.get(), other_opt.get()}) o->zero_grad();
  net->forward(x).sum().backward();
  other->forward(x).sum().backward();
  opt->step();
  other_opt->step();
  for (size_t i = 0; i < net->parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(net->parameters()[i], other->parameters()[i]));
  // RNG: restoring gives the same draws as right after the capture.
  restore_rng(restored, torch::kCPU);
  EXPECT_TRUE(torch::equal(torch::rand({4}), draw_after_capture));
}

// The SentencePiece model rides along byte for byte (a serialized protobuf: NULs and bytes that are not UTF-8), in
// training and model-only checkpoints; a checkpoint written without one reads back as having none.
TEST(TrainCheckpoint, EmbeddedVocabularyRoundTripsByteForByte) {
  test::TempDir dir;
  auto config = default_config({"train.optimizer=adam"});
  TinyNet net;
  auto opt = make_optimizer(config.config.train, net->parameters());
  TrainState state;
  std::string vocab("\x0a\x00\xff\xfe spm", 8);
  for (int i = 0; i < 1000; ++i) vocab.push_back(static_cast<char>(i * 37));
  const std::string yaml = config_to_yaml(config.config);
  save_checkpoint(dir.path("train.pt"), yaml, *net, 50, 0, opt.get(), &state, "train", vocab);
  EXPECT_EQ(CheckpointFile(dir.path("train.pt")).vocab_model(), vocab);
  CheckpointFile file(dir.path("train.pt"));
  save_model_tensors(dir.path("model.pt"), yaml, file.model_tensors(), 50, 0, 0, "average", vocab);
  EXPECT_EQ(CheckpointFile(dir.path("model.pt")).vocab_model(), vocab);
  save_checkpoint(dir.path("none.pt"), yaml, *net, 50, 0, nullptr, nullptr, "average");
  EXPECT_EQ(CheckpointFile(dir.path("none.pt")).vocab_model(), "");
  // Averaging keeps it, and refuses checkpoints that embed different ones.
  average_checkpoints({dir.path("train.pt"), dir.path("model.pt")}, dir.path("avg.pt"));
  EXPECT_EQ(CheckpointFile(dir.path("avg.pt")).vocab_model(), vocab);
  const std::string error =
      error_of([&] { average_checkpoints({dir.path("train.pt"), dir.path("none.pt")}, dir.path("x.pt")); });
  EXPECT_NE(error.find("embed different vocabularies"), std::string::npos) << error;
}

TEST(TrainCheckpoint, AdafactorStateRoundTripsThroughCheckpoint) {
  test::TempDir dir;
  auto config = default_config({"train.optimizer=adafactor"});
  TinyNet net;
  auto opt = make_optimizer(config.config.train, net->parameters());
  net->forward(torch::randn({2, 16})).sum().backward();
  opt->step();
  TrainState state;
  state.step = 1;
  save_checkpoint(dir.path("c.pt"), config_to_yaml(config.config), *net, 10, 0, opt.get(), &state);
  TinyNet other;
  auto other_opt = make_optimizer(config.config.train, other->parameters());
  CheckpointFile file(dir.path("c.pt"));
  file.load_model_into(*other);
  file.load_optimizer_into(*other_opt);
  EXPECT_EQ(other_opt->state().size(), opt->state().size());
  // Adam cannot read Adafactor's state: a clear error.
  auto adam = make_optimizer(default_config({"train.optimizer=adam"}).config.train, other->parameters());
  EXPECT_NE(error_of([&] { file.load_optimizer_into(*adam); }).find("c.pt"), std::string::npos);
}

TEST(TrainCheckpoint, MismatchedModelIsRejectedNamingTheTensor) {
  test::TempDir dir;
  TinyNet net(16);
  save_model_tensors(dir.path("m.pt"), config_to_yaml(default_config().config),
                     {{"a.weight", net->a->weight}}, 10, 0, 0, "average");
  TinyNet other(8);
  std::string msg = error_of([&] { CheckpointFile(dir.path("m.pt")).load_model_into(*other); });
  EXPECT_NE(msg.find("m.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(TrainCheckpoint, MissingAndTruncatedFilesGiveErrorsNamingTheFile) {
  test::TempDir dir;
  EXPECT_NE(error_of([&] { CheckpointFile(dir.path("nope.pt")); }).find("nope.pt: checkpoint not found"),
            std::string::npos);
  TinyNet net;
  save_model_tensors(dir.path("whole.pt"), config_to_yaml(default_config().config), {{"w", net->a->weight}}, 10, 0,
                     0, "average");
  std::string bytes = file_bytes(dir.path("whole.pt"));
  dir.write("half.pt", bytes.substr(0, bytes.size() / 2));
  std::string msg = error_of([&] { CheckpointFile(dir.path("half.pt")); });
  EXPECT_NE(msg.find("half.pt: not a readable checkpoint"), std::string::npos) << msg;
}

// SIGKILL lands while the replacement checkpoint is being written (between creating the temporary file and the
// rename that publishes it): the previous checkpoint under the final name must still load, untouched. The child
// writes real checkpoint bytes through write_file_atomically (the path save_checkpoint uses), slowed down in small
// chunks so that the kill reliably falls inside the write; it only makes system calls after fork().
TEST(TrainCheckpoint, SigkillDuringAtomicWriteLeavesPreviousCheckpointLoadable) {
  test::TempDir dir;
  const std::string path = dir.path("checkpoint_last.pt");
  const std::string yaml = config_to_yaml(default_config().config);
  TinyNet old_net(64), new_net(64);
  save_model_tensors(path, yaml, {{"w", old_net->a->weight}}, 10, 0, /*step=*/1, "average");
  const std::string old_bytes = file_bytes(path);
  save_model_tensors(dir.path("new.pt"), yaml, {{"w", new_net->a->weight}}, 10, 0, /*step=*/2, "average");
  const std::string new_bytes = file_bytes(dir.path("new.pt"));
  ASSERT_GT(new_bytes.size(), 8192u);

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      write_file_atomically(path, [&](int fd) {
        for (size_t off = 0; off < new_bytes.size(); off += 1024) {
          size_t n = std::min<size_t>(1024, new_bytes.size() - off);
          if (::write(fd, new_bytes.data() + off, n) != static_cast<ssize_t>(n)) _exit(3);
          ::usleep(2000);
        }
      });
    } catch (...) {
      _exit(4);
    }
    _exit(0);
  }
  const std::string tmp = dir.path(".tmp-checkpoint_last.pt." + std::to_string(child));
  bool killed_mid_write = false;
  for (int i = 0; i < 20000 && !killed_mid_write; ++i) {
    std::error_code ec;
    auto size = fs::file_size(tmp, ec);
    if (!ec && size >= new_bytes.size() / 3) {
      ::kill(child, SIGKILL);
      killed_mid_write = true;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  if (!killed_mid_write) ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(killed_mid_write) << "the temporary file never grew; the child did not write";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child finished before the kill";

  // The partial temporary file is there and is not a checkpoint; the published one is the old one, whole.
  ASSERT_TRUE(fs::exists(tmp));
  EXPECT_LT(fs::file_size(tmp), new_bytes.size());
  EXPECT_NE(error_of([&] { CheckpointFile{tmp}; }).find("not a readable checkpoint"), std::string::npos);
  EXPECT_EQ(file_bytes(path), old_bytes);
  CheckpointFile file(path);
  EXPECT_EQ(file.step(), 1);
  auto tensors = file.model_tensors();
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_TRUE(torch::equal(tensors[0].second, old_net->a->weight));
}

TEST(TrainCheckpoint, LinkAtomicallyReplacesTheLastCheckpointName) {
  test::TempDir dir;
  dir.write("one", "1");
  dir.write("two", "22");
  link_atomically(dir.path("one"), dir.path("last"));
  EXPECT_EQ(file_bytes(dir.path("last")), "1");
  link_atomically(dir.path("two"), dir.path("last"));
  EXPECT_EQ(file_bytes(dir.path("last")), "22");
  fs::remove(dir.path("two"));  // the step checkpoint goes away; last keeps its content
  EXPECT_EQ(file_bytes(dir.path("last")), "22");
}

// A background save writes an archive built from copies of the tensors (checkpoint_archive with copy_tensors):
// training steps taken after the snapshot must not reach the file, for the model and for both optimizers' state.
TEST(TrainCheckpoint, CopiedArchiveKeepsTheStateOfItsStepWhileTrainingGoesOn) {
  for (const std::string optimizer : {"adam", "adafactor"}) {
    SCOPED_TRACE(optimizer);
    test::TempDir dir;
    torch::manual_seed(1);
    auto config = default_config({"train.optimizer=" + optimizer, "train.lr=0.01", "train.adafactor_beta1=0.9"});
    TinyNet net;
    auto opt = make_optimizer(config.config.train, net->parameters());
    auto x = torch::randn({4, 16});
    auto train = [&](int steps) {
      for (int i = 0; i < steps; ++i) {
        opt->zero_grad();
        net->forward(x).pow(2).sum().backward();
        opt->step();
      }
    };
    train(3);
    TrainState state;
    state.step = 3;
    capture_rng(state, torch::kCPU);
    const std::string yaml = config_to_yaml(config.config, config.origins);
    save_checkpoint(dir.path("now.pt"), yaml, *net, 50, 0, opt.get(), &state);  // written at step 3
    auto copied = checkpoint_archive(yaml, *net, 50, 0, opt.get(), &state, "train", "", /*copy_tensors=*/true);
    auto shared = checkpoint_archive(yaml, *net, 50, 0, opt.get(), &state, "train", "", /*copy_tensors=*/false);
    train(2);  // in place: parameters, exp_avg, exp_avg_sq (Adam) or the factored moments (Adafactor)
    write_checkpoint_archive(dir.path("copied.pt"), *copied);
    write_checkpoint_archive(dir.path("shared.pt"), *shared);
    // A checkpoint's content: its model tensors, then the parameters one more step gives from its model and
    // optimizer state (equal only where the moments are equal too). The files' bytes differ in pickle memo details.
    auto content = [&](const std::string& file) {
      CheckpointFile f(dir.path(file));
      TinyNet n;
      auto o = make_optimizer(config.config.train, n->parameters());
      f.load_model_into(*n);
      f.load_optimizer_into(*o);
      std::vector<torch::Tensor> out;
      for (const auto& named : f.model_tensors()) out.push_back(named.second);
      o->zero_grad();
      n->forward(x).pow(2).sum().backward();
      o->step();
      for (const auto& p : n->parameters()) out.push_back(p.detach().clone());
      return out;
    };
    auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!torch::equal(a[i], b[i])) return false;
      return true;
    };
    EXPECT_TRUE(same(content("copied.pt"), content("now.pt")));
    // Without the copies the file holds step 5's values: what the test guards against.
    EXPECT_FALSE(same(content("shared.pt"), content("now.pt")));
    // The optimizer still trains on its own state (the copy was swapped in only while the archive was built).
    const auto before = net->a->weight.clone();
    train(1);
    EXPECT_FALSE(torch::equal(before, net->a->weight));
  }
}

// CheckpointWriter: one job at a time, in order, on a background thread; errors come back to the trainer.
TEST(TrainCheckpoint, WriterRunsOneJobAtATimeInOrderAndReportsEach) {
  std::mutex m;
  std::vector<std::string> events;
  auto note = [&](const std::string& e) {
    std::lock_guard<std::mutex> lock(m);
    events.push_back(e);
  };
  std::promise<void> release;
  auto released = release.get_future().share();
  CheckpointWriter writer(/*background=*/true);
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  EXPECT_FALSE(writer.submit("a", [&] {
    ran_on = std::this_thread::get_id();
    note("a starts");
    released.wait();  // held until the test has polled
    note("a ends");
  }));
  EXPECT_FALSE(writer.poll());  // a is still running: poll does not wait for it
  release.set_value();
  auto previous = writer.submit("b", [&] { note("b runs"); });  // waits for a first
  ASSERT_TRUE(previous);
  EXPECT_EQ(previous->name, "a");
  EXPECT_GE(previous->seconds, 0.0);
  auto last = writer.wait();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->name, "b");
  EXPECT_FALSE(writer.wait());  // nothing in flight any more
  EXPECT_EQ(events, (std::vector<std::string>{"a starts", "a ends", "b runs"}));
  EXPECT_NE(ran_on, caller);
}

TEST(TrainCheckpoint, WriterRethrowsAFailedJobAndRunsInPlaceWithoutBackground) {
  CheckpointWriter writer(/*background=*/true);
  writer.submit("bad", [] { throw std::runtime_error("disk full"); });
  EXPECT_NE(error_of([&] { writer.wait(); }).find("disk full"), std::string::npos);
  writer.submit("bad again", [] { throw std::runtime_error("disk still full"); });
  // The next submit reports it before running anything else.
  bool ran = false;
  EXPECT_NE(error_of([&] { writer.submit("next", [&] { ran = true; }); }).find("disk still full"), std::string::npos);
  EXPECT_FALSE(ran);

  CheckpointWriter in_place(/*background=*/false);
  std::thread::id ran_on;
  auto done = in_place.submit("now", [&] { ran_on = std::this_thread::get_id(); });
  ASSERT_TRUE(done);  // its own report, at once
  EXPECT_EQ(done->name, "now");
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}
