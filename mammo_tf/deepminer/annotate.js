/* mammo_tf DeepMiner annotation site: answers in localStorage (per site), export as JSON. */
(function () {
  "use strict";
  var site = JSON.parse(document.getElementById("site-data").textContent);
  var KEY = "mammo_tf.annotations." + site.site_id;

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY)) || { annotator: "", units: {} }; }
    catch (e) { return { annotator: "", units: {} }; }
  }
  function store(state) { localStorage.setItem(KEY, JSON.stringify(state)); }

  function exportJson() {
    var state = load();
    var name = document.getElementById("annotator");
    if (name && name.value) { state.annotator = name.value; store(state); }
    var record = {
      format: "mammo_tf.explain.annotations/1",
      site_id: site.site_id, layer: site.layer, model: site.model,
      annotator: state.annotator || "anonymous",
      exported_at: new Date().toISOString(),
      units: state.units
    };
    var text = JSON.stringify(record, null, 2);
    var pre = document.getElementById("export-json");
    if (pre) { pre.textContent = text; }
    var blob = new Blob([text], { type: "application/json" });
    var link = document.createElement("a");
    var who = (record.annotator || "anonymous").replace(/[^A-Za-z0-9_.-]+/g, "_");
    link.href = URL.createObjectURL(blob);
    link.download = "annotations_" + who + ".json";
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    return record;
  }

  function setupAnnotator() {
    var input = document.getElementById("annotator");
    if (!input) return;
    input.value = load().annotator || "";
    input.addEventListener("input", function () { var s = load(); s.annotator = input.value; store(s); });
  }

  function readForm(form) {
    var checked = function (name) { var el = form.querySelector('input[name="' + name + '"]:checked'); return el ? el.value : null; };
    return {
      recognizable: checked("recognizable"),
      association: checked("association"),
      multiplicity: checked("multiplicity"),
      concepts: Array.prototype.map.call(form.querySelectorAll('input[name="concept"]:checked'), function (el) { return el.value; }),
      free_text: form.querySelector('textarea[name="free_text"]').value,
      saved_at: new Date().toISOString()
    };
  }

  function fillForm(form, answer) {
    if (!answer) return;
    ["recognizable", "association", "multiplicity"].forEach(function (name) {
      var el = form.querySelector('input[name="' + name + '"][value="' + answer[name] + '"]');
      if (el) el.checked = true;
    });
    (answer.concepts || []).forEach(function (id) {
      var el = form.querySelector('input[name="concept"][value="' + id + '"]');
      if (el) el.checked = true;
    });
    form.querySelector('textarea[name="free_text"]').value = answer.free_text || "";
  }

  function setupUnitPage() {
    var form = document.getElementById("unit-form");
    if (!form) return;
    var state = load();
    fillForm(form, state.units[site.unit]);
    var save = function () {
      var s = load();
      s.units[site.unit] = readForm(form);
      store(s);
      document.getElementById("status").textContent = "saved " + new Date().toLocaleTimeString();
    };
    form.addEventListener("change", save);
    form.addEventListener("input", save);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); save(); });
    var ctxImg = document.getElementById("context-image");
    var outline = document.getElementById("context-outline");
    var hint = document.getElementById("context-hint");
    Array.prototype.forEach.call(document.querySelectorAll(".gallery img"), function (img) {
      img.addEventListener("mouseenter", function () {
        var src = img.getAttribute("data-context");
        if (!src) { hint.textContent = "no whole mammogram for this patch"; return; }
        hint.textContent = img.getAttribute("data-caption") || "";
        ctxImg.src = src;
        var box = JSON.parse(img.getAttribute("data-box") || "null");
        if (box) {
          outline.style.top = (100 * box[0]) + "%"; outline.style.left = (100 * box[1]) + "%";
          outline.style.height = (100 * (box[2] - box[0])) + "%"; outline.style.width = (100 * (box[3] - box[1])) + "%";
          outline.style.display = "block";
        } else { outline.style.display = "none"; }
      });
    });
  }

  function setupIndex() {
    var state = load();
    Array.prototype.forEach.call(document.querySelectorAll(".card[data-unit]"), function (card) {
      if (state.units[card.getAttribute("data-unit")]) card.classList.add("done");
    });
    var progress = document.getElementById("progress");
    if (progress) progress.textContent = Object.keys(state.units).length + " of " + site.num_units + " units annotated";
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupAnnotator();
    setupUnitPage();
    setupIndex();
    Array.prototype.forEach.call(document.querySelectorAll(".export"), function (b) { b.addEventListener("click", exportJson); });
  });
  window.mammoTfExport = exportJson;
})();
