#!/usr/bin/env python3
"""Writes tests/data/bleu_cases.json: BLEU (and chrF) cases with the values the real sacreBLEU computes.

tests/test_bleu.cpp rebuilds every case and checks mqa's scores against these numbers. Cases over the shared
corpora are recipes (a file under --data-dir plus deterministic transforms, implemented identically in
tests/test_bleu.cpp), so the corpora are never copied into the repository.

Run it wherever `import sacrebleu` works (2.x; only python3 + sacrebleu are needed):

    python3 scripts/bleu_reference_cases.py --data-dir ../shared/data --out tests/data/bleu_cases.json

Reads:  <data-dir>/multi30k/test_{2016,2017,2018}_flickr.{en,de}, <data-dir>/sotu/test.en
Writes: --out (the whole file, replaced). Every case records "source": "sacrebleu <version>".
The few cases with "hand" values (worked out from sacreBLEU's code, see HAND) are checked against sacreBLEU
too: the script stops if sacreBLEU disagrees with them.
"""
import argparse
import json
import os
import platform
import sys

import sacrebleu
from sacrebleu.metrics import BLEU, CHRF

# --- transforms: keep identical to apply_transform() in tests/test_bleu.cpp ------------------------------------
# Words are split on single spaces (str.split(' '), empty fields kept) and re-joined with single spaces; line and
# word positions are 1-based, so "every k-th" means positions k, 2k, 3k, ...


