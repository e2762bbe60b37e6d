// The SQL page (/data/sql): the code editor, run keys and Cancel, Ctrl+Enter, the schema
// browser, saved queries, history clicks, and the chart.
// The chart's Vega-Lite spec comes from the server; the x/y/mark selects only change its
// encoding before vega-embed draws it again.
(function () {
  "use strict";

  const form = document.getElementById("sql-form");
  if (!form) return;
  const editor = document.getElementById("sql-editor");
  const code = startCodeEditor();
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
    setSql(item.dataset.sql);
  });

  // -- the code editor ----------------------------------------------------------------
  // CodeMirror takes the textarea's place; the textarea stays the form's field (kept equal
  // to the editor), so Run, the downloads and a page without scripts work the same way.

  function startCodeEditor() {
    const CM = window.CodeMirror;
    if (!CM) return null;
    const language = new CM.Compartment();
    const dialect = (schema) =>
      CM.sql({ dialect: CM.PostgreSQL, upperCaseKeywords: true, schema: schema || {} });
    const host = document.createElement("div");
    host.className = "sql-cm";
    host.dataset.testid = "sql-code";
    editor.after(host);
    const view = new CM.EditorView({
      doc: editor.value,
      parent: host,
      extensions: [
        CM.basicSetup,
        language.of(dialect()),
        CM.placeholder(editor.placeholder),
        CM.Prec.highest(
          CM.keymap.of([{ key: "Mod-Enter", run: () => (form.requestSubmit(), true) }])
        ),
        CM.EditorView.lineWrapping,
        CM.EditorView.contentAttributes.of({ "aria-label": "SQL query" }),
        CM.EditorView.updateListener.of((update) => {
          if (update.docChanged) editor.value = update.state.doc.toString();
        }),
      ],
    });
    editor.classList.add("sql-mirror");
    editor.setAttribute("tabindex", "-1");
    editor.setAttribute("aria-hidden", "true");
    // Whatever writes into the textarea (autofill, a test, another script) reaches the editor.
    editor.addEventListener("input", () => {
      if (editor.value !== view.state.doc.toString()) replaceAll(view, editor.value);
    });
    return {
      view,
      complete(schema) {
        view.dispatch({ effects: language.reconfigure(dialect(schema)) });
      },
    };
  }

  function replaceAll(view, text) {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
  }

  function setSql(text) {
    editor.value = text;
    if (code) {
      replaceAll(code.view, text);
      code.view.focus();
    } else {
      editor.focus();
    }
  }

  function insertText(text) {
    if (code) {
      code.view.dispatch(code.view.state.replaceSelection(text));
      code.view.focus();
      return;
    }
    const start = editor.selectionStart;
    editor.setRangeText(text, start, editor.selectionEnd, "end");
    editor.focus();
  }

  // -- schema browser and completion ----------------------------------------------------

  const tree = document.getElementById("sql-schema-tree");
  const filter = document.getElementById("sql-schema-filter");

  function namespace(schemas) {
    // lang-sql's nested form: {bank: {customers: [columns]}, source: {schema: {table: [...]}}}.
    const root = {};
    for (const schema of schemas) {
      let node = root;
      for (const part of schema.name.split(".")) node = node[part] = node[part] || {};
      for (const table of schema.tables) {
        node[table.name] = table.columns.map((c) => ({
          label: c.name,
          type: "property",
          detail: c.type,
        }));
      }
    }
    return root;
  }

  function element(tag, props, ...children) {
    const node = document.createElement(tag);
    const { dataset, ...rest } = props || {};
    Object.assign(node, rest);
    Object.assign(node.dataset, dataset || {});
    node.append(...children);
    return node;
  }

  function drawTree(schemas) {
    if (!schemas.length) {
      tree.replaceChildren(element("p", { className: "hint", textContent: "No tables yet." }));
      return;
    }
    const nodes = schemas.map((schema) => {
      const tables = schema.tables.map((table) => {
        const full = schema.name + "." + table.name;
        // The table's own name is inserted from the first line of its list: a summary holds
        // no button (controls may not nest), it only folds.
        const columns = element(
          "ul",
          {},
          element(
            "li",
            { dataset: { search: full.toLowerCase() } },
            element("button", { type: "button", textContent: full, title: "Insert " + full, dataset: { insert: full } }),
            element("small", { textContent: "table" })
          ),
          ...table.columns.map((c) =>
            element(
              "li",
              { dataset: { search: (full + "." + c.name).toLowerCase() } },
              element("button", { type: "button", textContent: c.name, title: "Insert " + c.name, dataset: { insert: c.name } }),
              element("small", { textContent: c.type, title: c.type })
            )
          )
        );
        const summary = element("summary", { textContent: table.name, title: full });
        return element("details", { className: "schema-table", dataset: { search: full.toLowerCase() } }, summary, columns);
      });
      return element(
        "details",
        { className: "schema-schema", open: true },
        element("summary", { textContent: schema.name }),
        ...tables
      );
    });
    tree.replaceChildren(...nodes);
    filter.hidden = false;
  }

  tree.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-insert]");
    if (!button) return;
    insertText(button.dataset.insert);
  });

  filter.addEventListener("input", () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const hit = (node) => words.every((w) => node.dataset.search.includes(w));
    tree.querySelectorAll("details.schema-table").forEach((table) => {
      const columns = table.querySelectorAll("li");
      let any = hit(table);
      columns.forEach((li) => {
        const show = !words.length || hit(table) || hit(li);
        li.hidden = !show;
        any = any || hit(li);
      });
      table.hidden = words.length > 0 && !any;
      table.open = words.length > 0 && any && !hit(table);
    });
  });

  tree.replaceChildren(element("p", { className: "hint", textContent: "Listing the tables…" }));
  fetch("/api/v1/sql/schema", { headers: { Accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error("the server answered " + response.status);
      return response.json();
    })
    .then((data) => {
      drawTree(data.schemas);
      if (code) code.complete(namespace(data.schemas));
    })
    .catch((error) => {
      tree.replaceChildren(
        element("p", { className: "error", textContent: "The tables could not be listed: " + error.message })
      );
    });

  // -- saved queries ------------------------------------------------------------------

  const saveButton = document.getElementById("sql-save");
  const saveStatus = document.getElementById("sql-save-status");
  const savedList = document.getElementById("sql-saved");

  saveButton.addEventListener("click", async (event) => {
    event.preventDefault(); // saved in place; without scripts the button posts the form
    const response = await fetch("/data/sql/save", {
      method: "POST",
      headers: { "X-CSRF-Token": csrfToken(), "HX-Request": "true" },
      body: new URLSearchParams({
        sql: editor.value,
        name: form.elements.name.value,
        shared: form.elements.shared.checked ? "1" : "",
      }),
    });
    const text = await response.text();
    if (!response.ok) {
      saveStatus.textContent = text;
      saveStatus.className = "error";
      return;
    }
    savedList.innerHTML = text; // the server's fragment of the list
    saveStatus.className = "hint";
    saveStatus.textContent = "Saved as " + form.elements.name.value.trim() + ".";
  });

  savedList.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-sql]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    setSql(link.dataset.sql);
    // Saving again replaces one's own query; someone else's is saved as one's own copy.
    form.elements.name.value = link.dataset.name;
    form.elements.shared.checked = Boolean(link.dataset.own && link.dataset.shared);
    saveStatus.textContent = "";
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
