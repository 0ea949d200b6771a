/* The command centre's map: the grid map (grid/boundaries.js) over the tiles when they load, and the
   open cases as dots coloured by lateness, then by status, clustered where dense. */
(function () {
  "use strict";
  var el = document.getElementById("centre-map");
  if (!el || typeof window.L === "undefined") { return; }
  var colours = { overdue: "#ba2121", due_soon: "#d18b00", reported: "#417690", returned: "#7a4f9a",
                  reopened: "#7a4f9a" };
  var map = L.map(el, { zoomControl: false }).setView([40.84, 111.75], 12);
  L.control.zoom({ zoomInTitle: el.dataset.labelZoomIn, zoomOutTitle: el.dataset.labelZoomOut }).addTo(map);
  if (el.dataset.tileUrl) { L.tileLayer(el.dataset.tileUrl, { maxZoom: 19, attribution: "&copy; OpenStreetMap" }).addTo(map); }
  if (window.civicBoundaries) {
    window.civicBoundaries(map, { url: el.dataset.boundaries, within: el.dataset.within, fit: true,
                                  level: el.dataset.within ? 5 : 4 });
  }
  var clusters = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 });
  map.addLayer(clusters);
  var request = new XMLHttpRequest();
  request.open("GET", el.dataset.cases);
  request.onload = function () {
    if (request.status !== 200) { return; }
    var data = JSON.parse(request.responseText);
    var points = [];
    data.features.forEach(function (f) {
      var p = f.properties;
      var at = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      points.push(at);
      var colour = colours[p.lateness] || colours[p.status] || "#205067";
      var dot = L.circleMarker(at, { radius: 7, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 0.95 });
      var popup = document.createElement("div");
      var link = document.createElement("a");
      link.href = p.url;
      link.textContent = p.reference;
      popup.appendChild(link);
      popup.appendChild(document.createTextNode(" · " + p.category + " · " + p.status_label));
      dot.bindPopup(popup);
      clusters.addLayer(dot);
    });
    if (points.length && !el.dataset.within) { map.fitBounds(points, { padding: [20, 20], maxZoom: 16 }); }
    if (data.truncated) { document.getElementById("centre-map-status").textContent = el.dataset.labelTruncated; }
  };
  request.send();
}());
