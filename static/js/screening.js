/* Bugsift screening page: i includes the item, x then a number excludes it with that reason,
 * Escape cancels picking a reason. Keys typed inside text fields never trigger shortcuts.
 */
(function () {
  var include = document.getElementById("include-form");
  var exclude = document.getElementById("exclude-form");
  var select = document.getElementById("exclude-reason");
  var keys = document.getElementById("reason-keys");
  if (!include) return;
  var picking = false;
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
    if (picking) {
      if (e.key === "Escape") { picking = false; keys.hidden = true; e.preventDefault(); return; }
      var n = parseInt(e.key, 10);
      if (n >= 1 && select && n < select.options.length) {
        select.selectedIndex = n;
        e.preventDefault();
        exclude.submit();
      }
      return;
    }
    if (e.key === "i") { e.preventDefault(); include.submit(); }
    else if (e.key === "x" && select) { e.preventDefault(); picking = true; keys.hidden = false; select.focus(); }
  });
})();
