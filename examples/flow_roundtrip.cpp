// Builds a RealNVP flow, perturbs its weights so it is not the identity, maps a batch forward and
// back, and prints the round-trip error and the log-determinant statistics.
//
//   flow_roundtrip [--dim D] [--batch B] [--couplings K] [--seed S]
#include <plugen/plugen.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  int64_t dim = 64, batch = 256, couplings = 4;
  uint64_t seed = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (key == "--dim")
      dim = value;
    else if (key == "--batch")
      batch = value;
    else if (key == "--couplings")
      couplings = value;
    else if (key == "--seed")
      seed = static_cast<uint64_t>(value);
    else {
      std::fprintf(stderr, "flow_roundtrip: unknown option '%s' (expected --dim, --batch, --couplings, --seed)\n",
                   key.c_str());
      return 2;
    }
  }
  try {
    const int threads = plugen::set_num_threads();
    torch::manual_seed(seed);
    plugen::RealNVP flow(plugen::FlowOptions(dim).couplings(couplings).linear(plugen::LinearPlacement::first));
    {
      // A new flow is the identity; perturb it so the round trip is meaningful.
      torch::NoGradGuard no_grad;
      for (auto& p : flow->parameters()) p.add_(torch::randn_like(p) * 0.05);
    }
    torch::NoGradGuard no_grad;
    auto u = torch::randn({batch, dim});
    auto [z, log_det] = flow->forward(u);
    auto back = flow->inverse(z);
    const double err = (back - u).abs().max().item<double>();
    const double moved = (z - u).abs().mean().item<double>();
    std::printf("RealNVP: dim %lld, %lld couplings, batch %lld, %d threads\n", static_cast<long long>(dim),
                static_cast<long long>(couplings), static_cast<long long>(batch), threads);
    std::printf("  mean |z - u|            = %.4g (the flow is not the identity)\n", moved);
    std::printf("  log|det| mean / std     = %.4g / %.4g\n", log_det.mean().item<double>(),
                log_det.std().item<double>());
    std::printf("  max |inverse(forward(u)) - u| = %.3g\n", err);
    return err < 1e-4 ? 0 : 1;
  } catch (const plugen::Error& e) {
    std::fprintf(stderr, "flow_roundtrip: %s error: %s\n", plugen::to_string(e.kind()), e.what());
    return 1;
  }
}
