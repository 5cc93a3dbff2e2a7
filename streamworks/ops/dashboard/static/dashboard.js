// The streamworks dashboard: draws /api/graph as boxes and arrows (SVG, left to right by
// layer) and fills the stage boxes from /api/status every REFRESH_MS. No libraries.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 2000;
const SPACING = 50;
const GAP = 18;
const WIDTH = { stage: 220, topic: 160, source: 160, sink: 160 };
const HEIGHT = { stage: 128, topic: 40, source: 44, sink: 44 };
// stage fields: [label, field, unit] per line; a line may hold two fields
const LINES = [
  [["", "workers", " workers"], [" · ", "partitions", " partitions"]],
  [["lag ", "lag_records", " rec"], [" · ", "lag_seconds", " s"]],
  [["in ", "in_per_s", "/s"], [" · out ", "out_per_s", "/s"]],
  [["records in ", "records_in", ""], [" · out ", "out", ""]],
  [["DLQ ", "dead_lettered", ""], [" · late ", "late", ""]],
];

function element(name, attributes, parent) {
  const made = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes || {})) made.setAttribute(key, value);
  if (parent) parent.appendChild(made);
  return made;
}

function text(parent, x, y, content, cls) {
  const made = element("text", { x: x, y: y }, parent);
  if (cls) made.setAttribute("class", cls);
  if (content !== undefined) made.textContent = content;
  return made;
}

function short(name, room) {
  return name.length > room ? "…" + name.slice(name.length - room + 1) : name;
}

// Nodes per layer, each layer ordered by the mean position of its predecessors.
function columns(graph) {
  const byLayer = [];
  for (const node of graph.nodes) (byLayer[node.layer] = byLayer[node.layer] || []).push(node);
  const rank = {};
  const inputs = {};
  for (const edge of graph.edges) (inputs[edge.target] = inputs[edge.target] || []).push(edge.source);
  byLayer.forEach((column, layer) => {
    const weight = (node, index) => {
      const seen = (inputs[node.id] || []).filter((id) => id in rank).map((id) => rank[id]);
      return layer && seen.length ? seen.reduce((a, b) => a + b, 0) / seen.length : index;
    };
    const weighed = column.map((node, index) => [weight(node, index), index, node]);
    weighed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    weighed.forEach(([, , node], index) => (rank[node.id] = index));
    byLayer[layer] = weighed.map((entry) => entry[2]);
  });
  return byLayer.filter(Boolean);
}

function place(graph) {
  const layout = {};
  const layers = columns(graph);
  const heights = layers.map((c) => c.reduce((sum, n) => sum + HEIGHT[n.kind] + GAP, -GAP));
  const tallest = Math.max(0, ...heights);
  let left = 20;
  layers.forEach((column, index) => {
    const wide = Math.max(...column.map((n) => WIDTH[n.kind]));
    let y = 20 + (tallest - heights[index]) / 2;
    for (const node of column) {
      const x = left + (wide - WIDTH[node.kind]) / 2;
      layout[node.id] = { x: x, y: y, w: WIDTH[node.kind], h: HEIGHT[node.kind] };
      y += HEIGHT[node.kind] + GAP;
    }
    left += wide + SPACING;
  });
  return { layout: layout, width: left - SPACING + 20, height: tallest + 40 };
}

function drawEdges(svg, graph, layout) {
  const defs = element("defs", {}, svg);
  const marker = element("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
  }, defs);
  element("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8a93a6" }, marker);
  for (const edge of graph.edges) {
    const a = layout[edge.source];
    const b = layout[edge.target];
    if (!a || !b) continue;
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
    const bend = Math.max(40, Math.abs(x2 - x1) / 2);
    element("path", {
      class: "edge " + edge.kind, "marker-end": "url(#arrow)",
      "data-edge": edge.source + "->" + edge.target,
      d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
    }, svg);
  }
}

