"""The fast browser layer: a widget saved as standalone HTML renders from file:// with the network blocked."""

import numpy as np
import traitlets

from interpwidgets.transport import array_serialization
from interpwidgets.widgets import Widget

RENDER = """
export default {
  render({ model, el }) {
    const draw = () => {
      const p = model.get("values");
      const view = p.buffer;  // a DataView over the binary buffer
      const data = new Float32Array(view.buffer, view.byteOffset, view.byteLength / 4);
      el.innerHTML = `<div id="shape">${p.shape.join("x")}</div><div id="values">${Array.from(data).join(",")}</div>`;
    };
    draw();
    model.on("change:values", draw);
  },
};
"""


class Numbers(Widget):
    """A minimal widget that prints the array it receives, to test transport and export in Chromium."""

    _esm = RENDER
    values = traitlets.Any().tag(sync=True, **array_serialization)


def test_saved_html_renders_offline_with_binary_arrays(tmp_path, offline_page):
    values = np.array([[0.5, -1.0, np.nan], [3.0, np.inf, 2.0 ** -20]])
    path = Numbers(values=values).save_html(tmp_path / "numbers.html")
    assert path.stat().st_size < 20_000  # our host and the state: no widget manager inside
    offline_page.goto(path.as_uri())
    offline_page.locator("#values").wait_for(timeout=20000)
    assert offline_page.locator("#shape").inner_text() == "2x3"
    shown = np.array([float(x) for x in offline_page.locator("#values").inner_text().split(",")])
    np.testing.assert_array_equal(shown, values.astype(np.float32).ravel())  # NaN and inf included, exactly
    assert offline_page.blocked == [] and offline_page.errors == []


def test_save_png_renders_the_view(tmp_path):
    from PIL import Image

    png = Numbers(values=np.arange(4.0)).save_png(tmp_path / "numbers.png", width=500, height=300)
    image = Image.open(png)
    assert image.width > 50 and image.height > 10
    assert np.unique(np.asarray(image.convert("L"))).size > 2  # text was drawn, not a blank box


# A module as a third party may write it: named exports (no default), and a view that changes the
# model itself, with an equal-looking new binary array and with an object of handlers.
NAMED = """
export function render({ model, el, signal }) {
  const seen = [];
  model.on({ "change:values": () => seen.push("values"), "change:label": () => seen.push("label") });
  const old = model.get("values");
  model.set("values", { ...old, buffer: new DataView(old.buffer.buffer.slice(0)) });  // same bytes, new array
  model.set({ label: "</script><b>not markup</b>" });
  el.innerHTML = `<div id="seen">${seen.join(",")}</div><div id="signal">${signal instanceof AbortSignal}</div>`;
  el.append(Object.assign(document.createElement("div"), { id: "label", textContent: model.get("label") }));
}
"""


class Named(Numbers):
    _esm = NAMED
    label = traitlets.Unicode("<!-- </script> <script>window.injected = 1</script>").tag(sync=True)


def test_the_page_host_runs_named_exports_and_escapes_what_it_carries(tmp_path, offline_page):
    title = "</title><script>window.injected = 2</script>"
    path = Named(values=np.arange(3.0)).save_html(tmp_path / "named.html", title=title)
    offline_page.goto(path.as_uri())
    offline_page.locator("#seen").wait_for(timeout=20000)
    assert offline_page.locator("#seen").inner_text() == "values,label"  # a new array is a change
    assert offline_page.locator("#signal").inner_text() == "true"
    assert offline_page.locator("#label").inner_text() == "</script><b>not markup</b>"
    assert offline_page.title() == title and offline_page.evaluate("window.injected") is None
    assert offline_page.errors == []
