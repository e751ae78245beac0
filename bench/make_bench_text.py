#!/usr/bin/python3
"""Writes the tokenizer benchmark's mixed text, the same bytes on every run.

About 4 MB of UTF-8 in shuffled chunks:
  ~45% English prose  word-level Markov chain (order 2) trained on the licence texts of Debian's
                      base-files (/usr/share/common-licenses) and the docstrings of Python's
                      standard library (/usr/lib/python3.11)
  ~25% code           line ranges of Python's standard library and of GCC's C++ headers
  ~12% CJK            Chinese, Japanese and Korean sentences from common characters and words
   ~8% emoji          short posts: prose with emoji, skin tones, ZWJ sequences and flags
  ~10% whitespace     aligned tables, deep indentation, long runs of spaces, tabs and newlines
All randomness comes from one seeded generator; the inputs are files of Debian 12 packages that
gptrec already needs (base-files, python3, g++), so the text is identical on any such machine.

Usage: /usr/bin/python3 bench/make_bench_text.py OUT [--megabytes 4]
"""

import argparse
import glob
import hashlib
import random
import re

SEED = 20240229

# Frequent Chinese characters and Japanese/Korean words: the building blocks of the CJK chunks.
HANZI = ("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后"
         "能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心"
         "前面又定见只主没公从已外问两手知长点高现全电样正新意明开力利体理常月度加实位关名工内四文门产")
KANA_WORDS = ["これは", "それは", "です", "ます", "ました", "ですが", "について", "として", "ために",
              "日本語", "東京", "会社", "データ", "テキスト", "トークン", "モデル", "コンピュータ",
              "ありがとう", "ございます", "今日", "明日", "とても", "少し", "新しい", "大きな", "学校",
              "を", "に", "が", "の", "と", "へ", "で", "も", "は", "から", "まで", "ラーメン", "カメラ"]
HANGUL_WORDS = ["안녕하세요", "감사합니다", "오늘", "내일", "한국어", "데이터", "모델", "사람", "학교",
                "회사", "컴퓨터", "이", "가", "은", "는", "을", "를", "에서", "그리고", "하지만", "정말",
                "새로운", "시간", "문제", "생각", "세계", "경제", "문화"]
CJK_PUNCT = ["。", "、", "，", "！", "？", "「", "」", "：", "（", "）"]
EMOJI = ["\U0001F600", "\U0001F602", "\U0001F60D", "\U0001F914", "\U0001F62D", "\U0001F44D",
         "\U0001F44D\U0001F3FD", "\U0001F64F\U0001F3FB", "\u2764\ufe0f", "\U0001F525", "\u2728",
         "\U0001F389", "\U0001F680", "\U0001F4AF", "\U0001F440", "\U0001F308", "\u2615",
         "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F469\U0001F3FE\u200D\U0001F4BB",
         "\U0001F1EF\U0001F1F5", "\U0001F1E9\U0001F1EA", "\U0001F1E7\U0001F1F7", "\u2705",
         "\U0001F6D2", "\U0001F381", "\U0001F4E6", "\U0001F3C6", "\U0001F37A", "\U0001F355"]


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def english_corpus():
    texts = [read(p) for p in sorted(glob.glob("/usr/share/common-licenses/*"))]
    for p in sorted(glob.glob("/usr/lib/python3.11/*.py")):
        texts.extend(re.findall(r'"""(.*?)"""', read(p), flags=re.S))
    words = " ".join(texts).split()
    if len(words) < 10000:
        raise SystemExit("not enough English text found (are base-files and python3 installed?)")
    return words


def markov(words):
    chain = {}
    for a, b, c in zip(words, words[1:], words[2:]):
        chain.setdefault((a, b), []).append(c)
    return chain


def prose(rng, chain, keys, n_words):
    a, b = rng.choice(keys)
    out = [a, b]
    for _ in range(n_words):
        nexts = chain.get((a, b))
        if not nexts:
            a, b = rng.choice(keys)
            out.append("\n\n" + a)
            out.append(b)
            continue
        c = rng.choice(nexts)
        out.append(c)
        a, b = b, c
    return " ".join(out) + "\n\n"


