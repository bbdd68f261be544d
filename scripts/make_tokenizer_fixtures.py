#!/usr/bin/env python3
"""Build the tokenizer parity fixtures with the HF `tokenizers` reference.

Writes tests/fixtures/tokenizer/:
  tiny_*.json     small ByteLevel BPE tokenizers trained here on tiny Shakespeare, each covering
                  forms the GPT-NeoX-20B file does not use (pair-form merges, add_prefix_space,
                  non-special added tokens with lstrip/rstrip/single_word, Split/Sequence
                  pre-tokenizers, TemplateProcessing BOS, ignore_merges).
  expected.json   for every tokenizer x input: ids with and without special tokens, and the
                  decoding of those ids with and without skip_special_tokens (stored only where
                  it differs from the input after U+FFFD replacement); plus random id
                  sequences with their decodings (exercises lossy UTF-8 on split characters).

Inputs are stored hex-encoded so invalid UTF-8 survives. The reference only accepts str, so an
input's bytes are given to it as bytes.decode("utf-8", "replace") (maximal-subpart U+FFFD
replacement); the C++ tokenizer does the same replacement on raw bytes.

Usage: python3 scripts/make_tokenizer_fixtures.py   (from the repository root)

       python3 scripts/make_tokenizer_fixtures.py --unicode-tables
prints the C++ tables of src/tokenizer/unicode_tables.cpp: where the reference's Unicode data
(Oniguruma regex classes, NFC) differs from the system's PCRE2 / utf8proc, found by asking both
about every code point.
"""
import ctypes
import json
import os
import random
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
NEOX = os.path.join("models", "tokenizers", "gpt-neox-20b", "tokenizer.json")
SHAKESPEARE = os.path.join(ROOT, "data", "tinyshakespeare.txt")

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def adversarial():
    s = [
        "", " ", "  ", "\t", "\n", "\r\n", "a\r\nb\r\n", "   leading", "trailing   ",
        "a \t b", "\t\tx", "x\n\n\n  y", "many     spaces   here  ", " " * 100, "\n" * 30 + "x",
        " \n \n\t \r\n  ", "a" + " " * 30 + "b", "tab\there\t\tand\t \tthere",
        "I'm you're we've they'll he'd it's DON'T 'quoted' ''s 'S 'LL",
        "She said, 'hello' -- \"world\"!", "can't won't shan't y'all o'clock",
        "1234567890 3.14159 1,000,000 007 ½ ² ٣٤٥ 一二三 ⅷ", "a1b22c333d4444", "12 345 6789 0",
        "日本語のテキスト", "中文测试，标点。", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم",
        "שלום עולם", "สวัสดีครับ", "नमस्ते दुनिया", "Ελληνικά κείμενα",
        "👨\u200d👩\u200d👧\u200d👦 family", "🏳️\u200d🌈 flag", "👍🏽 ok", "❤️ love",
        "emoji😀😃😄end", "\u200d\u200d", "x\u200by", "\ufeffBOM",
        "e\u0301", "A\u030a", "\u0301 leading combining", "ﬁ ligature", "\u2126 ohm",
        "\u1e9b\u0323", "caf\u00e9 cafe\u0301", "n\u0303o\u0308\u0301",
        "x\u180ey", "!\u180e", "a \u180e", "\u180e'll \r\n\u180e",
        # Unicode data the reference and the system libraries disagree on (unicode_tables.h):
        # marks newer than the reference's NFC, letters/digits newer than PCRE2's tables.
        "\U0001fbd3\u1ac1\u093c", "x\u031a\u1715y", "\U00011935\U00011930",
        "\u1c89\u1c8a word", "\U000105c0\U000105c1 x", "\U00010d40\U00010d41 12",
        "a\u0301\u0323", "\u1100\u1161\u11a8 \uac00", "a\u00a0b", "a\u3000b", "a\u2028b", "a\x85b",
        "a\x0b\x0cb", "a\x1c\x1d\x1e\x1fb", "\u2000\u2001 x",
        "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|endoftext|",
        "<|padding|> x <|endoftext|>\u0301", " <|endoftext|> ", "text<|endoftext|>\n\nmore",
        "<mask>", "a<mask>b", " <mask> ", "x <mask>  y", "<mask><mask>", "\t<mask>\t<mask>\u2000",
        "ROMEO: hi", "xROMEO ROMEO_ ROMEO. _ROMEO", "thou art", "thou art  here", "thou  art",
        "caf\u00e9 o'clock caf\u00e9", "<|bos|>Hello<|eos|>", "<pad><pad>",
        "\x00\x01\x02 control \x7f", "~!@#$%^&*()_+-=[]{}|;:,.<>/?`",
        "https://example.com/path?q=1&r=2#frag", "snake_case camelCase kebab-case",
        "    def f(x):\n        return x  # comment\n",
    ]
    out = [x.encode("utf-8") for x in s]
    out += [b"\xff", b"abc\x80def", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
            b"\xc0\xaf", b"caf\xc3", b"\xf0\x9f\x98", b"ok\xfe\xfeok", b"\xe2\x28\xa1",
            b"a\xc3\x28b", b"\xf8\x88\x80\x80\x80"]
    rng = random.Random(7)
    out.append(("a" * 3000).encode())
    out.append(("supercalifragilistic" * 100).encode())
    out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(1500)).encode())
    out.append("".join(rng.choice("0123456789") for _ in range(1000)).encode())
    out.append(("!" * 1500).encode())
    out.append("".join(rng.choice(" \t\n\r") for _ in range(1500)).encode())
    out.append(("日本語" * 300).encode())
    out.append(("😀" * 200).encode())
    return out


