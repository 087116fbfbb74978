/* A reviewer's page: pin a comment to a moment of a take (its timeline strip or the player's
   current time), and jump to a comment's moment. No inline scripts (the CSP forbids them). */
(function () {
  "use strict";

  function timecode(ms) {
    var seconds = Math.round(ms / 1000);
    var rest = seconds % 60;
    return Math.floor(seconds / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function durationMs(video) {
    if (video && isFinite(video.duration) && video.duration > 0) {
      return Math.round(video.duration * 1000);
    }
    return Number(video && video.getAttribute("data-duration-ms")) || 0;
  }

  function formFor(shotId) {
    return document.querySelector('[data-review-comment-form][data-shot="' + shotId + '"]');
  }

  // Pin the shot's comment form to `ms` in take `takeId`, and put the cursor in the comment.
  function pin(shotId, takeId, ms) {
    var form = formFor(shotId);
    if (!form) {
      return;
    }
    form.querySelector("[data-pin-take]").value = takeId;
    form.querySelector("[data-pin-ms]").value = ms;
    form.querySelector("[data-pin-label]").textContent = "At " + timecode(ms) + " in take #" + takeId;
    form.querySelector("[data-pin-clear]").hidden = false;
    form.querySelector("textarea").focus();
  }

  function unpin(form) {
    form.querySelector("[data-pin-take]").value = "";
    form.querySelector("[data-pin-ms]").value = "";
    form.querySelector("[data-pin-label]").textContent = "On the whole shot";
    form.querySelector("[data-pin-clear]").hidden = true;
  }

  function seek(video, ms) {
    if (video) {
      video.currentTime = ms / 1000;
    }
  }

  function timelineAt(strip, ms) {
    var video = document.getElementById(strip.getAttribute("data-video"));
    seek(video, ms);
    strip.setAttribute("aria-valuenow", String(Math.round(ms / 1000)));
    strip.setAttribute("aria-valuetext", timecode(ms));
    pin(strip.getAttribute("data-shot"), strip.getAttribute("data-take"), ms);
  }

  document.addEventListener("click", function (event) {
    var strip = event.target.closest("[data-review-timeline]");
    if (strip) {
      var box = strip.getBoundingClientRect();
      var fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
      var video = document.getElementById(strip.getAttribute("data-video"));
      timelineAt(strip, Math.round(fraction * durationMs(video)));
      return;
    }
    var now = event.target.closest("[data-pin-now]");
    if (now) {
      var player = document.getElementById(now.getAttribute("data-video"));
      pin(now.getAttribute("data-shot"), now.getAttribute("data-take"), Math.round((player ? player.currentTime : 0) * 1000));
      return;
    }
    var clear = event.target.closest("[data-pin-clear]");
    if (clear) {
      unpin(clear.closest("form"));
      return;
    }
    var jump = event.target.closest("[data-seek-video]");
    if (jump) {
      var target = document.getElementById(jump.getAttribute("data-seek-video"));
      seek(target, Number(jump.getAttribute("data-seek-ms")) || 0);
      if (target) {
        target.scrollIntoView({ block: "center" });
      }
    }
  });

  // Keyboard: arrows move the pin a second at a time.
  document.addEventListener("keydown", function (event) {
    var strip = event.target.closest && event.target.closest("[data-review-timeline]");
    if (!strip || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) {
      return;
    }
    event.preventDefault();
    var video = document.getElementById(strip.getAttribute("data-video"));
    var step = event.key === "ArrowRight" ? 1000 : -1000;
    var ms = Math.min(Math.max(Math.round((video ? video.currentTime : 0) * 1000) + step, 0), durationMs(video));
    timelineAt(strip, ms);
  });

  // The strip shows how far the player is.
  document.addEventListener("timeupdate", function (event) {
    var video = event.target;
    if (!video.id) {
      return;
    }
    var strip = document.querySelector('[data-review-timeline][data-video="' + video.id + '"]');
    var played = strip && strip.querySelector("[data-played]");
    var total = durationMs(video);
    if (played && total) {
      played.style.setProperty("--percent", Math.min(100, (video.currentTime * 100000) / total) + "%");
    }
  }, true);
})();
