"""The ``openai-compatible`` model against a real HTTP server on loopback serving the reference model.

Answers must equal the reference model's own; retries, timeouts, Retry-After,
dropped connections and auth failures behave as documented; end to end, the
suites run through the served model and the certificate names the endpoint.
"""

from __future__ import annotations

import email.utils
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import medrobust  # noqa: E402
from medrobust import Composition, MissingCapability, PhantomVQA  # noqa: E402
from medrobust_plugins.imc import IMC, SMSCalibrator  # noqa: E402
from medrobust_plugins.openai_compat import openai_compatible  # noqa: E402
from medrobust_plugins.openai_compat._http import (  # noqa: E402
    MAX_RETRY_AFTER,
    Endpoint,
    EndpointError,
    _retry_after,
)
from medrobust_plugins.reference import ReferenceModel  # noqa: E402
from openai_server import SERVED_NAME, LoopbackServer, Recorder  # noqa: E402  (beside this file)

from medrobust.run.evaluate import Evaluator  # noqa: E402  (the core's evaluator: per-sample errors)

NOISES = medrobust.load_plugins().noises


def available(model) -> dict[str, bool]:
    """The capabilities ``model`` declares, as ``{name: available}``."""
    return medrobust.capabilities_of(model).to_json()["available"]

ROOT = Path(__file__).resolve().parents[2]
FAST = {"timeout": 5.0, "retries": 2, "backoff": 0.01, "token_scoring": "off"}


@pytest.fixture(scope="module")
def reference() -> ReferenceModel:
    return ReferenceModel({})


@pytest.fixture(scope="module")
def samples():
    return PhantomVQA({}).samples("test")[:30]


@pytest.fixture(scope="module")
def loopback(reference):
    with LoopbackServer(reference) as server:
        yield server


@pytest.fixture
def server(loopback):
    loopback.reset()
    yield loopback
    loopback.reset()


def served(server: LoopbackServer, **options):
    """The served model with fast failure settings; the server's counters zeroed after start-up."""
    model = openai_compatible({"url": server.url, **FAST, **options})
    server.posts = server.max_in_flight = 0
    return model


def test_answers_equal_the_reference_model(server, reference, samples) -> None:
    model = served(server)
    assert available(model) == {"feature_hook": False, "free_generation": True, "token_scoring": False}
    got = model.answer(samples)
    assert got == reference.answer(samples)
    assert server.posts == len(samples)


def test_generate_and_score_text_through_the_server(server, reference, samples) -> None:
    model = served(server, token_scoring="auto")
    assert available(model)["token_scoring"]
    prompts = ["Is there", "USER: Rewrite this question without typos: is thre a mass ASSISTANT:"]
    from medrobust_plugins.reference import _build

    direct = reference._generate([_build.TEXT_PROMPT_TEMPLATE.format(question=p) for p in prompts], None, 6)
    assert model.generate(prompts, max_new_tokens=6) == direct
    questions = sorted({s.question for s in samples})[:6]
    for got, want in zip(model.score_text(questions), reference.score_text(questions)):
        assert [t for t, _ in got] == [t for t, _ in want]
        assert [lp for _, lp in got] == pytest.approx([lp for _, lp in want], abs=1e-3)
    with pytest.raises(ValueError, match="takes no images"):
        model.score_text(questions[:1], images=[samples[0].image])


def test_prompt_template_may_hold_other_braces(server, samples) -> None:
    model = served(server, prompt_template="Answer {yes/no}: {question} {0}")
    got = model.answer(samples[:3])
    texts = [f"Answer {{yes/no}}: {s.question} {{0}}" for s in samples[:3]]
    assert got == [a.strip() for a in model.generate(texts, [s.image for s in samples[:3]], max_new_tokens=16)]
    assert model.describe()["generation"]["prompt_template"] == "Answer {yes/no}: {question} {0}"


def test_concurrency_is_bounded(server, samples) -> None:
    model = served(server, concurrency=3)
    server.hold = 0.1
    model.answer(samples[:9])
    assert server.max_in_flight == 3
    assert not [t for t in threading.enumerate() if t.name.startswith("openai-compat")]  # the pool ended


