// E-bill forms that move money: the submit button is disabled once the form is sent, so one tap pays
// once (the form's token makes a second copy harmless on the server anyway).
document.querySelectorAll("form.pays").forEach(function (form) {
  form.addEventListener("submit", function () {
    form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
  });
});
