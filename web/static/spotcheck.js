// Spot-check task page: pulling frames and stepping ±N s must not throw away the review
// being typed.  Forms marked data-partial are sent with fetch(); the server answers JSON
// (a message in the reader's words), then the frames section and the frame chips of the
// review form are refreshed from the page while verdicts, notes and ticked frames stay.
// Without script the same forms post normally and the page comes back (nothing typed yet
// is lost then only if the reviewer pulls before typing, which the page's order suggests).
(function () {
  "use strict";
  var frames = document.getElementById("frames");
  var review = document.getElementById("review-form");
  if (!frames || !window.vidaudit) { return; }

  function status(text, ok) {
    var box = document.getElementById("pull-status");
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

  function refresh(message) {
    return window.fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (reply) { return reply.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("frames");
        if (fresh) {
          frames.replaceWith(fresh);
          frames = fresh;
          bind();
        }
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
        status(message, true);
      });
  }

  function send(form, submitter) {
    var body = new FormData(form);
    if (submitter && submitter.name) { body.append(submitter.name, submitter.value); }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    window.vidaudit.fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" }
    }).then(function (reply) {
      return reply.json().then(function (answer) {
        if (answer.ok) { return refresh(answer.message); }
        status(answer.message, false);
      });
    }).catch(function () {
      // not an answer we understand: let the browser do it the plain way
      form.submit();
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  function bind() {
    frames.querySelectorAll("form[data-partial]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        send(form, event.submitter);
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
