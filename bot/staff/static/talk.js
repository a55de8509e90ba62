// The conversation panel of an intake page, live: new patient messages and the delivery state of
// staff messages arrive as server-sent events (each message as JSON, added or updated by its id).
// Text is set with textContent, never as HTML; words come from the page (its data-word-*
// attributes, in the member's language). Saved replies fill the message box.
(function () {
  "use strict";
  var panel = document.getElementById("talk");
  if (!panel) return;
  var list = document.getElementById("talk-messages");
  var box = document.getElementById("talk-text");

  panel.querySelectorAll(".saved-reply").forEach(function (button) {
    button.addEventListener("click", function () {
      box.value = box.value ? box.value + "\n" + button.dataset.text : button.dataset.text;
      box.focus();
    });
  });

  function show(m) {
    var item = document.getElementById("t-" + m.id);
    if (!item) {
      item = document.createElement("li");
      item.id = "t-" + m.id;
      item.className = m.from === "patient" ? "in" : "out";
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = m.from === "patient" ? panel.dataset.wordPatient : m.sender || "";
      var time = document.createElement("time");
      time.dateTime = m.at;
      time.textContent = m.when || m.at.replace("T", " ").slice(0, 19);
      var state = document.createElement("span");
      state.className = "state";
      var text = document.createElement("p");
      text.textContent = m.text;
      item.append(who, " ", time, " ", state, text);
      list.appendChild(item);
      var empty = document.getElementById("talk-empty");
      if (empty) empty.remove();
    }
    item.dataset.state = m.state;
    item.querySelector(".state").textContent = panel.dataset["word" + m.state[0].toUpperCase() + m.state.slice(1)] || m.state;
  }

  var events = new EventSource("/intakes/" + panel.dataset.intake + "/talk/events");
  events.addEventListener("message", function (event) {
    show(JSON.parse(event.data));
  });
  events.addEventListener("gone", function () {
    events.close();
  });
})();
