// The rate-table import: a chosen file is read into the form's text area, so the form
// stays a plain POST (no multipart) and the merchant can see what will be sent.
document.addEventListener("DOMContentLoaded", function () {
  var file = document.getElementById("csv-file");
  var text = document.getElementById("csv");
  if (!file || !text) return;
  file.addEventListener("change", function () {
    if (!file.files.length) return;
    var reader = new FileReader();
    reader.onload = function () { text.value = reader.result; };
    reader.readAsText(file.files[0]);
  });
});
