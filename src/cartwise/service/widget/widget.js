/* Cartwise storefront widget, served by the service at GET /widget.js (plain JS, no build step).
 *
 *   <div id="recs"></div>
 *   <script src="https://recs.example.com/widget.js" data-api-key="STOREFRONT_KEY"></script>
 *   <script>Cartwise.render(document.getElementById("recs"),
 *             {scenario: "for_you", userId: "u42", k: 4, itemUrl: "/products/{id}"});</script>
 *
 * or, without code: <div data-cartwise="similar" data-item-id="sku-1" data-k="4"></div>.
 *
 * Scenarios: "for_you" (userId), "similar" and "bought_together" (itemId). Options: k, apiBase
 * (default: where this script came from), apiKey (default: the script's data-api-key), itemUrl
 * (a template with {id}, or function(item) -> URL; default item.attributes.url), heading,
 * params (more query parameters: category, max_price...), onClick(item, answer, event).
 *
 * Feedback: an item's impression is recorded once at least half of it has been on screen in a
 * visible tab (IntersectionObserver), a click when its link is clicked, both against the
 * answer's recommendation_id. Events are queued in localStorage, sent in batches every second
 * and on pagehide (fetch keepalive), and removed from the queue only once the service has
 * stored them; a failed batch is sent again later, on this page or the next one. Each
 * (recommendation, item, kind) is queued once, and the service stores it once, so retries
 * never count twice. The key is public in a page: use a key with the "storefront" scope.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var QUEUE = "cartwise:pending", SEEN = "cartwise:seen";
  var FLUSH_MS = 1000, MAX_WAIT_MS = 60000, MAX_BATCH = 200, MAX_QUEUE = 2000, MAX_SEEN = 5000;
  var PATHS = {
    for_you: ["userId", "/users/{}/recommendations"],
    similar: ["itemId", "/items/{}/similar"],
    bought_together: ["itemId", "/items/{}/complements"],
  };
  var defaults = {
    apiBase: script && script.src ? script.src.replace(/\/widget\.js([?#].*)?$/, "") : "",
    apiKey: script ? script.getAttribute("data-api-key") : null,
    k: 4,
  };
  var memory = {}, timer = null, failures = 0, busy = {}, watched = [];

  function load(name) {
    try {
      var text = window.localStorage.getItem(name);
      return text ? JSON.parse(text) : null;
    } catch (e) {
      return memory[name] || null; // storage disabled: this page only
    }
  }

  function save(name, value) {
    memory[name] = value;
    try {
      window.localStorage.setItem(name, JSON.stringify(value));
    } catch (e) { /* full or disabled: the copy in memory still serves this page */ }
  }

  function keyOf(e) { return e.recommendation_id + "|" + e.item_id + "|" + e.kind; }

  function enqueue(target, recommendationId, itemId, kind) {
    var event = { recommendation_id: recommendationId, item_id: itemId, kind: kind,
      timestamp: new Date().toISOString() };
    var seen = load(SEEN) || [];
    if (seen.indexOf(keyOf(event)) >= 0) return; // queued before: never twice
    save(SEEN, seen.concat([keyOf(event)]).slice(-MAX_SEEN));
    var queue = load(QUEUE) || {};
    var slot = queue[target.apiBase] || (queue[target.apiBase] = { key: null, events: [] });
    slot.key = target.apiKey || slot.key;
    slot.events = slot.events.concat([event]).slice(-MAX_QUEUE);
    save(QUEUE, queue);
    schedule(FLUSH_MS);
  }

  function schedule(ms) {
    if (timer === null) timer = setTimeout(function () { timer = null; flush(false); }, ms);
  }

  function headers(key, json) {
    var h = json ? { "Content-Type": "application/json" } : {};
    if (key) h["X-API-Key"] = key;
    return h;
  }

  // Send each service's queued events (the first MAX_BATCH); on pagehide (`leaving`) with
  // keepalive, so the request outlives the page, even if a send is already in flight.
  function flush(leaving) {
    var queue = load(QUEUE) || {};
    Object.keys(queue).forEach(function (base) {
      var slot = queue[base], batch = slot.events.slice(0, MAX_BATCH);
      if (!batch.length || (busy[base] && !leaving)) return;
      busy[base] = true;
      fetch(base + "/feedback", { method: "POST", headers: headers(slot.key, true),
        body: JSON.stringify({ events: batch }), keepalive: leaving, credentials: "omit" })
        .then(function (res) {
          return res.json().catch(function () { return {}; }).then(function (body) {
            settle(base, batch, res.status, body);
          });
        }, function () { settle(base, batch, 0, {}); });
    });
  }

  function settle(base, batch, status, body) {
    busy[base] = false;
    if (status === 0 || status === 408 || status === 429 || status >= 500) {
      failures += 1; // the queue keeps the batch: this page or the next sends it again
      schedule(Math.min(MAX_WAIT_MS, FLUSH_MS * Math.pow(2, failures)));
      return;
    }
    failures = 0;
    var drop = batch;
    var fields = (body.error && body.error.fields) || [];
    var bad = fields.map(function (f) { return f.index; }).filter(function (i) { return i !== null; });
    if (status === 422 && bad.length) {
      drop = batch.filter(function (e, i) { return bad.indexOf(i) >= 0; }); // the rest go again
    }
    if (status >= 400) warn("feedback rejected (" + status + ")", body);
    remove(base, drop);
    if ((load(QUEUE) || {})[base]) schedule(0);
  }

  function remove(base, events) {
    var gone = events.map(keyOf), queue = load(QUEUE) || {}; // read again: the page went on
    if (!queue[base]) return;
    queue[base].events = queue[base].events.filter(function (e) { return gone.indexOf(keyOf(e)) < 0; });
    if (!queue[base].events.length) delete queue[base];
    save(QUEUE, queue);
  }

  function warn(what, body) {
    if (window.console) console.warn("Cartwise: " + what, (body && body.error) || body || "");
  }

  function watch(target, answer, items) {
    if (!answer.recommendation_id || !("IntersectionObserver" in window)) return;
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        // 0.499: a ratio that crossed the 0.5 threshold may be reported a rounding below it
        if (!entry.isIntersecting || entry.intersectionRatio < 0.499) return;
        if (document.visibilityState !== "visible") return; // checked again when shown
        observer.unobserve(entry.target);
        items.splice(items.indexOf(entry.target), 1);
        enqueue(target, answer.recommendation_id, entry.target.getAttribute("data-item-id"), "impression");
      });
    }, { threshold: 0.5 });
    items.forEach(function (li) { observer.observe(li); });
    watched.push({ observer: observer, items: items });
  }

  function rewatch() { // observing again reports each unseen item's current intersection
    watched.forEach(function (w) {
      w.items.forEach(function (li) { w.observer.unobserve(li); w.observer.observe(li); });
    });
  }

  function safeUrl(url) {
    return /^\s*(javascript|data|vbscript):/i.test(String(url)) ? "#" : String(url);
  }

  function linkOf(o, item) {
    if (typeof o.itemUrl === "function") return safeUrl(o.itemUrl(item));
    if (o.itemUrl) return safeUrl(o.itemUrl.replace("{id}", encodeURIComponent(item.id)));
    return safeUrl((item.attributes && item.attributes.url) || "#");
  }

  function priceOf(item) {
    if (item.price === null || item.price === undefined) return "";
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined,
        { style: "currency", currency: item.currency || "USD" }).format(item.price);
    } catch (e) {
      return item.price.toFixed(2) + " " + (item.currency || "");
    }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    node.className = cls;
    if (text) node.textContent = text; // text only: item fields never become markup
    return node;
  }

  function draw(element, answer, o) {
    var target = { apiBase: o.apiBase, apiKey: o.apiKey };
    var list = el("ul", "cartwise-list"), items = [];
    list.setAttribute("data-recommendation-id", answer.recommendation_id || "");
    answer.items.forEach(function (rec) {
      var li = el("li", "cartwise-item"), a = el("a", "cartwise-link"), image = rec.item.attributes || {};
      li.setAttribute("data-item-id", rec.item_id);
      a.href = linkOf(o, rec.item);
      if (image.image_url) {
        var img = el("img", "cartwise-image");
        img.src = safeUrl(image.image_url);
        img.alt = "";
        a.appendChild(img);
      }
      a.appendChild(el("span", "cartwise-title", rec.item.title || rec.item_id));
      a.appendChild(el("span", "cartwise-price", priceOf(rec.item)));
      a.addEventListener("click", function (event) {
        if (answer.recommendation_id) enqueue(target, answer.recommendation_id, rec.item_id, "click");
        flush(true); // the page may be leaving: keepalive, and the queue keeps it otherwise
        if (o.onClick) o.onClick(rec.item, answer, event);
      });
      li.appendChild(a);
      list.appendChild(li);
      items.push(li);
    });
    element.textContent = "";
    if (o.heading) element.appendChild(el("h3", "cartwise-heading", o.heading));
    element.appendChild(list);
    watch(target, answer, items);
  }

  function render(element, options) {
    var o = {}, key;
    for (key in defaults) o[key] = defaults[key];
    for (key in options || {}) if (options[key] !== undefined) o[key] = options[key];
    var route = PATHS[o.scenario || "for_you"];
    if (!route) return Promise.reject(new Error("Cartwise: unknown scenario '" + o.scenario +
      "'; use for_you, similar or bought_together"));
    if (!o[route[0]]) return Promise.reject(new Error("Cartwise: the " + o.scenario +
      " scenario needs the " + route[0] + " option"));
    var query = new URLSearchParams(o.params || {});
    query.set("k", String(o.k));
    var url = o.apiBase + route[1].replace("{}", encodeURIComponent(o[route[0]])) + "?" + query;
    return fetch(url, { headers: headers(o.apiKey, false), credentials: "omit" })
      .then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) throw new Error("Cartwise: " + ((body.error && body.error.message) || res.status));
          draw(element, body, o);
          return body;
        });
      })
      .catch(function (error) { warn(error.message); throw error; });
  }

  function renderTagged() {
    var nodes = document.querySelectorAll("[data-cartwise]");
    Array.prototype.forEach.call(nodes, function (node) {
      var d = node.dataset;
      render(node, { scenario: d.cartwise, userId: d.userId, itemId: d.itemId,
        k: d.k ? Number(d.k) : undefined, apiBase: d.apiBase, apiKey: d.apiKey,
        itemUrl: d.itemUrl, heading: d.heading }).catch(function () { /* warned */ });
    });
  }

  function style() {
    var css = ".cartwise-list{display:flex;gap:12px;list-style:none;margin:0;padding:0;" +
      "overflow-x:auto}.cartwise-item{flex:0 0 160px}.cartwise-link{display:block;" +
      "color:inherit;text-decoration:none}.cartwise-image{width:100%;aspect-ratio:1;" +
      "object-fit:cover}.cartwise-title,.cartwise-price{display:block}" +
      ".cartwise-price{font-weight:600}";
    var node = document.createElement("style");
    node.textContent = css;
    document.head.insertBefore(node, document.head.firstChild); // the shop's CSS comes later
  }

  window.addEventListener("pagehide", function () { flush(true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush(true);
    else rewatch();
  });
  window.addEventListener("pageshow", function () { schedule(0); });
  style();
  schedule(0); // what an earlier page left in the queue
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderTagged);
  else renderTagged();
  window.Cartwise = { render: render, flush: function () { flush(false); }, version: "1" };
})();
