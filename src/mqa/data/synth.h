// The built-in corpus: two invented languages with real structure, generated deterministically from a seed, so
// that mqa runs end to end (and a small model learns something measurable) on a machine without any data.
//
// Source language: SVO, adjectives before the noun, plural by suffix, past tense by suffix, negation and question
// particles, prepositions, subject/object relative clauses and sentence-initial prepositional phrases.
// Target language: SOV, adjectives after the noun, every noun has a grammatical gender, and determiners, adjectives
// and verbs agree with their noun (gender x number) by affixes; postpositions; the past is a verb prefix.
// Both lexicons (a few thousand words each) are pseudo-words built from each language's syllables, so subword
// units are meaningful. The translation is a function of the source sentence (no ambiguity), so BLEU is learnable.
#pragma once
#include <cstdint>
#include <string>

#include "mqa/config/data_config.h"

namespace mqa {

struct SynthOptions {
  std::string kind = "translation";  // translation | lm (monolingual source-language text)
  uint64_t seed = 1;                 // the lexicon and the sentences; same seed, same corpus
  int64_t train_sentences = 40000;
  int64_t eval_sentences = 500;      // each of valid and test; never identical to a training sentence
};

// Writes DIR/{train,valid,test}.{src,tgt} (translation) or DIR/{train,valid,test}.txt (lm), one sentence a line,
// each file atomically.
void generate_synth_corpus(const SynthOptions& options, const std::string& dir);

// Points the raw text keys of `data` at a corpus written by generate_synth_corpus.
void synth_raw_keys(const std::string& kind, const std::string& dir, DataConfig& data);

}  // namespace mqa
