'use strict';
// mop's dashboard: every second it reads /mop/stats, /mop/clients and /metrics (the routes of
// http/README.md), draws the last two minutes on <canvas> charts and fills the two tables. Rates
// are the counters' differences between two readings over the time between them, so they move
// with each reading (the pulsar_rate_* gauges move only every statsUpdateFrequencyInSecs).
// No libraries; text from the broker (client ids, topic names) only ever goes into textContent.
(() => {
  const POLL_MS = 1000;
  const POINTS = 120;
  const MAX_ROWS = 500;  // per table: a browser stays responsive with a broker of many sessions or topics

  const $ = (id) => document.getElementById(id);

  // --- formatting -------------------------------------------------------------------------
  const fmtCount = (n) => (n >= 1e6 ? (n / 1e6).toFixed(2) + ' M' : n >= 1e4 ? (n / 1e3).toFixed(1) + ' k' : String(Math.round(n)));
  const fmtRate = (n) => (n >= 100 ? fmtCount(n) : n.toFixed(1));
  function fmtBytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
  }
  function fmtDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  // --- Prometheus text format (0.0.4) -----------------------------------------------------
  // Returns [{name, labels: {k: v}, value}] for every sample line.
  function parseMetrics(text) {
    const out = [];
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    const unescape = (v) => v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    for (const line of text.split('\n')) {
      if (line === '' || line[0] === '#') continue;
      const brace = line.indexOf('{');
      const space = line.lastIndexOf(' ');
      let name;
      const labels = {};
      if (brace >= 0 && brace < space) {
        name = line.slice(0, brace);
        const close = line.lastIndexOf('}');
        for (const m of line.slice(brace + 1, close).matchAll(labelRe)) labels[m[1]] = unescape(m[2]);
      } else {
        name = line.slice(0, line.indexOf(' '));
      }
      const value = Number(line.slice(space + 1));
      if (name && !Number.isNaN(value)) out.push({ name, labels, value });
    }
    return out;
  }

  // --- charts -----------------------------------------------------------------------------
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  class LineChart {
    constructor(figure, series, format) {
      this.canvas = figure.querySelector('canvas');
      this.series = series;  // [{key, name}]
      this.format = format;
      this.points = [];       // [{t, values: [..]}]
      this.values = [];
      const legend = figure.querySelector('.legend');
      series.forEach((s, i) => {
        const li = document.createElement('li');
        const sw = document.createElement('span');
        sw.className = 'swatch s' + i;
        const value = document.createElement('span');
        value.className = 'value';
        value.dataset.series = s.key;
        value.textContent = '–';
        li.append(sw, document.createTextNode(s.name), value);
        legend.append(li);
        this.values.push(value);
      });
    }

    push(t, values) {
      this.points.push({ t, values });
      if (this.points.length > POINTS) this.points.shift();
      values.forEach((v, i) => { this.values[i].textContent = this.format(v); });
      this.draw();
    }

    draw() {
      const c = this.canvas;
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth;
      const h = c.clientHeight;
      if (w === 0 || h === 0) return;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const g = c.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      const font = '11px system-ui, sans-serif';
      g.font = font;
      let max = 0;
      for (const p of this.points) for (const v of p.values) max = Math.max(max, v);
      // Four steps of 1, 2 or 5 × 10^k (at least 1), so that every grid line is a round number.
      const step = niceCeil(max / 4);
      const top = 4 * step;
      const left = Math.max(28, g.measureText(fmtCount(top)).width + 8);
      const plotW = w - left - 4;
      const plotH = h - 16;
      // Grid and y labels.
      g.strokeStyle = css('--line');
      g.fillStyle = css('--muted');
      g.lineWidth = 1;
      g.setLineDash([]);
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      for (let i = 0; i <= 4; i += 1) {
        const y = 6 + Math.round((plotH - 6) * (1 - i / 4)) + 0.5;
        g.beginPath();
        g.moveTo(left, y);
        g.lineTo(w - 4, y);
        g.stroke();
        g.fillText(fmtCount(step * i), left - 4, y);
      }
      g.textAlign = 'left';
      g.textBaseline = 'bottom';
      g.fillText(`last ${Math.round((POINTS * POLL_MS) / 60000)} min`, left, h);
      // One line per series; x by sample index, newest at the right edge.
      const xOf = (i) => left + plotW - ((this.points.length - 1 - i) * plotW) / (POINTS - 1);
      const yOf = (v) => 6 + (plotH - 6) * (1 - v / top);
      // The second series dashed, so that it shows where it runs on top of the first (in = out).
      this.series.forEach((_, s) => {
        g.strokeStyle = css('--c' + (s + 1));
        g.lineWidth = 2;
        g.setLineDash(s === 1 ? [6, 4] : []);
        g.beginPath();
        this.points.forEach((p, i) => (i === 0 ? g.moveTo(xOf(i), yOf(p.values[s])) : g.lineTo(xOf(i), yOf(p.values[s]))));
        g.stroke();
      });
    }
  }

  // The smallest of 1, 2, 5 × 10^k at or above v (at least 1), for the y axis' step.
  function niceCeil(v) {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  const charts = {
    rates: new LineChart($('chart-rates'), [{ key: 'in', name: 'in' }, { key: 'out', name: 'out' }], fmtRate),
    connections: new LineChart($('chart-connections'),
      [{ key: 'mqtt', name: 'MQTT' }, { key: 'pulsar', name: 'Pulsar' }, { key: 'http', name: 'HTTP' }], fmtCount),
    backlog: new LineChart($('chart-backlog'), [{ key: 'backlog', name: 'unacknowledged' }], fmtCount),
  };
  window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.draw()));

  // --- tables -----------------------------------------------------------------------------
  // Updates `tbody` in place: one row per key (kept across readings, so a button under a finger
  // stays where it is), cells set by textContent.
  function updateRows(tbody, items, keyOf, cellsOf, classes, extra) {
    const rows = new Map();
    for (const tr of tbody.querySelectorAll('tr[data-key]')) rows.set(tr.dataset.key, tr);
    const empty = tbody.querySelector('tr.empty-row');
    if (empty) empty.remove();
    let previous = null;
    for (const item of items) {
      const key = keyOf(item);
      let tr = rows.get(key);
      const cells = cellsOf(item);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.key = key;
        cells.forEach((_, i) => {
          const td = document.createElement('td');
          if (classes[i]) td.className = classes[i];
          tr.append(td);
        });
        if (extra) tr.append(document.createElement('td'));
      }
      rows.delete(key);
      cells.forEach((text, i) => { if (tr.children[i].textContent !== text) tr.children[i].textContent = text; });
      if (extra) extra(tr.lastElementChild, item, tr);
      const want = previous ? previous.nextSibling : tbody.firstChild;
      if (want !== tr) tbody.insertBefore(tr, want);
      previous = tr;
    }
    for (const tr of rows.values()) tr.remove();
    if (items.length === 0) {
      const tr = document.createElement('tr');
      tr.className = 'empty-row';
      const td = document.createElement('td');
      td.className = 'empty';
      td.colSpan = tbody.parentElement.tHead.rows[0].cells.length;
      td.textContent = 'none';
      tr.append(td);
      tbody.append(tr);
    }
  }

  function renderClients(clients, now) {
    const all = clients || [];
    $('clients-count').textContent = clients === null ? '(MQTT is off)' : all.length > MAX_ROWS
      ? `(${all.length}, ${MAX_ROWS} shown)` : `(${all.length})`;
    // Connected clients first, then by id.
    const list = all.slice().sort((a, b) => (b.connected - a.connected) || a.clientId.localeCompare(b.clientId))
      .slice(0, MAX_ROWS);
    updateRows($('clients').tBodies[0], list, (c) => c.clientId, (c) => [
      c.clientId,
      c.connected ? 'connected' : 'away',
      c.protocol,
      c.connected ? c.address : '',
      c.connected ? String(c.keepAlive) : '',
      c.subscriptions.join(' '),
      String(c.inflight),
      fmtDuration(now - (c.connected ? c.connectedSince : c.disconnectedSince)),
    ], ['id', '', '', '', 'num', '', 'num', ''], (td, c, tr) => {
      tr.dataset.connected = String(c.connected);
      tr.children[1].classList.toggle('away', !c.connected);
      let button = td.querySelector('button');
      if (!c.connected) { if (button) button.remove(); return; }
      if (!button) {
        button = document.createElement('button');
        button.type = 'button';
        button.className = 'kick';
        button.textContent = 'Kick';
        button.title = 'Disconnect this client (DELETE /mop/clients/…)';
        button.addEventListener('click', () => kick(tr.dataset.key, button));
        td.append(button);
      }
    });
  }

  async function kick(clientId, button) {
    if (!window.confirm(`Disconnect MQTT client "${clientId}"?`)) return;
    button.disabled = true;
    try {
      const res = await fetch('/mop/clients/' + encodeURIComponent(clientId), { method: 'DELETE' });
      if (res.status === 204) {
        setNotice(`client "${clientId}" disconnected`, false);
      } else {
        const body = await res.json().catch(() => ({}));
        setNotice(`kick of "${clientId}" refused: ${res.status} ${body.reason || ''}`, true);
      }
    } catch (e) {
      setNotice(`kick of "${clientId}" failed: ${e.message}`, true);
    }
    button.disabled = false;
    poll();
  }

  function renderTopics(topics) {
    const names = Object.keys(topics).sort();
    $('topics-count').textContent = names.length > MAX_ROWS
      ? `(${names.length}, the first ${MAX_ROWS} shown)` : `(${names.length})`;
    const list = names.slice(0, MAX_ROWS).map((name) => ({ name, ...topics[name] }));
    updateRows($('topics').tBodies[0], list, (t) => t.name, (t) => [
      t.name, fmtRate(t.rateIn), fmtRate(t.rateOut), fmtCount(t.in), fmtCount(t.out), fmtCount(t.backlog),
      fmtBytes(t.storage), String(t.subscriptions),
    ], ['id', 'num', 'num', 'num', 'num', 'num', 'num', 'num']);
  }

  // --- polling ----------------------------------------------------------------------------
  function setStatus(text, error) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('error', error);
  }

  // The outcome of the last kick, until the next one.
  function setNotice(text, error) {
    const s = $('notice');
    s.textContent = text;
    s.classList.toggle('error', error);
  }

  async function getJson(path) {
    const res = await fetch(path, { cache: 'no-store' });
    if (res.status === 404) return null;  // MQTT off: no /mop routes
    if (!res.ok) throw new Error(`${path}: ${res.status} ${res.statusText}`);
    return res.json();
  }

  async function getText(path) {
    const res = await fetch(path, { cache: 'no-store' });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${res.statusText}`);
    return res.text();
  }

  let previous = null;  // {t, in, out, topics: {name: {in, out}}}
  let busy = false;

  async function poll() {
    if (busy) return;
    busy = true;
    try {
      const [stats, clients, metricsText] =
        await Promise.all([getJson('/mop/stats'), getJson('/mop/clients'), getText('/metrics')]);
      const t = performance.now();
      const now = Date.now();
      const topics = {};
      const topic = (name) => (topics[name] ||= { in: 0, out: 0, backlog: 0, storage: 0, subscriptions: 0, rateIn: 0, rateOut: 0 });
      const connections = { mqtt: 0, pulsar: 0, http: 0 };
      for (const s of parseMetrics(metricsText)) {
        const name = s.labels.topic;
        switch (s.name) {
          case 'pulsar_in_messages_total': topic(name).in = s.value; break;
          case 'pulsar_out_messages_total': topic(name).out = s.value; break;
          case 'pulsar_msg_backlog': topic(name).backlog = s.value; break;
          case 'pulsar_storage_size': topic(name).storage = s.value; break;
          case 'pulsar_subscriptions_count': topic(name).subscriptions = s.value; break;
          case 'mop_connections': connections[s.labels.protocol] = s.value; break;
          default: break;
        }
      }
      let totalIn = 0, totalOut = 0, backlog = 0, storage = 0;
      for (const [name, tp] of Object.entries(topics)) {
        totalIn += tp.in;
        totalOut += tp.out;
        backlog += tp.backlog;
        storage += tp.storage;
        const before = previous && previous.topics[name];
        if (before) {
          const dt = (t - previous.t) / 1000;
          tp.rateIn = Math.max(0, tp.in - before.in) / dt;  // a restart starts counters again at 0
          tp.rateOut = Math.max(0, tp.out - before.out) / dt;
        }
      }
      if (previous) {
        const dt = (t - previous.t) / 1000;
        charts.rates.push(t, [Math.max(0, totalIn - previous.in) / dt, Math.max(0, totalOut - previous.out) / dt]);
      }
      charts.connections.push(t, [connections.mqtt, connections.pulsar, connections.http]);
      charts.backlog.push(t, [backlog]);
      previous = { t, in: totalIn, out: totalOut,
                   topics: Object.fromEntries(Object.entries(topics).map(([k, v]) => [k, { in: v.in, out: v.out }])) };

      $('t-clients').textContent = stats ? `${stats.activeClientCount}` : 'off';
      $('t-topics').textContent = String(Object.keys(topics).length);
      $('t-in').textContent = fmtCount(totalIn);
      $('t-out').textContent = fmtCount(totalOut);
      $('t-backlog').textContent = fmtCount(backlog);
      $('t-storage').textContent = fmtBytes(storage);
      renderClients(clients, now);
      renderTopics(topics);
      setStatus('updated ' + new Date(now).toLocaleTimeString(), false);
    } catch (e) {
      setStatus('cannot read the broker: ' + e.message, true);
    } finally {
      busy = false;
    }
  }

  poll();
  setInterval(() => { if (!document.hidden) poll(); }, POLL_MS);
})();
