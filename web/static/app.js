// The only script: send the session's CSRF token with fetch()/HTMX requests that change
// something.  Forms carry it as a hidden field and need no script.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  var header = document.querySelector('meta[name="csrf-header"]');
  if (!token || !header) { return; }
  var name = header.content, value = token.content;
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers[name] = value;
  });
  // For page scripts: vidaudit.fetch(url, {method: "POST", body: ...}).
  window.vidaudit = {
    fetch: function (url, options) {
      options = options || {};
      options.headers = Object.assign({}, options.headers || {});
      options.headers[name] = value;
      options.credentials = "same-origin";
      return window.fetch(url, options);
    }
  };
})();
