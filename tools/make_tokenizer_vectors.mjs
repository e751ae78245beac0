// Writes tests/data/gpt2/extra_vectors.jsonl: golden GPT-2 token ids from OpenAI's tiktoken
// (npm `tiktoken`, the WASM build of the Rust library), for texts that the shared vectors do not
// cover: every script of the Unicode Character Database, numbers of every kind, combining marks,
// every White_Space character and its look-alikes, contractions, special-token text, long runs.
//
// The texts are drawn with a seeded generator, so the output is the same on every run. Code points
// are sampled from the Unicode data files that Debian's `unicode-data` package installs in
// /usr/share/unicode (Scripts.txt, UnicodeData.txt, PropList.txt, emoji/); only code points
// assigned there are used, so the vectors do not depend on the Unicode version of the reference.
//
// Usage (node >= 18, and tiktoken installed in bench/):
//   (cd bench && npm ci) && node tools/make_tokenizer_vectors.mjs [--ucd /usr/share/unicode] [--out FILE]
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "bench", "package.json"));
const { get_encoding } = require("tiktoken");
const tiktokenVersion = JSON.parse(
  readFileSync(path.join(path.dirname(require.resolve("tiktoken")), "package.json"), "utf8"),
).version;

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const ucd = option("--ucd", "/usr/share/unicode");
const out = option("--out", path.join(root, "tests", "data", "gpt2", "extra_vectors.jsonl"));

// ---- Unicode data -------------------------------------------------------------------------

function dataLines(file) {
  return readFileSync(path.join(ucd, file), "utf8")
    .split("\n")
    .map((l) => l.split("#")[0].trim())
    .filter((l) => l.length > 0);
}

function parseRange(field) {
  const [a, b] = field.trim().split("..");
  const first = parseInt(a, 16);
  return [first, b ? parseInt(b, 16) : first];
}

// General category of every assigned code point.
const category = new Map();
{
  let rangeStart = null;
  for (const line of dataLines("UnicodeData.txt")) {
    const f = line.split(";");
    const cp = parseInt(f[0], 16);
    if (f[1].endsWith(", First>")) {
      rangeStart = cp;
    } else if (f[1].endsWith(", Last>")) {
      for (let c = rangeStart; c <= cp; c++) category.set(c, f[2]);
    } else {
      category.set(cp, f[2]);
    }
  }
}
const isSurrogate = (cp) => cp >= 0xd800 && cp <= 0xdfff;

// Assigned code points of each script (Scripts.txt), in file order.
const scripts = new Map();
for (const line of dataLines("Scripts.txt")) {
  const [range, name] = line.split(";").map((s) => s.trim());
  const [first, last] = parseRange(range);
  if (!scripts.has(name)) scripts.set(name, []);
  for (let c = first; c <= last; c++) if (category.has(c)) scripts.get(name).push(c);
}

const whiteSpace = [];
for (const line of dataLines("PropList.txt")) {
  const [range, prop] = line.split(";").map((s) => s.trim());
  if (prop !== "White_Space") continue;
  const [first, last] = parseRange(range);
  for (let c = first; c <= last; c++) whiteSpace.push(c);
}

const byCategory = (pred) => [...category.keys()].filter((c) => !isSurrogate(c) && pred(category.get(c)));
const decimalDigits = byCategory((gc) => gc === "Nd");
const letterNumbers = byCategory((gc) => gc === "Nl");
const otherNumbers = byCategory((gc) => gc === "No");
const marks = byCategory((gc) => gc === "Mn" || gc === "Mc" || gc === "Me");
const formats = byCategory((gc) => gc === "Cf");
const controls = byCategory((gc) => gc === "Cc");
const privateUse = byCategory((gc) => gc === "Co");
const assigned = byCategory(() => true);

