// The partner console's one script (served as /console/console.js, allowed by the pages'
// `script-src 'self'`). Without it every page still works; it adds:
// - live discovery progress: while discovery is queued or running, the progress line is
//   polled every 2 s (announced through its aria-live region), and the page reloads once
//   discovery has finished, to show what it found;
// - "select every row" for the protect form.
(function () {
  'use strict';
  var progress = document.getElementById('progress');
  if (progress && progress.dataset.busy === 'true') {
    var tries = 0;
    var poll = function () {
      tries += 1;
      fetch(progress.dataset.url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) return;
          progress.textContent = p.text;
          if (!p.busy) {
            window.location.reload();
            return;
          }
          if (tries < 450) window.setTimeout(poll, 2000);
        })
        .catch(function () { if (tries < 450) window.setTimeout(poll, 5000); });
    };
    window.setTimeout(poll, 1000);
  }
  var all = document.getElementById('select-all');
  if (all) {
    all.addEventListener('change', function () {
      var boxes = document.querySelectorAll('input[type=checkbox][name=ids]');
      for (var i = 0; i < boxes.length; i += 1) boxes[i].checked = all.checked;
    });
  }
})();