def test_slow_server_gives_per_sample_errors_in_bounded_time(server, samples) -> None:
    model = served(server, timeout=0.25, retries=1, concurrency=4)
    server.delay = 1.0
    evaluator = Evaluator(model, "openai-compatible", samples[:3], {}, run_seed=0)
    start = time.monotonic()
    evaluation = evaluator.evaluate(Composition())
    elapsed = time.monotonic() - start
    assert evaluation.answers == (None, None, None)
    assert set(evaluation.errors) == {s.id for s in samples[:3]}
    message = evaluation.errors[samples[0].id]
    assert f"{server.url}/chat/completions" in message and "timed out" in message and "2 attempt" in message
    assert server.posts == 6  # two attempts per sample; the per-sample pass asks nothing again
    assert elapsed < 2.5


def test_server_error_is_retried(server, samples) -> None:
    model = served(server)
    server.script.extend([("status", 500, {"error": "boom"}), ("status", 503, "busy")])
    assert model.answer(samples[:1]) == [ReferenceModel.answer(server.model, samples[:1])[0]]
    assert server.posts == 3


def test_retry_after_is_honoured(server, samples) -> None:
    model = served(server)
    server.script.append(("status", 429, {"error": "slow down"}, {"Retry-After": "1"}))
    start = time.monotonic()
    assert len(model.answer(samples[:1])) == 1
    assert time.monotonic() - start >= 0.95
    assert server.posts == 2


def test_bad_request_is_not_retried(server, samples) -> None:
    model = served(server)
    server.script.append(("status", 400, {"error": {"message": "max_tokens is too large"}}))
    with pytest.raises(EndpointError, match="HTTP 400") as info:
        model.answer(samples[:1])
    assert info.value.status == 400 and info.value.attempts == 1
    assert server.url in str(info.value) and "max_tokens is too large" in str(info.value)
    assert server.posts == 1


def test_a_failure_in_a_batch_keeps_the_other_answers(server, reference, samples) -> None:
    model = served(server, retries=0, concurrency=1)
    server.script.extend([("ok",), ("status", 400, "no")])
    evaluation = Evaluator(model, "openai-compatible", samples[:4], {}, run_seed=0).evaluate(Composition())
    assert list(evaluation.errors) == [samples[1].id] and "HTTP 400: no" in evaluation.errors[samples[1].id]
    assert [a for a in evaluation.answers if a is not None] == [reference.answer([s])[0] for s in
                                                                 (samples[0], samples[2], samples[3])]
    assert server.posts == 4


@pytest.mark.parametrize("how", ["drop", "truncate"])
def test_dropped_connection_is_retried(server, reference, samples, how) -> None:
    model = served(server)
    server.script.append((how,))
    assert model.answer(samples[:1]) == reference.answer(samples[:1])
    assert server.posts == 2


def test_auth_failure_fails_fast(server, samples, monkeypatch) -> None:
    server.api_key = "s3cret-key"
    monkeypatch.delenv("MR_TEST_KEY", raising=False)
    start = time.monotonic()
    with pytest.raises(EndpointError, match=r"refused access \(HTTP 401.*MR_TEST_KEY is unset.*api_key_env"):
        openai_compatible({"url": server.url, "api_key_env": "MR_TEST_KEY", **FAST})
    assert time.monotonic() - start < 1.0
    monkeypatch.setenv("MR_TEST_KEY", "s3cret-key")
    model = openai_compatible({"url": server.url, "api_key_env": "MR_TEST_KEY", **FAST})
    assert len(model.answer(samples[:2])) == 2
    assert "s3cret" not in json.dumps(medrobust.describe_model("openai-compatible", model))
    with pytest.raises(ValueError, match="api_key_env"):
        openai_compatible({"url": server.url, "api_key": "s3cret-key"})
    with pytest.raises(ValueError, match="credentials"):
        openai_compatible({"url": server.url.replace("http://", "http://u:s3cret@")})


