/* A node's page: its outline and those of its children (grid/boundaries.js), over tiles when they load. */
(function () {
  "use strict";
  var el = document.getElementById("centre-map");
  if (!el || typeof window.L === "undefined" || !window.civicBoundaries) { return; }
  var map = L.map(el, { zoomControl: false }).setView([40.84, 111.75], 12);
  L.control.zoom({ zoomInTitle: el.dataset.labelZoomIn, zoomOutTitle: el.dataset.labelZoomOut }).addTo(map);
  if (el.dataset.tileUrl) { L.tileLayer(el.dataset.tileUrl, { maxZoom: 19, attribution: "&copy; OpenStreetMap" }).addTo(map); }
  var level = Math.min(Number(el.dataset.level) + 1, 5);
  window.civicBoundaries(map, { url: el.dataset.boundaries, within: el.dataset.within, level: level, fit: true });
}());
