"""A user's JupyterLab starts with an "Atelier" menu whose entry opens the portal, and keeps
the settings the user changed."""

from __future__ import annotations

import json
from pathlib import Path

from atelier.services.notebooks.servers import _default_lab_settings

MENU = "@jupyterlab/mainmenu-extension/plugin.jupyterlab-settings"


def test_the_atelier_menu_leads_back_to_the_portal(tmp_path: Path) -> None:
    _default_lab_settings(tmp_path)
    menus = json.loads((tmp_path / MENU).read_text())["menus"]
    assert [m["label"] for m in menus] == ["Atelier"]
    (item,) = menus[0]["items"]
    assert item["command"] == "help:open"  # JupyterLab's own "open this URL" command
    assert item["args"] == {"url": "/", "text": "Atelier portal", "newBrowserTab": True}


def test_a_users_own_menu_settings_stay(tmp_path: Path) -> None:
    (tmp_path / MENU).parent.mkdir(parents=True)
    (tmp_path / MENU).write_text('{"menus": []}')
    _default_lab_settings(tmp_path)
    assert json.loads((tmp_path / MENU).read_text()) == {"menus": []}
