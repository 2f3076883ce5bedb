/* reviewflow: small progressive enhancements (vanilla JS, CSP-safe, loaded with defer).
   Confirmation dialogs (<dialog>, not confirm()), local times, live Markdown preview, annotation by text selection,
   annotation highlighting from the side panel, keyboard access to tables that scroll sideways,
   tables as labelled cards on a phone.
   Every page works without this file. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* 1. Confirm before submitting forms (or buttons) that carry data-confirm, in a modal <dialog> (focus
     stays inside it, Escape cancels, Cancel has the focus first): the browser's bare confirm() cannot be
     styled, names no action and is blocked by some browsers after a few uses. Without this file the
     form submits at once and the server's own confirmation pages still stand where they exist. */
  var confirmDialog = null;

  function buildConfirmDialog() {
    var dialog = document.createElement("dialog");
    dialog.className = "confirm-box confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
    dialog.setAttribute("aria-describedby", "confirm-dialog-message");
    dialog.innerHTML =
      '<form method="dialog">' +
      '<h2 id="confirm-dialog-title">Are you sure?</h2>' +
      '<p id="confirm-dialog-message"></p>' +
      '<div class="form-actions">' +
      '<button type="submit" value="cancel" class="btn btn-secondary" data-cancel>Cancel</button>' +
      '<button type="submit" value="confirm" class="btn btn-primary" data-go>Confirm</button>' +
      "</div></form>";
    document.body.appendChild(dialog);
    return dialog;
  }

  function askToConfirm(message, actionLabel, danger, onConfirm) {
    if (!confirmDialog) confirmDialog = buildConfirmDialog();
    var dialog = confirmDialog;
    if (typeof dialog.showModal !== "function") {  /* very old browsers: the bare dialog */
      if (window.confirm(message)) onConfirm();
      return;
    }
    dialog.querySelector("#confirm-dialog-message").textContent = message;
    var go = dialog.querySelector("[data-go]");
    go.textContent = actionLabel || "Confirm";
    go.className = "btn " + (danger ? "btn-danger" : "btn-primary");
    dialog.classList.toggle("danger", !!danger);
    dialog.returnValue = "";
    dialog.onclose = function () { if (dialog.returnValue === "confirm") onConfirm(); };
    dialog.showModal();
    dialog.querySelector("[data-cancel]").focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method === "dialog") return;
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!message || form.hasAttribute("data-confirmed")) {
      form.removeAttribute("data-confirmed");
      return;
    }
    event.preventDefault();
    var label = submitter ? (submitter.getAttribute("data-confirm-label") || submitter.textContent.trim()) : "";
    var danger = !!(submitter && submitter.classList.contains("btn-danger")) || form.hasAttribute("data-danger");
    askToConfirm(message, label.replace(/[.\u2026]+$/, ""), danger, function () {
      form.setAttribute("data-confirmed", "");
      if (typeof form.requestSubmit === "function") form.requestSubmit(submitter || undefined);
      else form.submit();
    });
  });

  /* 2. Show <time datetime="…" data-local> in the reader's local time; keep UTC in the title. */
  function parseUtc(iso) {
    var m = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/i.exec(iso.trim());
    if (!m) return null;
    var text = m[1] + "T" + m[2] + (m[3] ? m[3].slice(0, 4) : "") + (m[4] || "Z");
    var date = new Date(text);
    return isNaN(date.getTime()) ? null : date;
  }

  function localiseTimes(root) {
    root.querySelectorAll("time[datetime][data-local]").forEach(function (el) {
      var date = parseUtc(el.getAttribute("datetime"));
      if (!date) return;
      if (!el.title) el.title = date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
      try {
        el.textContent = date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      } catch (e) {
        el.textContent = date.toLocaleString();
      }
    });
  }

  /* 3. Live Markdown preview: POST body and title, show the sanitised HTML the server returns. */
  function setupPreview(textarea) {
    var url = textarea.getAttribute("data-preview-url");
    var target = document.getElementById(textarea.getAttribute("data-preview-target") || "");
    if (!url || !target) return;
    var form = textarea.form;
    var titleInput = form ? form.querySelector('[name="title"]') : null;
    var timer = null, seq = 0, controller = null, notice = null;

    function showError(text) {
      if (!notice) {
        notice = document.createElement("p");
        notice.className = "preview-error small";
        notice.setAttribute("role", "status");
        target.parentNode.insertBefore(notice, target);
      }
      notice.textContent = text;
    }

    function send() {
      var data = new FormData();
      data.append("body", textarea.value);
      data.append("title", titleInput ? titleInput.value : "");
      if (controller) controller.abort();
      controller = window.AbortController ? new AbortController() : null;
      var mine = ++seq;
      target.setAttribute("aria-busy", "true");
      fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        var type = response.headers.get("Content-Type") || "";
        return type.indexOf("json") !== -1
          ? response.json().then(function (j) { return j.html || ""; })
          : response.text();
      }).then(function (html) {
        if (mine !== seq) return;
        target.innerHTML = html;  // sanitised by the server
        localiseTimes(target);
        target.dispatchEvent(new CustomEvent("preview:updated"));
        if (notice) notice.textContent = "";
      }).catch(function (err) {
        if (err && err.name === "AbortError") return;
        if (mine === seq) showError("Preview is not available right now. Your text is not affected.");
      }).then(function () {
        if (mine === seq) target.removeAttribute("aria-busy");
      });
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(send, 400);
    }
    textarea.addEventListener("input", schedule);
    if (titleInput) titleInput.addEventListener("input", schedule);
    var shownTitle = document.getElementById("preview-title");
    if (titleInput && shownTitle) {
      titleInput.addEventListener("input", function () { shownTitle.textContent = titleInput.value; });
    }
  }

  /* 3b. The writer's panes (articles/edit.html, [data-tabs]): tabs Write / Preview / Notes. On a wide screen
     the editor always shows and the tabs choose the right-hand pane; on a phone one pane shows at a time. */
  var WIDE = window.matchMedia ? window.matchMedia("(min-width: 64rem)") : { matches: true };

  function setupPaneTabs(root) {
    var tablist = root.querySelector('[role="tablist"]');
    if (!tablist) return;
    var tabs = Array.prototype.slice.call(tablist.querySelectorAll('[role="tab"]'));
    tabs.forEach(function (tab) {
      var pane = document.getElementById(tab.getAttribute("aria-controls"));
      if (!pane) return;
      pane.setAttribute("role", "tabpanel");
      pane.setAttribute("aria-labelledby", tab.id);
      pane.setAttribute("tabindex", "-1");
    });

    function select(name, focus) {
      if (WIDE.matches && name === "write") name = "preview";
      tabs.forEach(function (tab) {
        var on = tab.getAttribute("data-tab") === name;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.setAttribute("tabindex", on ? "0" : "-1");
        var pane = document.getElementById(tab.getAttribute("aria-controls"));
        if (pane) pane.classList.toggle("tab-hidden", !on);
        if (on && focus) tab.focus();
      });
      root.setAttribute("data-selected", name);
    }
    root.selectPane = select;

    tablist.addEventListener("click", function (event) {
      var tab = event.target.closest('[role="tab"]');
      if (tab) select(tab.getAttribute("data-tab"), false);
    });
    tablist.addEventListener("keydown", function (event) {
      var visible = tabs.filter(function (t) { return t.offsetParent !== null; });
      var at = visible.indexOf(document.activeElement);
      if (at < 0) return;
      var next = null;
      if (event.key === "ArrowRight") next = visible[(at + 1) % visible.length];
      else if (event.key === "ArrowLeft") next = visible[(at - 1 + visible.length) % visible.length];
      else if (event.key === "Home") next = visible[0];
      else if (event.key === "End") next = visible[visible.length - 1];
      if (!next) return;
      event.preventDefault();
      select(next.getAttribute("data-tab"), true);
    });
    if (WIDE.addEventListener) {
      WIDE.addEventListener("change", function () { select(root.getAttribute("data-selected") || "write", false); });
    }
    tablist.hidden = false;
    select(WIDE.matches ? "preview" : "write", false);
  }

  /* 3c. Open annotations marked in the writer's preview: each note ([data-quote]) finds its quote in the
     rendered text, which is wrapped in <mark>; the note links to its mark and the mark back to its note. */
  function wrapText(root, quote, makeMark) {
    if (!quote) return null;
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, null);
    var nodes = [], text = "", node;
    while ((node = walker.nextNode())) { nodes.push({ node: node, start: text.length }); text += node.nodeValue; }
    var at = text.indexOf(quote);
    if (at < 0) return null;
    var end = at + quote.length, first = null;
    nodes.forEach(function (item) {
      var from = Math.max(at, item.start), to = Math.min(end, item.start + item.node.nodeValue.length);
      if (from >= to) return;
      var piece = item.node;
      if (to - item.start < piece.nodeValue.length) piece.splitText(to - item.start);
      if (from > item.start) piece = piece.splitText(from - item.start);
      var mark = makeMark(!first);
      piece.parentNode.insertBefore(mark, piece);
      mark.appendChild(piece);
      if (!first) first = mark;
    });
    return first;
  }

  function markAnnotationsInPreview(preview) {
    var notes = document.getElementById(preview.getAttribute("data-annotations-from") || "");
    if (!notes) return;
    var workspace = preview.closest("[data-tabs]");
    notes.querySelectorAll("[data-quote]").forEach(function (note) {
      var id = note.getAttribute("data-annotation");
      var mark = wrapText(preview, note.getAttribute("data-quote"), function (isFirst) {
        var m = document.createElement("mark");
        m.className = "annotation" + (note.hasAttribute("data-blocking") ? " blocking" : "") +
          (preview.getAttribute("data-active-annotation") === id ? " active" : "");
        m.setAttribute("data-for", id);
        m.title = "Reviewer’s annotation: see the note";
        if (isFirst) m.id = "preview-annotation-" + id;
        return m;
      });
      var jump = note.querySelector(".annotation-jump, .annotation-missing");
      if (jump) jump.remove();
      var line = document.createElement("p");
      if (mark) {
        line.className = "annotation-jump";
        var link = document.createElement("a");
        link.href = "#preview-annotation-" + id;
        link.textContent = "Show in the preview";
        link.addEventListener("click", function (event) {
          event.preventDefault();
          if (workspace && workspace.selectPane) workspace.selectPane("preview", false);
          // Remembered on the preview, so a refresh of the preview that lands later keeps the highlight.
          preview.setAttribute("data-active-annotation", id);
          var target = document.getElementById("preview-annotation-" + id);
          preview.querySelectorAll("mark.annotation.active").forEach(function (m) { m.classList.remove("active"); });
          preview.querySelectorAll('mark[data-for="' + id + '"]').forEach(function (m) { m.classList.add("active"); });
          if (target) { target.scrollIntoView({ block: "center" }); }
        });
        line.appendChild(link);
      } else {
        line.className = "annotation-missing";
        line.textContent = "The quoted words are no longer in the text.";
      }
      note.appendChild(line);
    });
    preview.querySelectorAll("mark[data-for]").forEach(function (mark) {
      mark.addEventListener("click", function () {
        var note = document.getElementById("annotation-" + mark.getAttribute("data-for"));
        if (!note) return;
        if (workspace && workspace.selectPane) workspace.selectPane("notes", false);
        note.scrollIntoView({ block: "center" });
        note.classList.add("active");
        window.setTimeout(function () { note.classList.remove("active"); }, 1600);
      });
    });
  }

  /* 4. Annotation by selection: fill #quote, #prefix, #suffix from a selection inside [data-annotate-root]. */
  var CONTEXT = 32;
  var lastSelection = "", lastFocused = "";

  function byId(id) { return document.getElementById(id); }
  function shorten(text, max) {
    text = text.replace(/\s+/g, " ");
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function captureSelection(moveFocus) {
    var sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
    var range = sel.getRangeAt(0);
    var node = range.commonAncestorContainer;
    var el = node.nodeType === 1 ? node : node.parentElement;
    var root = el && el.closest("[data-annotate-root]");
    if (!root) return;

    var before = document.createRange();
    before.selectNodeContents(root);
    before.setEnd(range.startContainer, range.startOffset);
    var start = before.toString().length;
    var raw = range.toString();
    var lead = raw.length - raw.replace(/^\s+/, "").length;
    var quote = raw.trim();
    if (!quote) return;
    start += lead;
    var end = start + quote.length;
    var full = root.textContent;
    var key = start + ":" + quote;
    if (key !== lastSelection) {
      lastSelection = key;
      var fields = { quote: quote, prefix: full.slice(Math.max(0, start - CONTEXT), start), suffix: full.slice(end, end + CONTEXT) };
      Object.keys(fields).forEach(function (id) {
        if (byId(id)) byId(id).value = fields[id];
      });
      var status = byId("selection-status");
      if (status) status.textContent = "Selected: “" + shorten(quote, 80) + "”";
    }
    // Move to the comment box once per new selection, never again on e.g. a click on a button. When the
    // form is out of sight (the panel scrolls with the text; on a phone it sits below it), it opens as a
    // sheet over the page, so the box that takes the focus is on screen.
    var comment = byId("comment");
    if (moveFocus && key !== lastFocused && byId("annotate-form") && comment) {
      lastFocused = key;
      var sheet = byId("annotate-section");
      if (sheet && !sheet.classList.contains("sheet-open") && !inView(sheet.querySelector("#annotate-form"))) {
        openSheet(sheet);
      }
      comment.focus({ preventScroll: true });
    }
  }

  function inView(el) {
    if (!el) return false;
    var box = el.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= (window.innerHeight || document.documentElement.clientHeight);
  }

  function openSheet(sheet) {
    sheet.classList.add("sheet-open");
    sheet.setAttribute("role", "dialog");
    sheet.setAttribute("aria-modal", "false");
    var close = sheet.querySelector("[data-sheet-close]");
    if (close) close.hidden = false;
  }

  function closeSheet(sheet) {
    sheet.classList.remove("sheet-open");
    sheet.removeAttribute("role");
    sheet.removeAttribute("aria-modal");
    var close = sheet.querySelector("[data-sheet-close]");
    if (close) close.hidden = true;
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-sheet-close]");
    if (close) closeSheet(close.closest(".annotate-sheet"));
  });
  document.addEventListener("keydown", function (event) {
    var open = document.querySelector(".annotate-sheet.sheet-open");
    if (event.key === "Escape" && open) closeSheet(open);
  });

  function setupAnnotation() {
    if (!document.querySelector("[data-annotate-root]")) return;
    document.addEventListener("mouseup", function () {
      window.setTimeout(function () { captureSelection(true); }, 0);
    });
    // Touch screens select with a long press and handles: take the selection when the finger lifts.
    document.addEventListener("touchend", function () {
      window.setTimeout(function () { captureSelection(true); }, 350);
    });
    document.addEventListener("keyup", function (event) {
      // Keyboard selection is Shift + arrows: update while Shift is held, move focus when it is released.
      if (event.key === "Shift") captureSelection(true);
      else if (event.shiftKey) captureSelection(false);
    });
  }

  /* Side panel: clicking an annotation toggles the highlight of its quote in the text. */
  document.addEventListener("click", function (event) {
    var item = event.target.closest && event.target.closest("[data-quote-id]");
    if (!item) return;
    var control = event.target.closest("a, button, input, textarea, select, summary, label");
    if (control && control !== item && item.contains(control)) return;
    var id = item.getAttribute("data-quote-id");
    var selector = 'mark[data-annotation-id="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]';
    var marks = document.querySelectorAll(selector);
    var on = !item.classList.contains("active");
    document.querySelectorAll("mark.annotation.active, [data-quote-id].active").forEach(function (el) {
      el.classList.remove("active");
      if (el.hasAttribute("aria-pressed")) el.setAttribute("aria-pressed", "false");
    });
    marks.forEach(function (mark) { mark.classList.toggle("active", on); });
    item.classList.toggle("active", on);
    if (item.tagName === "BUTTON") item.setAttribute("aria-pressed", on ? "true" : "false");
    if (on && marks.length && marks[0].scrollIntoView) marks[0].scrollIntoView({ block: "center" });
  });

  /* 5. A table wider than its .table-wrap scrolls sideways: make the wrapper a labelled, focusable region
     so keyboard users can scroll it too (and only then: a table that fits adds no tab stop). */
  function markScrollableTables() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      if (scrolls && !wrap.hasAttribute("tabindex")) {
        var caption = wrap.querySelector("caption");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", (caption && caption.textContent.trim()) || "Table");
        wrap.setAttribute("data-scrollable", "");
      } else if (!scrolls && wrap.hasAttribute("data-scrollable")) {
        ["tabindex", "role", "aria-label", "data-scrollable"].forEach(function (name) { wrap.removeAttribute(name); });
      }
    });
  }
  /* 6. On a phone a table becomes a stack of cards (app.css, .js only): each cell carries the name of its
     column, read from the header, so "Due 12 Dec" still says what 12 Dec is. Headers that are hidden
     from sight (an actions column) give no label. */
  function labelTableCells() {
    document.querySelectorAll("table.table:not(.diff-table)").forEach(function (table) {
      var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        var hidden = th.classList.contains("visually-hidden") || !th.textContent.trim() ||
          (th.children.length === 1 && th.children[0].classList.contains("visually-hidden"));
        return hidden ? "" : th.textContent.trim().replace(/\s+/g, " ");
      });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          if (names[column] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[column]);
          column += cell.colSpan || 1;
        });
      });
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(markScrollableTables, 150);
  });

  /* Printing: open collapsed <details> so the printout is complete, then restore. */
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = Array.prototype.filter.call(document.querySelectorAll("details:not([open])"), function (d) {
      d.open = true;
      return true;
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });

  /* 6. A form sent back with errors: focus its first invalid field, so a screen reader reads the label,
     "invalid" and the message (aria-describedby) at once. Not when the page focuses something itself. */
  function focusFirstError() {
    var field = document.querySelector('main [aria-invalid="true"]');
    if (field && !document.querySelector("[autofocus]") && !window.location.hash) field.focus();
  }

  /* 7. Review workspace: "Show where it is cited" highlights the sentences (their paragraph or list item)
     that cite a source, and scrolls to the first; pressing again clears it. */
  function setupCitations() {
    var root = document.querySelector("[data-annotate-root]");
    if (!root) return;
    document.querySelectorAll("button[data-cites]").forEach(function (button) {
      button.addEventListener("click", function () {
        var on = button.getAttribute("aria-pressed") !== "true";
        root.querySelectorAll(".cites-highlight").forEach(function (el) { el.classList.remove("cites-highlight"); });
        document.querySelectorAll("button[data-cites]").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
        if (!on) return;
        var refs = root.querySelectorAll('a[href="#source-' + button.getAttribute("data-cites") + '"]');
        refs.forEach(function (ref) {
          var block = ref.closest("p, li, td, blockquote") || ref;
          block.classList.add("cites-highlight");
        });
        button.setAttribute("aria-pressed", "true");
        if (refs.length) refs[0].scrollIntoView({ block: "center", behavior: "smooth" });
      });
    });
  }

  function init() {
    localiseTimes(document);
    setupCitations();
    focusFirstError();
    document.querySelectorAll("textarea[data-preview-url]").forEach(setupPreview);
    document.querySelectorAll("[data-tabs]").forEach(setupPaneTabs);
    document.querySelectorAll("[data-annotations-from]").forEach(function (preview) {
      markAnnotationsInPreview(preview);
      preview.addEventListener("preview:updated", function () { markAnnotationsInPreview(preview); });
    });
    setupAnnotation();
    labelTableCells();
    markScrollableTables();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
