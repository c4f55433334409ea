"""A journal that cannot lie: its key holds every option an answer depends on, an edited entry is
not used (and counted in the certificate), a corrupt journal stops the run at start-up with a few
lines naming the file, and ``medrobust journal info|verify|clear`` look into it."""

from __future__ import annotations

import json
import os
import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import TOY_PLUGIN
from conftest import read_certificate

from medrobust.cli import main
from medrobust.errors import JournalError, PluginError
from medrobust.run.journal import AnswerJournal, answer_options, key_path

SPEC = '''
def test_clean(bench):
    bench.expect("clean", metric="open_recall", min=0.0)
'''

FLIP_MODEL = '''

class FlipModel:
    """Answers 'yes' (or 'no' with --model-option flip=1); its weights digest never changes."""

    answer_neutral_options = ("concurrency",)

    def __init__(self, options):
        self.flip = str(options.get("flip", "0")) == "1"

    def answer(self, samples):
        return ["no" if self.flip else "yes" for s in samples]

    def describe(self):
        return {"name": "flip", "weights_sha256": "1" * 64}


@medrobust.hookimpl
def medrobust_register_models(register):
    register("flip", FlipModel)
'''

ARGS = ("--model", "flip", "--dataset", "toy", "--dataset-option", "n=6", "-p", "no:cacheprovider")
JOURNAL = ".medrobust/journal.sqlite"


