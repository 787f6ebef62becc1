// The paper's Tables 1 and 3 (Shazeer 2019, arXiv:1911.02150) as data, and which paper row a model config is.
// The numbers are the paper's (arXiv 1911.02150v1 p. 8), as checked against its text in issue 17; values the paper
// does not give are NaN (printed as "—").
#pragma once
#include <string>
#include <vector>

#include "mqa/config/model_config.h"

namespace mqa {

// The attention variants the paper compares. Reduced: h = g query and key/value heads with h * d_k < d_model
// (the paper's "fewer heads / smaller d_k" rows, which keep the multi-query K/V bytes per token).
enum class AttentionKind { MultiHead, MultiQuery, MultiHeadLocal, MultiQueryLocal, Reduced, Other };

std::string to_string(AttentionKind kind);

// Which variant a model config is. Grouped-query configs (1 < g < h) and other shapes are Other.
AttentionKind attention_kind(const ModelConfig& model);

struct PaperRow {
  std::string label;  // as in the paper: "multi-head", "multi-query", "multi-head local", ...
  AttentionKind kind;
  int heads, d_k, d_v, d_ff;
  double ln_ppl_dev;  // Table 1: ln(PPL) on dev; NaN where the paper has none
  double ppl_dev;     // Table 3: dev perplexity (per word); NaN where the paper has none
  double bleu_dev, bleu_test_beam1, bleu_test_beam4;  // Table 1 BLEU; NaN where the paper has none
};

struct PaperTable {
  std::string name;   // table1 | table3
  std::string title;
  std::string task;   // what the paper trained on and what stands in for it here
  bool translation;   // seq2seq with BLEU (Table 1) or language model (Table 3)
  std::vector<PaperRow> rows;
  std::string transcription_note;
};

// Throws std::invalid_argument for a name other than table1 / table3.
const PaperTable& paper_table(const std::string& name);

// The paper row a config reproduces: by attention kind, and for reduced rows by h. nullptr when none.
const PaperRow* match_paper_row(const PaperTable& table, const ModelConfig& model);

}  // namespace mqa
