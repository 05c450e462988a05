// Thermal heat map on a canvas: colour ramp, regions of interest, colour
// scale and the temperature under the cursor. Shared by the status page and
// the calibration page. No dependencies.
"use strict";
(function () {
  const W = 32, H = 24;
  const ROI_COLOURS = { hot_cylinder: "#ff4d4d", cold_cylinder: "#4da6ff", flame: "#ffe14d" };
  const ROI_LABELS = { hot_cylinder: "hot cylinder", cold_cylinder: "cold cylinder", flame: "flame" };

  // lut builds a 256-entry RGB lookup table from ramp stops [{at, rgb}].
  function lut(stops) {
    const t = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const x = i / 255;
      let k = 0;
      while (k < stops.length - 2 && x > stops[k + 1].at) k++;
      const a = stops[k], b = stops[k + 1];
      const f = b.at > a.at ? Math.min(1, Math.max(0, (x - a.at) / (b.at - a.at))) : 0;
      for (let c = 0; c < 3; c++) t[i * 3 + c] = Math.round(a.rgb[c] + f * (b.rgb[c] - a.rgb[c]));
    }
    return t;
  }

  // range returns the min and max of the valid pixels.
  function range(to) {
    let lo = Infinity, hi = -Infinity;
    for (const v of to) {
      if (v === null) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return [0, 1];
    if (hi - lo < 1) hi = lo + 1;
    return [lo, hi];
  }

  // stats is the mean, min and max of the valid pixels inside roi.
  function stats(to, roi) {
    let n = 0, sum = 0, lo = Infinity, hi = -Infinity;
    for (let y = roi.y; y < roi.y + roi.h; y++) {
      for (let x = roi.x; x < roi.x + roi.w; x++) {
        if (x < 0 || y < 0 || x >= W || y >= H) continue;
        const v = to[y * W + x];
        if (v === null) continue;
        n++; sum += v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return n ? { n, mean: sum / n, min: lo, max: hi } : { n: 0, mean: NaN, min: NaN, max: NaN };
  }

  class Heatmap {
    // canvas: the map; scale: a canvas for the colour bar (optional);
    // readout: an element for the temperature under the cursor (optional).
    constructor(canvas, scale, readout) {
      this.canvas = canvas;
      this.scale = scale;
      this.readout = readout;
      this.frame = null;
      this.rois = null;
      this.selected = null;
      this.table = lut([{ at: 0, rgb: [0, 0, 0] }, { at: 1, rgb: [255, 255, 255] }]);
      this.small = document.createElement("canvas");
      this.small.width = W; this.small.height = H;
      this.cursor = null;
      canvas.addEventListener("mousemove", (e) => { this.cursor = this.pixelAt(e); this.showCursor(); });
      canvas.addEventListener("mouseleave", () => { this.cursor = null; this.showCursor(); });
    }
    setRamp(stops) { this.table = lut(stops); this.draw(); }
    // cell is the size of one pixel on the canvas, in canvas units.
    cell() { return this.canvas.width / W; }
    // pixelAt maps a mouse event to a fractional pixel position {x, y}.
    pixelAt(e) {
      const r = this.canvas.getBoundingClientRect();
      return { x: (e.clientX - r.left) / r.width * W, y: (e.clientY - r.top) / r.height * H };
    }
    showCursor() {
      if (!this.readout) return;
      const c = this.cursor, f = this.frame;
      if (!c || !f) { this.readout.textContent = "\u00a0"; return; }
      const x = Math.floor(c.x), y = Math.floor(c.y);
      if (x < 0 || y < 0 || x >= W || y >= H) { this.readout.textContent = "\u00a0"; return; }
      const i = y * W + x, v = f.to[i];
      const bad = f.bad && f.bad.includes(i) ? " (bad pixel, interpolated)" : "";
      this.readout.textContent = v === null ? `x=${x} y=${y}: no data` : `x=${x} y=${y}: ${v.toFixed(1)} \u00b0C${bad}`;
    }
    update(frame, rois) {
      this.frame = frame;
      if (rois) this.rois = rois;
      this.draw();
      this.showCursor();
    }
    draw() {
      const f = this.frame, g = this.canvas.getContext("2d");
      if (!f) return;
      const [lo, hi] = range(f.to);
      this.lo = lo; this.hi = hi;
      const sg = this.small.getContext("2d"), img = sg.createImageData(W, H);
      for (let i = 0; i < W * H; i++) {
        const v = f.to[i], o = i * 4;
        if (v === null) { img.data[o] = 128; img.data[o + 1] = 128; img.data[o + 2] = 128; img.data[o + 3] = 255; continue; }
        const k = Math.max(0, Math.min(255, Math.round((v - lo) / (hi - lo) * 255))) * 3;
        img.data[o] = this.table[k]; img.data[o + 1] = this.table[k + 1]; img.data[o + 2] = this.table[k + 2]; img.data[o + 3] = 255;
      }
      sg.putImageData(img, 0, 0);
      g.imageSmoothingEnabled = false;
      g.drawImage(this.small, 0, 0, this.canvas.width, this.canvas.height);
      if (this.rois) this.drawROIs(g);
      this.drawScale(lo, hi);
    }
    drawROIs(g) {
      const c = this.cell();
      g.font = `${Math.max(10, Math.round(c * 0.7))}px sans-serif`;
      g.textBaseline = "top";
      for (const name of Object.keys(ROI_COLOURS)) {
        const r = this.rois[name];
        if (!r) continue;
        g.lineWidth = name === this.selected ? 3 : 2;
        g.strokeStyle = "#000";
        g.strokeRect(r.x * c + 1, r.y * c + 1, r.w * c, r.h * c);
        g.strokeStyle = ROI_COLOURS[name];
        g.strokeRect(r.x * c, r.y * c, r.w * c, r.h * c);
        g.fillStyle = "#000";
        g.fillText(ROI_LABELS[name], r.x * c + 4, r.y * c + 4);
        g.fillStyle = ROI_COLOURS[name];
        g.fillText(ROI_LABELS[name], r.x * c + 3, r.y * c + 3);
      }
    }
    drawScale(lo, hi) {
      const s = this.scale;
      if (!s) return;
      const g = s.getContext("2d"), bar = 24, h = s.height;
      g.clearRect(0, 0, s.width, h);
      for (let y = 0; y < h - 20; y++) {
        const k = Math.round((1 - y / (h - 21)) * 255) * 3;
        g.fillStyle = `rgb(${this.table[k]},${this.table[k + 1]},${this.table[k + 2]})`;
        g.fillRect(0, y + 10, bar, 1);
      }
      g.fillStyle = getComputedStyle(s).color || "#ddd";
      g.font = "12px sans-serif";
      g.textBaseline = "middle";
      for (let i = 0; i <= 4; i++) {
        const v = hi - (hi - lo) * i / 4, y = 10 + (h - 21) * i / 4;
        g.fillText(`${v.toFixed(1)} \u00b0C`, bar + 6, y);
      }
    }
  }

  window.StirlingHeatmap = { Heatmap, stats, range, lut, W, H, ROI_COLOURS, ROI_LABELS };
})();
