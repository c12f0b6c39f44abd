/* Bugsift labelling page: label a report with the keyboard alone. No framework.
 *
 * Keys (outside text fields):
 *   a category's shortcut  pick it in the active dimension (single/ordinal: then move on;
 *                          multiple choice: toggle, at most max_choices)
 *   ArrowDown / ArrowUp    next / previous dimension (Tab works too)
 *   n                      write a note for the active dimension
 *   e                      write the answer of an active free-text dimension
 *   Enter                  Save & next (Ctrl+Enter inside a text field)
 *   ArrowLeft              back to the previous item
 *   D (Shift+d)            definitions on one line / in full (remembered in this browser)
 *   ?                      show or hide the list of keys
 *   Escape                 leave a text field / close the list of keys
 * Keys typed inside text fields never trigger shortcuts.
 *
 * Unsaved picks: while the form differs from what the server rendered, the page is marked
 * unsaved, leaving it asks first (beforeunload), and the picks are kept as a draft in
 * localStorage per study, item and user until a save succeeds. A draft found on load, or a page
 * the browser restores from its back/forward cache, is put back and marked unsaved.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-labelling]");
  if (!root) return;
  var form = document.getElementById("label-form");
  var overlay = document.getElementById("help-overlay");
  var prevUrl = root.getAttribute("data-prev-url") || "";
  var dims = form ? Array.prototype.slice.call(form.querySelectorAll(".dimension")) : [];
  var active = -1;
  var submitting = false;
  var leaving = false;
  var storage = null;
  try {
    storage = window.localStorage;
    storage.getItem("bugsift:probe");
  } catch (e) {
    storage = null; // storage switched off: the page works, without drafts or a remembered preference
  }
  function stored(key) {
    try { return storage ? storage.getItem(key) : null; } catch (e) { return null; }
  }
  function store(key, value) {
    try {
      if (!storage) return;
      if (value === null) storage.removeItem(key);
      else storage.setItem(key, value);
    } catch (e) { /* full or refused: nothing to do */ }
  }

  // --- time the page was visible (plus what a re-rendered form already carried) ----------
  var timeField = form ? form.querySelector("input[name=time_spent_ms]") : null;
  var visibleMs = timeField ? parseInt(timeField.value || "0", 10) || 0 : 0;
  var since = document.visibilityState === "visible" ? performance.now() : null;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      if (since === null) since = performance.now();
    } else if (since !== null) {
      visibleMs += performance.now() - since;
      since = null;
    }
  });
  function elapsedMs() {
    return Math.round(visibleMs + (since !== null ? performance.now() - since : 0));
  }

  // --- dimensions ----------------------------------------------------------------------
  function setActive(index, scroll) {
    if (!dims.length) return;
    index = Math.max(0, Math.min(dims.length - 1, index));
    if (index === active) return;
    if (active >= 0 && dims[active]) {
      dims[active].classList.remove("active");
      dims[active].removeAttribute("aria-current");
    }
    active = index;
    dims[active].classList.add("active");
    dims[active].setAttribute("aria-current", "true");
    if (scroll !== false && dims[active].scrollIntoView) {
      dims[active].scrollIntoView({ block: "nearest" });
    }
  }

  function hasValue(dim) {
    if (dim.getAttribute("data-kind") === "text") {
      var t = dim.querySelector("textarea.text-value");
      return !!(t && t.value.trim());
    }
    return !!dim.querySelector("input[data-shortcut]:checked, input.choice:checked");
  }

  function flash(dim, message) {
    var box = dim.querySelector(".dim-flash");
    if (!box) return;
    box.textContent = message;
    window.clearTimeout(box._timer);
    box._timer = window.setTimeout(function () { box.textContent = ""; }, 2500);
  }

  function choose(dim, key) {
    var inputs = dim.querySelectorAll("input[data-shortcut]");
    var match = null;
    for (var i = 0; i < inputs.length && !match; i++) {
      if (inputs[i].getAttribute("data-shortcut") === key) match = inputs[i];
    }
    for (var j = 0; j < inputs.length && !match; j++) {
      if (inputs[j].getAttribute("data-shortcut").toLowerCase() === key.toLowerCase()) match = inputs[j];
    }
    if (!match) return false;
    if (match.type === "radio") {
      match.checked = true;
      match.dispatchEvent(new Event("change", { bubbles: true }));
      if (active < dims.length - 1) setActive(active + 1);
    } else {
      if (!match.checked) {
        var max = parseInt(dim.getAttribute("data-max-choices") || "0", 10);
        var count = dim.querySelectorAll("input[data-shortcut]:checked").length;
        if (max && count >= max) {
          flash(dim, "At most " + max + " categories here: unpick one first.");
          return true;
        }
      }
      match.checked = !match.checked;
      match.dispatchEvent(new Event("change", { bubbles: true }));
    }
    return true;
  }

  function focusIn(dim, selector) {
    var el = dim && dim.querySelector(selector);
    if (el) {
      el.focus();
      return true;
    }
    return false;
  }

  // --- definitions on one line, the choice remembered ----------------------------------------
  var DEFINITIONS_KEY = "bugsift:label:definitions";
  var definitionsButton = document.getElementById("definitions-toggle");
  function setDefinitionsCollapsed(collapsed, remember) {
    if (!form) return;
    form.classList.toggle("definitions-collapsed", collapsed);
    if (definitionsButton) definitionsButton.setAttribute("aria-pressed", collapsed ? "true" : "false");
    if (remember) store(DEFINITIONS_KEY, collapsed ? "collapsed" : "full");
  }
  function toggleDefinitions() {
    if (form) setDefinitionsCollapsed(!form.classList.contains("definitions-collapsed"), true);
  }
  setDefinitionsCollapsed(stored(DEFINITIONS_KEY) === "collapsed", false);
  if (definitionsButton) definitionsButton.addEventListener("click", toggleDefinitions);

  // --- unsaved picks: dirty state, drafts, the leave warning ----------------------------------
  var draftKey = form && root.getAttribute("data-item")
    ? "bugsift:label:draft:" + root.getAttribute("data-study") + ":" + root.getAttribute("data-item") +
      ":" + root.getAttribute("data-user")
    : "";
  var PENDING_KEY = "bugsift:label:pending-save";
  var badge = document.getElementById("unsaved-badge");
  var notice = document.getElementById("draft-notice");
  // A form shown again with its errors holds what was posted, not what is saved.
  var renderedUnsaved = root.getAttribute("data-unsaved") === "true";

  function fields() {
    return form ? Array.prototype.slice.call(form.querySelectorAll("input.choice, textarea")) : [];
  }
  // What the server rendered (default values), or what the form holds now.
  function snapshot(rendered) {
    var state = {};
    fields().forEach(function (el) {
      if (el.tagName === "TEXTAREA") {
        state[el.name] = rendered ? el.defaultValue : el.value;
      } else {
        if (!state[el.name]) state[el.name] = [];
        if (rendered ? el.defaultChecked : el.checked) state[el.name].push(el.value);
      }
    });
    return state;
  }
  var renderedState = form ? JSON.stringify(snapshot(true)) : "";

  function apply(state) {
    fields().forEach(function (el) {
      if (!(el.name in state)) return;
      if (el.tagName === "TEXTAREA") el.value = String(state[el.name]);
      else el.checked = state[el.name].indexOf(el.value) !== -1;
    });
  }

  function isDirty() {
    return !!form && (renderedUnsaved || JSON.stringify(snapshot(false)) !== renderedState);
  }

  function showNotice(text) {
    if (!notice) return;
    document.getElementById("draft-notice-text").textContent = text;
    notice.hidden = false;
  }

  function refreshDirty() {
    if (!form) return false;
    var dirty = isDirty();
    form.classList.toggle("unsaved", dirty);
    if (badge) badge.hidden = !dirty;
    if (draftKey) store(draftKey, dirty ? JSON.stringify({ state: snapshot(false), at: Date.now() }) : null);
    return dirty;
  }

  function restoreDraft() {
    if (!draftKey) return;
    var raw = stored(draftKey);
    if (!raw) return;
    var draft;
    try { draft = JSON.parse(raw); } catch (e) { store(draftKey, null); return; }
    if (!draft || !draft.state || JSON.stringify(draft.state) === renderedState) {
      // The page shows these picks already; only a saved page lets the draft go.
      if (!renderedUnsaved) store(draftKey, null);
      return;
    }
    apply(draft.state);
    showNotice("Restored your unsaved picks for this item from this browser" +
      (draft.at ? " (" + new Date(draft.at).toLocaleString() + ")" : "") + ". They are not saved yet.");
  }

  // A save that was sent and answered with another page succeeded: its draft goes.
  (function settlePendingSave() {
    var raw = stored(PENDING_KEY);
    if (!raw) return;
    store(PENDING_KEY, null);
    var pending;
    try { pending = JSON.parse(raw); } catch (e) { return; }
    if (!pending || !pending.key || Date.now() - (pending.at || 0) > 120000) return;
    if (pending.key === draftKey && renderedUnsaved) return; // the same item came back with errors
    store(pending.key, null);
  })();

  if (form) {
    restoreDraft();
    refreshDirty();
    form.addEventListener("input", refreshDirty);
    form.addEventListener("change", refreshDirty);
    var discard = document.getElementById("draft-discard");
    if (discard) {
      discard.addEventListener("click", function () {
        store(draftKey, null);
        leaving = true;
        window.location.replace(window.location.href); // what the server has saved, afresh
      });
    }
    window.addEventListener("beforeunload", function (event) {
      if (submitting || leaving || !isDirty()) return;
      event.preventDefault();
      event.returnValue = ""; // the browser shows its own "leave the page?" question
    });
    // Back/Forward: a page from the back/forward cache (persisted), or one whose fields the browser
    // filled in again after loading, can show picks the server does not have.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && submitting) {
        window.location.reload(); // back to a page that was sent: show what the server has now
        return;
      }
      var dirty = refreshDirty();
      var alreadySaid = notice && !notice.hidden; // a restored draft said so already
      if (dirty && (event.persisted || (!alreadySaid && !renderedUnsaved))) {
        showNotice("This page was restored by the browser: these picks are not saved yet.");
      }
    });
  }

  // --- help overlay, generated from the page ---------------------------------------------
  function keyRow(list, keys, text) {
    var dt = document.createElement("dt");
    keys.forEach(function (k, i) {
      if (i) dt.appendChild(document.createTextNode(" "));
      var kbd = document.createElement("kbd");
      kbd.textContent = k;
      dt.appendChild(kbd);
    });
    var dd = document.createElement("dd");
    dd.textContent = text;
    list.appendChild(dt);
    list.appendChild(dd);
  }

  function buildHelp() {
    var box = document.getElementById("help-keys");
    if (!box || box.childNodes.length) return;
    var general = document.createElement("dl");
    general.className = "keys";
    if (form) {
      keyRow(general, ["↓", "↑"], "Next / previous dimension (Tab also moves)");
      keyRow(general, ["n"], "Write a note for the active dimension");
      keyRow(general, ["e"], "Write the answer of a free-text dimension");
      keyRow(general, ["Enter"], "Save & next (Ctrl+Enter inside a text field)");
      keyRow(general, ["Esc"], "Leave a text field");
      keyRow(general, ["D"], "Definitions on one line / in full (Shift+d)");
    }
    keyRow(general, ["←"], "Back to the previous item");
    keyRow(general, ["?"], "Show or hide this list");
    box.appendChild(general);
    dims.forEach(function (dim) {
      var inputs = dim.querySelectorAll("input[data-shortcut]");
      if (!inputs.length) return;
      var h = document.createElement("h3");
      h.textContent = dim.getAttribute("data-name") || "";
      box.appendChild(h);
      var dl = document.createElement("dl");
      dl.className = "keys";
      Array.prototype.forEach.call(inputs, function (input) {
        var parentKey = input.getAttribute("data-parent-key");
        var name = input.getAttribute("data-name") || input.value;
        // A sub-category is picked by its own key; the list names the parent's key beside it, as the form does.
        keyRow(dl, [input.getAttribute("data-shortcut")], parentKey ? "↳ " + name + " (under " + parentKey + ")" : name);
      });
      box.appendChild(dl);
    });
  }

  function helpOpen() {
    return overlay && !overlay.hidden;
  }

  function toggleHelp(show) {
    if (!overlay) return;
    buildHelp();
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
  }

  // --- submit ------------------------------------------------------------------------------
  function submit() {
    if (!form || submitting) return;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      if (submitting) {
        event.preventDefault();
        return;
      }
      submitting = true;
      if (timeField) timeField.value = String(elapsedMs());
      if (draftKey) store(PENDING_KEY, JSON.stringify({ key: draftKey, at: Date.now() }));
    });
    dims.forEach(function (dim, index) {
      dim.addEventListener("focusin", function () { setActive(index, false); });
      dim.addEventListener("click", function () { setActive(index, false); });
    });
    var start = 0;
    for (var d = 0; d < dims.length; d++) {
      if (dims[d].classList.contains("has-error")) { start = d; break; }
    }
    if (!form.querySelector(".dimension.has-error")) {
      for (var f = 0; f < dims.length; f++) {
        if (!hasValue(dims[f])) { start = f; break; }
      }
    }
    setActive(start, false);
    // After a failed save, go to the first invalid dimension and put the focus in it.
    var invalid = form.querySelector(".dimension.has-error");
    if (invalid) {
      if (invalid.scrollIntoView) invalid.scrollIntoView({ block: "start" });
      focusIn(invalid, "input.choice:checked") || focusIn(invalid, "input.choice, textarea.text-value") ||
        (invalid.setAttribute("tabindex", "-1"), invalid.focus());
    }
    form.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a[data-dimension-link]");
      if (!link) return;
      var target = document.getElementById("dim-" + link.getAttribute("data-dimension-link"));
      if (!target) return;
      event.preventDefault();
      target.scrollIntoView({ block: "start" });
      focusIn(target, "input.choice, textarea.text-value");
    });
  }

  var helpButton = document.getElementById("help-button");
  if (helpButton) helpButton.addEventListener("click", function () { toggleHelp(); });
  if (overlay) {
    overlay.addEventListener("click", function (event) {
      if (event.target === overlay) toggleHelp(false);
    });
  }

  // --- keys --------------------------------------------------------------------------------
  function isTextField(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || el.isContentEditable) return true;
    if (tag !== "input") return false;
    var type = (el.getAttribute("type") || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "reset", "hidden", "range", "color", "file", "image"]
      .indexOf(type) === -1;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing || event.altKey || event.metaKey) return;
    var key = event.key;
    var target = event.target;

    if (helpOpen()) {
      if (key === "?" || key === "Escape") {
        toggleHelp(false);
        event.preventDefault();
      }
      return;
    }

    if (isTextField(target)) {
      if (key === "Escape") {
        target.blur();
        event.preventDefault();
      } else if (key === "Enter" && event.ctrlKey) {
        event.preventDefault();
        submit();
      }
      return;
    }
    if (event.ctrlKey && key !== "Enter") return;

    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    switch (key) {
      case "Enter":
        if (!form || tag === "a" || tag === "button") return; // a focused link or button does its own thing
        event.preventDefault();
        submit();
        return;
      case "ArrowDown":
        if (!dims.length) return;
        event.preventDefault();
        setActive(active + 1);
        return;
      case "ArrowUp":
        if (!dims.length) return;
        event.preventDefault();
        setActive(active - 1);
        return;
      case "ArrowLeft":
        if (!prevUrl) return;
        event.preventDefault();
        window.location.assign(prevUrl);
        return;
      case "?":
        event.preventDefault();
        toggleHelp();
        return;
      case "D":
        if (!form) return;
        event.preventDefault();
        toggleDefinitions();
        return;
      default:
        break;
    }
    if (!dims.length || key.length !== 1 || event.ctrlKey) return;
    var dim = dims[active];
    if (choose(dim, key)) {
      event.preventDefault();
      return;
    }
    if (key === "n" && focusIn(dim, "textarea.note")) {
      event.preventDefault();
    } else if (key === "e" && dim.getAttribute("data-kind") === "text" && focusIn(dim, "textarea.text-value")) {
      event.preventDefault();
    }
  });
})();

// Accept a reproduction's suggestion: pick that category as a click on it would; the annotator still saves.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button.accept-suggestion");
  if (!button) return;
  var inputs = document.getElementsByName(button.getAttribute("data-target"));
  var text = button.getAttribute("data-text");
  for (var i = 0; i < inputs.length; i++) {
    if (text !== null && inputs[i].tagName === "TEXTAREA") {
      inputs[i].value = text;  // a free-text answer, e.g. the buggy version a bisection found
      inputs[i].dispatchEvent(new Event("input", { bubbles: true }));
    } else if (inputs[i].value === button.value && !inputs[i].checked) {
      inputs[i].click();
    }
  }
});
