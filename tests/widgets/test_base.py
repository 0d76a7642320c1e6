"""The widget base: requests through anywidget's command, errors with tracebacks that a later success
clears, exported state built beside the live widget, and the shared background-job helper."""

import threading
import time

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _put_buffers

from interpwidgets.transport import decode, encode
from interpwidgets.widgets import Widget, request_key, serves
from interpwidgets.widgets.jobs import Job


class Heads(Widget):
    _esm = "export default { render() {} }"
    layer = traitlets.Int(0).tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)

    heads = 4

    @serves("head")
    def _head(self, layer, head):
        if head >= self.heads:
            raise ValueError(f"head {head} out of range (0..{self.heads - 1})")
        return {"layer": layer, "pattern": encode(np.full((3, 3), layer + head / 10))}

    def _snapshot_requests(self):
        yield "head", {"layer": self.layer, "head": 1}


def test_a_request_gets_its_arrays_as_buffers():
    w = Heads()
    reply, buffers = w._respond("head", {"layer": 1, "head": 2})
    assert reply["buffer_paths"] == [["result", "pattern", "buffer"]]
    assert "buffer" not in reply["result"]["pattern"] and len(buffers) == 1
    _put_buffers(reply, reply["buffer_paths"], buffers)
    np.testing.assert_allclose(decode(reply["result"]["pattern"]), np.full((3, 3), 1.2, dtype=np.float32))


def test_an_error_while_serving_is_reported_with_its_traceback_and_cleared_by_its_own_success():
    w = Heads(layer=5)
    reply, buffers = w._respond("head", {"layer": 0, "head": 9})
    assert reply["error"] == "ValueError: head 9 out of range (0..3)" and "Traceback" in reply["traceback"]
    assert w.error == "request 'head': ValueError: head 9 out of range (0..3)" and w.layer == 5 and buffers == []
    assert "raise ValueError" in w.error_traceback
    w._respond("head", {"layer": 0, "head": 1})
    assert "head 9" in w.error  # another head's success does not hide this head's failure
    w.heads = 10
    w._respond("head", {"layer": 0, "head": 9})
    assert w.error == "" and w.error_traceback == ""  # the same request worked: the message goes
    reply, _ = w._respond("nope", {})
    assert "serves no request 'nope'" in reply["error"] and "['head']" in reply["error"]


def test_requests_go_through_anywidgets_command_and_back_to_the_asking_id():
    """The view's experimental.invoke sends an ``anywidget-command`` with a unique id; the reply carries it."""
    w = Heads()
    sent = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))
    w._handle_custom_msg({"kind": "anywidget-command", "id": "a1b2", "name": "_iw_request",
                          "msg": {"method": "head", "args": {"layer": 0, "head": 0}}}, [])
    w._handle_custom_msg({"kind": "something else"}, [])
    assert len(sent) == 1
    content, buffers = sent[0]
    assert content["id"] == "a1b2" and content["kind"] == "anywidget-command-response"
    assert content["response"]["buffer_paths"] == [["result", "pattern", "buffer"]] and len(buffers) == 1


def test_request_keys_take_flat_ints_and_strings():
    """The method, then the arguments as sorted compact JSON (tests/browser/test_lib_js.py checks that
    js/lib/request.js builds the same); other argument types are refused, not keyed differently."""
    assert request_key("points", {"layer": 2, "head": 5}) == 'points{"head":5,"layer":2}'
    assert request_key("find", {"word": "café"}) == 'find{"word":"café"}'
    with pytest.raises(TypeError, match="ints or strings, got {'alpha': 'float'}"):
        request_key("x", {"alpha": 1.0})


def test_the_exported_state_carries_the_snapshot_and_leaves_the_live_widget_alone():
    w = Heads(layer=2)
    changes = []
    w.observe(lambda c: changes.append(c["name"]), names=["snapshot"])
    state = w._embed_state()
    assert changes == [] and w.snapshot == {}
    key = request_key("head", {"layer": 2, "head": 1})
    assert state["state"]["snapshot"]["exported"] is True and key in state["state"]["snapshot"]
    (buffer,) = [b for b in state["buffers"] if b["path"][:2] == ["snapshot", key]]
    assert buffer["path"] == ["snapshot", key, "pattern", "buffer"] and buffer["encoding"] == "base64"


def test_a_missing_bundle_says_how_to_build_it():
    class Missing(Widget):
        _bundle = "does-not-exist"

    with pytest.raises(FileNotFoundError, match="make js"):
        Missing()


# ---------------------------------------------------------------------- the background-job helper
def test_a_new_start_stops_the_old_run_without_blocking_the_caller():
    w = Heads()
    job = Job(w, "work")
    release, began, ran = threading.Event(), threading.Event(), []

    def slow(run):
        began.set()
        while not run.stopped:  # a run that only ends when stopped, once released
            release.wait(0.01)
        ran.append("slow stopped")

    job.start(slow)
    assert began.wait(5)
    t0 = time.perf_counter()
    job.start(lambda run: ran.append("second"))
    assert time.perf_counter() - t0 < 0.5  # the caller did not wait for the old run
    assert job.wait(5) and ran == ["slow stopped", "second"]  # runs never overlap, in order
    assert job.finished == 1  # the stopped run does not count


def test_a_failing_run_shows_its_traceback_and_the_next_success_clears_it():
    w = Heads()
    job = Job(w, "projection", background=True)

    def fail(run):
        raise RuntimeError("no numba")

    job.start(fail)
    job.wait(5)
    assert w.error == "projection: RuntimeError: no numba" and "in fail" in w.error_traceback
    job.start(lambda run: None)
    job.wait(5)
    assert w.error == ""


def test_progress_is_reported_and_close_stops_the_jobs():
    w = Heads()
    job = Job(w, "fit", progress="progress")
    began = threading.Event()

    def work(run):
        run.progress(0.5)
        began.set()
        while True:
            run.check()  # raises once stopped: the job ends the run quietly
            time.sleep(0.005)

    job.start(work)
    assert began.wait(5) and w.progress == 0.5
    w.close()
    assert job.wait(5) and not job.running and w.error == ""


def test_foreground_work_may_restart_or_close_its_own_job():
    """background=False runs the work on the caller's thread, outside the job's lock: work that starts the
    job again (an observer moving a slider) or closes the widget does not deadlock; a closed job refuses."""
    w = Heads()
    job = Job(w, "work", background=False)
    seen = []

    def outer(run):
        seen.append("outer")
        job.start(lambda run: seen.append("inner"))

    job.start(outer)
    job.start(lambda run: w.close())
    assert seen == ["outer", "inner"]
    with pytest.raises(RuntimeError, match="was closed"):
        job.start(lambda run: seen.append("after close"))