@pytest.fixture
def flip(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with the toy plugin, the flip model and one clean spec."""
    pytester.makeconftest(TOY_PLUGIN.read_text() + FLIP_MODEL)
    pytester.makefile(".ini", pytest="[pytest]\n")
    pytester.makepyfile(test_spec=SPEC)
    return pytester


def _run(pytester: pytest.Pytester, *extra: str) -> dict[str, Any]:
    """Run the spec; the certificate's answers (by sample) and how the journal served them."""
    result = pytester.runpytest(*ARGS, *extra)
    result.assert_outcomes(passed=1)
    cert = read_certificate(pytester)
    schema = json.loads((resources.files("medrobust") / "schemas" / "certificate.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(cert)
    rows = [json.loads(line) for line in
            (pytester.path / "reports" / "certificate.answers.jsonl").read_text().splitlines() if line]
    return {"answers": {row["sample"]: row["answer"] for row in rows}, "use": cert["timing"]["journal_use"],
            "digest": cert["digest"], "output": result.stdout.str()}


# -- the key holds every option an answer depends on ------------------------------------------------

def test_runs_differing_in_one_model_option_do_not_share_answers(flip):
    first = _run(flip, "--model-option", "flip=0")
    assert set(first["answers"].values()) == {"yes"} and first["use"]["asked"] == 6
    second = _run(flip, "--model-option", "flip=1")
    assert set(second["answers"].values()) == {"no"}, "flip=1 was answered from flip=0's journal entries"
    assert second["use"] == {**second["use"], "from_journal": 0, "asked": 6}


def test_an_answer_neutral_option_still_shares_the_journal(flip):
    _run(flip, "--model-option", "flip=0", "--model-option", "concurrency=1")
    again = _run(flip, "--model-option", "flip=0", "--model-option", "concurrency=8")
    assert again["use"]["asked"] == 0 and again["use"]["from_journal"] == 6
    assert set(again["answers"].values()) == {"yes"}


def test_answer_neutral_options_are_dropped_and_checked():
    class Plugin:
        answer_neutral_options = ("timeout",)

    assert answer_options("model", "m", Plugin(), {"timeout": 3, "temperature": 0}) == {"temperature": 0}
    Plugin.answer_neutral_options = "timeout"  # a string is not a tuple of names
    with pytest.raises(PluginError, match="answer_neutral_options must be a tuple of option names"):
        answer_options("model", "m", Plugin(), {})


# -- an edited entry is not used, and the certificate says so -----------------------------------------

def test_an_answer_edited_in_the_journal_is_not_used_and_is_counted(flip):
    first = _run(flip)
    with sqlite3.connect(flip.path / JOURNAL) as db:
        edited = db.execute("UPDATE entries SET answer = 'no' WHERE rowid IN "
                            "(SELECT rowid FROM entries LIMIT 2)").rowcount
    assert edited == 2
    second = _run(flip)
    assert "2 entries did not verify" in second["output"]
    assert second["answers"] == first["answers"], "an edited journal entry was used as the model's answer"
    assert second["use"]["rejected"] == 2 and second["use"]["asked"] == 2 and second["use"]["from_journal"] == 4
    assert "2 journal entries rejected" in second["use"]["note"]
    page = (flip.path / "reports" / "certificate.html").read_text(encoding="utf-8")
    assert "2 journal entries did not verify" in page and "4 read from the answer journal" in page
    assert second["digest"] == first["digest"], "how answers were served must stay out of the digest"
    third = _run(flip)  # the re-asked answers replaced the edited entries
    assert third["use"]["rejected"] == 0 and third["use"]["from_journal"] == 6


def test_an_entry_moved_to_another_key_does_not_verify(tmp_path):
    journal = AnswerJournal(tmp_path / "j.sqlite")
    journal.put_many("scope", [("k1", "yes", None), ("k2", "no", None)])
    journal._db.execute("UPDATE entries SET key = 'k3' WHERE key = 'k1'")
    lookup = journal.get_many(["k2", "k3"])
    assert lookup.found == {"k2": ("no", None)} and lookup.rejected == ("k3",)


def test_the_key_file_is_private_and_beside_the_journal(tmp_path):
    AnswerJournal(tmp_path / "j.sqlite").put_many("s", [("k", "yes", None)])
    keyfile = key_path(tmp_path / "j.sqlite")
    assert keyfile == tmp_path / "j.sqlite.key" and oct(keyfile.stat().st_mode & 0o777) == "0o600"
    assert keyfile.read_text().strip() not in (tmp_path / "j.sqlite").read_bytes().decode("latin-1")


def test_a_journal_whose_key_file_is_missing_stops_with_the_fix_it_names(tmp_path, capsys):
    path = tmp_path / "j.sqlite"
    AnswerJournal(path).put_many("s", [("k", "yes", None)])
    key_path(path).unlink()
    with pytest.raises(JournalError, match=r"j\.sqlite\.key is missing.*\n.*medrobust journal clear"):
        AnswerJournal(path)
    assert main(["journal", "verify", str(path)]) == 1
    assert "key file" in capsys.readouterr().out
    assert main(["journal", "clear", str(path)]) == 0
    journal = AnswerJournal(path)  # cleared: a new key is made with it
    journal.put_many("s", [("k", "yes", None)])
    assert journal.get_many(["k"]).found == {"k": ("yes", None)}


def test_a_key_file_of_another_journal_is_recognised(tmp_path):
    AnswerJournal(tmp_path / "a.sqlite").put_many("s", [("k", "yes", None)])
    AnswerJournal(tmp_path / "b.sqlite").put_many("s", [("k", "yes", None)])
    key_path(tmp_path / "a.sqlite").write_bytes(key_path(tmp_path / "b.sqlite").read_bytes())
    with pytest.raises(JournalError, match=r"a\.sqlite\.key belongs to another journal"):
        AnswerJournal(tmp_path / "a.sqlite")


# -- a corrupt journal stops the run at start-up --------------------------------------------------------

def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _truncated(path: Path) -> None:
    journal = AnswerJournal(path)
    journal.put_many("s", [(f"k{i}", "an answer " * 20, None) for i in range(400)])
    journal._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.close()
    data = path.read_bytes()
    assert len(data) > 3 * 4096
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [_random_bytes, _truncated], ids=["random-bytes", "truncated"])
def test_a_corrupt_journal_stops_the_run_at_start_up_naming_the_file(flip, damage):
    path = flip.path / JOURNAL
    path.parent.mkdir()
    damage(path)
    result = flip.runpytest(*ARGS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"answer journal {JOURNAL}: " in err and "--journal none" in err and "move it aside" in err.lower()
    assert "Traceback" not in err + result.stdout.str() and len(err.strip().splitlines()) <= 4
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()
    flip.runpytest(*ARGS, "--journal", "none").assert_outcomes(passed=1)  # the fix it names works


@pytest.mark.parametrize("make", ["directory", "other-database"])
def test_what_is_not_a_journal_is_refused_with_the_file_named(tmp_path, make):
    path = tmp_path / "j.sqlite"
    if make == "directory":
        path.mkdir()
    else:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE patients (name TEXT)")
    with pytest.raises(JournalError, match=f"answer journal {path}: .*(not a regular file|not a medrobust)"):
        AnswerJournal(path)


# -- medrobust journal info | verify | clear ------------------------------------------------------------

def _filled(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    journal = AnswerJournal(path)
    journal.put_many("a" * 64, [("k1", "yes", None), ("k2", "no", None)])
    journal.put_many("b" * 64, [("k3", "maybe", None)])
    journal.close()
    return path


def test_journal_info_lists_entries_scopes_and_size(tmp_path, capsys):
    path = _filled(tmp_path)
    assert main(["journal", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"answer journal {path} (format 2): 3 entries in 2 scope(s)" in out
    assert f"scope {'a' * 64}: 2 entries" in out and "bytes" in out
    assert main(["journal", "info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 3 and info["bytes"] > 0 and info["key_file_present"]


def test_journal_verify_exits_0_when_clean_1_when_edited_2_when_not_a_journal(tmp_path, capsys):
    path = _filled(tmp_path)
    assert main(["journal", "verify", str(path)]) == 0
    assert "all 3 entries verify" in capsys.readouterr().out
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET answer = 'no' WHERE key = 'k1'")
    assert main(["journal", "verify", str(path)]) == 1
    assert "1 of 3 entries do NOT verify" in capsys.readouterr().out
    (tmp_path / "empty.sqlite").write_bytes(b"")
    assert main(["journal", "verify", str(tmp_path / "empty.sqlite")]) == 2
    assert "not a medrobust answer journal (an empty file" in capsys.readouterr().err
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    assert main(["journal", "verify", str(junk)]) == 2
    err = capsys.readouterr().err
    assert f"answer journal {junk}: not an SQLite file" in err and "Traceback" not in err
    assert main(["journal", "verify", str(tmp_path / "absent.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "absent.sqlite").exists(), "verify must not create a journal"


def test_journal_clear_removes_one_scope_or_all(tmp_path, capsys):
    path = _filled(tmp_path)
    assert main(["journal", "clear", str(path), "--scope", "b" * 8]) == 0
    assert "removed 1 entries of scope" in capsys.readouterr().out
    assert main(["journal", "clear", str(path), "--scope", "c" * 8]) == 2
    assert "matches no scope" in capsys.readouterr().err
    assert len(AnswerJournal(path)) == 2
    assert main(["journal", "clear", str(path)]) == 0
    assert len(AnswerJournal(path)) == 0


def test_a_journal_of_the_older_format_is_kept_but_its_unverifiable_entries_are_not_used(tmp_path, capsys):
    path = tmp_path / "j.sqlite"
    with sqlite3.connect(path) as db:  # format 1: answers without a MAC
        db.execute("CREATE TABLE answers (key TEXT PRIMARY KEY, answer TEXT, error TEXT)")
        db.execute("INSERT INTO answers VALUES ('k1', 'yes', NULL)")
    assert main(["journal", "info", str(path)]) == 0  # the commands read it as it was left
    assert "1 entries of an older format (not used" in capsys.readouterr().out
    journal = AnswerJournal(path)
    assert journal.get_many(["k1"]).found == {} and len(journal) == 0
    journal.close()
    assert main(["journal", "info", str(path)]) == 0
    assert "1 entries of an older format (not used" in capsys.readouterr().out
    assert main(["journal", "clear", str(path)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert main(["journal", "info", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["older_format_entries"] == 0
