// The reproducer form: show side B's fields only for the differential oracle (or when they hold errors).
(function () {
  var form = document.getElementById("reproducer-form");
  var side = document.getElementById("differential-fields");
  if (!form || !side) return;
  function sync() {
    var picked = form.querySelector("input[name=oracle]:checked");
    side.hidden = !(picked && picked.value === "differential") && !side.querySelector(".errorlist");
  }
  form.addEventListener("change", sync);
  sync();
})();
