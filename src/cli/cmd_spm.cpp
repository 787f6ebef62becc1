// `mqa spm train | encode | decode`: SentencePiece from the command line (through the bridge, like all of mqa).
// encode and decode read -i/--input (default stdin) and write -o/--output (default stdout), one line per line;
// --format says whether ids or pieces are written (encode) or read (decode).
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/command.h"
#include "mqa/data/tokenizer.h"
#include "mqa/util/strings.h"

namespace {

// One line of whitespace-separated ids -> ids; throws naming the input, the line and the token.
std::vector<int> parse_ids(const std::string& line, const std::string& input_name, int64_t line_no, int vocab_size) {
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
      throw std::runtime_error(
          fmt::format("{}:{}: '{}' is not a token id in [0, {})", input_name, line_no, tok, vocab_size));
    ids.push_back(id);
  }
  return ids;
}

// -i/--input and -o/--output of encode and decode: a file, or stdin / stdout when not given.
class Streams {
 public:
  Streams(const std::string& input, const std::string& output) : input_name_(input.empty() ? "<stdin>" : input) {
    if (!input.empty()) {
      in_.open(input, std::ios::binary);
      if (!in_) throw std::runtime_error(fmt::format("{}: cannot read the input", input));
    }
    if (!output.empty()) {
      out_.open(output, std::ios::binary);
      if (!out_) throw std::runtime_error(fmt::format("{}: cannot write the output", output));
    }
    output_name_ = output.empty() ? "<stdout>" : output;
  }
  std::istream& in() { return in_.is_open() ? static_cast<std::istream&>(in_) : std::cin; }
  std::ostream& out() { return out_.is_open() ? static_cast<std::ostream&>(out_) : std::cout; }
  const std::string& input_name() const { return input_name_; }
  void finish() {
    out().flush();
    if (!out()) throw std::runtime_error(fmt::format("{}: cannot write the output", output_name_));
  }

 private:
  std::ifstream in_;
  std::ofstream out_;
  std::string input_name_, output_name_;
};

// Before the one CLI convention, encode's --output and decode's --input named the format (ids | pieces); now they
// name files. A file called "ids" or "pieces" is far more likely the old spelling than a wish: refuse it, naming the
// new one.
CLI::Validator not_a_format() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value != "ids" && value != "pieces") return {};
        return fmt::format("'{}' names a file now; for the format use --format {} (for a file of that name "
                           "write ./{})",
                           value, value, value);
      },
      "FILE");
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

  // encode and decode: --model, -i/--input FILE (default stdin), -o/--output FILE (default stdout), --format.
  static std::string model, format = "ids", input, output;
  auto add_stream_args = [](CLI::App* sub, const std::string& format_help) {
    sub->add_option("--model", model, "a .model file")->required();
    sub->add_option("-i,--input", input, "input file (default: stdin)")->check(not_a_format());
    sub->add_option("-o,--output", output, "output file (default: stdout)")->check(not_a_format());
    sub->add_option("--format", format, format_help)->check(CLI::IsMember({"ids", "pieces"}))->capture_default_str();
  };
  auto* encode = cmd->add_subcommand("encode", "encode text to ids or pieces, one line per line");
  add_stream_args(encode, "what to write: ids or pieces");
  encode->callback([] {
    mqa::Tokenizer tok(model);
    Streams io(input, output);
    std::string line;
    std::string out;
    while (std::getline(io.in(), line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.clear();
      for (int id : tok.encode(line)) {
        if (!out.empty()) out += ' ';
        out += format == "ids" ? std::to_string(id) : tok.piece(id);
      }
      io.out() << out << '\n';
    }
    io.finish();
  });

  auto* decode = cmd->add_subcommand("decode", "decode ids or pieces (space-separated) to text, one line per line");
  add_stream_args(decode, "what to read: ids or pieces");
  decode->callback([] {
    mqa::Tokenizer tok(model);
    Streams io(input, output);
    std::unordered_map<std::string, int> piece_id;
    if (format == "pieces")
      for (int id = 0; id < tok.vocab_size(); ++id) piece_id.emplace(tok.piece(id), id);
    std::string line;
    int64_t line_no = 0;
    while (std::getline(io.in(), line)) {
      ++line_no;
      std::vector<int> ids;
      if (format == "ids") {
        ids = parse_ids(line, io.input_name(), line_no, tok.vocab_size());
      } else {
        std::istringstream in(line);
        std::string p;
        while (in >> p) {
          auto it = piece_id.find(p);
          ids.push_back(it == piece_id.end() ? tok.unk_id() : it->second);
        }
      }
      io.out() << tok.decode(ids) << '\n';
    }
    io.finish();
  });
}
MQA_COMMAND(spm, setup_spm);
