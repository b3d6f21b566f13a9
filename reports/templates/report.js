(function () {
  "use strict";
  var dataEl = document.getElementById("findings-data");
  var root = document.getElementById("explorer");
  if (!dataEl || !root) { return; }
  var data = JSON.parse(dataEl.textContent);
  var SEV = data.sev, RULES = data.rules, TYPES = data.types, STATUSES = data.statuses,
      CHANGES = data.changes, EVIDENCE = data.evidence, rows = data.rows,
      CONTROLS = data.controls || [], RULECTL = data.rulectl || [];
  var PAGE = 100;
  // row: [sevIndex, ruleIndex, entityName, typeIndex, statusIndex, changeIndex, firstSeen, evidenceIndex]
  var state = { sev: "", rule: "", ctl: "", status: "open", q: "", key: "sev", dir: 1, page: 0 };
  var view = rows;
  var haystack = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function fill(select, options) {
    options.forEach(function (o) { var opt = el("option", o[1]); opt.value = o[0]; select.appendChild(opt); });
  }
  var sevSel = root.querySelector("#f-sev"), ruleSel = root.querySelector("#f-rule"), ctlSel = root.querySelector("#f-ctl"),
      statusSel = root.querySelector("#f-status"), search = root.querySelector("#f-q"),
      body = root.querySelector("tbody"), info = root.querySelector("#f-info"),
      prev = root.querySelector("#f-prev"), next = root.querySelector("#f-next");
  fill(sevSel, [["", "All severities"]].concat(SEV.map(function (s, i) { return [String(i), s]; })));
  fill(ruleSel, [["", "All rules"]].concat(RULES.map(function (r, i) { return [String(i), r[0] + " — " + r[1]]; })));
  if (ctlSel) { fill(ctlSel, [["", "All controls"]].concat(CONTROLS.map(function (c, i) { return [String(i), c[1]]; }))); }
  function rulesOfControl(ctl) {  // rule index -> true when the rule rests on control ctl
    var out = {};
    RULECTL.forEach(function (list, ruleIx) { if (list.indexOf(ctl) >= 0) { out[ruleIx] = true; } });
    return out;
  }

  var cols = { sev: 0, rule: 1, name: 2, type: 3, status: 4, change: 5, first: 6 };
  function compare(a, b) {
    var k = cols[state.key], x = a[k], y = b[k];
    if (k === 1) { x = RULES[x][0]; y = RULES[y][0]; }
    if (x === y) { return a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0; }
    if (x === null || x === undefined) { return 1; }
    if (y === null || y === undefined) { return -1; }
    return (x < y ? -1 : 1) * state.dir;
  }
  function apply() {
    var sev = state.sev === "" ? -1 : Number(state.sev), rule = state.rule === "" ? -1 : Number(state.rule);
    var q = state.q.toLowerCase(), st = state.status === "" ? -1 : STATUSES.indexOf(state.status);
    var ctlRules = state.ctl === "" ? null : rulesOfControl(Number(state.ctl));
    if (q && !haystack) {
      haystack = rows.map(function (r) { return (r[2] + " " + EVIDENCE[r[7]] + " " + RULES[r[1]][0]).toLowerCase(); });
    }
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (sev >= 0 && r[0] !== sev) { continue; }
      if (rule >= 0 && r[1] !== rule) { continue; }
      if (ctlRules && !ctlRules[r[1]]) { continue; }
      if (st >= 0 && r[4] !== st) { continue; }
      if (q && haystack[i].indexOf(q) < 0) { continue; }
      out.push(r);
    }
    out.sort(compare);
    view = out;
    state.page = 0;
    draw();
  }
  function draw() {
    var start = state.page * PAGE, end = Math.min(view.length, start + PAGE);
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var r = view[i], tr = el("tr");
      var sevCell = el("td"); sevCell.appendChild(el("span", SEV[r[0]], "sev sev-" + SEV[r[0]])); tr.appendChild(sevCell);
      tr.appendChild(el("td", RULES[r[1]][0]));
      tr.appendChild(el("td", r[2]));
      tr.appendChild(el("td", TYPES[r[3]]));
      tr.appendChild(el("td", STATUSES[r[4]]));
      tr.appendChild(el("td", CHANGES[r[5]]));
      tr.appendChild(el("td", r[6] || ""));
      tr.appendChild(el("td", EVIDENCE[r[7]], "ev"));
      frag.appendChild(tr);
    }
    body.textContent = "";
    body.appendChild(frag);
    info.textContent = view.length === 0 ? "No matching findings" :
      "Showing " + (start + 1) + "–" + end + " of " + view.length.toLocaleString("en-US") + " findings";
    prev.disabled = state.page === 0;
    next.disabled = end >= view.length;
    root.querySelectorAll("th[data-key]").forEach(function (th) {
      th.classList.remove("asc", "desc");
      if (th.getAttribute("data-key") === state.key) { th.classList.add(state.dir > 0 ? "asc" : "desc"); }
    });
  }
  var timer = null;
  sevSel.addEventListener("change", function () { state.sev = sevSel.value; apply(); });
  ruleSel.addEventListener("change", function () { state.rule = ruleSel.value; apply(); });
  if (ctlSel) { ctlSel.addEventListener("change", function () { state.ctl = ctlSel.value; apply(); }); }
  statusSel.addEventListener("change", function () { state.status = statusSel.value; apply(); });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = search.value.trim(); apply(); }, 150);
  });
  prev.addEventListener("click", function () { if (state.page > 0) { state.page--; draw(); } });
  next.addEventListener("click", function () { if ((state.page + 1) * PAGE < view.length) { state.page++; draw(); } });
  root.querySelectorAll("th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      state.dir = state.key === key ? -state.dir : 1;
      state.key = key;
      view.sort(compare);
      state.page = 0;
      draw();
    });
  });
  root.hidden = false;
  var fallbackNote = document.getElementById("explorer-nojs");
  if (fallbackNote) { fallbackNote.hidden = true; }
  apply();
}());
