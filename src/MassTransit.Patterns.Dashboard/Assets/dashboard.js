// The repair console's only script (served from the package; no inline script, no event-handler attributes).
// Every change is a JSON request to the console's API carrying the antiforgery token from the page's meta tag.
(function () {
  "use strict";
  var tokenMeta = document.querySelector('meta[name="patterns-antiforgery"]');
  var baseMeta = document.querySelector('meta[name="patterns-base"]');
  var base = baseMeta ? baseMeta.getAttribute("content") : "";

  function send(url, body) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (tokenMeta) headers[tokenMeta.getAttribute("data-header")] = tokenMeta.getAttribute("content");
    return fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body || {}), credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = { reason: text }; }
          return { ok: response.ok, status: response.status, data: data };
        });
      });
  }

  function message(answer) {
    var d = answer.data || {};
    if (answer.ok) return "Done: " + (d.state || "accepted");
    return "Refused (" + answer.status + (d.refusal ? ", " + d.refusal : "") + "): " + (d.reason || d.detail || d.title || "");
  }

  // Live counts on the overview.
  var counts = document.querySelector("[data-refresh-url]");
  if (counts) {
    var every = parseInt(counts.getAttribute("data-refresh-ms"), 10) || 5000;
    var refresh = function () {
      fetch(counts.getAttribute("data-refresh-url"), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          counts.querySelectorAll("[data-state]").forEach(function (el) {
            var n = data.states[el.getAttribute("data-state")] || 0;
            var value = el.querySelector('[data-test="state-count-value"]');
            if (value) value.textContent = String(n);
          });
          counts.setAttribute("data-refreshed", new Date().toISOString());
        })
        .catch(function () { /* the next tick tries again */ });
    };
    setInterval(refresh, every);
  }

  // One-message actions: edit, resubmit, discard, restore.
  document.querySelectorAll("form[data-api-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var kind = form.getAttribute("data-api-form");
      var result = document.querySelector('[data-test="action-result"]');
      var body = {};
      if (kind === "edit") {
        body.body = form.elements.body.value;
        body.expectedVersion = parseInt(form.elements.expectedVersion.value, 10);
        if (form.elements.contentType.value) body.contentType = form.elements.contentType.value;
        if (form.elements.comment.value) body.comment = form.elements.comment.value;
      } else if (form.elements.reason && form.elements.reason.value) {
        body.reason = form.elements.reason.value;
      }
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      send(form.getAttribute("data-url"), body).then(function (answer) {
        if (result) {
          result.textContent = message(answer);
          result.setAttribute("data-status", String(answer.status));
          result.setAttribute("data-outcome", answer.ok ? "accepted" : "refused");
        }
        if (answer.ok) {
          // The page again, at the new version, saying what was done (a notice that stays, not a flash).
          window.setTimeout(function () { window.location.replace(window.location.pathname + "?done=" + encodeURIComponent(kind)); }, 400);
        } else {
          form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        }
      });
    });
  });

  // Bulk actions: a selection (list page) or a group (groups page); progress polled until the job ends.
  function follow(status, progress, cancel) {
    var show = function (s) {
      progress.textContent = s.state + ": " + s.done + " of " + s.total + " done, " + s.succeeded + " succeeded, " + s.refusedCount + " refused";
      progress.setAttribute("data-state", s.state);
      progress.setAttribute("data-done", String(s.done));
      progress.setAttribute("data-total", String(s.total));
      progress.setAttribute("data-succeeded", String(s.succeeded));
      progress.setAttribute("data-refused", String(s.refusedCount));
    };
    show(status);
    if (cancel) {
      cancel.hidden = false;
      cancel.onclick = null;
      cancel.addEventListener("click", function () {
        send(base + "/api/bulk/" + status.jobId + "/cancel", {});
      }, { once: true });
    }
    var timer = setInterval(function () {
      fetch(base + "/api/bulk/" + status.jobId, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          show(s);
          if (s.state !== "Running") {
            clearInterval(timer);
            if (cancel) cancel.hidden = true;
          }
        });
    }, 500);
  }

  function startBulk(request, progress, cancel) {
    progress.textContent = "Starting…";
    send(base + "/api/bulk", request).then(function (answer) {
      if (answer.ok) follow(answer.data, progress, cancel);
      else {
        progress.textContent = message(answer);
        progress.setAttribute("data-state", "Refused");
      }
    });
  }

  document.querySelectorAll("[data-bulk]").forEach(function (button) {
    button.addEventListener("click", function () {
      var ids = Array.prototype.map.call(document.querySelectorAll('input[data-test="select-row"]:checked'), function (c) { return c.value; });
      var progress = document.querySelector('.bulk [data-test="bulk-progress"]');
      if (ids.length === 0) { progress.textContent = "Select messages first."; return; }
      var action = button.getAttribute("data-bulk");
      var request = { action: action, ids: ids };
      if (action === "discard") request.reason = document.querySelector('[data-test="bulk-reason"]').value;
      startBulk(request, progress, document.querySelector('[data-test="bulk-cancel"]'));
    });
  });

  var all = document.querySelector('[data-test="select-all"]');
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[data-test="select-row"]').forEach(function (c) { c.checked = all.checked; });
    });
  }

  document.querySelectorAll("[data-bulk-group]").forEach(function (button) {
    button.addEventListener("click", function () {
      var row = button.closest('[data-test="group-row"]');
      var action = button.getAttribute("data-bulk-group");
      var request = { action: action, filter: JSON.parse(row.getAttribute("data-filter")) };
      if (action === "discard") request.reason = row.querySelector('[data-test="group-reason"]').value;
      startBulk(request, row.querySelector('[data-test="bulk-progress"]'), null);
    });
  });

  // Operations pages: the live part is re-rendered by the server and swapped in (no full reload). A page's actions are
  // buttons with data-ops-action (URL) and data-ops-body (JSON); their answer goes to the page's action result.
  var live = document.querySelector("[data-live-url]");
  var refreshLive = null;
  if (live) {
    var liveEvery = parseInt(live.getAttribute("data-refresh-ms"), 10) || 2000;
    var refreshes = 0;
    var busy = false;
    refreshLive = function () {
      if (busy) return;
      busy = true;
      fetch(live.getAttribute("data-live-url"), { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (markup) {
          busy = false;
          if (markup === null) return;
          live.innerHTML = markup;
          refreshes++;
          live.setAttribute("data-refreshed", new Date().toISOString());
          live.setAttribute("data-refresh-count", String(refreshes));
        })
        .catch(function () { busy = false; /* the next tick tries again */ });
    };
    setInterval(refreshLive, liveEvery);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-ops-action]") : null;
    if (!button) return;
    event.preventDefault();
    var result = document.querySelector('[data-test="ops-action-result"]');
    var body = {};
    try { body = JSON.parse(button.getAttribute("data-ops-body") || "{}"); } catch (e) { body = {}; }
    button.disabled = true;
    send(button.getAttribute("data-ops-action"), body).then(function (answer) {
      var d = answer.data || {};
      if (result) {
        result.textContent = (answer.ok ? "Done: " : "Refused (" + answer.status + "): ") + (d.outcome || d.detail || d.title || "");
        result.setAttribute("data-status", String(answer.status));
        result.setAttribute("data-outcome", answer.ok ? "accepted" : "refused");
      }
      button.disabled = false;
      if (refreshLive) refreshLive();
    });
  });
})();
