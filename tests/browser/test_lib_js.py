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
