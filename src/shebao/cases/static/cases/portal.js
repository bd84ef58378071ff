// The "resend code" button counts down until another code may be asked for. Optional: without
// JavaScript the button stays usable and the server says how long to wait.
(function () {
  "use strict";
  document.querySelectorAll("button[data-wait]").forEach(function (button) {
    var left = parseInt(button.getAttribute("data-wait"), 10);
    var label = button.getAttribute("data-label") || button.textContent;
    if (!(left > 0)) return;
    button.disabled = true;
    var tick = function () {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = label + "（" + left + "s）";
      left -= 1;
      window.setTimeout(tick, 1000);
    };
    tick();
  });
})();
