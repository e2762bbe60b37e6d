// The SQL page (/data/sql): run keys and Cancel, Ctrl+Enter, history clicks, and the chart.
// The chart's Vega-Lite spec comes from the server; the x/y/mark selects only change its
// encoding before vega-embed draws it again.
(function () {
  "use strict";

  const form = document.getElementById("sql-form");
  if (!form) return;
  const editor = document.getElementById("sql-editor");
  const keyInput = document.getElementById("sql-key");
  const cancelButton = document.getElementById("sql-cancel");
  const cancelStatus = document.getElementById("sql-cancel-status");
  let runningKey = null;

  function newKey() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function csrfToken() {
    const input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  form.addEventListener("htmx:configRequest", (event) => {
    runningKey = newKey();
    keyInput.value = runningKey;
    event.detail.parameters.key = runningKey;
    cancelButton.disabled = false;
    cancelStatus.textContent = "";
  });

  form.addEventListener("htmx:afterRequest", () => {
    runningKey = null;
    cancelButton.disabled = true;
    cancelStatus.textContent = "";
  });

  form.addEventListener("htmx:responseError", (event) => {
    showError("The server answered " + event.detail.xhr.status + ": " + event.detail.xhr.statusText);
  });
  form.addEventListener("htmx:sendError", () => showError("The server could not be reached."));

  function showError(message) {
    const box = document.createElement("div");
    box.className = "error sql-error";
    box.setAttribute("role", "alert");
    box.textContent = message;
    document.getElementById("sql-result").replaceChildren(box);
  }

  cancelButton.addEventListener("click", async () => {
    if (!runningKey) return;
    cancelButton.disabled = true;
    const response = await fetch("/data/sql/cancel", {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken() },
      body: new URLSearchParams({ key: runningKey }),
    });
    cancelStatus.textContent = await response.text();
  });

  // Downloads: a plain form post of the editor's statement, so that the file streams to disk
  // as it comes and the page stays; an error comes back as this page with the error shown.
  const downloadForm = document.getElementById("sql-download");
  document.querySelectorAll("[data-download]").forEach((button) => {
    button.addEventListener("click", () => {
      if (!editor.value.trim()) {
        showError("Write a query to download its result.");
        return;
      }
      downloadForm.elements.sql.value = editor.value;
      downloadForm.elements.format.value = button.dataset.download;
      downloadForm.submit();
    });
  });

  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.addEventListener("click", (event) => {
    const item = event.target.closest("#sql-history [data-sql]");
    if (!item) return;
    editor.value = item.dataset.sql;
    editor.focus();
  });

  // -- chart --------------------------------------------------------------------------

  function field(name) {
    return name.replace(/([\\.\[\]])/g, "\\$1");
  }

  function drawChart(root) {
    const specNode = root.querySelector("#sql-chart-spec");
    const target = root.querySelector("#sql-chart");
    if (!specNode || !target || typeof vegaEmbed === "undefined") return;
    const spec = JSON.parse(specNode.textContent);
    const types = JSON.parse(root.querySelector("#sql-chart-fields").textContent);
    const controls = root.querySelector("#sql-chart-controls");
    const pick = (name) => controls.querySelector("select[name=" + name + "]");

    function render() {
      const x = pick("chart-x").value;
      const y = pick("chart-y").value;
      spec.encoding.x = { field: field(x), type: types[x], title: x };
      if (types[x] === "nominal") spec.encoding.x.sort = null;
      spec.encoding.y = { field: field(y), type: types[y], title: y };
      const color = pick("chart-color").value;
      if (color) spec.encoding.color = { field: field(color), type: types[color], title: color };
      else delete spec.encoding.color;
      spec.mark = { type: pick("chart-mark").value, tooltip: true };
      vegaEmbed(target, spec, { actions: false, renderer: "svg", ast: true }).catch((error) => {
        target.textContent = "The chart could not be drawn: " + error.message;
      });
    }

    controls.querySelectorAll("select").forEach((select) => select.addEventListener("change", render));
    render();
  }

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "sql-result") drawChart(event.detail.target);
  });
  drawChart(document);
})();
