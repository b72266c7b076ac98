// Live refresh of a submission page while it is pending, queued or running: polls the status
// JSON and updates the status, queue position, log and (once final) the results in place.
(function () {
  "use strict";
  var root = document.getElementById("submission");
  if (!root || root.dataset.final === "1") { return; }
  var url = root.dataset.statusUrl;
  var delay = 1500;

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function render(data) {
    var status = document.getElementById("status");
    if (status) {
      status.textContent = data.status;
      status.className = "badge status-" + data.status;
    }
    var info = "";
    if (data.queue_position) { info = "position " + data.queue_position + " in the queue"; }
    if (data.estimated_wait_s !== null && data.estimated_wait_s !== undefined) {
      info += (info ? " · " : "") + "about " + data.estimated_wait_s + " s to go";
    }
    setText("queue-info", info);
    if (data.log) { setText("user-log", data.log); }
    if (data.body_html !== undefined) {
      // Server-rendered, auto-escaped fragment of our own page.
      document.getElementById("submission-body").innerHTML = data.body_html;
      root.dataset.final = "1";
      document.querySelectorAll(".actions form").forEach(function (f) {
        if (f.action.indexOf("/cancel") !== -1) { f.remove(); }
      });
      return true;
    }
    return false;
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        if (!render(data)) { setTimeout(poll, delay); }
      })
      .catch(function () { delay = Math.min(delay * 2, 15000); setTimeout(poll, delay); });
  }
  setTimeout(poll, delay);
})();