const emoji = [];
for (const file of ["emoji/emoji-sequences.txt", "emoji/emoji-zwj-sequences.txt"]) {
  for (const line of dataLines(file)) {
    const field = line.split(";")[0].trim();
    if (field.includes("..")) {
      const [first, last] = parseRange(field);
      for (let c = first; c <= last; c++) emoji.push(String.fromCodePoint(c));
    } else {
      emoji.push(String.fromCodePoint(...field.split(/\s+/).map((h) => parseInt(h, 16))));
    }
  }
}

// ---- seeded random texts ------------------------------------------------------------------

let seed = 0x6a09e667;
function random() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (list) => list[Math.floor(random() * list.length)];
const chars = (list, n) => {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCodePoint(pick(list));
  return s;
};
const repeat = (n, f) => Array.from({ length: n }, f);

const asciiPunct = [..."!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"].map((c) => c.codePointAt(0));
const asciiLetters = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"].map((c) => c.codePointAt(0));
const asciiDigits = [..."0123456789"].map((c) => c.codePointAt(0));

// Words of one script separated by spaces, with some punctuation and ASCII around them.
function scriptText(cps) {
  const words = repeat(int(3, 9), () => chars(cps, int(1, 8)));
  let s = "";
  for (const w of words) {
    const r = random();
    s += r < 0.6 ? " " : r < 0.7 ? ", " : r < 0.8 ? "\n" : r < 0.9 ? " " + chars(asciiDigits, int(1, 4)) + " " : "";
    s += w;
  }
  return s + pick([".", "!", "?", "", " ", "\n"]);
}

const vectors = [];
const add = (category, text) => vectors.push({ category, text });

// Every script: words with spaces, and a run without spaces.
for (const [name, cps] of scripts) {
  if (cps.length === 0) continue;
  add(`script:${name}`, scriptText(cps));
  add(`script_run:${name}`, chars(cps, int(20, 120)));
}

// Numbers: every decimal digit set, letter numbers, other numbers, with the ASCII neighbours that
// the pattern treats specially (space prefix, letters and punctuation next to them).
for (let i = 0; i < decimalDigits.length; i += 10) {
  const set = decimalDigits.slice(i, i + 10);
  add("numbers:decimal", `${chars(set, int(1, 6))} ${chars(set, int(2, 9))}x${chars(set, 3)}.${chars(set, 2)}`);
}
for (let i = 0; i < 12; i++) {
  add("numbers:letter", ` ${chars(letterNumbers, int(1, 5))} ${chars(letterNumbers, int(1, 3))}${chars(asciiLetters, 2)}`);
  add("numbers:other", `x${chars(otherNumbers, int(1, 4))} ${chars(otherNumbers, int(1, 6))}${chars(asciiDigits, 2)}`);
}
for (const s of [
  "1234567890123456789012345678901234567890",
  "3.14159265358979 2.718281828 -1.5e-10 +6.022e23 0x1F600 0b1011 0o755 1_000_000",
  "1,234,567.89 €1.234,56 ¥12,345 ₹1,23,456.78 $0.99 50% 3/4 1:30pm 2024-02-29T12:00:00Z",
  "+1 (555) 010-9999, +44 20 7946 0958, 192.168.0.1, ::1, v1.2.3-rc.4",
  "²³¹ ¼½¾ ⅐⅑⅒ ① ⑳ ㉑ ㊿ ⓪ ❶ ➓ 𝟎𝟗 𝟘𝟡 𝟬𝟵 Ⅰ Ⅻ ⅰ ⅻ ↀ ↈ 〇 〡 〩 𐌠 𐏑",
  "٠١٢٣٤٥٦٧٨٩ ۰۱۲۳ ०१२३४ ০১২৩ ๐๑๒๓ ໐໑໒ ༠༡༢ ၀၁၂ ០១២ ᠐᠑᠒ ０１２３",
  "1st 2nd 3rd 4th 21st 100th 1a2b3c a1b2c3 H2O CO2 x86_64 ARMv8 COVID-19 B2B",
  "9".repeat(300),
  "0.".repeat(150),
  " 12 345 6789 ".repeat(20),
])
  add("numbers:mixed", s);

