// The C++ example of the README (kept identical to it): train a plugin on the latents and labels the demo
// writes, sample bright coats from the frozen VAE, and score conditional samples. Run it from the repository
// root after ./run.sh demo (CTest runs it on the quick demo's output, laid out the same way).
#include <plugen/plugen.hpp>

int main() {
  plugen::set_num_threads();
  // Latents of real images (plugen encode) and their labels: class, brightness, area.
  auto schema = plugen::read_schema("out/demo/vae/schema.json");
  auto labels = plugen::read_labels("out/demo/vae/train_labels.csv", schema);
  plugen::LatentDataset data{plugen::read_npy("out/demo/vae/train_latents.npy"), labels};
  auto options = plugen::PluginTrainOptions().train(plugen::TrainOptions().epochs(10));
  auto plugin = plugen::train_plugin(data, schema, options, plugen::ProgressBar());
  plugen::save_plugin("plugin.safetensors", plugin);

  // 16 bright coats from the frozen VAE.
  auto vae = plugen::load_backbone("examples/models/fmnist_vae.pt", "vae");
  auto w = plugin.sample(plugen::Conditions{{"class", "coat"}, {"brightness", 0.8}}, 16, /*seed=*/7);
  plugen::write_grid("coats.png", vae.decode(w.to(torch::kFloat32)));

  // How often the bundled classifier sees the requested class (100 samples per class).
  auto scorer = plugen::Scorer::load({"examples/models/fmnist_classifier.pt", "examples/models/fmnist_pixels.pt"});
  auto report = plugen::evaluate_conditional(plugin, vae, scorer, plugen::sweep(plugin.schema(), {"class"}),
                                             plugen::EvalOptions().n(100));
  fmt::print("class accuracy {:.3f}\n", *report.attribute("class")->accuracy);
}
