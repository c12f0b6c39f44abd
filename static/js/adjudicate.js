// The Adjudicate page (templates/labelling/adjudicate.html), keyboard-first like the labelling page:
// 1-9 pick a given value (numbered across the dimensions), arrows move between dimensions,
// r focuses the active dimension's rationale, Enter saves (Ctrl+Enter from a text box), s skips.
(function () {
  "use strict";
  var form = document.getElementById("adjudication-form");
  if (!form) return;
  var dims = Array.prototype.slice.call(form.querySelectorAll("fieldset.dimension"));
  var active = 0;
  var skip = document.getElementById("skip-link");

  function setActive(index) {
    if (!dims.length) return;
    active = Math.max(0, Math.min(dims.length - 1, index));
    dims.forEach(function (d, i) { d.classList.toggle("active", i === active); });
  }
  dims.forEach(function (dim, index) {
    dim.addEventListener("focusin", function () { setActive(index); });
    dim.addEventListener("click", function () { setActive(index); });
  });
  setActive(0);

  // A given value and extra categories do not mix: picking one clears the others of the dimension.
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.classList || !input.classList.contains("choice") || !input.checked) return;
    var dim = input.closest("fieldset.dimension");
    var clear = input.classList.contains("given-choice") ? "input.category-choice" : "input.given-choice";
    if (input.type === "radio" && input.classList.contains("category-choice")) return;  // one radio group already
    Array.prototype.forEach.call(dim.querySelectorAll(clear), function (other) { other.checked = false; });
  });

  function isTextField(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    return tag === "textarea" || tag === "select" || (tag === "input" && ["radio", "checkbox"].indexOf(el.type) === -1);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing || event.altKey || event.metaKey) return;
    var key = event.key;
    var target = event.target;
    if (isTextField(target)) {
      if (key === "Escape") { target.blur(); event.preventDefault(); }
      else if (key === "Enter" && event.ctrlKey) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (key === "Enter") {
      if (tag === "a" || tag === "button") return;
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.ctrlKey) return;
    if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      setActive(active + (key === "ArrowDown" ? 1 : -1));
      return;
    }
    if (/^[1-9]$/.test(key)) {
      var input = form.querySelector('input.given-choice[data-key="' + key + '"]');
      if (input) {
        event.preventDefault();
        input.click();
        setActive(dims.indexOf(input.closest("fieldset.dimension")));
      }
      return;
    }
    if (key === "r" && dims.length) {
      var box = dims[active].querySelector("textarea.rationale");
      if (box) { event.preventDefault(); box.focus(); }
      return;
    }
    if (key === "s" && skip) {
      event.preventDefault();
      window.location.assign(skip.href);
    }
  });
})();
