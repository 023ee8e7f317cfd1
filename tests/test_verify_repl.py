"""How verify talks to the REPL: the raw REPL entered once, raw-paste, the probe sent compact.

Against the real MicroPython REPL peer (tests/harness/repl_peer.py); the
bytes verify writes are recorded by wrapping the real serial port's write.
"""

from __future__ import annotations

import ast

from harness.repl_peer import repl_peers  # noqa: F401

from mpforge.board import repl


def test_raw_repl_entered_once_and_probe_runs(repl_peers, monkeypatch):
    peer = repl_peers("reference")
    sent = []
    real_open = repl.open_port

    def recording(port, **kw):
        transport = real_open(port, **kw)
        write = transport.serial.write
        transport.serial.write = lambda data: (sent.append(bytes(data)), write(data))[1]
        return transport

    monkeypatch.setattr(repl, "open_port", recording)
    probe = repl.probe_board(peer.port, timeout=5)
    assert probe["build"] == "ESP32_GENERIC_S3-FLASH_16M_SPIRAM_OCT"
    assert b"".join(sent).count(b"\r\x01") == 1  # one Ctrl-A: no second entry through mpremote
    assert b"".join(sent).count(b"\x05A\x01") == 1  # raw-paste asked once; the peer has it
    assert sum(len(s) for s in sent) < 3000  # the compact probe, not the 4.3 KB file


def test_compact_probe_is_the_same_program():
    source = repl.PROBE.read_text()
    small = repl.compact(source)
    assert len(small) < len(source) * 0.6
    assert ast.dump(ast.parse(small)) == ast.dump(ast.parse(source))
    odd = "if x:\n  y = 1\n"  # indented by two: not compacted, sent as it is
    assert repl.compact(odd) == odd
