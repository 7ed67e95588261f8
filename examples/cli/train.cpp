// plugen train: latents + labels -> a trained plugin file, with progress on stderr and the report on stdout.
#include "commands.hpp"
#include "common.hpp"

namespace plugen_cli {

namespace {
struct TrainArgs {
  // Defaults come from the library's option structs, so the CLI and the API cannot drift apart.
  plugen::PluginTrainOptions defaults;
  std::string latents, labels, mask, schema, out, backbone, log;
  std::string flow = defaults.flow_kind() == plugen::FlowKind::affine ? "realnvp" : "nice";
  std::string sizing = plugen::to_string(defaults.sizing());
  std::string linear = plugen::to_string(defaults.flow().linear());
  std::string linear_init = plugen::to_string(defaults.linear_init());
  std::string partition = plugen::to_string(defaults.flow().partition());
  std::string latent_mode = plugen::to_string(defaults.latent_mode());
  std::string activation = plugen::to_string(defaults.flow().conditioner().activation());
  std::vector<std::string> ignore;
  int64_t epochs = defaults.train().epochs(), batch = defaults.train().batch_size(),
          couplings = defaults.flow().couplings(), hidden = defaults.flow().conditioner().hidden(),
          layers = defaults.flow().conditioner().layers(), patience = defaults.train().patience();
  double lr = defaults.train().lr(), sigma = defaults.train().sigma(), sigma_decay = defaults.train().sigma_decay(),
         min_sigma = defaults.train().min_sigma(), val_fraction = defaults.val_fraction(),
         weight_decay = defaults.train().weight_decay(), clip = defaults.train().clip_grad_norm();
  uint64_t seed = defaults.seed();
  bool balanced = defaults.balanced(), monotone = defaults.flow().monotone(), quiet = false;
};
}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a plugin on latents and labels");
  cmd->add_option("--latents", args->latents, "Latents .npy, (N, D) or (N, L, D)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--labels", args->labels, "Labels .csv (header of attribute names) or .npy")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--mask", args->mask, "Known-label mask .npy for .npy labels")->check(CLI::ExistingFile);
  cmd->add_option("--schema", args->schema, "Schema JSON (default: inferred from the CSV and printed)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--ignore-column", args->ignore, "CSV columns that are not attributes (e.g. an id)");
  cmd->add_option("--out", args->out, "Plugin file to write (.safetensors)")->required();
  cmd->add_option("--flow", args->flow, "Coupling kind")
      ->check(CLI::IsMember({"realnvp", "nice"}))
      ->capture_default_str();
  auto* sizing = cmd->add_option("--sizing", args->sizing,
                                 "Couplings and hidden units: data (the largest of 4x256, 4x128, 2x128 with at most 16 "
                                 "flow parameters per training row) or fixed (--couplings, --hidden)")
                     ->check(CLI::IsMember({"data", "fixed"}))
                     ->capture_default_str();
  auto* couplings = cmd->add_option("--couplings", args->couplings,
                                    "Number of coupling layers (implies --sizing fixed; default there: " +
                                        std::to_string(args->couplings) + ")")
                        ->check(CLI::PositiveNumber);
  auto* hidden = cmd->add_option("--hidden", args->hidden,
                                 "Conditioner hidden units (implies --sizing fixed; default there: " +
                                     std::to_string(args->hidden) + ")")
                     ->check(CLI::PositiveNumber);
  cmd->add_option("--layers", args->layers, "Conditioner linear layers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--activation", args->activation, "Conditioner activation")
      ->check(CLI::IsMember({"relu", "leaky_relu", "tanh", "elu", "gelu", "silu"}))
      ->capture_default_str();
  cmd->add_option("--linear", args->linear, "LU linear layers: none, first, each")
      ->check(CLI::IsMember({"none", "first", "each"}))
      ->capture_default_str();
  cmd->add_option("--linear-init", args->linear_init,
                  "Start of the first LU layer: identity, or labels (ridge-regression read-outs of the labels)")
      ->check(CLI::IsMember({"identity", "labels"}))
      ->capture_default_str();
  cmd->add_option("--monotone", args->monotone, "End the flow with a per-coordinate monotone step")
      ->capture_default_str();
  cmd->add_option("--partition", args->partition, "Coupling partitions")
      ->check(CLI::IsMember({"alternating", "random"}))
      ->capture_default_str();
  cmd->add_option("--epochs", args->epochs, "Training epochs")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--batch", args->batch, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--lr", args->lr, "Adam learning rate (cosine-decayed)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--weight-decay", args->weight_decay, "Adam weight decay")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--clip", args->clip, "Gradient-norm clip (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--sigma", args->sigma, "Initial prior sigma")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--sigma-decay", args->sigma_decay, "Per-epoch sigma decay")
      ->check(CLI::Range(1e-6, 1.0))
      ->capture_default_str();
  cmd->add_option("--min-sigma", args->min_sigma, "Floor of the sigma schedule")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--balanced", args->balanced, "Balanced binary sigmas sigma*sqrt(2p), sigma*sqrt(2(1-p))");
  cmd->add_option("--val-fraction", args->val_fraction, "Validation fraction")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--patience", args->patience, "Early-stopping patience in epochs (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of split, initialization and batch order")->capture_default_str();
  cmd->add_option("--latent-mode", args->latent_mode, "Per-layer latents: shared (row 0) or per_layer")
      ->check(CLI::IsMember({"shared", "per_layer"}))
      ->capture_default_str();
  cmd->add_option("--backbone", args->backbone, "Backbone file the latents came from (its sha256 is recorded)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--log", args->log, "JSON-lines file of per-epoch figures");
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->callback([args, &action, sizing, couplings, hidden] {
    const bool explicit_size = couplings->count() > 0 || hidden->count() > 0;
    const bool data_asked = sizing->count() > 0 && args->sizing == "data";
    action = [args, explicit_size, data_asked] {
      // An explicit flow size means a fixed one; asking for data sizing as well is a contradiction.
      PLUGEN_CHECK(!(explicit_size && data_asked), ConfigError,
                   "plugen train: --sizing data chooses the couplings and hidden units itself; drop --couplings/--hidden "
                   "or use --sizing fixed");
      if (explicit_size) args->sizing = "fixed";
      const auto& a = *args;
      plugen::Schema schema;
      const bool inferred = a.schema.empty();
      if (!inferred) schema = plugen::read_schema(a.schema);
      torch::Tensor w = read_latents(a.latents);
      plugen::Labels labels;
      if (inferred && !a.ignore.empty()) {
        auto table = plugen::read_csv(a.labels);
        schema = plugen::infer_schema(table, a.ignore);
        labels = plugen::labels_from_csv(table, schema);
      } else {
        labels = plugen::read_labels(a.labels, schema,
                                     a.mask.empty() ? std::nullopt : std::optional<std::filesystem::path>(a.mask));
      }
      if (inferred)
        std::fprintf(stderr, "plugen train: inferred schema (save it and pass --schema to fix it):\n%s\n",
                     schema.to_json(false).dump(2).c_str());
      PLUGEN_CHECK(labels.rows() == w.size(0), ShapeError, "{} has {} rows but {} has {} rows", a.latents, w.size(0),
                   a.labels, labels.rows());
      auto opts = plugen::PluginTrainOptions()
                      .flow_kind(plugen::parse_flow_kind(a.flow))
                      .linear_init(plugen::parse_linear_init(a.linear_init))
                      .flow(plugen::FlowOptions()
                                .couplings(a.couplings)
                                .conditioner(plugen::ConditionerOptions().hidden(a.hidden).layers(a.layers).activation(
                                    plugen::parse_activation(a.activation)))
                                .linear(plugen::parse_linear_placement(a.linear))
                                .monotone(a.monotone)
                                .partition(plugen::parse_partition(a.partition))
                                .partition_seed(a.seed))
                      .sizing(plugen::parse_flow_sizing(a.sizing))  // after flow(...), which sets it to fixed
                      .train(plugen::TrainOptions()
                                 .epochs(a.epochs)
                                 .batch_size(a.batch)
                                 .lr(a.lr)
                                 .weight_decay(a.weight_decay)
                                 .clip_grad_norm(a.clip)
                                 .sigma(a.sigma)
                                 .sigma_decay(a.sigma_decay)
                                 .min_sigma(std::min(a.min_sigma, a.sigma))
                                 .patience(a.patience))
                      .balanced(a.balanced)
                      .val_fraction(a.val_fraction)
                      .seed(a.seed)
                      .latent_mode(plugen::parse_latent_mode(a.latent_mode));
      struct Optional {
        std::optional<plugen::ProgressBar> bar;
        std::optional<plugen::JsonLog> log;
        void on_train_begin(const plugen::TrainState& s) {
          if (bar) bar->on_train_begin(s);
        }
        void on_batch_end(const plugen::TrainState& s, double l) {
          if (bar) bar->on_batch_end(s, l);
        }
        void on_epoch_end(const plugen::TrainState& s, const plugen::EpochStats& e) {
          if (bar) bar->on_epoch_end(s, e);
          if (log) log->on_epoch_end(s, e);
        }
        void on_train_end(const plugen::TrainReport& r) {
          if (bar) bar->on_train_end(r);
          if (log) log->on_train_end(r);
        }
      } callbacks;
      if (!a.quiet) callbacks.bar.emplace("plugen train");
      if (!a.log.empty()) callbacks.log.emplace(a.log);
      auto plugin = plugen::train_plugin(plugen::LatentDataset{w, labels}, schema, opts, callbacks);
      if (!a.backbone.empty()) plugin.set_backbone_sha256(plugen::sha256_file(a.backbone));
      plugen::save_plugin(a.out, plugin);
      auto report = plugin.report().to_json();
      report["out"] = a.out;
      print_json_line(report);
      return plugin.report().status == plugen::TrainStatus::diverged ? 3 : 0;
    };
  });
}

}  // namespace plugen_cli
