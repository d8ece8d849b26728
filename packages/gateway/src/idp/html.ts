/**
 * Small helpers for the server-rendered pages of the development identity
 * provider and the demo target: escaping, one shared look, and the security
 * headers every such page is sent with.
 */
import type { ServerResponse } from 'node:http'

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/**
 * Escapes text for use in HTML element content and quoted attribute values.
 *
 * @example
 * ```ts
 * escapeHtml('<b>"x"</b>') // '&lt;b&gt;&quot;x&quot;&lt;/b&gt;'
 * ```
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (character) => ESCAPES[character]!)
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1d232b;--muted:#5b6572;--bg:#f4f6f9;--card:#fff;--accent:#2457c5;--bad:#b42318;--good:#067647;--line:#d9dee5}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ee;--muted:#9aa4b2;--bg:#12161c;--card:#1b2129;--accent:#7aa2ff;--bad:#ff8a80;--good:#6fdc9b;--line:#2c3440}}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:760px;margin:40px auto;padding:0 16px}.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:24px 28px;margin-bottom:20px}
.narrow{max-width:420px;margin-left:auto;margin-right:auto}.actions{display:flex;gap:10px;flex-wrap:wrap}.hint{margin-top:20px;font-size:.9em}h1{font-size:1.4em;margin:0 0 8px}h2{font-size:1.1em;margin:0 0 8px}p{margin:8px 0}.muted{color:var(--muted)}
label{display:block;margin:14px 0 4px;font-weight:600}input[type=text],input[type=password]{width:100%;padding:9px 10px;border:1px solid var(--line);border-radius:6px;font:inherit;background:transparent;color:inherit}
button,.button{display:inline-block;margin-top:18px;padding:9px 16px;border:0;border-radius:6px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
button.secondary{background:transparent;color:var(--accent);border:1px solid var(--line)}.error{color:var(--bad);font-weight:600}.ok{color:var(--good);font-weight:600}
table{border-collapse:collapse;width:100%}td,th{text-align:left;vertical-align:top;padding:6px 8px;border-top:1px solid var(--line)}th{width:34%;font-weight:600}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all;white-space:pre-wrap}pre{margin:0}nav a{margin-right:14px}form.inline{display:inline}
`

/**
 * Wraps already-escaped HTML `body` in a complete page. `title` is escaped here.
 *
 * @example
 * ```ts
 * const html = page('Sign in', `<p>${escapeHtml(name)}</p>`)
 * ```
 */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`
}

/**
 * Content-Security-Policy of these pages: no script of their own, inline
 * styles only, `fetch` to their own origin (the demo's API), never framed. No `form-action`, because Chrome applies it to the
 * redirects that follow a form post, and those go to the relying party.
 */
export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; frame-ancestors 'none'"

/**
 * Sends a complete HTML page with no-store caching and the pages' security headers.
 *
 * @example
 * ```ts
 * sendHtml(res, 200, page('Hello', '<p>hi</p>'))
 * ```
 */
export function sendHtml(res: ServerResponse, status: number, html: string): void {
  const body = Buffer.from(html, 'utf8')
  res.statusCode = status
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.setHeader('content-length', body.length)
  res.setHeader('cache-control', 'no-store')
  res.setHeader('content-security-policy', PAGE_CSP)
  res.setHeader('x-content-type-options', 'nosniff')
  res.setHeader('referrer-policy', 'no-referrer')
  res.end(body)
}
