// Plots page of a run: asks the analysis API for a Plotly figure + statistics, draws it, and maps box/lasso
// selections to rows by row key (each point's customdata), never by the point's index inside a trace.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("an-config").textContent);
  const form = document.getElementById("an-form");
  const plot = document.getElementById("an-plot");
  const stats = document.getElementById("an-stats");
  const errorBox = document.getElementById("an-error");
  const sampleBox = document.getElementById("an-sample");
  const selection = document.getElementById("an-selection");
  const NUMERIC_X = { scatter: true, histogram: true, heatmap: true, box: false, violin: false };
  const X_LABEL = { scatter: "X (numeric)", histogram: "Variable (numeric)", heatmap: "X (numeric)", box: "Category", violin: "Category" };
  const Y_LABEL = { scatter: "Y (numeric)", heatmap: "Y (numeric)", box: "Value (numeric)", violin: "Value (numeric)" };
  let drawing = 0;

  function csrfToken() {
    const field = document.querySelector("#an-export input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  async function post(path, body) {
    const response = await fetch(config.api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const message = (data.error && data.error.message) || "The request failed (" + response.status + ").";
      const failure = new Error(message);
      failure.code = data.error && data.error.code;
      throw failure;
    }
    return data;
  }

  function kind() { return form.elements.kind.value; }

  function adaptForm() {
    const current = kind();
    form.querySelectorAll("[data-for]").forEach((el) => { el.hidden = !el.dataset.for.split(" ").includes(current); });
    plot.parentElement.querySelectorAll("[data-for]").forEach((el) => { el.hidden = !el.dataset.for.split(" ").includes(current); });
    document.getElementById("an-x-label").textContent = X_LABEL[current];
    if (Y_LABEL[current]) document.getElementById("an-y-label").textContent = Y_LABEL[current];
    const x = form.elements.x;
    Array.from(x.options).forEach((option) => {
      const wanted = NUMERIC_X[current] ? option.dataset.numeric : option.dataset.categorical;
      option.hidden = option.value !== "" && wanted !== "1";
    });
    if (x.selectedOptions[0] && x.selectedOptions[0].hidden) x.value = "";
  }

  function options() {
    const data = { kind: kind() };
    for (const el of form.elements) {
      if (!el.name || el.name === "kind" || el.closest("[hidden]")) continue;
      if (el.type === "checkbox") data[el.name] = el.checked;
      else if (el.value !== "") data[el.name] = el.type === "number" ? Number(el.value) : el.value;
    }
    return data;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "—";
    if (typeof value !== "number") return String(value);
    if (Math.abs(value) !== 0 && (Math.abs(value) < 0.001 || Math.abs(value) >= 1e6)) return value.toExponential(3);
    return value.toFixed(digits === undefined ? 3 : digits);
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    return node;
  }

  function facts(title, pairs, attrs) {
    const box = el("div", null, attrs);
    box.appendChild(el("h3", title));
    const dl = el("dl");
    pairs.forEach(([label, value, key]) => {
      dl.appendChild(el("dt", label));
      dl.appendChild(el("dd", value, key ? { "data-stat": key } : {}));
    });
    box.appendChild(dl);
    return box;
  }

  function table(head, rows, attrs) {
    const t = el("table", null, Object.assign({ class: "table table--compact" }, attrs || {}));
    const tr = el("tr");
    head.forEach((h) => tr.appendChild(el("th", h)));
    t.appendChild(el("thead")).appendChild(tr);
    const body = el("tbody");
    rows.forEach((row) => {
      const line = el("tr");
      row.forEach((cell) => line.appendChild(el("td", cell)));
      body.appendChild(line);
    });
    t.appendChild(body);
    const wrap = el("div", null, { class: "an-scroll" });
    wrap.appendChild(t);
    return wrap;
  }

  function unavailable(title, block) {
    const box = el("div");
    box.appendChild(el("h3", title));
    box.appendChild(el("p", block.unavailable, { class: "muted", "data-stat-unavailable": block.code || "" }));
    return box;
  }

  function renderStats(result) {
    renderStatsInto(stats, result.stats || {});
  }

  function renderStatsInto(stats, s) {
    stats.replaceChildren();
    if (s.ols) {
      if (s.ols.unavailable) stats.appendChild(unavailable("Regression", s.ols));
      else {
        stats.appendChild(facts("Regression (OLS)", [
          ["n", s.ols.n, "n"], ["Slope", fmt(s.ols.slope, 4), "slope"], ["Intercept", fmt(s.ols.intercept, 4), "intercept"],
          ["r", fmt(s.ols.r), "r"], ["R²", fmt(s.ols.r_squared), "r_squared"], ["p", fmt(s.ols.p, 4), "p"],
          ["Std. error", fmt(s.ols.std_err, 4), "std_err"], ["Equation", s.ols.equation, "equation"],
        ], { "data-ols": "" }));
        stats.appendChild(el("p", s.ols.interpretation, { class: "small" }));
      }
    }
    if (s.describe) {
      const d = s.describe;
      if (d.unavailable) stats.appendChild(unavailable("Distribution", d));
      else {
        stats.appendChild(facts("Distribution", [
          ["n", d.n, "n"], ["Mean", fmt(d.mean), "mean"], ["Median", fmt(d.median), "median"], ["SD", fmt(d.std), "std"],
          ["Variance", fmt(d.variance), "variance"], ["Skewness", fmt(d.skewness), "skewness"],
          ["Excess kurtosis", fmt(d.kurtosis), "kurtosis"], ["Min", fmt(d.min), "min"], ["Max", fmt(d.max), "max"],
          ["Range", fmt(d.range), "range"], ["Q1", fmt(d.q1), "q1"], ["Q3", fmt(d.q3), "q3"], ["IQR", fmt(d.iqr), "iqr"],
          ["Shapiro-Wilk", d.shapiro ? "W = " + fmt(d.shapiro.statistic) + ", p = " + fmt(d.shapiro.p, 4) : (d.notes.shapiro || "—"), "shapiro"],
          ["Anderson-Darling", d.anderson ? "A² = " + fmt(d.anderson.statistic) + " (p " + d.anderson.significance + ")" : (d.notes.anderson || "—"), "anderson"],
        ], { "data-describe": "" }));
        stats.appendChild(el("p", d.interpretation, { class: "small" }));
      }
      if (s.kde_note) stats.appendChild(el("p", s.kde_note, { class: "muted small" }));
      if (s.color_note) stats.appendChild(el("p", s.color_note, { class: "muted small", "data-color-note": "" }));
    }
    if (s.anova) {
      const a = s.anova;
      if (a.unavailable) stats.appendChild(unavailable("ANOVA", a));
      else {
        const box = el("div", null, { "data-anova": "" });
        box.appendChild(el("h3", "One-way ANOVA"));
        box.appendChild(table(["Source", "SS", "df", "MS", "F", "p"], [
          ["Between", fmt(a.ss_between), a.df_between, fmt(a.ms_between), fmt(a.F), fmt(a.p, 4)],
          ["Within", fmt(a.ss_within), a.df_within, fmt(a.ms_within), "", ""],
          ["Total", fmt(a.ss_total), a.df_total, "", "", ""],
        ]));
        box.appendChild(el("p", "η² = " + fmt(a.eta_squared) + " (" + a.effect + " effect) " + a.significance, { class: "small", "data-stat": "eta_squared" }));
        box.appendChild(table(["Group", "n", "Mean", "SD", "Min", "Max"],
          a.groups.map((g) => [g.group, g.n, fmt(g.mean), fmt(g.std), fmt(g.min), fmt(g.max)])));
        stats.appendChild(box);
      }
    }
    if (s.ttests && !s.ttests.unavailable && s.ttests.pairs) {
      const box = el("div", null, { "data-ttests": "" });
      box.appendChild(el("h3", "Pairwise t-tests (Bonferroni ×" + s.ttests.comparisons + ")"));
      box.appendChild(table(["A", "B", "t", "p", "p (Bonf.)", "d", ""],
        s.ttests.pairs.map((p) => [p.a, p.b, fmt(p.t), fmt(p.p, 4), fmt(p.p_bonferroni, 4), fmt(p.cohens_d), p.significance])));
      stats.appendChild(box);
    }
    if (s.crosstab) stats.appendChild(crosstabBox(s.crosstab));
    if (!stats.childElementCount) stats.appendChild(el("p", "Points: " + (s.points || 0), { class: "muted" }));
  }

  function crosstabBox(x) {
    const box = el("div", null, { "data-crosstab": "" });
    box.appendChild(el("h3", "Crosstab: " + x.row + " × " + x.column));
    const rows = x.row_levels.map((level, i) => [level].concat(x.counts[i].map((n) => (n === null ? "<" + x.threshold : n)), [x.row_totals[i]]));
    rows.push(["Total"].concat(x.column_totals, [x.total]));
    box.appendChild(table([x.row + " \\ " + x.column].concat(x.column_levels, ["Total"]), rows));
    if (x.chi2) {
      box.appendChild(el("p", "χ² = " + fmt(x.chi2.statistic) + ", df = " + x.chi2.df + ", p = " + fmt(x.chi2.p, 4), { class: "small", "data-stat": "chi2" }));
    }
    if (x.suppressed) box.appendChild(el("p", "Cells below " + x.threshold + " are hidden and the others perturbed (count-level access).", { class: "muted small" }));
    return box;
  }

  /* The Statistics tab: every kind of the analysis API, its columns picked from the result. */
  const statForm = document.getElementById("st-form");
  const statResult = document.getElementById("st-result");
  const STAT_SLOTS = {
    describe: [["column", "Column (numeric)", "numeric"]],
    ols: [["x", "X (numeric)", "numeric"], ["y", "Y (numeric)", "numeric"]],
    anova: [["value", "Value (numeric)", "numeric"], ["group", "Groups", "categorical"]],
    ttests: [["value", "Value (numeric)", "numeric"], ["group", "Groups", "categorical"]],
    crosstab: [["row", "Rows", "categorical"], ["column", "Columns", "categorical"]],
  };

  function fill(select, names) {
    const keep = select.value;
    select.replaceChildren(el("option", "—", { value: "" }));
    names.forEach((name) => select.appendChild(el("option", name, { value: name })));
    if (names.includes(keep)) select.value = keep;
  }

  function adaptStatForm() {
    const slots = STAT_SLOTS[statForm.elements.kind.value];
    document.getElementById("st-a-label").textContent = slots[0][1];
    fill(statForm.elements.a, config[slots[0][2]] || []);
    const second = document.getElementById("st-b-wrap");
    second.hidden = slots.length < 2;
    if (slots.length > 1) {
      document.getElementById("st-b-label").textContent = slots[1][1];
      fill(statForm.elements.b, config[slots[1][2]] || []);
    }
  }

  async function compute() {
    const current = statForm.elements.kind.value;
    const slots = STAT_SLOTS[current];
    const body = { kind: current };
    const picked = [statForm.elements.a.value, statForm.elements.b.value];
    for (let i = 0; i < slots.length; i++) {
      if (!picked[i]) {
        statResult.replaceChildren(el("p", "Choose " + slots[i][1].toLowerCase() + ".", { class: "an-error", role: "alert" }));
        return;
      }
      body[slots[i][0]] = picked[i];
    }
    try {
      const result = await post("/analysis", body);
      const shaped = {};
      shaped[current === "ols" ? "ols" : current] = result;
      renderStatsInto(statResult, shaped);
      if (result.sample && result.sample.sampled) {
        statResult.appendChild(el("p", "Computed on a sample of " + result.sample.used + " of " + result.sample.rows + " rows.", { class: "muted small" }));
      }
    } catch (failure) {
      statResult.replaceChildren(el("p", failure.message, { class: "an-error", role: "alert", "data-code": failure.code || "" }));
    }
  }

  statForm.addEventListener("change", (event) => {
    if (event.target.name === "kind") adaptStatForm();
  });
  document.getElementById("st-compute").addEventListener("click", compute);
  adaptStatForm();

  document.querySelectorAll("[role=tab]").forEach((tab) => {
    tab.addEventListener("click", () => {
      document.querySelectorAll("[role=tab]").forEach((other) => {
        const on = other === tab;
        other.setAttribute("aria-selected", on ? "true" : "false");
        other.tabIndex = on ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
      });
    });
  });

  /* One plot request at a time (the server limits how many analyses a member computes at once): a change made
     while one is drawing is drawn right after it, with the form as it is then. */
  let busy = false;
  let again = false;

  async function draw() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      await drawNow();
    } finally {
      busy = false;
      if (again) { again = false; draw(); }
    }
  }

  async function drawNow() {
    const data = options();
    const ticket = ++drawing;
    errorBox.hidden = true;
    if (!data.x) { stats.replaceChildren(el("p", "Choose columns to plot.", { class: "muted" })); return; }
    try {
      const result = await post("/plot", data);
      if (ticket !== drawing) return;
      const sample = result.sample;
      sampleBox.textContent = sample.sampled
        ? "Sampled: " + sample.used + " of " + sample.rows + " rows (fixed seed " + sample.seed + ")."
        : "All " + sample.rows + " rows.";
      sampleBox.dataset.sampled = sample.sampled ? "1" : "0";
      plot.hidden = false;
      document.getElementById("an-empty").hidden = true;
      await window.Plotly.react(plot, result.figure.data, result.figure.layout, { responsive: true, displaylogo: false });
      if (!plot.dataset.listening) {
        plot.on("plotly_selected", showSelection);
        plot.on("plotly_deselect", clearSelection);
        plot.dataset.listening = "1";
      }
      plot.dataset.kind = result.kind;
      renderStats(result);
      clearSelection();
    } catch (failure) {
      if (ticket !== drawing) return;
      errorBox.textContent = failure.message;
      errorBox.dataset.code = failure.code || "";
      errorBox.hidden = false;
    }
  }

  function clearSelection() {
    selection.hidden = true;
    document.getElementById("an-rows").value = "";
  }

  async function showSelection(event) {
    const keys = new Set();
    ((event && event.points) || []).forEach((point) => {
      const key = Array.isArray(point.customdata) ? point.customdata[0] : point.customdata;
      if (Number.isInteger(key)) keys.add(key);
    });
    if (!keys.size) { clearSelection(); return; }
    const rows = Array.from(keys).sort((a, b) => a - b);
    try {
      const result = await post("/selection", { rows: rows });
      document.getElementById("an-rows").value = result.keys.join(",");
      document.getElementById("an-selection-count").textContent = "(" + result.keys.length + ")";
      const grid = selection.querySelector("[data-selection-table]");
      const head = el("tr");
      head.appendChild(el("th", "row"));
      result.columns.forEach((name) => head.appendChild(el("th", name)));
      grid.tHead.replaceChildren(head);
      const body = grid.tBodies[0];
      body.replaceChildren();
      result.items.forEach((item, i) => {
        const line = el("tr", null, { "data-row-key": result.keys[i] });
        line.appendChild(el("td", result.keys[i]));
        item.forEach((cell) => line.appendChild(el("td", typeof cell === "number" ? String(Math.round(cell * 1000) / 1000) : cell)));
        body.appendChild(line);
      });
      selection.hidden = false;
    } catch (failure) {
      errorBox.textContent = failure.message;
      errorBox.hidden = false;
    }
  }

  form.addEventListener("change", (event) => {
    if (event.target.name === "kind") adaptForm();
    draw();
  });
  document.getElementById("an-draw").addEventListener("click", draw);
  function ready() {
    if (!window.Plotly) { window.setTimeout(ready, 50); return; }
    adaptForm();
    document.body.dataset.plotsReady = "1"; // the plot itself is drawn once there is something to draw
  }
  ready();
})();