function drawStage(group, node, box) {
  group.setAttribute("data-stage", node.name);
  text(group, 10, 18, short(node.name, 20), "title");
  const label = text(group, box.w - 10, 18, "bottleneck", "label");
  label.setAttribute("text-anchor", "end");
  label.setAttribute("data-role", "bottleneck");
  LINES.forEach((line, index) => {
    const row = text(group, 10, 40 + index * 18);
    for (const [before, field, after] of line) {
      element("tspan", {}, row).textContent = before;
      const value = element("tspan", { "data-field": field }, row);
      value.textContent = "–";
      element("tspan", {}, row).textContent = after;
    }
  });
}

function drawNode(svg, node, box) {
  const group = element("g", {
    class: "node " + node.kind, "data-node": node.id, "data-kind": node.kind,
    transform: `translate(${box.x},${box.y})`,
  }, svg);
  element("rect", { width: box.w, height: box.h, rx: node.kind === "topic" ? 14 : 6 }, group);
  element("title", {}, group).textContent = node.id;
  if (node.kind === "stage") return drawStage(group, node, box);
  if (node.kind === "topic") {
    group.setAttribute("data-topic", node.name);
    text(group, 10, 17, short(node.name, 22));
    const parts = text(group, 10, 32, "", "kind");
    element("tspan", { "data-field": "partitions" }, parts).textContent = node.partitions ?? "?";
    element("tspan", {}, parts).textContent = " partitions";
    return;
  }
  group.setAttribute("data-connector", node.name);
  text(group, 10, 18, short(node.name, 22));
  text(group, 10, 35, `${node.kind} · ${node.detail || ""}`, "kind");
}

// "–" for a figure a stage does not have (late: only aggregations have windows) or not yet known
function number(value, field) {
  if (typeof value !== "number") return "–";
  if (field === "lag_seconds") return value.toFixed(1);
  if (field.endsWith("_per_s")) return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  return String(value);
}

function fill(status) {
  document.getElementById("bottleneck").textContent = status.bottleneck || "none";
  document.getElementById("updated").textContent = new Date(status.at * 1000).toLocaleTimeString();
  document.getElementById("error").textContent = "";
  for (const stage of status.stages) {
    const group = document.querySelector(`g[data-stage="${CSS.escape(stage.name)}"]`);
    if (!group) continue;
    for (const value of group.querySelectorAll("tspan[data-field]")) {
      const field = value.getAttribute("data-field");
      value.textContent = number(stage[field], field);
    }
    group.setAttribute("data-bottleneck", String(Boolean(stage.bottleneck)));
    group.classList.toggle("bottleneck", Boolean(stage.bottleneck));
    group.classList.toggle("lagging", stage.lag_records > 0);
    group.classList.toggle("dead", stage.dead_lettered > 0);
    group.classList.toggle("late", stage.late > 0);
  }
}

async function refresh() {
  try {
    const answer = await fetch("/api/status", { cache: "no-store" });
    const data = await answer.json();
    if (!answer.ok) throw new Error(data.error || answer.statusText);
    fill(data);
  } catch (error) {
    document.getElementById("error").textContent = "status unavailable: " + error.message;
  }
  setTimeout(refresh, REFRESH_MS);
}

async function start() {
  const svg = document.getElementById("graph");
  try {
    const graph = await (await fetch("/api/graph", { cache: "no-store" })).json();
    document.getElementById("pipeline").textContent = graph.pipeline;
    document.title = "streamworks " + graph.pipeline;
    const drawing = place(graph);
    svg.setAttribute("width", drawing.width);
    svg.setAttribute("height", drawing.height);
    svg.setAttribute("viewBox", `0 0 ${drawing.width} ${drawing.height}`);
    drawEdges(svg, graph, drawing.layout);
    for (const node of graph.nodes) drawNode(svg, node, drawing.layout[node.id]);
  } catch (error) {
    document.getElementById("error").textContent = "graph unavailable: " + error.message;
    return;
  }
  refresh();
}

start();
