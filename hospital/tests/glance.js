// What a person sees on the page, measured in the browser (hospital/tests/test_browser_glance.py):
// what sticks out of the screen, what is cut off, and whether each chart drew what its data holds.
// `wide` is the desktop's width: there even a scroll container that says so must not need scrolling.
(wide) => {
  "use strict";
  const width = document.documentElement.clientWidth;
  const describe = (el) => {
    const text = (el.innerText || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : "");
    return text ? `${name} "${text}"` : name;
  };
  const decode = (text) => new DOMParser().parseFromString(String(text), "text/html").documentElement.textContent;
  const squash = (text) => decode(text).replace(/<br>/g, "").replace(/\s+/g, "");

  // A scroll container that says so: it scrolls sideways, takes the keyboard's focus, and is named
  // as a region (so a screen reader announces it and a keyboard user can scroll it).
  const saysItScrolls = (el) =>
    ["auto", "scroll"].includes(getComputedStyle(el).overflowX) && el.getAttribute("role") === "region" &&
    el.tabIndex === 0 && (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby"));

  // Text for screen readers only (clipped to nothing, as .visually-hidden does) is not seen.
  const all = [...document.body.querySelectorAll("*")];
  const unseen = all.filter((el) => {
    const style = getComputedStyle(el);
    return (style.clip !== "auto" && style.position === "absolute") || /inset\(50%\)/.test(style.clipPath);
  });

  // 1. Nothing wider than the screen, but inside a scroll container that says so.
  const sticksOut = [];
  const cut = [];
  for (const el of all) {
    if (el.closest(".js-plotly-plot") || !el.checkVisibility({ visibilityProperty: true })) continue;
    if (unseen.some((hidden) => hidden.contains(el))) continue;
    const box = el.getBoundingClientRect();
    // Nothing to see, or parked wholly off the left edge on purpose (Plotly's text measurer).
    if (box.width === 0 || box.height === 0 || box.right <= 0) continue;
    let clipper = el.parentElement;
    while (clipper && clipper !== document.body && getComputedStyle(clipper).overflowX === "visible") {
      clipper = clipper.parentElement;
    }
    if (clipper && clipper !== document.body) {
      if (saysItScrolls(clipper)) continue;
      const edge = clipper.getBoundingClientRect();
      // Hidden by its box, or behind a sideways scroll that nothing announces.
      if (box.right > edge.right + 1 || box.left < edge.left - 1) {
        if (!cut.some((outer) => outer.contains(el))) cut.push(el);
        continue;
      }
    }
    if (box.right > width + 1 || box.left < -1) {
      if (!sticksOut.some((outer) => outer.contains(el))) sticksOut.push(el);
    }
  }

  // 2. Each chart: the marks it drew against the rows of its data, its categories, its text.
  const charts = [];
  for (const target of document.querySelectorAll("[data-figure]")) {
    const figure = JSON.parse(document.getElementById(target.dataset.figure).textContent);
    const layout = target._fullLayout;
    const chart = { id: target.id, drawn: Boolean(layout), traces: [], lost: [], textOutside: [] };
    charts.push(chart);
    if (!layout) continue;
    const traceGroups = [...target.querySelectorAll("g.trace")];
    figure.data.forEach((trace, index) => {
      if (trace.visible === "legendonly" || trace.visible === false) return;
      const xs = trace.x || [], ys = trace.y || [];
      const rows = ys.filter((y, i) => y !== null && y !== undefined && xs[i] !== null && xs[i] !== undefined).length;
      const group = traceGroups.find((g) => g.__data__ && g.__data__[0] && g.__data__[0].trace.index === index);
      const points = group ? [...group.querySelectorAll(".point")] : [];
      // A mark is a point Plotly drew a shape for, at a value it could place (a bar's size, a
      // marker's y): a gap in the data (null) is an empty bar, not a mark.
      const marks = points.filter((point) => {
        const shape = point.tagName === "path" ? point : point.querySelector("path");
        const d = shape && shape.getAttribute("d");
        const datum = point.__data__ || {};
        const value = datum.s !== undefined ? datum.s : datum.y;
        return d && d !== "M0,0Z" && !/NaN/.test(d) && Number.isFinite(value);
      }).length;
      chart.traces.push({ name: decode(trace.name || `trace ${index}`), rows, marks });
      const axis = layout[(trace.xaxis || "x").replace(/^x/, "xaxis")];
      if (axis.type === "category") {
        const axisId = axis._id;  // "x", "x2"
        const ticks = new Set([...target.querySelectorAll(`.${axisId}tick text`)].map((t) => squash(t.textContent)));
        for (const x of new Set(xs.filter((x) => x !== null).map(String))) {
          if (!ticks.has(squash(x))) chart.lost.push(decode(x));
        }
      } else {
        // A value its number or date axis cannot place (a group's name such as "2-3") is not drawn.
        chart.lost.push(...[...new Set(xs)].filter((x) => x !== null && !isFinite(axis.d2c(x))).map(decode));
      }
    });
    const frame = target.getBoundingClientRect();
    for (const text of target.querySelectorAll("svg.main-svg text")) {
      if (!text.textContent.trim() || text.closest(".hoverlayer")) continue;
      const box = text.getBoundingClientRect();
      if (box.width === 0) continue;
      if (box.left < frame.left - 1 || box.right > frame.right + 1 || box.top < frame.top - 1 ||
          box.bottom > frame.bottom + 1) {
        chart.textOutside.push(text.textContent.trim().slice(0, 60));
      }
    }
  }
  // Captions and headings wrap: none is cut to the width of its box.
  const truncated = [...document.querySelectorAll("figcaption, h1, h2, h3, th, caption")]
    .filter((el) => el.checkVisibility() && el.scrollWidth > el.clientWidth + 1 &&
      getComputedStyle(el).overflowX !== "visible")
    .map(describe);

  const scrolling = wide ? [...document.querySelectorAll("[role=region]")]
    .filter((el) => saysItScrolls(el) && el.scrollWidth > el.clientWidth + 1).map(describe) : [];

  return {
    width, pageWidth: document.documentElement.scrollWidth, scrolling,
    sticksOut: sticksOut.slice(0, 8).map((el) => `${describe(el)} to ${Math.round(el.getBoundingClientRect().right)} px`),
    cut: cut.slice(0, 8).map(describe), truncated, charts,
  };
}
