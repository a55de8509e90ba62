// The questionnaire page's diagram: drawn from the Mermaid text the server put in the page (no
// network needed), then made readable at any size: the picture keeps its natural size in a frame
// that zooms (buttons, + and -, Ctrl + wheel) and pans (drag, arrow keys). Without JavaScript the
// page still explains every step, and the section picker (a plain form) still works.
"use strict";

const frame = document.querySelector(".diagram");
const tools = document.querySelector(".diagram-tools");
const picker = document.querySelector(".section-picker select");

if (picker) {
  picker.addEventListener("change", () => picker.form.submit());
}

mermaid.initialize({ startOnLoad: false, securityLevel: "strict", state: { useMaxWidth: false } });
if (frame) {
  mermaid.run({ nodes: frame.querySelectorAll(".mermaid") }).then(() => {
    const svg = frame.querySelector("svg");
    if (svg) {
      zoomable(svg);
    }
  });
}

function zoomable(svg) {
  const box = svg.viewBox.baseVal;
  const full = { x: box.x, y: box.y, width: box.width, height: box.height };
  svg.removeAttribute("style"); // Mermaid's max-width: the frame decides the size now
  svg.setAttribute("width", "100%");
  svg.setAttribute("height", "100%");
  frame.classList.add("zoomable");
  const level = tools.querySelector("[data-zoom-level]");
  let view = { ...full };

  // Natural size is 1 diagram unit per screen pixel: the size whose words read like the page's.
  function scale() {
    return Math.min(frame.clientWidth / view.width, frame.clientHeight / view.height);
  }
  function show() {
    svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.width} ${view.height}`);
    svg.dataset.scale = scale().toFixed(3);
    level.textContent = `${Math.round(scale() * 100)}%`;
  }
  // Zoom by `factor` (above 1: closer) keeping the diagram point (cx, cy) where it is.
  function zoom(factor, cx = view.x + view.width / 2, cy = view.y + view.height / 2) {
    const next = scale() * factor;
    if (next < 0.05 || next > 8) return;
    view = {
      x: cx - (cx - view.x) / factor,
      y: cy - (cy - view.y) / factor,
      width: view.width / factor,
      height: view.height / factor,
    };
    show();
  }
  function fit() {
    view = { ...full };
    show();
  }
  // Where the diagram starts (the start mark, else its first step), in diagram units: read
  // while the whole diagram is shown, before any zoom.
  const first = svg.querySelector('g.node[id*="root_start"]') || svg.querySelector("g.node");
  const start = { x: full.x + full.width / 2, y: full.y };
  if (first) {
    const rect = first.getBoundingClientRect();
    const point = svg.createSVGPoint();
    point.x = rect.left + rect.width / 2;
    point.y = rect.top;
    const at = point.matrixTransform(svg.getScreenCTM().inverse());
    start.x = at.x;
    start.y = Math.max(full.y, at.y - 40);
  }
  // Natural size, from where the diagram starts.
  function natural() {
    const width = frame.clientWidth;
    const height = frame.clientHeight;
    const x = Math.max(full.x, Math.min(start.x - width / 2, full.x + full.width - width));
    view = { x: x, y: start.y, width: width, height: height };
    show();
  }
  function pan(dx, dy) {
    const s = scale();
    view = { ...view, x: view.x + dx / s, y: view.y + dy / s };
    show();
  }

  tools.hidden = false;
  tools.addEventListener("click", (event) => {
    const action = event.target.closest("[data-zoom]")?.dataset.zoom;
    if (action === "in") zoom(1.25);
    else if (action === "out") zoom(0.8);
    else if (action === "fit") fit();
    else if (action === "reset") natural();
  });

  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY };
    svg.setPointerCapture(event.pointerId);
    frame.classList.add("dragging");
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    pan(drag.x - event.clientX, drag.y - event.clientY);
    drag = { x: event.clientX, y: event.clientY };
  });
  const stop = () => {
    drag = null;
    frame.classList.remove("dragging");
  };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);
  frame.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey) return; // a plain wheel scrolls the page, as everywhere else
      event.preventDefault();
      const point = svg.createSVGPoint();
      point.x = event.clientX;
      point.y = event.clientY;
      const at = point.matrixTransform(svg.getScreenCTM().inverse());
      zoom(event.deltaY < 0 ? 1.1 : 1 / 1.1, at.x, at.y);
    },
    { passive: false },
  );
  frame.addEventListener("keydown", (event) => {
    const step = 60;
    const keys = {
      "+": () => zoom(1.25),
      "=": () => zoom(1.25),
      "-": () => zoom(0.8),
      "0": () => natural(),
      ArrowLeft: () => pan(-step, 0),
      ArrowRight: () => pan(step, 0),
      ArrowUp: () => pan(0, -step),
      ArrowDown: () => pan(0, step),
    };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    }
  });

  // A whole diagram that reads at its natural size fits the frame; a larger one starts at its
  // natural size, at the top, and is moved and zoomed from there.
  if (full.width <= frame.clientWidth && full.height <= frame.clientHeight) fit();
  else natural();
}
