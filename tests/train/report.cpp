// Tests of plugen/train/report.hpp: reading reports back from (untrusted) plugin metadata.
#include "plugen/train/report.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("training reports read back; missing, non-finite or huge integer fields keep their defaults", "[report]") {
  TrainReport r;
  r.epochs_run = 7;
  r.best_epoch = 6;
  r.train_rows = 900;
  r.val_rows = 100;
  r.final_sigma = 0.25;
  auto back = TrainReport::from_json(r.to_json(/*with_history=*/false, /*with_timing=*/false));
  CHECK(back.epochs_run == 7);
  CHECK(back.best_epoch == 6);
  CHECK(back.train_rows == 900);
  CHECK(back.val_rows == 100);
  CHECK(back.final_sigma == 0.25);
  CHECK(back.threads == 0);  // not written without timing

  // Found by fuzzing the plugin reader: casting these to integers was undefined behaviour.
  const auto odd = TrainReport::from_json(nlohmann::json::parse(
      R"({"status": "completed", "epochs_run": 1e300, "best_epoch": -1e19, "train_rows": "many", "threads": 3e9})"));
  CHECK(odd.epochs_run == 0);
  CHECK(odd.best_epoch == -1);
  CHECK(odd.train_rows == 0);
  CHECK(odd.threads == 0);
}
