"""An OpenAI-compatible endpoint behind the engine interface (`judge.model` or `rewrite.model:
http`): vLLM's
server, TGI, llama.cpp's server or a hosted API. Generation only: chat completions carry no
prompt log-probabilities.

A busy server answers 429 (rate limit) or 5xx: each request is tried again after a growing pause
(the server's Retry-After when it sends one), and at most `max_in_flight` requests are open at
once. The key is read from the environment variable named in params and goes only into the
request header: never into params, the lock file, metrics or logs. Errors name the params key
of the endpoint (`judge.base_url`, `rewrite.base_url`).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from humpback.config import EngineParams
from humpback.engines.base import Endpoint, EngineSpec, Sampling
from humpback.errors import HumpbackError

BACKOFF_S = 0.5  # the first pause; it doubles with every try, up to MAX_BACKOFF_S
MAX_BACKOFF_S = 30.0
TIMEOUT_S = 120.0


class HTTPEngineError(HumpbackError):
    pass


def load(spec: EngineSpec, params: EngineParams) -> "HTTPEngine":
    return HTTPEngine(spec.endpoint)


class HTTPEngine:
    tokenizer = None  # the endpoint applies its own chat template to plain user messages

    def __init__(self, endpoint: Endpoint, timeout_s: float = TIMEOUT_S):
        self.url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self.endpoint = endpoint
        section = f"{endpoint.section}." if endpoint.section else ""
        self.where = f"{section}base_url {self.url}"  # how errors name the endpoint
        self.only_text = (f"{section}model: http: an endpoint generates text only, it gives no "
                          "token probabilities")
        headers = {}
        key = os.environ.get(endpoint.api_key_env)  # None: an endpoint without authentication
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=endpoint.max_in_flight,
                              max_keepalive_connections=endpoint.max_in_flight)
        self.client = httpx.Client(headers=headers, timeout=timeout_s, limits=limits)

    def generate(self, prompts, sampling: Sampling, desc: str = "") -> list[str]:
        with ThreadPoolExecutor(self.endpoint.max_in_flight) as pool:
            return list(pool.map(lambda prompt: self._complete(prompt, sampling), prompts))

    def next_token_probs(self, prompts, token_ids, desc: str = ""):
        raise HTTPEngineError(self.only_text)

    def token_logprobs(self, pairs, max_length=None, desc: str = ""):
        raise HTTPEngineError(self.only_text)

    def close(self) -> None:
        self.client.close()

    def _complete(self, prompt: str, sampling: Sampling) -> str:
        body = {"model": self.endpoint.model, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "seed": sampling.seed}
        reply = self._post(body)
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise HTTPEngineError(f"{self.where}: not a chat completion reply") from None

    def _post(self, body: dict) -> dict:
        tries = self.endpoint.retries + 1
        for attempt in range(tries):
            try:
                response = self.client.post(self.url, json=body)
            except httpx.ConnectError as err:  # nothing listens there: a wrong URL, not a busy server
                raise HTTPEngineError(f"{self.where}: {err}") from None
            except httpx.TransportError as err:  # a dropped connection or a timeout: try again
                failure, wait = f"{type(err).__name__}: {err}", None
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise HTTPEngineError(f"{self.where}: not a JSON reply") from None
                failure = f"HTTP {response.status_code} {response.reason_phrase}"
                if response.status_code != 429 and response.status_code < 500:
                    raise HTTPEngineError(f"{self.where}: {failure}")
                wait = _retry_after(response)
            if attempt + 1 < tries:
                time.sleep(min(wait if wait is not None else BACKOFF_S * 2 ** attempt,
                               MAX_BACKOFF_S))
        raise HTTPEngineError(f"{self.where}: {failure} (after {tries} tries)")


def _retry_after(response: httpx.Response) -> float | None:
    """The server's Retry-After in seconds, when it gives one as a number."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None
