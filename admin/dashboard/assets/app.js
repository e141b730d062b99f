// Blnk Auth Gateway dashboard: Settings › API Keys. A client of the admin API
// at the same mount, with a session cookie (HttpOnly: this script never sees
// it) and the session's CSRF token, held in memory only.
"use strict";

(function () {
	const $ = (id) => document.getElementById(id);
	let session = null; // GET ui/session: actor, scopes, can_*, csrf_token, scope_choices
	const keys = { cursor: null, rows: 0 };
	const audit = { cursor: null };
	let current = null; // the client in the details panel

	// ---- the API ----------------------------------------------------------

	class APIError extends Error {
		constructor(status, code, description) {
			super(description || code || "HTTP " + status);
			this.status = status;
			this.code = code;
		}
	}

	async function api(method, path, body) {
		const headers = { Accept: "application/json" };
		if (body !== undefined) headers["Content-Type"] = "application/json";
		if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
		let res;
		try {
			res = await fetch(path, {
				method, headers, credentials: "same-origin", cache: "no-store",
				body: body === undefined ? undefined : JSON.stringify(body),
			});
		} catch (e) {
			throw new APIError(0, "network", "The gateway cannot be reached. Check your connection and retry.");
		}
		if (res.status === 204) return null;
		let data = null;
		try { data = await res.json(); } catch (e) { /* not JSON */ }
		if (!res.ok) {
			const err = new APIError(res.status, data && data.error, data && data.error_description);
			if (res.status === 401 && !path.startsWith("ui/session")) signedOut("Your session ended. Sign in again.");
			throw err;
		}
		return data;
	}

	// ---- helpers ----------------------------------------------------------

	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === undefined || v === null || v === false) continue;
			if (k === "class") e.className = v;
			else if (k === "text") e.textContent = v;
			else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
			else e.setAttribute(k, v === true ? "" : v);
		}
		for (const c of children) if (c !== null && c !== undefined) e.append(c);
		return e;
	}

	function fmtTime(s) {
		if (!s) return null;
		const d = new Date(s);
		const p = (n) => String(n).padStart(2, "0");
		return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
	}
	function timeEl(s, none) {
		return s ? el("time", { datetime: s, title: s, text: fmtTime(s) }) : document.createTextNode(none);
	}
	const typeLabel = (t) => (t === "api_key" ? "API Key" : "OAuth");
	const statusLabel = (s) => s.charAt(0).toUpperCase() + s.slice(1);
	const badge = (s) => el("span", { class: "badge " + s, text: statusLabel(s) });
	function scopesEl(list) {
		return el("span", { class: "scopes" }, ...list.map((s) => el("span", { class: "scope", text: s })));
	}

	async function copy(text, button) {
		const status = $("secret-copied");
		try {
			await navigator.clipboard.writeText(text);
			button.textContent = "Copied";
			if (status) status.textContent = "Copied to the clipboard.";
		} catch (e) {
			// No clipboard permission: select the text so Ctrl+C copies it.
			const code = button.previousElementSibling;
			if (code) window.getSelection().selectAllChildren(code);
			button.textContent = "Press Ctrl+C";
		}
		setTimeout(() => { button.textContent = "Copy"; }, 2000);
	}

	// Dialogs: focus goes in on open and back to the opener on close; Escape
	// closes (the browser's own <dialog> behaviour), except where a dialog
	// asks first.
	const openers = new WeakMap();
	function openDialog(d, focus) {
		openers.set(d, document.activeElement);
		d.showModal();
		if (focus) focus.focus();
	}
	for (const d of document.querySelectorAll("dialog")) {
		d.addEventListener("close", () => {
			// Back to the opener; if it went away (a form that closed), to the
			// dialog still open beneath, or the page's heading.
			let back = openers.get(d);
			if (!back || !document.contains(back) || back.closest("[hidden]") || !back.checkVisibility()) {
				const below = [...document.querySelectorAll("dialog[open]")].pop();
				back = below ? below.querySelector("button:not([hidden])") : document.querySelector("main h1:not([hidden])");
			}
			if (back) back.focus();
		});
	}

	// Field errors: the API says "field: message" for a bad field.
	function showErrors(prefix, err, fields) {
		for (const f of fields) {
			$(`${prefix}-${f}-error`).textContent = "";
			const input = document.querySelector(`[aria-describedby~="${prefix}-${f}-error"]`);
			if (input) input.removeAttribute("aria-invalid");
		}
		$(`${prefix}-error`).textContent = "";
		if (!err) return;
		const m = /^([a-z_]+): (.*)$/s.exec(err.message || "");
		const field = m && { expires_at: "expires", scopes: "scopes", name: "name", type: "type", redirect_uris: "redirects",
			token_endpoint_auth_method: "auth", jwks: "auth", jwks_uri: "auth" }[m[1]];
		if (field && fields.includes(field)) {
			$(`${prefix}-${field}-error`).textContent = m[2];
			const input = document.querySelector(`[aria-describedby~="${prefix}-${field}-error"]`);
			if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
		} else {
			$(`${prefix}-error`).textContent = err.message;
		}
	}

	// Expiry from a preset ("never", days) or a date input (end of that day, local time).
	function expiry(select, dateInput) {
		const v = select.value;
		if (v === "never") return null;
		if (v === "date") {
			if (!dateInput.value) throw new APIError(400, "invalid_request", "expires_at: pick a date");
			const d = new Date(dateInput.value + "T23:59:59");
			if (isNaN(d)) throw new APIError(400, "invalid_request", "expires_at: not a date");
			return d.toISOString();
		}
		return new Date(Date.now() + Number(v) * 86400000).toISOString();
	}
	function bindExpiry(prefix) {
		const sel = $(`${prefix}-expires`), date = $(`${prefix}-expires-date`), label = $(`${prefix}-expires-date-label`);
		sel.addEventListener("change", () => {
			const custom = sel.value === "date";
			date.hidden = label.hidden = !custom;
			if (custom) {
				date.min = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
				date.focus();
			}
		});
	}
	const splitScopes = (s) => s.split(/[\s,]+/).filter(Boolean);
	// The scope-token of RFC 6749 §3.3, as the API checks it (which has the last word).
	const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
	function checkScopes(list) {
		if (!list.length) throw new APIError(400, "invalid_request", 'scopes: choose at least one ("*" grants everything)');
		const bad = list.find((sc) => !scopeToken.test(sc));
		if (bad !== undefined) throw new APIError(400, "invalid_request", `scopes: “${bad}” is not a scope (printable ASCII without spaces, " or \\)`);
	}

	// ---- sign-in and session ----------------------------------------------

	// Where to go once signed in (e.g. back to an authorization request):
	// the gateway decides whether it is a safe place and says so by
	// returning it; this page never follows a next on its own.
	const next = new URLSearchParams(location.search).get("next");
	const withNext = (path) => next ? `${path}?next=${encodeURIComponent(next)}` : path;
	let ssoStart = null;

	async function loadSignInOptions() {
		try {
			const o = await api("GET", "ui/sign-in");
			if (o && o.oidc) {
				ssoStart = o.oidc.start;
				$("signin-sso-button").textContent = `Sign in with ${o.oidc.name}`;
				$("signin-sso").hidden = false;
			}
		} catch (e) { /* keys still work */ }
	}
	$("signin-sso-button").addEventListener("click", () => {
		if (ssoStart) location.assign(withNext(ssoStart));
	});

	function showView(name) {
		for (const v of ["loading", "signin", "keys", "audit"]) $(`${v}-view`).hidden = v !== name;
		$("topbar").hidden = name === "signin" || name === "loading";
		for (const [tab, view] of [["nav-keys", "keys"], ["nav-audit", "audit"]]) {
			if (name === view) $(tab).setAttribute("aria-current", "page");
			else $(tab).removeAttribute("aria-current");
		}
	}

	function signedOut(message) {
		session = null;
		for (const d of document.querySelectorAll("dialog[open]")) d.close();
		showView("signin");
		$("signin-error").textContent = message || "";
		$("signin-key").focus();
		loadSignInOptions();
	}

	function signedIn(s) {
		session = s;
		$("whoami").textContent = s.actor === "master_key" ? "Signed in with the master key"
			: s.type === "person" ? `Signed in as ${s.name}` : `Signed in as ${s.name || s.actor} (${s.actor})`;
		$("create-open").hidden = !s.can_write;
		$("keys-empty-hint").hidden = !s.can_write;
		const choices = $("create-scope-choices");
		choices.replaceChildren(...s.scope_choices.map((sc, i) =>
			el("label", { class: "choice" }, el("input", { type: "checkbox", value: sc, id: `scope-choice-${i}` }), el("code", { text: sc }))));
		showView("keys");
		loadKeys(true);
	}

	function signinMode() { return document.querySelector('input[name="signin-mode"]:checked').value; }
	for (const r of document.querySelectorAll('input[name="signin-mode"]')) {
		r.addEventListener("change", () => {
			const mode = signinMode();
			$("signin-key-row").hidden = mode === "oauth";
			$("signin-oauth-rows").hidden = mode !== "oauth";
			$("signin-key-label").textContent = mode === "api_key" ? "API key" : "Master key";
			$("signin-error").textContent = "";
		});
	}

	$("signin-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		const mode = signinMode();
		const body = mode === "oauth"
			? { client_id: $("signin-client-id").value.trim(), client_secret: $("signin-client-secret").value.trim() }
			: { [mode]: $("signin-key").value.trim() };
		if (Object.values(body).some((v) => !v)) {
			$("signin-error").textContent = mode === "oauth" ? "Enter the client ID and secret." : "Enter the key.";
			return;
		}
		if (next) body.next = next;
		$("signin-submit").disabled = true;
		try {
			const s = await api("POST", "ui/session", body);
			// The key has done its work: nothing keeps it, not even the form.
			for (const id of ["signin-key", "signin-client-id", "signin-client-secret"]) $(id).value = "";
			$("signin-error").textContent = "";
			if (s.next) { location.assign(s.next); return; }
			signedIn(s);
		} catch (e) {
			$("signin-error").textContent = e.message;
			$(mode === "oauth" ? "signin-client-id" : "signin-key").focus();
		} finally {
			$("signin-submit").disabled = false;
		}
	});

	$("sign-out").addEventListener("click", async () => {
		try { await api("DELETE", "ui/session"); } catch (e) { /* the cookie is cleared either way */ }
		signedOut("You signed out.");
	});

	// ---- the API Keys table -----------------------------------------------

	function keyRow(c) {
		const name = el("button", { type: "button", class: "link", text: c.name, "aria-haspopup": "dialog", "data-client-id": c.client_id });
		name.addEventListener("click", () => openDetails(c.client_id));
		const copyBtn = el("button", { type: "button", class: "copy", text: "Copy", "aria-label": `Copy the client ID of ${c.name}` });
		const code = el("code", { text: c.client_id });
		copyBtn.addEventListener("click", () => copy(c.client_id, copyBtn));
		const cell = (label, cls, ...kids) => el("td", { "data-label": label, class: cls }, ...kids);
		return el("tr", { "data-client-id": c.client_id, "data-status": c.status },
			cell("Name", "name", name),
			cell("Type", null, typeLabel(c.type)),
			cell("Client ID", "id", el("span", {}, code, " ", copyBtn)),
			cell("Scopes", null, scopesEl(c.scopes)),
			cell("Status", "status", badge(c.status)),
			cell("Created", null, timeEl(c.created_at, "")),
			cell("Expires", null, timeEl(c.expires_at, "Never")),
			cell("Last used", null, timeEl(c.last_used_at, "Never")),
			cell("Secret", null, secretEl(c)));
	}

	// secretEl is a client's secret hint, or how it authenticates when it
	// holds keys instead of a secret.
	function secretEl(c) {
		if (c.token_endpoint_auth_method === "private_key_jwt") return el("span", { class: "muted", text: "Private key JWT" });
		return el("code", { text: c.secret_hint });
	}

	let keysLoad = 0; // the latest loadKeys; an answer to an earlier one is stale
	// Grants of applications known only by their metadata documents: they
	// have no row in the table, so they are listed (and revoked) here.
	async function loadDocGrants() {
		const section = $("docgrants-section"), list = $("docgrants");
		$("docgrants-error").textContent = "";
		try {
			const page = await api("GET", "grants");
			section.hidden = !page.grants.length;
			list.replaceChildren(...page.grants.map((g) => {
				const li = el("li", { "data-client-id": g.client_id, "data-person": g.person_id },
					el("code", { text: g.client_id }), " · ", el("strong", { text: g.person_name || g.person_id }),
					el("br"), scopesEl(g.scopes),
					el("br"), el("span", { class: "muted" }, "approved ", timeEl(g.approved_at, ""), " · last used ", timeEl(g.last_used_at, "never")));
				if (session.can_delete) {
					const b = el("button", { type: "button", class: "danger ghost grant-revoke", text: "Revoke" });
					b.addEventListener("click", async () => {
						if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Confirm revoke"; return; }
						b.disabled = true;
						try {
							await api("DELETE", "grants?client_id=" + encodeURIComponent(g.client_id) + "&person=" + encodeURIComponent(g.person_id));
							loadDocGrants();
						} catch (e) {
							if (e.status !== 401) $("docgrants-error").textContent = e.message;
							b.disabled = false;
						}
					});
					li.append(" ", b);
				}
				return li;
			}));
		} catch (e) {
			if (e.status !== 401) $("docgrants-error").textContent = e.message;
		}
	}

	async function loadKeys(reset) {
		if (reset) loadDocGrants();
		const seq = ++keysLoad;
		const body = $("keys-body");
		$("keys-error").textContent = "";
		const q = new URLSearchParams();
		if ($("filter-status").value) q.set("status", $("filter-status").value);
		if ($("filter-type").value) q.set("type", $("filter-type").value);
		q.set("limit", "50");
		if (!reset && keys.cursor) q.set("cursor", keys.cursor);
		try {
			const page = await api("GET", "clients?" + q);
			if (seq !== keysLoad) return; // a newer filter or page was asked for meanwhile
			if (reset) { body.replaceChildren(); keys.rows = 0; }
			body.append(...page.clients.map(keyRow));
			keys.rows += page.clients.length;
			keys.cursor = page.next_cursor;
			$("keys-more").hidden = !keys.cursor;
			$("keys-empty").hidden = keys.rows > 0;
			$("keys-table").hidden = keys.rows === 0;
			$("keys-count").textContent = keys.rows ? `Showing ${keys.rows}${keys.cursor ? "+" : ""} key${keys.rows === 1 ? "" : "s"}` : "";
		} catch (e) {
			if (e.status !== 401) $("keys-error").textContent = e.message;
		}
	}
	$("filter-status").addEventListener("change", () => loadKeys(true));
	$("filter-type").addEventListener("change", () => loadKeys(true));
	$("keys-more").addEventListener("click", () => loadKeys(false));

	function replaceRow(c) {
		const old = document.querySelector(`#keys-body tr[data-client-id="${CSS.escape(c.client_id)}"]`);
		if (old) old.replaceWith(keyRow(c));
	}

	// ---- Create API Key -----------------------------------------------------

	const createFields = ["name", "type", "auth", "scopes", "expires", "redirects"];
	bindExpiry("create");
	// Authentication: a secret, or private_key_jwt with a JWKS URL or a pasted
	// JWKS; OAuth clients only.
	function syncAuth() {
		const oauth = document.querySelector('input[name="create-type"]:checked').value === "oauth";
		const pkjwt = document.querySelector('input[name="create-auth"]:checked').value === "private_key_jwt";
		const paste = document.querySelector('input[name="create-keys-source"]:checked').value === "paste";
		$("create-auth-field").hidden = !oauth;
		$("create-keys").hidden = !(oauth && pkjwt);
		$("create-jwks-uri").hidden = $("create-jwks-uri-label").hidden = paste;
		$("create-jwks").hidden = $("create-jwks-label").hidden = !paste;
	}
	for (const r of document.querySelectorAll('input[name="create-type"], input[name="create-auth"], input[name="create-keys-source"]')) {
		r.addEventListener("change", syncAuth);
	}
	$("create-open").addEventListener("click", () => {
		$("create-form").reset();
		syncAuth();
		$("create-expires-date").hidden = $("create-expires-date-label").hidden = true;
		showErrors("create", null, createFields);
		openDialog($("create-dialog"), $("create-name"));
	});
	$("create-cancel").addEventListener("click", () => $("create-dialog").close());
	$("create-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		const scopes = [...document.querySelectorAll("#create-scope-choices input:checked")].map((i) => i.value)
			.concat(splitScopes($("create-scopes-extra").value));
		let body;
		try {
			checkScopes(scopes);
			body = {
				name: $("create-name").value,
				type: document.querySelector('input[name="create-type"]:checked').value,
				scopes: [...new Set(scopes)],
				expires_at: expiry($("create-expires"), $("create-expires-date")),
			};
			const redirects = $("create-redirects").value.split(/\s+/).filter(Boolean);
			if (redirects.length) body.redirect_uris = redirects;
			if (body.type === "oauth" && document.querySelector('input[name="create-auth"]:checked').value === "private_key_jwt") {
				body.token_endpoint_auth_method = "private_key_jwt";
				if (document.querySelector('input[name="create-keys-source"]:checked').value === "paste") {
					try { body.jwks = JSON.parse($("create-jwks").value); }
					catch { throw new APIError(400, "invalid_request", 'jwks: paste a JWK Set, {"keys": [...]}, as JSON'); }
				} else {
					body.jwks_uri = $("create-jwks-uri").value.trim();
				}
			}
		} catch (e) { showErrors("create", e, createFields); return; }
		$("create-submit").disabled = true;
		try {
			const created = await api("POST", "clients", body);
			$("create-dialog").close();
			showSecret(created);
			loadKeys(true);
		} catch (e) {
			if (e.status !== 401) showErrors("create", e, createFields);
		} finally {
			$("create-submit").disabled = false;
		}
	});

	// ---- the credentials panel: shown once ---------------------------------

	function showSecret(c) {
		const isKey = c.type === "api_key";
		// A private_key_jwt client has no secret: show how it signs instead.
		const signs = c.token_endpoint_auth_method === "private_key_jwt";
		$("secret-value-label").hidden = $("secret-value-row").hidden = signs;
		$("sign-howto").hidden = !signs;
		$("secret-warning").hidden = signs;
		if (signs) {
			$("sign-token-endpoint").textContent = session.token_endpoint || "";
			$("sign-issuer").textContent = session.issuer || "";
			$("sign-algs").textContent = (session.assertion_algorithms || []).join(", ");
		}
		$("secret-title").textContent = signs ? "Your client is ready" : "Save your credentials";
		$("secret-client-id").textContent = c.client_id;
		$("secret-value-label").textContent = isKey ? "API Key" : "Client Secret";
		$("secret-value").textContent = isKey ? c.api_key : c.client_secret;
		$("secret-copy-value").setAttribute("aria-label", isKey ? "Copy the API key" : "Copy the client secret");
		$("secret-copy-id").setAttribute("aria-label", "Copy the client ID");
		$("secret-copied").textContent = "";
		$("secret-confirm").hidden = true;
		$("secret-actions").hidden = false;
		openDialog($("secret-dialog"), signs ? $("secret-copy-id") : $("secret-copy-value"));
	}
	function askCloseSecret() {
		if (!$("sign-howto").hidden) {
			// Nothing secret to lose: close at once.
			$("secret-dialog").close();
			return;
		}
		$("secret-confirm").hidden = false;
		$("secret-actions").hidden = true;
		$("secret-close-confirm").focus();
	}
	$("secret-copy-id").addEventListener("click", (ev) => copy($("secret-client-id").textContent, ev.currentTarget));
	$("secret-copy-value").addEventListener("click", (ev) => copy($("secret-value").textContent, ev.currentTarget));
	$("secret-done").addEventListener("click", askCloseSecret);
	$("secret-dialog").addEventListener("cancel", (ev) => { ev.preventDefault(); askCloseSecret(); });
	$("secret-back").addEventListener("click", () => {
		$("secret-confirm").hidden = true;
		$("secret-actions").hidden = false;
		$("secret-copy-value").focus();
	});
	$("secret-close-confirm").addEventListener("click", () => {
		$("secret-dialog").close();
		// The secret leaves the page with the panel.
		$("secret-value").textContent = "";
	});

	// ---- the details panel ------------------------------------------------

	async function openDetails(id) {
		$("details-error").textContent = "";
		$("edit-form").hidden = $("roll-form").hidden = true;
		try {
			const c = await api("GET", "clients/" + encodeURIComponent(id));
			renderDetails(c);
			if (!$("details-dialog").open) openDialog($("details-dialog"), $("details-close"));
			loadHistory(id);
			loadGrants(c);
		} catch (e) {
			if (e.status !== 401) $("keys-error").textContent = e.message;
		}
	}

	// The people who approved an OAuth client (authorization-code flow), each
	// with Revoke: its refresh tokens stop at once, the person is asked again.
	async function loadGrants(c) {
		const section = $("grants-section"), list = $("details-grants");
		section.hidden = c.type !== "oauth";
		$("grants-error").textContent = "";
		if (section.hidden) return;
		try {
			const page = await api("GET", "clients/" + encodeURIComponent(c.client_id) + "/grants");
			list.replaceChildren(...page.grants.map((g) => {
				const li = el("li", { "data-person": g.person_id },
					el("strong", { text: g.person_name || g.person_id }), " ", el("span", { class: "muted", text: "(" + g.person_id + ")" }),
					el("br"), scopesEl(g.scopes),
					el("br"), el("span", { class: "muted" }, "approved ", timeEl(g.approved_at, ""), " · last used ", timeEl(g.last_used_at, "never")));
				if (session.can_delete) {
					const b = el("button", { type: "button", class: "danger ghost grant-revoke", text: "Revoke" });
					b.addEventListener("click", async () => {
						if (b.dataset.armed !== "1") { b.dataset.armed = "1"; b.textContent = "Confirm revoke"; return; }
						b.disabled = true;
						try {
							await api("DELETE", "clients/" + encodeURIComponent(c.client_id) + "/grants?person=" + encodeURIComponent(g.person_id));
							loadGrants(c);
							loadHistory(c.client_id);
						} catch (e) {
							if (e.status !== 401) $("grants-error").textContent = e.message;
							b.disabled = false;
						}
					});
					li.append(" ", b);
				}
				return li;
			}));
			if (!page.grants.length) list.replaceChildren(el("li", { class: "muted", text: "Nobody has approved this client yet." }));
		} catch (e) {
			if (e.status !== 401) $("grants-error").textContent = e.message;
		}
	}

	function renderDetails(c) {
		current = c;
		$("details-title").textContent = c.name;
		const f = $("details-fields");
		const row = (k, v) => [el("dt", { text: k }), el("dd", {}, v)];
		f.replaceChildren(
			...row("Status", badge(c.status)),
			...row("Type", typeLabel(c.type)),
			...row("Client ID", el("code", { text: c.client_id })),
			...row("Scopes", scopesEl(c.scopes)),
			...row("Created", timeEl(c.created_at, "")),
			...row("Expires", timeEl(c.expires_at, "Never")),
			...row("Revoked", timeEl(c.revoked_at, "—")),
			...row("Last used", timeEl(c.last_used_at, "Never")),
			...row(c.type === "api_key" ? "Key" : "Secret", secretEl(c)),
			...(c.jwks_uri ? row("JWKS URL", el("code", { text: c.jwks_uri })) : []),
			...(c.jwks ? row("JWKS", el("span", { text: `${(c.jwks.keys || []).length} public key(s): ` + (c.jwks.keys || []).map((k) => k.kid || k.kty).join(", ") })) : []),
			...(c.type === "oauth" ? row("Redirect URIs", (c.redirect_uris || []).length
				? el("ul", { class: "plain" }, ...c.redirect_uris.map((u) => el("li", {}, el("code", { text: u }))))
				: el("span", { class: "muted", text: "None" })) : []));
		const revoked = c.status === "revoked";
		$("details-edit").hidden = $("details-roll").hidden = !session.can_write || revoked;
		// A private_key_jwt client has no secret to roll.
		if (c.token_endpoint_auth_method === "private_key_jwt") $("details-roll").hidden = true;
		$("details-revoke").hidden = !session.can_write || revoked;
		$("details-delete").hidden = !session.can_delete;
		$("details-actions").hidden = [...$("details-actions").children].every((b) => b.hidden);
	}

	async function loadHistory(id) {
		const list = $("details-history");
		try {
			const page = await api("GET", "audit?limit=20&client_id=" + encodeURIComponent(id));
			list.replaceChildren(...page.events.map((e) => el("li", {},
				el("strong", { text: e.action.replace("client.", "").replace("_", " ") }), " · ", timeEl(e.time, ""),
				el("br"), el("span", { class: "muted", text: `by ${e.actor}${e.source ? " from " + e.source : ""}` }))));
			if (!page.events.length) list.replaceChildren(el("li", { class: "muted", text: "No changes recorded." }));
		} catch (e) {
			if (e.status !== 401) list.replaceChildren(el("li", { class: "error", text: e.message }));
		}
	}

	$("details-close").addEventListener("click", () => $("details-dialog").close());

	// Revoke Key, with a confirmation naming the client.
	$("details-revoke").addEventListener("click", () => {
		$("revoke-text").textContent = `Revoke “${current.name}” (${current.client_id})? It stops working at once, everywhere, and cannot be undone. It stays listed as Revoked.`;
		$("revoke-error").textContent = "";
		openDialog($("revoke-dialog"), $("revoke-cancel"));
	});
	$("revoke-cancel").addEventListener("click", () => $("revoke-dialog").close());
	$("revoke-confirm").addEventListener("click", async () => {
		$("revoke-confirm").disabled = true;
		try {
			const c = await api("POST", "clients/" + encodeURIComponent(current.client_id) + "/revoke");
			$("revoke-dialog").close();
			renderDetails(c);
			replaceRow(c);
			loadHistory(c.client_id);
			$("details-close").focus();
		} catch (e) {
			if (e.status !== 401) $("revoke-error").textContent = e.message;
		} finally {
			$("revoke-confirm").disabled = false;
		}
	});

	// Edit name, scopes, expiry.
	const editFields = ["name", "scopes", "expires", "redirects"];
	bindExpiry("edit");
	$("details-edit").addEventListener("click", () => {
		$("roll-form").hidden = true;
		$("edit-form").hidden = false;
		$("edit-name").value = current.name;
		$("edit-scopes").value = current.scopes.join(" ");
		$("edit-redirects-row").hidden = current.type !== "oauth";
		$("edit-redirects").value = (current.redirect_uris || []).join(" ");
		$("edit-expires").value = "keep";
		$("edit-expires-date").hidden = $("edit-expires-date-label").hidden = true;
		showErrors("edit", null, editFields);
		$("edit-name").focus();
	});
	$("edit-cancel").addEventListener("click", () => { $("edit-form").hidden = true; $("details-edit").focus(); });
	$("edit-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		const body = {};
		try {
			if ($("edit-name").value !== current.name) body.name = $("edit-name").value;
			const scopes = splitScopes($("edit-scopes").value);
			checkScopes(scopes);
			if (scopes.join(" ") !== current.scopes.join(" ")) body.scopes = scopes;
			const redirects = $("edit-redirects").value.split(/\s+/).filter(Boolean);
			if (current.type === "oauth" && redirects.join(" ") !== (current.redirect_uris || []).join(" ")) body.redirect_uris = redirects;
			if ($("edit-expires").value !== "keep") body.expires_at = expiry($("edit-expires"), $("edit-expires-date"));
		} catch (e) { showErrors("edit", e, editFields); return; }
		if (!Object.keys(body).length) { $("edit-form").hidden = true; return; }
		try {
			const c = await api("PATCH", "clients/" + encodeURIComponent(current.client_id), body);
			$("edit-form").hidden = true;
			renderDetails(c);
			replaceRow(c);
			loadHistory(c.client_id);
			$("details-edit").focus();
		} catch (e) {
			if (e.status !== 401) showErrors("edit", e, editFields);
		}
	});

	// Roll the secret: the new one is shown once, like at creation.
	$("details-roll").addEventListener("click", () => {
		$("edit-form").hidden = true;
		$("roll-form").hidden = false;
		$("roll-error").textContent = "";
		$("roll-grace").focus();
	});
	$("roll-cancel").addEventListener("click", () => { $("roll-form").hidden = true; $("details-roll").focus(); });
	$("roll-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		try {
			const c = await api("POST", "clients/" + encodeURIComponent(current.client_id) + "/roll-secret", { grace_period: $("roll-grace").value });
			$("roll-form").hidden = true;
			renderDetails(c);
			replaceRow(c);
			loadHistory(c.client_id);
			showSecret(c);
		} catch (e) {
			if (e.status !== 401) $("roll-error").textContent = e.message;
		}
	});

	// Delete, confirmed by typing the name.
	$("details-delete").addEventListener("click", () => {
		$("delete-text").textContent = `Delete “${current.name}” (${current.client_id}) permanently? Its credentials stop working and it disappears from the list. To keep it listed, revoke it instead.`;
		$("delete-name-label").textContent = `Type “${current.name}” to confirm`;
		$("delete-name").value = "";
		$("delete-confirm").disabled = true;
		$("delete-error").textContent = "";
		openDialog($("delete-dialog"), $("delete-name"));
	});
	$("delete-name").addEventListener("input", () => { $("delete-confirm").disabled = $("delete-name").value !== current.name; });
	$("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
	$("delete-form").addEventListener("submit", async (ev) => {
		ev.preventDefault();
		if ($("delete-name").value !== current.name) return;
		try {
			await api("DELETE", "clients/" + encodeURIComponent(current.client_id));
			$("delete-dialog").close();
			$("details-dialog").close();
			loadKeys(true);
			$("keys-title").focus();
		} catch (e) {
			if (e.status !== 401) $("delete-error").textContent = e.message;
		}
	});

	// ---- the Audit view -----------------------------------------------------

	async function loadAudit(reset) {
		$("audit-error").textContent = "";
		const q = new URLSearchParams({ limit: "50" });
		if (!reset && audit.cursor) q.set("cursor", audit.cursor);
		try {
			const page = await api("GET", "audit?" + q);
			const body = $("audit-body");
			if (reset) body.replaceChildren();
			const cell = (label, ...kids) => el("td", { "data-label": label }, ...kids);
			body.append(...page.events.map((e) => el("tr", {},
				cell("Time", timeEl(e.time, "")), cell("Action", e.action), cell("Client ID", el("code", { text: e.client_id })),
				cell("Actor", e.actor), cell("Source", e.source || "—"), cell("Request ID", el("code", { text: e.request_id || "—" })))));
			audit.cursor = page.next_cursor;
			$("audit-more").hidden = !audit.cursor;
			$("audit-empty").hidden = body.children.length > 0;
		} catch (e) {
			if (e.status !== 401) $("audit-error").textContent = e.message;
		}
	}
	$("audit-more").addEventListener("click", () => loadAudit(false));

	$("nav-keys").addEventListener("click", () => { showView("keys"); loadKeys(true); });
	$("nav-audit").addEventListener("click", () => { showView("audit"); loadAudit(true); });

	// ---- start ----------------------------------------------------------------

	(async () => {
		try {
			const s = await api("GET", withNext("ui/session"));
			if (s.next) { location.assign(s.next); return; }
			signedIn(s);
		} catch (e) {
			signedOut(e.status === 401 ? "" : e.message);
		}
	})();
})();
