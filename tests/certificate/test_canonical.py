"""Canonical JSON of certificates: hostile and undecodable text still digests and round-trips."""

import json

from medrobust._canonical import canonical_json
from medrobust.certificate.record import compute_digest


def test_undecodable_bytes_from_a_model_are_escaped_and_round_trip():
    answer = b"yes \xff\xfe</script>".decode("utf-8", "surrogateescape")
    data = {"specs": [{"answer": answer, answer: 1}], "verdict": "PASS"}
    text = canonical_json(data)
    text.encode("utf-8")  # would raise on a lone surrogate
    assert json.loads(text)["specs"][0]["answer"] == answer
    digest = compute_digest(data)
    # the digest of the data as read back from the file equals the digest of the data as built
    assert compute_digest(json.loads(text)) == digest
    assert compute_digest({**data, "verdict": "FAIL"}) != digest


def test_a_check_gives_the_same_drop_before_and_after_travelling_as_json():
    """xdist workers send check records as JSON (values rounded to 6 places); the serial run keeps
    its own records: both must certify the same drop, or the two digests differ."""
    from medrobust.run.metrics import estimate
    from medrobust.run.records import CheckRecord, drop_of

    clean = estimate([1.0] * 170 + [0.0] * 10).to_json()  # 0.94444...
    noisy = estimate([1.0] * 151 + [0.0] * 29).to_json()  # 0.83888...
    record = CheckRecord([{"name": "gaussian_noise", "severity": 1}], "gaussian_noise@1", "closed_accuracy",
                         clean, noisy, drop_of(clean, noisy), {"max_drop": 0.15}, True, 0)
    travelled = CheckRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert travelled == record and record.drop == 0.105555


def test_the_leaf_digests_have_one_recipe_each():
    from medrobust._canonical import sha256_json, text_digest
    import hashlib

    assert sha256_json({"b": 1, "a": [1.5, "é"]}) == hashlib.sha256('{"a":[1.5,"é"],"b":1}'.encode()).hexdigest()
    assert text_digest("é") == hashlib.sha256("é".encode()).hexdigest()
    assert canonical_json(float("nan")) == "null"
