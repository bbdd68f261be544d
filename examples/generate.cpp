// Generate text with xlstm.cpp as a library: the installed package's find_package(xlstm) target.
//   generate_example MODEL_DIR "PROMPT" [N]
#include <xlstm/generator.h>
#include <xlstm/model.h>
#include <xlstm/tokenizer.h>

#include <cstdlib>
#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR PROMPT [N]\n";
    return 2;
  }
  try {
    const std::string dir = argv[1];
    xlstm::Model model = xlstm::Model::load(dir);
    const auto tokenizer = xlstm::Tokenizer::from_file(dir + "/tokenizer.json");
    xlstm::GenerateOptions options;
    options.max_new_tokens = argc > 3 ? std::atoi(argv[3]) : 32;
    const auto prompt = tokenizer.encode(argv[2]);
    const auto result = xlstm::generate(model, prompt, options);
    std::cout << argv[2] << tokenizer.decode(result.tokens) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
