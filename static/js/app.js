/* Shotcraft's small layer over htmx: safe live swaps, connection status and error notices. */
(function () {
  "use strict";

  // --- Live out-of-band swaps -------------------------------------------------------------
  // Server fragments mark their out-of-band elements with data-live-oob. Before htmx swaps them:
  //  * an element whose target is not on this page is dropped (no htmx "no target" error);
  //  * an element with data-live-upsert="#list" whose target is missing is inserted at the top
  //    of that list instead, when the list is on the page (a take that started elsewhere);
  //  * an element older than the one on the page (data-version) is dropped, so a slow HTTP
  //    answer never overwrites a newer live update.

  function version(element) {
    try {
      return BigInt(element.getAttribute("data-version") || "0");
    } catch (error) {
      return BigInt(0);
    }
  }

  function reconcile(element) {
    var current = element.id ? document.getElementById(element.id) : null;
    if (current) {
      if (current.hasAttribute("data-version") && version(current) > version(element)) {
        element.remove();
      }
      return;
    }
    var listSelector = element.getAttribute("data-live-upsert");
    if (!listSelector || !document.querySelector(listSelector)) {
      element.remove();
      return;
    }
    var wrapper = document.createElement("div");
    wrapper.setAttribute("hx-swap-oob", "afterbegin:" + listSelector);
    element.removeAttribute("hx-swap-oob");
    element.replaceWith(wrapper);
    wrapper.appendChild(element);
  }

  htmx.defineExtension("live", {
    transformResponse: function (text) {
      if (text.indexOf("data-live-oob") === -1) {
        return text;
      }
      var template = document.createElement("template");
      template.innerHTML = text;
      template.content.querySelectorAll("[data-live-oob]").forEach(reconcile);
      return template.innerHTML;
    },
  });

  // --- Connection status ------------------------------------------------------------------

  var LIVE_TEXT = { connecting: "Connecting…", open: "Live", closed: "Reconnecting…" };

  function liveState(root, state) {
    root.setAttribute("data-live", state);
    root.querySelectorAll("[data-live-text]").forEach(function (node) {
      node.textContent = LIVE_TEXT[state];
    });
  }

  document.addEventListener("htmx:wsConnecting", function (event) { liveState(event.target, "connecting"); });
  document.addEventListener("htmx:wsOpen", function (event) { liveState(event.target, "open"); });
  document.addEventListener("htmx:wsClose", function (event) { liveState(event.target, "closed"); });

  // --- Notices ----------------------------------------------------------------------------

  function notify(text, level) {
    var area = document.getElementById("messages");
    if (!area) {
      return;
    }
    var message = document.createElement("div");
    message.className = "message message-" + level;
    message.setAttribute("role", level === "error" ? "alert" : "status");
    var body = document.createElement("span");
    body.className = "message-text";
    body.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "message-close";
    close.setAttribute("aria-label", "Dismiss message");
    close.setAttribute("data-dismiss", "");
    close.textContent = "×";
    message.append(body, close);
    area.append(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : "";
    notify("That did not work (error " + status + "). Nothing was changed — please try again.", "error");
  });
  document.addEventListener("htmx:sendError", function () {
    notify("Shotcraft could not be reached. Check your connection and try again.", "error");
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) {
      button.closest(".message").remove();
    }
  });

  // --- Telling screen readers what changed -------------------------------------------------
  // A take card that a live update swaps in with another state than the one seen before has
  // its data-announce ("Take 3 is ready") written into the polite live region of
  // partials/live_status.html. Cards present when the page loads are only remembered.

  var takeStatesSeen = {};

  function takeCardsIn(root) {
    var cards = Array.prototype.slice.call(root.querySelectorAll(".take-card[data-announce]"));
    if (root.matches && root.matches(".take-card[data-announce]")) {
      cards.push(root);
    }
    return cards;
  }

  function takeChangesAnnounce(root) {
    var announcer = document.querySelector("[data-live-announcer]");
    var news = [];
    takeCardsIn(root).forEach(function (card) {
      var state = card.getAttribute("data-state");
      var before = takeStatesSeen[card.id];
      takeStatesSeen[card.id] = state;
      if (root !== document.body && before !== state) {
        news.push(card.getAttribute("data-announce"));
      }
    });
    if (announcer && news.length) {
      announcer.textContent = news.join(". ") + ".";
    }
  }

  htmx.onLoad(takeChangesAnnounce);

  // An htmx answer that replaces the element holding the focus (Approve swaps its whole take
  // card) would drop a keyboard user back at the top of the page: the focus goes to the
  // element with the same id in the new content instead.

  var focusedHolderId = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    // A button that htmx disabled during the request (hx-disabled-elt) has already lost the
    // focus to the body: the element that made the request stands in for it.
    var focused = active && active !== document.body ? active : event.detail.requestConfig && event.detail.requestConfig.elt;
    var holder = focused && focused.closest ? focused.closest("[id]") : null;
    focusedHolderId = holder && holder !== document.body ? holder.id : null;
  });

  document.addEventListener("htmx:afterSettle", function () {
    var holder = focusedHolderId && document.getElementById(focusedHolderId);
    focusedHolderId = null;
    if (!holder || (document.activeElement && document.activeElement !== document.body)) {
      return;
    }
    if (!holder.matches("a[href], button, input, select, textarea, [tabindex]")) {
      holder.setAttribute("tabindex", "-1");
    }
    holder.focus({ preventScroll: true });
  });

  // --- What the Content-Security-Policy keeps out of the markup ---------------------------
  // No style="" attributes: a bar carries its length in data-percent and gets it here as the
  // --percent custom property (app.css sizes the bar from it), on page load and in every
  // fragment htmx swaps in, live updates included.

  function barsSize(root) {
    var bars = Array.prototype.slice.call(root.querySelectorAll("[data-percent]"));
    if (root.matches && root.matches("[data-percent]")) {
      bars.push(root);
    }
    bars.forEach(function (bar) {
      var percent = Math.min(Math.max(Number(bar.getAttribute("data-percent")) || 0, 0), 100);
      bar.style.setProperty("--percent", percent + "%");
    });
  }

  htmx.onLoad(barsSize);

  // No onchange="" attributes: a select marked data-submit-on-change submits its form.
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-submit-on-change]")) {
      event.target.form.requestSubmit();
    }
  });
})();
