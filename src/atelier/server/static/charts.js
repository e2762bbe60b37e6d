// Vega-Lite charts whose specs the server wrote into the page as JSON
// (<script type="application/json" class="vl-spec" data-target="ID">): drawn into #ID.
// `ast: true` makes Vega interpret its expressions instead of compiling them with eval,
// which the portal's Content-Security-Policy forbids.
(function () {
  "use strict";
  document.querySelectorAll("script.vl-spec").forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    if (target && typeof vegaEmbed !== "undefined") {
      vegaEmbed(target, JSON.parse(node.textContent), {
        actions: false,
        renderer: "svg",
        ast: true,
      });
    }
  });
})();

// Charts that arrive later, in content HTMX swaps in (a job's live panel): drawn once settled,
// into targets that are still empty.
document.addEventListener("htmx:afterSettle", function () {
  "use strict";
  document.querySelectorAll("script.vl-spec").forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    if (target && target.childElementCount === 0 && typeof vegaEmbed !== "undefined") {
      vegaEmbed(target, JSON.parse(node.textContent), {
        actions: false,
        renderer: "svg",
        ast: true,
      });
    }
  });
});
