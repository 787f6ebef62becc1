#include "mqa/report/paper_tables.h"

#include <stdexcept>

#include "mqa/report/run_result.h"

namespace mqa {

std::string to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::MultiHead: return "multi-head";
    case AttentionKind::MultiQuery: return "multi-query";
    case AttentionKind::MultiHeadLocal: return "multi-head local";
    case AttentionKind::MultiQueryLocal: return "multi-query local";
    case AttentionKind::Reduced: return "reduced heads";
    case AttentionKind::Other: return "other";
  }
  return "other";
}

AttentionKind attention_kind(const ModelConfig& m) {
  const bool local = m.window > 0;
  if (m.kv_heads == 1 && m.heads > 1) return local ? AttentionKind::MultiQueryLocal : AttentionKind::MultiQuery;
  if (m.kv_heads != m.heads) return AttentionKind::Other;
  if (m.heads * m.d_k == m.d_model) return local ? AttentionKind::MultiHeadLocal : AttentionKind::MultiHead;
  if (!local && m.heads * m.d_k < m.d_model) return AttentionKind::Reduced;
  return AttentionKind::Other;
}

namespace {

PaperRow row(std::string label, AttentionKind kind, int h, int dk, int dff, double ln_ppl, double ppl,
             double bleu_dev = kMissing, double bleu_test_beam1 = kMissing, double bleu_test_beam4 = kMissing) {
  return PaperRow{std::move(label), kind, h, dk, dk, dff, ln_ppl, ppl, bleu_dev, bleu_test_beam1, bleu_test_beam4};
}

PaperTable make_table1() {
  using K = AttentionKind;
  const double none = kMissing;
  PaperTable t;
  t.name = "table1";
  t.title = "Table 1: WMT14 EN-DE translation";
  t.task = "The paper: WMT14 English-German, 6+6 layers, d_model 1024, dev newstest2013, test newstest2014. Here: "
           "the configs and data named below (configs/wmt14/scaled/: Multi30k En-De as a stand-in; "
           "configs/wmt14/real/: Tatoeba + Multi30k + WMT news test sets, dev newstest2013, test newstest2014).";
  t.translation = true;
  t.rows = {row("multi-head", K::MultiHead, 8, 128, 4096, 1.424, none, 26.7, 27.7, 28.4),
            row("multi-query", K::MultiQuery, 8, 128, 5440, 1.439, none, 26.5, 27.5, 28.5),
            row("multi-head local", K::MultiHeadLocal, 8, 128, 4096, 1.427, none, 26.6, 27.5, 28.3),
            row("multi-query local", K::MultiQueryLocal, 8, 128, 5440, 1.437, none, 26.5, 27.6, 28.2),
            row("multi-head", K::Reduced, 1, 128, 6784, 1.518, none, 25.8),
            row("multi-head", K::Reduced, 2, 64, 6784, 1.480, none, 26.2, 26.8, 27.9),
            row("multi-head", K::Reduced, 4, 32, 6784, 1.488, none, 26.1),
            row("multi-head", K::Reduced, 8, 16, 6784, 1.513, none, 25.8)};
  t.transcription_note =
      "Paper values (ln(PPL) and BLEU on dev, test BLEU beam 1 / beam 4) from arXiv 1911.02150v1 p. 8, as checked "
      "against the paper's text in issue 17; \"—\" where the paper has no value (it gives test BLEU for the "
      "reduced rows only at h 2).";
  return t;
}

PaperTable make_table3() {
  using K = AttentionKind;
  PaperTable t;
  t.name = "table3";
  t.title = "Table 3: Billion-Word language modeling benchmark";
  t.task = "The paper: LM1B, a 6-layer decoder-only Transformer, d_model 1024, dev perplexity per word. Here: the "
           "configs and data named below (configs/lm1b/scaled/: State of the Union addresses as a stand-in; "
           "configs/lm1b/real/: English Wikipedia split by article, plus WikiText-103 test).";
  t.translation = false;
  t.rows = {row("multi-head", K::MultiHead, 8, 128, 8192, kMissing, 29.9),
            row("multi-query", K::MultiQuery, 8, 128, 9088, kMissing, 30.2),
            row("multi-head", K::Reduced, 1, 128, 9984, kMissing, 31.2),
            row("multi-head", K::Reduced, 2, 64, 9984, kMissing, 31.1),
            row("multi-head", K::Reduced, 4, 32, 9984, kMissing, 31.0),
            row("multi-head", K::Reduced, 8, 16, 9984, kMissing, 30.9)};
  t.transcription_note = "Paper dev perplexities (per word) from arXiv 1911.02150v1 p. 8, as checked against the "
                         "paper's text in issue 17.";
  return t;
}

}  // namespace

const PaperTable& paper_table(const std::string& name) {
  static const PaperTable table1 = make_table1(), table3 = make_table3();
  if (name == "table1") return table1;
  if (name == "table3") return table3;
  throw std::invalid_argument("unknown table \"" + name + "\": expected table1 or table3");
}

const PaperRow* match_paper_row(const PaperTable& table, const ModelConfig& model) {
  const AttentionKind kind = attention_kind(model);
  for (const auto& r : table.rows)
    if (r.kind == kind && (kind != AttentionKind::Reduced || r.heads == model.heads)) return &r;
  return nullptr;
}

}  // namespace mqa