def code_files():
    files = sorted(glob.glob("/usr/lib/python3.11/*.py"))
    files += sorted(p for p in glob.glob("/usr/include/c++/12/bits/*.h"))
    return files


def code(rng, files, n_lines):
    lines = read(rng.choice(files)).splitlines(keepends=True)
    start = rng.randrange(max(1, len(lines) - n_lines))
    return "".join(lines[start:start + n_lines]) + "\n"


def cjk(rng):
    kind = rng.random()
    sentences = []
    for _ in range(rng.randint(2, 6)):
        if kind < 0.5:
            s = "".join(rng.choice(HANZI) for _ in range(rng.randint(8, 30)))
            s = s[: len(s) // 2] + rng.choice(CJK_PUNCT[1:3]) + s[len(s) // 2:] + "。"
        elif kind < 0.8:
            s = "".join(rng.choice(KANA_WORDS) + (rng.choice(HANZI) if rng.random() < 0.3 else "")
                        for _ in range(rng.randint(4, 12))) + "。"
        else:
            s = " ".join(rng.choice(HANGUL_WORDS) for _ in range(rng.randint(3, 10))) + "."
        sentences.append(s)
    return "".join(sentences) + "\n"


def emoji_post(rng, chain, keys):
    words = prose(rng, chain, keys, rng.randint(5, 30)).split()
    out = []
    for w in words:
        out.append(w)
        if rng.random() < 0.25:
            out.append("".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))))
    sep = "" if rng.random() < 0.3 else " "
    return sep.join(out[:3]) + " " + " ".join(out[3:]) + "\n"


def whitespace(rng, chain, keys):
    kind = rng.random()
    if kind < 0.4:  # an aligned table
        rows = []
        for _ in range(rng.randint(3, 12)):
            cells = [w[:14] for w in prose(rng, chain, keys, 6).split()[:5]]
            rows.append("".join(c.ljust(rng.choice([8, 16, 24])) for c in cells).rstrip() + "\n")
        return "".join(rows) + "\n"
    if kind < 0.7:  # deep indentation
        out = []
        for depth in range(rng.randint(3, 12)):
            out.append(rng.choice(["  ", "    ", "\t"]) * depth + " ".join(
                prose(rng, chain, keys, 4).split()[:4]) + "\n")
        return "".join(out)
    # long runs of spaces, tabs and newlines
    return (" " * rng.randint(20, 300) + rng.choice(["x", "=", "1", "\u00e9"]) +
            "\t" * rng.randint(1, 30) + "\n" * rng.randint(2, 40) + " \n" * rng.randint(1, 10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--megabytes", type=float, default=4.0)
    args = parser.parse_args()

    rng = random.Random(SEED)
    words = english_corpus()
    chain = markov(words)
    keys = sorted(chain)
    files = code_files()
    target = int(args.megabytes * 1_000_000)
    shares = [("prose", 0.45), ("code", 0.25), ("cjk", 0.12), ("emoji", 0.08), ("space", 0.10)]
    made = {name: 0 for name, _ in shares}
    chunks = []
    total = 0
    while total < target:
        # The kind furthest below its share goes next, so the mix holds at any size.
        name = min(shares, key=lambda s: made[s[0]] / (target * s[1]))[0]
        if name == "prose":
            chunk = prose(rng, chain, keys, rng.randint(50, 400))
        elif name == "code":
            chunk = code(rng, files, rng.randint(10, 80))
        elif name == "cjk":
            chunk = cjk(rng)
        elif name == "emoji":
            chunk = emoji_post(rng, chain, keys)
        else:
            chunk = whitespace(rng, chain, keys)
        size = len(chunk.encode("utf-8"))
        made[name] += size
        total += size
        chunks.append(chunk)
    rng.shuffle(chunks)
    data = "".join(chunks).encode("utf-8")
    with open(args.out, "wb") as f:
        f.write(data)
    mix = ", ".join(f"{n} {made[n] / total:.0%}" for n, _ in shares)
    print(f"wrote {args.out}: {len(data)} bytes ({mix}), sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
