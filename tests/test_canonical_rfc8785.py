"""The canonical form is RFC 8785: the RFC's own vectors, and agreement with independent implementations.

``rfc8785`` (PyPI) is the independent implementation the README's recipe uses; Node's
``JSON.stringify`` is ECMAScript's own number and string serialisation, which RFC 8785 adopts.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import struct
import subprocess

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from medrobust._canonical import canonical_json, sha256_json

# RFC 8785 appendix B: IEEE 754 doubles (as their bits) and their canonical text
RFC_NUMBERS = [
    ("0000000000000000", "0"),  # zero
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),  # smallest positive
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),  # largest
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),  # 2**53
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),  # ~2**68
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),  # round to even
]


def _double(bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(bits))[0]


@pytest.mark.parametrize("bits, text", RFC_NUMBERS)
def test_the_rfcs_number_vectors(bits, text):
    assert canonical_json(_double(bits)) == text
    assert rfc8785.dumps(_double(bits)).decode() == text  # the independent implementation agrees


def test_numbers_are_written_as_ecmascript_writes_a_double():
    assert canonical_json([1.0, 1e-07, 1e21, -0.0, 1e20, 1.5e-6, 0.1, 123.456, 2.0 ** 70]) == (
        "[1,1e-7,1e+21,0,100000000000000000000,0.0000015,0.1,123.456,1.1805916207174113e+21]")


def test_nan_and_the_infinities_are_null_not_refused():
    """RFC 8785 has no form for them; an undefined estimate has always been written as null."""
    assert canonical_json([float("nan"), float("inf"), -float("inf")]) == "[null,null,null]"
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(float("nan"))


def test_the_rfcs_sorting_example():
    """RFC 8785 section 3.2.3: names are sorted by their UTF-16 code units, not by code points."""
    data = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"}
    expected = ('{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With '
                'Diaeresis","\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter '
                'Dalet With Dagesh"}')
    assert canonical_json(data) == expected
    # the emoji (D83D DE00 in UTF-16) sorts before U+FB33, though its code point is larger
    assert list(json.loads(canonical_json(data)))[-2:] == ["\U0001f600", "\ufb33"]


def test_the_rfcs_serialisation_example():
    """RFC 8785 section 3.2: literals, numbers and string escapes of a parsed JSON text."""
    text = ('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
            ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}')
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonical_json(json.loads(text)) == expected
    assert sha256_json(json.loads(text)) == hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_strings_are_escaped_as_json_stringify_escapes_them():
    written = canonical_json("\b\t\n\f\r\x00\x1f\x7f\u2028\"\\/é")
    assert written == '"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f\u2028\\"\\\\/é"'  # DEL, U+2028 and / as themselves


def test_integers_beyond_2_to_the_53_are_kept_exact():
    seed = 2 ** 63 - 25  # a 63-bit noise seed: no double holds it
    assert canonical_json([2 ** 53 - 1, -(2 ** 53 - 1), seed]) == f'[9007199254740991,-9007199254740991,"{seed}"]'
    # an integer a double holds and writes back with the same digits stays a number
    assert canonical_json([2 ** 53, 10 ** 20, 10 ** 21]) == "[9007199254740992,100000000000000000000,1e+21]"
    # 2**62 is a double, but RFC 8785 writes that double as 4611686018427388000: not its digits
    assert canonical_json(2 ** 62) == '"4611686018427387904"'
    assert canonical_json(float(2 ** 62)) == "4611686018427388000"
    assert canonical_json(10 ** 400) == f'"{10 ** 400}"'  # beyond the largest double


def test_lone_surrogates_are_escaped_and_read_back():
    """The one deviation from RFC 8785 (which refuses them): undecodable model output still digests."""
    answer = b"yes \xff</script>".decode("utf-8", "surrogateescape")
    text = canonical_json({answer: answer})
    assert text == '{"yes \\udcff</script>":"yes \\udcff</script>"}'
    assert json.loads(text) == {answer: answer}
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(answer)
    # a high and a low surrogate next to each other are the character they encode in UTF-16
    assert canonical_json("\ud83d\ude00") == canonical_json("\U0001f600") == '"\U0001f600"'


def test_values_json_has_no_form_for_are_refused():
    for value in ({1, 2}, b"bytes", object()):
        with pytest.raises(TypeError, match="not JSON serializable"):
            canonical_json({"x": [value]})


def test_tuples_are_arrays_and_keys_are_text():
    assert canonical_json({"t": (1, 2), 2: "two", None: 0}) == '{"2":"two","None":0,"t":[1,2]}'


def test_objects_with_the_same_keys_are_each_written_with_their_own_values():
    # objects' layouts are remembered by their keys: rows with the same keys, in any order, and keys
    # that name the same member (a surrogate pair and its character: the last one wins, as in a dict)
    rows = [{"b": i, "a": [i], "\ud83d\ude00": "pair", "\U0001f600": "char"} for i in range(3)]
    rows.append({"\U0001f600": "char", "a": [3], "b": 3, "\ud83d\ude00": "pair"})
    assert canonical_json(rows) == ('[{"a":[0],"b":0,"\U0001f600":"char"},{"a":[1],"b":1,"\U0001f600":"char"},'
                                    '{"a":[2],"b":2,"\U0001f600":"char"},{"a":[3],"b":3,"\U0001f600":"pair"}]')
    assert canonical_json([{1: "int"}, {"1": "text"}, {True: "bool"}]) == '[{"1":"int"},{"1":"text"},{"True":"bool"}]'


_SAFE = 2 ** 53 - 1
_scalars = (st.none() | st.booleans() | st.integers(-_SAFE, _SAFE)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text())


def _json(scalars: st.SearchStrategy, keys: st.SearchStrategy = st.text()) -> st.SearchStrategy:
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
                        max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(_json(_scalars))
def test_agrees_with_the_rfc8785_package(value):
    assert canonical_json(value).encode("utf-8") == rfc8785.dumps(value)


_hostile_text = st.text(st.characters(categories=["Cs"]) | st.characters(), max_size=8)
_hostile = (_scalars | st.integers() | st.floats() | _hostile_text)


@settings(max_examples=500, deadline=None)
@given(_json(_hostile, _hostile_text))
def test_the_canonical_text_reads_back_to_itself(value):
    """What a certificate's reader parses gives the same canonical text, so the same digest."""
    text = canonical_json(value)
    text.encode("utf-8")  # always valid UTF-8
    assert canonical_json(json.loads(text)) == text