@pytest.mark.parametrize("code", [301, 302, 307])
def test_a_redirect_is_refused_and_the_key_never_leaves(server, samples, monkeypatch, code) -> None:
    server.api_key = "s3cret-key"
    monkeypatch.setenv("MR_TEST_KEY", "s3cret-key")
    model = served(server, api_key_env="MR_TEST_KEY")
    with Recorder() as other:
        elsewhere = other.url + "/v1/chat/completions"
        server.script.append(("status", code, "", {"Location": elsewhere}))
        with pytest.raises(EndpointError, match=f"HTTP {code} redirect to {elsewhere}; not followed") as info:
            model.answer(samples[:1])
        assert info.value.status == code and info.value.attempts == 1 and server.posts == 1  # not retried
        assert other.requests == []


def test_env_proxies_see_the_key_only_when_allowed(server, samples, monkeypatch) -> None:
    server.api_key = "s3cret-key"
    monkeypatch.setenv("MR_TEST_KEY", "s3cret-key")
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with Recorder() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        model = served(server, api_key_env="MR_TEST_KEY")
        assert len(model.answer(samples[:2])) == 2 and server.posts == 2
        assert proxy.requests == []
        with pytest.raises(EndpointError, match="HTTP 404"):
            openai_compatible({"url": server.url, "api_key_env": "MR_TEST_KEY", "env_proxy": "true", **FAST})
        assert proxy.requests[0]["path"] == server.url + "/models"  # the proxy was asked, key and all
        assert proxy.requests[0]["authorization"] == "Bearer s3cret-key"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_not_retried_per_sample() -> None:
    sleeps: list[float] = []
    endpoint = Endpoint(f"http://127.0.0.1:{_dead_port()}/v1", retries=3, backoff=0.01, sleep=sleeps.append)
    with pytest.raises(EndpointError, match=r"after 4 attempt\(s\): no response: cannot connect") as first:
        endpoint.request("POST", "/chat/completions", {})
    assert first.value.status is None and len(sleeps) == 3
    assert sleeps == sorted(sleeps) and all(0.005 <= s <= 0.08 for s in sleeps)  # doubling, jittered
    with pytest.raises(EndpointError, match=r"after 1 attempt\(s\).*not retried: the server was unreachable"):
        endpoint.request("POST", "/chat/completions", {})
    assert len(sleeps) == 3


def test_backoff_is_seeded_and_retry_after_parsed() -> None:
    def waits(seed: int) -> list[float]:
        endpoint = Endpoint("http://127.0.0.1:1/v1", backoff=1.0, max_backoff=4.0, seed=seed)
        return [endpoint._wait(attempt, None) for attempt in range(5)]

    assert waits(3) == waits(3) != waits(4)
    assert all(cap / 2 <= w <= cap for w, cap in zip(waits(3), [1, 2, 4, 4, 4]))
    assert _retry_after("7") == 7.0 and _retry_after("soon") is None and _retry_after(None) is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= _retry_after(in_a_minute) <= 61
    assert Endpoint("http://x/v1")._wait(0, 1e6) == MAX_RETRY_AFTER


def test_wrong_url_fails_fast(server) -> None:
    port = _dead_port()
    with pytest.raises(EndpointError, match=r"cannot reach .* after 3 attempt\(s\): cannot connect .*; is the server running"):
        openai_compatible({"url": f"http://127.0.0.1:{port}/v1", **FAST})
    with pytest.raises(EndpointError, match="usually ends in /v1"):
        openai_compatible({"url": server.url[: -len("/v1")], **FAST})
    with pytest.raises(ValueError, match=f"does not serve model 'nope'; it serves {SERVED_NAME}"):
        openai_compatible({"url": server.url, "model": "nope", **FAST})
    with pytest.raises(ValueError, match="base URL"):
        openai_compatible({"url": "127.0.0.1:8000/v1"})
    with pytest.raises(ValueError, match="model-option url"):
        openai_compatible({"url": server.url, "path": "/models/x"})


