// Keys for working through the queue: "j" opens the next, "k" the previous (the links marked
// data-key="next" / "prev" on the page; without this script the links work as they are).
// Not while typing in a field, nor with a modifier held (the browser's own shortcuts).
"use strict";
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName))) return;
  var key = { j: "next", k: "prev" }[event.key];
  if (!key) return;
  var link = document.querySelector('a[data-key="' + key + '"]');
  if (link) {
    event.preventDefault();
    window.location.assign(link.href);
  }
});