@settings(max_examples=500, deadline=None)
@given(_json(_scalars | st.integers() | st.floats()))
def test_the_readmes_recipe_recomputes_the_canonical_text(value):
    """README: ``rfc8785.dumps(json.load(f, parse_int=float))``, for any numbers medrobust writes."""
    text = canonical_json(value)
    assert rfc8785.dumps(json.loads(text, parse_int=float)) == text.encode("utf-8")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_numbers_agree_with_ecmascript_itself():
    rng = random.Random(8785)
    doubles = [struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0] for _ in range(3000)]
    doubles += [rng.uniform(-1e6, 1e6) for _ in range(1000)] + [round(rng.random(), 6) for _ in range(1000)]
    doubles += [float(f"1e{e}") for e in range(-330, 310)] + [float(f"5e{e}") for e in range(-324, 308)]
    doubles = [d for d in doubles if d == d and abs(d) != float("inf")]
    bits = "\n".join(struct.pack(">d", d).hex() for d in doubles)
    script = ("const lines=require('fs').readFileSync(0,'utf8').split('\\n');"
              "console.log(lines.map(h=>JSON.stringify(Buffer.from(h,'hex').readDoubleBE(0))).join('\\n'))")
    done = subprocess.run(["node", "-e", script], input=bits, capture_output=True, text=True, timeout=60, check=True)
    written = done.stdout.split()
    assert len(written) == len(doubles)
    wrong = [(d, w, canonical_json(d)) for d, w in zip(doubles, written) if canonical_json(d) != w]
    assert not wrong, wrong[:5]
