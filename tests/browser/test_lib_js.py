"""js/lib in Chromium: every float16 value widens to the float32 that numpy gives it; request keys are
built as Python builds them."""

import base64
from pathlib import Path

import numpy as np

LIB = Path(__file__).parents[2] / "js" / "lib"


def _lib(name: str) -> str:
    """A js/lib module as a classic script (its exports become globals of the page)."""
    return (LIB / name).read_text().replace("export function", "function").replace("export const", "const")


SOURCE = _lib("array.js")


def test_every_float16_value_decodes_exactly(browser):
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=SOURCE)
        bits = np.arange(65536, dtype=np.uint16)
        b64 = base64.b64encode(bits.tobytes()).decode()
        got = page.evaluate("""b64 => { const raw = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const { data, shape } = decode({ dtype: "float16", shape: [65536], buffer: new DataView(raw.buffer, 0) });
            return [shape, Array.from(data, v => Number.isNaN(v) ? "nan" : v === Infinity ? "inf"
                                                 : v === -Infinity ? "-inf" : v)]; }""", b64)
        with np.errstate(invalid="ignore"):  # NaN bit patterns widen to NaN
            want = bits.view(np.float16).astype(np.float64)
        assert got[0] == [65536]
        shown = np.array([np.nan if v == "nan" else np.inf if v == "inf" else -np.inf if v == "-inf" else v
                          for v in got[1]], dtype=np.float64)
        np.testing.assert_array_equal(shown, want)  # subnormals, infinities and NaN included
    finally:
        page.close()


def test_request_keys_are_the_same_in_both_languages(browser):
    from interpwidgets.widgets import request_key

    cases = [("points", {"layer": 2, "head": 5}), ("meta", {}), ("pattern", {"unit": 3, "layer": 0, "head": 11}),
             ("thumb", {"text": 0, "layer": 10, "head": 2}), ("find", {"word": "café ∑", "at": -1})]
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=_lib("request.js"))
        got = page.evaluate("cases => cases.map(([m, a]) => requestKey(m, a))", [list(c) for c in cases])
    finally:
        page.close()
    assert got == [request_key(m, a) for m, a in cases]


def test_requests_time_out_abort_and_answer_from_an_exported_page(browser):
    """request.js on a stub of anywidget's invoke: a kernel that never answers is a named timeout; a view
    that goes away aborts its request; an exported page answers what it carries and names what it lacks;
    Python's error comes back with its traceback; buffers are put back where the reply says."""
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=_lib("request.js"))
        got = page.evaluate("""async () => {
            const model = (snapshot) => ({ get: () => snapshot });
            const never = { invoke: (name, msg, { signal }) => new Promise((_, reject) =>
                signal.addEventListener("abort", () => reject(signal.reason))) };
            const out = {};
            const settle = (p) => p.then((r) => ["ok", r], (e) => [e.name, e.message, e.traceback || null]);
            out.timeout = await settle(requester(model({}), never, { timeout: 150 })("thumb", { layer: 1 }));
            const view = new AbortController();
            const pending = settle(requester(model({}), never)("thumb", { layer: 2 }, { signal: view.signal }));
            view.abort();
            out.aborted = await pending;
            const exported = model({ exported: true, [requestKey("meta", {})]: { n: 3 } });
            out.carried = await settle(requester(exported, never)("meta"));
            out.missing = await settle(requester(exported, never)("points", { layer: 0, head: 1 }));
            const reply = { error: "IndexError: no head 9", traceback: "Traceback ..." };
            const failing = { invoke: async () => [reply, []] };
            out.error = await settle(requester(model({}), failing)("points", { head: 9 }));
            const buffers = { invoke: async () => [{ result: { pattern: { dtype: "uint8", shape: [2] } },
                                                     buffer_paths: [["result", "pattern", "buffer"]] },
                                                   [new DataView(new Uint8Array([7, 9]).buffer)]] };
            const r = await requester(model({}), buffers)("pattern", {});
            out.buffer = Array.from(new Uint8Array(r.pattern.buffer.buffer));
            return out;
        }""")
    finally:
        page.close()
    assert got["timeout"][0] == "Error" and 'no answer from Python to "thumb" within 0.15 s' in got["timeout"][1]
    assert got["aborted"][0] == "AbortError"
    assert got["carried"] == ["ok", {"n": 3}]
    assert "this exported page does not include points" in got["missing"][1]
    assert got["error"] == ["Error", "IndexError: no head 9", "Traceback ..."]
    assert got["buffer"] == [7, 9]

