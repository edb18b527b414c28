"""The pages' strings (causerie/web/i18n/): every key a page uses exists in English, no
translation has a key English lacks, and a translation keeps the English placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "causerie" / "web"
I18N = WEB / "i18n"
LANGUAGES = sorted(p.stem for p in I18N.glob("*.json"))
PAGES = [WEB / "index.html", WEB / "dashboard" / "index.html", WEB / "studio" / "index.html"]
SCRIPTS = [
    WEB / "app.js",
    WEB / "shop.js",
    WEB / "livekit.js",
    WEB / "theme.js",
    WEB / "dashboard" / "dashboard.js",
    WEB / "studio" / "studio.js",
    WEB / "studio" / "markdown.js",
]
# Every string literal that looks like a key ("talk.x", 'dash.y'), and t("...") calls.
KEY_LITERAL = re.compile(r"""["'`]((?:talk|shop|dash|language|studio)\.[a-z0-9_.]+)["'`]""")
T_CALL = re.compile(r"""\bt\(\s*["'`]([^"'`$]+)["'`]""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
HTML_SINK = re.compile(r"\.(inner|outer)HTML\s*\+?=|insertAdjacentHTML\(|document\.write|DOMParser")


def strings(language: str) -> dict[str, str]:
    data = json.loads((I18N / f"{language}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
    return data


def used_keys() -> dict[str, str]:
    """key -> the file that uses it."""
    used: dict[str, str] = {}
    for page in PAGES:
        html = page.read_text(encoding="utf-8")
        for key in re.findall(r'data-i18n="([^"]+)"', html):
            used[key] = page.name
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', html):
            for pair in attrs.split(";"):
                used[pair.split(":")[1].strip()] = page.name
    for script in SCRIPTS:
        js = script.read_text(encoding="utf-8")
        for key in KEY_LITERAL.findall(js) + T_CALL.findall(js):
            used[key] = script.name
    return used


def test_english_and_french_are_shipped() -> None:
    assert {"en", "fr"} <= set(LANGUAGES)


def test_every_key_the_pages_use_is_in_english() -> None:
    en = strings("en")
    used = used_keys()
    assert len(used) > 100  # the scan found the pages' keys
    missing = {k: f for k, f in used.items() if k not in en}
    assert not missing, f"keys used but missing from en.json: {missing}"
    # Each language is named in the switch by its own key.
    assert all(f"language.{lang}" in en for lang in LANGUAGES)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_a_translation_has_no_key_english_lacks(language: str) -> None:
    en, other = strings("en"), strings(language)
    assert not set(other) - set(en), f"{language}.json keys not in en.json"
    for key, text in other.items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en[key])), key


def test_french_is_complete_and_french() -> None:
    en, fr = strings("en"), strings("fr")
    assert set(fr) == set(en)
    assert fr["talk.connect"] == "Se connecter" and fr["dash.sessions.title"] == "Sessions"


def test_no_page_script_inserts_html() -> None:
    for script in [*SCRIPTS, I18N / "i18n.js", WEB / "themes" / "market" / "visualiser.js"]:
        js = script.read_text(encoding="utf-8")
        assert not HTML_SINK.search(js), f"{script.name}: {HTML_SINK.search(js)}"
