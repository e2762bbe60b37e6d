/* Upload page (/data/upload): drag and drop or pick a file, watch it upload, check the preview,
 * set column types, create the table. Plain JS, no dependencies.
 *
 * The file goes once to POST /api/v1/uploads/preview (XHR, so upload progress events give a
 * real progress bar); the answer carries an upload_id under which the server keeps the file.
 * "Read again" and "Create table" send that id, never the file again. Every request carries
 * the session's CSRF token from the body's hx-headers attribute (see base.html).
 */
(function () {
  "use strict";

  var root = document.getElementById("upload");
  if (!root) return;
  var types = JSON.parse(root.getAttribute("data-types") || "[]");
  var el = function (id) { return document.getElementById(id); };
  var dropZone = el("drop-zone"), fileInput = el("file-input");
  var progress = el("progress"), bar = el("progress-bar"), barText = el("progress-text");
  var errorBox = el("upload-error"), resultBox = el("upload-result");
  var preview = el("preview"), readForm = el("read-options"), createForm = el("create-form");
  var state = { uploadId: null, detected: null, busy: false };

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function request(method, url, body, onUploadProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      if (onUploadProgress) {
        xhr.upload.onprogress = function (event) {
          if (event.lengthComputable) onUploadProgress(event.loaded, event.total);
        };
        xhr.upload.onload = function () { onUploadProgress(1, 1, true); };
      }
      xhr.onload = function () {
        var data = null;
        try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = null; }
        resolve({ status: xhr.status, data: data || { detail: xhr.statusText || "the server answered " + xhr.status } });
      };
      xhr.onerror = function () { resolve({ status: 0, data: { detail: "the connection to the server failed" } }); };
      xhr.send(body);
    });
  }

  function show(node, visible) { node.hidden = !visible; }

  function setProgress(percent, text) {
    show(progress, true);
    if (percent === null) bar.removeAttribute("value"); else bar.value = percent;
    barText.textContent = text;
  }

  function fail(message) {
    errorBox.textContent = message;
    show(errorBox, true);
  }

  function formatBytes(n) {
    var units = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function tableName(filename) {
    var stem = filename.replace(/(\.gz)?$/i, "").replace(/\.[^.]*$/, "").toLowerCase();
    var name = stem.replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
    if (!name) name = "upload";
    if (/^[0-9]/.test(name)) name = "t_" + name;
    return name.slice(0, 63);
  }

  function readOptions() {
    var form = new FormData(readForm), options = {};
    var format = state.detected ? state.detected.format : null;
    ["delimiter", "quote", "encoding", "header", "skip", "sheet", "ragged", "decimal"].forEach(function (key) {
      var value = form.get(key);
      if (value === null || value === "") return;
      if (key === "header") value = value === "true";
      if (key === "skip") value = parseInt(value, 10) || 0;
      if (key === "delimiter" && value === "\\t") value = "\t";
      options[key] = value;
    });
    if (format === "xlsx") {
      delete options.delimiter; delete options.quote; delete options.encoding;
      delete options.ragged; delete options.decimal;
    }
    if (format !== "csv" && format !== "tsv" && format !== "xlsx") return format ? { format: format } : {};
    return options;
  }

  function typeOverrides() {
    var overrides = {};
    createForm.querySelectorAll("select[data-column]").forEach(function (select) {
      if (select.value !== select.getAttribute("data-detected")) {
        overrides[select.getAttribute("data-column")] = select.value;
      }
    });
    return overrides;
  }

  function renderPreview(data) {
    state.uploadId = data.upload_id;
    state.detected = data.options || {};
    el("preview-file").textContent = data.file + (data.size != null ? " (" + formatBytes(data.size) + ")" : "");
    var opts = state.detected, format = data.format;
    readForm.querySelectorAll(".csv-only, .xlsx-only").forEach(function (label) {
      var forCsv = label.classList.contains("csv-only") && (format === "csv" || format === "tsv");
      var forXlsx = label.classList.contains("xlsx-only") && format === "xlsx";
      label.hidden = !(forCsv || forXlsx);
    });
    show(readForm, format === "csv" || format === "tsv" || format === "xlsx");
    readForm.elements.delimiter.value = opts.delimiter === "\t" ? "\\t" : (opts.delimiter || "");
    readForm.elements.quote.value = opts.quote || "";
    readForm.elements.encoding.value = opts.encoding || "";
    readForm.elements.header.value = opts.header === false ? "false" : "true";
    readForm.elements.skip.value = opts.skip || 0;
    readForm.elements.ragged.value = opts.ragged || "error";
    readForm.elements.decimal.value = opts.decimal || "";
    var sheet = readForm.elements.sheet;
    sheet.textContent = "";
    (opts.sheets || []).forEach(function (name) {
      var option = document.createElement("option");
      option.value = option.textContent = name;
      option.selected = name === opts.sheet;
      sheet.appendChild(option);
    });
    if (!createForm.elements.name.value) createForm.elements.name.value = tableName(data.file);

    var overrides = (opts.types) || {};
    var head = document.createElement("tr");
    data.columns.forEach(function (column) {
      var th = document.createElement("th");
      th.appendChild(document.createTextNode(column.name));
      var select = document.createElement("select");
      select.setAttribute("data-column", column.name);
      select.setAttribute("aria-label", "Type of " + column.name);
      var detected = overrides[column.name] ? null : column.type;
      var choices = types.indexOf(column.type) < 0 ? [column.type].concat(types) : types;
      choices.forEach(function (type) {
        var option = document.createElement("option");
        option.value = option.textContent = type;
        option.selected = type === column.type;
        select.appendChild(option);
      });
      select.setAttribute("data-detected", detected || "");
      th.appendChild(select);
      head.appendChild(th);
    });
    var thead = el("preview-table").tHead, tbody = el("preview-table").tBodies[0];
    thead.textContent = "";
    thead.appendChild(head);
    tbody.textContent = "";
    data.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      row.forEach(function (value) {
        var td = document.createElement("td");
        if (value === null) { td.textContent = "null"; td.className = "null"; } else { td.textContent = value; td.title = value; }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    show(preview, true);
  }

  function sendFile(file) {
    if (state.busy) return;
    state.busy = true;
    show(errorBox, false); show(resultBox, false); show(preview, false);
    createForm.elements.name.value = "";
    state.uploadId = null;
    var body = new FormData();
    body.append("options", "{}");
    body.append("file", file, file.name);
    setProgress(0, "Uploading " + file.name + "…");
    request("POST", "/api/v1/uploads/preview", body, function (loaded, total, done) {
      if (done) { setProgress(null, "Reading " + file.name + "…"); return; }
      setProgress(Math.round(loaded / total * 100),
        "Uploading " + file.name + ": " + formatBytes(loaded) + " of " + formatBytes(total));
    }).then(function (answer) {
      state.busy = false;
      show(progress, false);
      if (answer.status === 200) { renderPreview(answer.data); return; }
      if (answer.data.upload_id) {
        // Kept on the server: let the user fix the reading options and try again.
        renderPreview({ upload_id: answer.data.upload_id, file: answer.data.file || file.name,
          size: file.size, format: "csv", options: { format: "csv" }, columns: [], rows: [] });
      }
      fail(answer.data.detail);
    });
  }

  function readAgain(event) {
    event.preventDefault();
    if (!state.uploadId || state.busy) return;
    state.busy = true;
    show(errorBox, false);
    var body = new FormData();
    body.append("upload_id", state.uploadId);
    body.append("options", JSON.stringify(readOptions()));
    setProgress(null, "Reading…");
    request("POST", "/api/v1/uploads/preview", body).then(function (answer) {
      state.busy = false;
      show(progress, false);
      if (answer.status === 200) renderPreview(answer.data); else fail(answer.data.detail);
    });
  }

  function create(event) {
    event.preventDefault();
    if (!state.uploadId || state.busy) return;
    state.busy = true;
    show(errorBox, false);
    var options = readOptions(), overrides = typeOverrides();
    if (Object.keys(overrides).length) options.types = overrides;
    var body = new FormData();
    body.append("upload_id", state.uploadId);
    var name = createForm.elements.name.value.trim();
    body.append("name", name);
    // A name written schema.name says its schema itself; otherwise the chosen one.
    if (name.indexOf(".") < 0) body.append("schema", createForm.elements.schema.value);
    body.append("mode", createForm.elements.mode.value);
    body.append("options", JSON.stringify(options));
    setProgress(null, "Loading into the warehouse…");
    el("create-button").disabled = true;
    request("POST", "/api/v1/uploads", body).then(function (answer) {
      state.busy = false;
      el("create-button").disabled = false;
      show(progress, false);
      if (answer.status !== 201) { fail(answer.data.detail); return; }
      var result = answer.data;
      resultBox.textContent = "";
      var link = document.createElement("a");
      link.href = "/data/tables/" + encodeURIComponent(result.table);
      link.textContent = result.table;
      resultBox.appendChild(document.createTextNode("Table "));
      resultBox.appendChild(link);
      resultBox.appendChild(document.createTextNode(
        ": version " + (result.table_version || result.version) +
        (result.table_version ? " (lake snapshot " + result.version + ")" : "") +
        ", " + result.rows.toLocaleString() + " rows " +
        (result.mode === "append" ? "appended" : "loaded") +
        (result.skipped ? " (" + result.skipped.toLocaleString() + " rows of the wrong length left out)." : ".")));
      show(resultBox, true);
      show(preview, false);
      state.uploadId = null;
      fileInput.value = "";
    });
  }

  function cancel() {
    if (state.uploadId) request("DELETE", "/api/v1/uploads/" + encodeURIComponent(state.uploadId), null);
    state.uploadId = null;
    fileInput.value = "";
    show(preview, false); show(errorBox, false);
  }

  fileInput.addEventListener("change", function () { if (fileInput.files.length) sendFile(fileInput.files[0]); });
  ["dragenter", "dragover"].forEach(function (name) {
    dropZone.addEventListener(name, function (event) { event.preventDefault(); dropZone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    dropZone.addEventListener(name, function (event) { event.preventDefault(); dropZone.classList.remove("over"); });
  });
  dropZone.addEventListener("drop", function (event) {
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    if (files.length > 1) { fail("Drop one file at a time."); return; }
    sendFile(files[0]);
  });
  readForm.addEventListener("submit", readAgain);
  createForm.addEventListener("submit", create);
  el("cancel-button").addEventListener("click", cancel);
})();
