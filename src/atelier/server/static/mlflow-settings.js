// MLflow's UI settings for Atelier, applied before MLflow's own scripts run.
//
// MLflow keeps these settings only in the browser's localStorage (as JSON, under
// "<key>_v<version>"), with no server-side switch: UI telemetry off and its notice dismissed
// (Atelier sends nothing anywhere), and its assistant panel kept closed (the assistant runs
// tools on the host, and Atelier refuses its API; mlflow-settings.css hides its buttons).
(function () {
  "use strict";
  var settings = {
    "mlflow.settings.telemetry.enabled_v1": false,
    "mlflow.telemetry.info.alert.dismissed_v1": true,
    "mlflow.assistant.panelOpen_v1": false,
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": true,
  };
  try {
    Object.keys(settings).forEach(function (key) {
      window.localStorage.setItem(key, JSON.stringify(settings[key]));
    });
  } catch (error) {
    // Storage refused (private mode, quota): MLflow then falls back to its defaults.
  }
})();