def ascii_lower(s):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def apply_transform(lines, t):
    op = t["op"]
    out = []
    for i, line in enumerate(lines, 1):
        words = line.split(" ")
        if op == "drop_every_kth_word":
            words = [w for j, w in enumerate(words, 1) if j % t["k"] != 0]
        elif op == "swap_adjacent_words_every_kth_line":
            if i % t["k"] == 0:
                for j in range(0, len(words) - 1, 2):
                    words[j], words[j + 1] = words[j + 1], words[j]
        elif op == "lowercase_every_kth_line":
            if i % t["k"] == 0:
                words = [ascii_lower(w) for w in words]
        elif op == "truncate_words":  # keep floor(n * num / den) words of every line
            words = words[: len(words) * t["num"] // t["den"]]
        elif op == "empty_every_kth_line":
            if i % t["k"] == 0:
                words = []
        elif op == "replace_word":
            words = [t["to"] if w == t["from"] else w for w in words]
        elif op == "first_lines":
            if i > t["n"]:
                break
        else:
            raise ValueError(f"unknown transform {op!r}")
        out.append(" ".join(words))
    return out


def read_lines(data_dir, rel):
    # UTF-8, lines end at '\n' (a final '\n' does not start another line); no other processing.
    with open(os.path.join(data_dir, rel), encoding="utf-8", newline="\n") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def build(spec, data_dir):
    if "lines" in spec:
        return list(spec["lines"])
    lines = read_lines(data_dir, spec["file"])
    for t in spec.get("transforms", []):
        lines = apply_transform(lines, t)
    return lines


def F(rel, *transforms):
    return {"file": rel, "transforms": list(transforms)}


def L(*lines):
    return {"lines": list(lines)}


M16DE, M16EN = "multi30k/test_2016_flickr.de", "multi30k/test_2016_flickr.en"
M17DE, M17EN = "multi30k/test_2017_flickr.de", "multi30k/test_2017_flickr.en"
M18DE, M18EN = "multi30k/test_2018_flickr.de", "multi30k/test_2018_flickr.en"
SOTU = "sotu/test.en"

UNICODE_HYP = ("Der Bär läuft über die Straße – schnell! 東京は大きい都市です。 Emoji 🙂👍 “curly” ‘quotes’ — em-dash… "
               "«guillemets» 5 € / 3 £ ÄÖÜ ß")
UNICODE_REF = ("Der Bär lief über die Straße – sehr schnell! 東京は大きな都市です。 Emoji 🙂 “curly” ‘quote’ — em-dash… "
               "«guillemets» 5 € / 3 $ äöü ß")
NUMBERS_HYP = "It costs $1,000.50 in 2019. Call 555-1234, ok? Pi is 3.14-ish; 1.5.2019 and 10,000 people, 7."
NUMBERS_REF = "It costs $1,000.50 in 2018. Call 555-1234 ok? Pi is 3.14ish; 1.5.2019 and 10.000 people, 7 ."
PUNCT_HYP = 'Hello, world!!! (yes) -- "quoted"; [x] {y} a/b @home #tag 50% a&b it\'s ... end?!'
PUNCT_REF = 'Hello world! (yes) - "quoted" ; [x] {z} a/b @home #tag 50 % a & b its ... end?'

# (name, tokenize, lowercase, hyp, [refs], extra). extra: smooth_method, smooth_value, effective_order, chrf
# (dict of CHRF options, default chrF2), expect_error.
CASES = [
    # --- real text: multi30k and sotu ---------------------------------------------------------------------------
    ("m30k16_de_drop7", "13a", False, F(M16DE, {"op": "drop_every_kth_word", "k": 7}), [F(M16DE)], {}),
    ("m30k16_en_swap3", "13a", False, F(M16EN, {"op": "swap_adjacent_words_every_kth_line", "k": 3}), [F(M16EN)], {}),
    ("m30k17_de_lower2_mixed", "13a", False, F(M17DE, {"op": "lowercase_every_kth_line", "k": 2}), [F(M17DE)], {}),
    ("m30k17_de_lower2_lc", "13a", True, F(M17DE, {"op": "lowercase_every_kth_line", "k": 2}), [F(M17DE)],
     {"chrf": {"lowercase": True}}),
    ("m30k17_en_truncate_2_3", "13a", False, F(M17EN, {"op": "truncate_words", "num": 2, "den": 3}), [F(M17EN)], {}),
    ("m30k18_de_empty5", "13a", False, F(M18DE, {"op": "empty_every_kth_line", "k": 5}), [F(M18DE)], {}),
    ("m30k18_en_replace_intl", "intl", False, F(M18EN, {"op": "replace_word", "from": "a", "to": "the"}), [F(M18EN)],
     {}),
    ("m30k16_en_drop5_intl", "intl", False, F(M16EN, {"op": "drop_every_kth_word", "k": 5}), [F(M16EN)], {}),
    ("m30k17_de_drop4_none", "none", False, F(M17DE, {"op": "drop_every_kth_word", "k": 4}), [F(M17DE)], {}),
    ("m30k16_en_two_refs", "13a", False, F(M16EN, {"op": "drop_every_kth_word", "k": 6}),
     [F(M16EN), F(M16EN, {"op": "swap_adjacent_words_every_kth_line", "k": 2})], {}),
    ("m30k16_de_three_refs", "13a", False, F(M16DE, {"op": "replace_word", "from": "Ein", "to": "Eine"}),
     [F(M16DE, {"op": "drop_every_kth_word", "k": 3}), F(M16DE, {"op": "truncate_words", "num": 1, "den": 2}),
      F(M16DE, {"op": "swap_adjacent_words_every_kth_line", "k": 1})], {}),
    ("sotu_drop9_swap4", "13a", False,
     F(SOTU, {"op": "drop_every_kth_word", "k": 9}, {"op": "swap_adjacent_words_every_kth_line", "k": 4}), [F(SOTU)],
     {}),
    ("sotu_truncate_3_4_intl_lc", "intl", True, F(SOTU, {"op": "truncate_words", "num": 3, "den": 4}), [F(SOTU)], {}),
    ("m30k16_en_vs_de", "13a", False, F(M16EN), [F(M16DE)], {}),
    ("m30k18_de_perfect", "13a", False, F(M18DE), [F(M18DE)], {}),
    ("m30k18_de_first100_chrfpp", "13a", False,
     F(M18DE, {"op": "first_lines", "n": 100}, {"op": "drop_every_kth_word", "k": 3}),
     [F(M18DE, {"op": "first_lines", "n": 100})], {"chrf": {"word_order": 2}}),
    # --- hand-checked (see HAND) --------------------------------------------------------------------------------
    ("hand_cat_mat", "13a", False, L("the cat sat on the mat"), [L("the cat sat on a mat")], {}),
    ("hand_no_4grams", "13a", False, L("a b c"), [L("a b c d e")], {}),
    ("hand_exp_smoothing", "13a", False, L("a x b y c"), [L("a b c")], {}),
    ("hand_closest_ref_tie", "13a", False, L("a b c d e"), [L("a b c d"), L("a b c d e f")], {}),
    # --- inline edge cases ----------------------------------------------------------------------------------------
    ("empty_hypotheses", "13a", False, L("", ""), [L("a b c d", "e f g h")], {}),
    ("empty_hypothesis_lines", "13a", False, L("the quick brown fox jumps", "", "over the lazy dog ."),
     [L("the quick brown fox jumped", "nothing here", "over the lazy dog .")], {}),
    ("zero_overlap", "13a", False, L("alpha beta gamma delta", "epsilon zeta"),
     [L("one two three four", "five six seven")], {}),
    ("perfect_match_inline", "13a", False, L("Hello there, General Kenobi!", "You are a bold one."),
     [L("Hello there, General Kenobi!", "You are a bold one.")], {}),
    ("single_word_lines", "13a", False, L("yes", "no", "maybe", "so"), [L("yes", "no", "perhaps", "so")], {}),
    ("punctuation_13a", "13a", False, L(PUNCT_HYP), [L(PUNCT_REF)], {}),
    ("punctuation_intl", "intl", False, L(PUNCT_HYP), [L(PUNCT_REF)], {}),
    ("numbers_13a", "13a", False, L(NUMBERS_HYP), [L(NUMBERS_REF)], {}),
    ("numbers_intl", "intl", False, L(NUMBERS_HYP), [L(NUMBERS_REF)], {}),
    ("numbers_none", "none", False, L(NUMBERS_HYP), [L(NUMBERS_REF)], {}),
    ("unicode_13a", "13a", False, L(UNICODE_HYP), [L(UNICODE_REF)], {}),
    ("unicode_intl", "intl", False, L(UNICODE_HYP), [L(UNICODE_REF)], {}),
    ("unicode_intl_lc", "intl", True, L(UNICODE_HYP), [L(UNICODE_REF)], {"chrf": {"lowercase": True}}),
    ("html_entities_13a", "13a", False,
     L("&quot;Fish &amp; chips&quot; &lt;b&gt;bold&lt;/b&gt; &amp;lt; <skipped>done", "co-\noperate and line\nbreak"),
     [L('"Fish & chips" <b>bold</b> &lt; done', "cooperate and line break")], {}),
    ("html_entities_intl", "intl", False, L("&quot;Fish &amp; chips&quot; &lt;b&gt;"), [L('"Fish & chips" <b>')], {}),
    ("case_mixed", "13a", False, L("The Cat SAT on the Mat", "ΟΔΟΣ ΚΑΙ ΣΟΦΙΑ İstanbul STRASSE"),
     [L("the cat sat on the mat", "οδος και σοφια istanbul straße")], {}),
    ("case_lowercase", "13a", True, L("The Cat SAT on the Mat", "ΟΔΟΣ ΚΑΙ ΣΟΦΙΑ İstanbul STRASSE"),
     [L("the cat sat on the mat", "οδος και σοφια i̇stanbul strasse")], {"chrf": {"lowercase": True}}),
    ("final_sigma_lowercase", "none", True, L("ΟΔΟΣ. ΣΑΣ Σ ΑΣ' ΑΣ1"), [L("οδος. σας σ ας' ας1")], {}),
    ("whitespace_kinds", "13a", False, L("a\tb  c\u00a0d\u3000e f   ", "  g h\u2028i  "),
     [L("a b c d e f", "g h i")], {}),
    ("two_refs_inline", "13a", False, L("the cat is on the mat", "there is a dog"),
     [L("the cat sits on the mat", "a dog is there"), L("a cat is on the mat", "there is one dog")], {}),
    ("three_refs_inline", "intl", False, L("it is a guide to action which ensures that the military always obeys"),
     [L("it is a guide to action that ensures that the military will forever heed party commands"),
      L("it is the guiding principle which guarantees the military forces always being under the command of the party"),
      L("it is the practical guide for the army always to heed the directions of the party")], {}),
    ("variable_refs", "13a", False, L("a b c d e", "f g h i j"), [L("a b c d e", ""), L("a b x d e", "f g h i k")],
     {}),
    ("smooth_floor", "13a", False, L("a x b y c", "d e"), [L("a b c", "d e f")],
     {"smooth_method": "floor", "smooth_value": 0.1}),
    ("smooth_none", "13a", False, L("a x b y c d", "d e"), [L("a b c d", "d e f")], {"smooth_method": "none"}),
    ("smooth_add_k", "13a", False, L("a x b y c", "d e"), [L("a b c", "d e f")], {"smooth_method": "add-k"}),
    ("effective_order", "13a", False, L("a b c", "d e"), [L("a b c x", "d e")],
     {"smooth_method": "floor", "effective_order": True}),
    ("empty_reference_line_has_length_0", "13a", False, L("a b", "c d"), [L("a b", "")], {}),
]

# Values worked out by hand from sacreBLEU's BLEU code (13a leaves these strings as they are):
# hand_cat_mat: hyp "the cat sat on the mat" (6 tokens) vs "the cat sat on a mat" (6). 1-grams: "the" x2 clipped
#   to 1, cat sat on mat -> 5/6; 2-grams: the cat, cat sat, sat on match, "on the", "the mat" do not -> 3/5;
#   3-grams 2/4; 4-grams 1/3. BP = 1. score = (83.33 * 60 * 50 * 33.33) ** (1/4) = 8333333.3 ** 0.25 = 53.728.
# hand_no_4grams: "a b c" vs "a b c d e": orders 1-3 all match (3/3, 2/2, 1/1), but there is no 4-gram, so
#   compute_bleu breaks out of its loop with precision 0 for order 4; my_log(0) = -9999999999 makes the score 0.
#   BP = exp(1 - 5/3) = 0.5134.
# hand_exp_smoothing: "a x b y c" vs "a b c": 1-grams 3/5 = 60; orders 2-4 have no match, so `exp` smoothing
#   gives 100 / (2 * 4) = 12.5, 100 / (4 * 3) = 8.33, 100 / (8 * 2) = 6.25 ("6.2" when printed: round half to
#   even). BP = 1 (5 > 3). score = (60 * 12.5 * 8.333 * 6.25) ** 0.25 = 39062.5 ** 0.25 = 14.0585.
# hand_closest_ref_tie: "a b c d e" vs refs "a b c d" and "a b c d e f": both differ by 1 token, the shorter (4)
#   is the reference length; every n-gram of the hypothesis occurs in the second reference: 100, ratio 1.25.
HAND = {
    "hand_cat_mat": {"score": 53.7284965911771, "precisions": [500 / 6, 60.0, 50.0, 100 / 3], "bp": 1.0,
                     "sys_len": 6, "ref_len": 6},
    "hand_no_4grams": {"score": 0.0, "precisions": [100.0, 100.0, 100.0, 0.0], "bp": 0.513417119032592,
                       "sys_len": 3, "ref_len": 5},
    "hand_exp_smoothing": {"score": 14.058533129758727, "precisions": [60.0, 12.5, 100 / 12, 6.25], "bp": 1.0,
                           "sys_len": 5, "ref_len": 3},
    "hand_closest_ref_tie": {"score": 100.0, "precisions": [100.0] * 4, "bp": 1.0, "sys_len": 5, "ref_len": 4},
}


def compute(case, data_dir):
    name, tok, lc, hyp_spec, ref_specs, extra = case
    hyps = build(hyp_spec, data_dir)
    refs = [build(r, data_dir) for r in ref_specs]
    out = {"name": name, "tokenize": tok, "lowercase": lc, "hyp": hyp_spec, "refs": ref_specs}
    for key in ("smooth_method", "smooth_value", "effective_order"):
        if key in extra:
            out[key] = extra[key]
    chrf_opts = dict(extra.get("chrf", {}))
    if chrf_opts:
        out["chrf_options"] = chrf_opts
    out["source"] = f"sacrebleu {sacrebleu.__version__}"
    bleu = BLEU(tokenize=tok, lowercase=lc, smooth_method=extra.get("smooth_method", "exp"),
                smooth_value=extra.get("smooth_value"), effective_order=extra.get("effective_order", False))
    if extra.get("expect_error"):
        try:
            bleu.corpus_score(hyps, refs)
        except Exception as e:  # sacreBLEU raises RuntimeError
            out["expected"] = {"error": str(e)}
            return out
        print(f"{name}: sacreBLEU accepted input that this case expected to be refused; recording its score")
        out.pop("expect_error", None)
    s = bleu.corpus_score(hyps, refs)
    sig = bleu.get_signature().format()
    chrf = CHRF(**chrf_opts)
    c = chrf.corpus_score(hyps, refs)
    out["expected"] = {
        "score": s.score, "precisions": list(s.precisions), "counts": [int(x) for x in s.counts],
        "totals": [int(x) for x in s.totals], "bp": s.bp, "sys_len": s.sys_len, "ref_len": s.ref_len,
        "format": s.format(), "signature": sig,
        "chrf": c.score, "chrf_format": c.format(), "chrf_signature": chrf.get_signature().format(),
    }
    if name in HAND:
        h = HAND[name]
        ok = abs(h["score"] - s.score) < 1e-9 and abs(h["bp"] - s.bp) < 1e-9 and \
            all(abs(a - b) < 1e-9 for a, b in zip(h["precisions"], s.precisions)) and \
            (h["sys_len"], h["ref_len"]) == (s.sys_len, s.ref_len)
        if not ok:
            raise SystemExit(f"{name}: sacreBLEU gives {s} but the hand-computed values are {h}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="../shared/data", help="the shared corpora (multi30k/, sotu/)")
    ap.add_argument("--out", default="tests/data/bleu_cases.json")
    args = ap.parse_args()
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    cases = [compute(c, args.data_dir) for c in CASES]
    doc = {
        "generator": "scripts/bleu_reference_cases.py",
        "sacrebleu_version": sacrebleu.__version__,
        "python": platform.python_version(),
        "note": "hyp/refs are inline lines or recipes over --data-dir files; the transforms are in this script and "
                "in tests/test_bleu.cpp",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        # Raw UTF-8, not \u escapes: yaml-cpp (which reads this file in the C++ test) rejects JSON's surrogate-pair
        # escapes for characters outside the BMP (emoji).
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {args.out} (sacrebleu {sacrebleu.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
