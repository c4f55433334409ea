"""``openai-compatible``: a model served behind an OpenAI-compatible chat completions endpoint.

For models that need more than one machine: serve them with vLLM, TGI or the
llama.cpp server and point the harness at the endpoint::

    pytest suites/ --model openai-compatible --model-option url=http://gpu-host:8000/v1 \\
        --model-option model=llava-med --model-option api_key_env=VLLM_API_KEY

Each sample is one ``POST /chat/completions``: the image inline as a
``data:image/png;base64,...`` URL in an ``image_url`` content part, then the
question through ``prompt_template``; an optional system message first. Requests
run in a pool of ``concurrency`` threads made for each batch call and ended with it
(per process: with ``-n 4`` there are four pools). A sample whose request fails for good raises
:class:`~medrobust_plugins.openai_compat._http.EndpointError` for that sample
alone: the harness records it per sample and the other answers of the batch are
kept (not asked again).

Capabilities, declared by ``capabilities()``: **free generation** (``generate``: the
prompt is the user message, the server's chat template wraps it); **token scoring**
(``score_text``) when the server returns prompt log-probabilities from
``POST /completions`` with ``echo`` (vLLM does; llama.cpp does not), probed once at
start with ``token_scoring=auto`` (what the probe found is kept in ``scoring`` and
recorded by ``describe()``); never the **feature hook**: the vision features live on
the server, so IMC's PDC cannot run here, SMS can.

Options (``--model-option KEY=VALUE``):

===================  ===========================================================
``url``              base URL, e.g. ``http://host:8000/v1`` (required; no credentials in it)
``model``            served model name (default: the only one ``GET /models`` lists)
``api_key_env``      environment variable holding the API key (default
                     ``MEDROBUST_API_KEY``; unset: no key is sent). The key itself
                     is never an option: options are written into the certificate.
``max_tokens``       answer budget (16)
``temperature``      sampling temperature (0: greedy; servers that batch requests may still vary)
``system_prompt``    system message before each question ("" : none)
``prompt_template``  user text, ``{question}`` replaced (default ``{question}``)
``concurrency``      requests in flight at most (8)
``timeout``          seconds to connect and between reads of a response (60)
``retries``          further attempts of a failed request (4)
``backoff``          first backoff in seconds, doubling per attempt (0.5), ``max_backoff`` (30)
``seed``             seed of the backoff jitter (0)
``token_scoring``    ``auto`` (probe the server), ``on`` (require) or ``off``
``scoring_prefix``   text before a scored question (``"USER: "``)
``env_proxy``        honour ``http_proxy`` / ``https_proxy`` / ``no_proxy`` (false: connect
                     directly, so no proxy sees the API key; redirects are never followed)
===================  ===========================================================
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

import medrobust

from ._http import Endpoint, EndpointError, excerpt

__all__ = ["OpenAICompatModel", "DEFAULTS", "build", "image_data_url"]

NAME = "openai-compatible"
DEFAULTS: dict[str, Any] = {
    "url": "", "model": "", "api_key_env": "MEDROBUST_API_KEY", "max_tokens": 16, "temperature": 0.0,
    "system_prompt": "", "prompt_template": "{question}", "concurrency": 8, "timeout": 60.0,
    "retries": 4, "backoff": 0.5, "max_backoff": 30.0, "seed": 0, "token_scoring": "auto",
    "scoring_prefix": "USER: ", "env_proxy": False,
}
_CHOICES = {"token_scoring": ("auto", "on", "off")}
_SERVER_MODEL_FIELDS = ("id", "object", "owned_by", "root", "parent", "max_model_len")
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
_NO_FEATURES = "the vision features stay on the server; an OpenAI-compatible endpoint returns text only"


def image_data_url(image: Any) -> str:
    """A PIL image (or an array PIL accepts) as a ``data:image/png;base64,...`` URL (lossless)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    if image.mode not in _PNG_MODES:
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _options(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    if options.pop("path", None) is not None:
        raise medrobust.OptionError(f"{NAME}: --model-path does not apply to a served model; "
                                    "give the endpoint with --model-option url=http://host:8000/v1")
    options.pop("device", None)  # the device is the server's business
    if "api_key" in options:
        raise medrobust.OptionError(f"{NAME}: do not pass the API key as an option (options are written into the "
                                    "certificate); put it in an environment variable and name it: "
                                    "--model-option api_key_env=MY_KEY_VARIABLE")
    opts = medrobust.parse_options(NAME, options, DEFAULTS, _CHOICES)
    url = opts["url"].rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise medrobust.OptionError(f"{NAME}: option url must be the server's base URL, e.g. "
                                    f"--model-option url=http://127.0.0.1:8000/v1; got {opts['url']!r}")
    if parts.username or parts.password:
        raise medrobust.OptionError(f"{NAME}: option url must not carry credentials (it is written into the "
                                    "certificate); put the key in an environment variable named by api_key_env")
    opts["url"] = url
    if "{question}" not in opts["prompt_template"]:
        raise medrobust.OptionError(f"{NAME}: option prompt_template must contain {{question}}, "
                                    f"got {opts['prompt_template']!r}")
    for key in ("concurrency", "max_tokens"):
        if opts[key] < 1:
            raise medrobust.OptionError(f"{NAME}: option {key} must be at least 1, got {opts[key]}")
    if opts["timeout"] <= 0 or opts["retries"] < 0 or opts["backoff"] < 0:
        raise medrobust.OptionError(f"{NAME}: options timeout > 0, retries >= 0 and backoff >= 0 are required")
    return opts


def _key(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class OpenAICompatModel:
    """A served model: ``answer`` and ``generate`` through ``/chat/completions``, ``score_text``
    through ``/completions`` where the server scores prompts.

    Build it with :func:`build` (which probes token scoring and stores what it found in
    :attr:`scoring`); the constructor checks the endpoint with ``GET /models`` and fails at
    once, with what to do, on a wrong URL, a rejected key or an unknown model name.

    Args:
        options: See the module docstring.
    """

    answer_neutral_options = ("api_key_env", "concurrency", "timeout", "retries", "backoff", "max_backoff",
                              "env_proxy")
    """Options that change how requests are sent, never what is answered (kept out of the journal's key)."""

    def __init__(self, options: Optional[dict[str, Any]] = None) -> None:
        self.opts = _options(dict(options or {}))
        self.url = self.opts["url"]
        self.key_env = self.opts["api_key_env"]
        key = os.environ.get(self.key_env) if self.key_env else None
        self._endpoint = Endpoint(self.url, key, self.opts["timeout"], self.opts["retries"],
                                  self.opts["backoff"], self.opts["max_backoff"], self.opts["seed"],
                                  env_proxy=self.opts["env_proxy"])
        self._kept: dict[str, tuple[bool, Any]] = {}
        self.server_models = self._list_models(key is not None)
        self.served_model = self._choose_model()
        self.scoring: dict[str, Any] = {"offered": False, "reason": "not probed"}

    # -- start-up checks --------------------------------------------------------
    def _list_models(self, has_key: bool) -> list[dict[str, Any]]:
        try:
            listing = self._endpoint.request("GET", "/models")
        except EndpointError as exc:
            if exc.status in (401, 403):
                where = (f"the key in ${self.key_env} was refused" if has_key else
                         f"no key was sent (${self.key_env} is unset)")
                raise EndpointError(
                    f"{NAME}: {self.url} refused access (HTTP {exc.status}: {exc.body}); {where}. Put the "
                    f"key in an environment variable and name it with --model-option api_key_env=NAME",
                    url=exc.url, status=exc.status, body=exc.body, attempts=exc.attempts) from None
            if exc.status == 404:
                raise EndpointError(
                    f"{NAME}: {exc.url} not found (HTTP 404: {exc.body}); is the base URL right? It "
                    f"usually ends in /v1, e.g. --model-option url=http://host:8000/v1",
                    url=exc.url, status=404, body=exc.body, attempts=exc.attempts) from None
            if exc.status is None:
                raise EndpointError(
                    f"{NAME}: cannot reach {self.url} after {exc.attempts} attempt(s): {exc.body}; is the "
                    "server running and the URL right?",
                    url=exc.url, status=None, body=exc.body, attempts=exc.attempts) from None
            raise
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise EndpointError(f"{NAME}: GET {self.url}/models did not list models (no 'data' list): "
                                f"{excerpt(json.dumps(listing))}", url=self.url + "/models", status=200,
                                body=excerpt(json.dumps(listing)), attempts=1)
        return [{k: m[k] for k in _SERVER_MODEL_FIELDS if k in m} for m in data if isinstance(m, dict)]

    def _choose_model(self) -> str:
        names = [str(m.get("id")) for m in self.server_models]
        wanted = self.opts["model"]
        if wanted:
            if names and wanted not in names:
                raise medrobust.OptionError(f"{NAME}: {self.url} does not serve model {wanted!r}; it serves "
                                            f"{', '.join(names)}")
            return wanted
        if len(names) == 1:
            return names[0]
        listed = ", ".join(names) or "none listed"
        raise medrobust.OptionError(f"{NAME}: {self.url} serves {len(names)} models ({listed}); "
                                    "choose one with --model-option model=NAME")

    # -- requests ---------------------------------------------------------------
    def _post_many(self, path: str, payloads: list[dict[str, Any]]) -> list[Any]:
        """POST every payload (at most ``concurrency`` at once); raise the first failure.

        When a batch has a failure, the other outcomes are kept: the harness then asks
        sample by sample and gets them without a second request.
        """
        if len(payloads) > 1:
            self._kept.clear()
        keys = [_key({"path": path, **p}) for p in payloads]
        outcomes: list[Optional[tuple[bool, Any]]] = [self._kept.pop(k, None) for k in keys]
        todo = [i for i, o in enumerate(outcomes) if o is None]
        if todo:  # a pool per call: its threads end with the call, nobody has to close the model
            with ThreadPoolExecutor(max_workers=min(self.opts["concurrency"], len(todo)),
                                    thread_name_prefix="openai-compat") as pool:
                futures = {i: pool.submit(self._endpoint.request, "POST", path, payloads[i]) for i in todo}
                for i, fut in futures.items():
                    try:
                        outcomes[i] = (True, fut.result())
                    except EndpointError as exc:
                        outcomes[i] = (False, exc)
        failed = [o[1] for o in outcomes if not o[0]]
        if failed:
            if len(payloads) > 1:
                self._kept.update(zip(keys, outcomes))
            raise failed[0]
        return [o[1] for o in outcomes]

    def _chat(self, texts: Sequence[str], images: Optional[Sequence[Any]], max_tokens: int,
              system: bool) -> list[str]:
        payloads = []
        for k, text in enumerate(texts):
            content: Any = text
            if images is not None:
                content = [{"type": "image_url", "image_url": {"url": image_data_url(images[k])}},
                           {"type": "text", "text": text}]
            messages = [{"role": "user", "content": content}]
            if system and self.opts["system_prompt"]:
                messages.insert(0, {"role": "system", "content": self.opts["system_prompt"]})
            payloads.append({"model": self.served_model, "messages": messages, "max_tokens": max_tokens,
                             "temperature": self.opts["temperature"]})
        replies = self._post_many("/chat/completions", payloads)
        return [self._content(r) for r in replies]

    def _content(self, reply: Any) -> str:
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            content = None
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            body = excerpt(json.dumps(reply))
            raise EndpointError(f"POST {self.url}/chat/completions answered without "
                                f"choices[0].message.content: {body}",
                                url=self.url + "/chat/completions", status=200, body=body, attempts=1)
        return content

    # -- the model contract -----------------------------------------------------
    def answer(self, samples: list[Any]) -> list[str]:
        """One answer per sample (stripped), each sample its own request."""
        # str.replace, not str.format: other braces in the template ("{yes/no}") stay as written
        texts = [self.opts["prompt_template"].replace("{question}", s.question) for s in samples]
        answers = self._chat(texts, [s.image for s in samples], self.opts["max_tokens"], system=True)
        return [a.strip() for a in answers]

    def generate(self, prompts: list[str], images: Optional[list[Any]] = None,
                 max_new_tokens: int = 32) -> list[str]:
        """Continue free-text prompts: each prompt is the user message (no system prompt, no template)."""
        if images is not None and len(images) != len(prompts):
            raise ValueError(f"generate: {len(prompts)} prompts but {len(images)} images")
        return self._chat(list(prompts), images, max_new_tokens, system=False)

    @property
    def name(self) -> str:
        """The plugin's name (for capability messages)."""
        return NAME

    def capabilities(self) -> medrobust.Capabilities:
        """Free generation; token scoring as the probe found it; never the feature hook."""
        reasons = {"feature_hook": _NO_FEATURES}
        if not self.scoring.get("offered"):
            reasons["token_scoring"] = f"the server does not score prompts: {self.scoring.get('reason')}"
        return medrobust.Capabilities(feature_hook=False, free_generation=True,
                                      token_scoring=bool(self.scoring.get("offered")), reasons=reasons)

    def describe(self) -> dict[str, Any]:
        """Endpoint (no credentials), served model, what the server reports, generation settings."""
        o = self.opts
        return {
            "name": NAME,
            "endpoint": self.url,
            "served_model": self.served_model,
            "server_models": self.server_models,
            "weights_sha256": None,
            "weights_note": "served remotely: the weights cannot be digested from here; the served model "
                            "name and the server's model listing stand for them",
            "generation": {
                "api": "chat.completions", "decoding": "greedy" if o["temperature"] == 0 else "sampled",
                "max_tokens": o["max_tokens"], "temperature": o["temperature"],
                "system_prompt": o["system_prompt"], "prompt_template": o["prompt_template"],
                "image_encoding": "data:image/png;base64 in an image_url content part",
            },
            "token_scoring": dict(self.scoring),
        }

    # -- token scoring ------------------------------------------------------------
    def _score_payload(self, text: str) -> dict[str, Any]:
        return {"model": self.served_model, "prompt": self.opts["scoring_prefix"] + text, "echo": True,
                "logprobs": 1, "max_tokens": 1, "temperature": 0.0}

    def score_text(self, texts: list[str], images: Optional[list[Any]] = None) -> list[list[tuple[str, float]]]:
        """Per text, its tokens (slices of the text) with their log-probabilities after ``scoring_prefix``.

        Raises:
            medrobust.MissingCapability: The server does not score prompts (see :attr:`scoring`).
            ValueError: With images: ``/completions`` takes text only.
        """
        if not self.scoring.get("offered"):
            raise medrobust.MissingCapability(f"{NAME}: token scoring is not available from {self.url}: "
                                              f"{self.scoring.get('reason')}")
        if images is not None:
            raise ValueError(f"{NAME}: token scoring runs through {self.url}/completions, which takes no "
                             "images; score text alone (imc-sms with_image=false, its default)")
        replies = self._post_many("/completions", [self._score_payload(t) for t in texts])
        return [self._tokens(self.opts["scoring_prefix"] + t, len(self.opts["scoring_prefix"]), r)
                for t, r in zip(texts, replies)]

    def _tokens(self, full: str, start: int, reply: Any) -> list[tuple[str, float]]:
        try:
            lp = reply["choices"][0]["logprobs"]
            offsets, values = list(lp["text_offset"]), list(lp["token_logprobs"])
        except (KeyError, IndexError, TypeError):
            body = excerpt(json.dumps(reply))
            raise EndpointError(f"POST {self.url}/completions with echo returned no logprobs.text_offset / "
                                f"token_logprobs, so it cannot score text: {body}; use token_scoring=off",
                                url=self.url + "/completions", status=200, body=body, attempts=1) from None
        n = len(full)
        pairs = [(o, v) for o, v in zip(offsets, values) if o < n]  # drop the generated token
        out: list[tuple[str, float]] = []
        pos = start
        for k, (begin, value) in enumerate(pairs):
            end = min(pairs[k + 1][0] if k + 1 < len(pairs) else n, n)
            if end <= start:
                continue
            piece = full[pos:end] if end > pos else ""
            pos = max(pos, end)
            if value is not None:  # the very first token has no probability: omitted
                out.append((piece, float(value)))
        return out

    def probe(self) -> Optional[str]:
        """``None`` if the server scores prompts; else why not."""
        try:
            reply = self._endpoint.request("POST", "/completions", self._score_payload("Is"), retries=0)
            self._tokens(self.opts["scoring_prefix"] + "Is", len(self.opts["scoring_prefix"]), reply)
        except EndpointError as exc:
            return str(exc)
        return None


def build(options: Optional[dict[str, Any]] = None) -> OpenAICompatModel:
    """The model, declaring token scoring only where the server can score prompts (``token_scoring``)."""
    model = OpenAICompatModel(options)
    mode = model.opts["token_scoring"]
    if mode == "off":
        why: Optional[str] = "turned off (token_scoring=off)"
    else:
        why = model.probe()
        if why is not None and mode == "on":
            raise medrobust.OptionError(f"{NAME}: token_scoring=on but {model.url} cannot score prompts "
                                        f"(/completions with echo and logprobs): {why}")
    if why is None:
        model.scoring = {"offered": True, "via": "POST /completions echo=true logprobs=1",
                         "prefix": model.opts["scoring_prefix"]}
    else:
        model.scoring = {"offered": False, "reason": excerpt(why, 200)}
    return model
