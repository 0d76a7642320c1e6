// What every widget's render starts with: its style, its root (keys stay inside), the error banner, the
// body it draws into, the request client, a setter, and an abort signal for when the view goes away.
import { banner } from "./banner.js";
import { h, setter, widgetRoot } from "./dom.js";
import { requester } from "./request.js";

export function mount({ model, el, experimental }, cls, css) {
  const life = new AbortController();
  const news = banner(model);
  const body = h("div");
  el.append(h("style", {}, css), widgetRoot(cls, news.el, body));
  return { life, news, body, set: setter(model), request: experimental ? requester(model, experimental) : null };
}
