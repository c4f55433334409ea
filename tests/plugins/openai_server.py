"""A loopback OpenAI-compatible server answering with the embedded reference model, for tests.

``GET /v1/models``, ``POST /v1/chat/completions`` (the reference model's prompt
template plays the chat template: an inline PNG image and the user text become
``USER: <image>\\n{text} ASSISTANT:``) and ``POST /v1/completions`` with ``echo``
and ``logprobs`` (prompt log-probabilities, as vLLM returns them). A test
scripts misbehaviour per POST request: an HTTP status with headers, a delay, or
a connection closed mid-response.
"""

from __future__ import annotations

import base64
import io
import json
import queue
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

__all__ = ["LoopbackServer", "Recorder", "SERVED_NAME"]

SERVED_NAME = "reference-served"


class LoopbackServer:
    """The server on ``127.0.0.1`` at a free port, in a daemon thread.

    Args:
        model: A ``ReferenceModel`` (not thread-safe: calls are serialised).

    Attributes:
        script: Actions for the next POST requests, one each, then normal service:
            ``("status", code, body, headers)``, ``("drop",)`` (close without an
            answer), ``("truncate",)`` (close after half the body), ``("sleep", s)``.
        delay: Seconds every POST waits before answering.
        hold: Seconds every POST stays in flight after answering is decided (to observe overlap).
        api_key: When set, requests without ``Authorization: Bearer <api_key>`` get 401.
        echo: Whether ``/completions`` supports ``echo`` (llama.cpp's server does not).
        posts: POST requests received (``paths``: by path); ``max_in_flight``: most POSTs in flight at once.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.script: deque = deque()
        self.delay = 0.0
        self.hold = 0.0
        self.api_key: Optional[str] = None
        self.echo = True
        self.posts = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.paths: Counter = Counter()
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._batch_loop, daemon=True).start()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def reset(self) -> None:
        """Normal service and zeroed counters."""
        with self._lock:
            self.script.clear()
            self.delay = self.hold = 0.0
            self.api_key = None
            self.echo = True
            self.posts = self.in_flight = self.max_in_flight = 0
            self.paths.clear()

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- what the model does -------------------------------------------------
    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        from medrobust_plugins.reference import _build
        from PIL import Image

        user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        image, text = None, user
        if isinstance(user, list):
            text = "".join(p["text"] for p in user if p["type"] == "text")
            for part in user:
                if part["type"] == "image_url":
                    head, _, data = part["image_url"]["url"].partition(",")
                    assert head == "data:image/png;base64", head
                    image = Image.open(io.BytesIO(base64.b64decode(data)))
                    image.load()
        template = _build.PROMPT_TEMPLATE if image is not None else _build.TEXT_PROMPT_TEMPLATE
        job = {"prompt": template.format(question=text), "image": image,
               "max_tokens": int(body.get("max_tokens") or 16), "done": threading.Event()}
        self._queue.put(job)
        job["done"].wait()
        if "error" in job:
            raise job["error"]
        out = job["out"]
        return {"id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": out}}]}

    def _batch_loop(self) -> None:
        """Generate for the requests that arrive together in one batch, as serving engines do."""
        while True:
            jobs = [self._queue.get()]
            deadline = time.monotonic() + 0.005
            while len(jobs) < 16:
                try:
                    jobs.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            groups: dict[tuple, list] = {}
            for job in jobs:
                groups.setdefault((job["image"] is None, job["max_tokens"]), []).append(job)
            for (text_only, max_tokens), group in groups.items():
                try:
                    with self._model_lock:
                        outs = self.model._generate([j["prompt"] for j in group],
                                                    None if text_only else [j["image"] for j in group],
                                                    max_tokens)
                    for job, out in zip(group, outs):
                        job["out"] = out
                except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                    for job in group:
                        job["error"] = exc
                for job in group:
                    job["done"].set()

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        torch = self.model._torch
        tok = self.model.tokenizer
        prompt = body["prompt"]
        enc = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
        ids = [tok.bos_token_id] + list(enc["input_ids"])
        with self._model_lock, torch.inference_mode():
            logits = self.model.model(input_ids=torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        values = [float(logp[k - 1, ids[k]]) for k in range(1, len(ids))]
        nxt = int(logp[-1].argmax())
        gen = tok.decode([nxt])
        tokens = [tok.decode([i]) for i in ids[1:]] + [gen]
        offsets = [start for start, _ in enc["offset_mapping"]] + [len(prompt)]
        return {"id": "cmpl-test", "object": "text_completion", "model": body["model"],
                "choices": [{"index": 0, "text": prompt + gen, "finish_reason": "length",
                             "logprobs": {"tokens": tokens, "token_logprobs": values + [float(logp[-1, nxt])],
                                          "text_offset": offsets, "top_logprobs": None}}]}


class Recorder:
    """A loopback server that records each request (method, path, ``Authorization``) and answers 404.

    It stands for another host a redirect names, or for a proxy (a proxied request's
    path is the absolute URL).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Optional[str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                recorder.requests.append({"method": self.command, "path": self.path,
                                          "authorization": self.headers.get("Authorization")})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "Recorder":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(server: LoopbackServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _leave(self) -> None:
            """The request stops counting as in flight (before its answer is written: the client
            may send its next request as soon as it has read this one)."""
            if getattr(self, "_counted", False):
                self._counted = False
                with server._lock:
                    server.in_flight -= 1

        def _send(self, code: int, payload: Any, headers: Optional[dict[str, str]] = None) -> None:
            self._leave()
            raw = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _authorised(self) -> bool:
            if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                self._send(401, {"error": {"message": "invalid API key", "code": 401}})
                return False
            return True

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path != "/v1/models":
                self._send(404, {"detail": "Not Found"})
                return
            self._send(200, {"object": "list", "data": [
                {"id": SERVED_NAME, "object": "model", "owned_by": "medrobust-tests",
                 "created": int(time.time()), "max_model_len": 512}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server._lock:
                server.posts += 1
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
                server.paths[self.path] += 1
                action = server.script.popleft() if server.script else ("ok",)
            self._counted = True
            try:
                self._serve(body, action)
            finally:
                self._leave()

        def _serve(self, body: dict[str, Any], action: tuple) -> None:
            time.sleep(server.delay)
            if not self._authorised():
                return
            if action[0] == "status":
                self._send(action[1], action[2], action[3] if len(action) > 3 else None)
                return
            if action[0] == "drop":
                self.close_connection = True
                return
            if action[0] == "sleep":
                time.sleep(action[1])
            if body.get("model") != SERVED_NAME:
                self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                return
            if self.path == "/v1/chat/completions":
                payload = server.chat(body)
            elif self.path == "/v1/completions":
                if body.get("echo") and not server.echo:
                    self._send(400, {"error": {"message": "Only no echo is supported"}})
                    return
                payload = server.completion(body)
            else:
                self._send(404, {"detail": "Not Found"})
                return
            time.sleep(server.hold)
            if action[0] == "truncate":
                self._leave()
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw[: len(raw) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, payload)

    return Handler
