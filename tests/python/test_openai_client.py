#!/usr/bin/env python3
"""`xlstm serve` driven by the official `openai` Python client (PyPI).

  test_openai_client.py XLSTM_BINARY MODEL_DIR

Exits 77 (ctest: skipped) with a message when the `openai` package is not installed.
"""
import subprocess
import sys
import unittest

try:
    import openai
except ImportError:
    print("SKIP: the 'openai' Python package is not installed (pip install openai)")
    sys.exit(77)

BINARY, MODEL = sys.argv[1], sys.argv[2]
KEY = "test-key"


class OpenAIClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc = subprocess.Popen([BINARY, "serve", "-m", MODEL, "--port", "0", "--api-key", KEY],
                                    stdout=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        assert "listening on" in line, line
        cls.base = line.strip().rsplit(" ", 1)[-1] + "/v1"
        cls.client = openai.OpenAI(base_url=cls.base, api_key=KEY, max_retries=0)
        cls.model = cls.client.models.list().data[0].id

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        assert cls.proc.wait(timeout=30) == 0

    def complete(self, **kw):
        args = dict(model=self.model, prompt="ROMEO:", max_tokens=16, temperature=0,
                    extra_body={"ignore_eos": True})
        args.update(kw)
        return self.client.completions.create(**args)

    def test_models(self):
        self.assertEqual(self.model, "tiny-shakespeare")

    def test_completion_and_usage(self):
        r = self.complete()
        self.assertEqual(r.object, "text_completion")
        self.assertEqual(r.choices[0].finish_reason, "length")
        self.assertGreater(len(r.choices[0].text), 0)
        self.assertEqual(r.usage.completion_tokens, 16)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + 16)

    def test_stream_equals_whole(self):
        whole = self.complete(logprobs=1)
        chunks = list(self.complete(logprobs=1, stream=True,
                                    stream_options={"include_usage": True}))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        lps = [v for c in chunks if c.choices for v in c.choices[0].logprobs.token_logprobs]
        self.assertEqual(text, whole.choices[0].text)
        # The same prompt again may resume from a cached state: other float paths.
        for a, b in zip(lps, whole.choices[0].logprobs.token_logprobs, strict=True):
            self.assertAlmostEqual(a, b, delta=1e-4)
        self.assertEqual(chunks[-1].usage.completion_tokens, 16)
        self.assertEqual([c.choices[0].finish_reason for c in chunks if c.choices][-1], "length")

    def test_stop_seed_logprobs(self):
        r = self.complete(max_tokens=40, stop=["\n"])
        self.assertNotIn("\n", r.choices[0].text)
        self.assertEqual(r.choices[0].finish_reason, "stop")
        a = self.complete(temperature=1.0, seed=3).choices[0].text
        b = self.complete(temperature=1.0, seed=3).choices[0].text
        self.assertEqual(a, b)
        lp = self.complete(logprobs=2).choices[0].logprobs
        self.assertEqual(len(lp.token_logprobs), 16)
        self.assertTrue(all(v <= 0 for v in lp.token_logprobs))
        self.assertTrue(all(len(t) <= 2 for t in lp.top_logprobs))

    def test_errors(self):
        with self.assertRaises(openai.BadRequestError) as e:
            self.complete(max_tokens=-1)
        self.assertEqual(e.exception.body["param"], "max_tokens")
        with self.assertRaises(openai.NotFoundError):
            self.complete(model="gpt-4")
        with self.assertRaises(openai.BadRequestError) as e:
            self.client.chat.completions.create(model=self.model,
                                                messages=[{"role": "user", "content": "hi"}])
        self.assertIn("no chat template", str(e.exception))
        bad = openai.OpenAI(base_url=self.base, api_key="wrong", max_retries=0)
        with self.assertRaises(openai.AuthenticationError):
            bad.completions.create(model=self.model, prompt="x", max_tokens=1)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