def shakespeare_excerpts(text):
    rng = random.Random(1234)
    out = [text[:3000]]
    for _ in range(24):
        n = rng.choice([1, 7, 40, 200, 800])
        start = rng.randrange(0, len(text) - n)
        out.append(text[start:start + n])
    return [x.encode("utf-8") for x in out]


def train_base(text):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=["<|bos|>", "<|eos|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([text], trainer)
    return tok


def add_tokens(tok):
    tok.add_tokens([
        AddedToken("<mask>", lstrip=True, rstrip=True, single_word=True, normalized=False),
        AddedToken("ROMEO", single_word=True, normalized=True),
        AddedToken("thou art", rstrip=True, normalized=True),
        AddedToken("caf\u00e9", normalized=True),
        AddedToken("o'clock", lstrip=True, normalized=False),
    ])


def variants(text):
    """Returns {name: tokenizer.json text}; the tests and the reference load the same text."""
    base = train_base(text)
    out = {}

    # Pair-form merges (what this tokenizers version writes), add_prefix_space, flagged added
    # tokens, BOS through TemplateProcessing.
    t = Tokenizer.from_str(base.to_str())
    add_tokens(t)
    t.post_processor = processors.TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B:1", special_tokens=[("<|bos|>", 0)])
    out["tiny_prefix"] = t.to_str()

    # Llama-3 style Sequence[Split, ByteLevel(use_regex=false)], string-form merges,
    # Sequence normalizer, Sequence post-processor.
    t = Tokenizer.from_str(base.to_str())
    add_tokens(t)
    t.normalizer = normalizers.Sequence([normalizers.NFC()])
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|bos|> $A <|eos|>", special_tokens=[
            ("<|bos|>", 0), ("<|eos|>", 1)]),
    ])
    d = json.loads(t.to_str())
    d["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in d["model"]["merges"]]
    out["tiny_split"] = json.dumps(d, ensure_ascii=False)

    # Every Split behavior, invert, string patterns, ignore_merges, ByteLevel with prefix space
    # after a Split, no normalizer, no post-processor.
    t = Tokenizer.from_str(base.to_str())
    t.normalizer = None
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"\d"), behavior="isolated"),
        pre_tokenizers.Split(Regex(r"[aeiou]"), behavior="merged_with_previous"),
        pre_tokenizers.Split("-", behavior="removed"),
        pre_tokenizers.Split(Regex(r"\p{P}"), behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"[A-Z]+"), behavior="merged_with_previous", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    t.post_processor = None
    d = json.loads(t.to_str())
    d["model"]["ignore_merges"] = True
    out["tiny_behaviors"] = json.dumps(d, ensure_ascii=False)
    return out


def _ranges(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] + 1 == cp:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def _cxx_table(name, cps, comment):
    rows = ["{0x%X, 0x%X}" % (a, b) for a, b in _ranges(cps)]
    body = ""
    line = "   "
    for r in rows:
        if len(line) + len(r) + 2 > 100:
            body += line.rstrip() + "\n"
            line = "   "
        line += " " + r + ","
    body += line.rstrip() + "\n"
    return "// %s\nconstexpr CodeRange %s[] = {\n%s};\n" % (comment, name, body)


