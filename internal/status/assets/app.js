// The live status page: subscribes to /events and redraws.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const HM = window.StirlingHeatmap;
  const heat = new HM.Heatmap($("heatmap"), $("heatscale"), $("cursor"));
  const page = { statusEvents: 0, frameEvents: 0, rpm: null, seq: null };
  window.stirlingPage = page; // read by the browser tests

  fetch("api/ramp").then((r) => r.json()).then((stops) => heat.setRamp(stops)).catch(() => {});

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  function age(t, now) {
    const ms = Date.parse(t);
    if (!ms || ms <= 0 || t.startsWith("0001")) return "never";
    const s = Math.max(0, (now - ms) / 1000);
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  // unit shows UCUM codes as people write them.
  function unit(u) { return { Cel: "\u00b0C", "1": "", "%": "%" }[u] ?? u; }
  function rows(tbody, list) { tbody.innerHTML = list.join(""); }
  function pill(el, text, cls) { el.textContent = text; el.className = "pill " + (cls || ""); }

  function onStatus(st) {
    page.statusEvents++;
    const now = Date.parse(st.time) || Date.now();
    const wall = Date.parse(st.wall_time) || now;
    pill($("engine"), "engine: " + (st.engine_state || "?"), { running: "ok", stalled: "bad", flame_out: "bad" }[st.engine_state] || "warn");
    // The header shows the worst state of the /healthz checks, and the
    // first failing one; hover for every reason.
    const h = st.health;
    const failing = h.checks.filter((c) => !c.ok);
    pill($("health"), h.status === "ok" ? "healthy" : h.status + ": " + failing.map((c) => c.name).join(", "),
      { ok: "ok", degraded: "warn", down: "bad" }[h.status] || "bad");
    $("health").title = h.checks.map((c) => (c.ok ? "\u2713 " : "\u2717 ") + c.name + ": " + c.reason).join("\n");
    page.health = h.status;
    $("clock").textContent = new Date(now).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    rows($("readings").tBodies[0], st.readings.map((r) =>
      `<tr><td>${esc(r.metric)}</td><td>${r.value.toFixed(2)} ${esc(unit(r.unit))}</td><td>${esc(r.quality)}</td><td>${age(r.time, now)}</td></tr>`));
    rows($("publishers").tBodies[0], st.publishers.map((p) =>
      `<tr><td>${esc(p.name)}</td><td>${esc(p.state)}</td><td>${p.delivered}</td><td>${p.retried}</td><td>${p.rejected}</td>` +
      `<td>${p.lag_records} (${p.lag_seconds.toFixed(0)} s)</td><td>${age(p.last_success, wall)}</td><td class="err" title="${esc(p.last_error)}">${esc(p.last_error)}</td></tr>`));
    const sp = st.spool;
    rows($("spool").tBodies[0], [
      `<tr><th>depth</th><td>${sp.depth_records} records, ${(sp.depth_bytes / 1024).toFixed(1)} KiB${sp.limit_bytes ? " of " + (sp.limit_bytes / 1048576).toFixed(0) + " MiB" : ""}</td></tr>`,
      `<tr><th>dropped (spool full)</th><td>${sp.dropped_records}</td></tr>`,
      `<tr><th>corrupt, skipped</th><td>${sp.corrupt_skipped}</td></tr>`,
      `<tr><th>lost (append failed)</th><td class="${sp.lost_readings ? "err" : ""}">${sp.lost_readings} readings in ${sp.lost_batches} batches` +
        `${sp.lost_readings_no_space ? ", " + sp.lost_readings_no_space + " to a full disk" : ""}</td></tr>`,
      `<tr><th>last append error</th><td class="err" title="${esc(sp.last_error)}">${sp.last_error ? esc(sp.last_error) + " (" + age(sp.last_error_time, wall) + " ago)" : "none"}</td></tr>`,
      `<tr><th>last spooled</th><td>${age(st.last_spooled, wall)}</td></tr>`,
      `<tr><th>last delivered</th><td>${age(st.last_delivered, wall)}</td></tr>`]);
    const rpm = st.readings.find((r) => r.metric === st.rpm_metric);
    page.rpm = rpm ? rpm.value : null;
    $("rpm-now").textContent = rpm ? rpm.value.toFixed(0) : "–";
    drawChart(st.rpm_history);
    if (st.rois && heat.frame) { heat.rois = st.rois; heat.draw(); roiTable(); }
  }

  function drawChart(hist) {
    const c = $("rpm-chart"), g = c.getContext("2d");
    const w = c.width = c.clientWidth || c.width, h = c.height;
    g.clearRect(0, 0, w, h);
    const pts = hist.filter((p) => p[1] !== null);
    let hi = 100;
    for (const p of pts) hi = Math.max(hi, p[1]);
    hi = Math.ceil(hi * 1.1 / 100) * 100;
    const l = 48, b = h - 20, t1 = hist.length ? hist[hist.length - 1][0] : Date.now();
    const span = Math.max(60000, hist.length ? t1 - hist[0][0] : 60000);
    g.strokeStyle = "#333"; g.fillStyle = "#8a949e"; g.font = "11px sans-serif"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = 8 + (b - 8) * i / 4;
      g.beginPath(); g.moveTo(l, y); g.lineTo(w, y); g.stroke();
      g.fillText(String(Math.round(hi * (1 - i / 4))), 4, y + 4);
    }
    g.fillText(`-${Math.round(span / 60000)} min`, l, h - 4);
    g.fillText("now", w - 26, h - 4);
    g.strokeStyle = "#4dd0e1"; g.lineWidth = 2; g.beginPath();
    let pen = false;
    for (const p of hist) {
      if (p[1] === null) { pen = false; continue; }
      const x = l + (w - l) * (1 - (t1 - p[0]) / span), y = b - (b - 8) * p[1] / hi;
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    }
    g.stroke();
  }

  function roiTable() {
    const f = heat.frame, r = heat.rois;
    if (!f || !r) return;
    rows($("roi-table").tBodies[0], Object.keys(HM.ROI_LABELS).filter((n) => r[n]).map((n) => {
      const s = HM.stats(f.to, r[n]);
      return `<tr><td class="roi-${n}">${HM.ROI_LABELS[n]}</td><td>${r[n].x},${r[n].y},${r[n].w},${r[n].h}</td>` +
        `<td>${s.mean.toFixed(1)}</td><td>${s.min.toFixed(1)}</td><td>${s.max.toFixed(1)}</td></tr>`;
    }));
  }

  function onFrame(f) {
    page.frameEvents++;
    page.seq = f.seq;
    heat.update(f, f.rois);
    $("frame-seq").textContent = `#${f.seq}, Ta ${f.ta.toFixed(1)} \u00b0C`;
    roiTable();
  }

  function connect() {
    const es = new EventSource("events");
    es.addEventListener("open", () => pill($("conn"), "live", "ok"));
    es.addEventListener("error", () => pill($("conn"), "reconnecting", "warn"));
    es.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
    es.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
  }
  connect();
})();
