// Filters the rule table by status and text. State lives in the URL's fragment (#status=FAIL,MANUAL&q=ntp), so
// a filtered view can be bookmarked or passed on; nothing is fetched, nothing is stored.
(function () {
  var table = document.getElementById('rules');
  var q = document.getElementById('q');
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input[name=status]'));
  var shown = document.getElementById('shown');
  function apply() {
    var want = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var text = q.value.trim().toLowerCase();
    var n = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var ok = want.indexOf(row.dataset.status) >= 0 && (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n;
    var frag = 'status=' + want.join(',') + (text ? '&q=' + encodeURIComponent(text) : '');
    if (history.replaceState) { history.replaceState(null, '', '#' + frag); }
  }
  function load() {
    var h = location.hash.replace(/^#/, '');
    h.split('&').forEach(function (kv) {
      var p = kv.split('=');
      if (p[0] === 'status') {
        var s = decodeURIComponent(p[1] || '').split(',');
        boxes.forEach(function (b) { b.checked = s.indexOf(b.value) >= 0; });
      } else if (p[0] === 'q') {
        q.value = decodeURIComponent(p[1] || '');
      }
    });
  }
  if (location.hash) { load(); }
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  q.addEventListener('input', apply);
  apply();
})();
