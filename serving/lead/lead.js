// The team lead's page. Vanilla JS, no dependencies: it reads /v1/lead/overview and /v1/thresholds/history
// with the lead key kept in sessionStorage, and posts changes to /v1/thresholds. Every text from the server
// is set with textContent (never as HTML).
"use strict";

(() => {
  const KEY_STORAGE = "postroom.leadKey";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const HISTORY_PAGE = 15; // versions shown at first; "Show more" adds as many again
  const HISTORY_MAX = 500; // what the history API gives at most (it has no offset: a larger limit is asked)
  const state = { overview: null, model: null, historyLimit: HISTORY_PAGE, versions: [] };
  // How each guarantee of `thresholds suggest` keeps the promise, in the page's words.
  const GUARANTEES = {
    "per-class": "every class on its own",
    pooled: "all automated replies together",
    learned: "all automated replies together, on the learned confidence",
  };

  // ---------- small helpers ----------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const pct = (x) => (x === null || x === undefined ? "n/a" : `${(x * 100).toFixed(1)}\u00a0%`);
  const isTiny = (x) => x !== null && x !== undefined && Number(x) > 0 && Number(x) < 0.001;
  // Three decimals; a value below 0.001 but above 0 is "< 0.001", never "0.000" (tinyTitle gives it exactly).
  const thr = (x) => (x === null || x === undefined ? "off" : isTiny(x) ? "< 0.001" : Number(x).toFixed(3));
  // A threshold as it is stored: up to six decimals, none trailing (a suggestion's 0.998254 is not 0.998);
  // a positive value that six decimals would show as 0 is written out (1e-320), never as 0.
  const exact = (x) => {
    if (x === null || x === undefined) return "off";
    const rounded = Number(Number(x).toFixed(6));
    return rounded === 0 && Number(x) > 0 ? String(Number(x)) : String(rounded);
  };
  // A title with the exact values of those shown as "< 0.001" (null when there are none).
  const tinyTitle = (...values) => {
    const tiny = values.filter(isTiny);
    return tiny.length ? `exact: ${tiny.map((x) => String(Number(x))).join(", ")}` : null;
  };
  const short = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);
  const when = (iso) => {
    const date = new Date(iso);
    // the reader's local time, with its zone named (the CLI prints UTC): "6.12.2026, 17:46:15 MEZ"
    return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "long" });
  };

  function showBanner(message, isError) {
    const banner = $("banner");
    banner.textContent = message;
    banner.className = isError ? "banner error" : "banner";
    banner.hidden = false;
  }

  // ---------- the API ----------

  class ApiError extends Error {
    constructor(status, detail, kind) {
      super(detail);
      this.status = status;
      this.kind = kind || null; // the service's error name, e.g. "DamagedThresholdVersion"
    }
  }

  function explain(error) {
    const detail = error.message || "no details";
    switch (error.status) {
      case 401: return `The key was not accepted (401): ${detail}`;
      case 403: return `This key may not do that (403): ${detail}`;
      case 404: return `Not found (404): ${detail}`;
      case 409: return `Someone changed the thresholds meanwhile (409): ${detail}`;
      case 422: return `Not applied (422): ${detail}`;
      case 0: return `The service did not answer: ${detail}`;
      default: return `Error ${error.status}: ${detail}`;
    }
  }

  async function api(path, options) {
    const init = { method: "GET", ...(options || {}) };
    const headers = { Accept: "application/json", Authorization: `Bearer ${sessionStorage.getItem(KEY_STORAGE) || ""}` };
    if (init.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(init.json);
      delete init.json;
    }
    init.headers = headers;
    let response;
    try {
      response = await fetch(path, init);
    } catch (exc) {
      throw new ApiError(0, String(exc));
    }
    let data = null;
    try {
      data = await response.json();
    } catch (exc) {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.detail) || response.statusText, data && data.error);
    }
    return data;
  }

  // ---------- sign-in ----------

  function showLogin(message) {
    $("login").hidden = false;
    $("session").hidden = true;
    for (const id of ["summary", "suspensions", "outcomes", "history", "banner"]) $(id).hidden = true;
    $("sets").replaceChildren();
    $("login-error").textContent = message || "";
    $("key").focus();
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key").value = "";
    load();
  });

  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    state.overview = null;
    state.versions = [];
    state.historyLimit = HISTORY_PAGE;
    showLogin("");
  });

  $("refresh").addEventListener("click", () => load());
  $("model").addEventListener("change", (event) => {
    state.model = event.target.value || null;
    load();
  });

  // ---------- loading ----------

  async function load(message) {
    if (!sessionStorage.getItem(KEY_STORAGE)) {
      showLogin("");
      return;
    }
    const query = state.model ? `?model_version=${encodeURIComponent(state.model)}` : "";
    const [overview, versions] = await Promise.allSettled([
      api(`/v1/lead/overview${query}`),
      api(`/v1/thresholds/history?limit=${state.historyLimit}`),
    ]);
    const refused = [overview, versions].find((r) => r.status === "rejected" && [401, 403].includes(r.reason.status));
    if (refused) {
      sessionStorage.removeItem(KEY_STORAGE);
      showLogin(explain(refused.reason));
      return;
    }
    const damaged = overview.status === "rejected" && overview.reason.kind === "DamagedThresholdVersion";
    const failed = [overview, versions].find((r) => r.status === "rejected");
    if (failed && !(damaged && versions.status === "fulfilled")) {
      showBanner(explain(failed.reason), true);
      return;
    }
    $("login").hidden = true;
    $("session").hidden = false;
    if (damaged) {
      // The active version cannot be read (its row was changed outside Postroom): no cards, but the history,
      // whose Roll back buttons are the way out.
      state.overview = null;
      $("summary").hidden = true;
      $("suspensions").hidden = true;
      $("sets").replaceChildren();
    } else {
      state.overview = overview.value;
      renderModels(overview.value);
      renderSummary(overview.value);
      renderSuspensions(overview.value);
      renderSets(overview.value);
    }
    renderHistory(versions.value);
    loadOutcomes(); // a month of feedback can take seconds to count: the rest of the page does not wait
    if (damaged) showBanner(`${explain(overview.reason)}. The history below has the Roll back buttons.`, true);
    else if (message) showBanner(message, false);
    else $("banner").hidden = true;
  }

  function renderModels(overview) {
    const select = $("model");
    const models = [...overview.models];
    if (overview.model_version && !models.includes(overview.model_version)) models.unshift(overview.model_version);
    select.replaceChildren(...models.map((m) => el("option", { value: m, text: m, selected: m === overview.model_version })));
    if (!models.length) select.append(el("option", { value: "", text: "none" }));
  }

  function fact(label, value) {
    return el("div", { className: "fact" }, el("b", { text: label }), el("span", { text: value }));
  }

  function renderSummary(o) {
    const box = $("summary");
    const active = o.active;
    const facts = el(
      "div",
      { className: "summary-grid" },
      fact("Active thresholds", active ? `version ${active.version}` : "none yet (defaults)"),
      active ? fact("Set by", `${active.created_by}, ${when(active.created_at)}`) : null,
      active && active.model_version ? fact("Calibrated for", active.model_version) : null,
      fact("Promise", `precision ≥ ${pct(o.target_precision)} at ${pct(o.confidence)} confidence${o.guarantee ? `, ${GUARANTEES[o.guarantee] || o.guarantee}` : ""}`),
      fact("Served model", o.loaded_model || "none loaded"),
      fact("Curves", o.model_version ? `calibration data of ${o.model_version}` : "none"),
      fact("Feedback window", `${o.feedback_window_days} days`),
    );
    const children = [el("h2", { text: "Overview" }), facts];
    if (o.replies_paused) {
      const text = o.replies_resume ? `${o.replies_paused}: ${o.replies_resume}.` : `${o.replies_paused}.`;
      children.push(el("p", { className: "note", id: "replies-paused", text }));
    }
    if (o.unbacked_replies.length) {
      const listed = o.unbacked_replies.map((u) => `${u.class_name} at ${exact(u.threshold)} (${u.certified === null ? "the calibration certifies no threshold of it" : `certified from ${exact(u.certified)}`})`);
      children.push(
        el("p", {
          className: "note",
          id: "unbacked-replies",
          text: `Not covered by the promise: ${listed.join("; ")}. These automated replies rest on a threshold set by hand, not on measured precision; the feedback monitor still watches them.`,
        }),
      );
    }
    if (active) children.push(el("p", { className: "muted", text: `Why: ${active.reason}` }));
    if (o.curve_source) children.push(el("p", { className: "muted", text: `Curves: ${o.curve_source}.` }));
    if (o.note) children.push(el("p", { className: "note", text: o.note }));
    if (o.model_version) {
      const button = el("button", {
        type: "button",
        id: "apply-suggestion",
        text: `Apply suggested thresholds for ${o.model_version}…`,
        onclick: () => applySuggestion(o),
      });
      children.push(
        el(
          "div",
          { className: "summary-actions" },
          button,
          el("span", {
            className: "muted",
            text: (o.guarantee || "per-class") === "per-class"
              ? "Every class gets the lowest threshold certified on its own at the promise above (classes that cannot reach it: off)."
              : `Thresholds that keep the promise above for ${GUARANTEES[o.guarantee]} (classes that cannot reach it: off).`,
          }),
        ),
      );
    }
    box.replaceChildren(...children);
    box.hidden = false;
  }

  function renderSuspensions(o) {
    const box = $("suspensions");
    if (!o.suspensions.length) {
      box.hidden = true;
      return;
    }
    const items = o.suspensions.slice(0, 8).map((e) => {
      const p = e.payload || {};
      const share = p.auto_replies ? ` (${pct(p.correct / p.auto_replies)})` : "";
      return el(
        "li",
        {},
        el("strong", { className: "mono", text: e.subject || "" }),
        ` switched off automatically ${when(e.created_at)}: ${p.correct} of ${p.auto_replies} automated replies right${share} over ${p.window_days} days, below the ${pct(p.target)} target (thresholds version ${p.thresholds_version}).`,
      );
    });
    box.replaceChildren(
      el("h2", { text: "Automatic suspensions" }),
      el("ul", { className: "plain-list" }, items),
    );
    box.hidden = false;
  }

  // ---------- outcomes (closed cases' feedback) ----------

  function outcomeTable(className, columns, rows) {
    const header = el("tr", {}, columns.map((h) => el("th", { text: h })));
    return el("div", { className: "table-box" }, el("table", { className }, el("thead", {}, header), el("tbody", {}, rows)));
  }

  function renderOutcomes(data) {
    const box = $("outcomes");
    const children = [
      el("h2", { text: `Outcomes, last ${data.window_days} days` }),
      el("p", { className: "muted", text: "Closed cases with feedback, by the model that classified them: how often each label set was the case's final class, and where each queue's messages belonged. Only cases with feedback count." }),
    ];
    if (!data.models.length) {
      children.push(el("p", { className: "muted", id: "outcomes-none", text: `No routed message has feedback in the last ${data.window_days} days.` }));
    }
    // the served model first (always shown), then the newest others, three models in all
    const served = data.models.filter((m) => m.model_version === data.served_model);
    const shownModels = [...served, ...data.models.filter((m) => m.model_version !== data.served_model)].slice(0, 3);
    for (const m of shownModels) {
      const sets = m.label_sets.map((s) =>
        el(
          "tr",
          { "data-testid": `outcome-${m.model_version}-${s.label_set}` },
          el("td", { text: s.label_set }),
          el("td", { text: `${s.right} of ${s.judged}` }),
          el("td", { text: pct(s.accuracy) }),
          el("td", { text: s.interval ? `${pct(s.interval[0])} – ${pct(s.interval[1])}` : "n/a" }),
          el("td", { text: s.held_out_accuracy === null ? "n/a" : pct(s.held_out_accuracy) }),
          el(
            "td",
            { className: s.below_held_out ? "bad-text" : "muted" },
            s.below_held_out ? "below its held-out accuracy: the mail has moved from what was labeled" : s.judged < data.few_cases ? "few cases" : "",
          ),
        ),
      );
      const queues = m.queues.map((q) => {
        const others = Object.entries(q.went_to).map(([k, v]) => `${k} ${v}`).join(", ") || "–";
        const belonged = q.queue === data.triage_queue ? "–" : `${q.belonged} (${pct(q.share)})`;
        return el(
          "tr",
          { "data-testid": `sent-${m.model_version}-${q.queue}` },
          el("td", { className: "mono", text: q.queue }),
          el("td", { text: String(q.sent) }),
          el("td", { text: belonged }),
          el("td", { text: others }),
        );
      });
      children.push(
        el("h3", { text: `Model ${m.model_version}${m.model_version === data.served_model ? " (served)" : ""}` }),
        outcomeTable("outcomes", ["Label set", "Right", "Accuracy", "95 % interval", "Held-out", ""], sets),
      );
      if (m.auto_replied) {
        // so that the rows add up: automated replies went to no queue
        queues.push(
          el(
            "tr",
            { "data-testid": `sent-${m.model_version}-auto-replied` },
            el("td", { className: "muted", text: "(answered automatically)" }),
            el("td", { text: String(m.auto_replied) }),
            el("td", { text: "–" }),
            el("td", { className: "muted", text: "sent to no queue" }),
          ),
        );
      }
      if (queues.length) {
        children.push(outcomeTable("outcomes", ["Sent to", "Messages", "Belonged there", "The others went to"], queues));
      }
    }
    if (data.models.length > shownModels.length) {
      const more = data.models.length - shownModels.length;
      children.push(el("p", { className: "muted", text: `${more} more model${more === 1 ? "" : "s"} ha${more === 1 ? "s" : "ve"} feedback in the window: postroom outcomes lists every one.` }));
    }
    box.replaceChildren(...children);
    box.hidden = false;
  }

  async function loadOutcomes() {
    const box = $("outcomes");
    if (box.hidden) {
      box.replaceChildren(el("h2", { text: "Outcomes" }), el("p", { className: "muted", text: "Counting the closed cases…" }));
      box.hidden = false;
    }
    let data;
    try {
      data = await api("/v1/lead/outcomes");
    } catch (error) {
      if (!$("session").hidden) renderOutcomesError(error);
      return;
    }
    if (!$("session").hidden) renderOutcomes(data); // not after a sign-out meanwhile
  }

  function renderOutcomesError(error) {
    const box = $("outcomes");
    box.replaceChildren(el("h2", { text: "Outcomes" }), el("p", { className: "bad-text", text: explain(error) }));
    box.hidden = false;
  }

  // ---------- curves ----------

  function sortedCurve(curve) {
    // Highest threshold first: coverage grows along the list.
    return [...curve].sort((a, b) => b.threshold - a.threshold);
  }

  // What a threshold would select on the calibration data: the curve point with the lowest threshold that is
  // still at or above it (exact at the curve's points; the curve holds at most 60 of them).
  function pointAt(curve, threshold) {
    if (threshold === null || threshold === undefined) return null;
    let found = null;
    for (const p of curve) {
      if (p.threshold >= threshold - 1e-12) found = p;
      else break;
    }
    return found || { threshold, precision: null, coverage: 0, selected: 0 };
  }

  function describePoint(point) {
    if (!point || point.selected === 0) return `no calibration message selected (${pct(0)} of messages)`;
    const count = typeof point.selected === "number" ? ` (${point.selected} calibration message${point.selected === 1 ? "" : "s"})` : "";
    return `${pct(point.coverage)} of messages, precision ${pct(point.precision)}${count}`;
  }

  function drawChart(curve, target, current, candidate, xLabel) {
    const W = 340;
    const H = 180;
    const m = { l: 40, r: 12, t: 10, b: 32 };
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
    if (!curve.length) {
      root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no calibration data for this class"));
      return { root, move: () => {} };
    }
    const maxCov = Math.max(...curve.map((p) => p.coverage), 1e-6) * 1.05;
    const minPrec = Math.min(...curve.map((p) => p.precision), target || 1);
    const yMin = Math.max(0, Math.min(0.8, Math.floor(minPrec * 10) / 10));
    const x = (c) => m.l + (c / maxCov) * (W - m.l - m.r);
    const y = (p) => m.t + (1 - (p - yMin) / (1 - yMin)) * (H - m.t - m.b);
    const step = 1 - yMin > 0.45 ? 0.2 : 0.1;
    for (let v = 1; v >= yMin - 1e-9; v -= step) {
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: "grid-line" }));
      root.append(svg("text", { x: m.l - 5, y: y(v) + 3, "text-anchor": "end", class: "tick" }, `${Math.round(v * 100)}%`));
    }
    for (const f of [0, 0.5, 1]) {
      const c = (maxCov / 1.05) * f;
      root.append(svg("text", { x: x(c), y: H - m.b + 13, "text-anchor": "middle", class: "tick" }, `${(c * 100).toFixed(1)}%`));
    }
    root.append(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: "axis" }));
    root.append(svg("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: "axis" }));
    root.append(svg("text", { x: (m.l + W - m.r) / 2, y: H - 3, "text-anchor": "middle", class: "label" }, `${xLabel} →`));
    root.append(svg("text", { x: 10, y: (m.t + H - m.b) / 2, "text-anchor": "middle", class: "label", transform: `rotate(-90 10 ${(m.t + H - m.b) / 2})` }, "precision"));
    const pts = curve.map((p) => `${x(p.coverage).toFixed(1)},${y(p.precision).toFixed(1)}`);
    const first = curve[0];
    const last = curve[curve.length - 1];
    root.append(svg("polygon", { class: "area", points: [`${x(first.coverage)},${H - m.b}`, ...pts, `${x(last.coverage)},${H - m.b}`].join(" ") }));
    root.append(svg("polyline", { class: "curve", points: pts.join(" ") }));
    if (target && target >= yMin) {
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(target), y2: y(target), class: "target" }));
      root.append(svg("text", { x: W - m.r - 2, y: y(target) - 4, "text-anchor": "end", class: "target-label" }, `target ${Math.round(target * 1000) / 10}%`));
    }
    const shows = (point) => Boolean(point) && point.selected !== 0 && point.precision !== null;
    if (shows(current)) {
      const dot = svg("circle", { cx: x(current.coverage), cy: y(current.precision), r: 5, class: "current" });
      dot.append(svg("title", {}, `current threshold ${thr(current.threshold)}`));
      root.append(dot);
    }
    const ring = svg("circle", { r: 6.5, class: "candidate" });
    ring.append(svg("title", {}, "candidate threshold"));
    root.append(ring);
    const move = (point) => {
      if (shows(point)) {
        ring.setAttribute("cx", x(point.coverage));
        ring.setAttribute("cy", y(point.precision));
        ring.setAttribute("visibility", "visible");
      } else {
        ring.setAttribute("visibility", "hidden");
      }
    };
    move(candidate);
    return { root, move };
  }

  // ---------- label sets and classes ----------

  function renderSets(o) {
    const container = $("sets");
    container.replaceChildren();
    for (const set of o.label_sets) {
      const reply = set.role === "reply";
      // Queues have a target only when a suggestion was asked for a queue precision (the overview says so).
      const target = set.target_precision || (reply ? o.target_precision : null);
      const shown = reply ? set.classes.filter((c) => c.has_template) : set.classes;
      const others = reply ? set.classes.filter((c) => !c.has_template) : [];
      const title = reply ? `Automated replies · ${set.name}` : `Queues · ${set.name}`;
      const explainText = reply
        ? `A message predicted in a class gets the class's automated reply when its ${set.score} is at or above the class's threshold (and a template exists in the message's language). Off: always a human.${set.score === "probability" ? "" : " The learned confidence weighs the probability with the similarity to the labeled examples and a second head (docs/router.md); thresholds and curves below are on it."}`
        : `A queue prediction below its queue's threshold goes to triage instead. 0 or off: every prediction is trusted (no triage). ${
            target
              ? `The queue thresholds were suggested for a queue precision of ${pct(target)}${set.confidence ? ` at ${pct(set.confidence)} confidence` : ""}; below it is marked red.`
              : "No queue precision was asked for (a suggestion applied with a queue precision sets one), so the curves show no target."
          }`;
      const calibration = set.calibration_size ? ` · ${set.calibration_size} calibration messages` : "";
      container.append(
        el("div", { className: "set-head" }, el("h2", { text: title }), el("span", { className: "muted", text: `${set.description}${calibration}` })),
        el("p", { className: "set-explain", text: explainText }),
        el("div", { className: "grid" }, shown.map((c) => classCard(set, c, target, set.calibration_size))),
      );
      if (others.length) {
        container.append(
          el(
            "div",
            { className: "untemplated" },
            el("span", { className: "muted", text: "Without a template (never answered automatically):" }),
            others.map((c) => el("span", { className: "chip mono", title: c.description, text: c.name })),
          ),
        );
      }
    }
  }

  function statusBadge(c, reply) {
    if (c.suspended) return el("span", { className: "badge suspended", text: "suspended" });
    if (reply && c.backed === false) return el("span", { className: "badge veto", "data-testid": "not-certified", text: `on · ${thr(c.threshold)} · not certified`, title: "set by hand below what the calibration certifies: outside the promise" });
    if (!reply) {
      // a queue's threshold sends low-confidence predictions to triage; 0 (or none) trusts every prediction
      if (c.threshold === null || Number(c.threshold) === 0) {
        return el("span", { className: "badge trusted", text: "trusted · no triage", title: "every prediction of this queue is trusted" });
      }
      return el("span", { className: "badge on", text: `triage below ${thr(c.threshold)}`, title: tinyTitle(c.threshold) });
    }
    if (c.threshold === null) return el("span", { className: "badge off", text: "off" });
    return el("span", { className: "badge on", text: `on · ${thr(c.threshold)}`, title: tinyTitle(c.threshold) });
  }

  function classCard(set, c, target, calibrationSize) {
    const reply = set.role === "reply";
    const curve = sortedCurve(c.curve || []);
    const suggested = c.suggested && c.suggested.threshold !== null && c.suggested.threshold !== undefined ? c.suggested : null;
    // The curve is downsampled; at the suggested threshold the report has the exact numbers.
    const estimate = (t) => {
      if (suggested && t !== null && Math.abs(suggested.threshold - t) < 1e-9 && suggested.expected_precision !== null) {
        const selected = calibrationSize ? Math.round(suggested.expected_coverage * calibrationSize) : null;
        return { threshold: t, coverage: suggested.expected_coverage, precision: suggested.expected_precision, selected };
      }
      return pointAt(curve, t);
    };
    const current = estimate(c.threshold);
    const id = `${set.name}.${c.name}`;
    const slug = `${set.name}-${c.name}`;
    let value = c.threshold ?? suggested?.threshold ?? (curve.length ? curve[0].threshold : 0.9); // exact until moved
    const lowest = curve.length ? Math.min(...curve.map((p) => p.threshold)) : 0;
    const min = Math.max(0, Math.min(Math.floor(lowest * 100) / 100, value, 0.99));

    const xLabel = reply ? "share of all messages answered automatically" : "share of all messages sent straight to this queue";
    const chart = drawChart(curve, target, current, estimate(value), xLabel);
    const legend = curve.length
      ? el(
          "div",
          { className: "legend" },
          el("span", { className: "key now" }),
          c.threshold === null ? "now: off" : "now",
          el("span", { className: "key try" }),
          "trying",
          target ? el("span", { className: "key target" }) : null,
          target ? "target" : null,
        )
      : null;
    const live = el("div", { className: "live", "data-testid": `live-${slug}`, "aria-live": "polite" });
    const range = el("input", { type: "range", min, max: 1, step: "any", value, "aria-label": `Candidate threshold for ${id}`, "data-testid": `slider-${slug}` });
    const number = el("input", { type: "number", min: 0, max: 1, step: "any", value: exact(value), "aria-label": `Candidate threshold for ${id} (exact)` });
    const error = el("p", { className: "error", role: "alert" });

    const update = () => {
      const point = estimate(value);
      chart.move(point);
      if (!curve.length) {
        live.textContent = `At ${thr(value)}: no calibration data to estimate coverage and precision`;
        live.className = "live";
        if (tinyTitle(value)) live.title = tinyTitle(value);
        else live.removeAttribute("title");
        return;
      }
      live.textContent = `At ${thr(value)}: ${describePoint(point)}`;
      live.className = point && point.selected !== 0 && target && point.precision < target ? "live below" : "live";
      const title = tinyTitle(value);
      if (title) live.title = title;
      else live.removeAttribute("title");
    };
    const setValue = (v, fromSlider) => {
      value = v;
      if (!fromSlider) {
        if (v < Number(range.min)) range.min = String(Math.floor(v * 100) / 100);
        range.value = String(v);
      }
      number.value = exact(v);
      update();
    };
    range.addEventListener("input", () => setValue(Math.round(Number(range.value) * 1000) / 1000, true));
    number.addEventListener("input", () => {
      const typed = Number(number.value);
      if (number.value !== "" && Number.isFinite(typed) && typed >= 0 && typed <= 1) {
        value = typed;
        if (typed < Number(range.min)) range.min = String(Math.floor(typed * 100) / 100);
        range.value = String(typed);
        update();
      }
    });

    const apply = el("button", {
      type: "button",
      className: "primary",
      text: "Apply…",
      "data-testid": `apply-${slug}`,
      // what the box says is what is applied: a typed 95 or 1.5 is refused, not replaced by the slider's value
      onclick: () => change(set, c, number.value.trim() === "" ? NaN : Number(number.value), error),
    });
    const off = reply
      ? el("button", { type: "button", className: "danger", text: "Turn off…", disabled: c.threshold === null, onclick: () => change(set, c, null, error) })
      : null;
    const useSuggested = suggested
      ? el("button", { type: "button", text: `Use suggested ${thr(suggested.threshold)}`, title: tinyTitle(suggested.threshold), onclick: () => setValue(suggested.threshold, false) })
      : null;

    const rows = el("dl", { className: "rows" });
    const row = (label, value, className, title) => {
      const dd = el("dd", { className, text: value, title });
      rows.append(el("dt", { text: label }), dd);
      return dd;
    };
    let now = `${thr(c.threshold)} → ${describePoint(current)}`;
    if (c.threshold === null) now = reply ? "off: every message goes to a human" : "none: every prediction trusted (no triage)";
    else if (!reply && Number(c.threshold) === 0) now = "0: every prediction trusted (no triage)";
    row("Now", now, null, tinyTitle(c.threshold));
    if (c.suggested) {
      const s = c.suggested;
      const needs = s.examples_needed ? ` (needs ~${s.examples_needed} calibration examples)` : "";
      let text;
      // a queue's share goes straight to it (the rest of its predictions to triage): no automated reply
      const where = reply ? "of messages" : "of messages straight to this queue";
      if (s.threshold !== null && s.threshold !== undefined) {
        text = `${thr(s.threshold)} → ${pct(s.expected_coverage)} ${where}, precision ${pct(s.expected_precision)}`;
      } else if (reply) {
        text = `off: ${s.reason || "cannot reach the target"}${needs}`;
      } else {
        // an applied suggestion keeps an uncertified queue at 0: every prediction trusted, all go straight to it
        const straight = s.straight_share !== null && s.straight_share !== undefined
          ? ` → ${pct(s.straight_share)} ${where}${s.straight_precision !== null && s.straight_precision !== undefined ? `, precision ${pct(s.straight_precision)}` : ""}`
          : "";
        text = `0, every prediction trusted${straight} (not certified: ${s.reason || "cannot reach the queue precision"}${needs})`;
      }
      row("Suggested", text, null, tinyTitle(s.threshold));
    } else if (!reply) {
      row("Suggested", "none: no queue precision was asked for", "muted");
    }
    if (reply) {
      const r = c.realized;
      if (r && r.auto_replies) {
        const below = target && r.precision < target;
        row(
          `Realized, ${r.window_days} d`,
          `${r.correct} of ${r.auto_replies} automated replies right (${pct(r.precision)}), ${r.resolved} resolved the case`,
          below ? "bad-text" : "good-text",
        );
      } else {
        row("Realized", "no feedback on automated replies yet");
      }
    }
    if (c.last_change) {
      const lc = c.last_change;
      row("Last change", `v${lc.version} by ${lc.created_by}, ${when(lc.created_at)}: ${thr(lc.old)} → ${thr(lc.new)}`, null, tinyTitle(lc.old, lc.new));
      row("Why", short(lc.reason, 110), "muted").title = lc.reason;
    }

    const badges = [statusBadge(c, reply)];
    if (reply && c.template_languages.length) badges.push(el("span", { className: "badge tpl", title: "auto-reply template languages", text: `template ${c.template_languages.join(" · ")}` }));
    if (!c.auto_reply_allowed) badges.push(el("span", { className: "badge veto", text: "vetoes auto-replies" }));

    const card = el(
      "article",
      { className: `cls${c.threshold === null ? " is-off" : ""}${c.suspended ? " is-suspended" : ""}`, "data-testid": `class-${slug}` },
      el("div", { className: "cls-head" }, el("span", { className: "cls-name mono", text: c.name }), badges),
      el("p", { className: "cls-desc", text: c.description }),
      chart.root,
      legend,
      rows,
      el(
        "div",
        { className: "controls" },
        el("div", { className: "slider-row" }, el("span", { className: "muted", text: "Try" }), range, number),
        live,
        el("div", { className: "buttons" }, apply, off, useSuggested),
        error,
      ),
    );
    update();
    return card;
  }

  // ---------- changes ----------

  function askReason(question) {
    const answer = window.prompt(question);
    if (answer === null) return null;
    return answer.trim();
  }

  async function change(set, c, value, errorBox) {
    errorBox.textContent = "";
    const id = `${set.name}.${c.name}`;
    if (value !== null && !(Number.isFinite(value) && value >= 0 && value <= 1)) {
      errorBox.textContent = "The threshold must be a number between 0 and 1.";
      return;
    }
    // 0 on a reply class answers every prediction of it, however unsure: confirmed here, as the API (and the
    // CLI's --allow-zero) wants it, since a lead who types 0 usually means "off" (Turn off…).
    const zeroReply = set.role === "reply" && value === 0;
    if (zeroReply) {
      const sure = window.confirm(
        `0 answers every message predicted as ${id} automatically, however unsure the model is. To switch its automated reply off, cancel and use Turn off….\n\nSet ${id} to 0 anyway?`,
      );
      if (!sure) {
        errorBox.textContent = `Not applied: 0 would answer every message predicted as ${id} automatically; Turn off… switches its automated reply off.`;
        return;
      }
    }
    const what = value === null ? `turn off ${id}` : `set ${id} to ${exact(value)} (now ${exact(c.threshold)})`;
    const reason = askReason(`Why ${what}? The reason is recorded with the change.`);
    if (reason === null) return;
    if (!reason) {
      errorBox.textContent = "Not applied: a reason is required.";
      return;
    }
    try {
      const version = await api("/v1/thresholds", {
        method: "POST",
        json: {
          changes: { [set.name]: { [c.name]: value } },
          reason,
          base_version: state.overview.thresholds_version || 0,
          ...(zeroReply ? { allow_zero: true } : {}),
        },
      });
      await load(`Version ${version.version} is active: ${id} ${exact(c.threshold)} → ${exact(value)}.`);
    } catch (error) {
      errorBox.textContent = explain(error);
    }
  }

  async function applySuggestion(o) {
    const guarantee = o.guarantee || "per-class"; // the active thresholds' own, so one click keeps the promise's kind
    const reason = askReason(
      `Apply the suggested thresholds for ${o.model_version} (precision ≥ ${pct(o.target_precision)} at ${pct(o.confidence)} confidence, ${GUARANTEES[guarantee] || guarantee})? Optional note for the record:`,
    );
    if (reason === null) return;
    try {
      const version = await api("/v1/thresholds/suggest/apply", {
        method: "POST",
        json: {
          model_version: o.model_version,
          target_precision: o.target_precision,
          confidence: o.confidence,
          guarantee,
          reason: reason || null,
          base_version: o.thresholds_version || 0,
        },
      });
      await load(`Version ${version.version} is active: ${version.changes.length} threshold(s) changed.`);
    } catch (error) {
      showBanner(explain(error), true);
    }
  }

  // The active values: the active version's (the history's newest), else what the overview's cards show;
  // null when the active version is damaged (its values cannot be read, and there is no overview).
  function activeValues() {
    const active = state.versions.find((v) => v.active);
    if (active && active.values) return active.values;
    if (!state.overview) return null;
    const values = {};
    for (const set of state.overview.label_sets) values[set.name] = Object.fromEntries(set.classes.map((c) => [c.name, c.threshold]));
    return values;
  }

  // Whether a threshold of `value` decides anything: a queue's, or a reply class's with a template (off always
  // does). A rollback does not restore the others (router.thresholds.without_effect).
  function decides(setName, name, value) {
    const set = state.overview.label_sets.find((s) => s.name === setName);
    if (!set) return false;
    if (set.role !== "reply" || value === null || value === undefined) return true;
    return set.classes.some((c) => c.name === name && c.has_template);
  }

  // What a rollback to `target` (a history entry) changes: its values of the classes that exist now and that
  // decide something, where they differ from the active ones (as the service computes the rollback).
  function rollbackChanges(target) {
    const current = activeValues();
    const changes = [];
    if (current === null) {
      // nothing to compare with: every value the target holds (the service leaves out those deciding nothing)
      for (const [setName, perClass] of Object.entries(target.values || {})) {
        for (const [name, value] of Object.entries(perClass)) changes.push(`${setName}.${name} → ${exact(value)}`);
      }
      return changes;
    }
    for (const [setName, perClass] of Object.entries(target.values || {})) {
      if (!current[setName]) continue;
      for (const [name, value] of Object.entries(perClass)) {
        if (!(name in current[setName]) || !decides(setName, name, value)) continue;
        const now = current[setName][name];
        if ((now ?? null) === (value ?? null)) continue;
        changes.push(`${setName}.${name} ${exact(now)} → ${exact(value)}${rollbackWarning(setName, name, value)}`);
      }
    }
    return changes;
  }

  // What a lead should know before a rollback turns a reply class on: the monitor switched it off, or the
  // calibration does not certify the value (as the service's router.backing judges it).
  function rollbackWarning(setName, name, value) {
    const set = state.overview && state.overview.label_sets.find((s) => s.name === setName);
    const c = set && set.role === "reply" && value !== null && value !== undefined ? set.classes.find((k) => k.name === name) : null;
    if (!c) return "";
    const notes = [];
    if (c.suspended) notes.push("switched off by the feedback monitor: this turns its automated replies back on");
    const certified = c.certified_threshold;
    if (certified === null || certified === undefined || value < certified) notes.push(certified === null || certified === undefined ? "not certified: the calibration certifies no threshold of it" : `not certified: certified from ${exact(certified)}`);
    return notes.length ? ` (${notes.join("; ")})` : "";
  }

  async function rollbackTo(target) {
    const version = target.version;
    const changes = rollbackChanges(target);
    const activeVersion = (state.versions.find((v) => v.active) || {}).version || 0;
    let what = changes.length
      ? `This changes ${changes.length} class${changes.length === 1 ? "" : "es"}:\n${changes.join("\n")}`
      : "No class changes: its values equal the active ones.";
    if (!state.overview) {
      what = `The active version ${activeVersion} is damaged (its values cannot be read); this makes version ${version}'s values active:\n${changes.join("\n") || "(none stored)"}`;
    }
    const reason = askReason(`Roll back to version ${version}? ${what}\n\nWhy? The reason is recorded with the change.`);
    if (reason === null) return;
    if (!reason) {
      showBanner("Not rolled back: a reason is required.", true);
      return;
    }
    try {
      const created = await api("/v1/thresholds/rollback", {
        method: "POST",
        json: { version, reason, base_version: state.overview ? state.overview.thresholds_version || 0 : activeVersion },
      });
      await load(`Version ${created.version} is active (the values of version ${version}: ${changes.length} class${changes.length === 1 ? "" : "es"} changed).`);
    } catch (error) {
      showBanner(explain(error), true);
    }
  }

  // ---------- history ----------

  function renderHistory(data) {
    const box = $("history");
    state.versions = data.versions;
    const columns = ["Version", "When", "Who", "Why", "Changes", ""];
    const header = el("tr", {}, columns.map((h) => el("th", { text: h })));
    // data-label: the column's name, shown beside each cell where narrow screens stack a row as a card
    const cell = (column, props, ...children) => el("td", { ...props, "data-label": columns[column] || null }, ...children);
    const rows = data.versions.map((v) => {
      const changes = v.changes.map((ch) =>
        el("span", { className: "change mono", text: `${ch.label_set}.${ch.class} ${thr(ch.old)} → ${thr(ch.new)}`, title: tinyTitle(ch.old, ch.new) }),
      );
      // a damaged version (its row changed outside Postroom) shows why and cannot be rolled back to
      if (v.damaged) changes.push(el("span", { className: "bad-text", "data-testid": `damaged-${v.version}`, text: `damaged: ${v.damaged}` }));
      let action = el("span", { className: "badge on", text: "active" });
      if (!v.active && !v.damaged) {
        action = el("button", { type: "button", className: "small", text: "Roll back to this…", "data-testid": `rollback-${v.version}`, onclick: () => rollbackTo(v) });
      } else if (!v.active) {
        action = null;
      }
      const kind = [];
      if (v.rollback_to !== null && v.rollback_to !== undefined) {
        kind.push(el("span", { className: "badge rollback", "data-testid": `rolled-back-${v.version}`, text: `rollback to version ${v.rollback_to}` }));
      }
      if (v.suspension) kind.push(el("span", { className: "badge suspended", text: "automatic suspension" }));
      return el(
        "tr",
        { className: v.active ? "active" : "", "data-testid": `version-${v.version}` },
        cell(0, { className: "mono" }, `v${v.version}`),
        cell(1, { text: when(v.created_at) }),
        cell(2, { text: v.created_by }),
        cell(3, {}, kind.length ? el("div", { className: "kind" }, kind) : null, v.reason),
        cell(4, {}, changes.length ? changes : el("span", { className: "muted", text: "no change" })),
        cell(5, { className: "action" }, action),
      );
    });
    const children = [el("h2", { text: "History" })];
    if (rows.length) {
      children.push(el("div", { className: "table-box" }, el("table", { className: "history" }, el("thead", {}, header), el("tbody", {}, rows))));
    } else {
      children.push(el("p", { className: "muted", text: "No thresholds version yet." }));
    }
    // the API has no offset: more is a larger limit (every version up to HISTORY_MAX)
    const more = data.versions.length >= state.historyLimit && state.historyLimit < HISTORY_MAX;
    const n = data.versions.length;
    let shown = `All ${n} version${n === 1 ? "" : "s"}.`;
    if (more) shown = `The ${n} newest versions.`;
    else if (n >= HISTORY_MAX) shown = `The ${n} newest versions (the most this page shows; \`postroom thresholds history\` lists all).`;
    const footer = el("p", { className: "muted history-foot" }, shown);
    if (more) {
      footer.append(" ", el("button", { type: "button", id: "history-more", className: "small", text: "Show more", onclick: showMoreHistory }));
    }
    if (rows.length) children.push(footer);
    box.replaceChildren(...children);
    box.hidden = false;
  }

  async function showMoreHistory(event) {
    const button = event.currentTarget;
    button.disabled = true;
    const limit = Math.min(state.historyLimit + HISTORY_PAGE, HISTORY_MAX);
    try {
      const data = await api(`/v1/thresholds/history?limit=${limit}`);
      state.historyLimit = limit;
      renderHistory(data);
    } catch (error) {
      button.disabled = false;
      showBanner(explain(error), true);
    }
  }

  load();
})();
