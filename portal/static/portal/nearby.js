/* The home page's "near me" control: the browser's position goes to the server as ?lat=&lon=.
   Without JavaScript or geolocation the control stays hidden and the page lists recent cases
   across the city. Strings come from data- attributes, which the template translates. */
(function () {
  "use strict";
  var form = document.getElementById("nearby-form");
  if (!form || !navigator.geolocation) { return; }
  var status = document.getElementById("nearby-status");
  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    status.textContent = form.dataset.labelLocating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      // Four decimals (about 10 m) are plenty for a 2 km search and keep the exact spot out of logs.
      form.elements.lat.value = pos.coords.latitude.toFixed(4);
      form.elements.lon.value = pos.coords.longitude.toFixed(4);
      form.submit();
    }, function () {
      status.textContent = form.dataset.labelNoGeolocation;
    }, { timeout: 15000, maximumAge: 60000 });
  });
}());
