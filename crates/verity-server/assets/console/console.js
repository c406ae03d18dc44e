// Verity console: the few things a server-rendered page cannot do alone. Loaded from /console
// only (the page's CSP allows scripts from this origin and nothing inline).
(function () {
  "use strict";

  // Card preview: form fields marked data-preview="<what>" redraw the card as the wallet shows
  // it while the operator types. The JSON editor (data-preview="json") redraws from the whole
  // definition.
  function claimLabels(text) {
    return text.split("\n").map(function (line) {
      var parts = line.split(":");
      var name = parts[0].trim();
      var label = parts.slice(1).join(":").trim();
      return name ? (label || name) : null;
    }).filter(Boolean);
  }

  function drawCard(card, d) {
    card.style.backgroundColor = d.backgroundColor || "#1f3a5f";
    card.style.color = d.textColor || "#ffffff";
    card.querySelector("[data-card=title]").textContent = d.title || "";
    card.querySelector("[data-card=issuedBy]").textContent = d.issuedBy || "";
    card.querySelector("[data-card=description]").textContent = d.description || "";
    var logo = card.querySelector("[data-card=logo]");
    if (d.logo && /^(https:|data:image\/)/.test(d.logo)) {
      logo.src = d.logo;
      logo.hidden = false;
    } else {
      logo.hidden = true;
    }
    var list = card.querySelector("[data-card=claims]");
    list.textContent = "";
    (d.claims || []).forEach(function (label) {
      var li = document.createElement("li");
      li.textContent = label;
      list.appendChild(li);
    });
  }

  function fromFields(form) {
    var v = function (name) {
      var el = form.querySelector("[name=" + name + "]");
      return el ? el.value : "";
    };
    return {
      title: v("card_title"),
      issuedBy: v("issued_by"),
      backgroundColor: v("background_color"),
      textColor: v("text_color"),
      logo: v("logo_uri"),
      description: v("description"),
      claims: claimLabels(v("claims")),
    };
  }

  function fromJson(text) {
    var def = JSON.parse(text);
    var c = (def.display && def.display.card) || {};
    return {
      title: c.title,
      issuedBy: c.issuedBy,
      backgroundColor: c.backgroundColor,
      textColor: c.textColor,
      logo: c.logo && c.logo.uri,
      description: c.description,
      claims: ((def.display && def.display.claims) || []).map(function (x) { return x.label; }),
    };
  }

  document.querySelectorAll("form[data-card-form]").forEach(function (form) {
    var card = document.getElementById(form.getAttribute("data-card-form"));
    if (!card) return;
    var json = form.querySelector("[data-preview=json]");
    var redraw = function () {
      try {
        drawCard(card, json ? fromJson(json.value) : fromFields(form));
        card.removeAttribute("data-invalid");
      } catch (e) {
        card.setAttribute("data-invalid", "true");
      }
    };
    form.addEventListener("input", redraw);
    redraw();
  });

  // "Try it": the request's status, polled until it is final. body[data-status] carries it
  // for people (the badge) and for tests.
  var live = document.querySelector("[data-request-status]");
  if (live) {
    var url = live.getAttribute("data-request-status");
    var final = ["issuance_successful", "issuance_error", "presentation_verified", "presentation_error", "expired"];
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) {
          document.body.setAttribute("data-status", s.requestStatus);
          live.textContent = s.requestStatus;
          var detail = document.getElementById("status-detail");
          if (detail) detail.textContent = JSON.stringify(s.body, null, 2);
          if (final.indexOf(s.requestStatus) < 0) setTimeout(tick, 1000);
        })
        .catch(function () { setTimeout(tick, 3000); });
    };
    tick();
  }
})();
