"""Build hook: bundle the JavaScript (js/) into interpwidgets/static/ whenever the package is built or
installed, editable installs included. The bundles are never committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class JavaScriptBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        js = Path(self.root) / "js"
        if not js.exists():  # building from a wheel's contents: the bundles are already there
            return
        for tool in ("node", "npm"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"building interpwidgets from source needs Node.js and npm ({tool} not found); "
                                   f"install them, or install a built wheel")
        if not (js / "node_modules").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=js, check=True)
        subprocess.run(["node", "build.mjs"], cwd=js, check=True)
        build_data["artifacts"].append("interpwidgets/static/*")  # git-ignored, yet shipped
