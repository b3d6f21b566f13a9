(function () {
  "use strict";
  // The findings explorer. Its data is gzip-compressed JSON, base64-encoded into a non-executed
  // script block of type application/octet-stream (auditor/render/explorer.py documents the layout).
  // Every value is tenant data: it reaches the page through textContent only, never as markup.
  var dataEl = document.getElementById("findings-data");
  var root = document.getElementById("explorer");
  var note = document.getElementById("explorer-nojs");

  // Rule sections collapse (<details>); following a link to a rule opens it.
  var details = Array.prototype.slice.call(document.querySelectorAll("article.rule > details"));
  var toggle = document.getElementById("rules-toggle");
  if (toggle && details.length) {
    toggle.hidden = false;
    document.getElementById("rules-collapse").addEventListener("click", function () {
      details.forEach(function (d) { d.open = false; });
    });
    document.getElementById("rules-expand").addEventListener("click", function () {
      details.forEach(function (d) { d.open = true; });
    });
  }
  function openTarget() {
    var id = "";
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }
    var target = id && id.indexOf("?") < 0 ? document.getElementById(id) : null;
    var d = target && (target.tagName === "DETAILS" ? target : target.querySelector(":scope > details"));
    if (d && !d.open) { d.open = true; target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  if (!dataEl || !root) { return; }
  function fail(message) {
    document.documentElement.classList.remove("js");  // the per-rule lists are back
    if (note) { note.textContent = message; note.hidden = false; }
  }
  // With the explorer, each finding is listed once: the per-rule lists for readers without JavaScript hide.
  document.documentElement.classList.add("js");
  if (typeof DecompressionStream === "undefined" || typeof Response === "undefined") {
    fail("This browser cannot open the findings explorer (it needs DecompressionStream: Chrome 80, Edge 80, " +
         "Firefox 113 or Safari 16.4 or later). The workbook report.xlsx has every finding.");
    return;
  }

  function decode(text) {
    var b64 = text.trim(), bytes;
    if (typeof Uint8Array.fromBase64 === "function") {
      bytes = Uint8Array.fromBase64(b64);
    } else {
      var bin = atob(b64), n = bin.length;
      bytes = new Uint8Array(n);
      for (var i = 0; i < n; i++) { bytes[i] = bin.charCodeAt(i); }
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }
  decode(dataEl.textContent).then(start, function (e) {
    fail("The findings data in this file could not be read (" + e + "). The workbook report.xlsx has every finding.");
  });
  dataEl.textContent = "";  // the decoded columns replace it

  function start(data) {
    var SEV = data.sev, RULES = data.rules, TYPES = data.types, STATUSES = data.statuses, CHANGES = data.changes,
        DAYS = data.days, EVIDENCE = data.evidence, COLS = data.cols, WAIVERS = data.waivers || [],
        WAIVED = data.waived || {}, CONTROLS = data.controls || [], RULECTL = data.rulectl || [];
    var N = COLS.name.length;
    var state = { sev: "", rule: "", ctl: "", status: "open", change: "", q: "", key: "sev", dir: 1, page: 0, size: 100 };
    var view = [];  // row numbers that pass the filters, sorted
    var expanded = {};  // row number -> evidence shown
    var haystack = null;

    function el(tag, text, cls) {
      var e = document.createElement(tag);
      if (text !== undefined && text !== null) { e.textContent = String(text); }
      if (cls) { e.className = cls; }
      return e;
    }
    function $(id) { return root.querySelector("#" + id); }
    function fill(select, options) {
      options.forEach(function (o) { var opt = el("option", o[1]); opt.value = o[0]; select.appendChild(opt); });
    }
    var sevSel = $("f-sev"), ruleSel = $("f-rule"), ctlSel = $("f-ctl"), statusSel = $("f-status"),
        changeSel = $("f-change"), search = $("f-q"), body = root.querySelector("tbody"), info = $("f-info"),
        first = $("f-first"), prev = $("f-prev"), next = $("f-next"), last = $("f-last"), pageIn = $("f-page"),
        pagesOut = $("f-pages"), sizeSel = $("f-size"), csvBtn = $("f-csv");
    var heads = Array.prototype.slice.call(root.querySelectorAll("th[data-key]"));
    fill(sevSel, [["", "All severities"]].concat(SEV.map(function (s, i) { return [String(i), s]; })));
    fill(ruleSel, [["", "All rules"]].concat(RULES.map(function (r, i) { return [String(i), r[0] + " — " + r[1]]; })));
    fill(ctlSel, [["", "All controls"]].concat(CONTROLS.map(function (c, i) { return [String(i), c[1]]; })));
    fill(changeSel, CHANGES.filter(function (c) { return c !== ""; }).map(function (c) { return [c, c]; }));

    function rulesOfControl(ctl) {  // rule index -> true when the rule rests on control ctl
      var out = {};
      RULECTL.forEach(function (list, ruleIx) { if (list.indexOf(ctl) >= 0) { out[ruleIx] = true; } });
      return out;
    }
    function evidencePairs(row) { return EVIDENCE[COLS.ev[row]]; }
    function evidenceText(row) {
      var ev = evidencePairs(row), parts = [];
      for (var i = 0; i < ev.length; i += 2) { parts.push(ev[i] + ": " + ev[i + 1]); }
      return parts.join("; ");
    }

    function compare(a, b) {
      var k = state.key, x, y;
      if (k === "rule") { x = RULES[COLS.rule[a]][0]; y = RULES[COLS.rule[b]][0]; } else { x = COLS[k][a]; y = COLS[k][b]; }
      if (x === y) {
        var m = COLS.name[a], n = COLS.name[b];
        return m < n ? -1 : m > n ? 1 : a - b;
      }
      return (x < y ? -1 : 1) * state.dir;
    }
    function apply() {
      var sev = state.sev === "" ? -1 : Number(state.sev), rule = state.rule === "" ? -1 : Number(state.rule);
      var q = state.q.toLowerCase(), st = state.status === "" ? -1 : STATUSES.indexOf(state.status);
      var ch = state.change === "" ? -1 : CHANGES.indexOf(state.change);
      var ctlRules = state.ctl === "" ? null : rulesOfControl(Number(state.ctl));
      if (q && !haystack) {
        haystack = new Array(N);
        for (var j = 0; j < N; j++) {
          haystack[j] = (COLS.name[j] + " " + evidenceText(j) + " " + RULES[COLS.rule[j]][0]).toLowerCase();
        }
      }
      var out = [], cs = COLS.sev, cr = COLS.rule, cst = COLS.status, cc = COLS.change;
      for (var i = 0; i < N; i++) {
        if (sev >= 0 && cs[i] !== sev) { continue; }
        if (rule >= 0 && cr[i] !== rule) { continue; }
        if (ctlRules && !ctlRules[cr[i]]) { continue; }
        if (st >= 0 && cst[i] !== st) { continue; }
        if (ch >= 0 && cc[i] !== ch) { continue; }
        if (q && haystack[i].indexOf(q) < 0) { continue; }
        out.push(i);
      }
      out.sort(compare);
      view = out;
      state.page = 0;
      draw();
    }

    function evidenceRow(row, id) {
      var tr = el("tr", null, "ev-detail"), td = el("td"), dl = el("dl");
      tr.id = id;
      td.colSpan = 8;
      var ev = evidencePairs(row);
      for (var i = 0; i < ev.length; i += 2) { dl.appendChild(el("dt", ev[i])); dl.appendChild(el("dd", ev[i + 1])); }
      var w = WAIVED[String(row)];
      if (w !== undefined) {
        var waiver = WAIVERS[w];
        dl.appendChild(el("dt", "waiver")); dl.appendChild(el("dd", waiver[0]));
        dl.appendChild(el("dt", "approved by")); dl.appendChild(el("dd", waiver[1]));
        dl.appendChild(el("dt", "expires")); dl.appendChild(el("dd", waiver[2]));
      }
      if (!dl.firstChild) { td.appendChild(el("p", "No evidence recorded.", "note")); }
      td.appendChild(dl);
      tr.appendChild(td);
      return tr;
    }
    function pages() { return Math.max(1, Math.ceil(view.length / state.size)); }
    function draw() {
      var total = pages();
      if (state.page >= total) { state.page = total - 1; }
      if (state.page < 0) { state.page = 0; }
      var start = state.page * state.size, end = Math.min(view.length, start + state.size);
      var frag = document.createDocumentFragment();
      for (var i = start; i < end; i++) {
        var r = view[i], tr = el("tr"), sev = SEV[COLS.sev[r]];
        var sevCell = el("td"); sevCell.appendChild(el("span", sev, "sev sev-" + sev)); tr.appendChild(sevCell);
        tr.appendChild(el("td", RULES[COLS.rule[r]][0]));
        tr.appendChild(el("td", COLS.name[r]));
        tr.appendChild(el("td", TYPES[COLS.type[r]]));
        tr.appendChild(el("td", STATUSES[COLS.status[r]]));
        tr.appendChild(el("td", CHANGES[COLS.change[r]]));
        tr.appendChild(el("td", DAYS[COLS.first[r]]));
        var evCell = el("td", null, "ev"), text = evidenceText(r), id = "ev-" + r;
        var button = el("button", expanded[r] ? "Hide" : "Details", "ev-toggle");
        button.type = "button";
        button.setAttribute("aria-expanded", expanded[r] ? "true" : "false");
        button.setAttribute("aria-controls", id);
        button.setAttribute("data-row", String(r));
        evCell.appendChild(button);
        evCell.appendChild(el("span", text.length > 200 ? text.slice(0, 199) + "…" : text, "ev-text"));
        tr.appendChild(evCell);
        frag.appendChild(tr);
        if (expanded[r]) { frag.appendChild(evidenceRow(r, id)); }
      }
      body.textContent = "";
      body.appendChild(frag);
      info.textContent = view.length === 0 ? "No matching findings" :
        "Showing " + (start + 1) + "–" + end + " of " + view.length.toLocaleString("en-US") + " findings";
      pageIn.value = String(state.page + 1);
      pageIn.max = String(total);
      pagesOut.textContent = "of " + total.toLocaleString("en-US");
      first.disabled = prev.disabled = state.page === 0;
      next.disabled = last.disabled = end >= view.length;
      csvBtn.disabled = view.length === 0;
      heads.forEach(function (th) {
        var on = th.getAttribute("data-key") === state.key;
        th.setAttribute("aria-sort", on ? (state.dir > 0 ? "ascending" : "descending") : "none");
        th.classList.toggle("asc", on && state.dir > 0);
        th.classList.toggle("desc", on && state.dir < 0);
      });
    }
    function go(page) { state.page = page; draw(); }

    // ---- CSV export of the filtered view: cells neutralised as auditor/render/safe.py neutralise() does
    var ILLEGAL = /[\x00-\x08\x0b\x0c\x0e-\x1f]/g, BIDI = /[\u202a-\u202e\u2066-\u2069]/g, FORMULA = /^[=+\-@\t\r]/;
    var MAX_CELL = 32000;
    function marker(ch) { return "[U+" + ("000" + ch.charCodeAt(0).toString(16).toUpperCase()).slice(-4) + "]"; }
    function neutralise(value) {
      value = String(value).replace(ILLEGAL, "").replace(BIDI, marker);
      if (FORMULA.test(value)) { value = "'" + value; }
      if (value.length > MAX_CELL) {
        var points = Array.from(value);
        if (points.length > MAX_CELL) { value = points.slice(0, MAX_CELL - 1).join("") + "…"; }
      }
      return value;
    }
    function csvField(value) { return /[",\r\n]/.test(value) ? "\"" + value.replace(/"/g, "\"\"") + "\"" : value; }
    function exportCsv() {
      var lines = [["rule", "title", "severity", "entity_type", "entity", "status", "change", "first_seen", "evidence"].join(",")];
      view.forEach(function (r) {
        var rule = RULES[COLS.rule[r]];
        lines.push([rule[0], rule[1], SEV[COLS.sev[r]], TYPES[COLS.type[r]], COLS.name[r], STATUSES[COLS.status[r]],
                    CHANGES[COLS.change[r]], DAYS[COLS.first[r]], evidenceText(r)]
          .map(function (v) { return csvField(neutralise(v)); }).join(","));
      });
      var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "findings-" + (data.file || "tenant") + "-filtered.csv";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000);
    }

    // ---- links into the explorer: #explorer?rule=<id>&change=new&status=... sets the filters
    function fromHash() {
      var hash = location.hash;
      if (hash.indexOf("#explorer?") !== 0) { return false; }
      var params = new URLSearchParams(hash.slice("#explorer?".length));
      var ruleId = params.get("rule"), ruleIx = -1;
      RULES.forEach(function (r, i) { if (r[0] === ruleId) { ruleIx = i; } });
      var sevIx = SEV.indexOf(params.get("sev") || "");
      state.rule = ruleIx >= 0 ? String(ruleIx) : "";
      state.sev = sevIx >= 0 ? String(sevIx) : "";
      var change = params.get("change") || "";
      state.change = change !== "" && CHANGES.indexOf(change) >= 0 ? change : "";
      state.status = params.has("status") ? params.get("status") : "open";
      if (state.status !== "" && STATUSES.indexOf(state.status) < 0) { state.status = "open"; }
      state.ctl = "";
      state.q = "";
      ruleSel.value = state.rule; sevSel.value = state.sev; changeSel.value = state.change;
      statusSel.value = state.status; ctlSel.value = ""; search.value = "";
      apply();
      document.getElementById("explorer-section").scrollIntoView();
      return true;
    }
    Array.prototype.forEach.call(document.querySelectorAll("a[data-filter]"), function (a) {
      a.setAttribute("href", "#explorer?" + a.getAttribute("data-filter"));
      a.addEventListener("click", function () {
        if (location.hash === a.getAttribute("href")) { fromHash(); }  // same link again: no hashchange
      });
    });
    window.addEventListener("hashchange", fromHash);

    var timer = null;
    sevSel.addEventListener("change", function () { state.sev = sevSel.value; apply(); });
    ruleSel.addEventListener("change", function () { state.rule = ruleSel.value; apply(); });
    ctlSel.addEventListener("change", function () { state.ctl = ctlSel.value; apply(); });
    statusSel.addEventListener("change", function () { state.status = statusSel.value; apply(); });
    changeSel.addEventListener("change", function () { state.change = changeSel.value; apply(); });
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.q = search.value.trim(); apply(); }, 150);
    });
    first.addEventListener("click", function () { go(0); });
    prev.addEventListener("click", function () { go(state.page - 1); });
    next.addEventListener("click", function () { go(state.page + 1); });
    last.addEventListener("click", function () { go(pages() - 1); });
    pageIn.addEventListener("change", function () {
      var n = parseInt(pageIn.value, 10);
      go(isNaN(n) ? state.page : Math.min(Math.max(n, 1), pages()) - 1);
    });
    sizeSel.addEventListener("change", function () {
      var top = state.page * state.size;  // keep the first shown row on screen
      state.size = Number(sizeSel.value) || 100;
      go(Math.floor(top / state.size));
    });
    csvBtn.addEventListener("click", exportCsv);
    body.addEventListener("click", function (e) {
      var button = e.target.closest ? e.target.closest("button.ev-toggle") : null;
      if (!button) { return; }
      var r = Number(button.getAttribute("data-row"));
      if (expanded[r]) { delete expanded[r]; } else { expanded[r] = true; }
      draw();
      var again = body.querySelector("button.ev-toggle[data-row=\"" + r + "\"]");
      if (again) { again.focus(); }
    });
    heads.forEach(function (th) {
      th.addEventListener("click", function () {  // the header's button (Tab, Enter, Space) or the cell
        var key = th.getAttribute("data-key");
        state.dir = state.key === key ? -state.dir : 1;
        state.key = key;
        view.sort(compare);
        go(0);
      });
    });
    root.hidden = false;
    if (note) { note.hidden = true; }
    if (!fromHash()) { apply(); }
  }
}());
