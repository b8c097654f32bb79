// The live page: draws the snapshot the server rendered, then applies server-sent events
// ("snapshot", "job", "errors") without reloading. Text is always set with textContent: error
// messages carry raw input.
(function () {
  "use strict";
  const root = document.getElementById("hub-live");
  const state = JSON.parse(document.getElementById("hub-initial").textContent);
  const MAX_ROWS = 15;
  const STALE_MS = 15000;
  let lastSnapshot = Date.now();

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function row(cells) {
    const tr = el("tr");
    cells.forEach(function (cell) { tr.appendChild(cell instanceof Node ? cell : el("td", cell)); });
    return tr;
  }
  function num(value) { return el("td", value, "hub-num"); }
  function link(href, text) { const a = el("a", text); a.href = href; return a; }
  function cell(child, cls) { const td = el("td", null, cls); td.appendChild(child); return td; }
  function time(value) {
    if (!value) return "—";
    const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return d.toISOString().slice(5, 19).replace("T", " ");
  }
  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 120) return Math.round(seconds) + " s";
    if (seconds < 7200) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }
  function spark(values) {
    const box = el("span", null, "hub-spark");
    const max = Math.max(1, ...values);
    values.forEach(function (v) { const bar = el("span"); bar.style.height = Math.round(24 * v / max) + "px"; box.appendChild(bar); });
    return cell(box);
  }
  function fill(id, rows) {
    const body = document.getElementById(id);
    body.replaceChildren(...rows);
  }

  function drawSnapshot() {
    document.getElementById("hub-updated").textContent = time(state.at);
    document.getElementById("hub-workers").textContent = state.workers;
    fill("hub-queues", state.queues.map(function (q) {
      const held = q.held ? q.held + " since " + time(q.held_since) : 0;
      return row([q.name, num(q.waiting), num(q.active), num(q.scheduled),
                  el("td", held, "hub-num" + (q.held ? " hub-bad" : "")),
                  el("td", q.dead_letter, "hub-num" + (q.dead_letter ? " hub-bad" : ""))]);
    }));
    fill("hub-rates", state.environments.map(function (env) {
      const m = state.per_minute[env];
      return row([env, spark(m.events), num(m.events[m.events.length - 1]), spark(m.tickets), num(m.tickets[m.tickets.length - 1])]);
    }));
    const b = state.breaker;
    const breaker = document.getElementById("hub-breaker");
    breaker.textContent = b.state + (b.failures ? " (" + b.failures + " failures in a row)" : "");
    breaker.className = b.state === "closed" ? "hub-ok" : "hub-bad";
    const budget = state.budget;
    document.getElementById("hub-budget").textContent = budget.tokens + " of " + budget.burst + " tokens" +
      (budget.paused_for > 0 ? ", paused " + budget.paused_for.toFixed(1) + " s (429)" : "");
    fill("hub-publishers", (state.publishers || []).map(function (p) {
      const server = p.server_uuid || (p.server_id ? "server_id " + p.server_id : "");
      const where = p.position ? p.position + (server ? " (" + server + ")" : "") : (p.source ? "—" : "nothing received");
      return row([p.environment, p.source || "—", where, num(ago(p.age_seconds))]);
    }));
    const days = state.environments.map(function (env) {
      const t = state.last_24h[env];
      return row(["last 24 h", env, num(t.events), num(t.matched), num(t.tickets), num(t.failures), num(t.bad_input)]);
    });
    (state.earlier_days || []).forEach(function (d) {
      days.push(row([d.day, d.environment, num(d.events), num(d.matched), num(d.tickets), num(d.failures), num(d.bad_input)]));
    });
    fill("hub-days", days);
  }

  function jobRow(job, arrivedAt) {
    let outcome = job.failed ? (job.error || job.result || job.state) : job.result;
    if (outcome && typeof outcome === "object") {
      outcome = Object.entries(outcome).filter(function (kv) { return kv[1]; })
        .map(function (kv) { return kv[1] + " " + kv[0]; }).join(", ") || "nothing new";
    }
    const tr = row([time(job.finished), job.queue + (job.env && !job.queue.endsWith(job.env) ? " (" + job.env + ")" : ""),
                    cell(link(root.dataset.jobUrl.replace("TASK", job.id), job.name)),
                    el("td", outcome, job.failed ? "hub-bad" : ""), num(job.runtime_ms)]);
    tr.dataset.job = job.id;
    if (arrivedAt) tr.className = "hub-new" + (Date.now() - arrivedAt < 2000 ? " hub-flash" : "");
    return tr;
  }
  function errorRow(e, fresh) {
    const tr = row([time(e.created_at), e.kind, e.environment || "—", e.message]);
    if (fresh) tr.className = "hub-new hub-flash";
    return tr;
  }
  // Jobs are kept here (newest first) and drawn through the queue filter.
  const jobs = state.jobs.slice();
  const arrived = new Map();  // job id -> when it came over the stream
  const queueFilter = document.getElementById("hub-job-queue");
  state.queues.forEach(function (q) { const o = el("option", q.name); o.value = q.name; queueFilter.appendChild(o); });
  queueFilter.addEventListener("change", drawJobs);
  function drawJobs() {
    const shown = jobs.filter(function (j) { return !queueFilter.value || j.queue === queueFilter.value; });
    fill("hub-jobs", shown.slice(0, MAX_ROWS).map(function (j) { return jobRow(j, arrived.get(j.id)); }));
  }
  function addJob(job) {
    jobs.unshift(job);
    arrived.set(job.id, Date.now());
    if (jobs.length > 200) arrived.delete(jobs.pop().id);
    drawJobs();
  }

  function prepend(id, rows) {
    const body = document.getElementById(id);
    rows.forEach(function (r) { body.insertBefore(r, body.firstChild); });
    while (body.children.length > MAX_ROWS) body.removeChild(body.lastChild);
  }

  drawSnapshot();
  drawJobs();
  fill("hub-errors", state.errors.map(function (e) { return errorRow(e, false); }));

  const status = document.getElementById("hub-connection");
  const source = new EventSource(root.dataset.stream);  // reconnects by itself
  source.addEventListener("stream-open", function () { status.textContent = "live"; status.className = "hub-ok"; });
  source.addEventListener("error", function () { status.textContent = "reconnecting…"; status.className = "hub-bad"; });
  source.addEventListener("snapshot", function (e) {
    Object.assign(state, JSON.parse(e.data));
    lastSnapshot = Date.now();
    status.textContent = "live"; status.className = "hub-ok";
    drawSnapshot();
  });
  source.addEventListener("job", function (e) { addJob(JSON.parse(e.data)); });
  source.addEventListener("errors", function (e) {
    prepend("hub-errors", JSON.parse(e.data).map(function (x) { return errorRow(x, true); }));
  });
  setInterval(function () {  // snapshots come with worker heartbeats: none means no worker is up
    if (Date.now() - lastSnapshot > STALE_MS && source.readyState === EventSource.OPEN) {
      status.textContent = "live, but no worker has reported for " + Math.round((Date.now() - lastSnapshot) / 1000) + " s";
      status.className = "hub-bad";
    }
  }, 5000);
})();
