// The cut page's trim handles: dragging an in or out point shows its time and moves the shot's
// preview to that frame, so the creator sees exactly where the shot will start and end.
(function () {
  "use strict";

  function seconds(value) {
    return (Math.round(parseFloat(value) * 100) / 100).toFixed(2) + " s";
  }

  function bindTrim(form) {
    var card = form.closest(".cut-shot");
    var preview = card && card.querySelector(".cut-shot-preview");
    form.querySelectorAll(".cut-handle").forEach(function (handle) {
      var output = handle.parentElement.querySelector(".cut-trim-value");
      var show = function () {
        if (output) output.textContent = seconds(handle.value);
      };
      show();
      handle.addEventListener("input", function () {
        var inHandle = form.querySelector(".cut-handle-in");
        var outHandle = form.querySelector(".cut-handle-out");
        if (parseFloat(inHandle.value) > parseFloat(outHandle.value) - 0.2) {
          if (handle === inHandle) inHandle.value = Math.max(0, parseFloat(outHandle.value) - 0.2);
          else outHandle.value = parseFloat(inHandle.value) + 0.2;
        }
        form.querySelectorAll(".cut-trim-value").forEach(function (o) {
          var h = o.parentElement.querySelector(".cut-handle");
          o.textContent = seconds(h.value);
        });
        if (preview && preview.readyState > 0) preview.currentTime = parseFloat(handle.value);
      });
    });
    // Range inputs round to their step: put the stored millisecond values back exactly.
    form.querySelectorAll("[data-ms]").forEach(function (input) {
      var ms = parseInt(input.getAttribute("data-ms"), 10);
      if (!isNaN(ms)) input.value = (ms / 1000).toString();
      var output = input.parentElement.querySelector(".cut-trim-value");
      if (output) output.textContent = seconds(input.value);
    });
  }

  function bindPreview(video) {
    // Hovering a shot plays its trimmed span.
    var card = video.closest(".cut-shot");
    var start = function () {
      var inHandle = card.querySelector(".cut-handle-in");
      video.currentTime = inHandle ? parseFloat(inHandle.value) : 0;
      video.play().catch(function () {});
    };
    video.addEventListener("timeupdate", function () {
      var outHandle = card.querySelector(".cut-handle-out");
      if (outHandle && video.currentTime >= parseFloat(outHandle.value)) video.pause();
    });
    video.addEventListener("mouseenter", start);
    video.addEventListener("mouseleave", function () { video.pause(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".cut-trim-form").forEach(bindTrim);
    document.querySelectorAll(".cut-shot-preview").forEach(bindPreview);
  });
})();
