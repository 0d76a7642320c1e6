// Ask Python for what is on screen, through anywidget's own request/response (experimental.invoke):
// every request has a unique id and only the asker reads its reply; no answer within the timeout is an
// error the view shows. An exported page has no kernel: it answers from the snapshot it carries, and
// says so when asked for something it does not carry. Python's side: interpwidgets/widgets/base.py.

export const TIMEOUT_MS = 30000;

/** The name of a request's answer in an exported page (Python: interpwidgets.widgets.request_key). */
export function requestKey(method, args) {
  const sorted = {};
  for (const k of Object.keys(args).sort()) sorted[k] = args[k];
  return method + JSON.stringify(sorted);
}

function putBuffers(obj, paths, buffers) {
  paths.forEach((path, i) => {
    let target = obj;
    for (const key of path.slice(0, -1)) target = target[key];
    target[path[path.length - 1]] = buffers[i];
  });
}

/**
 * request(method, args, {signal}) -> Promise of the result. It rejects with Python's error (with
 * `.traceback`), with a timeout, or with an AbortError when `signal` (e.g. the view's) aborts.
 */
export function requester(model, experimental, { timeout = TIMEOUT_MS } = {}) {
  return async function request(method, args = {}, { signal } = {}) {
    const snapshot = model.get("snapshot") || {};
    const key = requestKey(method, args);
    if (snapshot.exported) {
      if (key in snapshot) return snapshot[key];
      throw new Error(`this exported page does not include ${method} ${JSON.stringify(args)}: it carries `
        + "what was on screen when it was saved; select it in the live widget and save again");
    }
    const timer = AbortSignal.timeout(timeout);
    const any = signal ? AbortSignal.any([signal, timer]) : timer;
    let reply, buffers;
    try {
      [reply, buffers] = await experimental.invoke("_iw_request", { method, args }, { signal: any });
    } catch (err) {
      if (signal?.aborted) throw err;
      if (timer.aborted) {
        throw new Error(`no answer from Python to "${method}" within ${timeout / 1000} s: the kernel is busy `
          + "(a long cell?) or stopped; the view asks again when it next needs this");
      }
      throw err;
    }
    if (reply.error) {
      const err = new Error(reply.error);
      err.traceback = reply.traceback;
      throw err;
    }
    putBuffers(reply, reply.buffer_paths || [], buffers || []);
    return reply.result;
  };
}
