#!/usr/bin/env python3
"""Builds the plain-text corpora of issue 17 (Tables 1 and 3 on real data) from ../shared/data.

    python3 scripts/real_corpora.py wmt  DATA_DIR OUT_DIR [--seed 1]
    python3 scripts/real_corpora.py wiki DATA_DIR OUT_DIR [--seed 1] [--train-words N] [--eval-words N]

Both write one sentence (wmt) or paragraph (wiki) a line, UTF-8, in the form `mqa prepare` reads (data.train_source
/ data.train_target ... and data.train_text ...), plus MANIFEST.txt: what went in, what was dropped and why, line and
word counts, and the SHA-256 of every file written. Deterministic: the same inputs and seed give the same bytes.
Called by scripts/build_wmt_real.sh and scripts/build_wiki_lm.sh, which say more about the choices.
"""
import argparse
import hashlib
import os
import random
import re
import subprocess
import sys

# ---------------------------------------------------------------------------------------------------------------
# Table 1: English -> German translation

# Training news sets: every WMT news test set of the folder except the paper's dev (newstest2013) and test
# (newstest2014). newssyscomb2009 is in: it is WMT09's system-combination tuning set, news of 2009 like
# newstest2009, and shares nothing with 2013/2014 (the dedupe below would drop it if it did).
NEWS_TRAIN = ["news-test2008", "newssyscomb2009", "newstest2009", "newstest2010", "newstest2011", "newstest2012",
              "newstest2015", "newstest2016", "newstest2017", "newstest2018", "newstest2019", "newstest2020"]
NEWS_DEV, NEWS_TEST = "newstest2013", "newstest2014"


def read_lines(path):
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def read_pairs(src_path, tgt_path):
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        sys.exit(f"error: {src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}")
    return list(zip(src, tgt))


def squeeze(text):
    """The dedupe key: whitespace runs as one space, none at the ends."""
    return " ".join(text.split())


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def words(lines):
    """Words as mqa counts them for per-word perplexity (C isspace: ASCII whitespace only; str.split() would also
    split at Unicode spaces)."""
    return sum(len(line.encode("utf-8").split()) for line in lines)


def build_wmt(data_dir, out_dir, seed):
    news = os.path.join(data_dir, "wmt-newstest")
    sources = [("tatoeba", os.path.join(data_dir, "tatoeba", "tatoeba.en"), os.path.join(data_dir, "tatoeba", "tatoeba.de")),
               ("multi30k-train", os.path.join(data_dir, "multi30k", "train.en"), os.path.join(data_dir, "multi30k", "train.de"))]
    sources += [(name, os.path.join(news, name + ".en"), os.path.join(news, name + ".de")) for name in NEWS_TRAIN]
    dev = read_pairs(os.path.join(news, NEWS_DEV + ".en"), os.path.join(news, NEWS_DEV + ".de"))
    test = read_pairs(os.path.join(news, NEWS_TEST + ".en"), os.path.join(news, NEWS_TEST + ".de"))
    held_out_en = {squeeze(e) for e, _ in dev + test}
    held_out_de = {squeeze(d) for _, d in dev + test}

    report = [f"seed: {seed}", "", "training sources (pairs read; dropped: empty side, a side in dev/test, "
              "duplicate of an earlier pair; kept):"]
    train, seen = [], set()
    for name, en_path, de_path in sources:
        pairs = read_pairs(en_path, de_path)
        if name == "tatoeba":
            # Sorted by length in the file: shuffled on its own first, so that any prefix of it is a fair sample.
            random.Random(seed).shuffle(pairs)
        empty = held = dup = 0
        for en, de in pairs:
            key = (squeeze(en), squeeze(de))
            if not key[0] or not key[1]:
                empty += 1
            elif key[0] in held_out_en or key[1] in held_out_de:
                held += 1
            elif key in seen:
                dup += 1
            else:
                seen.add(key)
                train.append((en.strip(), de.strip()))
        kept = len(pairs) - empty - held - dup
        report.append(f"  {name:<16} {len(pairs):>7} read  {empty:>4} empty  {held:>5} in dev/test  {dup:>5} duplicate"
                      f"  {kept:>7} kept")
    # One shuffle of the whole training set: the sources are interleaved in every file written.
    random.Random(seed + 1).shuffle(train)

    os.makedirs(out_dir, exist_ok=True)
    splits = {"train": train, "valid": dev, "test": test}
    for split, pairs in splits.items():
        write_lines(os.path.join(out_dir, split + ".en"), [e for e, _ in pairs])
        write_lines(os.path.join(out_dir, split + ".de"), [d for _, d in pairs])
    report += ["", f"valid = {NEWS_DEV} (the paper's dev set), test = {NEWS_TEST} (the paper's test set, all 3003)", "",
               "file            lines     words"]
    for split, pairs in splits.items():
        for side, i in (("en", 0), ("de", 1)):
            report.append(f"{split + '.' + side:<12} {len(pairs):>8} {words(p[i] for p in pairs):>9}")
    finish(out_dir, "wmt", report)


# ---------------------------------------------------------------------------------------------------------------
# Table 3: English Wikipedia language model

WIKI_PARTS = [f"enwiki-2014-A{c}.txt.zst" for c in "ABCDEFGHI"]
# The articles of wiki/ that are also WikiText-103 valid or test articles (wiki/SOURCES.txt): never trained on.
WIKITEXT_OVERLAP = {"1933 Treasure Coast hurricane", "Ben Amos", "Chad at the 2008 Summer Olympics",
                    "Temple Beth Israel (Eugene, Oregon)", "Tropical Storm Josephine (2008)"}
DOC_START = re.compile(r'^<doc id="(\d+)" url="[^"]*" title="(.*)">$')


