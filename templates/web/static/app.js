// matrixgen web app: small progressive enhancements. Every page works without this file.
// Part of matrixgen, under the project's licence; no third-party code.
(function () {
  "use strict";

  // A job's page: follow its progress without reloading, then show the result once it is done.
  function followJob(block) {
    var pk = block.getAttribute("data-job");
    var bar = block.querySelector("progress");
    var text = block.querySelector("[data-job-text]");
    function poll() {
      fetch("/jobs/" + pk + ".json", { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) {
          if (!job) { return; }
          if (job.finished) { window.location.reload(); return; }
          bar.max = job.total || 1;
          bar.value = job.done;
          bar.textContent = job.percent + "%";
          text.textContent = job.done + " of " + (job.total || "?") + (job.message ? " · " + job.message : "");
          window.setTimeout(poll, 700);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 400);
  }

  // The upload box: files dropped on it become the form's files; say how many are chosen.
  function dropzone(zone) {
    var input = zone.querySelector("input[type=file]");
    var chosen = zone.querySelector("[data-chosen]");
    function say() {
      var n = input.files ? input.files.length : 0;
      chosen.textContent = n ? n + (n === 1 ? " file chosen" : " files chosen") : "";
    }
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        say();
      }
    });
    input.addEventListener("change", say);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var job = document.querySelector("[data-job]");
    if (job && job.getAttribute("data-finished") === "no" && window.fetch) { followJob(job); }
    var zone = document.querySelector("[data-dropzone]");
    if (zone) { dropzone(zone); }
  });
})();
