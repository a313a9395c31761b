"""A judge behind an OpenAI-compatible HTTP endpoint (`judge.model: http`): vLLM's server, TGI,
llama.cpp's server or a hosted API. The key is read from the environment variable named in
params and goes only into the request header: never into params, the lock file, metrics or logs."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from humpback.errors import HumpbackError
from humpback.generation import Sampling


class HTTPEngineError(HumpbackError):
    pass


class HTTPEngine:
    tokenizer = None  # the endpoint applies its own chat template to plain user messages

    def __init__(self, base_url: str, model: str, api_key_env: str, concurrency: int = 8,
                 timeout_s: float = 120.0):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.concurrency, self.timeout_s = model, concurrency, timeout_s
        self._key = os.environ.get(api_key_env)  # None: an endpoint without authentication

    def generate(self, prompts, sampling: Sampling, desc: str = "") -> list[str]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda prompt: self._complete(prompt, sampling), prompts))

    def next_token_probs(self, prompts, token_ids, desc: str = ""):
        raise HTTPEngineError("judge.mode: an http judge needs mode: generate")

    def _complete(self, prompt: str, sampling: Sampling) -> str:
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "seed": sampling.seed}
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise HTTPEngineError(f"judge.base_url {self.url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, TimeoutError) as err:
            raise HTTPEngineError(f"judge.base_url {self.url}: {getattr(err, 'reason', err)}") from None
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise HTTPEngineError(f"judge.base_url {self.url}: not a chat completion reply") from None
