/* The grid map as a base layer for every Leaflet map of Civic: the outlines of the communities from
   Civic's own data (GET /api/v1/grid/boundaries/), and of the grids in view once zoomed in. Drawn in a
   pane above the tiles and below the markers, so a map stays readable where no tile server answers.

   civicBoundaries(map, {url: "/api/v1/grid/boundaries/", within: nodeId, level: 4, gridsFromZoom: 15}) */
(function () {
  "use strict";
  if (typeof window.L === "undefined") { return; }

  function get(url, done) {
    var request = new XMLHttpRequest();
    request.open("GET", url);
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status === 200) { done(JSON.parse(request.responseText)); }
    };
    request.send();
  }

  window.civicBoundaries = function (map, options) {
    options = options || {};
    var url = options.url;
    var level = options.level || 4;
    var gridsFromZoom = options.gridsFromZoom || 15;
    var within = options.within ? "&within=" + encodeURIComponent(options.within) : "";
    var pane = map.getPane("civic-boundaries") || map.createPane("civic-boundaries");
    pane.style.zIndex = 250;  // tiles are at 200, markers and popups above 400
    pane.style.pointerEvents = "none";
    var outline = { pane: "civic-boundaries", interactive: false };
    var areas = L.geoJSON(null, L.extend({ style: { color: "#205067", weight: 2, fillColor: "#417690",
                                                    fillOpacity: 0.05 } }, outline)).addTo(map);
    var grids = L.geoJSON(null, L.extend({ style: { color: "#417690", weight: 1, dashArray: "4 3",
                                                    fill: false } }, outline)).addTo(map);
    var shown = "";
    get(url + "?level=" + level + within, function (data) {
      areas.addData(data);
      if (options.fit && areas.getBounds().isValid()) { map.fitBounds(areas.getBounds(), { padding: [10, 10] }); }
    });
    function gridsInView() {
      if (map.getZoom() < gridsFromZoom) { grids.clearLayers(); shown = ""; return; }
      var b = map.getBounds();
      var box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (x) { return x.toFixed(4); });
      var key = box.join(",");
      if (key === shown) { return; }
      shown = key;
      get(url + "?level=5&bbox=" + key + within, function (data) {
        if (shown !== key) { return; }
        grids.clearLayers();
        grids.addData(data);
      });
    }
    map.on("moveend", gridsInView);
    gridsInView();
    return { areas: areas, grids: grids };
  };
}());
