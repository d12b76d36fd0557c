/* Study and dataset pages: drag & drop uploads, the multi-file uploader, small form helpers. No dependencies
   besides htmx (already on every page). Everything here enhances server-rendered HTML. */
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function formatBytes(size) {
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var value = size;
    for (var i = 0; i < units.length; i++) {
      if (value < 1024 || i === units.length - 1) {
        return i === 0 ? value + " bytes" : value.toFixed(1) + " " + units[i];
      }
      value /= 1024;
    }
    return size + " bytes";
  }

  function isCsv(name) {
    return /\.csv$/i.test(name || "");
  }

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  function processHtmx(element) {
    if (window.htmx && element) {
      window.htmx.process(element);
    }
  }

  /* Drag & drop onto a <label class="dropzone"> wrapping a file input. onFiles(files) is called either way. */
  function bindDropzone(zone, input, onFiles) {
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragover");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () {
        zone.classList.remove("is-dragover");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragover");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        onFiles(event.dataTransfer.files, true);
      }
    });
    input.addEventListener("change", function () {
      if (input.files && input.files.length) {
        onFiles(input.files, false);
      }
    });
  }

  /* --- Study name -> suggested short name (until the user edits the short name) ------------------------------ */
  function initSlugForm(form) {
    var name = form.querySelector("[name=name]");
    var slug = form.querySelector("[name=slug]");
    if (!name || !slug) return;
    var touched = slug.value !== "";
    var timer = null;
    slug.addEventListener("input", function () {
      touched = slug.value !== "";
    });
    name.addEventListener("input", function () {
      if (touched) return;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(form.dataset.slugUrl + "?name=" + encodeURIComponent(name.value), { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : ""; })
          .then(function (text) {
            if (!touched) slug.value = text;
          })
          .catch(function () {});
      }, 200);
    });
  }

  /* --- Wizard: one demographics file --------------------------------------------------------------------------- */
  function initSingleDrop(form) {
    var zone = form.querySelector("[data-dropzone]");
    var input = zone && zone.querySelector("input[type=file]");
    var label = form.querySelector("[data-dropzone-name]");
    if (!zone || !input) return;
    bindDropzone(zone, input, function (files, dropped) {
      if (dropped) {
        var transfer = new DataTransfer();
        transfer.items.add(files[0]);
        input.files = transfer.files;
      }
      var file = input.files[0];
      zone.classList.add("has-file");
      if (label && file) {
        label.textContent = file.name + " · " + formatBytes(file.size) + (files.length > 1 ? " (only the first file is used)" : "");
      }
    });
  }

  /* --- Wizard: show in the preview which column plays which key role ------------------------------------------ */
  function initKeysForm(form) {
    var roles = {
      id_column: "ID", session_column: "session", age_column: "age", sex_column: "sex", site_column: "site",
      composite_id_column: "composite ID (derived)"
    };
    function refresh() {
      form.querySelectorAll("[data-preview] th[data-col]").forEach(function (th) {
        th.classList.remove("is-key");
        th.querySelector("[data-role]").textContent = "";
      });
      Object.keys(roles).forEach(function (field) {
        var select = form.querySelector("[name=" + field + "]");
        if (!select || !select.value) return;
        form.querySelectorAll("[data-preview] th[data-col]").forEach(function (th) {
          if (th.dataset.col === select.value) {
            th.classList.add("is-key");
            th.querySelector("[data-role]").textContent = roles[field];
          }
        });
      });
    }
    form.addEventListener("change", refresh);
    refresh();
  }

  /* --- The multi-file uploader --------------------------------------------------------------------------------- */
  function initUploader(root) {
    var zone = root.querySelector("[data-dropzone]");
    var input = root.querySelector("[data-uploader-input]");
    var tableWrap = root.querySelector("[data-upload-table]");
    var tbody = root.querySelector("[data-upload-rows]");
    var actions = root.querySelector("[data-upload-actions]");
    var startButton = root.querySelector("[data-upload-start]");
    var clearButton = root.querySelector("[data-upload-clear]");
    var summary = root.querySelector("[data-upload-summary]");
    var errorBox = root.querySelector("[data-uploader-error]");
    var limit = parseInt(root.dataset.limit || "0", 10);
    var rows = {};
    var nextId = 1;
    var busy = false;

    function showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
    }

    function readyRows() {
      return Object.keys(rows).map(function (id) { return rows[id]; }).filter(function (r) { return r.state === "ready"; });
    }

    function refresh() {
      var all = Object.keys(rows).map(function (id) { return rows[id]; });
      tableWrap.hidden = all.length === 0;
      actions.hidden = all.length === 0;
      var ready = readyRows().length;
      startButton.disabled = busy || ready === 0;
      startButton.textContent = ready > 1 ? "Upload " + ready + " files" : "Upload";
      var counts = { sent: 0, failed: 0 };
      all.forEach(function (r) {
        if (r.state === "sent") counts.sent++;
        if (r.state === "error") counts.failed++;
      });
      var parts = [];
      if (counts.sent) parts.push(counts.sent + " sent");
      if (counts.failed) parts.push(counts.failed + " not uploaded");
      summary.textContent = parts.join(" · ");
    }

    function setStatus(row, html) {
      var cell = row.tr.querySelector("[data-status-cell]");
      cell.innerHTML = html;
      processHtmx(cell);
    }

    function addFile(file) {
      if (!isCsv(file.name)) {
        showError(file.name + " is not a .csv file and was not added.");
        return;
      }
      var id = String(nextId++);
      var placeholder = document.createElement("tr");
      placeholder.dataset.row = id;
      placeholder.innerHTML = '<td colspan="6" class="muted">Preparing ' + escapeHtml(file.name) + "…</td>";
      tbody.appendChild(placeholder);
      var row = { id: id, file: file, tr: placeholder, state: "loading" };
      rows[id] = row;
      refresh();
      var url = root.dataset.rowUrl + "?row=" + id + "&filename=" + encodeURIComponent(file.name);
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
        .then(function (response) {
          return response.text().then(function (text) { return { ok: response.ok, text: text }; });
        })
        .then(function (result) {
          if (!rows[id]) return;
          if (!result.ok) {
            placeholder.innerHTML = '<td colspan="6">' + result.text + "</td>";
            row.state = "error";
            refresh();
            return;
          }
          var holder = document.createElement("tbody");
          holder.innerHTML = result.text.trim();
          var tr = holder.firstElementChild;
          tbody.replaceChild(tr, placeholder);
          row.tr = tr;
          tr.querySelector("[data-size]").textContent = formatBytes(file.size);
          tr.querySelector("[data-remove]").addEventListener("click", function () {
            if (row.state === "uploading") return;
            delete rows[id];
            tr.remove();
            refresh();
          });
          processHtmx(tr);
          row.state = "ready";
          if (limit && file.size > limit) {
            row.state = "error";
            setStatus(row, '<div class="ingest ingest--failed" role="alert"><span class="pill pill--error">Too large</span> ' +
              "The file is larger than this workspace's upload limit (" + formatBytes(limit) + ").</div>");
            refresh();
            return;
          }
          refresh();
          checkHeader(row);
        })
        .catch(function () {
          placeholder.innerHTML = '<td colspan="6" class="field__error">Could not prepare ' + escapeHtml(file.name) + ". Check your connection.</td>";
          row.state = "error";
          refresh();
        });
    }

    /* The header is read in the browser before anything is sent: a file without the study's key columns is
       stopped here (not after a long upload), and the column that holds a key can be named instead; the file
       sent then has that column renamed to the study's key name (the rest of the file is sent as it is). */
    var KEYS = [root.dataset.idColumn, root.dataset.sessionColumn].filter(function (k) { return k; });
    var HINTS = { 0: ["participant", "subject", "sub", "id", "pid", "ursi"], 1: ["session", "visit", "wave", "timepoint", "ses"] };

    function splitHeader(line) {
      var counts = [",", ";", "\t", "|"].map(function (d) { return [d, line.split(d).length]; });
      counts.sort(function (a, b) { return b[1] - a[1]; });
      var delimiter = counts[0][0];
      var cells = [];
      var cell = "";
      var quoted = false;
      for (var i = 0; i < line.length; i++) {
        var ch = line[i];
        if (quoted) {
          if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
          else if (ch === '"') quoted = false;
          else cell += ch;
        } else if (ch === '"') quoted = true;
        else if (ch === delimiter) { cells.push(cell.trim()); cell = ""; }
        else cell += ch;
      }
      cells.push(cell.trim());
      return { delimiter: delimiter, cells: cells };
    }

    function joinHeader(cells, delimiter) {
      return cells.map(function (c) {
        return c.indexOf(delimiter) !== -1 || c.indexOf('"') !== -1 ? '"' + c.replace(/"/g, '""') + '"' : c;
      }).join(delimiter);
    }

    function guess(cells, hints) {
      for (var h = 0; h < hints.length; h++) {
        for (var c = 0; c < cells.length; c++) {
          if (cells[c].toLowerCase().indexOf(hints[h]) !== -1) return cells[c];
        }
      }
      return "";
    }

    function checkHeader(row) {
      if (!KEYS.length || !row.file.slice) return;
      row.file.slice(0, 65536).arrayBuffer().then(function (buffer) {
        if (!rows[row.id] || row.state !== "ready") return;
        var bytes = new Uint8Array(buffer);
        var end = bytes.indexOf(10);
        if (end === -1) end = bytes.length;
        var start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
        var text;
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, end));
        } catch (e) {
          return; // not UTF-8: the server reads it with the chosen encoding and reports any problem
        }
        var lineEnd = text.endsWith("\r") ? "\r\n" : "\n";
        var parsed = splitHeader(text.replace(/\r$/, ""));
        var missing = KEYS.filter(function (k) { return parsed.cells.indexOf(k) === -1; });
        row.header = { cells: parsed.cells, delimiter: parsed.delimiter, bytes: end + 1, bom: start, lineEnd: lineEnd };
        row.keyMap = {};
        if (!missing.length) {
          setStatus(row, '<span class="pill pill--muted">Ready</span> <span class="muted small" data-header-ok>header checked</span>');
          return;
        }
        row.state = "needs-keys";
        var html = '<div class="ingest" data-header-missing role="alert"><p class="small">This file has no ' +
          missing.map(function (k) { return "<code>" + escapeHtml(k) + "</code>"; }).join(" or ") + " column.</p>";
        missing.forEach(function (key) {
          var pick = guess(parsed.cells, HINTS[KEYS.indexOf(key)] || []);
          html += '<label class="small">Which column holds ' + escapeHtml(key) + "? " +
            '<select data-key-for="' + escapeHtml(key) + '"><option value="">Choose…</option>' +
            parsed.cells.map(function (c) {
              return '<option value="' + escapeHtml(c) + '"' + (c === pick ? " selected" : "") + ">" + escapeHtml(c) + "</option>";
            }).join("") + "</select></label> ";
        });
        html += '<p class="muted small">The file is sent with that column renamed; nothing else changes.</p></div>';
        setStatus(row, html);
        row.tr.querySelectorAll("[data-key-for]").forEach(function (select) {
          select.addEventListener("change", function () { applyKeys(row); });
        });
        applyKeys(row);
      });
    }

    function applyKeys(row) {
      var complete = true;
      row.keyMap = {};
      row.tr.querySelectorAll("[data-key-for]").forEach(function (select) {
        if (select.value) row.keyMap[select.value] = select.dataset.keyFor;
        else complete = false;
      });
      row.state = complete ? "ready" : "needs-keys";
      refresh();
    }

    function fileToSend(row) {
      var map = row.keyMap || {};
      if (!row.header || !Object.keys(map).length) return row.file;
      var cells = row.header.cells.map(function (c) { return map[c] || c; });
      var head = joinHeader(cells, row.header.delimiter) + row.header.lineEnd;
      return new File([head, row.file.slice(row.header.bom + row.header.bytes)], row.file.name, { type: row.file.type || "text/csv" });
    }

    function field(row, name) {
      var element = row.tr.querySelector("[data-field=" + name + "]" + (name === "on_conflict" ? ":checked" : ""));
      return element ? element.value.trim() : "";
    }

    function targetName(row) {
      return field(row, "on_conflict") === "new" ? field(row, "new_name") : field(row, "name");
    }

    function lock(row) {
      row.tr.querySelectorAll("input, select, [data-remove]").forEach(function (element) {
        element.disabled = true;
      });
    }

    // A busy or restarting server answers 502/503/504: nothing was registered, so the file is sent again.
    var TRANSIENT_STATUSES = [502, 503, 504];
    var RETRY_DELAYS_MS = [1500, 4000];

    function uploadOne(row, attempt) {
      attempt = attempt || 0;
      return new Promise(function (resolve) {
        var choice = field(row, "on_conflict") || "version";
        lock(row);
        if (choice === "skip") {
          row.state = "skipped";
          setStatus(row, '<div class="ingest ingest--skipped" data-status="skipped"><span class="pill pill--muted">Skipped</span></div>');
          resolve();
          return;
        }
        var data = new FormData();
        data.append("file", fileToSend(row), row.file.name);
        ["name", "kind", "new_name", "encoding", "delimiter", "note"].forEach(function (name) {
          data.append(name, field(row, name));
        });
        data.append("on_conflict", choice);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", root.dataset.uploadUrl);
        xhr.setRequestHeader("X-CSRFToken", csrfToken());
        xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
        row.state = "uploading";
        setStatus(row, '<div class="ingest" data-status="uploading"><div class="ingest__line"><span class="pill pill--info">Uploading</span> <span class="muted" data-pct>0%</span></div>' +
          '<div class="progress" role="progressbar" aria-label="Upload of ' + escapeHtml(row.file.name) + '" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div class="progress__bar" style="width:0%"></div></div></div>');
        xhr.upload.addEventListener("progress", function (event) {
          if (!event.lengthComputable) return;
          var pct = Math.round((100 * event.loaded) / event.total);
          var bar = row.tr.querySelector("[data-status=uploading] .progress__bar");
          if (bar) {
            bar.style.width = pct + "%";
            bar.parentNode.setAttribute("aria-valuenow", String(pct));
            row.tr.querySelector("[data-pct]").textContent = pct < 100 ? pct + "%" : "sent, waiting for the server…";
          }
        });
        xhr.addEventListener("load", function () {
          if (TRANSIENT_STATUSES.indexOf(xhr.status) !== -1 && attempt < RETRY_DELAYS_MS.length) {
            setStatus(row, '<div class="ingest" data-status="retrying"><span class="pill pill--info">Server busy</span> <span class="muted">trying again…</span></div>');
            window.setTimeout(function () { uploadOne(row, attempt + 1).then(resolve); }, RETRY_DELAYS_MS[attempt]);
            return;
          }
          var text = xhr.responseText || "";
          if (xhr.status >= 400 && text.indexOf('class="ingest') === -1) {
            var message = xhr.status === 413
              ? "The file is larger than the upload limit."
              : "The server answered " + xhr.status + ". The file was not uploaded.";
            text = '<div class="ingest ingest--failed" role="alert"><span class="pill pill--error">Not uploaded</span> ' + message + "</div>";
          }
          row.state = xhr.status >= 400 ? "error" : "sent";
          setStatus(row, text);
          resolve();
        });
        xhr.addEventListener("error", function () {
          row.state = "error";
          setStatus(row, '<div class="ingest ingest--failed" role="alert"><span class="pill pill--error">Not uploaded</span> The connection failed during the upload. Try again.</div>');
          resolve();
        });
        xhr.send(data);
      });
    }

    function start() {
      showError("");
      var ready = readyRows();
      var names = {};
      var duplicate = null;
      ready.forEach(function (row) {
        if (field(row, "on_conflict") === "skip") return;
        var name = targetName(row);
        if (names[name]) duplicate = name;
        names[name] = true;
      });
      if (duplicate) {
        showError("Two files would go to the dataset “" + duplicate + "”. Give each file its own dataset name (or upload them one after the other).");
        return;
      }
      busy = true;
      refresh();
      ready.reduce(function (chain, row) {
        return chain.then(function () { return uploadOne(row); }).then(refresh);
      }, Promise.resolve()).then(function () {
        busy = false;
        refresh();
      });
    }

    bindDropzone(zone, input, function (files) {
      showError("");
      Array.prototype.forEach.call(files, addFile);
      input.value = "";
    });
    startButton.addEventListener("click", start);
    clearButton.addEventListener("click", function () {
      Object.keys(rows).forEach(function (id) {
        if (rows[id].state === "uploading") return;
        rows[id].tr.remove();
        delete rows[id];
      });
      showError("");
      refresh();
    });
  }

  /* --- htmx: keep the keyboard focus in a dictionary row when it is swapped; wizard finish button ------------ */
  var lastColumn = null;
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("tr.dictionary-row button") : null;
    if (button) lastColumn = button.closest("tr").dataset.column;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (lastColumn !== null) {
      var selector = 'tr.dictionary-row[data-column="' + (window.CSS && CSS.escape ? CSS.escape(lastColumn) : lastColumn) + '"]';
      var row = document.querySelector(selector);
      var focus = row && (row.querySelector("textarea") || row.querySelector("button"));
      if (focus && (document.activeElement === document.body || !document.body.contains(document.activeElement))) {
        focus.focus();
      }
      if (row && !row.classList.contains("is-editing")) lastColumn = null;
    }
    var finish = document.querySelector("[data-finish]");
    if (finish && document.querySelector("[data-uploader] [data-status=succeeded]")) {
      finish.textContent = "Continue to the catalog";
      finish.classList.remove("btn--ghost");
    }
  });

  function init() {
    document.querySelectorAll("[data-slug-form]").forEach(initSlugForm);
    document.querySelectorAll("[data-single-drop]").forEach(initSingleDrop);
    document.querySelectorAll("[data-keys-form]").forEach(initKeysForm);
    document.querySelectorAll("[data-uploader]").forEach(initUploader);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
