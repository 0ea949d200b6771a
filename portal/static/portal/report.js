/* Progressive enhancement for the case pages: without JavaScript (or without map tiles) the
   latitude/longitude inputs and the list still work. Strings come from data- attributes, which
   the templates translate. */
(function () {
  "use strict";
  var hasLeaflet = typeof window.L !== "undefined";

  function baseMap(el, center, zoom) {
    el.hidden = false;
    // Leaflet's own zoom buttons are labelled in English: these take the page's language.
    var map = L.map(el, { zoomControl: false }).setView(center, zoom);
    L.control.zoom({ zoomInTitle: el.dataset.labelZoomIn, zoomOutTitle: el.dataset.labelZoomOut }).addTo(map);
    L.tileLayer(el.dataset.tileUrl, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
    return map;
  }

  // Report page: the open cases of the same kind near the point, fetched as the category and the location
  // are filled in (the server renders the list; without JavaScript the "look" button posts the form).
  var duplicates = document.getElementById("duplicates");
  var checkTimer = null;
  var lastQuery = "";
  function checkDuplicates() {
    window.clearTimeout(checkTimer);
    checkTimer = window.setTimeout(function () {
      var category = document.getElementById("id_category").value;
      var la = document.getElementById("id_lat").value;
      var lo = document.getElementById("id_lon").value;
      if (!category || !la || !lo || isNaN(Number(la)) || isNaN(Number(lo))) { return; }
      var query = new URLSearchParams({ category: category, lat: la, lon: lo }).toString();
      if (query === lastQuery) { return; }
      lastQuery = query;
      fetch(duplicates.dataset.url + "?" + query, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.text() : "";
      }).then(function (html) {
        if (query === lastQuery) { duplicates.innerHTML = html; }
      }, function () { /* no signal: the report can still be sent */ });
    }, 300);
  }
  if (duplicates) {
    document.getElementById("check-duplicates").parentNode.hidden = true;
  }

  // Report page: the map click and "use my location" fill the number inputs.
  var reportMap = document.getElementById("report-map");
  if (reportMap) {
    var lat = document.getElementById("id_lat");
    var lon = document.getElementById("id_lon");
    var status = document.getElementById("location-status");
    var marker = null;
    var map = null;
    var say = function (text) { if (status) { status.textContent = text || ""; } };
    var place = function (la, lo, pan) {
      if (!map) { return; }
      var point = [la, lo];
      if (marker) {
        marker.setLatLng(point);
      } else {
        // Not a control (the map and the inputs are): no Tab stop, and named in the page's language.
        marker = L.marker(point, { interactive: false, keyboard: false, alt: reportMap.dataset.labelMarker });
        marker.addTo(map);
      }
      if (pan) { map.setView(point, Math.max(map.getZoom(), 16)); }
    };
    var fill = function (la, lo) {
      lat.value = Number(la).toFixed(6);
      lon.value = Number(lo).toFixed(6);
      checkDuplicates();
    };
    if (hasLeaflet && reportMap.dataset.tileUrl) {
      var start = lat.value && lon.value ? [Number(lat.value), Number(lon.value)] : [40.8420, 111.7500];
      map = baseMap(reportMap, start, lat.value ? 16 : 12);
      var help = document.getElementById("map-help");
      if (help) { help.textContent = reportMap.dataset.labelMapHelp; help.hidden = false; }
      if (lat.value && lon.value) { place(start[0], start[1], false); }
      map.on("click", function (e) { fill(e.latlng.lat, e.latlng.lng); place(e.latlng.lat, e.latlng.lng, false); });
      var typed = function () {
        if (lat.value && lon.value && !isNaN(Number(lat.value)) && !isNaN(Number(lon.value))) {
          place(Number(lat.value), Number(lon.value), true);
        }
      };
      lat.addEventListener("change", typed);
      lon.addEventListener("change", typed);
    }
    lat.addEventListener("change", checkDuplicates);
    lon.addEventListener("change", checkDuplicates);
    document.getElementById("id_category").addEventListener("change", checkDuplicates);
    var button = document.getElementById("use-location");
    if (button && navigator.geolocation) {
      button.hidden = false;
      button.addEventListener("click", function () {
        say(reportMap.dataset.labelLocating);
        navigator.geolocation.getCurrentPosition(function (pos) {
          fill(pos.coords.latitude, pos.coords.longitude);
          place(pos.coords.latitude, pos.coords.longitude, true);
          say(reportMap.dataset.labelLocated);
        }, function () {
          say(reportMap.dataset.labelNoGeolocation);
        }, { enableHighAccuracy: true, timeout: 15000 });
      });
    }
  }

  // Public list: markers for the listed cases (the list stays the primary content).
  var casesMap = document.getElementById("cases-map");
  if (casesMap && hasLeaflet && casesMap.dataset.tileUrl) {
    var data = document.getElementById(casesMap.dataset.markers);
    var markers = data ? JSON.parse(data.textContent) : [];
    if (markers.length) {
      var m = baseMap(casesMap, [Number(markers[0].lat), Number(markers[0].lon)], 13);
      var bounds = [];
      markers.forEach(function (item) {
        var point = [Number(item.lat), Number(item.lon)];
        bounds.push(point);
        var popup = document.createElement("div");
        var link = document.createElement("a");
        link.href = casesMap.dataset.detailBase.replace("REF", encodeURIComponent(item.reference));
        link.textContent = item.reference;
        popup.appendChild(link);
        popup.appendChild(document.createTextNode(" · " + item.category + " · " + item.status));
        L.marker(point, { alt: item.reference + " · " + item.category }).addTo(m).bindPopup(popup);
      });
      if (bounds.length > 1) { m.fitBounds(bounds, { padding: [20, 20], maxZoom: 16 }); }
    }
  }
}());
