/* The field app's service worker (served by field.views.service_worker; scope /field/).
   It keeps the app shell so the app opens without signal. It never touches a POST: reports wait in
   the page's own queue (IndexedDB, field.js) and go to the API when the signal returns. */
"use strict";
var SHELL = "field-shell-{{ version }}";
var PAGES = {{ pages|safe }};
var ASSETS = {{ assets|safe }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    // Pages only when they come straight back: a redirect (to the login page) must not be kept as the app.
    var pages = PAGES.map(function (url) {
      return fetch(url, { credentials: "same-origin", redirect: "manual" }).then(function (response) {
        return response.ok ? cache.put(url, response) : null;
      }, function () { return null; });
    });
    return Promise.all([cache.addAll(ASSETS)].concat(pages));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (key) {
      return key.indexOf("field-shell-") === 0 && key !== SHELL;
    }).map(function (key) { return caches.delete(key); }));
  }).then(function () { return self.clients.claim(); }));
});

// Pages: the network first (always fresh with signal), the kept copy without. Shell assets: the kept copy.
// A page is kept only as the plain page: not a filtered one (?grid=), not one showing a one-time
// message (the server marks those no-store).
function keepable(url, response) {
  return response.ok && PAGES.indexOf(url.pathname) !== -1 && url.search === "" &&
    (response.headers.get("Cache-Control") || "").indexOf("no-store") === -1;
}

function page(request) {
  var url = new URL(request.url);
  var path = url.pathname;
  return fetch(request).then(function (response) {
    if (keepable(url, response)) {
      var copy = response.clone();
      caches.open(SHELL).then(function (cache) { cache.put(path, copy); });
    }
    return response;
  }, function () {
    return caches.open(SHELL).then(function (cache) {
      return cache.match(path).then(function (hit) { return hit || cache.match(PAGES[0]); });
    }).then(function (hit) { return hit || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    event.respondWith(page(request));
  } else if (ASSETS.indexOf(url.pathname) !== -1) {
    event.respondWith(caches.match(url.pathname).then(function (hit) { return hit || fetch(request); }));
  }
});

// field.js asks for this when someone logs out: the next person on this phone must not see their pages.
self.addEventListener("message", function (event) {
  if (event.data === "forget-pages") {
    event.waitUntil(caches.open(SHELL).then(function (cache) {
      return Promise.all(PAGES.map(function (url) { return cache.delete(url); }));
    }));
  }
});
