// The Hosted Vault: the consumer's connect UI, talking to the Vault API with the session JWT from the URL.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { allowed, decodeSession, errorText, makeApi, SessionEnded, tokenFromPath, type Api, type Session } from './api';
import { safeTheme, type Theme } from '../../src/vault/theme';
import './styles.css';

type Json = any;
const RETURN_KEY = 'coffer:return';

const STATE_LABELS: Record<string, string> = {
  available: 'Not connected',
  added: 'Added',
  authorized: 'Authorized',
  callable: 'Connected',
  invalid: 'Needs attention',
};

function Badge({ state }: { state: string }) {
  return <span class={`badge badge-${state}`}>{STATE_LABELS[state] ?? state}</span>;
}

/** Only values that pass the server's own grammar (anchored colours, https URLs) are applied, one property each. */
function applyTheme(t: Theme) {
  const root = document.documentElement.style;
  if (t.primary_color) root.setProperty('--primary', t.primary_color);
  if (t.sidepanel_background_color) root.setProperty('--side-bg', t.sidepanel_background_color);
  if (t.sidepanel_text_color) root.setProperty('--side-text', t.sidepanel_text_color);
  document.title = t.vault_name ? `${t.vault_name} – Connections` : 'Connections';
  if (t.favicon) {
    const link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
    if (link) link.href = t.favicon;
  }
}

