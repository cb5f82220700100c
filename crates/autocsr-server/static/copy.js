// The order page's only script: the "Copy the code" button. Without it (or without the
// Clipboard API) the button stays hidden and the code can be selected by hand.
"use strict";
(function () {
  var button = document.getElementById("copy-code");
  var code = document.getElementById("unlock-code");
  if (!button || !code || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(code.getAttribute("data-code")).then(
      function () { button.textContent = "Copied"; },
      function () { button.textContent = "Copy failed: select the code instead"; }
    );
  });
})();
