// Torch-free inference with a trained plugin: this program includes only plugen/eigen.hpp and links no LibTorch.
// It samples latents, reads their attributes, sets the first attribute to its first value and maps back.
//
//   eigen_edit PLUGIN.safetensors [N]

#include <cstdio>
#include <cstdlib>
#include <string>

#include "plugen/eigen.hpp"

#ifdef TORCH_API
#error "eigen_edit must compile without LibTorch headers"
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: eigen_edit PLUGIN.safetensors [N]\n");
    return 2;
  }
  try {
    const auto plugin = plugen::eigen::load_plugin<float>(argv[1]);
    const int64_t n = argc > 2 ? std::atoll(argv[2]) : 4;
    std::printf("plugin %s: %s flow over %lld coordinates, attributes: %s\n", argv[1],
                plugen::to_string(plugin.flow_kind()), static_cast<long long>(plugin.dim()),
                plugin.schema().names_list().c_str());

    const auto w = plugin.sample({}, n, /*seed=*/1);
    const auto readout = plugin.attributes(w);
    for (int64_t i = 0; i < plugin.schema().size(); ++i) {
      const auto& a = plugin.schema()[i];
      std::printf("  %s:", a.name.c_str());
      for (Eigen::Index r = 0; r < w.rows(); ++r) std::printf(" %g", static_cast<double>(readout[i].value[r]));
      std::printf("\n");
    }

    if (plugin.schema().size() > 0) {
      const auto& a = plugin.schema()[0];
      const plugen::ConditionValue value =
          a.kind == plugen::AttributeKind::categorical
              ? plugen::ConditionValue(a.classes.front())
              : plugen::ConditionValue(a.kind == plugen::AttributeKind::binary ? 1.0 : a.stats.max);
      const auto edited = plugin.edit(w, plugen::Edits().set(a.name, value));
      const auto after = plugin.attributes(edited);
      std::printf("  %s after setting it to %s:", a.name.c_str(), value.to_string().c_str());
      for (Eigen::Index r = 0; r < w.rows(); ++r) std::printf(" %g", static_cast<double>(after[0].value[r]));
      std::printf("\n");
    }

    const auto z = plugin.forward(w).first;
    const auto back = plugin.latents_of(plugin.inverse(z));
    std::printf("round trip max difference: %g\n", static_cast<double>((back - w).cwiseAbs().maxCoeff()));
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "eigen_edit: %s error: %s\n", plugen::to_string(e.kind()), e.what());
    return 1;
  }
  return 0;
}
