"""The engine, the probes and the methods import without the widget stack; the widgets load on first use."""

import subprocess
import sys

WIDGET_STACK = ("anywidget", "ipywidgets", "traitlets")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    return {m.split(".")[0] for m in out.stdout.split()}


def test_engine_probes_and_methods_import_without_the_widget_stack():
    loaded = _modules_after("import interpwidgets as iw, interpwidgets.capture, interpwidgets.probes, "
                            "interpwidgets.iti, interpwidgets.iti.evaluation, interpwidgets.attention.method, "
                            "interpwidgets.worlds.truthful, interpwidgets.probes.spatial, interpwidgets.scenes, "
                            "interpwidgets.worlds.scenes.train, interpwidgets.saliency, interpwidgets.stats\n"
                            "iw.capture, iw.fit_probes, iw.ITI, iw.collect")
    assert not loaded & set(WIDGET_STACK), loaded & set(WIDGET_STACK)


def test_widgets_load_on_first_use():
    loaded = _modules_after("import interpwidgets as iw\nassert iw.ITIView.__name__ == 'ITIView'\n"
                            "assert 'AttentionView' in dir(iw)")
    assert "anywidget" in loaded
