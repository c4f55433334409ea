"""Canonical JSON of certificates: hostile and undecodable text still digests and round-trips."""

import json

from medrobust.certificate.record import canonical_json, compute_digest


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
