"""The request channel: results with arrays come back as buffers, errors come back as errors."""

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _put_buffers

from interpwidgets.transport import decode, encode
from interpwidgets.widgets import Widget, serves


class Heads(Widget):
    _esm = "export default { render() {} }"
    layer = traitlets.Int(0).tag(sync=True)

    @serves("head")
    def _head(self, layer, head):
        if head >= 4:
            raise ValueError(f"head {head} out of range (0..3)")
        return {"layer": layer, "pattern": encode(np.full((3, 3), layer + head / 10))}


def test_a_request_gets_its_arrays_as_buffers():
    w = Heads()
    reply, buffers = w._respond({"kind": "request", "id": 3, "method": "head", "args": {"layer": 1, "head": 2}})
    assert reply["id"] == 3 and reply["buffer_paths"] == [["result", "pattern", "buffer"]]
    assert "buffer" not in reply["result"]["pattern"] and len(buffers) == 1
    _put_buffers(reply, reply["buffer_paths"], buffers)
    np.testing.assert_allclose(decode(reply["result"]["pattern"]), np.full((3, 3), 1.2, dtype=np.float32))


def test_an_error_while_serving_is_reported_not_swallowed():
    w = Heads(layer=5)
    reply, buffers = w._respond({"kind": "request", "id": 4, "method": "head", "args": {"layer": 0, "head": 9}})
    assert reply["error"] == "ValueError: head 9 out of range (0..3)" and "Traceback" in reply["traceback"]
    assert w.error == reply["error"] and w.layer == 5 and buffers == []
    reply, _ = w._respond({"kind": "request", "id": 5, "method": "nope", "args": {}})
    assert "serves no request 'nope'" in reply["error"] and "['head']" in reply["error"]


def test_replies_are_sent_through_the_comm():
    w = Heads()
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._on_message(w, {"kind": "request", "id": 1, "method": "head", "args": {"layer": 0, "head": 0}}, [])
    w._on_message(w, {"kind": "something else"}, [])
    assert len(sent) == 1 and sent[0][0]["id"] == 1 and len(sent[0][1]) == 1


def test_a_missing_bundle_says_how_to_build_it():
    class Missing(Widget):
        _bundle = "does-not-exist"

    with pytest.raises(FileNotFoundError, match="make js"):
        Missing()
