// `mqa spm train | encode | decode`: SentencePiece from the command line (through the bridge, like all of mqa).
#include <fmt/format.h>

#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/command.h"
#include "mqa/data/tokenizer.h"
#include "mqa/util/strings.h"

namespace {

// One line of whitespace-separated ids -> ids; throws naming the line and the token.
std::vector<int> parse_ids(const std::string& line, int64_t line_no, int vocab_size) {
  std::vector<int> ids;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    size_t used = 0;
    int id = -1;
    try {
      id = std::stoi(tok, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != tok.size() || id < 0 || id >= vocab_size)
      throw std::runtime_error(fmt::format("stdin:{}: '{}' is not a token id in [0, {})", line_no, tok, vocab_size));
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

static void setup_spm(CLI::App& app) {
  auto* cmd = app.add_subcommand("spm", "train a SentencePiece vocabulary, encode or decode text");
  cmd->require_subcommand(1);

  static mqa::SpmTrainOptions train_opts;
  static std::string inputs;
  auto* train = cmd->add_subcommand("train", "train a vocabulary (ids: pad 0, unk 1, bos 2, eos 3)");
  train->add_option("--input", inputs, "text files, comma-separated (one sentence a line)")->required();
  train->add_option("--model-prefix", train_opts.model_prefix, "writes PREFIX.model and PREFIX.vocab")->required();
  train->add_option("--vocab-size", train_opts.vocab_size, "pieces")->check(CLI::Range(8, 1 << 20))->capture_default_str();
  train->add_option("--model-type", train_opts.model_type, "unigram or bpe")
      ->check(CLI::IsMember({"unigram", "bpe"}))
      ->capture_default_str();
  train->add_option("--character-coverage", train_opts.character_coverage, "share of characters covered")
      ->capture_default_str();
  train->add_option("--input-sentence-size", train_opts.input_sentence_size, "sentences sampled; 0 = all")
      ->capture_default_str();
  train->add_option("--threads", train_opts.num_threads, "trainer threads")->capture_default_str();
  train->add_option("--seed", train_opts.seed, "sampling seed")->capture_default_str();
  train->callback([] {
    train_opts.inputs = mqa::split(inputs, ',');
    mqa::Tokenizer::train(train_opts);
    mqa::Tokenizer tok(train_opts.model_prefix + ".model");
    std::cout << fmt::format("wrote {}.model ({} pieces)\n", train_opts.model_prefix, tok.vocab_size());
  });

  static std::string model, format = "ids";
  auto* encode = cmd->add_subcommand("encode", "encode stdin to stdout, one line per line");
  encode->add_option("--model", model, "a .model file")->required();
  encode->add_option("--output", format, "ids or pieces")->check(CLI::IsMember({"ids", "pieces"}))->capture_default_str();
  encode->callback([] {
    mqa::Tokenizer tok(model);
    std::string line;
    std::string out;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.clear();
      for (int id : tok.encode(line)) {
        if (!out.empty()) out += ' ';
        out += format == "ids" ? std::to_string(id) : tok.piece(id);
      }
      std::cout << out << '\n';
    }
  });

  auto* decode = cmd->add_subcommand("decode", "decode stdin (ids or pieces, space-separated) to text");
  decode->add_option("--model", model, "a .model file")->required();
  decode->add_option("--input", format, "ids or pieces")->check(CLI::IsMember({"ids", "pieces"}))->capture_default_str();
  decode->callback([] {
    mqa::Tokenizer tok(model);
    std::unordered_map<std::string, int> piece_id;
    if (format == "pieces")
      for (int id = 0; id < tok.vocab_size(); ++id) piece_id.emplace(tok.piece(id), id);
    std::string line;
    int64_t line_no = 0;
    while (std::getline(std::cin, line)) {
      ++line_no;
      std::vector<int> ids;
      if (format == "ids") {
        ids = parse_ids(line, line_no, tok.vocab_size());
      } else {
        std::istringstream in(line);
        std::string p;
        while (in >> p) {
          auto it = piece_id.find(p);
          ids.push_back(it == piece_id.end() ? tok.unk_id() : it->second);
        }
      }
      std::cout << tok.decode(ids) << '\n';
    }
  });
}
MQA_COMMAND(spm, setup_spm);
