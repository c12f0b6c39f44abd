/* Bugsift: ask before a destructive form is sent. A form with data-confirm="question"
 * is submitted only when the person answers OK. (Replaces inline onsubmit handlers,
 * which the Content-Security-Policy script-src 'self' forbids.)
 */
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);
})();
