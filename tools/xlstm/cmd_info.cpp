// xlstm info -m DIR | --config FILE: config, derived dims, parameter count, state size.
#include <iostream>
#include <memory>

#include "commands.h"
#include "xlstm/config.h"
#include "xlstm/error.h"
#include "xlstm/model.h"

namespace xlstm::cli {

void add_info(CLI::App& app) {
  struct Opts {
    std::string model_dir, config_file;
  };
  auto o = std::make_shared<Opts>();
  auto* sub =
      app.add_subcommand("info", "Print a model's config, shapes, parameter count and state size");
  auto* m =
      sub->add_option("-m,--model", o->model_dir, "Model directory (config.json + safetensors)");
  auto* c = sub->add_option("--config", o->config_file, "A config.json alone (no weights needed)");
  m->excludes(c);
  sub->callback([o] {
    if (o->model_dir.empty() && o->config_file.empty())
      throw InvalidInput(tagged("cli", "info needs -m DIR or --config FILE"));
    if (!o->config_file.empty()) {
      std::cout << describe(load_config_warning(o->config_file).config);
      return;
    }
    Model model = load_model(o->model_dir, RuntimeOptions{});
    std::cout << "model                        " << o->model_dir << "\n"
              << describe(model.config());
  });
}

}  // namespace xlstm::cli
