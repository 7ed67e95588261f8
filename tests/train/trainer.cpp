// Tests of plugen/train/trainer.hpp: learning, determinism, early stopping, divergence, callbacks.
#include "plugen/data.hpp"
#include "plugen/train.hpp"
#include "support.hpp"

using namespace plugen;

namespace {

// 4-d latents; one binary attribute y = [w0 + w1 > 0] (a linear boundary, as in GAN latents).
struct TrainerToy {
  TrainData train, val;
  Schema schema;
};

TrainerToy trainer_toy(int64_t n_train, int64_t n_val, bool flip_val = false) {
  auto gen = make_generator(99);
  auto make = [&](int64_t n, bool flip) {
    auto u = torch::randn({n, 4}, gen);
    auto y = ((u.select(1, 0) + u.select(1, 1)) > 0).to(torch::kFloat64);
    if (flip) y = 1 - y;
    return TrainData{u, Labels{y.unsqueeze(1), torch::ones({n, 1}, torch::kBool)}};
  };
  TrainerToy t;
  t.train = make(n_train, false);
  t.val = make(n_val, flip_val);
  t.schema = Schema({{"pos", AttributeKind::binary, {}, 0, {}}});
  t.schema.fit(t.train.labels);
  return t;
}

RealNVP toy_flow(uint64_t seed) {
  torch::manual_seed(seed);
  return RealNVP(FlowOptions(4)
                     .couplings(2)
                     .conditioner(ConditionerOptions().hidden(16).layers(2))
                     .linear(LinearPlacement::first));
}

double toy_accuracy(RealNVP& flow, TargetPrior& prior, const TrainData& d) {
  torch::NoGradGuard g;
  auto z = std::get<0>(flow->forward(d.u));
  auto r = prior.read(z);
  return (r[0].value == d.labels.values.select(1, 0)).to(torch::kFloat64).mean().item<double>();
}

struct EpochRecorder {
  std::vector<std::vector<torch::Tensor>> weights;
  RealNVP* flow;
  void on_epoch_end(const TrainState&, const EpochStats&) { weights.push_back(plugen::detail::snapshot(**flow)); }
};

}  // namespace

TEST_CASE("training learns a linear attribute and lowers the NLL", "[trainer]") {
  auto toy = trainer_toy(2000, 500);
  auto flow = toy_flow(1);
  TargetPrior prior(toy.schema, 4);
  auto report = Trainer(TrainOptions().epochs(15).batch_size(64).lr(3e-3).sigma(0.4).sigma_decay(0.98))
                    .fit(flow, prior, toy.train, toy.val, 0.0);
  CHECK(report.status == TrainStatus::completed);
  CHECK(report.epochs_run == 15);
  REQUIRE(report.history.size() == 15);
  CHECK(report.history.back().train_nll < report.history.front().train_nll);
  // A linear boundary is easy for an LU layer + couplings; 0.95 leaves room for the ~2% label noise
  // that a finite sigma induces near the boundary.
  CHECK(toy_accuracy(flow, prior, toy.val) > 0.95);
  CHECK(report.final_sigma == Approx(0.4 * std::pow(0.98, 14)));
}

TEST_CASE("training is deterministic: same seed and threads give identical weights", "[trainer]") {
  auto toy = trainer_toy(600, 100);
  auto run = [&] {
    auto flow = toy_flow(7);
    TargetPrior prior(toy.schema, 4);
    Trainer(TrainOptions().epochs(3).batch_size(50).seed(5)).fit(flow, prior, toy.train, toy.val, 0.0);
    return plugen::detail::snapshot(*flow);
  };
  auto a = run();
  auto b = run();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}

TEST_CASE("early stopping keeps the weights of the best validation epoch", "[trainer]") {
  // Validation labels are the opposite of the training labels: fitting the training split makes the
  // validation NLL worse, so the best epoch is an early one and training stops after `patience`.
  auto toy = trainer_toy(1000, 300, /*flip_val=*/true);
  auto flow = toy_flow(3);
  TargetPrior prior(toy.schema, 4);
  EpochRecorder recorder{{}, &flow};
  auto report = Trainer(TrainOptions().epochs(40).batch_size(50).lr(3e-3).patience(3).sigma(0.4).sigma_decay(0.98))
                    .fit(flow, prior, toy.train, toy.val, 0.0, recorder);
  CHECK(report.status == TrainStatus::early_stopped);
  CHECK(report.epochs_run == report.best_epoch + 4);
  double best = 1e300;
  for (const auto& e : report.history) best = std::min(best, e.val_nll);
  CHECK(report.best_val_nll == best);
  auto kept = plugen::detail::snapshot(*flow);
  const auto& at_best = recorder.weights[static_cast<size_t>(report.best_epoch)];
  for (size_t i = 0; i < kept.size(); ++i) CHECK(torch::equal(kept[i], at_best[i]));
  CHECK(prior.options().sigma() == Approx(0.4 * std::pow(0.98, report.best_epoch)));
}

