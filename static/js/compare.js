// Side by side: one control plays, pauses and seeks every take of the compare page together.
// The first video leads; the others follow it, and are pulled back when they drift (decoders
// start at slightly different moments), so the takes stay frame-comparable while they play.
(function () {
  "use strict";
  const DRIFT_SECONDS = 0.08;

  function setUp(root) {
    const videos = Array.from(root.querySelectorAll("[data-compare-video]"));
    const play = root.querySelector("[data-compare-play]");
    const seek = root.querySelector("[data-compare-seek]");
    const time = root.querySelector("[data-compare-time]");
    if (videos.length < 2 || !play || !seek) return;
    const leader = videos[0];
    const longest = () => Math.max(...videos.map((video) => video.duration || 0));

    function seekAll(seconds) {
      videos.forEach((video) => { video.currentTime = Math.min(seconds, video.duration || seconds); });
    }
    function showTime() {
      const length = longest();
      time.textContent = leader.currentTime.toFixed(1) + " s";
      if (length) seek.value = String(Math.round((leader.currentTime / length) * 1000));
    }
    function setPlaying(playing) {
      play.textContent = playing ? "Pause all" : "Play all";
      play.setAttribute("aria-pressed", playing ? "true" : "false");
    }

    play.addEventListener("click", () => {
      if (leader.paused) {
        seekAll(leader.ended ? 0 : leader.currentTime);
        videos.forEach((video) => video.play().catch(() => {}));
        setPlaying(true);
      } else {
        videos.forEach((video) => video.pause());
        seekAll(leader.currentTime);
        setPlaying(false);
      }
    });
    seek.addEventListener("input", () => seekAll((Number(seek.value) / 1000) * longest()));
    leader.addEventListener("timeupdate", () => {
      showTime();
      if (leader.paused) return;
      videos.slice(1).forEach((video) => {
        if (!video.ended && Math.abs(video.currentTime - leader.currentTime) > DRIFT_SECONDS) video.currentTime = leader.currentTime;
      });
    });
    leader.addEventListener("ended", () => { videos.forEach((video) => video.pause()); setPlaying(false); });
  }

  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-compare]").forEach(setUp));
})();
