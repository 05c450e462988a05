// The calibration page: live heat map, draggable and resizable regions with
// live statistics, Suggest, Reset and Save.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const HM = window.StirlingHeatmap;
  const NAMES = ["flame", "hot_cylinder", "cold_cylinder"]; // hit-test order: the flame is on top
  const heat = new HM.Heatmap($("heatmap"), $("heatscale"), $("cursor"));
  const st = { rois: null, saved: null, frames: 0, saves: 0, drag: null, dirty: false };
  window.calib = st; // read by the browser tests

  fetch("api/file", { cache: "no-store" }).then((r) => r.json()).then((f) => {
    $("file").textContent = !f.save ? "Saving is disabled." : f.file ? "Save writes " + f.file : "Save writes the ROI file.";
  }).catch(() => {});
  fetch("api/ramp").then((r) => r.json()).then((s) => heat.setRamp(s)).catch(() => {});

  const copy = (r) => JSON.parse(JSON.stringify(r));
  function msg(text, cls) { const m = $("msg"); m.textContent = text || "\u00a0"; m.className = "msg " + (cls || ""); }
  function overlaps(a, b) { return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h; }
  function problems(r) {
    const p = [];
    if (overlaps(r.hot_cylinder, r.cold_cylinder)) p.push("the hot and cold cylinders overlap");
    if (overlaps(r.flame, r.cold_cylinder)) p.push("the flame overlaps the cold cylinder");
    return p;
  }

  function redraw() {
    heat.rois = st.rois;
    heat.draw();
    const f = heat.frame;
    $("roi-table").tBodies[0].innerHTML = ["hot_cylinder", "cold_cylinder", "flame"].map((n) => {
      const r = st.rois[n], s = f ? HM.stats(f.to, r) : { mean: NaN, min: NaN, max: NaN };
      const sel = n === heat.selected ? ' class="sel"' : "";
      return `<tr${sel}><td class="roi-${n}">${HM.ROI_LABELS[n]}</td><td>${r.x}</td><td>${r.y}</td><td>${r.w}</td><td>${r.h}</td>` +
        `<td>${s.mean.toFixed(1)}</td><td>${s.min.toFixed(1)}</td><td>${s.max.toFixed(1)}</td></tr>`;
    }).join("");
  }

  async function poll() {
    try {
      const r = await fetch("api/frame", { cache: "no-store" });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || r.statusText);
      st.frames++;
      if (!st.rois) { st.rois = copy(body.rois); st.saved = copy(body.rois); }
      heat.update(body, st.rois);
      $("source").textContent = "live"; $("source").className = "pill ok";
      $("frame-seq").textContent = `frame #${body.seq}, Ta ${body.ta.toFixed(1)} \u00b0C`;
      redraw();
    } catch (e) {
      $("source").textContent = "no frames: " + e.message; $("source").className = "pill bad";
    }
    setTimeout(poll, 250);
  }

  // hit finds the region and the edges under pixel position p.
  function hit(p) {
    const m = 0.45; // grab margin, pixels
    for (const n of NAMES) {
      const r = st.rois[n];
      if (p.x < r.x - m || p.x > r.x + r.w + m || p.y < r.y - m || p.y > r.y + r.h + m) continue;
      const e = {
        l: Math.abs(p.x - r.x) <= m, r: Math.abs(p.x - (r.x + r.w)) <= m,
        t: Math.abs(p.y - r.y) <= m, b: Math.abs(p.y - (r.y + r.h)) <= m,
      };
      const inside = p.x >= r.x && p.x <= r.x + r.w && p.y >= r.y && p.y <= r.y + r.h;
      if (e.l || e.r || e.t || e.b || inside) return { name: n, edges: e, move: !(e.l || e.r || e.t || e.b) };
    }
    return null;
  }
  function cursorFor(h) {
    if (!h) return "crosshair";
    if (h.move) return "move";
    const e = h.edges;
    if ((e.l && e.t) || (e.r && e.b)) return "nwse-resize";
    if ((e.r && e.t) || (e.l && e.b)) return "nesw-resize";
    return e.l || e.r ? "ew-resize" : "ns-resize";
  }

  const canvas = $("heatmap");
  canvas.addEventListener("mousedown", (e) => {
    if (!st.rois) return;
    const p = heat.pixelAt(e), h = hit(p);
    if (!h) return;
    e.preventDefault();
    heat.selected = h.name;
    st.drag = { ...h, p0: p, r0: copy(st.rois[h.name]) };
    redraw();
  });
  canvas.addEventListener("mousemove", (e) => {
    if (!st.drag && st.rois) canvas.style.cursor = cursorFor(hit(heat.pixelAt(e)));
  });
  window.addEventListener("mousemove", (e) => {
    const d = st.drag;
    if (!d) return;
    const p = heat.pixelAt(e);
    const dx = Math.round(p.x - d.p0.x), dy = Math.round(p.y - d.p0.y);
    const r0 = d.r0, r = copy(r0);
    if (d.move) {
      r.x = Math.min(Math.max(0, r0.x + dx), HM.W - r0.w);
      r.y = Math.min(Math.max(0, r0.y + dy), HM.H - r0.h);
    } else {
      let x0 = r0.x, y0 = r0.y, x1 = r0.x + r0.w, y1 = r0.y + r0.h;
      if (d.edges.l) x0 = Math.min(Math.max(0, r0.x + dx), x1 - 1);
      if (d.edges.r) x1 = Math.max(Math.min(HM.W, x1 + dx), x0 + 1);
      if (d.edges.t) y0 = Math.min(Math.max(0, r0.y + dy), y1 - 1);
      if (d.edges.b) y1 = Math.max(Math.min(HM.H, y1 + dy), y0 + 1);
      Object.assign(r, { x: x0, y: y0, w: x1 - x0, h: y1 - y0 });
    }
    if (JSON.stringify(r) !== JSON.stringify(st.rois[d.name])) {
      st.rois[d.name] = r;
      st.dirty = true;
      const p2 = problems(st.rois);
      msg(p2.length ? "Cannot save yet: " + p2.join("; ") + "." : "Unsaved changes.", p2.length ? "warn" : "");
      redraw();
    }
  });
  window.addEventListener("mouseup", () => { st.drag = null; });

  // Arrow keys move the selected region by one pixel; with Shift they
  // resize it (right/down grow, left/up shrink).
  window.addEventListener("keydown", (e) => {
    const n = heat.selected, k = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!st.rois || !n || !k || e.target.tagName === "INPUT") return;
    e.preventDefault();
    const r = copy(st.rois[n]);
    if (e.shiftKey) {
      r.w = Math.min(Math.max(1, r.w + k[0]), HM.W - r.x);
      r.h = Math.min(Math.max(1, r.h + k[1]), HM.H - r.y);
    } else {
      r.x = Math.min(Math.max(0, r.x + k[0]), HM.W - r.w);
      r.y = Math.min(Math.max(0, r.y + k[1]), HM.H - r.h);
    }
    st.rois[n] = r; st.dirty = true;
    const p = problems(st.rois);
    msg(p.length ? "Cannot save yet: " + p.join("; ") + "." : "Unsaved changes.", p.length ? "warn" : "");
    redraw();
  });

  $("suggest").addEventListener("click", async () => {
    const r = await fetch("api/suggest", { cache: "no-store" });
    const body = await r.json();
    if (!r.ok) { msg(body.error, "bad"); return; }
    st.rois = body; st.dirty = true;
    msg("Suggested regions: check them against the engine, adjust, then Save.", "warn");
    redraw();
  });
  $("reset").addEventListener("click", () => {
    if (!st.saved) return;
    st.rois = copy(st.saved); st.dirty = false;
    msg("Back to the saved regions.");
    redraw();
  });
  $("save").addEventListener("click", async () => {
    if (!st.rois) return;
    $("save").disabled = true;
    try {
      const r = await fetch("api/save", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(st.rois) });
      const body = await r.json();
      if (!r.ok) { msg(body.error, "bad"); return; }
      st.saves++; st.saved = copy(body.rois); st.dirty = false;
      const lines = body.message.split("\n");
      msg(lines[0], "ok");
      $("merge").textContent = lines.slice(1).join("\n");
    } catch (e) {
      msg("save failed: " + e.message, "bad");
    } finally {
      $("save").disabled = false;
    }
  });
  window.addEventListener("beforeunload", (e) => { if (st.dirty) e.preventDefault(); });
  poll();
})();
