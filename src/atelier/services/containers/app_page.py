"""The page of a generated app's image: its form as one static HTML file and one script.

The fields are those the portal's page of the app shows (the model's signature, the input
example's first row as defaults, the values seen in training as choices, personal fields
marked and never filled in), given here as the plain dictionaries of
``atelier.services.apps.form.Field.as_dict``. Every value is escaped into the HTML; the script
is fixed text (no value of the model goes into it), so the page's policy can allow scripts
from its own origin only.

The script turns the form into one JSON record as the portal does (numbers parsed, check
boxes as booleans, empty optional fields left out), posts it to ``predict`` (relative: the
page works behind any path prefix) and shows the prediction, or the runtime's 422 message.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STYLE = """\
body { font: 16px/1.45 system-ui, sans-serif; margin: 0; background: #f6f6f4; color: #222; }
main { max-width: 40rem; margin: 2rem auto; padding: 1.5rem; background: #fff;
       border: 1px solid #ddd; border-radius: 6px; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } .what { color: #666; margin: 0 0 1.25rem; }
label { display: block; margin: .8rem 0 .2rem; font-weight: 600; }
input[type=text], input[type=number], input[type=date], select { width: 100%; padding: .4rem;
       box-sizing: border-box; font: inherit; }
small { color: #8a4b00; font-weight: normal; margin-left: .4rem; }
button { margin-top: 1.2rem; padding: .5rem 1.2rem; font: inherit; cursor: pointer; }
output { display: block; margin-top: 1.2rem; font-size: 1.1rem; }
output.error { color: #a00; }
"""

SCRIPT = """\
"use strict";
// The form as one JSON record (as the portal reads it), sent to the model's predict route.
const form = document.getElementById("form");
const answer = document.getElementById("answer");

function record() {
  const found = {};
  for (const input of form.querySelectorAll("[data-widget]")) {
    const widget = input.dataset.widget;
    if (widget === "boolean") {
      found[input.name] = input.checked;
      continue;
    }
    const text = input.value.trim();
    if (text === "" && widget !== "text") {
      continue;
    }
    if (widget === "integer" || widget === "number") {
      const value = Number(text);
      if (!Number.isFinite(value) || (widget === "integer" && !Number.isInteger(value))) {
        const kind = widget === "integer" ? "a whole number" : "a number";
        throw new Error(`field '${input.name}': '${text}' is not ${kind}`);
      }
      found[input.name] = value;
    } else {
      found[input.name] = text;
    }
  }
  return found;
}

function show(text, failed) {
  answer.textContent = text;
  answer.className = failed ? "error" : "";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let body;
  try {
    body = JSON.stringify(record());
  } catch (error) {
    show(error.message, true);
    return;
  }
  show("…", false);
  try {
    const response = await fetch("predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    const found = await response.json();
    if (!response.ok) {
      show(found.detail || `the model answered ${response.status}`, true);
      return;
    }
    let text = `Prediction: ${found.prediction}`;
    if (typeof found.probability === "number") {
      text += ` (probability ${(100 * found.probability).toFixed(1)} %)`;
    }
    show(text, false);
  } catch (error) {
    show(`no answer: ${error.message}`, true);
  }
});
"""


def _field(spec: Mapping[str, Any]) -> str:
    name = str(spec["name"])
    widget = str(spec.get("widget") or "text")
    label = name.replace("_", " ").capitalize()
    default = spec.get("default")
    attrs = f'id="f-{html.escape(name)}" name="{html.escape(name)}" data-widget="{widget}"'
    if spec.get("required") and widget != "boolean":
        attrs += " required"
    value = "" if default is None else html.escape(str(default))
    if widget == "boolean":
        control = f'<input type="checkbox" {attrs}{" checked" if default else ""}>'
    elif widget == "category":
        options = "".join(
            f"<option{' selected' if str(option) == str(default) else ''}>"
            f"{html.escape(str(option))}</option>"
            for option in spec.get("options") or []
        )
        control = f"<select {attrs}>{options}</select>"
    else:
        kind = {"integer": "number", "number": "number", "date": "date"}.get(widget, "text")
        step = {"integer": ' step="1"', "number": ' step="any"'}.get(widget, "")
        control = f'<input type="{kind}"{step} {attrs} value="{value}">'
    personal = spec.get("personal")
    mark = (
        f"<small>personal data: {html.escape(str(personal).replace('_', ' '))}</small>"
        if personal
        else ""
    )
    return f'<label for="f-{html.escape(name)}">{html.escape(label)}{mark}</label>{control}'


def page(
    *, app: str, title: str, model: str, version: int, fields: Sequence[Mapping[str, Any]]
) -> str:
    """The app's page: its title, the model version it serves, one control per field."""
    heading = html.escape(title or app)
    controls = "\n".join(_field(spec) for spec in fields)
    return f"""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{heading}</title>
<style>
{STYLE}</style>
</head>
<body>
<main>
<h1>{heading}</h1>
<p class="what">{html.escape(model)} version {int(version)}</p>
<form id="form" data-testid="app-form">
{controls}
<button type="submit">Predict</button>
</form>
<output id="answer" aria-live="polite"></output>
</main>
<script src="app.js"></script>
</body>
</html>
"""


def write(
    folder: Path,
    *,
    app: str,
    title: str,
    model: str,
    version: int,
    fields: Sequence[Mapping[str, Any]],
) -> None:
    """Write ``index.html`` and ``app.js`` to ``folder`` (made here)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = page(app=app, title=title, model=model, version=version, fields=fields)
    (folder / "index.html").write_text(text, encoding="utf-8")
    (folder / "app.js").write_text(SCRIPT, encoding="utf-8")
