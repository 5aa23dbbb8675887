// What counts as a finding in one answer: a 5xx that is Coffer's, a hang, a dropped connection, an error body outside
// the envelope (Apideck's, or Auth0's under /api/v2), a success body outside Apideck's `{status_code, status, data}`,
// and a canary (a secret of application A) in an answer to someone who is not A.
import { isAuth0, isProxy } from './generate.mjs';

const APIDECK_ERROR_KEYS = ['status_code', 'error', 'type_name', 'message', 'detail', 'ref'];
const AUTH0_ERROR_KEYS = ['statusCode', 'error', 'message', 'errorCode'];

function parse(body) {
  try {
    return { ok: true, json: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false, json: null };
  }
}

function envelopeProblem(spec, result) {
  const auth0 = isAuth0(spec.path);
  const { ok, json } = parse(result.body);
  if (!ok || !json || typeof json !== 'object' || Array.isArray(json)) return `not a JSON object (content-type ${result.headers['content-type'] ?? 'none'})`;
  if (auth0) {
    const keys = Object.keys(json).sort();
    if (keys.join(',') !== [...AUTH0_ERROR_KEYS].sort().join(',')) return `Auth0 error body has keys [${keys.join(', ')}]`;
    if (json.statusCode !== result.status) return `statusCode ${json.statusCode} ≠ HTTP ${result.status}`;
    if (typeof json.error !== 'string' || typeof json.message !== 'string' || typeof json.errorCode !== 'string') return 'Auth0 error fields of the wrong type';
    return null;
  }
  const missing = APIDECK_ERROR_KEYS.filter((k) => !(k in json));
  if (missing.length) return `Apideck error body lacks ${missing.join(', ')} (keys: ${Object.keys(json).join(', ')})`;
  if (json.status_code !== result.status) return `status_code ${json.status_code} ≠ HTTP ${result.status}`;
  if (typeof json.error !== 'string' || typeof json.type_name !== 'string' || typeof json.message !== 'string' || typeof json.ref !== 'string') return 'Apideck error fields of the wrong type';
  return null;
}

function successProblem(spec, result) {
  if (result.status === 204 || spec.method === 'HEAD' || spec.method === 'OPTIONS') return null;
  if (isAuth0(spec.path) || isProxy(spec.template)) return null;
  if (!/^\/(vault|webhook)\//.test(spec.path)) return null;
  const { ok, json } = parse(result.body);
  if (!ok || !json || typeof json !== 'object') return `success body is not JSON (content-type ${result.headers['content-type'] ?? 'none'})`;
  if (json.status_code !== result.status) return `success status_code ${json.status_code} ≠ HTTP ${result.status}`;
  if (!('data' in json) || typeof json.status !== 'string') return `success body lacks status/data (keys: ${Object.keys(json).join(', ')})`;
  return null;
}

/** → { kind, detail } findings of one answer; and `provider5xx` when a 5xx was the stub's doing. */
export function check(spec, result, canaries) {
  const findings = [];
  let provider5xx = false;
  if (result.clientRefused || result.hungUp) return { findings, provider5xx };
  if (result.hang) {
    findings.push({ kind: 'hang', detail: `no complete answer within 10 s${result.status ? ` (status ${result.status} came, the body did not)` : ''}` });
    return { findings, provider5xx };
  }
  if (result.status === null) {
    // A body past the size limit may be refused by closing the connection while the client still writes it.
    if (spec.body && spec.body.length > 1024 * 1024 && ['EPIPE', 'ECONNRESET'].includes(result.error)) return { findings, provider5xx };
    findings.push({ kind: 'connection-dropped', detail: `no answer: ${result.error}` });
    return { findings, provider5xx };
  }
  // A provider that breaks off its body mid-stream: the proxy has already passed its status on, so cutting the
  // answer short is all it can do (as any streaming proxy).
  if (result.error && !spec.brokenTarget) findings.push({ kind: 'connection-dropped', detail: `answer ${result.status} cut short: ${result.error}` });
  const fromStub = result.headers['x-fuzz-stub'] === '1';
  if (result.status >= 500) {
    if (fromStub || (spec.brokenTarget && (result.status === 502 || result.status === 504))) provider5xx = true;
    else findings.push({ kind: 'coffer-5xx', detail: `HTTP ${result.status}` });
  }
  if (result.status >= 400 && spec.method !== 'HEAD' && !fromStub) {
    const problem = envelopeProblem(spec, result);
    if (problem) findings.push({ kind: 'outside-envelope', detail: problem });
  } else if (result.status >= 200 && result.status < 300) {
    const problem = successProblem(spec, result);
    if (problem) findings.push({ kind: 'outside-envelope', detail: problem });
  }
  if (spec.foreign) {
    const text = result.body.toString('utf8');
    for (const canary of canaries) if (text.includes(canary)) findings.push({ kind: 'cross-tenant-read', detail: `answer to ${spec.auth} contains A's secret ${canary.slice(0, 12)}…` });
  }
  return { findings, provider5xx };
}
