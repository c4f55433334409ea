"""The core run (internal): options, plugins, answering under noise, checks, records and the judgement.

Nothing here is public API; plugins and specs use what :mod:`medrobust` exports.
Data flows one way: options -> run context -> answers -> plain records -> one
judgement -> certificate. The leaves (:mod:`.canonical`, :mod:`.records`) import
nothing of medrobust's but the sample; nothing here imports :mod:`medrobust.certificate`.
"""