// Combining marks after letters, digits, spaces, punctuation, at the start, and in piles.
for (let i = 0; i < 30; i++) {
  const base = pick([asciiLetters, asciiDigits, asciiPunct, [0x20], scripts.get("Latin"), scripts.get("Devanagari")]);
  add("combining", chars(marks, int(0, 2)) + repeat(int(2, 6), () => chars(base, 1) + chars(marks, int(1, 4))).join(pick(["", " "])));
}
add("combining", "e\u0301 é e\u0301\u0301 n\u0303 ñ a\u030a å A\u030a Å ǖ u\u0308\u0304 ﬁ ﬃ Å Ω");
add("combining", "Z̴̢̛̬̝͓͇͈̩̮̏͑̓̒ͧ̐ä̡̹̦̦̤̤͕́̾ͣ̈́ͫ͝l̡̻̳͖̞̬͉̱̓͂̔̈́̏͒̿g̵̛̺̮̝̖͚͕͑ͥ̽ͨͦ̏o̵̴̦͖͔̯͍̹ͦ͋ͯ͌̐ͫ͂ ̸̡̧̝̦̗̠̪̾̉͊ͭ̚t̗̹͓̝͈̗̱̀̀e̛̩̼̯͕̝̼͓̽̿̈́ͥ̆̕x̛̙̫̯̠̗͉̰̊͐ͧͬ̚t̸̷̖̫̲̰͙͉̩̒̊̈́");
add("combining", "\u0301".repeat(400));

// Whitespace: every White_Space character alone, in runs, before each class, at the end; and
// characters that look like space but are not White_Space.
const lookalikes = [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x180e, 0x1c, 0x1d, 0x1e, 0x1f];
for (const ws of whiteSpace) {
  const c = String.fromCodePoint(ws);
  add("whitespace:each", `a${c}b${c}${c}1${c}${c}${c}!${c}`);
  add("whitespace:each", `${c}${c}x ${c}y${c} ${c}`);
}
for (let i = 0; i < 40; i++) {
  const pool = [...whiteSpace, ...whiteSpace, ...lookalikes, 0x20, 0x20, 0x20, 0x0a];
  add("whitespace:mixed", repeat(int(2, 8), () => chars(pool, int(1, 6)) + pick(["word", "12", "!?", "日本", "é", "'s", ""])).join(""));
}
for (const s of [
  " ".repeat(1000) + "x",
  "\t".repeat(300) + "\n".repeat(300),
  "a" + " \t".repeat(200) + "b",
  "\r\n".repeat(100) + "end\r\n",
  "line one\n\n\nline two \n \n\tindented\n" + " ".repeat(16) + "deep",
  "\u3000\u3000全角\u3000スペース\u3000",
  "x\u00a0\u00a0y\u202fz\u2009\u200aw",
  "\ufeff\ufeff \ufeffa \ufeff",
  "\u001c\u001d\u001e\u001f \u001c x\n\u001f\n",
  "\u0085\u0085 a\u0085b \u0085",
])
  add("whitespace:runs", s);

// Contractions and apostrophes: only ASCII ' followed by lower-case s t re ve m ll d.
for (const s of [
  "I'm you're he's she'd we'll they've it's can't won't y'all o'clock rock'n'roll",
  "I'M YOU'RE HE'S SHE'D WE'LL THEY'VE IT'S CAN'T",
  "it’s don’t we’ll I’m ‘quoted’ ’s",
  "'s't're've'm'll'd 'S'T'RE'VE'M'LL'D",
  "''s '''ll ' s 'x 'sa 'tis 'twas 'em 'ello '99 '",
  "'" + "s".repeat(50) + " 'll've'd",
  "rock 'n' roll, 'quote' \"double\" `back`",
  "l'homme l'été dell'arte c'est qu'il aujourd'hui",
])
  add("contractions", s);

