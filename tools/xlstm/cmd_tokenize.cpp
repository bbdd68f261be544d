// xlstm tokenize / detokenize: text <-> ids with a model's (or any) tokenizer.json.
#include <iostream>
#include <memory>

#include "commands.h"
#include "xlstm/error.h"
#include "xlstm/tokenizer.h"

namespace xlstm::cli {

namespace {

struct TokenizerSource {
  std::string model_dir, tokenizer_file;
  void add_to(CLI::App* sub) {
    auto* m = sub->add_option("-m,--model", model_dir, "Model directory (uses its tokenizer.json)");
    auto* t = sub->add_option("--tokenizer", tokenizer_file, "A tokenizer.json file");
    m->excludes(t);
  }
  Tokenizer load() const {
    if (model_dir.empty() && tokenizer_file.empty())
      throw InvalidInput(tagged("cli", "needs -m DIR or --tokenizer FILE"));
    return tokenizer_file.empty() ? load_model_tokenizer(model_dir)
                                  : Tokenizer::from_file(tokenizer_file);
  }
};

}  // namespace

void add_tokenize(CLI::App& app) {
  struct Opts {
    TokenizerSource source;
    PromptSource prompt;
    bool json = false, no_special = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("tokenize", "Print the token ids of a text");
  o->source.add_to(sub);
  o->prompt.add_to(sub, /*allow_ids=*/false);
  sub->add_flag("--json", o->json, "Print a JSON array");
  sub->add_flag("--no-special", o->no_special, "Do not apply the post-processor (e.g. BOS)");
  sub->callback([o] {
    const Tokenizer tok = o->source.load();
    const auto ids = tok.encode(o->prompt.text(), !o->no_special);
    std::cout << (o->json ? "[" : "");
    for (size_t i = 0; i < ids.size(); ++i)
      std::cout << (i ? (o->json ? ", " : ",") : "") << ids[i];
    std::cout << (o->json ? "]" : "") << "\n";
  });
}

void add_detokenize(CLI::App& app) {
  struct Opts {
    TokenizerSource source;
    std::string ids;
    bool skip_special = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("detokenize", "Print the text of token ids");
  o->source.add_to(sub);
  sub->add_option("--ids", o->ids, "Comma-separated token ids")->required();
  sub->add_flag("--skip-special", o->skip_special, "Leave out special tokens");
  sub->callback([o] {
    const Tokenizer tok = o->source.load();
    std::cout << tok.decode(parse_ids(o->ids, "--ids"), o->skip_special) << "\n";
  });
}

}  // namespace xlstm::cli
