// `xlstm`: the command line front of the library. Only here do errors become exit codes.
#include <iostream>

#include "commands.h"
#include "xlstm/error.h"
#include "xlstm/model_path.h"

int main(int argc, char** argv) {
  CLI::App app{"xlstm.cpp: run xLSTM language models"};
  app.require_subcommand(1);
  xlstm::cli::add_info(app);
  xlstm::cli::add_logits(app);
  xlstm::cli::add_generate(app);
  xlstm::cli::add_bench(app);
  xlstm::cli::add_tokenize(app);
  xlstm::cli::add_detokenize(app);
  xlstm::cli::add_perplexity(app);
  xlstm::cli::add_serve(app);
  // -m also takes a Hugging Face hub id found in the local cache, in every command.
  for (CLI::App* sub : app.get_subcommands({})) {
    if (CLI::Option* m = sub->get_option_no_throw("--model")) {
      m->transform([](std::string arg) { return xlstm::resolve_model_path(arg).string(); },
                   "model directory or hub id");
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
