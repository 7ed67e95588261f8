// A consumer of plugen: builds a RealNVP flow, perturbs it away from the identity, and round-trips a batch.
// Exit code 0 when the round trip is exact to float32 precision. Built by CTest with find_package,
// add_subdirectory and FetchContent (tests/package/CMakeLists.txt) so plugen's packaging cannot rot.
#include <plugen/plugen.hpp>

#include <cstdio>

int main() {
  try {
    plugen::set_num_threads();  // PLUGEN_NUM_THREADS, or all cores
    torch::manual_seed(7);
    plugen::RealNVP flow(plugen::FlowOptions(8).couplings(2).conditioner(plugen::ConditionerOptions().hidden(16)));
    torch::NoGradGuard no_grad;
    for (auto& p : flow->parameters()) p.add_(torch::randn_like(p) * 0.1);
    auto u = torch::randn({32, 8});
    auto [z, log_det] = flow->forward(u);
    const double error = (flow->inverse(z) - u).abs().max().item<double>();
    const double moved = (z - u).abs().max().item<double>();
    std::printf("plugen %s consumer: round-trip max error %.3g, flow moved points by up to %.3g\n",
                plugen::version_string, error, moved);
    return error < 1e-5 && moved > 1e-3 && log_det.size(0) == 32 ? 0 : 1;
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}