def unicode_tables():
    """Code points the reference classifies differently from PCRE2 / utf8proc."""
    pcre = ctypes.CDLL("libpcre2-8.so.0")
    pcre.pcre2_compile_8.restype = ctypes.c_void_p
    pcre.pcre2_compile_8.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32,
                                     ctypes.POINTER(ctypes.c_int),
                                     ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
    pcre.pcre2_match_data_create_8.restype = ctypes.c_void_p
    pcre.pcre2_match_data_create_8.argtypes = [ctypes.c_uint32, ctypes.c_void_p]
    pcre.pcre2_match_8.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                   ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p,
                                   ctypes.c_void_p]
    match_data = pcre.pcre2_match_data_create_8(1, None)

    def pcre_regex(pattern):
        err, off = ctypes.c_int(), ctypes.c_size_t()
        b = pattern.encode()
        code = pcre.pcre2_compile_8(b, len(b), 0x00080000 | 0x00020000,  # UTF | UCP
                                    ctypes.byref(err), ctypes.byref(off), None)
        assert code, pattern
        return lambda s: pcre.pcre2_match_8(code, s, len(s), 0, 0, match_data, None) > 0

    cps = [cp for cp in range(0x80, 0x110000) if not 0xD800 <= cp < 0xE000]
    out = []
    # The PCRE2 side is what regex.cpp already writes for the class, before adding the extras.
    classes = [("L", r"\p{L}", r"\p{L}"), ("N", r"\p{N}", r"\p{N}"),
               ("Nd", r"\d", r"\p{Nd}"), ("M", r"\p{M}", r"\p{M}"),
               ("P", r"\p{P}", r"\p{P}"), ("S", r"\p{S}", r"\p{S}"),
               ("Word", r"\w", r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]")]
    for name, onig, pcre_pattern in classes:
        hf = pre_tokenizers.Split(Regex("^" + onig + "$"), "removed")
        ours = pcre_regex("^" + pcre_pattern + "$")
        extra, missing = [], []
        for cp in cps:
            c = chr(cp)
            h = hf.pre_tokenize_str(c) == []
            p = ours(c.encode())
            if h and not p:
                extra.append(cp)
            if p and not h:
                missing.append(cp)
        assert not missing, (name, missing[:10])
        out.append(_cxx_table("k%sExtra" % name, extra,
                              "In the reference's %s, not in PCRE2's." % onig))

    utf8proc = ctypes.CDLL("libutf8proc.so.2")
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    for f in ("utf8proc_NFC", "utf8proc_NFD"):
        getattr(utf8proc, f).restype = ctypes.c_void_p
        getattr(utf8proc, f).argtypes = [ctypes.c_char_p]
    utf8proc.utf8proc_category.argtypes = [ctypes.c_int32]

    def call(f, s):
        ptr = f(s.encode())
        r = ctypes.string_at(ptr).decode()
        libc.free(ptr)
        return r

    nfc = normalizers.NFC()
    starters = []  # marks the reference does not know (or second halves of newer compositions)
    for cp in cps:
        if utf8proc.utf8proc_category(cp) == 0:
            continue
        c = chr(cp)
        tests = ["-" + c + "\u0334", "-\u0301" + c, c, "-" + c]
        d = call(utf8proc.utf8proc_NFD, c)
        if d != c and len(d) == 2:
            tests.append(d)
        for t in tests:
            if nfc.normalize_str(t) != call(utf8proc.utf8proc_NFC, t):
                # A newer composite's second half: the reference does not compose onto it.
                starters.append(ord(t[-1]) if t == d else cp)
                break
    out.append(_cxx_table("kNfcStarters", sorted(set(starters)),
                          "Plain starters to the reference's NFC; utf8proc reorders or composes."))
    print("\n".join(out))


def main():
    if "--unicode-tables" in sys.argv:
        unicode_tables()
        return
    text = open(SHAKESPEARE, encoding="utf-8").read()
    inputs = shakespeare_excerpts(text) + adversarial()
    toks = {"gpt-neox-20b": (Tokenizer.from_file(os.path.join(ROOT, NEOX)), NEOX)}
    for name, js in variants(text).items():
        rel = os.path.join("tests", "fixtures", "tokenizer", name + ".json")
        with open(os.path.join(ROOT, rel), "w", encoding="utf-8") as f:
            f.write(js)
        toks[name] = (Tokenizer.from_file(os.path.join(ROOT, rel)), rel)

    rng = random.Random(99)
    result = {"reference": "HF tokenizers " + tokenizers.__version__,
              "inputs_hex": [x.hex() for x in inputs], "tokenizers": {}}
    for name, (tok, rel) in toks.items():
        cases = []
        for raw in inputs:
            s = raw.decode("utf-8", "replace")
            ids = tok.encode(s).ids
            plain = tok.encode(s, add_special_tokens=False).ids
            case = {"ids": ids, "ids_no_special": plain}
            # Decodings are stored only where they differ from the (U+FFFD-replaced) input.
            dec = tok.decode(ids, skip_special_tokens=False)
            dec_skip = tok.decode(ids, skip_special_tokens=True)
            if dec != s:
                case["decoded_hex"] = dec.encode().hex()
            if dec_skip != s:
                case["decoded_skip_hex"] = dec_skip.encode().hex()
            cases.append(case)
        n = tok.get_vocab_size(with_added_tokens=True)
        decodes = []
        for _ in range(60):
            ids = [rng.randrange(0, n + 5) for _ in range(rng.randrange(1, 30))]
            decodes.append({
                "ids": ids,
                "text_hex": tok.decode(ids, skip_special_tokens=False).encode().hex(),
                "text_skip_hex": tok.decode(ids, skip_special_tokens=True).encode().hex(),
            })
        result["tokenizers"][name] = {"path": rel, "vocab_size": n, "cases": cases,
                                      "decodes": decodes}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(result, f, separators=(",", ":"))
    print("wrote", os.path.join(OUT, "expected.json"), "for", len(inputs), "inputs,",
          len(toks), "tokenizers")


if __name__ == "__main__":
    main()
