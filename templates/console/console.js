// The partner console's one script (served as /console/console.js, allowed by the pages'
// `script-src 'self'`). Without it every page still works; it adds:
// - live discovery progress: while discovery is queued or running, the progress line is
//   polled every 2 s (announced through its aria-live region), and the page reloads once
//   discovery has finished, to show what it found;
// - the next auto-add run in the browser's own time zone;
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
  // The next auto-add run in the browser's own time zone, beside the account's zone and UTC.
  var yours = document.getElementById('next-run-yours');
  if (yours && yours.dataset.at) {
    var at = new Date(yours.dataset.at);
    if (!isNaN(at.getTime())) {
      yours.textContent = 'Your time: ' + at.toLocaleString(undefined, {
        weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
      }) + '.';
    }
  }
  var all = document.getElementById('select-all');
  if (all) {
    all.addEventListener('change', function () {
      var boxes = document.querySelectorAll('input[type=checkbox][name=ids]');
      for (var i = 0; i < boxes.length; i += 1) boxes[i].checked = all.checked;
    });
  }
})();
