// Spot-check task page: pulling frames, stepping ±N s and pulling a clip must not throw
// away the review being typed.  Forms marked data-partial (in the frames and the clips
// sections) are sent with fetch(); the server answers JSON (a message in the reader's
// words), then the frames and clips sections, the task's status and the evidence chips of
// the review form are refreshed from the page while verdicts, notes and ticks stay.
// Without script the same forms post normally and the page comes back (nothing typed yet
// is lost then only if the reviewer pulls before typing, which the page's order suggests).
(function () {
  "use strict";
  // the parts of the page a pull changes, by id; each section has its own status line
  var SECTIONS = ["frames", "clips"];
  var review = document.getElementById("review-form");
  if (!document.getElementById("frames") || !window.vidaudit) { return; }

  function status(section, text, ok) {
    var box = document.querySelector("#" + section + " [data-pull-status]");
    if (!box) { return; }
    box.textContent = text;
    box.className = ok ? "rv-msg ok" : "alert";
    box.setAttribute("role", ok ? "status" : "alert");
    box.hidden = false;
  }

  function ticked() {
    var chosen = {};
    if (!review) { return chosen; }
    review.querySelectorAll(".rv-attach input[type=checkbox]").forEach(function (box) {
      if (box.checked) { chosen[box.name + "|" + box.value] = true; }
    });
    return chosen;
  }

  function replaceById(page, id) {
    var old = document.getElementById(id);
    var fresh = page.getElementById(id);
    if (old && fresh) { old.replaceWith(fresh); }
  }

  function refresh(section, message) {
    return window.fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (reply) { return reply.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        SECTIONS.concat(["task-status"]).forEach(function (id) { replaceById(page, id); });
        bind();
        if (review) {
          var keep = ticked();
          review.querySelectorAll(".rv-attach[data-item]").forEach(function (box) {
            var item = box.getAttribute("data-item");
            var next = page.querySelector('.rv-attach[data-item="' + item + '"]');
            if (!next) { return; }
            next.querySelectorAll("input[type=checkbox]").forEach(function (input) {
              input.checked = !!keep[input.name + "|" + input.value];
            });
            box.replaceChildren.apply(box, Array.prototype.slice.call(next.childNodes));
          });
        }
        status(section, message, true);
      }, function () {
        // pulled, but the page could not be fetched again: say so rather than pull twice
        status(section, message, true);
      });
  }

  function send(section, form, submitter) {
    var body = new FormData(form);
    if (submitter && submitter.name) { body.append(submitter.name, submitter.value); }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    // a clip streams in real time: say it is on its way (the form carries the words)
    if (form.hasAttribute("data-busy")) { status(section, form.getAttribute("data-busy"), true); }
    window.vidaudit.fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" }
    }).then(function (reply) {
      return reply.json().then(function (answer) {
        // no message (a refusal the app answers for every route: session over, CSRF)
        if (typeof answer.message !== "string") { throw new Error("no message"); }
        if (answer.ok) { return refresh(section, answer.message); }
        status(section, answer.message, false);
      });
    }).catch(function () {
      // not an answer we understand: let the browser do it the plain way
      form.submit();
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  function bind() {
    SECTIONS.forEach(function (section) {
      var part = document.getElementById(section);
      if (!part) { return; }
      part.querySelectorAll("form[data-partial]").forEach(function (form) {
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          send(section, form, event.submitter);
        });
      });
    });
  }
  bind();

  // A review typed but not submitted: the browser asks before the page is left.
  if (review) {
    var dirty = false;
    review.addEventListener("input", function () { dirty = true; });
    review.addEventListener("change", function () { dirty = true; });
    review.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }
})();