def read_wiki_articles(wiki_dir):
    """(title, [lines]) per article, in file order; empty lines dropped (WikiExtractor puts one after the title and
    one before </doc>: layout, not text)."""
    articles = []
    for part in WIKI_PARTS:
        path = os.path.join(wiki_dir, part)
        proc = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE)
        title, lines = None, []
        for raw in proc.stdout:
            line = raw.decode("utf-8").rstrip("\n").rstrip("\r")
            m = DOC_START.match(line)
            if m:
                title, lines = m.group(2), []
            elif line == "</doc>":
                articles.append((title, lines))
                title = None
            elif title is not None and line.strip():
                lines.append(line.strip())
        if proc.wait() != 0:
            sys.exit(f"error: zstd -dc {path} failed")
    return articles


# WikiText is tokenized (" @-@ ", " , ", "( x )"); a model trained on raw Wikipedia reads it detokenized. These are
# the rules of the zero-shot WikiText evaluations of GPT-2 / Megatron-LM (their wikitext_detokenizer), applied per
# line; per-word perplexity still divides by the words of the original tokenized file (see build_wiki_lm.sh).
DETOK_REPLACE = [("s '", "s'"), (" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" : ", ": "), (" ; ", "; "),
                 (" . ", ". "), (" ! ", "! "), (" ? ", "? "), (" , ", ", ")]
DETOK_BRACKETS = [(re.compile(r"\(\s*([^\)]*?)\s*\)"), r"(\1)"), (re.compile(r"\[\s*([^\]]*?)\s*\]"), r"[\1]"),
                  (re.compile(r"{\s*([^}]*?)\s*}"), r"{\1}"), (re.compile(r"\"\s*([^\"]*?)\s*\""), r'"\1"'),
                  (re.compile(r"'\s*([^']*?)\s*'"), r"'\1'")]
DETOK_MISC = [("= = = =", "===="), ("= = =", "==="), ("= =", "=="), (" \u00b0 ", "\u00b0"), (" N ", " 1 "),
              (" 's", "'s")]


def detokenize_wikitext(line):
    s = re.sub(r"/' [0-9]/", r"/'[0-9]/", line)
    for a, b in DETOK_REPLACE:
        s = s.replace(a, b)
    for pattern, repl in DETOK_BRACKETS:
        s = pattern.sub(repl, s)
    for a, b in DETOK_MISC:
        s = s.replace(a, b)
    return s.strip()


def build_wiki(data_dir, out_dir, seed, train_words, eval_words):
    articles = read_wiki_articles(os.path.join(data_dir, "wiki"))
    dropped = [t for t, _ in articles if t in WIKITEXT_OVERLAP]
    articles = [a for a in articles if a[0] not in WIKITEXT_OVERLAP]
    order = list(range(len(articles)))
    random.Random(seed).shuffle(order)

    # Held-out articles first (valid, then test, each until eval_words words), training from the rest of the same
    # shuffled order until train_words: a documented subset that fits the device call's 64 MiB.
    splits, budgets, pos = {}, [("valid", eval_words), ("test", eval_words), ("train", train_words)], 0
    for split, budget in budgets:
        lines, n, count = [], 0, 0
        while pos < len(order) and (budget <= 0 or n < budget):
            _, body = articles[order[pos]]
            lines += body
            n += words(body)
            count += 1
            pos += 1
        splits[split] = (lines, count, n)
    os.makedirs(out_dir, exist_ok=True)
    for split, (lines, _, _) in splits.items():
        write_lines(os.path.join(out_dir, split + ".txt"), lines)

    wikitext = os.path.join(data_dir, "wikitext", "wikitext-103", "wiki.test.tokens")
    original = read_lines(wikitext)
    write_lines(os.path.join(out_dir, "wikitext103.test.tokens"), original)
    write_lines(os.path.join(out_dir, "wikitext103.test.detok.txt"), [detokenize_wikitext(l) for l in original])

    report = [f"seed: {seed}", f"articles: {len(articles) + len(dropped)} read, {len(dropped)} dropped as WikiText "
              f"valid/test articles: {', '.join(sorted(dropped))}", f"articles left: {len(articles)}, "
              f"{len(articles) - pos} of them unused (beyond the training budget of {train_words} words)", "",
              "file                          articles     lines      words  words+lines (the per-word PPL divisor)"]
    for split, (lines, count, n) in splits.items():
        report.append(f"{split + '.txt':<28} {count:>9} {len(lines):>9} {n:>10} {n + len(lines):>12}")
    n = words(original)
    report.append(f"{'wikitext103.test.tokens':<28} {'':>9} {len(original):>9} {n:>10} {n + len(original):>12}")
    finish(out_dir, "wiki", report)


def finish(out_dir, kind, report):
    files = sorted(f for f in os.listdir(out_dir) if f != "MANIFEST.txt")
    report += ["", "sha256:"] + [f"  {sha256(os.path.join(out_dir, f))}  {f}" for f in files]
    text = f"# built by scripts/real_corpora.py {kind}\n" + "\n".join(report) + "\n"
    with open(os.path.join(out_dir, "MANIFEST.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text, end="")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["wmt", "wiki"])
    p.add_argument("data_dir", help="the shared data folder (../shared/data)")
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--train-words", type=int, default=0, help="wiki: training words (whole articles); 0 = all")
    p.add_argument("--eval-words", type=int, default=250000, help="wiki: words of the valid and of the test split")
    a = p.parse_args()
    if a.kind == "wmt":
        build_wmt(a.data_dir, a.out_dir, a.seed)
    else:
        build_wiki(a.data_dir, a.out_dir, a.seed, a.train_words, a.eval_words)


if __name__ == "__main__":
    main()
