// The request/response channel of interpwidgets.widgets.Widget: ask Python for what is on screen.

function putBuffers(obj, paths, buffers) {
  paths.forEach((path, i) => {
    let target = obj;
    for (const key of path.slice(0, -1)) target = target[key];
    target[path[path.length - 1]] = buffers[i];
  });
}

/** Returns request(method, args) -> Promise of the result; errors raised in Python reject it. */
export function channel(model) {
  let next = 0;
  const pending = new Map();
  model.on("msg:custom", (msg, buffers) => {
    if (!msg || msg.kind !== "response" || !pending.has(msg.id)) return;
    const { resolve, reject } = pending.get(msg.id);
    pending.delete(msg.id);
    putBuffers(msg, msg.buffer_paths || [], buffers || []);
    if (msg.error) reject(new Error(msg.error));
    else resolve(msg.result);
  });
  return (method, args) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    model.send({ kind: "request", id, method, args });
  });
}
