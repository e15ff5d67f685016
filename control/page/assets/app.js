// fsm's control page. It talks to the control API of the server it came
// from (docs/API.md): the list from GET files, live changes from the events
// stream, stage and unstage with the token from the page's own <meta>, the
// API's base path from another.
// Every text that comes from the server (names come from origins) goes into
// the page through textContent, never as markup.
'use strict';

(() => {
  // The API's base path and the token come from the page's own <meta>s.
  const API = document.querySelector('meta[name="fsm-api"]')?.content ?? '';
  // The token changes when fsm restarts: refreshToken reads it again from a
  // fresh copy of this page.
  let token = document.querySelector('meta[name="fsm-token"]')?.content ?? '';
  const $ = (id) => document.getElementById(id);

  // ---- formatting

  const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

  // shownURL is a URL as a person reads it: percent escapes decoded (as fsm
  // ls shows it), except where decoding would hide what the bytes are (an
  // invalid escape, a control or invisible character): then it stays as
  // sent. setText writes it as text, never as markup.
  function shownURL(u) {
    let d;
    try { d = decodeURI(u); } catch { return u; }
    return /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/.test(d) ? u : d;
  }

  // bytes formats n in SI units, like the CLI (go-humanize): 24 MB, 1.5 GB.
  function bytes(n) {
    if (typeof n !== 'number' || !isFinite(n) || n < 0) return '?';
    if (n < 1000) return n + ' B';
    let e = Math.min(Math.floor(Math.log10(n) / 3), UNITS.length - 1);
    let v = n / 1000 ** e;
    if (v >= 999.5 && e < UNITS.length - 1) { e++; v /= 1000; }
    return (v < 10 ? v.toFixed(1) : Math.round(v).toString()) + ' ' + UNITS[e];
  }

  function duration(s) {
    if (!isFinite(s) || s < 0) return '';
    if (s < 1) return 'under a second';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  // percent is the downloaded share, floored: 100 means every byte is there.
  function percent(f) {
    if (typeof f.size !== 'number') return null;
    if (f.size === 0) return f.state === 'complete' ? 100 : 0;
    return Math.min(100, Math.floor((f.downloaded * 100) / f.size));
  }

  const STATE_LABELS = {
    probing: 'probing', idle: 'idle', downloading: 'downloading',
    complete: 'complete', error: 'error', failed: 'failed',
  };

  // What happens once every byte has been read; keep says nothing.
  const AFTER_READ_LABELS = {
    evict: 'bytes dropped once read', unstage: 'unstaged once read',
  };

  function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
  function show(el, on) { if (el.hidden === on) el.hidden = !on; }

  // encodeName percent-encodes each path element of a file's name.
  function encodeName(name) { return name.split('/').map(encodeURIComponent).join('/'); }

  // errorText turns a failed answer into the server's one line.
  async function errorText(resp) {
    let msg = '';
    try {
      const body = await resp.json();
      if (body && typeof body.error === 'string') msg = body.error;
    } catch { /* not JSON: fall back to the status */ }
    if (!msg) msg = resp.status + ' ' + resp.statusText;
    if (resp.status === 401) msg = 'fsm refused this page\'s token, even after fetching it again: reload this page';
    return msg;
  }

  // refreshToken fetches this page again (same origin: only it can read the
  // token there) and takes the token of the server answering now.
  async function refreshToken() {
    try {
      const resp = await fetch(location.pathname, { cache: 'no-store' });
      if (!resp.ok) return false;
      const doc = new DOMParser().parseFromString(await resp.text(), 'text/html');
      const fresh = doc.querySelector('meta[name="fsm-token"]')?.content ?? '';
      if (!fresh) return false;
      token = fresh;
      return true;
    } catch { return false; }
  }

  // mutate sends a request that needs the token; refused with 401 (fsm
  // restarted since this page was loaded), it fetches the new token and
  // sends it once more.
  async function mutate(path, init) {
    const send = () => fetch(API + path, Object.assign({}, init, { headers: authHeaders(init.headers) }));
    const resp = await send();
    if (resp.status !== 401 || !(await refreshToken())) return resp;
    return send();
  }

  // Its own header, not Authorization: with --user the browser sends the basic
  // auth credentials there, and they must stay.
  function authHeaders(extra) { return Object.assign({ 'X-Fsm-Token': token }, extra); }

  // ---- copy buttons

  // copyText copies with the Clipboard API where the page is a secure
  // context, else through a selected textarea and execCommand.
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); return true; } catch { /* fall back */ }
    }
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'offscreen';
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }

  function selectText(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  async function copyFrom(button, source) {
    const ok = await copyText(source.textContent);
    if (!ok) selectText(source);
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    button.classList.toggle('done', ok);
    clearTimeout(button._reset);
    button._reset = setTimeout(() => { button.textContent = label; button.classList.remove('done'); }, 1600);
  }

  document.addEventListener('click', (ev) => {
    const button = ev.target.closest('button.copy');
    if (!button) return;
    const source = button.dataset.copyFrom ? $(button.dataset.copyFrom) : button.parentElement.querySelector('.value');
    if (source) copyFrom(button, source);
  });

  // ---- the file list

  const list = $('files');
  const rows = new Map(); // name -> row
  const rowTemplate = $('file-row');
  const pathTemplate = $('path-row');

  function makeRow(name) {
    const el = rowTemplate.content.firstElementChild.cloneNode(true);
    const q = (sel) => el.querySelector(sel);
    const row = {
      name, el, file: null, pathsKey: '',
      nameEl: q('.file-name'), badge: q('.badge'), unstage: q('.unstage'), retry: q('.retry'),
      bar: q('.bar'), fill: q('.bar-fill'), amount: q('.amount'), pct: q('.pct'),
      rate: q('.rate'), handles: q('.handles'), afterRead: q('.after-read'), unverified: q('.unverified'),
      url: q('.file-url'), error: q('.file-error'), paths: q('.paths'), noPath: q('.no-path'),
      rowError: q('.row-error'), confirm: q('.confirm'), confirmText: q('.confirm-text'),
      confirmYes: q('.confirm-yes'), confirmNo: q('.confirm-no'),
    };
    el.dataset.name = name;
    row.nameEl.textContent = name;
    row.nameEl.title = name;
    row.unstage.setAttribute('aria-label', 'Unstage ' + name);
    row.unstage.addEventListener('click', () => askUnstage(row));
    row.confirmYes.setAttribute('aria-label', 'Unstage ' + name + ' anyway');
    row.confirmYes.addEventListener('click', () => { show(row.confirm, false); unstage(row); });
    row.confirmNo.addEventListener('click', () => { show(row.confirm, false); row.unstage.focus(); });
    row.retry.setAttribute('aria-label', 'Retry ' + name);
    row.retry.addEventListener('click', () => retryFile(row));
    list.appendChild(el);
    rows.set(name, row);
    return row;
  }

  function fill(row, f) {
    row.file = f;
    const el = row.el;
    if (el.dataset.state !== f.state) el.dataset.state = f.state;
    // While fetches fail and are retried the state stays downloading; the
    // badge and the error line say what is going on.
    const retrying = f.retrying && typeof f.retrying.reason === 'string' ? f.retrying : null;
    el.classList.toggle('retrying', retrying !== null);
    setText(row.badge, retrying ? 'retrying' : STATE_LABELS[f.state] || f.state);
    show(row.retry, f.state === 'failed' || f.state === 'error');

    const pct = percent(f);
    const known = pct !== null;
    // A failed file has no bytes to show: its reason stands in for the bar.
    show(row.bar, !(f.state === 'failed' || (f.state === 'error' && !(f.downloaded > 0))));
    el.classList.toggle('unknown-size', !known);
    if (known) {
      row.fill.style.width = pct + '%';
      row.bar.setAttribute('aria-valuenow', String(pct));
      setText(row.amount, f.state === 'complete' ? bytes(f.size) : bytes(f.downloaded) + ' of ' + bytes(f.size));
      setText(row.pct, pct + '%');
    } else {
      row.fill.style.width = '0%';
      row.bar.removeAttribute('aria-valuenow');
      setText(row.amount, f.state === 'probing' ? 'asking the origin…'
        : f.downloaded > 0 ? bytes(f.downloaded) + ' so far, size unknown' : 'size unknown');
      setText(row.pct, '');
    }
    row.bar.setAttribute('aria-label', 'Downloaded of ' + f.name);

    const speed = [];
    if (f.state === 'downloading') {
      if (f.rate > 0) {
        speed.push(bytes(f.rate) + '/s');
        if (known && f.size > f.downloaded) speed.push(duration((f.size - f.downloaded) / f.rate) + ' left');
      }
      if (f.connections > 1) speed.push(f.connections + ' connections');
    }
    if (f.streaming_cache > 0) speed.push('streaming through ' + bytes(f.streaming_cache) + ' of cache');
    setText(row.rate, speed.join(' · '));
    setText(row.handles, f.open_handles > 0 ? plural(f.open_handles, 'open handle', 'open handles') : '');
    setText(row.afterRead, AFTER_READ_LABELS[f.after_read] || '');
    show(row.unverified, f.verified === false && f.state !== 'probing' && f.state !== 'failed');

    let url = shownURL(f.url || '');
    if (f.url_query) url += '?…'; // a query string is there, never shown
    if (Array.isArray(f.headers) && f.headers.length) url += '  (with ' + f.headers.join(', ') + ')';
    setText(row.url, url);
    row.url.title = f.url || '';

    let err = (f.state === 'failed' || f.state === 'error') && f.error ? f.error : '';
    if (retrying) {
      const since = new Date(retrying.since);
      err = 'Retrying' + (isNaN(since) ? '' : ' since ' + since.toLocaleTimeString()) + ': ' + retrying.reason;
    }
    setText(row.error, err);
    show(row.error, err !== '');

    const paths = Array.isArray(f.paths) ? f.paths : [];
    // A staged file without a local path says how to get one: a local path
    // is what a browser's upload dialog opens.
    show(row.noPath, paths.length === 0 && f.size != null);
    const key = JSON.stringify(paths);
    if (key !== row.pathsKey) {
      row.pathsKey = key;
      row.paths.replaceChildren(...paths.map((p) => {
        const li = pathTemplate.content.firstElementChild.cloneNode(true);
        li.querySelector('.value').textContent = p;
        li.querySelector('.copy').setAttribute('aria-label', 'Copy path ' + p);
        return li;
      }));
    }
  }

  function upsert(f) {
    if (!f || typeof f.name !== 'string') return;
    const known = rows.get(f.name);
    const row = known || makeRow(f.name);
    fill(row, f);
    // A file that no longer needs asking (its handles closed, its download
    // ended) drops a pending question rather than keep a stale reason.
    if (!row.confirm.hidden && !unstageNeedsConfirm(f)) show(row.confirm, false);
    // By name a row's place never changes: only a new one needs placing
    // (a folder of thousands of files updates often).
    if (!known || sortSelect.value !== 'name') arrange();
    summarize();
  }

  function removeRow(name) {
    const row = rows.get(name);
    if (!row) return;
    rows.delete(name);
    row.el.remove();
    summarize();
  }

  // ---- sort and filter

  const filterInput = $('filter');
  const sortSelect = $('sort');

  // The order of states when sorting by state: what needs attention first.
  const STATE_ORDER = { failed: 0, error: 1, downloading: 2, probing: 3, idle: 4, complete: 5 };

  function compareRows(a, b) {
    const by = sortSelect.value;
    const fa = a.file || {}, fb = b.file || {};
    let d = 0;
    if (by === 'state') {
      d = (STATE_ORDER[fa.state] ?? 9) - (STATE_ORDER[fb.state] ?? 9);
    } else if (by === 'progress') {
      // Most downloaded first; unknown sizes last.
      d = (percent(fb) ?? -1) - (percent(fa) ?? -1);
    }
    if (d !== 0) return d;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  }

  // arrange puts the rows in the chosen order and hides those the filter
  // does not match; it moves only rows that are out of place, so a row
  // being clicked or read does not jump for nothing.
  function arrange() {
    const sorted = [...rows.values()].sort(compareRows);
    let prev = null;
    for (const row of sorted) {
      const want = prev ? prev.el.nextElementSibling : list.firstElementChild;
      if (want !== row.el) list.insertBefore(row.el, want);
      prev = row;
    }
    const needle = filterInput.value.trim().toLowerCase();
    let hidden = 0;
    for (const row of sorted) {
      const on = needle === '' || row.name.toLowerCase().includes(needle);
      show(row.el, on);
      if (!on) hidden++;
    }
    show($('filtered'), hidden > 0);
    setText($('filtered'), hidden > 0 ? plural(hidden, 'file', 'files') + ' hidden by the filter' : '');
  }

  filterInput.addEventListener('input', arrange);
  sortSelect.addEventListener('change', arrange);

  function summarize() {
    show($('empty'), rows.size === 0);
    show($('list-tools'), rows.size > 0);
    if (rows.size === 0) { setText($('summary'), ''); setTitle(null); return; }
    let total = 0, present = 0, active = 0, rate = 0, broken = 0;
    for (const { file: f } of rows.values()) {
      if (!f) continue;
      if (typeof f.size === 'number') { total += f.size; present += Math.min(f.downloaded, f.size); }
      if (f.state === 'downloading') { active++; rate += f.rate || 0; }
      if (f.state === 'failed' || f.state === 'error') broken++;
    }
    const parts = [plural(rows.size, 'file', 'files'), bytes(present) + ' of ' + bytes(total) + ' on disk'];
    if (active) parts.push(active + ' downloading' + (rate > 0 ? ' at ' + bytes(rate) + '/s' : ''));
    if (broken) parts.push(broken + ' with errors');
    setText($('summary'), parts.join(' · '));
    // The tab shows the share of the staged bytes on disk while anything
    // downloads, so a background tab still says how far it got.
    setTitle(active && total > 0 ? Math.min(100, Math.floor((present * 100) / total)) : null);
  }

  const plainTitle = document.title;
  function setTitle(pct) {
    const t = pct === null ? plainTitle : pct + '% · ' + plainTitle;
    if (document.title !== t) document.title = t;
  }

  // unstageNeedsConfirm: unstaging a file that is being read or downloaded
  // breaks those reads, so the page asks first; an idle file goes at once.
  function unstageNeedsConfirm(f) {
    return !!f && (f.open_handles > 0 || f.state === 'downloading');
  }

  // askUnstage asks inside the row (not window.confirm, which blocks the
  // page and its live updates) when the file is in use, else unstages.
  function askUnstage(row) {
    const f = row.file;
    if (!unstageNeedsConfirm(f)) { unstage(row); return; }
    const why = [];
    if (f.open_handles > 0) why.push(plural(f.open_handles, 'open handle', 'open handles'));
    if (f.state === 'downloading') why.push('a running download');
    setText(row.confirmText, 'This file has ' + why.join(' and ') + '; unstaging ends them.');
    show(row.confirm, true);
    row.confirmNo.focus();
  }

  async function unstage(row) {
    const button = row.unstage;
    button.disabled = true;
    button.textContent = 'Unstaging…';
    show(row.rowError, false);
    try {
      const resp = await mutate('files/' + encodeName(row.name), { method: 'DELETE' });
      if (resp.status === 204 || resp.status === 404) {
        removeRow(row.name);
        return;
      }
      row.rowError.textContent = 'Unstage failed: ' + await errorText(resp);
      show(row.rowError, true);
    } catch (err) {
      row.rowError.textContent = 'Unstage failed: cannot reach fsm (' + err.message + ')';
      show(row.rowError, true);
    }
    button.disabled = false;
    button.textContent = 'Unstage';
  }

  async function retryFile(row) {
    const button = row.retry;
    button.disabled = true;
    button.textContent = 'Retrying…';
    show(row.rowError, false);
    try {
      const resp = await fetch(API + 'files/' + encodeName(row.name) + '/retry', { method: 'POST', headers: authHeaders() });
      if (resp.status === 200) {
        upsert(await resp.json());
      } else {
        row.rowError.textContent = 'Retry failed: ' + await errorText(resp);
        show(row.rowError, true);
      }
    } catch (err) {
      row.rowError.textContent = 'Retry failed: cannot reach fsm (' + err.message + ')';
      show(row.rowError, true);
    }
    button.disabled = false;
    button.textContent = 'Retry';
  }

  // ---- staging

  const form = $('stage');
  const urlInput = $('stage-url');
  const nameInput = $('stage-name');
  const folderInput = $('stage-folder');
  const stageButton = $('stage-go');
  const stageError = $('stage-error');
  const stageDone = $('stage-done');
  const headersInput = $('stage-headers');

  function stageFailed(msg) {
    stageError.textContent = msg;
    show(stageError, true);
  }

  // HEADER_NAME is an HTTP field name (RFC 9110 token).
  const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

  // parseHeaders reads the headers field, one "Name: value" a line (blank
  // lines skipped), into the API's headers object; a malformed line is an
  // error naming its line number.
  function parseHeaders(text) {
    const headers = {};
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line === '') continue;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon).trim() : '';
      if (!HEADER_NAME.test(name)) {
        return { error: 'Request headers, line ' + (i + 1) + ': write it as Name: value, e.g. Authorization: Bearer abc' };
      }
      headers[name] = line.slice(colon + 1).trim();
    }
    return { headers };
  }

  // stagedText is the confirmation beside the form.
  function stagedText(answer, files) {
    if (answer.folder) {
      const size = files.reduce((n, f) => n + (typeof f.size === 'number' ? f.size : 0), 0);
      return 'Staged ' + answer.name + ' (' + plural(files.length, 'file', 'files') + ', ' + bytes(size) + ')';
    }
    return 'Staged ' + answer.name + (typeof answer.size === 'number' ? ' (' + bytes(answer.size) + ')' : '');
  }

  // highlight scrolls to a row just staged and marks it for a few seconds.
  function highlight(row) {
    if (!row) return;
    // A filter that hides the new row would make it look lost.
    if (filterInput.value && row.el.hidden) { filterInput.value = ''; arrange(); }
    row.el.classList.add('new');
    clearTimeout(row.newTimer);
    row.newTimer = setTimeout(() => row.el.classList.remove('new'), 4000);
    row.el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    show(stageError, false);
    show(stageDone, false);
    const url = urlInput.value.trim();
    const name = nameInput.value.trim();
    const folder = folderInput.checked;
    if (!url) { stageFailed('Enter the http:// or https:// URL of the file to stage.'); urlInput.focus(); return; }
    const parsed = parseHeaders(headersInput.value);
    if (parsed.error) { stageFailed(parsed.error); headersInput.focus(); return; }
    const body = { url };
    if (Object.keys(parsed.headers).length) body.headers = parsed.headers;
    if (name) body.name = name;
    if (folder) body.folder = true;
    const afterRead = $('stage-after-read').value;
    if (afterRead && !folder) body.after_read = afterRead; // a folder's files follow the server's
    stageButton.disabled = true;
    stageButton.textContent = 'Staging…';
    form.setAttribute('aria-busy', 'true');
    try {
      const resp = await mutate('files', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (resp.status === 201 || (folder && resp.status === 200)) {
        const answer = await resp.json();
        form.reset();
        const files = flatten([answer]);
        for (const f of files) upsert(f);
        for (const f of files) {
          const row = rows.get(f.name);
          if (row) { row.el.classList.add('new'); clearTimeout(row.newTimer); row.newTimer = setTimeout(() => row.el.classList.remove('new'), 4000); }
        }
        // The confirmation first: it moves the list down, and the scroll
        // must aim at where the row ends up.
        stageDone.textContent = stagedText(answer, files);
        show(stageDone, true);
        highlight(rows.get(files[0]?.name));
      } else {
        stageFailed(await errorText(resp));
      }
    } catch (err) {
      stageFailed('Cannot reach fsm: ' + err.message);
    } finally {
      stageButton.disabled = false;
      stageButton.textContent = 'Stage';
      form.removeAttribute('aria-busy');
    }
  });

  // ---- server info

  function setCmd(id, text) { const el = $(id); if (el) el.textContent = text; }

  async function loadInfo() {
    let info;
    try {
      const resp = await fetch(API + 'info', { cache: 'no-store' });
      if (!resp.ok) return;
      info = await resp.json();
    } catch { return; }
    const dav = info.webdav_url || (location.origin + '/');
    $('webdav-url').textContent = dav;
    const davScheme = dav.replace(/^http(s?):\/\//, (_, s) => (s ? 'davs://' : 'dav://'));
    for (const el of document.querySelectorAll('.dav-http')) el.textContent = dav;
    for (const el of document.querySelectorAll('.dav-dav')) el.textContent = davScheme;
    setCmd('cmd-net-use', 'net use * ' + dav);
    setCmd('cmd-gio', 'gio mount ' + davScheme);
    setCmd('cmd-rclone', 'rclone mount --read-only :webdav: ~/fsm --webdav-url ' + dav);
    setCmd('cmd-davfs', 'sudo mount -t davfs -o ro ' + dav + ' /mnt/fsm');
    $('fuse-dir').textContent = info.fuse_dir || '';
    show($('fuse-row'), !!info.fuse_dir);
    $('mount-dir').textContent = info.mount_dir || '';
    show($('mount-row'), !!info.mount_dir);
    if (info.version) setText($('version'), 'fsm ' + info.version);
    if (info.keep_awake) showAwake(info.keep_awake);
  }

  // showAwake is the header's badge: shown only while fsm keeps the
  // computer from sleeping, saying why.
  function showAwake(ka) {
    const el = $('awake');
    const on = !!(ka && ka.active);
    setText(el, on ? 'keeping awake: ' + (ka.reason || 'transfers') : '');
    show(el, on);
  }

  // ---- live updates

  // A snapshot (GET files) reconciles the list after each (re)connect: a
  // removal missed while disconnected drops its row. Names that events
  // touched while the snapshot was in flight keep what the events said,
  // which is newer.
  let touched = null;

  // A staged folder is an object holding its files; the page lists the
  // files by their full names, as the events stream sends them.
  function flatten(files) {
    return files.flatMap((f) => (f.folder ? f.entries || [] : [f]));
  }

  async function snapshot() {
    const mine = new Set();
    touched = mine;
    try {
      const resp = await fetch(API + 'files', { cache: 'no-store' });
      if (!resp.ok) return;
      const listed = await resp.json();
      if (touched !== mine || !Array.isArray(listed)) return;
      const files = flatten(listed);
      const names = new Set(files.map((f) => f.name));
      for (const name of [...rows.keys()]) {
        if (!names.has(name) && !mine.has(name)) removeRow(name);
      }
      for (const f of files) if (!mine.has(f.name)) upsert(f);
    } catch { /* the events stream reports the outage */ } finally {
      if (touched === mine) touched = null;
    }
  }

  const live = $('live');
  function setLive(state, text) {
    live.dataset.state = state;
    setText(live, text);
  }

  let retry = 1000;
  let lost = false; // the stream broke since it last opened
  function connect() {
    const es = new EventSource(API + 'events');
    es.addEventListener('file', (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (touched) touched.add(f.name);
      upsert(f);
    });
    es.addEventListener('removed', (ev) => {
      let r;
      try { r = JSON.parse(ev.data); } catch { return; }
      if (touched) touched.add(r.name);
      removeRow(r.name);
    });
    es.addEventListener('keep_awake', (ev) => {
      let ka;
      try { ka = JSON.parse(ev.data); } catch { return; }
      showAwake(ka);
    });
    es.addEventListener('open', () => {
      retry = 1000;
      setLive('live', 'live');
      // After an outage the server may be a new fsm with a new token.
      if (lost) refreshToken();
      lost = false;
      snapshot();
      loadInfo();
    });
    es.addEventListener('error', () => {
      lost = true;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (fsm answered something other than a
        // stream): try again ourselves, backing off.
        setLive('offline', 'offline, retrying');
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 15000);
      } else {
        setLive('reconnecting', 'reconnecting…');
      }
    });
  }

  summarize();
  loadInfo();
  snapshot();
  connect();
})();