const humanize = (id: string) => id.replace(/[_-]+/g, ' ').replace(/^./, (c) => c.toUpperCase());
const safeUrl = (v?: string) => (v && /^https?:\/\//i.test(v) ? v : undefined);

// ---------- dialogs ----------

function Confirm(props: { title: string; body: string; action: string; onConfirm: () => void; onCancel: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="confirm-title" aria-describedby="confirm-body" onCancel={props.onCancel}>
      <h2 id="confirm-title">{props.title}</h2>
      <p id="confirm-body">{props.body}</p>
      <div class="row">
        <button type="button" class="secondary" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={props.onConfirm}>
          {props.action}
        </button>
      </div>
    </dialog>
  );
}

// ---------- list ----------

function IntegrationList(props: { session: Session; connections: Json[]; onOpen: (c: Json) => void }) {
  const [query, setQuery] = useState('');
  const apis = props.session.settings.unified_apis;
  const visible = props.connections.filter(
    (c) =>
      (!apis?.length || apis.includes(c.unified_api)) &&
      (!query || `${c.name} ${c.service_id} ${c.tag_line ?? ''}`.toLowerCase().includes(query.trim().toLowerCase())),
  );
  const groups = new Map<string, Json[]>();
  for (const c of visible) groups.set(c.unified_api, [...(groups.get(c.unified_api) ?? []), c]);
  return (
    <section aria-labelledby="list-title">
      <h1 id="list-title">Integrations</h1>
      <div class="field">
        <label for="search">Search integrations</label>
        <input id="search" type="search" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} autocomplete="off" />
      </div>
      {visible.length === 0 && <p role="status">No integrations match “{query}”.</p>}
      {[...groups.entries()].map(([api, items]) => (
        <section key={api} aria-labelledby={`group-${api}`} class="group">
          <h2 id={`group-${api}`}>{api.toUpperCase()}</h2>
          <ul class="cards">
            {items.map((c) => (
              <li key={c.id}>
                <button type="button" class="card" onClick={() => props.onOpen(c)} aria-label={`${c.name}, ${STATE_LABELS[c.state] ?? c.state}`}>
                  {safeUrl(c.icon) ? <img src={c.icon} alt="" width={32} height={32} loading="lazy" /> : <span class="initial" aria-hidden="true">{c.name[0]}</span>}
                  <span class="card-name">{c.name}</span>
                  <Badge state={c.state} />
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </section>
  );
}

// ---------- connection form ----------

function fieldOptions(f: Json): Array<{ label: string; value: string }> {
  return (f.options ?? []).flatMap((o: Json) => (o.option_type === 'group' ? o.options : [o])).map((o: Json) => ({ label: o.label, value: String(o.value) }));
}

function FieldInput(props: { f: Json; value: any; error?: string; prefix: string; onChange: (v: any) => void }) {
  const { f, error } = props;
  const id = `${props.prefix}-${f.id}`;
  const describedBy = [f.description ? `${id}-desc` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const common = { id, name: f.id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy, disabled: Boolean(f.disabled), required: Boolean(f.required) };
  let control;
  if (f.type === 'checkbox') {
    control = <input {...common} type="checkbox" checked={props.value === true || props.value === 'true'} onChange={(e) => props.onChange((e.target as HTMLInputElement).checked)} />;
  } else if ((f.type === 'select' || f.type === 'filtered-select') && f.options?.length) {
    control = (
      <select {...common} value={props.value ?? ''} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="">Choose…</option>
        {fieldOptions(f).map((o) => (
          <option value={o.value}>{o.label}</option>
        ))}
      </select>
    );
  } else if (f.type === 'textarea') {
    control = <textarea {...common} value={props.value ?? ''} onInput={(e) => props.onChange((e.target as HTMLTextAreaElement).value)} />;
  } else {
    const type = f.sensitive || f.type === 'password' ? 'password' : ['email', 'url', 'tel', 'number', 'date', 'time'].includes(f.type) ? f.type : 'text';
    control = (
      <input
        {...common}
        type={type}
        value={props.value ?? ''}
        placeholder={f.placeholder || undefined}
        autocomplete={type === 'password' ? 'off' : undefined}
        spellcheck={false}
        onInput={(e) => props.onChange((e.target as HTMLInputElement).value)}
      />
    );
  }
  return (
    <div class={`field ${f.type === 'checkbox' ? 'field-check' : ''}`}>
      <label for={id}>
        {f.label}
        {f.required && <span aria-hidden="true"> *</span>}
      </label>
      {control}
      {f.description && (
        <p class="hint" id={`${id}-desc`}>
          {f.description}
        </p>
      )}
      {error && (
        <p class="error" id={`${id}-err`}>
          {error}
        </p>
      )}
    </div>
  );
}

function validate(fields: Json[], values: Record<string, any>): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const v = values[f.id];
    const blank = v === undefined || v === null || v === '';
    if (f.required && blank) errors[f.id] = `${f.label} is required`;
    else if (!blank && f.type === 'email' && !/^[^@\s]+@[^@\s]+$/.test(String(v))) errors[f.id] = `${f.label} must be an email address`;
    else if (!blank && f.type === 'url' && !/^https?:\/\/\S+$/.test(String(v))) errors[f.id] = `${f.label} must be a URL starting with https://`;
  }
  return errors;
}


type Message = { kind: 'ok' | 'error'; text: string };

/** A form's outcome: success is announced politely, an error as an alert. */
function FormMessage({ message }: { message: Message | null }) {
  return (
    <>
      <div role="status" aria-live="polite" class="status">
        {message?.kind === 'ok' && <p class="ok">{message.text}</p>}
      </div>
      {message?.kind === 'error' && (
        <p role="alert" class="error">
          {message.text}
        </p>
      )}
    </>
  );
}

function SettingsForm(props: { connection: Json; api: Api; onSaved: (c: Json) => void; fields: Json[]; submitLabel: string }) {
  const c = props.connection;
  const fields = props.fields.filter((f: Json) => !f.hidden);
  const [values, setValues] = useState<Record<string, any>>(() => Object.fromEntries(fields.map((f: Json) => [f.id, f.value ?? ''])));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<Message | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const found = validate(fields, values);
    setErrors(found);
    if (Object.keys(found).length) {
      setMessage(null);
      document.getElementById(`form-${Object.keys(found)[0]}`)?.focus();
      return;
    }
    setBusy(true);
    setMessage(null);
    try {
      const settings: Record<string, any> = {};
      for (const f of fields) if (!f.disabled) settings[f.id] = values[f.id] === '' ? null : values[f.id];
      const res = await props.api('PATCH', `/vault/connections/${c.unified_api}/${c.service_id}`, { settings });
      if (res.status === 200) {
        // The parent shows "Saved." (this form is re-created with the saved values).
        props.onSaved(res.body!.data);
      } else {
        setMessage({ kind: 'error', text: errorText(res) });
      }
    } catch (error) {
      if (!(error instanceof SessionEnded)) setMessage({ kind: 'error', text: 'Could not reach the server' });
    } finally {
      setBusy(false);
    }
  }

  if (!fields.length) return null;
  return (
    <form onSubmit={submit} noValidate aria-labelledby="form-title" class="panel">
      <h2 id="form-title">Credentials</h2>
      {fields.map((f: Json) => (
        <FieldInput key={f.id} f={f} prefix="form" value={values[f.id]} error={errors[f.id]} onChange={(v) => setValues({ ...values, [f.id]: v })} />
      ))}
      <FormMessage message={message} />
      <button type="submit" disabled={busy}>
        {busy ? 'Saving…' : props.submitLabel}
      </button>
    </form>
  );
}

// ---------- resource settings ----------

function ResourceSettings(props: { connection: Json; api: Api }) {
  const c = props.connection;
  const resources: string[] = c.resource_settings_support ?? c.configurable_resources ?? [];
  const [resource, setResource] = useState(resources[0] ?? '');
  const [defaults, setDefaults] = useState<Json[] | null>(null);
  const [fields, setFields] = useState<Json[]>([]);
  const [message, setMessage] = useState<Message | null>(null);

  useEffect(() => {
    if (!resource) return;
    setDefaults(null);
    setMessage(null);
    props
      .api('GET', `/vault/connections/${c.unified_api}/${c.service_id}/${resource}/config`)
      .then((res) => {
        if (res.status !== 200) return setMessage({ kind: 'error', text: errorText(res) });
        const config = (res.body!.data.configuration ?? []).find((x: Json) => x.resource === resource);
        setDefaults(config?.defaults ?? []);
        setFields(res.body!.data.form_fields ?? []);
      })
      .catch(() => undefined);
  }, [resource]);

  async function save(e: Event) {
    e.preventDefault();
    const res = await props.api('PATCH', `/vault/connections/${c.unified_api}/${c.service_id}/${resource}/config`, {
      configuration: [{ resource, defaults: (defaults ?? []).map((d) => ({ id: d.id, value: d.value })) }],
    });
    setMessage(res.status === 200 ? { kind: 'ok', text: `Settings for ${resource} saved.` } : { kind: 'error', text: errorText(res) });
  }

  if (!resources.length) return <p>This integration has no resource settings.</p>;
  return (
    <form onSubmit={save} class="panel" aria-labelledby="resource-title">
      <h2 id="resource-title">Resource settings</h2>
      <div class="field">
        <label for="resource-pick">Resource</label>
        <select id="resource-pick" value={resource} onChange={(e) => setResource((e.target as HTMLSelectElement).value)}>
          {resources.map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
      </div>
      {defaults === null ? (
        <p role="status">Loading…</p>
      ) : (
        defaults.map((d, i) => {
          const meta = fields.find((f: Json) => f.id === d.id) ?? {};
          const f = { ...meta, id: d.id, label: meta.label ?? humanize(d.id), type: d.options?.length ? 'select' : meta.type ?? 'text', options: d.options?.length ? d.options : meta.options, required: false, sensitive: false };
          return (
            <FieldInput
              key={`${resource}-${d.id}`}
              f={f}
              prefix={`res-${resource}`}
              value={d.value ?? ''}
              onChange={(v) => setDefaults(defaults.map((x, j) => (j === i ? { ...x, value: v } : x)))}
            />
          );
        })
      )}
      <FormMessage message={message} />
      <button type="submit" disabled={defaults === null}>
        Save settings
      </button>
    </form>
  );
}

// ---------- logs ----------

function Logs(props: { connection: Json; api: Api }) {
  const [rows, setRows] = useState<Json[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    props
      .api('GET', `/vault/logs?filter[connector_id]=${encodeURIComponent(props.connection.id)}&filter[exclude_unified_apis]=vault&limit=50`)
      .then((res) => (res.status === 200 ? setRows(res.body!.data ?? []) : setError(errorText(res))))
      .catch(() => undefined);
  }, []);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!rows) return <p role="status">Loading logs…</p>;
  if (!rows.length) return <p>No API calls through this connection yet.</p>;
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label="Request logs">
      <table>
        <caption>Latest requests</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Method</th>
            <th scope="col">Path</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id}>
              <td>{new Date(r.timestamp).toLocaleString()}</td>
              <td>{r.http_method}</td>
              <td class="path">{r.path}</td>
              <td>{r.status_code}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// ---------- detail ----------

const pageUrl = () => location.origin + location.pathname;

function startBrowserFlow(url: string, connection: Json) {
  sessionStorage.setItem(RETURN_KEY, JSON.stringify({ unified_api: connection.unified_api, service_id: connection.service_id }));
  const target = `${url}&redirect_uri=${encodeURIComponent(pageUrl())}`;
  // Inside an iframe (or a popup) the provider's page cannot be shown in place: open a popup that reports back.
  if (window.top !== window.self) {
    const popup = window.open(target, 'coffer-authorize', 'width=600,height=720');
    if (popup) return;
  }
  location.assign(target);
}

function Detail(props: { session: Session; api: Api; connection: Json; onBack: () => void; onChanged: (c: Json | null, note?: string) => void; flash?: string }) {
  const { session, api } = props;
  const c = props.connection;
  const [tab, setTab] = useState<'connection' | 'settings' | 'logs'>('connection');
  const [confirm, setConfirm] = useState<null | 'delete' | 'disconnect'>(null);
  const [message, setMessage] = useState<Message | null>(props.flash ? { kind: 'ok', text: props.flash } : null);
  const isOAuth = c.auth_type === 'oauth2' && c.oauth_grant_type === 'authorization_code';
  const connected = c.state !== 'available';
  const required: string[] = c.settings_required_for_authorization ?? [];
  const formFields: Json[] = isOAuth ? (c.form_fields ?? []).filter((f: Json) => required.includes(f.id)) : c.form_fields ?? [];
  const missingForAuth = required.filter((id) => {
    const f = (c.form_fields ?? []).find((x: Json) => x.id === id);
    return !f || f.value === undefined || f.value === null || f.value === '';
  });
  const showSettings = !session.settings.hide_resource_settings && (c.resource_settings_support ?? []).length > 0 && connected;
  // The server refuses logs to such sessions (show_logs: false, or isolation mode), so the page does not ask.
  const showLogs = session.settings.show_logs !== false && !session.settings.isolation_mode && connected;

  async function toggleEnabled() {
    const res = await api('PATCH', `/vault/connections/${c.unified_api}/${c.service_id}`, { enabled: !c.enabled });
    if (res.status === 200) {
      props.onChanged(res.body!.data);
      setMessage({ kind: 'ok', text: res.body!.data.enabled ? 'Integration enabled.' : 'Integration disabled.' });
    } else setMessage({ kind: 'error', text: errorText(res) });
  }

  async function remove() {
    setConfirm(null);
    const res = await api('DELETE', `/vault/connections/${c.unified_api}/${c.service_id}`);
    if (res.status === 204 || res.status === 200) props.onChanged(null, `${c.name} was deleted.`);
    else setMessage({ kind: 'error', text: errorText(res) });
  }

  const tabs: Array<[typeof tab, string]> = [['connection', 'Connection']];
  if (showSettings) tabs.push(['settings', 'Settings']);
  if (showLogs) tabs.push(['logs', 'Logs']);

  function onTabKey(e: KeyboardEvent) {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = tabs.findIndex(([t]) => t === tab);
    const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length][0];
    setTab(next);
    document.getElementById(`tab-${next}`)?.focus();
  }

  return (
    <section aria-labelledby="detail-title">
      <button type="button" class="link" onClick={props.onBack}>
        ← All integrations
      </button>
      <header class="detail-head">
        {safeUrl(c.logo ?? c.icon) && <img src={c.logo ?? c.icon} alt="" width={48} height={48} />}
        <div>
          <h1 id="detail-title">{c.name}</h1>
          <p class="muted">{c.tag_line}</p>
        </div>
        <Badge state={c.state} />
      </header>
      <FormMessage message={message} />
      {tabs.length > 1 && (
        <div role="tablist" aria-label="Connection sections" class="tabs" onKeyDown={onTabKey}>
          {tabs.map(([t, label]) => (
            <button type="button" role="tab" id={`tab-${t}`} aria-selected={tab === t} aria-controls={`panel-${t}`} tabIndex={tab === t ? 0 : -1} onClick={() => setTab(t)}>
              {label}
            </button>
          ))}
        </div>
      )}
      <div role={tabs.length > 1 ? 'tabpanel' : undefined} id={`panel-${tab}`} aria-labelledby={tabs.length > 1 ? `tab-${tab}` : undefined}>
        {tab === 'connection' && (
          <div>
            {c.enabled === false && connected && <p class="note">This integration is disabled: your application cannot use it until it is enabled.</p>}
            <SettingsForm
              key={`${c.id}-${c.updated_at ?? 0}`}
              connection={c}
              api={api}
              fields={formFields}
              submitLabel={isOAuth ? 'Save settings' : 'Save'}
              onSaved={(updated) => {
                setMessage({ kind: 'ok', text: 'Saved.' });
                props.onChanged(updated);
              }}
            />
            {isOAuth && (
              <div class="panel">
                <h2>Authorization</h2>
                {missingForAuth.length > 0 ? (
                  <p>Fill in and save {missingForAuth.join(', ')} before authorizing.</p>
                ) : (
                  <p>{c.state === 'callable' ? `${c.name} is authorized.` : `Sign in to ${c.name} to give access.`}</p>
                )}
                {c.authorize_url && (c.state !== 'callable' || allowed(session, 'reauthorize')) && (
                  <button type="button" disabled={missingForAuth.length > 0} onClick={() => startBrowserFlow(c.authorize_url, c)}>
                    {c.state === 'callable' ? `Re-authorize ${c.name}` : `Authorize ${c.name}`}
                  </button>
                )}
              </div>
            )}
            {connected && (
              <div class="panel actions">
                <h2>Manage</h2>
                <div class="row">
                  {allowed(session, 'disable') && (
                    <button type="button" class="secondary" onClick={toggleEnabled}>
                      {c.enabled ? 'Disable' : 'Enable'}
                    </button>
                  )}
                  {isOAuth && c.revoke_url && allowed(session, 'disconnect') && (
                    <button type="button" class="secondary" onClick={() => setConfirm('disconnect')}>
                      Disconnect
                    </button>
                  )}
                  {allowed(session, 'delete') && (
                    <button type="button" class="danger" onClick={() => setConfirm('delete')}>
                      Delete
                    </button>
                  )}
                </div>
              </div>
            )}
          </div>
        )}
        {tab === 'settings' && <ResourceSettings connection={c} api={api} />}
        {tab === 'logs' && <Logs connection={c} api={api} />}
      </div>
      {confirm === 'delete' && (
        <Confirm
          title={`Delete ${c.name}?`}
          body="Its credentials and settings are removed. This cannot be undone."
          action="Delete"
          onCancel={() => setConfirm(null)}
          onConfirm={remove}
        />
      )}
      {confirm === 'disconnect' && (
        <Confirm
          title={`Disconnect ${c.name}?`}
          body={`Access is revoked at ${c.name}; you can authorize again later.`}
          action="Disconnect"
          onCancel={() => setConfirm(null)}
          onConfirm={() => {
            setConfirm(null);
            startBrowserFlow(c.revoke_url, c);
          }}
        />
      )}
    </section>
  );
}

// ---------- shell ----------

function ConsumerCard({ session }: { session: Session }) {
  const m = session.consumer_metadata ?? {};
  if (session.settings.hide_consumer_card || !(m.account_name || m.user_name || m.email)) return null;
  return (
    <aside class="consumer" aria-label="Signed in as">
      {safeUrl(m.image) && <img src={m.image} alt="" width={36} height={36} />}
      <div>
        {m.user_name && <strong>{m.user_name}</strong>}
        {m.account_name && <div>{m.account_name}</div>}
        {m.email && <div class="muted-side">{m.email}</div>}
      </div>
    </aside>
  );
}

function Ended({ message }: { message: string }) {
  useEffect(() => {
    document.title = 'Session expired';
  }, []);
  return (
    <main class="ended" id="main">
      <h1>This link has expired</h1>
      <p>{message}</p>
      <p>Go back to the application you came from and open the connections page again to get a new link.</p>
    </main>
  );
}

function App() {
  const token = tokenFromPath(location.pathname);
  const session = useMemo(() => (token ? decodeSession(token) : null), [token]);
  const [ended, setEnded] = useState<string | null>(() => {
    if (!session) return 'This link is not a valid connections link.';
    if (session.exp * 1000 < Date.now()) return 'Your session has expired.';
    return null;
  });
  const api = useMemo(() => (session ? makeApi(session, (m) => setEnded(m)) : null), [session]);
  const [connections, setConnections] = useState<Json[] | null>(null);
  const [selected, setSelected] = useState<{ unified_api: string; service_id: string } | null>(null);
  const [flash, setFlash] = useState<string | undefined>();
  const [loadError, setLoadError] = useState('');

  useEffect(() => {
    if (session && !ended) applyTheme(safeTheme(session.theme));
  }, [session]);

  async function load() {
    if (!api) return;
    try {
      const res = await api('GET', '/vault/connections');
      if (res.status === 200) setConnections(res.body!.data ?? []);
      else setLoadError(errorText(res));
    } catch (error) {
      if (!(error instanceof SessionEnded)) setLoadError('Could not reach the server.');
    }
  }

  useEffect(() => {
    if (ended || !api) return;
    // Back from an authorize/revoke round trip: open the connection again and say how it went.
    const params = new URLSearchParams(location.search);
    const back = sessionStorage.getItem(RETURN_KEY);
    if (back) {
      sessionStorage.removeItem(RETURN_KEY);
      const target = JSON.parse(back);
      if (window.opener && window.opener !== window && window.opener.location?.origin === location.origin) {
        window.opener.postMessage({ type: 'coffer:flow-done' }, location.origin);
        window.close();
      }
      setSelected(target);
      setFlash(params.get('error_message') ? undefined : 'Done.');
      if (params.get('error_message')) setLoadError(`${params.get('error_message')}`);
    }
    if (location.search || location.hash) history.replaceState(null, '', location.pathname);
    load();
    const onMessage = (e: MessageEvent) => {
      if (e.origin === location.origin && e.data?.type === 'coffer:flow-done') load();
    };
    addEventListener('message', onMessage);
    return () => removeEventListener('message', onMessage);
  }, []);

  const current = selected && connections?.find((c) => c.unified_api === selected.unified_api && c.service_id === selected.service_id);

  useEffect(() => {
    if (current?.state === 'callable' && session?.settings.auto_redirect && safeUrl(session.redirect_uri) && flash) location.assign(session.redirect_uri!);
  }, [current?.state, flash]);

  if (ended || !session || !api) return <Ended message={ended ?? 'Invalid link.'} />;
  const theme = safeTheme(session.theme);
  const name = theme.vault_name || 'Connections';

  function changed(updated: Json | null, note?: string) {
    if (!updated) {
      setSelected(null);
      setFlash(note);
      load();
      return;
    }
    setConnections((list) => (list ?? []).map((c) => (c.id === updated.id ? { ...c, ...updated } : c)));
    if (updated.state === 'callable' && session!.settings.auto_redirect && safeUrl(session!.redirect_uri)) location.assign(session!.redirect_uri!);
  }

  return (
    <div class="layout">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="side">
        <div class="brand">
          {theme.logo && <img src={theme.logo} alt="" height={32} />}
          <span class="vault-name">{name}</span>
        </div>
        <ConsumerCard session={session} />
        {safeUrl(session.redirect_uri) && !session.settings.isolation_mode && (
          <a class="back" href={session.redirect_uri}>
            ← Back to the application
          </a>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {session.settings.sandbox_mode && (
          <p class="sandbox" role="note">
            Sandbox mode: connections made here are for testing.
          </p>
        )}
        {loadError && (
          <p role="alert" class="error">
            {loadError}
          </p>
        )}
        {connections === null ? (
          !loadError && <p role="status">Loading integrations…</p>
        ) : current ? (
          <Detail
            key={current.id}
            session={session}
            api={api}
            connection={current}
            flash={flash}
            onBack={() => {
              setSelected(null);
              setFlash(undefined);
            }}
            onChanged={changed}
          />
        ) : (
          <>
            {flash && !selected && (
              <p role="status" class="ok">
                {flash}
              </p>
            )}
            <IntegrationList
              session={session}
              connections={connections}
              onOpen={(c) => {
                setFlash(undefined);
                setSelected({ unified_api: c.unified_api, service_id: c.service_id });
                scrollTo(0, 0);
              }}
            />
          </>
        )}
        <footer class="legal">
          {theme.privacy_url && <a href={theme.privacy_url}>Privacy policy</a>}
          {theme.terms_url && <a href={theme.terms_url}>Terms of service</a>}
        </footer>
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
