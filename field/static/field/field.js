/* The field app on the phone: photos downscaled before upload, the location and grid of a report,
   and the queue that keeps reports taken without signal (IndexedDB) and sends each exactly once
   (its Idempotency-Key) when the signal returns. Every page also works without this file: the
   forms post to Django views. Strings come translated from the template (#texts). */
(function () {
  "use strict";
  var body = document.body;
  var T = document.getElementById("texts").dataset;
  var USER = body.dataset.user;
  var MAX_SIDE = 1600;
  var QUALITY = 0.8;
  var RETRY_MS = 30000;

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    // Outside a secure context (plain http on a LAN address) randomUUID is missing; getRandomValues is not.
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return match ? decodeURIComponent(match[1]) : (input ? input.value : "");
  }

  var statusLine = document.getElementById("status");
  // The status line; with `href`, the reference in it links to the case.
  function say(text, reference, href) {
    statusLine.textContent = "";
    var parts = reference ? text.split(reference) : [text];
    parts.forEach(function (part, index) {
      if (index > 0) {
        var a = document.createElement("a");
        a.href = href;
        a.textContent = reference;
        statusLine.appendChild(a);
      }
      statusLine.appendChild(document.createTextNode(part));
    });
  }

  //
  // Errors next to a field, in the same markup as the server's (portal/_field.html)
  //

  function describedBy(input, without) {
    return (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
      return id && id !== without;
    });
  }

  function clearError(input) {
    var id = input.id + "_error";
    var old = document.getElementById(id);
    if (old) { old.remove(); }
    var field = input.closest(".field");
    if (field) { field.classList.remove("has-error"); }
    input.removeAttribute("aria-invalid");
    var rest = describedBy(input, id);
    if (rest.length) { input.setAttribute("aria-describedby", rest.join(" ")); } else { input.removeAttribute("aria-describedby"); }
  }

  function showError(input, messages) {
    clearError(input);
    var box = document.createElement("div");
    box.id = input.id + "_error";
    box.setAttribute("role", "alert");
    var list = document.createElement("ul");
    list.className = "errorlist";
    messages.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    });
    box.appendChild(list);
    input.parentNode.insertBefore(box, input);
    var field = input.closest(".field");
    if (field) { field.classList.add("has-error"); }
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [box.id].concat(describedBy(input, box.id)).join(" "));
  }

  //
  // Photos: downscaled on the phone (a 12-megapixel photo becomes a few hundred kilobytes)
  //

  function shrink(file) {
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", QUALITY); });
    }).then(function (blob) {
      var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
      return new File([blob], name, { type: "image/jpeg" });
    });
  }

  // Keeps every photo taken (one camera shot per pick), downscaled, in the input itself, so that a
  // plain form post sends the small copies too.
  function photoField(input) {
    var kept = [];
    var busy = Promise.resolve();
    var thumbs = document.createElement("ul");
    thumbs.className = "thumbs";
    input.parentNode.insertBefore(thumbs, input.nextSibling);

    function sync() {
      var transfer = new DataTransfer();
      kept.forEach(function (file) { transfer.items.add(file); });
      input.files = transfer.files;
      Array.prototype.forEach.call(thumbs.querySelectorAll("img"), function (img) { URL.revokeObjectURL(img.src); });
      thumbs.textContent = "";
      kept.forEach(function (file, index) {
        var li = document.createElement("li");
        var img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = fmt(T.photo, { n: index + 1 });
        var remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = fmt(T.removePhoto, { n: index + 1 });
        remove.addEventListener("click", function () { kept.splice(index, 1); sync(); });
        li.appendChild(img);
        li.appendChild(remove);
        thumbs.appendChild(li);
      });
    }

    input.addEventListener("change", function () {
      var picked = Array.prototype.slice.call(input.files);
      var refused = [];
      clearError(input);
      busy = Promise.all(picked.map(function (file) {
        return shrink(file).catch(function () { refused.push(fmt(T.notImage, { name: file.name })); return null; });
      })).then(function (shrunk) {
        kept = kept.concat(shrunk.filter(Boolean));
        sync();
        if (refused.length) { showError(input, refused); }
      });
    });

    return {
      files: function () { return kept.slice(); },
      ready: function () { return busy; },
      clear: function () { kept = []; sync(); },
    };
  }

  var photoFields = {};
  Array.prototype.forEach.call(document.querySelectorAll("input[type=file]"), function (input) {
    photoFields[input.name + "@" + input.id] = photoField(input);
  });

  // Other forms with photos (case actions) post as usual, once their photos are downscaled; once only.
  Array.prototype.forEach.call(document.querySelectorAll("form[enctype='multipart/form-data']"), function (form) {
    if (form.id === "report-form") { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.dataset.sending) { return; }
      form.dataset.sending = "1";
      Promise.all(Array.prototype.map.call(form.querySelectorAll("input[type=file]"), function (input) {
        return photoFields[input.name + "@" + input.id].ready();
      })).then(function () { form.submit(); });
    });
  });

  //
  // The queue: reports waiting on this phone (IndexedDB), sent oldest first
  //

  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = indexedDB.open("civic-field", 1);
        request.onupgradeneeded = function () { request.result.createObjectStore("reports", { keyPath: "key" }); };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return dbPromise;
  }

  function store(mode, work) {
    return db().then(function (database) {
      return new Promise(function (resolve, reject) {
        var tx = database.transaction("reports", mode);
        var result = work(tx.objectStore("reports"));
        tx.oncomplete = function () { resolve(result && "result" in result ? result.result : undefined); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }

  function allReports() {
    return store("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return items.sort(function (a, b) { return a.created - b.created; });
    });
  }
  function putReport(item) { return store("readwrite", function (s) { s.put(item); }); }
  function dropReport(key) { return store("readwrite", function (s) { s.delete(key); }); }

  var queue = document.getElementById("queue");
  var queueList = document.getElementById("queue-list");
  var queueOther = document.getElementById("queue-other");

  function renderQueue() {
    return allReports().then(function (items) {
      var mine = items.filter(function (item) { return item.user === USER; });
      var others = items.length - mine.length;
      queueList.textContent = "";
      mine.forEach(function (item) { queueList.appendChild(queueRow(item)); });
      queueOther.hidden = others === 0;
      queueOther.textContent = fmt(T.otherAccount, { count: others });
      queue.hidden = items.length === 0;
    });
  }

  function queueRow(item) {
    var li = document.createElement("li");
    li.className = "queued " + item.state;
    li.dataset.key = item.key;
    var what = document.createElement("p");
    var time = new Date(item.created).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
    what.textContent = time + " · " + item.label + " · " + item.fields.description;
    var state = document.createElement("p");
    state.className = "state";
    state.textContent = item.state === "failed" ? fmt(T.refused, { message: item.error }) : T.waiting;
    var button = document.createElement("button");
    button.type = "button";
    if (item.state === "failed") {
      button.textContent = T.discard;
      button.addEventListener("click", function () { dropReport(item.key).then(renderQueue); });
    } else {
      button.textContent = T.sendNow;
      button.addEventListener("click", flush);
    }
    li.appendChild(what);
    li.appendChild(state);
    li.appendChild(button);
    return li;
  }

  function errorText(body) {
    var error = (body && body.error) || {};
    var fields = error.fields || {};
    var texts = Object.keys(fields).reduce(function (all, key) { return all.concat(fields[key]); }, []);
    return texts.length ? texts.join(" ") : (error.message || "");
  }

  // One report to the API. Resolves "sent", "kept" (try again later) or "refused" (the server said no).
  function send(item) {
    var data = new FormData();
    Object.keys(item.fields).forEach(function (name) {
      var value = item.fields[name];
      if (value !== "" && value !== null && value !== undefined) { data.append(name, value); }
    });
    item.photos.forEach(function (file) { data.append("photos", file, file.name); });
    item.after_photos.forEach(function (file) { data.append("after_photos", file, file.name); });
    return fetch(body.dataset.api, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Idempotency-Key": item.key, "X-CSRFToken": csrfToken(), "Accept": "application/json" },
    }).then(function (response) {
      if (response.status === 200 || response.status === 201) {
        return response.json().then(function (caseData) {
          return dropReport(item.key).then(function () {
            var replayed = response.headers.get("Idempotent-Replayed") === "true";
            say(fmt(replayed ? T.replayed : T.sent, { reference: caseData.reference }), caseData.reference,
                body.dataset.caseUrl.replace("/0/", "/" + caseData.id + "/"));
            return "sent";
          });
        });
      }
      if (response.status === 401) {
        say(T.loginAgain, T.loginAgain, body.dataset.loginUrl + "?next=" + encodeURIComponent(location.pathname));
        return "kept";
      }
      if (response.status >= 500 || response.status === 408 || response.status === 429) { return "kept"; }
      return response.json().catch(function () { return {}; }).then(function (errorBody) {
        item.state = "failed";
        item.error = errorText(errorBody) || String(response.status);
        say(fmt(T.refused, { message: item.error }));
        return putReport(item).then(function () { return "refused"; });
      });
    }, function () { return "kept"; });
  }

  var flushing = null;
  var again = false;
  function sendAll() {
    if (!navigator.onLine) { return Promise.resolve(); }
    return allReports().then(function (items) {
      var waiting = items.filter(function (item) { return item.user === USER && item.state === "waiting"; });
      // One at a time, oldest first; no signal (or a server in trouble) ends the round.
      return waiting.reduce(function (chain, item) {
        return chain.then(function (go) { return go ? send(item).then(function (r) { return r !== "kept"; }) : false; });
      }, Promise.resolve(true));
    });
  }

  function flush() {
    if (flushing) { again = true; return flushing; }
    // One sender per phone, also with the app open in two tabs (the idempotency key covers the rest).
    var run = navigator.locks ? navigator.locks.request("civic-field-queue", sendAll) : sendAll();
    flushing = run.catch(function () {}).then(function () {
      flushing = null;
      if (again) { again = false; return flush(); }
      return renderQueue();
    });
    return flushing;
  }

  //
  // The report screen
  //

  function inRing(lat, lon, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }

  function reportScreen(form) {
    var grids = JSON.parse(document.getElementById("report-grids").textContent);
    var el = form.elements;
    var fixLine = document.getElementById("fix");
    var locateButton = document.getElementById("locate");
    var photos = photoFields[el.photos.name + "@" + el.photos.id];
    var after = el.after_photos ? photoFields[el.after_photos.name + "@" + el.after_photos.id] : null;
    var onSpot = document.getElementById("on-spot");
    var fix = null;

    function gridAt(lat, lon) {
      return grids.filter(function (g) {
        return g.rings.some(function (ring) { return inRing(lat, lon, ring); });
      })[0] || null;
    }

    function noFix() {
      fix = null;
      el.lat.value = "";
      el.lon.value = "";
      checkDuplicates();
      fixLine.textContent = T.noFix;
      fixLine.className = "fix warn";
      if (grids.length === 1) { el.grid.value = String(grids[0].id); }
    }

    // The open cases of the same kind near the fix (the API decides which this user may see), so that a
    // problem already reported is followed up on its case rather than reported twice. Needs signal.
    var duplicates = document.getElementById("duplicates");
    var duplicateList = document.getElementById("duplicates-list");
    var lastQuery = "";
    function checkDuplicates() {
      if (!fix || !el.category.value || !navigator.onLine) { duplicates.hidden = true; lastQuery = ""; return; }
      var query = new URLSearchParams({ category: el.category.value, lat: el.lat.value, lon: el.lon.value }).toString();
      if (query === lastQuery) { return; }
      lastQuery = query;
      fetch(body.dataset.api + "nearby/?" + query, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (query !== lastQuery) { return; }
          duplicateList.textContent = "";
          (data ? data.results : []).forEach(function (found) { duplicateList.appendChild(duplicateRow(found)); });
          document.getElementById("duplicates-help").textContent = fmt(T.duplicatesHelp, { radius: data ? data.radius_m : "" });
          duplicates.hidden = !duplicateList.children.length;
        }, function () { duplicates.hidden = true; });
    }

    function duplicateRow(found) {
      var li = document.createElement("li");
      var reference = document.createElement(found.id ? "a" : "strong");
      if (found.id) { reference.href = body.dataset.caseUrl.replace("/0/", "/" + found.id + "/"); }
      reference.textContent = found.reference;
      li.appendChild(reference);
      li.appendChild(document.createTextNode(" · " + found.category_name + " · " + found.status_display + " · " +
        fmt(T.duplicateDistance, { distance: found.distance_m })));
      var text = document.createElement("p");
      text.textContent = found.description;
      li.appendChild(text);
      return li;
    }
    el.category.addEventListener("change", checkDuplicates);

    function locate() {
      if (!navigator.geolocation) { noFix(); return; }
      fixLine.textContent = T.locating;
      fixLine.className = "fix";
      navigator.geolocation.getCurrentPosition(function (position) {
        var c = position.coords;
        fix = { lat: c.latitude, lon: c.longitude, accuracy: Math.round(c.accuracy) };
        el.lat.value = fix.lat.toFixed(6);
        el.lon.value = fix.lon.toFixed(6);
        checkDuplicates();
        var grid = gridAt(fix.lat, fix.lon);
        if (grid) {
          el.grid.value = String(grid.id);
          fixLine.textContent = fmt(T.located, { accuracy: fix.accuracy, grid: grid.name });
          fixLine.className = "fix ok";
        } else {
          // A point outside the grid a report names is refused by the server: outside the worker's
          // grids the fix cannot stand for the report, which goes to the picked grid's centre with
          // an address, as without a fix.
          fixLine.textContent = fmt(T.outside, { accuracy: fix.accuracy });
          fixLine.className = "fix warn";
          fix = null;
          el.lat.value = "";
          el.lon.value = "";
          el.grid.value = grids.length === 1 ? String(grids[0].id) : "";
        }
      }, noFix, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    }

    // A fresh key per page: the service worker may open this very page (and its key) many times offline.
    el.client_key.value = newKey();
    locateButton.hidden = false;
    locateButton.addEventListener("click", locate);
    locate();

    function toggleOnSpot() { if (onSpot) { onSpot.hidden = !el.resolve_on_spot.checked; } }
    if (el.resolve_on_spot) { el.resolve_on_spot.addEventListener("change", toggleOnSpot); }
    toggleOnSpot();

    function problems() {
      var found = [];
      var need = function (input, ok, text) { if (!ok) { found.push([input, text]); } };
      need(el.category, el.category.value, T.chooseCategory);
      if (!fix) { need(el.address, el.address.value.trim(), T.giveAddress); }
      need(el.grid, fix && gridAt(fix.lat, fix.lon) || el.grid.value, T.pickGrid);
      need(el.description, el.description.value.trim(), T.describe);
      if (el.resolve_on_spot && el.resolve_on_spot.checked) {
        need(el.resolution, el.resolution.value.trim(), T.sayResolution);
        need(el.after_photos, after.files().length, T.afterPhoto);
      }
      return found;
    }

    function item() {
      var grid = grids.filter(function (g) { return String(g.id) === el.grid.value; })[0];
      var spot = Boolean(el.resolve_on_spot && el.resolve_on_spot.checked);
      return {
        key: el.client_key.value, user: USER, created: Date.now(), state: "waiting",
        label: el.category.options[el.category.selectedIndex].text,
        fields: {
          category: el.category.value, description: el.description.value.trim(), address: el.address.value.trim(),
          grid: el.grid.value, lat: fix ? el.lat.value : grid.lat, lon: fix ? el.lon.value : grid.lon,
          resolve_on_spot: spot ? "true" : "false", resolution: spot ? el.resolution.value.trim() : "",
        },
        photos: photos.files(), after_photos: spot ? after.files() : [],
      };
    }

    function reset() {
      ["category", "description", "address"].forEach(function (name) { el[name].value = ""; });
      photos.clear();
      if (el.resolve_on_spot) {
        el.resolve_on_spot.checked = false;
        el.resolution.value = "";
        after.clear();
        toggleOnSpot();
      }
      el.client_key.value = newKey();
      locate();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      Promise.all([photos.ready(), after ? after.ready() : null]).then(function () {
        [el.category, el.address, el.grid, el.description, el.resolution, el.after_photos].forEach(function (input) {
          if (input) { clearError(input); }
        });
        var found = problems();
        if (found.length) {
          found.forEach(function (p) { showError(p[0], [p[1]]); });
          found[0][0].focus();
          return;
        }
        var report = item();
        putReport(report).then(function () {
          reset();
          say(navigator.onLine ? T.sending : T.queued);
          window.scrollTo(0, 0);
          return renderQueue().then(flush).then(allReports).then(function (items) {
            if (items.some(function (i) { return i.key === report.key && i.state === "waiting"; })) { say(T.queued); }
          });
        }, function () {
          // No storage on this phone (a private window, a full disk): post the form as it is, which
          // carries the same key, the downscaled photos and the location.
          form.submit();
        });
      });
    });
  }

  //
  // Start
  //

  var offline = document.getElementById("offline");
  function showSignal() { offline.hidden = navigator.onLine; }
  window.addEventListener("offline", showSignal);
  window.addEventListener("online", function () { showSignal(); flush(); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { flush(); } });
  showSignal();

  // Ask the browser not to evict the queue when the phone runs short of space.
  if (navigator.storage && navigator.storage.persist) { navigator.storage.persist(); }
  var reportForm = document.getElementById("report-form");
  if (reportForm) { reportScreen(reportForm); }
  renderQueue().then(flush);
  setInterval(flush, RETRY_MS);

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope });
    var logout = document.getElementById("logout");
    logout.addEventListener("submit", function () {
      if (navigator.serviceWorker.controller) { navigator.serviceWorker.controller.postMessage("forget-pages"); }
    });
  }
}());