TEST_CASE("divergence stops training with a numeric status and keeps the last good weights", "[trainer]") {
  auto toy = trainer_toy(200, 0);
  auto flow = toy_flow(4);
  {
    torch::NoGradGuard g;
    for (auto& p : flow->parameters()) p.fill_(1e30);  // the first forward pass overflows
  }
  auto before = plugen::detail::snapshot(*flow);
  TargetPrior prior(toy.schema, 4);
  auto report = Trainer(TrainOptions().epochs(5)).fit(flow, prior, toy.train, toy.val, 0.0);
  CHECK(report.status == TrainStatus::diverged);
  CHECK_THAT(report.message, Catch::Contains("non-finite"));
  CHECK(report.epochs_run == 0);
  auto after = plugen::detail::snapshot(*flow);
  for (size_t i = 0; i < after.size(); ++i) CHECK(torch::equal(after[i], before[i]));
}

TEST_CASE("a callback returning true stops training; void hooks do not", "[trainer]") {
  struct StopAt {
    int64_t at;
    bool on_epoch_end(const TrainState&, const EpochStats& e) { return e.epoch == at; }
  };
  struct Counter {
    int begin = 0, batches = 0, epochs = 0, end = 0;
    void on_train_begin(const TrainState&) { ++begin; }
    void on_batch_end(const TrainState&, double) { ++batches; }
    void on_epoch_end(const TrainState&, const EpochStats&) { ++epochs; }
    void on_train_end(const TrainReport&) { ++end; }
  };
  auto toy = trainer_toy(100, 0);
  auto flow = toy_flow(5);
  TargetPrior prior(toy.schema, 4);
  Counter counter;
  auto report =
      Trainer(TrainOptions().epochs(10).batch_size(25)).fit(flow, prior, toy.train, toy.val, 0.0, StopAt{2}, counter);
  CHECK(report.status == TrainStatus::stopped_by_callback);
  CHECK(report.epochs_run == 3);
  CHECK(counter.begin == 1);
  CHECK(counter.epochs == 3);
  CHECK(counter.batches == 12);
  CHECK(counter.end == 1);
}

TEST_CASE("trainer options and inputs are validated", "[trainer]") {
  CHECK_THROWS_AS(Trainer(TrainOptions().epochs(0)), ConfigError);
  CHECK_THROWS_AS(Trainer(TrainOptions().lr(-1)), ConfigError);
  CHECK_THROWS_AS(Trainer(TrainOptions().sigma_decay(1.5)), ConfigError);
  auto toy = trainer_toy(10, 0);
  auto flow = toy_flow(6);
  TargetPrior prior(toy.schema, 4);
  TrainData wrong{torch::randn({10, 3}), toy.train.labels};
  CHECK_THROWS_AS(Trainer().fit(flow, prior, wrong, toy.val, 0.0), ShapeError);
  CHECK(TrainOptions().lr(1.0).min_lr_ratio(0.1).epochs(11).lr_at(10) == Approx(0.1));
  CHECK(TrainOptions().lr(1.0).epochs(11).lr_at(0) == Approx(1.0));
  CHECK(TrainOptions().sigma(0.4).sigma_decay(0.9).min_sigma(0.1).sigma_at(100) == 0.1);
  CHECK(TrainOptions().sigma(0.4).sigma_decay(0.9).sigma_at(2) == Approx(0.4 * 0.81));
  CHECK_THROWS_AS(Trainer(TrainOptions().sigma(0.2).min_sigma(0.3)), ConfigError);
}

TEST_CASE("JsonLog and Checkpoint write complete files every epoch", "[trainer]") {
  plugen_test::TempDir dir("trainer_callbacks");
  auto toy = trainer_toy(200, 50);
  auto flow = toy_flow(8);
  TargetPrior prior(toy.schema, 4);
  JsonLog log(dir / "log.jsonl");
  Checkpoint checkpoint(dir / "ckpt.safetensors", 2);
  Trainer(TrainOptions().epochs(3).batch_size(50)).fit(flow, prior, toy.train, toy.val, 0.0, log, checkpoint);
  auto text = read_file(dir / "log.jsonl");
  CHECK(std::count(text.begin(), text.end(), '\n') == 4);  // 3 epochs + the report
  auto first = nlohmann::json::parse(text.substr(0, text.find('\n')));
  CHECK(first["epoch"] == 0);
  CHECK(first["val_nll"].is_number());
  auto ckpt = read_safetensors(dir / "ckpt.safetensors");
  CHECK(ckpt.metadata.at("epoch") == "1");
  CHECK(ckpt.tensors.size() == flow->parameters().size());
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors", "log.jsonl"});
}
