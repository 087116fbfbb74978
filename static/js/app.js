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
  // --- Forms inside cached fragments ------------------------------------------------------
  // A storyboard card can come from the cache, rendered without a request and so without a
  // CSRF token; its plain POST forms get the page's token (the one htmx sends) when submitted.

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method !== "post" || form.querySelector("[name=csrfmiddlewaretoken]")) {
      return;
    }
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrfToken();
    form.append(token);
  });

  // --- Rearranging the storyboard ---------------------------------------------------------
  // Drag a card, press Alt+↑/↓ on a focused card, or use its ↑/↓ buttons: the card moves at once,
  // then the whole order is posted (the server refuses an order that is not exactly the
  // project's shots) and the renumbered cards come back. A refused move puts the server's
  // order back.

  function shotBox() {
    return document.getElementById("storyboard-shots");
  }

  function shotItems(box) {
    return Array.prototype.slice.call(box.querySelectorAll(".shot-grid > li"));
  }

  function shotIds(box) {
    return shotItems(box).map(function (item) {
      var card = item.querySelector(".shot-card[data-shot-id]");
      return card ? card.getAttribute("data-shot-id") : "";
    });
  }

  function announce(regionId, text) {
    var region = document.getElementById(regionId);
    if (region) {
      region.textContent = "";
      window.setTimeout(function () { region.textContent = text; }, 50); // a change screen readers notice
    }
  }

  function orderSave(box, card) {
    var shotId = card.getAttribute("data-shot-id");
    var title = card.getAttribute("data-shot-title");
    var ids = shotIds(box);
    var body = new URLSearchParams();
    ids.forEach(function (id) { body.append("shot", id); });
    box.setAttribute("aria-busy", "true");
    fetch(box.getAttribute("data-order-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
    }).then(function (response) {
      return response.text().then(function (text) { return { ok: response.ok, text: text }; });
    }).then(function (answer) {
      box.removeAttribute("aria-busy");
      if (!answer.ok) {
        notify(answer.text, "error");
        htmx.ajax("GET", box.getAttribute("hx-get"), { target: box, swap: "innerHTML" });
        return;
      }
      box.innerHTML = answer.text;
      htmx.process(box);
      var refocus = card.getAttribute("data-refocus");
      var moved = refocus && document.querySelector("#shot-" + shotId + " " + refocus);
      if (moved) {
        moved.focus(); // the swap replaced the focused control
      }
      announce("shot-order-status", "Moved “" + title + "” to position " + (ids.indexOf(shotId) + 1) + " of " + ids.length + ".");
    }).catch(function () {
      box.removeAttribute("aria-busy");
      notify("Shotcraft could not be reached, so the new order was not saved. Check your connection and try again.", "error");
    });
  }

  function shotMove(card, delta, refocus) { // refocus: the selector, in the card, of what to focus after
    var box = shotBox();
    var item = card.closest("li");
    var items = shotItems(box);
    var target = items[items.indexOf(item) + delta];
    if (!target) {
      announce("shot-order-status", "“" + card.getAttribute("data-shot-title") + "” is already the " + (delta < 0 ? "first" : "last") + " shot.");
      return;
    }
    if (delta < 0) {
      target.before(item);
    } else {
      target.after(item);
    }
    card.setAttribute("data-refocus", refocus);
    var control = card.querySelector(refocus);
    if (control) {
      control.focus(); // moving the node took the focus away
    }
    orderSave(box, card);
  }

  document.addEventListener("keydown", function (event) {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) {
      return;
    }
    var card = event.target.closest && event.target.closest("#storyboard-shots .shot-card");
    if (card) {
      event.preventDefault();
      shotMove(card, event.key === "ArrowUp" ? -1 : 1, ".shot-link");
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-shot-move]");
    var card = button && button.closest("#storyboard-shots .shot-card");
    if (card) {
      var delta = button.getAttribute("data-shot-move");
      shotMove(card, Number(delta), "[data-shot-move='" + delta + "']");
    }
  });

  var dragged = null;
  var orderBefore = "";

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest("#storyboard-shots .shot-card");
    if (!card) {
      return;
    }
    dragged = card.closest("li");
    orderBefore = shotIds(shotBox()).join(",");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-shot-id"));
    dragged.classList.add("is-dragging");
  });

  document.addEventListener("dragover", function (event) {
    var item = dragged && event.target.closest && event.target.closest("#storyboard-shots .shot-grid > li");
    if (!item) {
      return;
    }
    event.preventDefault(); // allows the drop
    if (item === dragged) {
      return;
    }
    var items = shotItems(shotBox());
    if (items.indexOf(dragged) < items.indexOf(item)) {
      item.after(dragged);
    } else {
      item.before(dragged);
    }
  });

  document.addEventListener("drop", function (event) {
    if (dragged) {
      event.preventDefault();
    }
  });

  document.addEventListener("dragend", function () {
    if (!dragged) {
      return;
    }
    var item = dragged;
    dragged = null;
    item.classList.remove("is-dragging");
    var box = shotBox();
    if (shotIds(box).join(",") !== orderBefore) {
      var card = item.querySelector(".shot-card");
      card.removeAttribute("data-refocus");
      orderSave(box, card);
    }
  });

  // --- Keyboard shortcuts on the shot page ------------------------------------------------
  // j/→ and k/← select the next or previous take, a approves it, r rejects it, Space plays or
  // pauses it, ? lists them (templates/studio/partials/shortcuts_dialog.html). Never while the
  // creator types in a field, and never over a control that uses the key itself.

  var selectedTakeId = null;

  function takeCards() {
    return Array.prototype.slice.call(document.querySelectorAll(".take-list .take-card"));
  }

  function takeSelect(card) {
    takeCards().forEach(function (other) { other.classList.remove("is-selected"); });
    selectedTakeId = card.id;
    card.classList.add("is-selected");
    card.setAttribute("tabindex", "-1");
    card.focus();
    var cards = takeCards();
    var title = card.querySelector(".take-title");
    var state = card.querySelector(".badge-state");
    announce("take-shortcut-status", (title ? title.textContent.trim() : "Take") + ", " + (cards.indexOf(card) + 1) +
      " of " + cards.length + (state ? ": " + state.textContent.trim() : ""));
  }

  function takeSelected() {
    return selectedTakeId ? document.getElementById(selectedTakeId) : null;
  }

  function takeAction(card, verb) {
    var button = card.querySelector(".take-actions form[action$='/" + verb + "/'] button");
    if (button) {
      button.click();
    } else {
      announce("take-shortcut-status", "This take cannot be " + (verb === "approve" ? "approved" : "rejected") + " now.");
    }
  }

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])");
  }

  function keepsKey(target, key) {
    if (key === " ") {
      return target.closest && target.closest("button, a, summary, video, audio");
    }
    return (key === "ArrowLeft" || key === "ArrowRight") && target.closest && target.closest("video, audio");
  }

  document.addEventListener("keydown", function (event) {
    var dialog = document.getElementById("shortcuts-dialog");
    if (!dialog || dialog.open || event.ctrlKey || event.metaKey || event.altKey || typing(event.target) ||
        keepsKey(event.target, event.key)) {
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      dialog.showModal();
      return;
    }
    var cards = takeCards();
    var current = takeSelected();
    var index = cards.indexOf(current);
    if (!cards.length) {
      return;
    }
    if (event.key === "j" || event.key === "ArrowRight") {
      event.preventDefault();
      takeSelect(cards[Math.min(index + 1, cards.length - 1)]);
    } else if (event.key === "k" || event.key === "ArrowLeft") {
      event.preventDefault();
      takeSelect(cards[Math.max(index - 1, 0)]);
    } else if ((event.key === "a" || event.key === "r") && current) {
      takeAction(current, event.key === "a" ? "approve" : "reject");
    } else if (event.key === "a" || event.key === "r") {
      takeSelect(cards[0]); // never decide on a take the creator has not picked out
      announce("take-shortcut-status", "Take selected: press " + event.key + " again to " + (event.key === "a" ? "approve" : "reject") + " it.");
    } else if (event.key === " ") {
      var video = (current || cards[0]).querySelector("video");
      if (video) {
        event.preventDefault();
        if (video.paused) {
          video.play().catch(function () {});
        } else {
          video.pause();
        }
      }
    }
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-shortcuts-open]");
    var dialog = document.getElementById("shortcuts-dialog");
    if (opener && dialog) {
      dialog.showModal();
    }
  });

  // A take card swapped after Approve/Reject or a live update stays the selected one.
  htmx.onLoad(function (root) {
    var card = takeSelected();
    if (card && root.contains(card) && !card.classList.contains("is-selected")) {
      card.classList.add("is-selected");
      card.setAttribute("tabindex", "-1");
      card.focus();
    }
  });
})();
