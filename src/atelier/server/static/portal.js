// Behaviour every portal page shares, kept out of the markup: the portal's
// Content-Security-Policy runs no inline script and no event-handler attribute.
(function () {
  "use strict";
  // <button data-confirm="Delete X?">: the form is sent only once the user confirms.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
