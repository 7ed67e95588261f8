// plugen attributes: what a plugin reads off each latent, as a CSV with one column per attribute.
#include "commands.hpp"
#include "common.hpp"
#include "conditioning.hpp"

namespace plugen_cli {

void add_attributes_command(CLI::App& app, Action& action) {
  struct Args {
    std::string plugin, latents, out;
    bool probabilities = false;
    int64_t batch = 4096;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("attributes", "Read the attributes a plugin sees in each latent (CSV out)");
  cmd->add_option("--plugin", args->plugin, "Plugin file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--latents", args->latents, "Latents .npy")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Output CSV")->required();
  cmd->add_flag("--probabilities", args->probabilities,
                "Add probability columns: 'name:p' for binary, 'name:p:class' for categorical attributes");
  cmd->add_option("--batch", args->batch, "Rows per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->callback([args, &action] {
    action = [args] {
      auto plugin = plugen::load_plugin(args->plugin);
      auto w = read_latents(args->latents, plugin).first;
      const auto& schema = plugin.schema();
      plugen::CsvTable table;
      for (const auto& a : schema.attributes()) {
        table.columns.push_back(a.name);
        if (!args->probabilities) continue;
        if (a.kind == plugen::AttributeKind::binary) table.columns.push_back(a.name + ":p");
        if (a.kind == plugen::AttributeKind::categorical)
          for (const auto& c : a.classes) table.columns.push_back(a.name + ":p:" + c);
      }
      for (int64_t start = 0; start < w.size(0); start += args->batch) {
        auto chunk = w.narrow(0, start, std::min(args->batch, w.size(0) - start));
        auto readout = plugin.attributes(chunk);
        const int64_t rows = readout.empty() ? 0 : readout[0].value.size(0);
        // One copy to CPU float64 per attribute and chunk; cells are then read without per-element tensor ops.
        std::vector<torch::Tensor> values, probabilities;
        for (const auto& ro : readout) {
          values.push_back(ro.value.to(torch::kCPU, torch::kFloat64).reshape({rows}).contiguous());
          probabilities.push_back(ro.probability.defined()
                                      ? ro.probability.to(torch::kCPU, torch::kFloat64).reshape({rows, -1}).contiguous()
                                      : torch::Tensor());
        }
        for (int64_t r = 0; r < rows; ++r) {
          std::vector<std::string> row;
          for (int64_t i = 0; i < schema.size(); ++i) {
            const auto& a = schema[i];
            const auto k = static_cast<size_t>(i);
            row.push_back(format_value(a, values[k].data_ptr<double>()[r]));
            if (!args->probabilities || a.kind == plugen::AttributeKind::continuous) continue;
            const double* p = probabilities[k].data_ptr<double>() + r * probabilities[k].size(1);
            for (int64_t c = 0; c < probabilities[k].size(1); ++c) row.push_back(fmt::format("{:.6g}", p[c]));
          }
          table.rows.push_back(std::move(row));
        }
      }
      plugen::write_csv(args->out, table);
      std::fprintf(stderr, "plugen attributes: wrote %zu rows x %zu columns to %s\n", table.rows.size(),
                   table.columns.size(), args->out.c_str());
      return 0;
    };
  });
}

}  // namespace plugen_cli