// Emoji: single, sequences (ZWJ, skin tones, flags, keycaps), runs with and without spaces.
for (let i = 0; i < 30; i++) add("emoji", repeat(int(1, 8), () => pick(emoji)).join(pick(["", " ", "", "!", "a"])));
add("emoji_run", repeat(600, () => pick(emoji)).join(""));

// Special-token text, which is ordinary text unless special tokens are allowed.
for (const s of [
  "<|endoftext|>",
  "<|endoftext|><|endoftext|>",
  " <|endoftext|> ",
  "a<|endoftext|>b",
  "Hello<|endoftext|>\n\nNew document",
  "<|endoftext|",
  "|endoftext|>",
  "<|endoftext|>>",
  "<<|endoftext|>",
  "<|ENDOFTEXT|> <|endoftext |> <| endoftext|>",
  "<|endoftext|>".repeat(20),
  "x <|endoftext|>'s <|endoftext|>123 <|endoftext|>\u0301",
  "<|fim_prefix|> <|im_start|> <|startoftext|> <s> </s> [CLS] [SEP]",
])
  add("special_token_text", s);

// Long runs that no space breaks up: the merges must stay fast and exact on them.
add("long_run", "!".repeat(3000));
add("long_run", chars(asciiPunct, 4000));
add("long_run", "a".repeat(5000));
add("long_run", "ab".repeat(2500));
add("long_run", chars(asciiLetters, 3000));
add("long_run", chars(scripts.get("Han"), 1500));
add("long_run", chars(scripts.get("Hangul"), 1000));
add("long_run", chars(scripts.get("Arabic"), 1000));
add("long_run", chars(decimalDigits, 1000));
add("long_run", "=-".repeat(2000));
add("long_run", repeat(500, () => chars(asciiLetters, int(1, 3)) + chars(marks, 1)).join(""));
add("long_run", Buffer.from(repeat(3000, () => int(0, 255))).toString("base64"));

// Control characters, format characters, private use and random assigned code points.
add("controls", controls.map((c) => String.fromCodePoint(c)).join(""));
for (let i = 0; i < 10; i++) add("controls", chars(controls, int(2, 10)) + " a" + chars(controls, 3) + "1 " + chars(controls, 2));
for (let i = 0; i < 10; i++) add("format", "a" + chars(formats, int(1, 4)) + "b " + chars(formats, 2) + " 1" + chars(formats, 1));
for (let i = 0; i < 5; i++) add("private_use", chars(privateUse, int(1, 6)) + " x" + chars(privateUse, 2));
for (let i = 0; i < 60; i++) add("random_assigned", chars(assigned, int(1, 40)));
for (let i = 0; i < 30; i++) {
  const pools = [assigned, asciiLetters, asciiDigits, asciiPunct, whiteSpace, marks, [0x27, 0x27, 0x73, 0x74]];
  add("random_mixed", repeat(int(5, 40), () => chars(pick(pools), int(1, 4))).join(""));
}

// ---- reference ids ------------------------------------------------------------------------

const enc = get_encoding("gpt2");
const utf8 = new TextEncoder();
const lines = [];
for (const v of vectors) {
  const ids = Array.from(enc.encode_ordinary(v.text));
  const bytes = Buffer.from(enc.decode(Uint32Array.from(ids)));
  if (!bytes.equals(Buffer.from(utf8.encode(v.text)))) throw new Error(`no round trip: ${JSON.stringify(v.text)}`);
  const row = { text: v.text, ids };
  if (v.text.includes("<|endoftext|>")) row.ids_if_special_allowed = Array.from(enc.encode(v.text, "all"));
  row.category = v.category;
  lines.push(JSON.stringify(row));
}
enc.free();
writeFileSync(out, lines.join("\n") + "\n");
console.log(`wrote ${lines.length} vectors to ${out} (tiktoken ${tiktokenVersion}, UCD from ${ucd})`);
