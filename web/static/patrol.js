// Video-wall patrol (D8): show one page of tiles at a time and move on every
// data-interval seconds; pause, previous and next by button.  Without this script every
// tile is simply listed, flagged ones first.
(function () {
  "use strict";
  var root = document.getElementById("patrol");
  var wall = document.getElementById("patrol-wall");
  if (!root || !wall) { return; }
  var tiles = Array.prototype.slice.call(wall.querySelectorAll(".tile"));
  var perPage = Math.max(1, parseInt(root.getAttribute("data-per-page"), 10) || 4);
  var seconds = Math.max(3, parseInt(root.getAttribute("data-interval"), 10) || 10);
  var pages = Math.max(1, Math.ceil(tiles.length / perPage));
  var page = 0, timer = null, paused = false;
  var controls = root.querySelector(".patrol-controls");
  var pauseButton = document.getElementById("patrol-pause");
  var label = document.getElementById("patrol-page");

  function show(n) {
    page = (n + pages) % pages;
    tiles.forEach(function (tile, i) {
      tile.hidden = Math.floor(i / perPage) !== page;
    });
    if (label) { label.textContent = (page + 1) + " / " + pages; }
  }
  function start() {
    stop();
    if (!paused && pages > 1) {
      timer = window.setInterval(function () { show(page + 1); }, seconds * 1000);
    }
  }
  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
  }

  wall.classList.add("cycling");
  if (controls) { controls.hidden = false; }
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    pauseButton.textContent = pauseButton.getAttribute(paused ? "data-resume" : "data-pause");
    root.classList.toggle("paused", paused);
    start();
  });
  document.getElementById("patrol-prev").addEventListener("click", function () { show(page - 1); start(); });
  document.getElementById("patrol-next").addEventListener("click", function () { show(page + 1); start(); });
  // A hidden tab need not cycle; pick up again where it was.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); } else { start(); }
  });
  show(0);
  start();
})();