def test_description_names_the_endpoint(server) -> None:
    model = served(server, system_prompt="Answer briefly.", prompt_template="Q: {question}")
    ident = medrobust.describe_model("openai-compatible", model)
    assert ident["endpoint"] == server.url and ident["served_model"] == SERVED_NAME
    assert ident["server_models"] == [{"id": SERVED_NAME, "object": "model", "owned_by": "medrobust-tests",
                                       "max_model_len": 512}]  # no "created": it changes per request
    assert ident["weights_sha256"] is None and "cannot be digested" in ident["weights_note"]
    assert ident["generation"]["prompt_template"] == "Q: {question}"
    assert ident["generation"]["system_prompt"] == "Answer briefly."
    assert ident["token_scoring"]["offered"] is False
    assert medrobust.describe_model("openai-compatible", served(server)) == medrobust.describe_model(
        "openai-compatible", served(server))


def test_imc_says_pdc_cannot_run_and_sms_can(server) -> None:
    reference_samples = PhantomVQA({}).samples("reference")[:40]
    model = served(server, token_scoring="auto")
    with pytest.raises(MissingCapability, match=r"PDC.*feature-hook.*openai-compatible does not offer it "
                                                r"\(the vision features stay on the server.*cannot run; SMS can"
                                                r".*imc-sms"):
        IMC({"strict": "true"}).fit(model, reference_samples, noises=NOISES)
    imc = IMC({})
    with pytest.warns(UserWarning, match="imc runs without PDC"):
        imc.fit(model, reference_samples, noises=NOISES)
    assert set(imc.describe()["parts_not_run"]) == {"pdc"}
    sms = SMSCalibrator({})
    sms.fit(model, reference_samples, noises=NOISES)
    assert sms.refine_many(["is ther a fracture?"])[0].final == "is there a fracture?"
    server.echo = False
    no_echo = served(server, token_scoring="auto")
    assert not available(no_echo)["token_scoring"]
    assert type(no_echo) is type(model)  # one class: what the probe found is declared, not swapped in
    assert "Only no echo is supported" in no_echo.describe()["token_scoring"]["reason"]
    assert "Only no echo is supported" in medrobust.capabilities_of(no_echo).reason("token_scoring")
    with pytest.raises(MissingCapability, match="token-scoring.*Only no echo is supported"):
        SMSCalibrator({}).fit(no_echo, reference_samples, noises=NOISES)
    with pytest.raises(MissingCapability, match="token scoring is not available"):
        no_echo.score_text(["Is there a lesion?"])
    with pytest.raises(ValueError, match="token_scoring=on but"):
        openai_compatible({"url": server.url, **FAST, "token_scoring": "on"})


def _suites(server: LoopbackServer, tmp_path: Path, *args: str,
            samples: str = "20") -> tuple[subprocess.CompletedProcess, dict]:
    cert = tmp_path / "cert"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--model", "openai-compatible",
         "--model-option", f"url={server.url}", "--model-option", "max_tokens=8", "--samples", samples,
         "--certificate", str(cert), "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    path = cert.with_suffix(".json")
    return proc, (json.loads(path.read_text()) if path.exists() else {})


def test_suites_end_to_end_through_the_server(server, tmp_path) -> None:
    proc, cert = _suites(server, tmp_path, str(ROOT / "suites"))
    # on 20 samples a spec may pass or fail (the reference model v2 reads its questions, and a mild
    # question noise can cost 2 of 8 closed answers): that is the model's verdict, not the plugin's
    assert proc.returncode in (0, 1) and cert, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert cert["model"]["endpoint"] == server.url and cert["model"]["served_model"] == SERVED_NAME
    assert cert["model"]["capabilities"]["available"] == {"feature_hook": False, "free_generation": True,
                                                          "token_scoring": True}
    assert cert["sample_errors"] == [] and server.posts >= 20


def test_sms_end_to_end_through_the_server(server, reference, tmp_path) -> None:
    proc, cert = _suites(server, tmp_path, str(ROOT / "suites" / "test_text_noise.py"), "-k", "closed_accuracy",
                         "--calibrator", "imc-sms", samples="6")
    # the spec may pass or fail on 6 samples: that is the model's verdict, not the plugin's
    assert proc.returncode in (0, 1) and cert, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert cert["calibrator"]["name"] == "imc-sms" and cert["model"]["endpoint"] == server.url
    assert cert["calibrator"]["fitted_on"] > 0 and cert["calibrator"]["thresholds"]
    assert cert["sample_errors"] == []
    assert server.paths["/v1/completions"] > 36  # SMS scored the reference questions through the server
