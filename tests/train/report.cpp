// Tests of plugen/train/report.hpp: the training report's JSON form, as stored in plugin files.
#include "plugen/train.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("training reports round-trip through JSON; counts must be integers", "[report]") {
  TrainReport r;
  r.status = TrainStatus::early_stopped;
  r.epochs_run = 12;
  r.best_epoch = 8;
  r.best_val_nll = 1.25;
  r.final_train_nll = 1.5;
  r.final_sigma = 0.2;
  r.train_rows = 900;
  r.val_rows = 100;
  r.threads = 2;
  r.message = "patience";
  auto back = TrainReport::from_json(r.to_json());
  CHECK(back.status == r.status);
  CHECK(back.epochs_run == 12);
  CHECK(back.best_epoch == 8);
  CHECK(back.best_val_nll == 1.25);
  CHECK(back.train_rows == 900);
  CHECK(back.val_rows == 100);
  CHECK(back.threads == 2);
  CHECK(back.message == "patience");
  // Plugin files store the report without timing: the missing figures keep their defaults.
  auto untimed = TrainReport::from_json(r.to_json(false, /*with_timing=*/false));
  CHECK(untimed.threads == 0);
  CHECK(std::isnan(untimed.seconds));
  CHECK(untimed.epochs_run == 12);
  // A count that is a float, out of range or negative is a ConfigError naming the field, never a cast.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"epochs_run", 1e300}, {"best_epoch", 2.5}, {"threads", 1ULL << 40}, {"train_rows", -3}, {"val_rows", "7"}}) {
    auto j = r.to_json();
    j[key] = value;
    CHECK_THAT(plugen_test::error_message<ConfigError>([&] { TrainReport::from_json(j); }), Catch::Contains(key));
  }
}
